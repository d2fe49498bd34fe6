// MarkerSync: keeps the markers' per-peer maps (MarkerMaps) in step with the
// peers: the decrypt marker's peer map and the encrypt marker's encrypt-CIDR
// map. Encrypt CIDRs: a peer's pod CIDRs that this node has out policies for
// are in the map while those policies are (added after them, removed before
// them or with them), so a managed pod's traffic to any address in them is
// encrypted, or dropped by the block policy, never sent in clear; they are
// remembered in PeerState::encrypt_cidrs. Peer map: every address of a
// programmed peer maps to that peer's index: the entry is added once the peer's
// inbound SAs are installed (so the marked ESP finds its SA) and removed once
// they are gone. What it has put in the map for a peer is remembered in
// PeerState::marked_addresses, so a change costs only the entries that differ,
// and a failed write is retried on the next Sync. A deleted peer's entries are
// removed later, with Unmark, when its SAs are gone (AdoptedKernelState keeps
// them meanwhile); entries no peer accounts for (left by a previous run) go
// with RemoveStrays once the peer list is complete. With no decrypt marker
// (null maps) it keeps the books the same and writes nothing. Failures are
// logged and returned for the controller to count. Not thread-safe; the
// controller calls it under its lock.
#ifndef KMESH_IPSEC_MARKER_SYNC_H_
#define KMESH_IPSEC_MARKER_SYNC_H_

#include <cstddef>
#include <set>
#include <vector>

#include "absl/status/status.h"
#include "kmesh/base/ip_address.h"
#include "kmesh/ipsec/peer_state.h"
#include "kmesh/kernel/marker_maps.h"

namespace kmesh::ipsec {

class MarkerSync {
 public:
  // `maps` may be null (no decrypt marker to feed); it must outlive this.
  explicit MarkerSync(MarkerMaps* maps) : maps_(maps) {}

  // Makes the map hold exactly `wanted` -> peer->index for `peer`: adds the
  // missing entries, removes the ones no longer wanted. Call after the
  // peer's inbound SAs are in place (and with nothing wanted once they are
  // gone). Returns how many writes failed.
  size_t Sync(PeerState* peer, const std::vector<IpAddress>& wanted);

  // Makes the encrypt-CIDR map hold exactly `wanted` for `peer` (the
  // destinations of its out policies; nothing once they are gone). Returns
  // how many writes failed; they are retried on the next call.
  size_t SyncEncryptCidrs(PeerState* peer, const std::vector<IpPrefix>& wanted);

  // Removes every encrypt CIDR not in `accounted` (left by a previous run).
  size_t RemoveStrayEncryptCidrs(const std::set<IpPrefix>& accounted);

  // Removes the entries for `addresses` (a departed peer's). Returns the
  // failures other than NotFound; the entries are not retried.
  std::vector<absl::Status> Unmark(const std::vector<IpAddress>& addresses);

  // Removes every entry whose address is not in `accounted` (the addresses
  // of current and departed peers). Returns how many calls failed.
  size_t RemoveStrays(const std::set<IpAddress>& accounted);

 private:
  MarkerMaps* const maps_;
};

}  // namespace kmesh::ipsec

#endif  // KMESH_IPSEC_MARKER_SYNC_H_
