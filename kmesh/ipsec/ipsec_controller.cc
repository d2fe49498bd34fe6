#include "kmesh/ipsec/ipsec_controller.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "glog/logging.h"
#include "kmesh/ipsec/key_deriver.h"
#include "kmesh/kernel/kernel_error.h"

namespace kmesh::ipsec {
namespace {

// The programmer group of the catch-all block policies. Node names are DNS
// subdomains and cannot contain '/', so no peer can be called this.
const char kCatchAllGroup[] = "kmesh/catch-all";

std::vector<IpAddress> ParsedAddresses(const NodeView& view) {
  std::vector<IpAddress> out;
  for (const std::string& text : view.addresses) {
    absl::StatusOr<IpAddress> address = IpAddress::Parse(text);
    if (address.ok()) out.push_back(*address);
  }
  return out;
}

}  // namespace

class ABSL_SCOPED_LOCKABLE IpsecController::EventLock {
 public:
  explicit EventLock(IpsecController* controller)
      ABSL_EXCLUSIVE_LOCK_FUNCTION(controller->mu_)
      : controller_(controller) {
    controller_->mu_.Lock();
  }
  ~EventLock() ABSL_UNLOCK_FUNCTION() {
    controller_->mu_.Unlock();
    controller_->PublishQueued();
  }
  EventLock(const EventLock&) = delete;
  EventLock& operator=(const EventLock&) = delete;

