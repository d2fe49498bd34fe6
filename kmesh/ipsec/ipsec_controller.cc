#include "kmesh/ipsec/ipsec_controller.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "glog/logging.h"
#include "kmesh/ipsec/key_deriver.h"

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

bool Contains(const std::vector<IpAddress>& list, const IpAddress& a) {
  return std::find(list.begin(), list.end(), a) != list.end();
}

}  // namespace

IpsecController::IpsecController(NodeView self, XfrmKernel* kernel,
                                 NodeInfoPublisher* publisher,
                                 MarkerMaps* markers, const Clock* clock,
                                 IpsecControllerOptions options)
    : options_(options),
      kernel_(kernel),
      publisher_(publisher),
      markers_(markers),
      clock_(clock),
      self_(std::move(self)),
      programmer_(kernel),
      indices_(options.max_peer_index) {
  self_.spi = 0;
  next_resync_ = clock_->Now() + options_.resync_interval;
}

// --- Start and adoption -----------------------------------------------------

absl::Status IpsecController::Start() {
  std::lock_guard<std::mutex> lock(mu_);
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
  adopted_sas_ = programmer_.Unclaimed().sas;
  std::set<int32_t> adopted_spis;
  for (const XfrmSa& sa : adopted_sas_) {
    if (!IsInboundSa(sa)) continue;
    const uint16_t index = PeerIndexFromInboundMark(sa.mark);
    adopted_index_by_address_[sa.src] = index;
    indices_.Reserve(index);
    adopted_spis.insert(static_cast<int32_t>(sa.spi));
  }
  // Adopted SPIs are older than any key learnt from now on.
  for (int32_t spi : adopted_spis) {
    if (!spi_order_.count(spi)) spi_order_[spi] = next_order_++;
  }
  ReclaimInputsChanged();
  if (!adopted_sas_.empty()) {
    LOG(INFO) << "IPsec: adopted " << adopted_sas_.size() << " SAs from "
              << adopted_index_by_address_.size()
              << " peer addresses left by a previous run";
  }
  started_ = true;
  next_resync_ = clock_->Now() + options_.resync_interval;
}

std::vector<XfrmSa> IpsecController::AdoptedFor(const NodeView& view,
                                                uint16_t index) const {
  const std::vector<IpAddress> addresses = ParsedAddresses(view);
  std::vector<XfrmSa> out;
  for (const XfrmSa& sa : adopted_sas_) {
    const bool ours = IsInboundSa(sa)
                          ? PeerIndexFromInboundMark(sa.mark) == index &&
                                Contains(addresses, sa.src)
                          : Contains(addresses, sa.dst);
    if (ours) out.push_back(sa);
  }
  return out;
}

// --- Events -------------------------------------------------------------

