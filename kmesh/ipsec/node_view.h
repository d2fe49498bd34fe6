// NodeView: what the IPsec controller knows about one node (this one or a
// peer): its name, the SPI it currently receives with, its InternalIP
// addresses (textual, exactly as published, because the per-pair key
// derivation hashes the text), its boot ID and its pod CIDRs. It is the
// validated, typed form of a KmeshNodeInfo custom resource; the conversions
// here are the only place that maps between the two, so a malformed record is
// rejected once, with an error naming the node and the bad field.
#ifndef KMESH_IPSEC_NODE_VIEW_H_
#define KMESH_IPSEC_NODE_VIEW_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "kmesh/api/kmesh_node_info.pb.h"
#include "kmesh/base/ip_address.h"

namespace kmesh::ipsec {

struct NodeView {
  // The Kubernetes node name (= the KmeshNodeInfo object name).
  std::string name;
  // The SPI this node receives with; 0 = it holds no key yet.
  int32_t spi = 0;
  // InternalIPs, textual, exactly as in KmeshNodeInfo; each parses as an
  // IpAddress.
  std::vector<std::string> addresses;
  // Node.status.nodeInfo.bootID (the derivation uses its first 36 chars).
  std::string boot_id;
  std::vector<IpPrefix> pod_cidrs;

  friend bool operator==(const NodeView& a, const NodeView& b) {
    return a.name == b.name && a.spi == b.spi && a.addresses == b.addresses &&
           a.boot_id == b.boot_id && a.pod_cidrs == b.pod_cidrs;
  }
  friend bool operator!=(const NodeView& a, const NodeView& b) {
    return !(a == b);
  }
};

// Validates and converts a KmeshNodeInfo: the name must be set, the SPI must
// not be negative, there must be at least one address and every address and
// pod CIDR must parse. Errors (InvalidArgument) name the node and the field.
// The boot ID is not checked here beyond being present; its length is checked
// by the key derivation, per peer.
absl::StatusOr<NodeView> NodeViewFromKmeshNodeInfo(
    const kmesh::api::KmeshNodeInfo& info);

// The KmeshNodeInfo object (apiVersion kmesh.net/v1alpha1, kind
// KmeshNodeInfo, metadata.name = view.name, metadata.namespace = ns) that
// publishes `view`. No resourceVersion is set.
kmesh::api::KmeshNodeInfo KmeshNodeInfoFromNodeView(const NodeView& view,
                                                    const std::string& ns);

// Why a peer's KmeshNodeInfo may not be used (docs/reliability.md, "Peer
// records"). A record is written by that node's daemon and can claim
// anything; the Node object is written by its kubelet (addresses) and the
// controller manager (spec.podCIDRs, immutable once set), so the record is
// only used within what its Node says.
enum class RecordProblem {
  kNone,
  kNoNode,            // There is no (ready) Node object of that name.
  kAddressNotOnNode,  // An address is not one of the Node's InternalIPs.
  kPodCidrNotOnNode,  // A pod CIDR is not within the Node's spec.podCIDRs.
  kPodCidrOverlap,    // A pod CIDR overlaps another node's pod CIDRs.
};
// A metric label for it: "no_node", "address_not_on_node", ...
const char* RecordProblemName(RecordProblem problem);

struct RecordCheck {
  RecordProblem problem = RecordProblem::kNone;
  // What is wrong, naming the node and the field (empty when ok()).
  std::string detail;
  bool ok() const { return problem == RecordProblem::kNone; }
};

// Checks `record` against `node`, the NodeView of the Node object of the
// same name (null when there is none): each address must be one of the
// Node's InternalIPs (compared as addresses, not text), each pod CIDR must
// lie within one of the Node's pod CIDRs, and none may be listed twice.
// Overlap with other nodes is the caller's check (PrefixesOverlap).
RecordCheck CheckRecordAgainstNode(const NodeView& record,
                                   const NodeView* node);

// Whether `inner` lies within `outer` (same family, at least as long, and
// `outer` contains its network address).
bool PrefixWithin(const IpPrefix& inner, const IpPrefix& outer);
// Whether the two prefixes share an address.
bool PrefixesOverlap(const IpPrefix& a, const IpPrefix& b);

}  // namespace kmesh::ipsec

#endif  // KMESH_IPSEC_NODE_VIEW_H_
