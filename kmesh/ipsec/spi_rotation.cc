#include "kmesh/ipsec/spi_rotation.h"

#include <iterator>

namespace kmesh::ipsec {

SpiRotation::SpiRotation(Duration grace_period) : grace_period_(grace_period) {}

SpiRotation::KeyChange SpiRotation::LearnKey(int32_t spi, const XfrmKey& psk) {
  const XfrmKey* held = keys_.Find(spi);
  if (held != nullptr && *held == psk && spi == target_spi_) {
    return KeyChange::kUnchanged;
  }
  const KeyChange change = held != nullptr && *held != psk
                               ? KeyChange::kNewEpoch
                               : KeyChange::kNewKey;
  keys_.Install(spi, psk);
  spi_order_[spi] = next_order_++;
  reclaim_inputs_changed_ = true;
  target_spi_ = spi;
  releasable_since_.erase(spi);
  return change;
}

void SpiRotation::LearnAdoptedSpis(const std::set<int32_t>& spis) {
  for (auto it = spis.rbegin(); it != spis.rend(); ++it) {
    if (!spi_order_.count(*it)) spi_order_[*it] = --lowest_order_;
  }
  reclaim_inputs_changed_ = true;
}

bool SpiRotation::IsOlder(int32_t a, int32_t b) const {
  auto ia = spi_order_.find(a);
  auto ib = spi_order_.find(b);
  return ia != spi_order_.end() && ib != spi_order_.end() &&
         ia->second < ib->second;
}

bool SpiRotation::ReadyToAdvertise(const PeerTable& peers,
                                   bool peers_synced) const {
  if (target_spi_ == 0) return false;
  // Until the first complete list of peers, "every peer" is unknown.
  if (!peers_synced) return false;
  if (target_spi_ == advertised_spi_ && !publish_pending_) return false;
  for (const auto& [name, peer] : peers) {
    // A peer whose record cannot be programmed cannot send to us either.
    if (peer.unprogrammable) continue;
    if (!peer.inbound_installed.count(target_spi_)) return false;
  }
  return true;
}

void SpiRotation::Advertised(int32_t spi, bool published) {
  if (keys_.Has(spi)) keys_.SetCurrent(spi);
  publish_pending_ = !published;
  if (published) advertised_spi_ = spi;
}

int32_t SpiRotation::OutboundSpiFor(
    const PeerState& peer,
    const std::vector<int32_t>& adopted_outbound_spis) const {
  // Receiver-driven: the SPI the peer advertises, when this node holds it.
  if (peer.view.spi > 0 && keys_.Has(peer.view.spi)) return peer.view.spi;
  // Otherwise keep the current outbound SA, if it can still be produced.
  auto adopted = [&](int32_t spi) {
    for (int32_t a : adopted_outbound_spis) {
      if (a == spi) return true;
    }
    return false;
  };
  if (peer.outbound_spi > 0 &&
      (keys_.Has(peer.outbound_spi) || adopted(peer.outbound_spi))) {
    return peer.outbound_spi;
  }
  // After a restart: the outbound SA the previous run was using.
  int32_t best = 0;
  for (int32_t spi : adopted_outbound_spis) {
    if (best == 0 || IsOlder(best, spi)) best = spi;
  }
  return best;
}

void SpiRotation::UpdateReclaimTimers(
    TimePoint now, const PeerTable& peers, bool peers_synced,
    const std::vector<int32_t>& inbound_spis) {
  if (!peers_synced || advertised_spi_ == 0) {
    releasable_since_.clear();
    reclaim_candidates_.clear();
    reclaim_inputs_changed_ = true;  // Decide afresh once these hold.
    return;
  }
  std::set<int32_t> candidates;
  for (int32_t spi : inbound_spis) {
    if (spi != target_spi_ && spi != advertised_spi_) candidates.insert(spi);
  }
  if (candidates.empty()) {  // The common case: one SPI, nothing to walk.
    releasable_since_.clear();
    reclaim_candidates_.clear();
    return;
  }
  // The verdicts depend only on the candidates and on the inputs
  // PeersChanged() and the SPI order track: when neither moved, they stand,
  // and so does each releasable SPI's start time.
  if (!reclaim_inputs_changed_ && candidates == reclaim_candidates_) return;
  reclaim_inputs_changed_ = false;
  reclaim_candidates_ = candidates;
  ++reclaim_walks_;
  for (auto it = releasable_since_.begin(); it != releasable_since_.end();) {
    it = candidates.count(it->first) ? std::next(it)
                                     : releasable_since_.erase(it);
  }
  for (int32_t spi : candidates) {
    bool needed = false;
    for (const auto& [name, peer] : peers) {
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

std::vector<int32_t> SpiRotation::DueForReclaim(TimePoint now) const {
  std::vector<int32_t> due;
  for (const auto& [spi, since] : releasable_since_) {
    if (now - since >= grace_period_) due.push_back(spi);
  }
  return due;
}

void SpiRotation::Reclaim(int32_t spi) {
  keys_.Remove(spi);
  releasable_since_.erase(spi);
}

}  // namespace kmesh::ipsec