void IpsecController::OnKeyChanged(int32_t spi, const XfrmKey& psk) {
  std::lock_guard<std::mutex> lock(mu_);
  if (!started_) AdoptFromKernel();
  if (spi <= 0 || psk.size() != kPskLength) {
    ++stats_.key_file_errors;
    LOG(ERROR) << "IPsec: ignoring key with SPI " << spi << " and "
               << psk.size() << " key bytes (need SPI > 0 and " << kPskLength
               << " bytes)";
    return;
  }
  const XfrmKey* held = keys_.Find(spi);
  if (held != nullptr && *held == psk && spi == target_spi_) return;
  if (held != nullptr && *held != psk) {
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
  keys_.Install(spi, psk);
  spi_order_[spi] = next_order_++;
  ReclaimInputsChanged();
  target_spi_ = spi;
  releasable_since_.erase(spi);
  // The ring now derives every SA of this SPI.
  retained_spis_dirty_ = true;
  for (auto& [name, peer] : peers_) {
    auto& kept = peer.retained;
    kept.erase(std::remove_if(kept.begin(), kept.end(),
                              [spi](const XfrmSa& sa) {
                                return sa.spi == static_cast<uint32_t>(spi);
                              }),
               kept.end());
  }
  LOG(INFO) << "IPsec: key for SPI " << spi << " installed";
  // (1) Inbound SAs for the new SPI from every peer; outbound unchanged.
  ApplyAllPeers(/*reselect_outbound=*/false);
  // (2) Advertise once all of them are installed, then (3) move outbound.
  MaybeAdvertise();
  UpdateReclaimTimers();
}

void IpsecController::OnKeyFileError(const absl::Status& error) {
  std::lock_guard<std::mutex> lock(mu_);
  ++stats_.key_file_errors;
  LOG(ERROR) << "IPsec: key file unusable, keeping the last good key: "
             << error;
}

void IpsecController::OnPeerUpsert(const NodeView& view) {
  std::lock_guard<std::mutex> lock(mu_);
  if (!started_) AdoptFromKernel();
  if (view.name == self_.name) return;
  auto [it, inserted] = peers_.try_emplace(view.name);
  PeerState& peer = it->second;
  const bool identity_changed =
      !inserted && (peer.view.boot_id != view.boot_id ||
                    peer.view.addresses != view.addresses);
  peer.view = view;
  ReclaimInputsChanged();
  if (peer.index == 0) {
    if (!AssignIndex(&peer)) return;
  } else if (identity_changed) {
    // A new boot ID or new addresses: keys we cannot derive are now wrong.
    retained_spis_dirty_ |= !peer.retained.empty();
    peer.retained.clear();
  }
  SetOutboundSpi(view.name, &peer, ChooseOutboundSpi(peer));
  ApplyPeer(&peer);
  MaybeAdvertise();
  UpdateReclaimTimers();
}

bool IpsecController::AssignIndex(PeerState* peer) {
  const NodeView& view = peer->view;
  if (auto d = departed_.find(view.name); d != departed_.end()) {
    peer->marked_addresses = d->second.marked_addresses;
    departed_.erase(d);
  }
  uint16_t preferred = 0;
  for (const IpAddress& a : ParsedAddresses(view)) {
    auto adopted = adopted_index_by_address_.find(a);
    if (adopted != adopted_index_by_address_.end()) {
      preferred = adopted->second;
      break;
    }
  }
  absl::StatusOr<uint16_t> index = indices_.Assign(view.name, preferred);
  if (!index.ok()) {
    if (peer->status.ok()) {
      ++stats_.peer_errors;
      LOG(ERROR) << "IPsec: peer " << view.name << ": " << index.status();
    }
    peer->status = index.status();
    SetUnprogrammable(peer, true);
    peers_lacking_index_ = true;
    return false;
  }
  peer->index = *index;
  peer->retained = AdoptedFor(view, peer->index);
  retained_spis_dirty_ |= !peer->retained.empty();
  if (!peer->retained.empty()) {
    // Adopted SAs now belong to this peer.
    adopted_sas_.erase(std::remove_if(adopted_sas_.begin(), adopted_sas_.end(),
                                      [&](const XfrmSa& sa) {
                                        for (const XfrmSa& r : peer->retained) {
                                          if (r.dst == sa.dst &&
                                              r.spi == sa.spi &&
                                              r.mark == sa.mark) {
                                            return true;
                                          }
                                        }
                                        return false;
                                      }),
                       adopted_sas_.end());
  }
  return true;
}

void IpsecController::OnPeerDelete(const std::string& name) {
  std::lock_guard<std::mutex> lock(mu_);
  if (!started_) AdoptFromKernel();
  auto it = peers_.find(name);
  if (it == peers_.end()) return;
  RecordXfrmResult(name, programmer_.RemoveGroup(name));
  Departed departed{it->second.index, it->second.marked_addresses};
  retained_spis_dirty_ |= !it->second.retained.empty();
  if (it->second.outbound_spi != 0 && outbound_peer_listener_) {
    outbound_peer_listener_(name, false);
  }
  peers_.erase(it);
  ReclaimInputsChanged();
  if (departed.index != 0) departed_[name] = std::move(departed);
  RemoveDeparted();
  MaybeAdvertise();
  UpdateReclaimTimers();
}

void IpsecController::OnPeersSynced() {
  std::lock_guard<std::mutex> lock(mu_);
  if (!started_) AdoptFromKernel();
  peers_synced_ = true;
  ReclaimInputsChanged();
  FullReconcile();
  if (markers_ != nullptr) {
    // Entries for addresses no peer has any more (left by a previous run).
    absl::StatusOr<std::vector<PeerMarkerEntry>> entries =
        markers_->DumpPeers();
    if (entries.ok()) {
      std::set<IpAddress> wanted;
      for (const auto& [name, peer] : peers_) {
        wanted.insert(peer.marked_addresses.begin(),
                      peer.marked_addresses.end());
      }
      for (const auto& [name, d] : departed_) {
        wanted.insert(d.marked_addresses.begin(), d.marked_addresses.end());
      }
      for (const PeerMarkerEntry& e : *entries) {
        if (!wanted.count(e.address)) {
          absl::Status s = markers_->DeletePeer(e.address);
          if (!s.ok() && !absl::IsNotFound(s)) ++stats_.marker_errors;
        }
      }
    } else {
      ++stats_.marker_errors;
    }
  }
  MaybeAdvertise();
  UpdateReclaimTimers();
}

void IpsecController::UpdateSelf(const NodeView& view) {
  std::lock_guard<std::mutex> lock(mu_);
  if (!started_) AdoptFromKernel();
  const bool identity_changed =
      view.boot_id != self_.boot_id || view.addresses != self_.addresses;
  const int32_t spi = self_.spi;
  self_ = view;
  self_.spi = spi;
  if (identity_changed) {
    for (auto& [name, peer] : peers_) peer.retained.clear();
    retained_spis_dirty_ = true;
  }
  ApplyAllPeers(/*reselect_outbound=*/true);
  publish_pending_ = true;
  MaybeAdvertise();
}

// --- Periodic work --------------------------------------------------------

void IpsecController::Tick() {
  std::lock_guard<std::mutex> lock(mu_);
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
  std::vector<int32_t> due;
  for (const auto& [spi, since] : releasable_since_) {
    if (now - since >= options_.grace_period) due.push_back(spi);
  }
  for (int32_t spi : due) Reclaim(spi);
  RemoveDeparted();
  // Peers that found no free index: one may have been released since.
  // (Only walked when there are such peers: with a thousand peers, walking
  // them on every tick was most of an idle node's work.)
  if (peers_lacking_index_) {
    peers_lacking_index_ = false;
    for (auto& [name, peer] : peers_) {
      if (peer.index != 0 || !AssignIndex(&peer)) continue;
      SetOutboundSpi(name, &peer, ChooseOutboundSpi(peer));
      ApplyPeer(&peer);
    }
  }
  MaybeAdvertise();
}

absl::Status IpsecController::Shutdown() {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<std::string> problems;
  if (absl::Status s = publisher_->Withdraw(self_.name); !s.ok()) {
    problems.push_back(absl::StrCat("withdraw KmeshNodeInfo: ", s.message()));
  }
  for (auto& [name, peer] : peers_) {
    ApplyResult r = programmer_.RemoveGroup(name);
    if (!r.ok()) problems.push_back(std::string(r.ToStatus().message()));
    SyncMarkers(&peer, {});
  }
  for (auto& [name, d] : departed_) {
    ApplyResult r = programmer_.RemoveGroup(name);
    if (!r.ok()) problems.push_back(std::string(r.ToStatus().message()));
    if (markers_ != nullptr) {
      for (const IpAddress& a : d.marked_addresses) {
        absl::Status s = markers_->DeletePeer(a);
        if (!s.ok() && !absl::IsNotFound(s)) {
          problems.push_back(std::string(s.message()));
        }
      }
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
  for (auto& [name, d] : departed_) indices_.Release(name);
  peers_.clear();
  departed_.clear();
  retained_spis_dirty_ = true;
  advertised_spi_ = 0;
  if (!problems.empty()) {
    return absl::UnavailableError(absl::StrCat("IPsec shutdown incomplete: ",
                                               absl::StrJoin(problems, "; ")));
  }
  LOG(INFO) << "IPsec: shut down, own XFRM objects removed";
  return absl::OkStatus();
}

// --- Observations -----------------------------------------------------------

int32_t IpsecController::advertised_spi() const {
  std::lock_guard<std::mutex> lock(mu_);
  return advertised_spi_;
}

std::vector<int32_t> IpsecController::inbound_spis() const {
  std::lock_guard<std::mutex> lock(mu_);
  return InboundSpisLocked();
}

std::vector<int32_t> IpsecController::inbound_spis(
    const std::string& name) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = peers_.find(name);
  if (it == peers_.end()) return {};
  return PeerInboundSpis(it->second);
}

int32_t IpsecController::outbound_spi(const std::string& name) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = peers_.find(name);
  return it == peers_.end() ? 0 : it->second.outbound_spi;
}

std::optional<uint16_t> IpsecController::peer_index(
    const std::string& name) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = peers_.find(name);
  if (it == peers_.end() || it->second.index == 0) return std::nullopt;
  return it->second.index;
}

