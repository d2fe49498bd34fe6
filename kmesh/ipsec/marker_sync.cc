#include "kmesh/ipsec/marker_sync.h"

#include <algorithm>
#include <utility>

#include "absl/status/statusor.h"
#include "glog/logging.h"

namespace kmesh::ipsec {
namespace {

template <typename T>
bool Contains(const std::vector<T>& list, const T& a) {
  return std::find(list.begin(), list.end(), a) != list.end();
}

}  // namespace

size_t MarkerSync::Sync(PeerState* peer, const std::vector<IpAddress>& wanted) {
  size_t failures = 0;
  std::vector<IpAddress> now_marked;
  for (const IpAddress& a : wanted) {
    if (!Contains(peer->marked_addresses, a) && maps_ != nullptr) {
      absl::Status s = maps_->UpsertPeer(a, peer->index);
      if (!s.ok()) {
        ++failures;
        LOG(ERROR) << "IPsec: decrypt marker entry for " << a.ToString()
                   << " (peer " << peer->view.name << "): " << s;
        continue;
      }
    }
    now_marked.push_back(a);
  }
  for (const IpAddress& a : peer->marked_addresses) {
    if (Contains(wanted, a) || maps_ == nullptr) continue;
    absl::Status s = maps_->DeletePeer(a);
    if (!s.ok() && !absl::IsNotFound(s)) {
      ++failures;
      now_marked.push_back(a);  // Retried next time.
    }
  }
  peer->marked_addresses = std::move(now_marked);
  return failures;
}

size_t MarkerSync::SyncEncryptCidrs(PeerState* peer,
                                    const std::vector<IpPrefix>& wanted) {
  size_t failures = 0;
  std::vector<IpPrefix> now_marked;
  // Removals first: a CIDR that moves between peers is re-added by the new
  // owner's sync.
  for (const IpPrefix& cidr : peer->encrypt_cidrs) {
    if (Contains(wanted, cidr) || maps_ == nullptr) continue;
    absl::Status s = maps_->DeleteEncryptCidr(cidr);
    if (!s.ok() && !absl::IsNotFound(s)) {
      ++failures;
      LOG(ERROR) << "IPsec: remove encrypt CIDR " << cidr.ToString()
                 << " (peer " << peer->view.name << "): " << s;
      now_marked.push_back(cidr);  // Retried next time.
    }
  }
  for (const IpPrefix& cidr : wanted) {
    if (!Contains(peer->encrypt_cidrs, cidr) && maps_ != nullptr) {
      absl::Status s = maps_->UpsertEncryptCidr(cidr);
      if (!s.ok()) {
        ++failures;
        LOG(ERROR) << "IPsec: encrypt CIDR " << cidr.ToString() << " (peer "
                   << peer->view.name << "): " << s;
        continue;
      }
    }
    now_marked.push_back(cidr);
  }
  peer->encrypt_cidrs = std::move(now_marked);
  return failures;
}

size_t MarkerSync::RemoveStrayEncryptCidrs(
    const std::set<IpPrefix>& accounted) {
  if (maps_ == nullptr) return 0;
  absl::StatusOr<std::vector<IpPrefix>> cidrs = maps_->DumpEncryptCidrs();
  if (!cidrs.ok()) return 1;
  size_t failures = 0;
  for (const IpPrefix& cidr : *cidrs) {
    if (accounted.count(cidr)) continue;
    absl::Status s = maps_->DeleteEncryptCidr(cidr);
    if (!s.ok() && !absl::IsNotFound(s)) ++failures;
  }
  return failures;
}

std::vector<absl::Status> MarkerSync::Unmark(
    const std::vector<IpAddress>& addresses) {
  std::vector<absl::Status> failures;
  if (maps_ == nullptr) return failures;
  for (const IpAddress& a : addresses) {
    absl::Status s = maps_->DeletePeer(a);
    if (!s.ok() && !absl::IsNotFound(s)) failures.push_back(std::move(s));
  }
  return failures;
}

size_t MarkerSync::RemoveStrays(const std::set<IpAddress>& accounted) {
  if (maps_ == nullptr) return 0;
  absl::StatusOr<std::vector<PeerMarkerEntry>> entries = maps_->DumpPeers();
  if (!entries.ok()) return 1;
  size_t failures = 0;
  for (const PeerMarkerEntry& e : *entries) {
    if (accounted.count(e.address)) continue;
    absl::Status s = maps_->DeletePeer(e.address);
    if (!s.ok() && !absl::IsNotFound(s)) ++failures;
  }
  return failures;
}

}  // namespace kmesh::ipsec
