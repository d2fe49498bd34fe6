#include "sim/kernel/memory_marker_maps.h"

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace kmesh {

MemoryMarkerMaps::MemoryMarkerMaps(size_t max_peers, size_t max_unmanaged_pods,
                                   size_t max_encrypt_cidrs)
    : max_peers_(max_peers),
      max_unmanaged_pods_(max_unmanaged_pods),
      max_encrypt_cidrs_(max_encrypt_cidrs) {}

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

absl::Status MemoryMarkerMaps::UpsertEncryptCidr(const IpPrefix& cidr) {
  if (cidr.length() == 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "encrypt-CIDR map: ", cidr.ToString(), " covers every address"));
  }
  absl::MutexLock lock(&mu_);
  auto it = encrypt_cidrs_.find(cidr.address());
  if (it != encrypt_cidrs_.end()) {
    if (it->second == cidr.length()) return absl::OkStatus();
    return absl::AlreadyExistsError(
        absl::StrCat("encrypt-CIDR map: ", cidr.ToString(), " overlaps ",
                     IpPrefix(cidr.address(), it->second).ToString()));
  }
  if (encrypt_cidrs_.size() >= max_encrypt_cidrs_) {
    return absl::ResourceExhaustedError(
        absl::StrCat("encrypt-CIDR map full (", max_encrypt_cidrs_,
                     " entries, E2BIG) adding ", cidr.ToString()));
  }
  std::vector<int> lengths = EncryptLengths(cidr.family());
  if (std::find(lengths.begin(), lengths.end(), cidr.length()) ==
          lengths.end() &&
      lengths.size() + 1 > static_cast<size_t>(kMaxEncryptCidrLengths)) {
    return absl::ResourceExhaustedError(
        absl::StrCat("encrypt-CIDR map: ", cidr.ToString(),
                     " would be prefix length ", lengths.size() + 1,
                     " of its family (at most ", kMaxEncryptCidrLengths, ")"));
  }
  encrypt_cidrs_[cidr.address()] = cidr.length();
  ++encrypt_lengths_[{cidr.family(), cidr.length()}];
  return absl::OkStatus();
}

std::vector<int> MemoryMarkerMaps::EncryptLengths(IpFamily family) const {
  std::vector<int> lengths;
  for (auto it = encrypt_lengths_.lower_bound({family, 0});
       it != encrypt_lengths_.end() && it->first.first == family; ++it) {
    lengths.push_back(it->first.second);
  }
  return lengths;
}

absl::Status MemoryMarkerMaps::DeleteEncryptCidr(const IpPrefix& cidr) {
  absl::MutexLock lock(&mu_);
  auto it = encrypt_cidrs_.find(cidr.address());
  if (it == encrypt_cidrs_.end() || it->second != cidr.length()) {
    return absl::NotFoundError(absl::StrCat("encrypt-CIDR map: no entry for ",
                                            cidr.ToString(), " (ENOENT)"));
  }
  encrypt_cidrs_.erase(it);
  auto count = encrypt_lengths_.find({cidr.family(), cidr.length()});
  if (--count->second == 0) encrypt_lengths_.erase(count);
  return absl::OkStatus();
}

absl::StatusOr<std::vector<IpPrefix>> MemoryMarkerMaps::DumpEncryptCidrs() {
  absl::MutexLock lock(&mu_);
  std::vector<IpPrefix> out;
  out.reserve(encrypt_cidrs_.size());
  for (const auto& [network, length] : encrypt_cidrs_) {
    out.emplace_back(network, length);
  }
  return out;
}

absl::Status MemoryMarkerMaps::UpsertUnmanagedPod(const IpAddress& pod_ip) {
  absl::MutexLock lock(&mu_);
  if (unmanaged_pods_.count(pod_ip) == 0 &&
      unmanaged_pods_.size() >= max_unmanaged_pods_) {
    return absl::ResourceExhaustedError(
        absl::StrCat("unmanaged-pod map full (", max_unmanaged_pods_,
                     " entries, E2BIG) adding ", pod_ip.ToString()));
  }
  unmanaged_pods_.insert(pod_ip);
  return absl::OkStatus();
}

absl::Status MemoryMarkerMaps::DeleteUnmanagedPod(const IpAddress& pod_ip) {
  absl::MutexLock lock(&mu_);
  if (unmanaged_pods_.erase(pod_ip) == 0) {
    return absl::NotFoundError(absl::StrCat("unmanaged-pod map: no entry for ",
                                            pod_ip.ToString(), " (ENOENT)"));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<IpAddress>> MemoryMarkerMaps::DumpUnmanagedPods() {
  absl::MutexLock lock(&mu_);
  return std::vector<IpAddress>(unmanaged_pods_.begin(), unmanaged_pods_.end());
}

std::optional<uint16_t> MemoryMarkerMaps::LookupPeer(
    const IpAddress& address) const {
  absl::MutexLock lock(&mu_);
  auto it = peers_.find(address);
  if (it == peers_.end()) return std::nullopt;
  return it->second;
}

bool MemoryMarkerMaps::InEncryptCidr(const IpAddress& address) const {
  absl::MutexLock lock(&mu_);
  // What the encrypt program does: the network address under each prefix
  // length of the family, looked up with that length.
  for (int length : EncryptLengths(address.family())) {
    auto it = encrypt_cidrs_.find(IpPrefix(address, length).address());
    if (it != encrypt_cidrs_.end() && it->second == length) return true;
  }
  return false;
}

bool MemoryMarkerMaps::IsUnmanagedPod(const IpAddress& pod_ip) const {
  absl::MutexLock lock(&mu_);
  return unmanaged_pods_.count(pod_ip) > 0;
}

}  // namespace kmesh