absl::Status IpsecController::peer_status(const std::string& name) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = peers_.find(name);
  if (it == peers_.end()) {
    return absl::NotFoundError(absl::StrCat("no peer ", name));
  }
  return it->second.status;
}

std::set<std::string> IpsecController::PeersWithOutboundSa() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::set<std::string> out;
  for (const auto& [name, peer] : peers_) {
    if (peer.outbound_spi != 0) out.insert(out.end(), name);
  }
  return out;
}

IpsecControllerStats IpsecController::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  return stats_;
}

XfrmOpCounts IpsecController::xfrm_op_counts() const {
  std::lock_guard<std::mutex> lock(mu_);
  return programmer_.counts();
}

XfrmObjects IpsecController::DesiredState() const {
  std::lock_guard<std::mutex> lock(mu_);
  XfrmObjects out = LayoutCatchAll();
  for (const auto& [name, peer] : peers_) {
    if (peer.index == 0) continue;
    absl::StatusOr<PeerLayout> layout = LayoutFor(peer);
    if (!layout.ok()) continue;
    for (XfrmSa& sa : layout->objects.sas) out.sas.push_back(std::move(sa));
    for (XfrmPolicy& p : layout->objects.policies) {
      out.policies.push_back(std::move(p));
    }
  }
  return out;
}

