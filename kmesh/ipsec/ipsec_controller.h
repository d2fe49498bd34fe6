// IpsecController: the IPsec state machine of one node, and the place its
// parts meet. Events come in (IpsecEventSink: keys, peers); SpiRotation
// decides which SPIs to receive and send with and when to advertise and
// reclaim; XfrmLayout computes each peer's objects, with the SAs
// AdoptedKernelState holds for what cannot be derived; XfrmProgrammer makes
// the kernel match; MarkerSync keeps the decrypt marker's peer map in step;
// and the node's record (its advertised SPI) goes out through
// NodeInfoPublisher. Start() adopts what a previous run left in the kernel
// (a stopping daemon leaves everything in place); Shutdown() withdraws the
// record and removes only what this daemon owns (the caller detaches the
// encrypt marker first: without the block policy marked traffic would leave
// in clear). kmesh-daemon does not call Shutdown(): `kmesh-daemon uninstall`
// removes the product's state without a controller. The rotation protocol,
// restart and shutdown are described in docs/xfrm-layout.md (sections 5 and 6).
// Thread-safe: every public method takes one lock, and none holds it across a
// call to the NodeInfoPublisher (HTTP to the API server, retried for up to
// minutes): the record is decided under the lock (after the inbound SAs for
// its SPI are in place), queued with a sequence number, and sent after the
// lock is released by the thread whose call queued it; one publication is on
// its way at a time, in the order decided, and a newer decision replaces a
// queued older one, so a stale record never overwrites a newer one. Another
// thread's call meanwhile (a peer update, a Tick, a Snapshot) runs at once
// and leaves what it decides queued for the sending thread. Outbound SAs move
// to the new SPI when its publication has returned (docs/decisions.md, "No
// HTTP under the controller lock").
#ifndef KMESH_IPSEC_IPSEC_CONTROLLER_H_
#define KMESH_IPSEC_IPSEC_CONTROLLER_H_

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "kmesh/base/clock.h"
#include "kmesh/ipsec/adopted_kernel_state.h"
#include "kmesh/ipsec/ipsec_events.h"
#include "kmesh/ipsec/marker_sync.h"
#include "kmesh/ipsec/node_info_publisher.h"
#include "kmesh/ipsec/node_view.h"
#include "kmesh/ipsec/peer_index_allocator.h"
#include "kmesh/ipsec/peer_state.h"
#include "kmesh/ipsec/reclaim_hold.h"
#include "kmesh/ipsec/spi_rotation.h"
#include "kmesh/ipsec/xfrm_layout.h"
#include "kmesh/ipsec/xfrm_programmer.h"
#include "kmesh/kernel/marker_maps.h"
#include "kmesh/kernel/xfrm.h"