 private:
  IpsecController* const controller_;
};

IpsecController::IpsecController(NodeView self, XfrmKernel* kernel,
                                 NodeInfoPublisher* publisher,
                                 MarkerMaps* markers, const Clock* clock,
                                 IpsecControllerOptions options)
    : options_(options),
      publisher_(publisher),
      clock_(clock),
      self_(std::move(self)),
      rotation_(options.grace_period),
      hold_(options.grace_period),
      marker_sync_(markers),
      programmer_(kernel),
      indices_(options.max_peer_index) {
  self_.spi = 0;
  next_resync_ = clock_->Now() + options_.resync_interval;
}

// --- Start and adoption -----------------------------------------------------

absl::Status IpsecController::Start() {
  absl::MutexLock lock(&mu_);
  AdoptFromKernel();
  if (!started_) {
    return absl::UnavailableError(
        "IPsec controller could not read the XFRM tables; retrying on Tick");
  }
  return absl::OkStatus();
}

void IpsecController::AdoptFromKernel() {
  std::map<std::string, XfrmObjects> desired;
  desired[kCatchAllGroup] = LayoutCatchAll();
  ApplyResult result =
      programmer_.Reconcile(desired, /*delete_unclaimed=*/false);
  RecordXfrmResult("start", result);
  for (const XfrmOpError& e : result.errors) {
    if (IsDump(e.op)) return;  // Not started yet.
  }
  // Kernel -> controller: what a previous run left.
  const AdoptedKernelState::Found found =
      adopted_.Adopt(programmer_.Unclaimed().sas);
  for (uint16_t index : found.peer_indices) indices_.Reserve(index);
  // Adopted SPIs are older than any key learnt from now on.
  rotation_.LearnAdoptedSpis(found.spis);
  started_ = true;
  next_resync_ = clock_->Now() + options_.resync_interval;
  if (!peers_.empty()) TakeOverAfterLateStart();
}

void IpsecController::TakeOverAfterLateStart() {
  // Events came before the kernel could be read (the first dumps failed):
  // they updated the model only (RefreshPeer). Each peer now arrives as it
  // would have after a start: its index (the previous run's where the
  // kernel shows one), the SAs it left for it claimed, its layout applied;
  // then, the lists being complete, the full reconcile that removes what no
  // peer claimed, now rather than at the next periodic resync.
  LOG(INFO) << "IPsec: started after " << peers_.size()
            << " peers were heard; taking over what the previous run left";
  std::vector<std::string> names;
  for (const auto& [name, peer] : peers_) names.push_back(name);
  for (const std::string& name : names) RefreshPeer(name);
  AfterSync();
  MaybeAdvertise();
  UpdateReclaimTimers();
}

// --- Events -------------------------------------------------------------

void IpsecController::OnKeyChanged(int32_t spi, const XfrmKey& psk) {
  EventLock lock(this);
  if (!started_) AdoptFromKernel();
  if (spi <= 0 || psk.size() != kPskLength) {
    ++stats_.key_file_errors;
    LOG(ERROR) << "IPsec: ignoring key with SPI " << spi << " and "
               << psk.size() << " key bytes (need SPI > 0 and " << kPskLength
               << " bytes)";
    return;
  }
  const SpiRotation::KeyChange change = rotation_.LearnKey(spi, psk);
  if (change == SpiRotation::KeyChange::kUnchanged) return;
  if (change == SpiRotation::KeyChange::kNewEpoch) {
    ++stats_.key_epoch_resets;
    LOG(WARNING) << "IPsec: SPI " << spi
                 << " arrived with a different key (the secret was deleted "
                    "and re-created): replacing the key of SPI "
                 << spi
                 << " in place; traffic under this SPI with nodes that "
                    "still have the old key is dropped until they have the "
                    "new one";
  }
  ++stats_.key_changes;
  if (rotation_.target_spi() == spi) target_learnt_at_ = clock_->Now();
  // The ring now derives every SA of this SPI.
  adopted_.DropSpi(spi);
  LOG(INFO) << "IPsec: key for SPI " << spi << " installed";
  // (1) Inbound SAs for the new SPI from every peer; outbound unchanged.
  ApplyAllPeers(/*reselect_outbound=*/false);
  // (2) Advertise once all of them are installed, then (3) move outbound.
  MaybeAdvertise();
  UpdateReclaimTimers();
}

void IpsecController::OnKeyFileError(const absl::Status& error) {
  absl::MutexLock lock(&mu_);
  ++stats_.key_file_errors;
  LOG(ERROR) << "IPsec: key file unusable, keeping the last good key: "
             << error;
}

void IpsecController::OnPeerUpsert(const NodeView& view) {
  EventLock lock(this);
  if (!started_) AdoptFromKernel();
  if (view.name == self_.name) return;
  peers_[view.name].record = view;
  RefreshPeer(view.name);
}

void IpsecController::OnNodeUpsert(const NodeView& node) {
  EventLock lock(this);
  if (!options_.learn_nodes) return;
  if (!started_) AdoptFromKernel();
  if (node.name == self_.name) return;
  NodeView view = node;
  view.spi = 0;  // A Node advertises nothing.
  PeerState& peer = peers_[view.name];
  // Pod CIDRs before and after: records overlapping either are checked
  // again.
  std::vector<IpPrefix> cidrs = view.pod_cidrs;
  const bool cidrs_changed = !peer.node || peer.node->pod_cidrs != cidrs;
  if (peer.node) {
    cidrs.insert(cidrs.end(), peer.node->pod_cidrs.begin(),
                 peer.node->pod_cidrs.end());
  }
  peer.node = std::move(view);
  // A record set aside for this node is checked against the new Node.
  if (auto r = rejected_records_.find(node.name);
      r != rejected_records_.end() && !peer.record) {
    peer.record = r->second.record;
  }
  RefreshPeer(node.name);
  if (cidrs_changed) RecheckRecords(node.name, cidrs);
}

RecordCheck IpsecController::CheckRecord(const std::string& name,
                                         const PeerState& peer) const {
  RecordCheck check = CheckRecordAgainstNode(
      *peer.record, peer.node.has_value() ? &*peer.node : nullptr);
  if (!check.ok()) return check;
  auto overlap = [&name](const IpPrefix& cidr, const IpPrefix& other,
                         const std::string& owner) {
    return RecordCheck{RecordProblem::kPodCidrOverlap,
                       absl::StrCat("KmeshNodeInfo ", name, ": spec.podCIDRS ",
                                    cidr.ToString(), " overlaps ",
                                    other.ToString(), " of node ", owner)};
  };
  // Node pod CIDRs come from the controller manager and do not overlap in a
  // sound cluster; a record within its own Node's can only overlap another
  // node's when they do. Linear in the nodes, per record change.
  for (const IpPrefix& cidr : peer.record->pod_cidrs) {
    for (const IpPrefix& other : self_.pod_cidrs) {
      if (PrefixesOverlap(cidr, other)) return overlap(cidr, other, self_.name);
    }
    for (const auto& [other_name, other] : peers_) {
      if (other_name == name || !other.node) continue;
      for (const IpPrefix& c : other.node->pod_cidrs) {
        if (PrefixesOverlap(cidr, c)) return overlap(cidr, c, other_name);
      }
    }
  }
  return RecordCheck{};
}

void IpsecController::RejectRecord(const std::string& name, NodeView record,
                                   RecordCheck check) {
  SetAsideRecord& r = rejected_records_[name];
  if (r.check.problem != check.problem || r.check.detail != check.detail) {
    r.reported = false;
  }
  r.record = std::move(record);
  r.check = std::move(check);
  // Before the Node list is complete a record may just be early.
  if (r.reported || !nodes_synced_) return;
  r.reported = true;
  ++stats_.records_rejected;
  LOG(ERROR) << "IPsec: rejecting the KmeshNodeInfo of peer " << name << " ("
             << RecordProblemName(r.check.problem) << "): " << r.check.detail
             << "; treating it as deleted until it or the Node changes";
}

void IpsecController::RecheckRecords(const std::string& name,
                                     const std::vector<IpPrefix>& cidrs) {
  std::set<std::string> names;
  for (const auto& [other, r] : rejected_records_) names.insert(other);
  for (const auto& [other, peer] : peers_) {
    if (!peer.record) continue;
    for (const IpPrefix& a : peer.record->pod_cidrs) {
      for (const IpPrefix& b : cidrs) {
        if (PrefixesOverlap(a, b)) names.insert(other);
      }
    }
  }
  names.erase(name);
  for (const std::string& other : names) {
    auto it = peers_.find(other);
    if (it == peers_.end()) continue;  // No Node: still rejected.
    if (!it->second.record) {
      auto r = rejected_records_.find(other);
      if (r == rejected_records_.end()) continue;
      it->second.record = r->second.record;
    }
    RefreshPeer(other);
  }
}

void IpsecController::RefreshPeer(const std::string& name) {
  auto it = peers_.find(name);
  if (it == peers_.end()) return;
  PeerState& peer = it->second;
  if (options_.learn_nodes && peer.record) {
    RecordCheck check = CheckRecord(name, peer);
    if (!check.ok()) {
      // Used as if deleted: what it alone made this node program goes.
      RejectRecord(name, *std::move(peer.record), std::move(check));
      peer.record.reset();
    } else if (auto r = rejected_records_.find(name);
               r != rejected_records_.end()) {
      if (r->second.reported) {
        LOG(INFO) << "IPsec: the KmeshNodeInfo of peer " << name
                  << " now agrees with its Node; using it";
      }
      rejected_records_.erase(r);
    }
  }
  if (!peer.record && !peer.node) {
    if (peer.view.name.empty()) {
      // Never programmed (a record set aside on arrival): nothing to undo,
      // and what a previous run left for it stays adopted until the lists
      // are complete.
      peers_.erase(it);
      return;
    }
    RemovePeer(it);
    return;
  }
  // A node without a record is programmed from its Node once the record
  // list is complete: it cannot have been sent to before this node
  // advertises, which waits for that list too; and after a restart its
  // record may still come, with what the kernel holds for it.
  if (!peer.record && !records_synced_) return;
  // The record is what the peer itself uses; its Node stands in until then.
  const NodeView& view = peer.record ? *peer.record : *peer.node;
  const bool inserted = peer.view.name.empty();
  const bool identity_changed =
      !inserted && (peer.view.boot_id != view.boot_id ||
                    peer.view.addresses != view.addresses);
  peer.view = view;
  rotation_.PeersChanged();
  // Until the kernel has been read, nothing is programmed and no index is
  // given: what the previous run left is not known yet, and writing over it
  // blind could remove what keeps traffic encrypted. TakeOverAfterLateStart
  // does the rest.
  if (!started_) return;
  if (peer.index == 0) {
    if (!AssignIndex(&peer)) return;
  } else if (identity_changed) {
    // A new boot ID or new addresses: keys we cannot derive are now wrong,
    // and so are SAs to it that only in-flight packets still used.
    adopted_.ForgetPeer(name);
    peer.retiring_outbound_spis.clear();
  }
  SetOutboundSpi(name, &peer, ChooseOutboundSpi(peer));
  ApplyPeer(&peer);
  MaybeAdvertise();
  UpdateReclaimTimers();
}

bool IpsecController::AssignIndex(PeerState* peer) {
  const NodeView& view = peer->view;
  if (std::optional<std::vector<IpAddress>> marked =
          adopted_.Return(view.name)) {
    peer->marked_addresses = *std::move(marked);
  }
  const std::vector<IpAddress> addresses = ParsedAddresses(view);
  absl::StatusOr<uint16_t> index =
      indices_.Assign(view.name, adopted_.IndexFor(addresses));
  if (!index.ok()) {
    if (peer->status.ok()) {
      ++stats_.peer_errors;
      LOG(ERROR) << "IPsec: peer " << view.name << ": " << index.status();
    }
    peer->status = index.status();
    SetUnprogrammable(peer, true);
    ++stats_.index_exhaustions;
    waiting_for_index_.insert(view.name);
    return false;
  }
  waiting_for_index_.erase(view.name);
  peer->index = *index;
  // Kernel -> controller: the SAs a previous run left for this peer.
  adopted_.Claim(view.name, addresses, peer->index);
  return true;
}

void IpsecController::AssignFreedIndices() {
  // Peers that found no free index, only while some are free again: with
  // every index taken a Tick costs nothing (it used to walk every peer and
  // retry each waiting one, a 65535-slot scan apiece).
  for (auto w = waiting_for_index_.begin();
       w != waiting_for_index_.end() && indices_.free_count() > 0;) {
    const std::string name = *w++;
    auto it = peers_.find(name);
    if (it == peers_.end() || it->second.index != 0) {
      waiting_for_index_.erase(name);
      continue;
    }
    PeerState& peer = it->second;
    if (!AssignIndex(&peer)) continue;
    SetOutboundSpi(name, &peer, ChooseOutboundSpi(peer));
    ApplyPeer(&peer);
  }
}

void IpsecController::OnPeerDelete(const std::string& name) {
  EventLock lock(this);
  if (!started_) AdoptFromKernel();
  rejected_records_.erase(name);
  auto it = peers_.find(name);
  if (it == peers_.end()) return;
  // Without a record the peer advertises nothing: nothing is sent to it
  // any more; while its Node exists it can still be received from.
  it->second.record.reset();
  RefreshPeer(name);
}

void IpsecController::OnNodeDelete(const std::string& name) {
  EventLock lock(this);
  if (!options_.learn_nodes) return;
  if (!started_) AdoptFromKernel();
  auto it = peers_.find(name);
  if (it == peers_.end()) return;
  const std::vector<IpPrefix> cidrs =
      it->second.node ? it->second.node->pod_cidrs : std::vector<IpPrefix>{};
  it->second.node.reset();
  RefreshPeer(name);
  // Records that overlapped its pod CIDRs may be usable now.
  if (!cidrs.empty()) RecheckRecords(name, cidrs);
}

void IpsecController::RemovePeer(PeerTable::iterator it) {
  const std::string name = it->first;
  // Its pod CIDRs are no longer encrypted to (before its policies go).
  stats_.marker_errors += marker_sync_.SyncEncryptCidrs(&it->second, {});
  RecordXfrmResult(name, programmer_.RemoveGroup(name));
  AdoptedKernelState::Departed departed{it->second.index,
                                        std::move(it->second.marked_addresses)};
  adopted_.ForgetPeer(name);
  if (it->second.outbound_spi != 0 && outbound_peer_listener_) {
    outbound_peer_listener_(name, false);
  }
  waiting_for_index_.erase(name);
  peers_.erase(it);
  rotation_.PeersChanged();
  if (departed.index != 0) adopted_.Depart(name, std::move(departed));
  RemoveDeparted();
  MaybeAdvertise();
  UpdateReclaimTimers();
}

void IpsecController::OnPeersSynced() {
  EventLock lock(this);
  if (!started_) AdoptFromKernel();
  const bool first = !records_synced_;
  records_synced_ = true;
  if (first) {
    // The nodes known only from their Node object, held back until now.
    std::vector<std::string> waiting;
    for (const auto& [name, peer] : peers_) {
      if (!peer.record) waiting.push_back(name);
    }
    for (const std::string& name : waiting) RefreshPeer(name);
  }
  AfterSync();
}

void IpsecController::OnNodesSynced() {
  EventLock lock(this);
  if (!started_) AdoptFromKernel();
  const bool first = !nodes_synced_;
  nodes_synced_ = true;
  if (first) {
    // Records set aside while the Node list was incomplete, and still.
    std::vector<std::pair<std::string, RecordCheck>> pending;
    for (const auto& [name, r] : rejected_records_) {
      if (!r.reported) pending.emplace_back(name, r.check);
    }
    for (auto& [name, check] : pending) {
      NodeView record = rejected_records_[name].record;
      RejectRecord(name, std::move(record), std::move(check));
    }
  }
  AfterSync();
}

bool IpsecController::PeersSynced() const {
  return records_synced_ && (nodes_synced_ || !options_.learn_nodes);
}

void IpsecController::AfterSync() {
  if (!PeersSynced() || !started_) return;
  rotation_.PeersChanged();
  FullReconcile();
  // Entries for addresses no peer has any more (left by a previous run).
  std::set<IpAddress> accounted;
  for (const auto& [name, peer] : peers_) {
    accounted.insert(peer.marked_addresses.begin(),
                     peer.marked_addresses.end());
  }
  for (const auto& [name, departed] : adopted_.departed()) {
    accounted.insert(departed.marked_addresses.begin(),
                     departed.marked_addresses.end());
  }
  stats_.marker_errors += marker_sync_.RemoveStrays(accounted);
  std::set<IpPrefix> encrypt_cidrs;
  for (const auto& [name, peer] : peers_) {
    encrypt_cidrs.insert(peer.encrypt_cidrs.begin(), peer.encrypt_cidrs.end());
  }
  stats_.marker_errors += marker_sync_.RemoveStrayEncryptCidrs(encrypt_cidrs);
  MaybeAdvertise();
  UpdateReclaimTimers();
}

void IpsecController::OnOwnRecord(const std::optional<NodeView>& stored) {
  EventLock lock(this);
  // Nothing advertised yet: the first publication is still to come.
  if (rotation_.advertised_spi() == 0) return;
  if (stored.has_value() && *stored == self_) return;
  // What is on its way (the watch may show it before its publication has
  // returned here).
  for (const std::optional<Publication>* p :
       {&sending_publication_, &queued_publication_}) {
    if (stored.has_value() && p->has_value() && (*p)->record == *stored) {
      return;
    }
  }
  ++stats_.own_record_repairs;
  LOG(WARNING) << "IPsec: this node's KmeshNodeInfo was "
               << (stored.has_value() ? "altered" : "deleted")
               << " by someone else; publishing it again";
  RequestRepublish();
  MaybeAdvertise();
}

void IpsecController::UpdateSelf(const NodeView& view) {
  EventLock lock(this);
  if (!started_) AdoptFromKernel();
  const bool identity_changed =
      view.boot_id != self_.boot_id || view.addresses != self_.addresses;
  const int32_t spi = self_.spi;
  std::vector<IpPrefix> cidrs;
  if (view.pod_cidrs != self_.pod_cidrs) {
    cidrs = view.pod_cidrs;
    cidrs.insert(cidrs.end(), self_.pod_cidrs.begin(), self_.pod_cidrs.end());
  }
  self_ = view;
  self_.spi = spi;
  if (options_.learn_nodes && !cidrs.empty()) RecheckRecords(self_.name, cidrs);
  if (identity_changed) adopted_.ForgetAllPeers();
  ApplyAllPeers(/*reselect_outbound=*/true);
  RequestRepublish();
  MaybeAdvertise();
}

// --- Periodic work --------------------------------------------------------

void IpsecController::Tick() {
  EventLock lock(this);
  if (!started_) {
    AdoptFromKernel();
    if (!started_) return;
  }
  const TimePoint now = clock_->Now();
  if ((programmer_.needs_resync() && now >= next_retry_) ||
      now >= next_resync_) {
    FullReconcile();
    if (programmer_.needs_resync()) {
      // Still failing (e.g. a foreign SA holds our identity): back off.
      retry_backoff_ = std::min<Duration>(
          std::max<Duration>(retry_backoff_ * 2, options_.retry_interval),
          options_.max_retry_interval);
      next_retry_ = now + retry_backoff_;
    } else {
      retry_backoff_ = Duration(0);
    }
  }
  UpdateReclaimTimers();
  for (int32_t spi : ReclaimableSpis(now)) Reclaim(spi);
  RemoveDeparted();
  AssignFreedIndices();
  MaybeAdvertise();
}

absl::Status IpsecController::Shutdown() {
  absl::MutexLock lock(&mu_);
  // A publication on its way would recreate the record after the withdrawal:
  // wait for it, and send nothing queued. The withdrawal is sent without mu_
  // (events meanwhile leave what they decide queued, dropped below).
  mu_.Await(absl::Condition(
      +[](bool* publishing) { return !*publishing; }, &publishing_));
  publishing_ = true;
  queued_publication_.reset();
  const std::string name = self_.name;
  mu_.Unlock();
  const absl::Status withdrawn = publisher_->Withdraw(name);
  mu_.Lock();
  publishing_ = false;
  queued_publication_.reset();
  std::vector<std::string> problems;
  if (!withdrawn.ok()) {
    problems.push_back(
        absl::StrCat("withdraw KmeshNodeInfo: ", withdrawn.message()));
  }
  for (auto& [name, peer] : peers_) {
    ApplyResult r = programmer_.RemoveGroup(name);
    if (!r.ok()) problems.push_back(std::string(r.ToStatus().message()));
    SyncMarkers(&peer, nullptr);
  }
  for (const auto& [name, departed] : adopted_.departed()) {
    ApplyResult r = programmer_.RemoveGroup(name);
    if (!r.ok()) problems.push_back(std::string(r.ToStatus().message()));
    for (const absl::Status& s :
         marker_sync_.Unmark(departed.marked_addresses)) {
      problems.push_back(std::string(s.message()));
    }
  }
  ApplyResult unclaimed = programmer_.DeleteUnclaimed();
  if (!unclaimed.ok()) {
    problems.push_back(std::string(unclaimed.ToStatus().message()));
  }
  // Block policies last: until here marked traffic is dropped, not sent.
  ApplyResult block = programmer_.RemoveGroup(kCatchAllGroup);
  if (!block.ok()) problems.push_back(std::string(block.ToStatus().message()));
  for (auto& [name, peer] : peers_) {
    indices_.Release(name);
    if (peer.outbound_spi != 0 && outbound_peer_listener_) {
      outbound_peer_listener_(name, false);
    }
  }
  for (const auto& [name, departed] : adopted_.departed()) {
    indices_.Release(name);
  }
  peers_.clear();
  waiting_for_index_.clear();
  rejected_records_.clear();
  adopted_.ForgetAllPeers();
  adopted_.ForgetAllDeparted();
  rotation_.Withdrawn();
  if (!problems.empty()) {
    return absl::UnavailableError(absl::StrCat("IPsec shutdown incomplete: ",
                                               absl::StrJoin(problems, "; ")));
  }
  LOG(INFO) << "IPsec: shut down, own XFRM objects removed";
  return absl::OkStatus();
}

// --- Observations -----------------------------------------------------------

int32_t IpsecController::advertised_spi() const {
  absl::MutexLock lock(&mu_);
  return rotation_.advertised_spi();
}

std::vector<int32_t> IpsecController::inbound_spis() const {
  absl::MutexLock lock(&mu_);
  return InboundSpis();
}

std::vector<int32_t> IpsecController::inbound_spis(
    const std::string& name) const {
  absl::MutexLock lock(&mu_);
  auto it = peers_.find(name);
  if (it == peers_.end()) return {};
  return PeerInboundSpis(it->second);
}

int32_t IpsecController::outbound_spi(const std::string& name) const {
  absl::MutexLock lock(&mu_);
  auto it = peers_.find(name);
  return it == peers_.end() ? 0 : it->second.outbound_spi;
}

std::vector<int32_t> IpsecController::retiring_outbound_spis(
    const std::string& name) const {
  absl::MutexLock lock(&mu_);
  auto it = peers_.find(name);
  if (it == peers_.end()) return {};
  return std::vector<int32_t>(it->second.retiring_outbound_spis.begin(),
                              it->second.retiring_outbound_spis.end());
}

std::optional<uint16_t> IpsecController::peer_index(
    const std::string& name) const {
  absl::MutexLock lock(&mu_);
  auto it = peers_.find(name);
  if (it == peers_.end() || it->second.index == 0) return std::nullopt;
  return it->second.index;
}

absl::Status IpsecController::peer_status(const std::string& name) const {
  absl::MutexLock lock(&mu_);
  auto it = peers_.find(name);
  if (it == peers_.end()) {
    return absl::NotFoundError(absl::StrCat("no peer ", name));
  }
  return it->second.status;
}

std::set<std::string> IpsecController::PeersWithOutboundSa() const {
  absl::MutexLock lock(&mu_);
  std::set<std::string> out;
  for (const auto& [name, peer] : peers_) {
    if (peer.outbound_spi != 0) out.insert(out.end(), name);
  }
  return out;
}

IpsecControllerStats IpsecController::stats() const {
  absl::MutexLock lock(&mu_);
  IpsecControllerStats stats = stats_;
  stats.reclaim_walks = rotation_.reclaim_walks();
  return stats;
}

XfrmOpCounts IpsecController::xfrm_op_counts() const {
  absl::MutexLock lock(&mu_);
  return programmer_.counts();
}

IpsecControllerSnapshot IpsecController::Snapshot() const {
  absl::MutexLock lock(&mu_);
  IpsecControllerSnapshot out;
  out.started = started_;
  out.peers_synced = PeersSynced();
  out.target_spi = rotation_.target_spi();
  out.advertised_spi = rotation_.advertised_spi();
  out.target_learnt_at = target_learnt_at_;
  out.held_spis = rotation_.keys().Spis();
  out.inbound_spis = InboundSpis();
  const TimePoint now = clock_->Now();
  for (const auto& [spi, since] : rotation_.releasable_since()) {
    IpsecControllerSnapshot::PendingReclaim& r =
        out.pending_reclaims.emplace_back();
    r.spi = spi;
    r.releasable_since = since;
    r.due = since + rotation_.grace_period();
    const ReclaimHold::Verdict v = hold_.Decide(spi, since, now);
    r.held = now >= r.due && !v.reclaim;
    r.deadline = v.deadline;
    if (r.held) r.still_sent_by = PeerNames(v.senders);
  }
  for (const auto& [name, peer] : peers_) {
    IpsecControllerSnapshot::Peer& p = out.peers.emplace_back();
    p.name = name;
    p.addresses = peer.view.addresses;
    p.has_record = peer.record.has_value();
    p.advertised_spi = peer.record ? peer.record->spi : 0;
    p.index = peer.index;
    p.outbound_spi = peer.outbound_spi;
    p.retiring_outbound_spis.assign(peer.retiring_outbound_spis.begin(),
                                    peer.retiring_outbound_spis.end());
    p.inbound_installed.assign(peer.inbound_installed.begin(),
                               peer.inbound_installed.end());
    p.unprogrammable = peer.unprogrammable;
    if (!peer.status.ok()) p.problem = std::string(peer.status.message());
  }
  for (const auto& [name, r] : rejected_records_) {
    // Unreported ones may still be waiting for their Node in the first list.
    if (!r.reported) continue;
    out.rejected_records.push_back(
        {name, RecordProblemName(r.check.problem), r.check.detail});
  }
  out.peers_without_index = waiting_for_index_.size();
  out.stats = stats_;
  out.stats.reclaim_walks = rotation_.reclaim_walks();
  out.xfrm_op_counts = programmer_.counts();
  out.xfrm_errors_by_op = xfrm_errors_by_op_;
  out.last_good_full_reconcile = last_good_full_reconcile_;
  return out;
}

void IpsecController::SetOutboundPeerListener(OutboundPeerListener listener) {
  absl::MutexLock lock(&mu_);
  outbound_peer_listener_ = std::move(listener);
}

// --- Internals --------------------------------------------------------------

std::vector<int32_t> IpsecController::InboundSpis() const {
  std::set<int32_t> spis = adopted_.InboundSpisOfPeers();
  for (int32_t spi : rotation_.keys().Spis()) spis.insert(spi);
  return std::vector<int32_t>(spis.begin(), spis.end());
}

std::vector<int32_t> IpsecController::PeerInboundSpis(
    const PeerState& peer) const {
  std::set<int32_t> spis;
  for (int32_t spi : rotation_.keys().Spis()) spis.insert(spi);
  for (int32_t spi : adopted_.InboundSpisOf(peer.view.name)) spis.insert(spi);
  return std::vector<int32_t>(spis.begin(), spis.end());
}

int32_t IpsecController::ChooseOutboundSpi(const PeerState& peer) const {
  // A peer without a record advertises nothing and gets nothing.
  if (!peer.record) return 0;
  return rotation_.OutboundSpiFor(peer,
                                  adopted_.OutboundSpisOf(peer.view.name));
}

absl::StatusOr<PeerLayout> IpsecController::LayoutFor(
    const PeerState& peer) const {
  PeerLayoutInput input;
  input.self = &self_;
  input.peer = &peer.view;
  input.peer_index = peer.index;
  input.keys = &rotation_.keys();
  input.inbound_spis = PeerInboundSpis(peer);
  input.outbound_spi = peer.outbound_spi;
  input.retiring_outbound_spis.assign(peer.retiring_outbound_spis.begin(),
                                      peer.retiring_outbound_spis.end());
  // Kernel -> layout: the SAs it cannot derive.
  input.adopted_sas = adopted_.SasOf(peer.view.name);
  return LayoutPeer(input);
}

void IpsecController::RecordInboundInstalled(const XfrmObjects& objects,
                                             PeerState* peer) const {
  peer->inbound_installed.clear();
  std::map<int32_t, bool> complete;
  for (const XfrmSa& sa : objects.sas) {
    if (!IsInboundSa(sa)) continue;
    auto [it, inserted] =
        complete.try_emplace(static_cast<int32_t>(sa.spi), true);
    it->second = it->second && programmer_.IsInstalled(sa);
  }
  for (const auto& [spi, ok] : complete) {
    if (ok) peer->inbound_installed.insert(spi);
  }
}

void IpsecController::ApplyPeer(PeerState* peer) {
  const std::string& name = peer->view.name;
  if (peer->index == 0) return;
  // Adopted outbound SAs for SPIs no longer used (nor retiring) are dropped.
  adopted_.DropOutboundExcept(name, peer->outbound_spi,
                              peer->retiring_outbound_spis);
  absl::StatusOr<PeerLayout> layout = LayoutFor(*peer);
  if (!layout.ok()) {
    if (peer->status.ok() || peer->status != layout.status()) {
      ++stats_.peer_errors;
      LOG(ERROR) << "IPsec: " << layout.status();
    }
    peer->status = layout.status();
    SetUnprogrammable(peer, true);
    peer->inbound_installed.clear();
    RecordXfrmResult(name, programmer_.RemoveGroup(name));
    SyncMarkers(peer, nullptr);
    return;
  }
  for (const std::string& warning : layout->warnings) {
    LOG(WARNING) << "IPsec: " << warning;
  }
  ApplyResult result = programmer_.ApplyGroup(name, layout->objects);
  RecordXfrmResult(name, result);
  peer->status = result.ToStatus();
  SetUnprogrammable(peer, false);
  // Which SPIs can this node now receive from the peer?
  RecordInboundInstalled(layout->objects, peer);
  SyncMarkers(peer, &layout->objects);
}

void IpsecController::SetOutboundSpi(const std::string& name, PeerState* peer,
                                     int32_t spi) {
  if (peer->outbound_spi == spi) return;
  // A rotation moves every peer from one SPI to the next without changing
  // who has an outbound SA; only gaining or losing one is reported.
  const bool had = peer->outbound_spi != 0;
  // Moving from one SA to another: the old one stays until its SPI is
  // reclaimed (PeerState::retiring_outbound_spis), whether derived or
  // adopted (a restarted node whose key file holds only the new SPI). So do
  // the adopted outbound SAs a restart found besides the one chosen: the
  // previous run's out policies may have pointed at them a moment ago.
  // Stopping sends nothing more, so nothing needs the old SA.
  if (spi != 0) {
    const std::vector<int32_t> adopted = adopted_.OutboundSpisOf(name);
    auto producible = [&](int32_t s) {
      return rotation_.keys().Has(s) ||
             std::find(adopted.begin(), adopted.end(), s) != adopted.end();
    };
    if (had && producible(peer->outbound_spi)) {
      peer->retiring_outbound_spis.insert(peer->outbound_spi);
    }
    if (!had) {
      peer->retiring_outbound_spis.insert(adopted.begin(), adopted.end());
    }
  } else {
    peer->retiring_outbound_spis.clear();
  }
  peer->retiring_outbound_spis.erase(spi);
  peer->outbound_spi = spi;
  if (had != (spi != 0) && outbound_peer_listener_) {
    outbound_peer_listener_(name, spi != 0);
  }
}

void IpsecController::ApplyAllPeers(bool reselect_outbound) {
  for (auto& [name, peer] : peers_) {
    if (reselect_outbound) {
      SetOutboundSpi(name, &peer, ChooseOutboundSpi(peer));
    }
    ApplyPeer(&peer);
  }
}

void IpsecController::SyncMarkers(PeerState* peer, const XfrmObjects* objects) {
  std::vector<IpAddress> addresses;
  std::vector<IpPrefix> encrypt_cidrs;
  if (objects != nullptr) {
    addresses = ParsedAddresses(peer->view);
    // The peer's pod CIDRs this node has out policies (and so an SA) for.
    for (const XfrmPolicy& p : objects->policies) {
      if (p.dir == XfrmDir::kOut && p.action == XfrmAction::kAllow) {
        encrypt_cidrs.push_back(p.selector.dst);
      }
    }
  }
  stats_.marker_errors += marker_sync_.Sync(peer, addresses);
  stats_.marker_errors += marker_sync_.SyncEncryptCidrs(peer, encrypt_cidrs);
}

void IpsecController::RemoveDeparted() {
  if (adopted_.departed().empty()) return;
  // Indices still carried by SAs in the kernel are not free yet.
  std::set<uint16_t> busy;
  for (const XfrmSa& sa : programmer_.Unclaimed().sas) {
    if (IsInboundSa(sa)) busy.insert(PeerIndexFromInboundMark(sa.mark));
  }
  std::vector<std::pair<std::string, uint16_t>> departed;
  for (const auto& [name, d] : adopted_.departed()) {
    departed.emplace_back(name, d.index);
  }
  for (const auto& [name, index] : departed) {
    if (programmer_.HasObjects(name)) {
      RecordXfrmResult(name, programmer_.RemoveGroup(name));
    }
    if (programmer_.HasObjects(name) || busy.count(index)) continue;
    stats_.marker_errors +=
        marker_sync_.Unmark(adopted_.ForgetDeparted(name)).size();
    indices_.Release(name);
  }
}

void IpsecController::MaybeAdvertise() {
  if (!rotation_.ReadyToAdvertise(peers_, PeersSynced())) return;
  // (2) The inbound SAs for the target are in place for every peer: decide
  // the record now; it is sent once mu_ is released (PublishQueued).
  NodeView record = self_;
  record.spi = rotation_.target_spi();
  // Already on its way, and asked for no other publication since.
  for (const std::optional<Publication>* p :
       {&sending_publication_, &queued_publication_}) {
    if (p->has_value() && (*p)->record == record &&
        (*p)->republish_requests == republish_requests_) {
      return;
    }
  }
  // A newer decision replaces a queued older one.
  queued_publication_ =
      Publication{++publication_seq_, std::move(record), republish_requests_};
}

void IpsecController::RequestRepublish() {
  ++republish_requests_;
  rotation_.Republish();
}

void IpsecController::PublishQueued() {
  absl::MutexLock lock(&mu_);
  // One publication on its way at a time, in the order decided: a thread
  // finding another one sending leaves its own queued for it.
  if (publishing_) return;
  publishing_ = true;
  while (queued_publication_.has_value()) {
    sending_publication_ = std::move(queued_publication_);
    queued_publication_.reset();
    const NodeView record = sending_publication_->record;
    mu_.Unlock();
    const absl::Status status = publisher_->Publish(record);
    mu_.Lock();
    const Publication sent = *std::move(sending_publication_);
    sending_publication_.reset();
    Published(sent, status);
  }
  publishing_ = false;
}

void IpsecController::Published(const Publication& publication,
                                const absl::Status& status) {
  const int32_t spi = publication.record.spi;
  const bool new_spi = spi != rotation_.advertised_spi();
  rotation_.Advertised(spi, status.ok());
  if (!status.ok()) {
    ++stats_.publish_errors;
    LOG(ERROR) << "IPsec: publishing SPI " << spi
               << " failed (retrying): " << status;
  } else {
    self_.spi = spi;
    if (new_spi) LOG(INFO) << "IPsec: advertising SPI " << spi;
    // Asked for again while this one was on its way.
    if (publication.republish_requests != republish_requests_) {
      rotation_.Republish();
    }
  }
  // (3) Inbound SAs are in place for every peer: move outbound SAs to the
  // peers that already advertise the new SPI.
  if (new_spi) ApplyAllPeers(/*reselect_outbound=*/true);
  UpdateReclaimTimers();
}

void IpsecController::SetUnprogrammable(PeerState* peer, bool unprogrammable) {
  if (peer->unprogrammable == unprogrammable) return;
  peer->unprogrammable = unprogrammable;
  rotation_.PeersChanged();
}

void IpsecController::UpdateReclaimTimers() {
  std::vector<int32_t> spis = InboundSpis();
  // Adopted outbound SAs retiring under an SPI this node holds no key or
  // inbound SA for are reclaimed like the rest (else they would stay).
  for (const auto& [name, spi] : adopted_.OutboundSpisOfPeers()) {
    auto peer = peers_.find(name);
    if (peer != peers_.end() &&
        peer->second.retiring_outbound_spis.count(spi) &&
        std::find(spis.begin(), spis.end(), spi) == spis.end()) {
      spis.push_back(spi);
    }
  }
  const TimePoint now = clock_->Now();
  rotation_.UpdateReclaimTimers(now, peers_, PeersSynced(), spis);
  hold_.Retain(rotation_.releasable_since());
  // A timer that has just started takes its first sample now.
  SampleInboundCounters(now, /*new_timers_only=*/true);
}

void IpsecController::SampleInboundCounters(TimePoint now,
                                            bool new_timers_only) {
  std::vector<std::pair<int32_t, TimePoint>> wanted;
  for (const auto& [spi, since] : rotation_.releasable_since()) {
    if (hold_.NeedsSample(spi, since, now) &&
        !(new_timers_only && hold_.Tracks(spi, since))) {
      wanted.emplace_back(spi, since);
    }
  }
  if (wanted.empty()) return;
  auto counts = programmer_.InboundPacketCounts();
  if (!counts.ok()) {
    // Retried on the next Tick; until then the SPI is not released.
    LOG(WARNING) << "IPsec: cannot read the inbound SA counters of old SPIs "
                    "(kept until they can be read): "
                 << counts.status();
    for (const auto& [spi, since] : wanted) hold_.Track(spi, since);
    return;
  }
  for (const auto& [spi, since] : wanted) {
    ReclaimHold::Counts of_spi;
    for (auto it = counts->lower_bound({static_cast<uint32_t>(spi), 0});
         it != counts->end() && it->first.first == static_cast<uint32_t>(spi);
         ++it) {
      of_spi[it->first.second] = it->second;
    }
    if (!hold_.AddSample(spi, since, now, of_spi)) continue;
    ++stats_.reclaim_holds;
    const ReclaimHold::Verdict v = hold_.Decide(spi, since, now);
    LOG(WARNING) << "IPsec: keeping SPI " << spi
                 << " past its grace period: packets with it still arrive "
                    "from "
                 << absl::StrJoin(PeerNames(v.senders), ", ")
                 << " (its view of this node's record is behind); removed "
                    "once they stop, or in "
                 << std::chrono::duration_cast<std::chrono::seconds>(
                        v.deadline - now)
                        .count()
                 << " s at the latest";
  }
}

std::vector<int32_t> IpsecController::ReclaimableSpis(TimePoint now) {
  SampleInboundCounters(now, /*new_timers_only=*/false);
  std::vector<int32_t> due;
  for (const auto& [spi, since] : rotation_.releasable_since()) {
    const ReclaimHold::Verdict v = hold_.Decide(spi, since, now);
    if (!v.reclaim) continue;
    if (v.forced) {
      ++stats_.reclaims_forced;
      LOG(WARNING) << "IPsec: removing SPI " << spi
                   << " at the end of its hold, though "
                   << (v.senders.empty()
                           ? std::string("its counters could not be read")
                           : absl::StrCat(
                                 "packets with it still arrive from ",
                                 absl::StrJoin(PeerNames(v.senders), ", ")));
    }
    due.push_back(spi);
  }
  return due;
}

std::vector<std::string> IpsecController::PeerNames(
    const std::set<uint16_t>& indices) const {
  std::vector<std::string> names;
  for (uint16_t index : indices) {
    std::string name = absl::StrCat("peer index ", index);
    for (const auto& [peer_name, peer] : peers_) {
      if (peer.index == index) name = peer_name;
    }
    names.push_back(std::move(name));
  }
  return names;
}

void IpsecController::Reclaim(int32_t spi) {
  LOG(INFO) << "IPsec: grace period over, removing SPI " << spi;
  // Peers we still send to with this SPI (they advertise one we do not
  // hold) keep their outbound SA: adopt it as it is before its key goes.
  if (rotation_.keys().Has(spi)) {
    for (auto& [name, peer] : peers_) {
      if (peer.outbound_spi != spi || peer.index == 0) continue;
      absl::StatusOr<PeerLayout> layout = LayoutFor(peer);
      if (!layout.ok()) continue;
      for (const XfrmSa& sa : layout->objects.sas) {
        if (!IsInboundSa(sa) && sa.spi == static_cast<uint32_t>(spi)) {
          adopted_.Keep(name, sa);
        }
      }
    }
  }
  for (auto& [name, peer] : peers_) peer.retiring_outbound_spis.erase(spi);
  rotation_.Reclaim(spi);
  adopted_.DropInboundSpi(spi);
  ++stats_.spis_reclaimed;
  ApplyAllPeers(/*reselect_outbound=*/false);
}

void IpsecController::FullReconcile() {
  ++stats_.full_reconciles;
  std::map<std::string, XfrmObjects> desired;
  desired[kCatchAllGroup] = LayoutCatchAll();
  std::map<std::string, PeerLayout> layouts;
  for (auto& [name, peer] : peers_) {
    if (peer.index == 0) continue;
    absl::StatusOr<PeerLayout> layout = LayoutFor(peer);
    if (!layout.ok()) {
      peer.status = layout.status();
      SetUnprogrammable(&peer, true);
      continue;
    }
    SetUnprogrammable(&peer, false);
    desired[name] = layout->objects;
    layouts.emplace(name, *std::move(layout));
  }
  ApplyResult result = programmer_.Reconcile(desired, PeersSynced());
  RecordXfrmResult("full reconcile", result);
  std::map<std::string, absl::Status> errors;
  for (const XfrmOpError& e : result.errors) {
    errors.try_emplace(e.group, e.status);
  }
  for (auto& [name, peer] : peers_) {
    auto layout = layouts.find(name);
    if (layout == layouts.end()) {
      peer.inbound_installed.clear();
      SyncMarkers(&peer, nullptr);
      continue;
    }
    auto error = errors.find(name);
    peer.status = error == errors.end() ? absl::OkStatus() : error->second;
    RecordInboundInstalled(layout->second.objects, &peer);
    SyncMarkers(&peer, &layout->second.objects);
  }
  if (PeersSynced() && result.ok()) {
    // Whatever was adopted and not claimed has now been deleted.
    adopted_.ForgetUnclaimed();
    for (uint16_t index : indices_.Reserved()) indices_.Unreserve(index);
  }
  RemoveDeparted();
  if (result.ok()) last_good_full_reconcile_ = clock_->Now();
  next_resync_ = clock_->Now() + options_.resync_interval;
}

void IpsecController::RecordXfrmResult(const std::string& what,
                                       const ApplyResult& result) {
  if (result.ok()) return;
  stats_.xfrm_errors += result.errors.size();
  for (const XfrmOpError& e : result.errors) {
    ++xfrm_errors_by_op_[{e.op, KernelErrno(e.status).value_or(0)}];
    LOG(ERROR) << "IPsec (" << what << "): " << XfrmOpName(e.op) << " ["
               << e.object << "] failed: " << e.status;
  }
}

}  // namespace kmesh::ipsec