// --- Internals --------------------------------------------------------------

std::vector<int32_t> IpsecController::InboundSpisLocked() const {
  if (retained_spis_dirty_) {
    retained_spis_.clear();
    for (const auto& [name, peer] : peers_) {
      for (const XfrmSa& sa : peer.retained) {
        if (IsInboundSa(sa))
          retained_spis_.insert(static_cast<int32_t>(sa.spi));
      }
    }
    retained_spis_dirty_ = false;
  }
  std::set<int32_t> spis(retained_spis_);
  for (int32_t spi : keys_.Spis()) spis.insert(spi);
  return std::vector<int32_t>(spis.begin(), spis.end());
}

std::vector<int32_t> IpsecController::PeerInboundSpis(
    const PeerState& peer) const {
  std::set<int32_t> spis;
  for (int32_t spi : keys_.Spis()) spis.insert(spi);
  for (const XfrmSa& sa : peer.retained) {
    if (IsInboundSa(sa)) spis.insert(static_cast<int32_t>(sa.spi));
  }
  return std::vector<int32_t>(spis.begin(), spis.end());
}

int32_t IpsecController::ChooseOutboundSpi(const PeerState& peer) const {
  // Receiver-driven: the SPI the peer advertises, when this node holds it.
  if (peer.view.spi > 0 && keys_.Has(peer.view.spi)) return peer.view.spi;
  // Otherwise keep the current outbound SA, if it can still be produced.
  auto retained_outbound = [&](int32_t spi) {
    for (const XfrmSa& sa : peer.retained) {
      if (!IsInboundSa(sa) && sa.spi == static_cast<uint32_t>(spi)) {
        return true;
      }
    }
    return false;
  };
  if (peer.outbound_spi > 0 &&
      (keys_.Has(peer.outbound_spi) || retained_outbound(peer.outbound_spi))) {
    return peer.outbound_spi;
  }
  // After a restart: the outbound SA the previous run was using.
  int32_t best = 0;
  for (const XfrmSa& sa : peer.retained) {
    if (IsInboundSa(sa)) continue;
    const int32_t spi = static_cast<int32_t>(sa.spi);
    if (best == 0 || IsOlder(best, spi)) best = spi;
  }
  return best;
}