namespace kmesh::ipsec {

struct IpsecControllerOptions {
  // How long an old inbound SPI stays after every peer moved past it. It is
  // kept longer, up to one more grace period, while its inbound SAs still
  // receive packets (a peer whose view of this node is stale: ReclaimHold).
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
  // Whether Node objects are used (OnNodeUpsert, OnNodesSynced; the agent
  // delivers them): every node is then received from before it publishes
  // its record, and advertising (and removing what a previous run left for
  // unknown peers) also waits for the first complete Node list. When false,
  // Node events are ignored.
  // With it, a peer's record is also checked against its Node object before
  // it is used (CheckRecordAgainstNode, and no pod CIDR overlapping another
  // node's, this one's included): a rejected record is treated as if it had
  // been deleted (the peer is programmed from its Node alone, or removed
  // when it has none), reported (log, Snapshot().rejected_records, the
  // records_rejected count) and checked again whenever it or the Nodes
  // change.
  bool learn_nodes = false;
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
  // Times this node's own record was found deleted or altered and was
  // published again.
  uint64_t own_record_repairs = 0;
  uint64_t spis_reclaimed = 0;
  // Samples that found an old SPI still received with after its grace
  // period, so it was kept (ReclaimHold), and SPIs removed anyway at the
  // hold limit while a peer still sent with them.
  uint64_t reclaim_holds = 0;
  uint64_t reclaims_forced = 0;
  // Walks over the peers to decide whether an old SPI is still needed. They
  // happen when a peer, a key or the SPI order changed, not on every tick.
  uint64_t reclaim_walks = 0;
  // Times a peer record was rejected (each distinct problem of a record
  // once; see IpsecControllerOptions::learn_nodes).
  uint64_t records_rejected = 0;
  // Times a peer was refused a peer index (all taken). A peer that found
  // none is retried only once an index is free again, not on every Tick.
  uint64_t index_exhaustions = 0;
};

// One consistent picture of the controller, taken under its lock, for the
// daemon's status endpoint and metrics (kmesh/agent/node_status.h).
struct IpsecControllerSnapshot {
  struct Peer {
    std::string name;
    std::vector<std::string> addresses;  // What it is programmed from.
    // Whether it has published a KmeshNodeInfo (else it is known from its
    // Node object only and is received from, not sent to).
    bool has_record = false;
    int32_t advertised_spi = 0;  // What its record advertises (0 = none).
    uint16_t index = 0;          // Its peer index; 0 while none is free.
    int32_t outbound_spi = 0;    // What this node sends to it with.
    std::vector<int32_t> retiring_outbound_spis;
    std::vector<int32_t> inbound_installed;
    bool unprogrammable = false;
    // Why it is not (fully) programmed; empty when it is.
    std::string problem;
  };
  struct PendingReclaim {
    int32_t spi = 0;
    TimePoint releasable_since{};
    TimePoint due{};  // releasable_since + grace period.
    // Past `due` and kept, because these peers' packets still arrive with
    // it (their view of this node is stale); removed by `deadline` at the
    // latest.
    std::vector<std::string> still_sent_by;
    bool held = false;
    TimePoint deadline{};
  };
  bool started = false;
  bool peers_synced = false;
  int32_t target_spi = 0;      // The newest key's SPI (0 = no key).
  int32_t advertised_spi = 0;  // What this node's record says (0 = none).
  // When the newest key was learnt by this daemon (zero: no key yet).
  TimePoint target_learnt_at{};
  std::vector<int32_t> held_spis;     // Keys held (ascending).
  std::vector<int32_t> inbound_spis;  // Inbound SAs held for (ascending).
  std::vector<PendingReclaim> pending_reclaims;
  std::vector<Peer> peers;  // By name.
  // Peer records not used because they disagree with their Node objects.
  struct RejectedRecord {
    std::string name;
    std::string reason;  // RecordProblemName().
    std::string detail;  // What is wrong.
  };
  std::vector<RejectedRecord> rejected_records;  // By name.
  // Peers waiting for a free peer index (also in `peers`, index 0).
  size_t peers_without_index = 0;
  IpsecControllerStats stats;
  XfrmOpCounts xfrm_op_counts;
  // Failed kernel operations by (operation, errno); errno 0 for refusals
  // that never reached the kernel.
  std::map<std::pair<XfrmOp, int>, uint64_t> xfrm_errors_by_op;
  // When the last full reconcile succeeded (zero: none yet).
  TimePoint last_good_full_reconcile{};
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
  absl::Status Start() ABSL_LOCKS_EXCLUDED(mu_);

  // IpsecEventSink.
  void OnKeyChanged(int32_t spi, const XfrmKey& psk) override
      ABSL_LOCKS_EXCLUDED(mu_);
  void OnKeyFileError(const absl::Status& error) override
      ABSL_LOCKS_EXCLUDED(mu_);
  void OnPeerUpsert(const NodeView& peer) override ABSL_LOCKS_EXCLUDED(mu_);
  void OnPeerDelete(const std::string& name) override ABSL_LOCKS_EXCLUDED(mu_);
  void OnPeersSynced() override ABSL_LOCKS_EXCLUDED(mu_);
  // Re-publishes this node's record when the stored one is gone or differs
  // from what was advertised (deleted or altered by someone else).
  void OnOwnRecord(const std::optional<NodeView>& stored) override
      ABSL_LOCKS_EXCLUDED(mu_);
  // A node known from its Node object but without a KmeshNodeInfo is a peer
  // that advertises nothing: this node installs its inbound SAs, in/fwd
  // policies and decrypt-marker entries for it (with every SPI it receives
  // with) and sends it nothing. So when it publishes and starts sending, or
  // when this node first gets a key and advertises, every node can already
  // be received from. Its record, once published, takes precedence.
  void OnNodeUpsert(const NodeView& node) override ABSL_LOCKS_EXCLUDED(mu_);
  void OnNodeDelete(const std::string& name) override ABSL_LOCKS_EXCLUDED(mu_);
  void OnNodesSynced() override ABSL_LOCKS_EXCLUDED(mu_);

  // This node's own addresses, boot ID or pod CIDRs changed (IpsecAgent
  // watches its Node object and calls it): keys are re-derived, every peer
  // is re-laid out and the record re-published.
  void UpdateSelf(const NodeView& self) ABSL_LOCKS_EXCLUDED(mu_);

  // Removes old SPIs whose grace period is over, retries failed operations
  // and publications, and runs the periodic full reconcile. Call it every few
  // seconds.
  void Tick() ABSL_LOCKS_EXCLUDED(mu_);

  // Withdraws this node's record and removes every object this daemon owns.
  absl::Status Shutdown() ABSL_LOCKS_EXCLUDED(mu_);

