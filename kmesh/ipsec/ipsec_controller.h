// IpsecController: the IPsec state machine of one node. It receives the key
// and peer events (IpsecEventSink), decides which SPIs this node receives and
// sends with, computes the desired XFRM state (xfrm_layout.h), has
// XfrmProgrammer apply it, keeps the decrypt marker's peer map in step, and
// publishes this node's record (its current SPI) through NodeInfoPublisher.
//
// Rotation is receiver-driven. On a new key the controller (1) installs the
// inbound SAs for the new SPI from every peer, (2) only when all of them are
// installed (and the peer list has been synced once, so "every peer" is
// known) advertises the new SPI, and (3) then moves its outbound SA to
// every peer that already advertises it. Towards a peer that advertises an
// SPI this node does not hold, it keeps its current outbound SA. An old
// inbound SPI stays until every peer advertises a newer one (newer = learnt
// later by this node, so `delete` + `create` of the secret, which restarts
// at SPI 1, still counts as newer) and the grace period has passed since;
// Tick() then removes it. The same SPI arriving with a different key (the
// secret was deleted and re-created) replaces that SPI's key in place: a new
// key epoch, disruptive for traffic under that SPI until both ends have the
// new key (dropped, never sent in clear); docs/xfrm-layout.md.
//
// Restart: Start() dumps the kernel and adopts what a previous run left
// (including peer indices and SAs whose key it cannot derive any more), so it
// converges without deleting and re-adding anything; objects of peers that no
// longer exist are deleted only after OnPeersSynced(). Shutdown() withdraws
// this node's record and removes only the objects this daemon owns; the
// caller detaches the encrypt marker first, since without the block policy
// marked traffic would leave in clear.
//
// Thread-safe: every method takes one lock.
#ifndef KMESH_IPSEC_IPSEC_CONTROLLER_H_
#define KMESH_IPSEC_IPSEC_CONTROLLER_H_

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "kmesh/base/clock.h"
#include "kmesh/ipsec/ipsec_events.h"
#include "kmesh/ipsec/key_ring.h"
#include "kmesh/ipsec/node_info_publisher.h"
#include "kmesh/ipsec/node_view.h"
#include "kmesh/ipsec/peer_index_allocator.h"
#include "kmesh/ipsec/xfrm_layout.h"
#include "kmesh/ipsec/xfrm_programmer.h"
#include "kmesh/kernel/marker_maps.h"
#include "kmesh/kernel/xfrm.h"

namespace kmesh::ipsec {

struct IpsecControllerOptions {
  // How long an old inbound SPI stays after every peer moved past it.
  Duration grace_period = std::chrono::minutes(5);
  // A full dump-and-reconcile runs at least this often (and after errors).
  Duration resync_interval = std::chrono::minutes(10);
  // After a failed kernel operation the next full reconcile runs on the next
  // Tick; while they keep failing, the wait doubles from this up to
  // max_retry_interval.
  Duration retry_interval = std::chrono::seconds(2);
  Duration max_retry_interval = std::chrono::minutes(5);
  // Highest peer index handed out (tests lower it to reach the limit).
  uint32_t max_peer_index = kMaxPeerIndex;
};

// Counters for logs and metrics.
struct IpsecControllerStats {
  uint64_t key_changes = 0;
  uint64_t key_file_errors = 0;
  uint64_t key_epoch_resets = 0;
  uint64_t peer_errors = 0;
  uint64_t xfrm_errors = 0;
  uint64_t publish_errors = 0;
  uint64_t marker_errors = 0;
  uint64_t full_reconciles = 0;
  uint64_t spis_reclaimed = 0;
  // Walks over the peers to decide whether an old SPI is still needed. They
  // happen when a peer, a key or the SPI order changed, not on every tick.
  uint64_t reclaim_walks = 0;
};

class IpsecController : public IpsecEventSink {
 public:
  // `self` describes this node (its spi field is ignored). `markers` may be
  // null (no decrypt marker to feed). The pointers must outlive the
  // controller.
  IpsecController(NodeView self, XfrmKernel* kernel,
                  NodeInfoPublisher* publisher, MarkerMaps* markers,
                  const Clock* clock, IpsecControllerOptions options = {});

  // Adopts the state a previous run left in the kernel and installs the
  // block policies. An error (the kernel cannot be dumped) is retried on
  // Tick().
  absl::Status Start();

  // IpsecEventSink.
  void OnKeyChanged(int32_t spi, const XfrmKey& psk) override;
  void OnKeyFileError(const absl::Status& error) override;
  void OnPeerUpsert(const NodeView& peer) override;
  void OnPeerDelete(const std::string& name) override;
  void OnPeersSynced() override;

  // This node's own addresses, boot ID or pod CIDRs changed.
  void UpdateSelf(const NodeView& self);

  // Removes old SPIs whose grace period is over, retries failed operations
  // and publications, and runs the periodic full reconcile. Call it every few
  // seconds.
  void Tick();

  // Withdraws this node's record and removes every object this daemon owns.
  absl::Status Shutdown();