absl::StatusOr<PeerLayout> IpsecController::LayoutFor(
    const PeerState& peer) const {
  PeerLayoutInput input;
  input.self = &self_;
  input.peer = &peer.view;
  input.peer_index = peer.index;
  input.keys = &keys_;
  input.inbound_spis = PeerInboundSpis(peer);
  input.outbound_spi = peer.outbound_spi;
  input.retained_sas = &peer.retained;
  return LayoutPeer(input);
}

void IpsecController::ApplyPeer(PeerState* peer) {
  const std::string& name = peer->view.name;
  if (peer->index == 0) return;
  // Retained outbound SAs for SPIs no longer used are dropped.
  auto& kept = peer->retained;
  kept.erase(std::remove_if(kept.begin(), kept.end(),
                            [&](const XfrmSa& sa) {
                              return !IsInboundSa(sa) &&
                                     sa.spi != static_cast<uint32_t>(
                                                   peer->outbound_spi);
                            }),
             kept.end());
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
    SyncMarkers(peer, {});
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
  peer->inbound_installed.clear();
  std::map<int32_t, bool> complete;
  for (const XfrmSa& sa : layout->objects.sas) {
    if (!IsInboundSa(sa)) continue;
    const int32_t spi = static_cast<int32_t>(sa.spi);
    auto [it, inserted] = complete.try_emplace(spi, true);
    it->second = it->second && programmer_.IsInstalled(sa);
  }
  for (const auto& [spi, ok] : complete) {
    if (ok) peer->inbound_installed.insert(spi);
  }
  SyncMarkers(peer, ParsedAddresses(peer->view));
}

void IpsecController::SetOutboundSpi(const std::string& name, PeerState* peer,
                                     int32_t spi) {
  if (peer->outbound_spi == spi) return;
  // A rotation moves every peer from one SPI to the next without changing
  // who has an outbound SA; only gaining or losing one is reported.
  const bool had = peer->outbound_spi != 0;
  peer->outbound_spi = spi;
  if (had != (spi != 0) && outbound_peer_listener_) {
    outbound_peer_listener_(name, spi != 0);
  }
}

void IpsecController::SetOutboundPeerListener(OutboundPeerListener listener) {
  std::lock_guard<std::mutex> lock(mu_);
  outbound_peer_listener_ = std::move(listener);
}

void IpsecController::ApplyAllPeers(bool reselect_outbound) {
  for (auto& [name, peer] : peers_) {
    if (reselect_outbound) {
      SetOutboundSpi(name, &peer, ChooseOutboundSpi(peer));
    }
    ApplyPeer(&peer);
  }
}

void IpsecController::SyncMarkers(PeerState* peer,
                                  const std::vector<IpAddress>& wanted) {
  std::vector<IpAddress> now_marked;
  // Additions after the peer's SAs are in place (ApplyPeer runs first).
  for (const IpAddress& a : wanted) {
    if (!Contains(peer->marked_addresses, a) && markers_ != nullptr) {
      absl::Status s = markers_->UpsertPeer(a, peer->index);
      if (!s.ok()) {
        ++stats_.marker_errors;
        LOG(ERROR) << "IPsec: decrypt marker entry for " << a.ToString()
                   << " (peer " << peer->view.name << "): " << s;
        continue;
      }
    }
    now_marked.push_back(a);
  }
  for (const IpAddress& a : peer->marked_addresses) {
    if (Contains(wanted, a) || markers_ == nullptr) continue;
    absl::Status s = markers_->DeletePeer(a);
    if (!s.ok() && !absl::IsNotFound(s)) {
      ++stats_.marker_errors;
      now_marked.push_back(a);  // Retried next time.
    }
  }
  peer->marked_addresses = std::move(now_marked);
}

