// MarkerMaps: the eBPF maps that drive the two marker programs (bpf/), seen
// from user space. The decrypt program looks up the source address of ESP
// arriving on a node interface in the peer map and sets the mark that peer's
// inbound SAs expect ((peer_index << 16) | 0xd0, see
// kmesh/ipsec/xfrm_layout.h); the encrypt program looks up the destination of a
// packet leaving a managed pod in the encrypt-target map and, on a hit, sets
// the encrypt mark 0xe0. Both maps are updated incrementally, one entry per
// call, so a cluster of thousands of nodes and pods never needs a full rewrite.
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

  // Encrypt-target map (encrypt marker): the IPs of managed pods on other
  // nodes that run IPsec. Upsert of a present IP is a no-op success;
  // ResourceExhausted when full; Delete of an absent IP is NotFound.
  virtual absl::Status UpsertEncryptTarget(const IpAddress& pod_ip) = 0;
  virtual absl::Status DeleteEncryptTarget(const IpAddress& pod_ip) = 0;
  virtual absl::StatusOr<std::vector<IpAddress>> DumpEncryptTargets() = 0;

  // Batch form of the two calls above, for a watcher applying a burst of pod
  // events. Applies every entry, continuing past failures, and returns the
  // first error. Backends with a real batch operation override it.
  virtual absl::Status UpdateEncryptTargets(
      const std::vector<IpAddress>& upserts,
      const std::vector<IpAddress>& deletes);
};

}  // namespace kmesh

#endif  // KMESH_KERNEL_MARKER_MAPS_H_
