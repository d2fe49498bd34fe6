#include "kmesh/ipsec/node_view.h"

#include <set>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace kmesh::ipsec {

absl::StatusOr<NodeView> NodeViewFromKmeshNodeInfo(
    const kmesh::api::KmeshNodeInfo& info) {
  const std::string& name = info.metadata().name();
  if (name.empty()) {
    return absl::InvalidArgumentError("KmeshNodeInfo has no metadata.name");
  }
  const auto& spec = info.spec();
  auto invalid = [&name](const std::string& what) {
    return absl::InvalidArgumentError(
        absl::StrCat("KmeshNodeInfo ", name, ": ", what));
  };
  if (spec.spi() < 0) {
    return invalid(absl::StrCat("spec.spi is negative (", spec.spi(), ")"));
  }
  if (spec.addresses().empty()) return invalid("spec.addresses is empty");
  if (spec.boot_id().empty()) return invalid("spec.bootID is empty");

  NodeView view;
  view.name = name;
  view.spi = spec.spi();
  view.boot_id = spec.boot_id();
  for (int i = 0; i < spec.addresses_size(); ++i) {
    const std::string& text = spec.addresses(i);
    if (absl::StatusOr<IpAddress> address = IpAddress::Parse(text);
        !address.ok()) {
      return invalid(absl::StrCat("spec.addresses[", i, "] \"", text,
                                  "\" is not an IP address"));
    }
    view.addresses.push_back(text);
  }
  for (int i = 0; i < spec.pod_cidrs_size(); ++i) {
    const std::string& text = spec.pod_cidrs(i);
    absl::StatusOr<IpPrefix> prefix = IpPrefix::Parse(text);
    if (!prefix.ok()) {
      return invalid(
          absl::StrCat("spec.podCIDRS[", i, "] \"", text, "\" is not a CIDR"));
    }
    view.pod_cidrs.push_back(*prefix);
  }
  return view;
}

kmesh::api::KmeshNodeInfo KmeshNodeInfoFromNodeView(const NodeView& view,
                                                    const std::string& ns) {
  kmesh::api::KmeshNodeInfo info;
  info.set_api_version("kmesh.net/v1alpha1");
  info.set_kind("KmeshNodeInfo");
  info.mutable_metadata()->set_name(view.name);
  info.mutable_metadata()->set_namespace_(ns);
  auto* spec = info.mutable_spec();
  spec->set_spi(view.spi);
  for (const std::string& address : view.addresses) {
    spec->add_addresses(address);
  }
  spec->set_boot_id(view.boot_id);
  for (const IpPrefix& prefix : view.pod_cidrs) {
    spec->add_pod_cidrs(prefix.ToString());
  }
  return info;
}

const char* RecordProblemName(RecordProblem problem) {
  switch (problem) {
    case RecordProblem::kNone:
      return "none";
    case RecordProblem::kNoNode:
      return "no_node";
    case RecordProblem::kAddressNotOnNode:
      return "address_not_on_node";
    case RecordProblem::kPodCidrNotOnNode:
      return "pod_cidr_not_on_node";
    case RecordProblem::kPodCidrOverlap:
      return "pod_cidr_overlap";
  }
  return "unknown";
}

bool PrefixWithin(const IpPrefix& inner, const IpPrefix& outer) {
  return inner.family() == outer.family() && inner.length() >= outer.length() &&
         outer.Contains(inner.address());
}

bool PrefixesOverlap(const IpPrefix& a, const IpPrefix& b) {
  return PrefixWithin(a, b) || PrefixWithin(b, a);
}

RecordCheck CheckRecordAgainstNode(const NodeView& record,
                                   const NodeView* node) {
  auto problem = [&record](RecordProblem kind, const std::string& what) {
    return RecordCheck{kind,
                       absl::StrCat("KmeshNodeInfo ", record.name, ": ", what)};
  };
  if (node == nullptr) {
    return problem(RecordProblem::kNoNode,
                   "there is no Node of that name with an InternalIP and a "
                   "boot ID");
  }
  std::set<IpAddress> node_addresses;
  for (const std::string& text : node->addresses) {
    if (absl::StatusOr<IpAddress> a = IpAddress::Parse(text); a.ok()) {
      node_addresses.insert(*a);
    }
  }
  std::set<IpAddress> seen;
  for (const std::string& text : record.addresses) {
    absl::StatusOr<IpAddress> address = IpAddress::Parse(text);
    if (!address.ok() || node_addresses.count(*address) == 0) {
      return problem(RecordProblem::kAddressNotOnNode,
                     absl::StrCat("spec.addresses has ", text,
                                  ", which is not an InternalIP of its Node"));
    }
    if (!seen.insert(*address).second) {
      return problem(RecordProblem::kAddressNotOnNode,
                     absl::StrCat("spec.addresses lists ", text, " twice"));
    }
  }
  std::set<IpPrefix> seen_cidrs;
  for (const IpPrefix& cidr : record.pod_cidrs) {
    bool within = false;
    for (const IpPrefix& allocated : node->pod_cidrs) {
      within = within || PrefixWithin(cidr, allocated);
    }
    if (!within) {
      return problem(RecordProblem::kPodCidrNotOnNode,
                     absl::StrCat("spec.podCIDRS has ", cidr.ToString(),
                                  ", which is not within its Node's "
                                  "spec.podCIDRs"));
    }
    if (!seen_cidrs.insert(cidr).second) {
      return problem(
          RecordProblem::kPodCidrNotOnNode,
          absl::StrCat("spec.podCIDRS lists ", cidr.ToString(), " twice"));
    }
  }
  return RecordCheck{};
}

}  // namespace kmesh::ipsec
