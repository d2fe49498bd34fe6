// MarkerMaps: the eBPF maps that drive the two marker programs (bpf/), seen
// from user space. The decrypt program looks up the source address of ESP
// arriving on a node interface in the peer map and sets the mark that peer's
// inbound SAs expect ((peer_index << 16) | 0xd0, see
// kmesh/ipsec/xfrm_layout.h); the encrypt program sets the encrypt mark 0xe0
// on a packet leaving a managed pod whose destination lies in an encrypt CIDR
// (a peer's pod CIDR that this node has an out policy and SA for) and is not
// a known unmanaged pod. That is fail-closed: a pod in a peer's CIDR that this
// node has not heard of yet is encrypted. The maps are updated incrementally,
// one entry per call, so a cluster of thousands of nodes and pods never needs
// a full rewrite.
// Implementations: the Linux backend over pinned BPF maps (libbpf) and the
// simulator's in-memory twin (sim/kernel/memory_marker_maps.h), which tests
// also use.
#ifndef KMESH_KERNEL_MARKER_MAPS_H_
#define KMESH_KERNEL_MARKER_MAPS_H_

#include <cstdint>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "kmesh/base/ip_address.h"

namespace kmesh {

// Distinct prefix lengths of encrypt CIDRs per family (KMESH_CIDR_LENGTHS in
// bpf/marker_decision.h): the encrypt program tries each.
inline constexpr int kMaxEncryptCidrLengths = 4;

// One entry of the peer map: ESP from `address` belongs to the peer with
// locally assigned index `peer_index` (1..65535; 0 is never assigned).
struct PeerMarkerEntry {
  IpAddress address;
  uint16_t peer_index = 0;

  friend bool operator==(const PeerMarkerEntry& a, const PeerMarkerEntry& b) {
    return a.address == b.address && a.peer_index == b.peer_index;
  }
};

class MarkerMaps {
 public:
  virtual ~MarkerMaps() = default;

  // Peer map (decrypt marker). Upsert creates or replaces the entry for
  // `address`; ResourceExhausted when the map is full. Delete of an absent
  // address is NotFound.
  virtual absl::Status UpsertPeer(const IpAddress& address,
                                  uint16_t peer_index) = 0;
  virtual absl::Status DeletePeer(const IpAddress& address) = 0;
  virtual absl::StatusOr<std::vector<PeerMarkerEntry>> DumpPeers() = 0;

  // Encrypt-CIDR map (encrypt marker): peers' pod CIDRs this node encrypts
  // to. Upsert of a present CIDR is a no-op success. InvalidArgument for a /0
  // CIDR; AlreadyExists when a CIDR with the same network address and another
  // length is present (pod CIDRs are disjoint); ResourceExhausted when full
  // or when the CIDR would be the (kMaxEncryptCidrLengths + 1)th distinct
  // prefix length of its family. Delete of an absent CIDR is NotFound.
  virtual absl::Status UpsertEncryptCidr(const IpPrefix& cidr) = 0;
  virtual absl::Status DeleteEncryptCidr(const IpPrefix& cidr) = 0;
  virtual absl::StatusOr<std::vector<IpPrefix>> DumpEncryptCidrs() = 0;

  // Unmanaged-pod map (encrypt marker): the IPs of pods known not to be
  // managed, which stay in clear even inside an encrypt CIDR. Upsert of a
  // present IP is a no-op success; ResourceExhausted when full; Delete of an
  // absent IP is NotFound.
  virtual absl::Status UpsertUnmanagedPod(const IpAddress& pod_ip) = 0;
  virtual absl::Status DeleteUnmanagedPod(const IpAddress& pod_ip) = 0;
  virtual absl::StatusOr<std::vector<IpAddress>> DumpUnmanagedPods() = 0;

  // Batch form of the two calls above, for a watcher applying a burst of pod
  // events. Applies every entry, continuing past failures, and returns the
  // first error. Backends with a real batch operation override it.
  virtual absl::Status UpdateUnmanagedPods(
      const std::vector<IpAddress>& upserts,
      const std::vector<IpAddress>& deletes);
};

}  // namespace kmesh

#endif  // KMESH_KERNEL_MARKER_MAPS_H_