  // --- Observations (for tests, logs and metrics) ---
  // The SPI this node last published (0 = none).
  int32_t advertised_spi() const;
  // The SPIs this node currently holds inbound SAs for (ascending).
  std::vector<int32_t> inbound_spis() const;
  // The SPIs this node holds inbound SAs for from `peer` (ascending).
  std::vector<int32_t> inbound_spis(const std::string& peer) const;
  // The SPI this node sends to `peer` with (0 = none).
  int32_t outbound_spi(const std::string& peer) const;
  // The peers this node has an outbound SA to (outbound_spi != 0).
  std::set<std::string> PeersWithOutboundSa() const;
  // Told, in order, each time a peer joins that set (true) or leaves it
  // (false: its outbound SA went, or the peer did, or Shutdown()); a
  // rotation leaves the set as it is. Called under the controller's lock:
  // the listener must not call back into the controller (queue the change
  // and act on it later). Set before Start().
  using OutboundPeerListener =
      std::function<void(const std::string& peer, bool has_outbound_sa)>;
  void SetOutboundPeerListener(OutboundPeerListener listener);
  std::optional<uint16_t> peer_index(const std::string& peer) const;
  // OK, or why the peer is not (fully) programmed.
  absl::Status peer_status(const std::string& peer) const;
  IpsecControllerStats stats() const;
  XfrmOpCounts xfrm_op_counts() const;
  // The desired state recomputed from the controller's inputs.
  XfrmObjects DesiredState() const;

 private:
  struct PeerState {
    NodeView view;
    uint16_t index = 0;
    int32_t outbound_spi = 0;
    // SAs with this peer whose key can no longer be derived (see
    // PeerLayoutInput::retained_sas).
    std::vector<XfrmSa> retained;
    // SPIs whose inbound SAs from this peer are all installed.
    std::set<int32_t> inbound_installed;
    // Addresses currently in the decrypt marker's peer map.
    std::vector<IpAddress> marked_addresses;
    absl::Status status;
    // No index, or its record cannot be laid out (e.g. a short boot ID):
    // it has no objects and neither blocks advertising nor reclaim.
    bool unprogrammable = false;
  };
  // A deleted peer whose objects could not all be removed yet.
  struct Departed {
    uint16_t index = 0;
    std::vector<IpAddress> marked_addresses;
  };

  // All private methods expect mu_ held.
  std::vector<int32_t> InboundSpisLocked() const;
  std::vector<int32_t> PeerInboundSpis(const PeerState& peer) const;
  // Gives `peer` its index (adopted, kept from a departed entry, or new);
  // false (and the peer's status says why) when none is free.
  bool AssignIndex(PeerState* peer);
  int32_t ChooseOutboundSpi(const PeerState& peer) const;
  // Sets the peer's outbound SPI, telling the listener when the peer joins
  // or leaves the set of peers with one.
  void SetOutboundSpi(const std::string& name, PeerState* peer, int32_t spi);
  absl::StatusOr<PeerLayout> LayoutFor(const PeerState& peer) const;
  void ApplyPeer(PeerState* peer);
  void ApplyAllPeers(bool reselect_outbound);
  void SyncMarkers(PeerState* peer, const std::vector<IpAddress>& wanted);
  void RemoveDeparted();
  void MaybeAdvertise();
  bool IsOlder(int32_t a, int32_t b) const;
  void UpdateReclaimTimers();
  // Every change to peers_, a peer's view or unprogrammable flag, or
  // spi_order_ goes through here or calls ReclaimInputsChanged().
  void ReclaimInputsChanged() { reclaim_inputs_changed_ = true; }
  void SetUnprogrammable(PeerState* peer, bool unprogrammable);
  void Reclaim(int32_t spi);
  void FullReconcile();
  void AdoptFromKernel();
  std::vector<XfrmSa> AdoptedFor(const NodeView& view, uint16_t index) const;
  void RecordXfrmResult(const std::string& what, const ApplyResult& result);

  const IpsecControllerOptions options_;
  XfrmKernel* const kernel_;
  NodeInfoPublisher* const publisher_;
  MarkerMaps* const markers_;
  const Clock* const clock_;

  mutable std::mutex mu_;
  NodeView self_;
  KeyRing keys_;
  // Order in which SPIs were learnt (higher = newer).
  std::map<int32_t, uint64_t> spi_order_;
  uint64_t next_order_ = 1;
  // The newest SPI: advertised as soon as its inbound SAs are installed.
  int32_t target_spi_ = 0;
  int32_t advertised_spi_ = 0;
  bool publish_pending_ = false;
  // SPIs of the inbound SAs in peers' `retained`, recomputed when dirty.
  mutable std::set<int32_t> retained_spis_;
  mutable bool retained_spis_dirty_ = false;
  // Old SPIs that no peer needs any more, and since when.
  std::map<int32_t, TimePoint> releasable_since_;
  // What UpdateReclaimTimers last decided from: the old SPIs it walked the
  // peers for, and whether anything it reads about the peers (membership,
  // advertised SPI, unprogrammable) or the SPI order has changed since.
  // While neither moved, its verdicts stand and ticks do not walk the
  // peers (a thousand of them, ten times a second, through a grace period).
  std::set<int32_t> reclaim_candidates_;
  bool reclaim_inputs_changed_ = true;

  XfrmProgrammer programmer_;
  PeerIndexAllocator indices_;
  std::map<std::string, PeerState> peers_;
  std::map<std::string, Departed> departed_;
  // Adopted after a restart, not yet claimed by a peer.
  std::vector<XfrmSa> adopted_sas_;
  std::map<IpAddress, uint16_t> adopted_index_by_address_;
  OutboundPeerListener outbound_peer_listener_;
  // Some peer found no free index (Tick() retries them).
  bool peers_lacking_index_ = false;
  bool started_ = false;
  bool peers_synced_ = false;
  TimePoint next_resync_;
  TimePoint next_retry_;
  Duration retry_backoff_{0};
  IpsecControllerStats stats_;
};

}  // namespace kmesh::ipsec

#endif  // KMESH_IPSEC_IPSEC_CONTROLLER_H_
