#include "kmesh/ipsec/testing/xfrm_objects.h"

#include "absl/status/statusor.h"
#include "gtest/gtest.h"
#include "kmesh/base/ip_address.h"

namespace kmesh::ipsec {
namespace {

template <typename T, typename Keep>
std::vector<T> Filter(const std::vector<T>& objects, Keep keep) {
  std::vector<T> out;
  for (const T& object : objects) {
    if (keep(object)) out.push_back(object);
  }
  return out;
}

template <typename T>
std::vector<T> ValueOf(absl::StatusOr<std::vector<T>> dumped) {
  if (!dumped.ok()) {
    ADD_FAILURE() << "dump failed: " << dumped.status();
    return {};
  }
  return *std::move(dumped);
}

template <typename T, typename Same, typename Describe>
void ExpectEachOnceBy(const std::vector<T>& held, const std::vector<T>& wanted,
                      Same same, Describe describe) {
  for (const T& want : wanted) {
    int found = 0;
    for (const T& object : held) found += same(object, want);
    EXPECT_EQ(found, 1) << describe(want);
  }
}

}  // namespace

std::vector<XfrmSa> InboundSas(const std::vector<XfrmSa>& sas) {
  return Filter(sas, [](const XfrmSa& sa) { return IsInboundSa(sa); });
}

std::vector<XfrmSa> OutboundSas(const std::vector<XfrmSa>& sas) {
  return Filter(sas, [](const XfrmSa& sa) { return !IsInboundSa(sa); });
}

std::vector<XfrmSa> OwnedSas(const std::vector<XfrmSa>& sas) {
  return Filter(sas, [](const XfrmSa& sa) { return IsOwnedSa(sa); });
}

std::vector<XfrmPolicy> OwnedPolicies(const std::vector<XfrmPolicy>& policies) {
  return Filter(policies, [](const XfrmPolicy& p) { return IsOwnedPolicy(p); });
}

std::vector<XfrmPolicy> PoliciesIn(const std::vector<XfrmPolicy>& policies,
                                   XfrmDir dir) {
  return Filter(policies, [dir](const XfrmPolicy& p) { return p.dir == dir; });
}

XfrmSa ForeignSa(const std::string& src, const std::string& dst, uint32_t spi,
                 uint32_t reqid) {
  XfrmSa sa;
  sa.src = *IpAddress::Parse(src);
  sa.dst = *IpAddress::Parse(dst);
  sa.spi = spi;
  sa.reqid = reqid;
  const uint8_t key[36] = {static_cast<uint8_t>(spi)};
  sa.aead_key = XfrmKey(key, sizeof(key));
  return sa;
}

XfrmPolicy ForeignPolicy(XfrmDir dir, const std::string& dst_prefix,
                         const std::string& tunnel_src,
                         const std::string& tunnel_dst, uint32_t reqid) {
  XfrmPolicy policy;
  policy.dir = dir;
  policy.selector.src = *IpPrefix::Parse("0.0.0.0/0");
  policy.selector.dst = *IpPrefix::Parse(dst_prefix);
  XfrmTemplate tunnel;
  tunnel.src = *IpAddress::Parse(tunnel_src);
  tunnel.dst = *IpAddress::Parse(tunnel_dst);
  tunnel.reqid = reqid;
  policy.templates.push_back(tunnel);
  return policy;
}

void ExpectEachOnce(const std::vector<XfrmSa>& held,
                    const std::vector<XfrmSa>& wanted) {
  ExpectEachOnceBy(held, wanted, SameSa, DescribeSa);
}

void ExpectEachOnce(const std::vector<XfrmPolicy>& held,
                    const std::vector<XfrmPolicy>& wanted) {
  ExpectEachOnceBy(held, wanted, SamePolicy, DescribePolicy);
}

std::vector<XfrmSa> DumpedSas(const XfrmKernel& kernel) {
  return ValueOf(const_cast<XfrmKernel&>(kernel).DumpSas());
}

std::vector<XfrmPolicy> DumpedPolicies(const XfrmKernel& kernel) {
  return ValueOf(const_cast<XfrmKernel&>(kernel).DumpPolicies());
}

}  // namespace kmesh::ipsec
