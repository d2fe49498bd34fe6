#include "kmesh/ipsec/adopted_kernel_state.h"

#include <algorithm>
#include <utility>

#include "glog/logging.h"
#include "kmesh/ipsec/xfrm_layout.h"

namespace kmesh::ipsec {
namespace {

bool Contains(const std::vector<IpAddress>& list, const IpAddress& a) {
  return std::find(list.begin(), list.end(), a) != list.end();
}

}  // namespace

AdoptedKernelState::Found AdoptedKernelState::Adopt(std::vector<XfrmSa> sas) {
  unclaimed_sas_ = std::move(sas);
  Found found;
  for (const XfrmSa& sa : unclaimed_sas_) {
    if (!IsInboundSa(sa)) continue;
    const uint16_t index = PeerIndexFromInboundMark(sa.mark);
    index_by_address_[sa.src] = index;
    found.peer_indices.insert(index);
    found.spis.insert(static_cast<int32_t>(sa.spi));
  }
  if (!unclaimed_sas_.empty()) {
    LOG(INFO) << "IPsec: adopted " << unclaimed_sas_.size() << " SAs from "
              << index_by_address_.size()
              << " peer addresses left by a previous run";
  }
  return found;
}

uint16_t AdoptedKernelState::IndexFor(
    const std::vector<IpAddress>& addresses) const {
  for (const IpAddress& a : addresses) {
    auto adopted = index_by_address_.find(a);
    if (adopted != index_by_address_.end()) return adopted->second;
  }
  return 0;
}

void AdoptedKernelState::Claim(const std::string& peer,
                               const std::vector<IpAddress>& addresses,
                               uint16_t index) {
  std::vector<XfrmSa> claimed;
  for (const XfrmSa& sa : unclaimed_sas_) {
    const bool ours = IsInboundSa(sa)
                          ? PeerIndexFromInboundMark(sa.mark) == index &&
                                Contains(addresses, sa.src)
                          : Contains(addresses, sa.dst);
    if (ours) claimed.push_back(sa);
  }
  ForgetPeer(peer);
  if (claimed.empty()) return;
  // Claimed SAs are no longer waiting for a peer.
  unclaimed_sas_.erase(
      std::remove_if(unclaimed_sas_.begin(), unclaimed_sas_.end(),
                     [&](const XfrmSa& sa) {
                       for (const XfrmSa& c : claimed) {
                         if (c.dst == sa.dst && c.spi == sa.spi &&
                             c.mark == sa.mark) {
                           return true;
                         }
                       }
                       return false;
                     }),
      unclaimed_sas_.end());
  sas_by_peer_[peer] = std::move(claimed);
  inbound_spis_stale_ = true;
}

void AdoptedKernelState::ForgetUnclaimed() {
  unclaimed_sas_.clear();
  index_by_address_.clear();
}

const std::vector<XfrmSa>* AdoptedKernelState::SasOf(
    const std::string& peer) const {
  auto it = sas_by_peer_.find(peer);
  return it == sas_by_peer_.end() ? nullptr : &it->second;
}

std::vector<int32_t> AdoptedKernelState::InboundSpisOf(
    const std::string& peer) const {
  std::vector<int32_t> spis;
  if (const std::vector<XfrmSa>* sas = SasOf(peer)) {
    for (const XfrmSa& sa : *sas) {
      if (IsInboundSa(sa)) spis.push_back(static_cast<int32_t>(sa.spi));
    }
  }
  return spis;
}

std::vector<int32_t> AdoptedKernelState::OutboundSpisOf(
    const std::string& peer) const {
  std::vector<int32_t> spis;
  if (const std::vector<XfrmSa>* sas = SasOf(peer)) {
    for (const XfrmSa& sa : *sas) {
      if (!IsInboundSa(sa)) spis.push_back(static_cast<int32_t>(sa.spi));
    }
  }
  return spis;
}

const std::set<int32_t>& AdoptedKernelState::InboundSpisOfPeers() const {
  if (inbound_spis_stale_) {
    inbound_spis_of_peers_.clear();
    for (const auto& [peer, sas] : sas_by_peer_) {
      for (const XfrmSa& sa : sas) {
        if (IsInboundSa(sa)) {
          inbound_spis_of_peers_.insert(static_cast<int32_t>(sa.spi));
        }
      }
    }
    inbound_spis_stale_ = false;
  }
  return inbound_spis_of_peers_;
}

std::vector<std::pair<std::string, int32_t>>
AdoptedKernelState::OutboundSpisOfPeers() const {
  std::vector<std::pair<std::string, int32_t>> out;
  for (const auto& entry : sas_by_peer_) {
    for (int32_t spi : OutboundSpisOf(entry.first)) {
      out.emplace_back(entry.first, spi);
    }
  }
  return out;
}

void AdoptedKernelState::Keep(const std::string& peer, const XfrmSa& sa) {
  sas_by_peer_[peer].push_back(sa);
  if (IsInboundSa(sa)) inbound_spis_stale_ = true;
}

template <typename Predicate>
void AdoptedKernelState::DropIf(
    std::map<std::string, std::vector<XfrmSa>>::iterator peer, Predicate drop) {
  std::vector<XfrmSa>& sas = peer->second;
  for (const XfrmSa& sa : sas) {
    if (IsInboundSa(sa) && drop(sa)) inbound_spis_stale_ = true;
  }
  sas.erase(std::remove_if(sas.begin(), sas.end(), drop), sas.end());
  if (sas.empty()) sas_by_peer_.erase(peer);
}

void AdoptedKernelState::DropSpi(int32_t spi) {
  for (auto it = sas_by_peer_.begin(); it != sas_by_peer_.end();) {
    DropIf(it++, [spi](const XfrmSa& sa) {
      return sa.spi == static_cast<uint32_t>(spi);
    });
  }
}

void AdoptedKernelState::DropInboundSpi(int32_t spi) {
  for (auto it = sas_by_peer_.begin(); it != sas_by_peer_.end();) {
    DropIf(it++, [spi](const XfrmSa& sa) {
      return IsInboundSa(sa) && sa.spi == static_cast<uint32_t>(spi);
    });
  }
}

void AdoptedKernelState::DropOutboundExcept(const std::string& peer,
                                            int32_t spi,
                                            const std::set<int32_t>& retiring) {
  auto it = sas_by_peer_.find(peer);
  if (it == sas_by_peer_.end()) return;
  DropIf(it, [spi, &retiring](const XfrmSa& sa) {
    const auto sa_spi = static_cast<int32_t>(sa.spi);
    return !IsInboundSa(sa) && sa_spi != spi && !retiring.count(sa_spi);
  });
}

void AdoptedKernelState::ForgetPeer(const std::string& peer) {
  auto it = sas_by_peer_.find(peer);
  if (it == sas_by_peer_.end()) return;
  DropIf(it, [](const XfrmSa&) { return true; });
}

void AdoptedKernelState::ForgetAllPeers() {
  sas_by_peer_.clear();
  inbound_spis_stale_ = true;
}

void AdoptedKernelState::Depart(const std::string& peer, Departed departed) {
  departed_[peer] = std::move(departed);
}

std::optional<std::vector<IpAddress>> AdoptedKernelState::Return(
    const std::string& peer) {
  auto it = departed_.find(peer);
  if (it == departed_.end()) return std::nullopt;
  std::vector<IpAddress> marked = std::move(it->second.marked_addresses);
  departed_.erase(it);
  return marked;
}

std::vector<IpAddress> AdoptedKernelState::ForgetDeparted(
    const std::string& peer) {
  auto it = departed_.find(peer);
  if (it == departed_.end()) return {};
  std::vector<IpAddress> marked = std::move(it->second.marked_addresses);
  departed_.erase(it);
  return marked;
}

}  // namespace kmesh::ipsec