void IpsecController::RemoveDeparted() {
  if (departed_.empty()) return;
  // Indices still carried by SAs in the kernel are not free yet.
  std::set<uint16_t> busy;
  for (const XfrmSa& sa : programmer_.Unclaimed().sas) {
    if (IsInboundSa(sa)) busy.insert(PeerIndexFromInboundMark(sa.mark));
  }
  for (auto it = departed_.begin(); it != departed_.end();) {
    const std::string& name = it->first;
    if (programmer_.HasObjects(name)) {
      RecordXfrmResult(name, programmer_.RemoveGroup(name));
    }
    if (programmer_.HasObjects(name) || busy.count(it->second.index)) {
      ++it;
      continue;
    }
    if (markers_ != nullptr) {
      for (const IpAddress& a : it->second.marked_addresses) {
        absl::Status s = markers_->DeletePeer(a);
        if (!s.ok() && !absl::IsNotFound(s)) ++stats_.marker_errors;
      }
    }
    indices_.Release(name);
    it = departed_.erase(it);
  }
}

void IpsecController::MaybeAdvertise() {
  if (target_spi_ == 0) return;
  // Until the first complete list of peers, "every peer" is unknown.
  if (!peers_synced_) return;
  if (target_spi_ == advertised_spi_ && !publish_pending_) return;
  for (const auto& [name, peer] : peers_) {
    // A peer whose record cannot be programmed cannot send to us either.
    if (peer.unprogrammable) continue;
    if (!peer.inbound_installed.count(target_spi_)) return;
  }
  const bool new_spi = target_spi_ != advertised_spi_;
  keys_.SetCurrent(target_spi_);
  NodeView record = self_;
  record.spi = target_spi_;
  absl::Status published = publisher_->Publish(record);
  if (!published.ok()) {
    ++stats_.publish_errors;
    publish_pending_ = true;
    LOG(ERROR) << "IPsec: publishing SPI " << target_spi_
               << " failed (retrying): " << published;
  } else {
    publish_pending_ = false;
    self_.spi = target_spi_;
    advertised_spi_ = target_spi_;
    if (new_spi) LOG(INFO) << "IPsec: advertising SPI " << target_spi_;
  }
  // (3) Inbound SAs are in place for every peer: move outbound SAs to the
  // peers that already advertise the new SPI.
  if (new_spi) ApplyAllPeers(/*reselect_outbound=*/true);
}

bool IpsecController::IsOlder(int32_t a, int32_t b) const {
  auto ia = spi_order_.find(a);
  auto ib = spi_order_.find(b);
  return ia != spi_order_.end() && ib != spi_order_.end() &&
         ia->second < ib->second;
}

void IpsecController::SetUnprogrammable(PeerState* peer, bool unprogrammable) {
  if (peer->unprogrammable == unprogrammable) return;
  peer->unprogrammable = unprogrammable;
  ReclaimInputsChanged();
}

void IpsecController::UpdateReclaimTimers() {
  if (!peers_synced_ || advertised_spi_ == 0) {
    releasable_since_.clear();
    reclaim_candidates_.clear();
    ReclaimInputsChanged();  // Decide afresh once these hold.
    return;
  }
  const TimePoint now = clock_->Now();
  std::set<int32_t> candidates;
  for (int32_t spi : InboundSpisLocked()) {
    if (spi != target_spi_ && spi != advertised_spi_) candidates.insert(spi);
  }
  if (candidates.empty()) {  // The common case: one SPI, nothing to walk.
    releasable_since_.clear();
    reclaim_candidates_.clear();
    return;
  }
  // The verdicts depend only on the candidates and on the inputs
  // ReclaimInputsChanged() tracks: when neither moved, they stand, and so
  // does each releasable SPI's start time.
  if (!reclaim_inputs_changed_ && candidates == reclaim_candidates_) return;
  reclaim_inputs_changed_ = false;
  reclaim_candidates_ = candidates;
  ++stats_.reclaim_walks;
  for (auto it = releasable_since_.begin(); it != releasable_since_.end();) {
    it = candidates.count(it->first) ? std::next(it)
                                     : releasable_since_.erase(it);
  }
  for (int32_t spi : candidates) {
    bool needed = false;
    for (const auto& [name, peer] : peers_) {
      if (peer.unprogrammable) continue;
      const int32_t advertised = peer.view.spi;
      if (advertised == spi || (advertised > 0 && IsOlder(advertised, spi))) {
        needed = true;
        break;
      }
    }
    if (needed) {
      releasable_since_.erase(spi);
    } else {
      releasable_since_.try_emplace(spi, now);
    }
  }
}

