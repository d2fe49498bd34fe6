#include "kmesh/ipsec/testing/test_nodes.h"

#include <array>
#include <cstdint>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace kmesh::ipsec {

std::string TestBootId(int node, int generation) {
  return absl::StrFormat("%08x-0000-4000-8000-%012x", node, generation);
}

NodeView TestNodeView(int i, bool dual_stack, int generation) {
  NodeView v;
  v.name = absl::StrCat("node-", i);
  v.addresses.push_back(absl::StrCat("10.0.", i / 200, ".", i % 200 + 1));
  if (dual_stack) v.addresses.push_back(absl::StrFormat("fd00::%x", i + 1));
  v.boot_id = TestBootId(i, generation);
  v.pod_cidrs.push_back(*IpPrefix::Parse(
      absl::StrCat("10.", 100 + i / 200, ".", i % 200, ".0/24")));
  if (dual_stack) {
    v.pod_cidrs.push_back(
        *IpPrefix::Parse(absl::StrFormat("fd00:244:%x::/64", i)));
  }
  return v;
}

NodeView MakeNodeView(const std::string& name,
                      const std::vector<std::string>& addresses,
                      const std::string& boot_id,
                      const std::vector<std::string>& pod_cidrs) {
  NodeView v;
  v.name = name;
  v.addresses = addresses;
  v.boot_id = boot_id;
  for (const std::string& cidr : pod_cidrs) {
    v.pod_cidrs.push_back(*IpPrefix::Parse(cidr));
  }
  return v;
}

IpAddress PodIp(const NodeView& node, IpFamily family) {
  for (const IpPrefix& cidr : node.pod_cidrs) {
    if (cidr.family() != family) continue;
    std::array<uint8_t, 16> bytes = cidr.address().bytes();
    bytes[cidr.address().byte_length() - 1] = 5;
    return IpAddress::FromBytes(family, bytes.data());
  }
  return IpAddress();
}

}  // namespace kmesh::ipsec
