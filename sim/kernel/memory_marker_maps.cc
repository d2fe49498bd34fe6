#include "sim/kernel/memory_marker_maps.h"

#include "absl/strings/str_cat.h"

namespace kmesh {

MemoryMarkerMaps::MemoryMarkerMaps(size_t max_peers, size_t max_encrypt_targets)
    : max_peers_(max_peers), max_encrypt_targets_(max_encrypt_targets) {}

absl::Status MemoryMarkerMaps::UpsertPeer(const IpAddress& address,
                                          uint16_t peer_index) {
  if (peer_index == 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "peer map: index 0 is reserved (address ", address.ToString(), ")"));
  }
  absl::MutexLock lock(&mu_);
  auto it = peers_.find(address);
  if (it == peers_.end() && peers_.size() >= max_peers_) {
    return absl::ResourceExhaustedError(
        absl::StrCat("peer map full (", max_peers_, " entries, E2BIG) adding ",
                     address.ToString()));
  }
  peers_[address] = peer_index;
  return absl::OkStatus();
}

absl::Status MemoryMarkerMaps::DeletePeer(const IpAddress& address) {
  absl::MutexLock lock(&mu_);
  if (peers_.erase(address) == 0) {
    return absl::NotFoundError(absl::StrCat("peer map: no entry for ",
                                            address.ToString(), " (ENOENT)"));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<PeerMarkerEntry>> MemoryMarkerMaps::DumpPeers() {
  absl::MutexLock lock(&mu_);
  std::vector<PeerMarkerEntry> out;
  out.reserve(peers_.size());
  for (const auto& [address, index] : peers_) out.push_back({address, index});
  return out;
}

absl::Status MemoryMarkerMaps::UpsertEncryptTarget(const IpAddress& pod_ip) {
  absl::MutexLock lock(&mu_);
  if (encrypt_targets_.count(pod_ip) == 0 &&
      encrypt_targets_.size() >= max_encrypt_targets_) {
    return absl::ResourceExhaustedError(
        absl::StrCat("encrypt-target map full (", max_encrypt_targets_,
                     " entries, E2BIG) adding ", pod_ip.ToString()));
  }
  encrypt_targets_.insert(pod_ip);
  return absl::OkStatus();
}

absl::Status MemoryMarkerMaps::DeleteEncryptTarget(const IpAddress& pod_ip) {
  absl::MutexLock lock(&mu_);
  if (encrypt_targets_.erase(pod_ip) == 0) {
    return absl::NotFoundError(absl::StrCat("encrypt-target map: no entry for ",
                                            pod_ip.ToString(), " (ENOENT)"));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<IpAddress>> MemoryMarkerMaps::DumpEncryptTargets() {
  absl::MutexLock lock(&mu_);
  return std::vector<IpAddress>(encrypt_targets_.begin(),
                                encrypt_targets_.end());
}

std::optional<uint16_t> MemoryMarkerMaps::LookupPeer(
    const IpAddress& address) const {
  absl::MutexLock lock(&mu_);
  auto it = peers_.find(address);
  if (it == peers_.end()) return std::nullopt;
  return it->second;
}

bool MemoryMarkerMaps::IsEncryptTarget(const IpAddress& pod_ip) const {
  absl::MutexLock lock(&mu_);
  return encrypt_targets_.count(pod_ip) > 0;
}

}  // namespace kmesh