void IpsecController::Reclaim(int32_t spi) {
  LOG(INFO) << "IPsec: grace period over, removing SPI " << spi;
  // Peers we still send to with this SPI (they advertise one we do not
  // hold) keep their outbound SA: retain it before its key goes.
  if (keys_.Has(spi)) {
    for (auto& [name, peer] : peers_) {
      if (peer.outbound_spi != spi || peer.index == 0) continue;
      absl::StatusOr<PeerLayout> layout = LayoutFor(peer);
      if (!layout.ok()) continue;
      for (const XfrmSa& sa : layout->objects.sas) {
        if (!IsInboundSa(sa) && sa.spi == static_cast<uint32_t>(spi)) {
          peer.retained.push_back(sa);
        }
      }
    }
  }
  keys_.Remove(spi);
  retained_spis_dirty_ = true;
  for (auto& [name, peer] : peers_) {
    auto& kept = peer.retained;
    kept.erase(std::remove_if(kept.begin(), kept.end(),
                              [spi](const XfrmSa& sa) {
                                return IsInboundSa(sa) &&
                                       sa.spi == static_cast<uint32_t>(spi);
                              }),
               kept.end());
  }
  releasable_since_.erase(spi);
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
  ApplyResult result = programmer_.Reconcile(desired, peers_synced_);
  RecordXfrmResult("full reconcile", result);
  std::map<std::string, absl::Status> errors;
  for (const XfrmOpError& e : result.errors) {
    errors.try_emplace(e.group, e.status);
  }
  for (auto& [name, peer] : peers_) {
    auto layout = layouts.find(name);
    if (layout == layouts.end()) {
      peer.inbound_installed.clear();
      SyncMarkers(&peer, {});
      continue;
    }
    auto error = errors.find(name);
    peer.status = error == errors.end() ? absl::OkStatus() : error->second;
    peer.inbound_installed.clear();
    std::map<int32_t, bool> complete;
    for (const XfrmSa& sa : layout->second.objects.sas) {
      if (!IsInboundSa(sa)) continue;
      auto [it, inserted] =
          complete.try_emplace(static_cast<int32_t>(sa.spi), true);
      it->second = it->second && programmer_.IsInstalled(sa);
    }
    for (const auto& [spi, ok] : complete) {
      if (ok) peer.inbound_installed.insert(spi);
    }
    SyncMarkers(&peer, ParsedAddresses(peer.view));
  }
  if (peers_synced_ && result.ok()) {
    // Whatever was adopted and not claimed has now been deleted.
    adopted_sas_.clear();
    adopted_index_by_address_.clear();
    for (uint16_t index : indices_.Reserved()) indices_.Unreserve(index);
  }
  RemoveDeparted();
  next_resync_ = clock_->Now() + options_.resync_interval;
}

void IpsecController::RecordXfrmResult(const std::string& what,
                                       const ApplyResult& result) {
  if (result.ok()) return;
  stats_.xfrm_errors += result.errors.size();
  for (const XfrmOpError& e : result.errors) {
    LOG(ERROR) << "IPsec (" << what << "): " << XfrmOpName(e.op) << " ["
               << e.object << "] failed: " << e.status;
  }
}

}  // namespace kmesh::ipsec