  // --- Observations (for tests, logs and metrics) ---
  // The SPI this node last published (0 = none).
  int32_t advertised_spi() const ABSL_LOCKS_EXCLUDED(mu_);
  // The SPIs this node currently holds inbound SAs for (ascending).
  std::vector<int32_t> inbound_spis() const ABSL_LOCKS_EXCLUDED(mu_);
  // The SPIs this node holds inbound SAs for from `peer` (ascending).
  std::vector<int32_t> inbound_spis(const std::string& peer) const
      ABSL_LOCKS_EXCLUDED(mu_);
  // The SPI this node sends to `peer` with (0 = none).
  int32_t outbound_spi(const std::string& peer) const ABSL_LOCKS_EXCLUDED(mu_);
  // The SPIs of `peer`'s retiring outbound SAs: sent with before, kept
  // without a policy until reclaimed (ascending).
  std::vector<int32_t> retiring_outbound_spis(const std::string& peer) const
      ABSL_LOCKS_EXCLUDED(mu_);
  // The peers this node has an outbound SA to (outbound_spi != 0).
  std::set<std::string> PeersWithOutboundSa() const ABSL_LOCKS_EXCLUDED(mu_);
  // Told, in order, each time a peer joins that set (true) or leaves it
  // (false: its outbound SA went, or the peer did, or Shutdown()); a
  // rotation leaves the set as it is. Called under the controller's lock:
  // the listener must not call back into the controller (queue the change
  // and act on it later). Set before Start().
  using OutboundPeerListener =
      std::function<void(const std::string& peer, bool has_outbound_sa)>;
  void SetOutboundPeerListener(OutboundPeerListener listener)
      ABSL_LOCKS_EXCLUDED(mu_);
  std::optional<uint16_t> peer_index(const std::string& peer) const
      ABSL_LOCKS_EXCLUDED(mu_);
  // OK, or why the peer is not (fully) programmed.
  absl::Status peer_status(const std::string& peer) const
      ABSL_LOCKS_EXCLUDED(mu_);
  IpsecControllerStats stats() const ABSL_LOCKS_EXCLUDED(mu_);
  XfrmOpCounts xfrm_op_counts() const ABSL_LOCKS_EXCLUDED(mu_);
  // Everything above at once (one lock).
  IpsecControllerSnapshot Snapshot() const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  // The SPIs this node holds inbound SAs for: every key's, and those of
  // adopted inbound SAs (ascending).
  std::vector<int32_t> InboundSpis() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  std::vector<int32_t> PeerInboundSpis(const PeerState& peer) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Gives `peer` its index (adopted, kept from when it departed, or new);
  // false (and the peer's status says why, and it waits in
  // waiting_for_index_) when none is free.
  bool AssignIndex(PeerState* peer) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Gives waiting peers the indices that are free now.
  void AssignFreedIndices() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // With learn_nodes: whether the peer's record may be used (its Node, and
  // every other node's pod CIDRs and this node's).
  RecordCheck CheckRecord(const std::string& name, const PeerState& peer) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Sets the record aside (rejected_records_) and reports it once per
  // distinct problem (once the Node list is complete: before that a record
  // may just have arrived before its Node).
  void RejectRecord(const std::string& name, NodeView record, RecordCheck check)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The Nodes changed for `name` (or this node's pod CIDRs did): its set-
  // aside record, and the records of others whose pod CIDRs overlap
  // `cidrs` or that were set aside, are checked again.
  void RecheckRecords(const std::string& name,
                      const std::vector<IpPrefix>& cidrs)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  int32_t ChooseOutboundSpi(const PeerState& peer) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The peer's record or Node changed: programs it from the one that wins
  // (the record), or removes it when it has neither.
  void RefreshPeer(const std::string& name) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void RemovePeer(PeerTable::iterator it) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Both lists (records and, with learn_nodes, Nodes) complete at least once.
  bool PeersSynced() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // After a (re)list: reconcile, drop stray marker entries, advertise.
  void AfterSync() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Sets the peer's outbound SPI, telling the listener when the peer joins
  // or leaves the set of peers with one.
  void SetOutboundSpi(const std::string& name, PeerState* peer, int32_t spi)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::StatusOr<PeerLayout> LayoutFor(const PeerState& peer) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Which SPIs' inbound SAs from the peer are now all installed.
  void RecordInboundInstalled(const XfrmObjects& objects, PeerState* peer) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void ApplyPeer(PeerState* peer) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void ApplyAllPeers(bool reselect_outbound) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Both markers' entries for `peer` as `objects` (its applied layout)
  // implies; none when null.
  void SyncMarkers(PeerState* peer, const XfrmObjects* objects)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void RemoveDeparted() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void MaybeAdvertise() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void UpdateReclaimTimers() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Every change to a peer's unprogrammable flag goes through here (it is
  // one of the inputs of the reclaim verdicts).
  void SetUnprogrammable(PeerState* peer, bool unprogrammable)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Samples the inbound SA counters of the SPIs in their grace period that
  // want it (ReclaimHold); with `new_timers_only`, only of those whose timer
  // has just started (the event path, one dump at most).
  void SampleInboundCounters(TimePoint now, bool new_timers_only)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The old SPIs to remove now: grace period over and not held.
  std::vector<int32_t> ReclaimableSpis(TimePoint now)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The names of the peers with these indices (for logs and the status).
  std::vector<std::string> PeerNames(const std::set<uint16_t>& indices) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Reclaim(int32_t spi) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // This node's record, decided under mu_ and published outside it.
  struct Publication {
    uint64_t seq = 0;  // Order of the decisions (higher = newer).
    NodeView record;   // spi: the SPI it advertises.
    // republish_requests_ when it was decided: a request made later (this
    // node's record changed or was found altered) is not covered by it.
    uint64_t republish_requests = 0;
  };
  // Takes mu_ for an event; on release, sends what the event queued
  // (PublishQueued).
  class EventLock;
  // Sends the queued publication, and those queued meanwhile, unless another
  // thread is sending (it takes them). Called without mu_.
  void PublishQueued() ABSL_LOCKS_EXCLUDED(mu_);
  // The outcome of a publication: what is advertised, and (3) outbound SAs
  // moved to peers that advertise the new SPI.
  void Published(const Publication& publication, const absl::Status& status)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Publish this node's record again at the next chance.
  void RequestRepublish() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void FullReconcile() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void AdoptFromKernel() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // After a start that succeeded only once events had brought peers (which
  // updated the model only): each peer arrives now, then a full reconcile.
  void TakeOverAfterLateStart() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void RecordXfrmResult(const std::string& what, const ApplyResult& result)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const IpsecControllerOptions options_;
  NodeInfoPublisher* const publisher_;
  const Clock* const clock_;

  mutable absl::Mutex mu_;
  NodeView self_ ABSL_GUARDED_BY(mu_);
  SpiRotation rotation_ ABSL_GUARDED_BY(mu_);
  ReclaimHold hold_ ABSL_GUARDED_BY(mu_);
  AdoptedKernelState adopted_ ABSL_GUARDED_BY(mu_);
  MarkerSync marker_sync_ ABSL_GUARDED_BY(mu_);
  XfrmProgrammer programmer_ ABSL_GUARDED_BY(mu_);
  PeerIndexAllocator indices_ ABSL_GUARDED_BY(mu_);
  PeerTable peers_ ABSL_GUARDED_BY(mu_);
  OutboundPeerListener outbound_peer_listener_ ABSL_GUARDED_BY(mu_);
  // Peers that found no free index, retried when one is free (Tick()).
  std::set<std::string> waiting_for_index_ ABSL_GUARDED_BY(mu_);
  // Records rejected (learn_nodes): not in peers_[name].record.
  struct SetAsideRecord {
    NodeView record;
    RecordCheck check;
    bool reported = false;
  };
  std::map<std::string, SetAsideRecord> rejected_records_ ABSL_GUARDED_BY(mu_);
  bool started_ ABSL_GUARDED_BY(mu_) = false;
  bool records_synced_ ABSL_GUARDED_BY(mu_) = false;
  bool nodes_synced_ ABSL_GUARDED_BY(mu_) = false;
  TimePoint next_resync_ ABSL_GUARDED_BY(mu_);
  TimePoint next_retry_ ABSL_GUARDED_BY(mu_);
  Duration retry_backoff_ ABSL_GUARDED_BY(mu_){0};
  IpsecControllerStats stats_ ABSL_GUARDED_BY(mu_);
  std::map<std::pair<XfrmOp, int>, uint64_t> xfrm_errors_by_op_
      ABSL_GUARDED_BY(mu_);
  TimePoint target_learnt_at_ ABSL_GUARDED_BY(mu_){};
  TimePoint last_good_full_reconcile_ ABSL_GUARDED_BY(mu_){};
  // The next publication to send (the newest decision), the one being sent,
  // and whether a thread is sending (publishing or withdrawing).
  std::optional<Publication> queued_publication_ ABSL_GUARDED_BY(mu_);
  std::optional<Publication> sending_publication_ ABSL_GUARDED_BY(mu_);
  bool publishing_ ABSL_GUARDED_BY(mu_) = false;
  uint64_t publication_seq_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t republish_requests_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace kmesh::ipsec

#endif  // KMESH_IPSEC_IPSEC_CONTROLLER_H_
