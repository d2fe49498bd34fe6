// SpiRotation: which SPIs this node receives and sends with, and when an old
// one goes; the receiver-driven rotation of docs/xfrm-layout.md (section 5).
// It holds the pre-shared keys (a KeyRing), the order in which their SPIs
// were learnt (newer = learnt later, whatever the number), the target SPI
// (the newest) and the advertised one, and decides three things from the
// peers' state: when the target may be advertised (after the first complete
// peer list, once every peer that counts can be received from under it),
// which SPI to send to a peer with (the one it advertises when this node
// holds that key, else the current one while it can still be produced), and
// when an old SPI is reclaimed (a grace period after no peer that counts
// advertises it or an older one). It changes nothing outside itself: the
// controller applies its verdicts to the kernel and the published record.
// Not thread-safe; the controller calls it under its lock.
#ifndef KMESH_IPSEC_SPI_ROTATION_H_
#define KMESH_IPSEC_SPI_ROTATION_H_

#include <cstdint>
#include <map>
#include <set>
#include <vector>

#include "kmesh/base/clock.h"
#include "kmesh/ipsec/key_ring.h"
#include "kmesh/ipsec/peer_state.h"
#include "kmesh/kernel/xfrm_key.h"

namespace kmesh::ipsec {

class SpiRotation {
 public:
  // An old SPI is reclaimed `grace_period` after no peer needs it any more.
  explicit SpiRotation(Duration grace_period);

  // --- Keys and their order ---

  enum class KeyChange {
    kUnchanged,  // This key is held already and is the target.
    kNewKey,     // Held now and the target: the newest SPI.
    kNewEpoch,   // As kNewKey, replacing another key held under this SPI
                 // (the secret was deleted and re-created).
  };
  // A valid key (SPI > 0, 36 bytes) from the key file.
  KeyChange LearnKey(int32_t spi, const XfrmKey& psk);
  // SPIs found in the kernel at start whose order is not known: older than
  // every key learnt, before or after (a start retried after the key file
  // was read), and among themselves by number.
  void LearnAdoptedSpis(const std::set<int32_t>& spis);
  // Whether `a` was learnt before `b` (false when either is unknown).
  bool IsOlder(int32_t a, int32_t b) const;
  const KeyRing& keys() const { return keys_; }

  // --- Advertising ---

  // The newest SPI; 0 = no key yet.
  int32_t target_spi() const { return target_spi_; }
  // The SPI this node last published; 0 = none.
  int32_t advertised_spi() const { return advertised_spi_; }
  // Whether the target SPI should be published now: it is not published yet
  // (or its publication is to be repeated), the peer list has been complete
  // once (`peers_synced`, so "every peer" is known), and every peer that
  // counts has all its inbound SAs for the target installed.
  bool ReadyToAdvertise(const PeerTable& peers, bool peers_synced) const;
  // The outcome of publishing the target SPI; on failure it is repeated at
  // the next chance. Either way the target becomes the keys' current SPI.
  void Advertised(bool published) { Advertised(target_spi_, published); }
  // The same for a publication of `spi`, decided when it was the target (the
  // controller publishes outside its lock; a newer key may have come since).
  void Advertised(int32_t spi, bool published);
  // Publish again at the next chance (this node's own record changed).
  void Republish() { publish_pending_ = true; }
  // This node's record was withdrawn: nothing is advertised.
  void Withdrawn() { advertised_spi_ = 0; }

  // --- Sending ---

  // The SPI to send to `peer` with: the one it advertises when this node
  // holds that key; else its current outbound SPI while that SA can still be
  // produced (the key is held, or the SA is adopted:
  // `adopted_outbound_spis`); else (after a restart) the newest adopted
  // outbound SA's; else 0, send nothing.
  int32_t OutboundSpiFor(
      const PeerState& peer,
      const std::vector<int32_t>& adopted_outbound_spis) const;

  // --- Reclaim ---

  // Something the reclaim verdicts read about the peers changed: a peer came
  // or went, its record changed, or whether it counts. Until the next call,
  // UpdateReclaimTimers() keeps its verdicts without walking the peers.
  void PeersChanged() { reclaim_inputs_changed_ = true; }
  // Starts and stops the grace timers of the old SPIs: every SPI in
  // `inbound_spis` other than the target and the advertised one. An old
  // SPI's timer runs while no peer that counts advertises it or an SPI
  // learnt before it, and stops (to start afresh later) when one does.
  // Nothing runs before the peer list is complete and an SPI is advertised.
  // Walks the peers only when PeersChanged() was called, the SPI order
  // moved or the set of old SPIs changed since the last walk: through a
  // grace period nothing does, and a tick costs nothing per peer.
  void UpdateReclaimTimers(TimePoint now, const PeerTable& peers,
                           bool peers_synced,
                           const std::vector<int32_t>& inbound_spis);
  // The old SPIs whose grace period is over at `now`, ascending.
  std::vector<int32_t> DueForReclaim(TimePoint now) const;
  // Forgets `spi` and its key (the controller removes its SAs).
  void Reclaim(int32_t spi);
  // How many times UpdateReclaimTimers() walked the peers.
  uint64_t reclaim_walks() const { return reclaim_walks_; }
  // The old SPIs whose grace timers run, and since when (each is reclaimed
  // at that time plus grace_period()).
  const std::map<int32_t, TimePoint>& releasable_since() const {
    return releasable_since_;
  }
  Duration grace_period() const { return grace_period_; }

 private:
  const Duration grace_period_;
  KeyRing keys_;
  // Order in which SPIs were learnt (higher = newer).
  std::map<int32_t, int64_t> spi_order_;
  int64_t next_order_ = 1;
  // Adopted SPIs are ordered below every other: from here down.
  int64_t lowest_order_ = 1;
  int32_t target_spi_ = 0;
  int32_t advertised_spi_ = 0;
  bool publish_pending_ = false;
  // Old SPIs that no peer needs any more, and since when.
  std::map<int32_t, TimePoint> releasable_since_;
  // What UpdateReclaimTimers() last decided from: the old SPIs it walked the
  // peers for, and whether anything it reads about the peers or the SPI
  // order has changed since. While neither moved, its verdicts stand.
  std::set<int32_t> reclaim_candidates_;
  bool reclaim_inputs_changed_ = true;
  uint64_t reclaim_walks_ = 0;
};

}  // namespace kmesh::ipsec

#endif  // KMESH_IPSEC_SPI_ROTATION_H_
