// BpfMarkerMaps: MarkerMaps (kmesh/kernel/marker_maps.h) over the real BPF
// maps of the marker programs: the peer map (kmesh_peers, address -> peer
// index) of the decrypt marker, and the encrypt marker's encrypt-CIDR map
// (kmesh_encrypt_cidrs, network address -> prefix length, with the prefix
// lengths in use per family in kmesh_cidr_lens) and unmanaged-pod map
// (kmesh_unmanaged); each hash map with its fast index (BpfIndexedMap). Every
// call changes one entry (a hash-map update or delete, at most two atomic
// index writes, and for a CIDR of a new or last length one atomic store of
// its family's length list), so the daemon updates the maps incrementally
// while the programs keep running. Keys are written with MarkerKeyFor
// (bpf/marker_key.h), the layout the programs look up. Kernel errors map to
// the interface's codes: a full map (E2BIG) is ResourceExhausted, a missing
// entry (ENOENT) NotFound, EPERM PermissionDenied; messages name the map, the
// address and the errno. One BpfMarkerMaps per set of maps at a time (it
// keeps the index bookkeeping).
#ifndef KMESH_LINUX_BPF_MARKER_MAPS_H_
#define KMESH_LINUX_BPF_MARKER_MAPS_H_

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "bpf/marker_decision.h"
#include "kmesh/kernel/marker_maps.h"
#include "kmesh/linux/bpf_indexed_map.h"

namespace kmesh::linux_backend {

// The map names in the objects (and the file names when pinned).
inline constexpr char kPeerMapName[] = "kmesh_peers";
inline constexpr char kPeerIndexMapName[] = "kmesh_idx_peers";
inline constexpr char kPeerIndex6MapName[] = "kmesh_idx6_peers";
inline constexpr char kUnmanagedMapName[] = "kmesh_unmanaged";
inline constexpr char kUnmanagedIndexMapName[] = "kmesh_idx_unmanaged";
inline constexpr char kUnmanagedIndex6MapName[] = "kmesh_idx6_unmanaged";
inline constexpr char kEncryptCidrMapName[] = "kmesh_encrypt_cidrs";
inline constexpr char kEncryptCidrIndexMapName[] = "kmesh_idx_encrypt_cidrs";
inline constexpr char kEncryptCidrIndex6MapName[] = "kmesh_idx6_encrypt_cidrs";
inline constexpr char kCidrLengthsMapName[] = "kmesh_cidr_lens";

// Open descriptors of the maps.
struct MarkerMapFds {
  int peers = -1;
  int peer_index = -1;
  int peer_index6 = -1;
  int unmanaged = -1;
  int unmanaged_index = -1;
  int unmanaged_index6 = -1;
  int encrypt_cidrs = -1;
  int encrypt_cidr_index = -1;
  int encrypt_cidr_index6 = -1;
  int cidr_lengths = -1;
};

class BpfMarkerMaps : public MarkerMaps {
 public:
  // Over open map descriptors, which it duplicates (the caller keeps its
  // own). Repairs the fast indexes and the length lists from the hash maps.
  // InvalidArgument when a descriptor is not the marker map it should be.
  static absl::StatusOr<std::unique_ptr<BpfMarkerMaps>> FromFds(
      const MarkerMapFds& fds);

  // Over the maps a BpfMarkerLoader pinned in `pin_directory`.
  static absl::StatusOr<std::unique_ptr<BpfMarkerMaps>> OpenPinned(
      const std::string& pin_directory);

  ~BpfMarkerMaps() override;

  absl::Status UpsertPeer(const IpAddress& address,
                          uint16_t peer_index) override;
  absl::Status DeletePeer(const IpAddress& address) override;
  absl::StatusOr<std::vector<PeerMarkerEntry>> DumpPeers() override;

  absl::Status UpsertEncryptCidr(const IpPrefix& cidr) override;
  absl::Status DeleteEncryptCidr(const IpPrefix& cidr) override;
  absl::StatusOr<std::vector<IpPrefix>> DumpEncryptCidrs() override;

  absl::Status UpsertUnmanagedPod(const IpAddress& pod_ip) override;
  absl::Status DeleteUnmanagedPod(const IpAddress& pod_ip) override;
  absl::StatusOr<std::vector<IpAddress>> DumpUnmanagedPods() override;

  // How the entries are indexed (for metrics and tests).
  BpfIndexedMap::Stats peer_index_stats() const { return peers_->stats(); }
  BpfIndexedMap::Stats unmanaged_index_stats() const {
    return unmanaged_->stats();
  }
  BpfIndexedMap::Stats encrypt_cidr_index_stats() const {
    return cidrs_->stats();
  }

 private:
  BpfMarkerMaps(std::unique_ptr<BpfIndexedMap> peers,
                std::unique_ptr<BpfIndexedMap> unmanaged,
                std::unique_ptr<BpfIndexedMap> cidrs,
                kmesh_marker_cidr_lengths* lengths, size_t mapped_bytes);

  // Rebuilds the CIDR bookkeeping and both length lists from the hash map.
  absl::Status RepairLengths();
  // Stores `family`'s length list from cidr_count_.
  void PublishLengths(IpFamily family) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  std::unique_ptr<BpfIndexedMap> peers_;
  std::unique_ptr<BpfIndexedMap> unmanaged_;
  std::unique_ptr<BpfIndexedMap> cidrs_;
  kmesh_marker_cidr_lengths* const lengths_;  // mmap of kmesh_cidr_lens
  const size_t mapped_bytes_;

  absl::Mutex mu_;  // CIDR writes.
  // Network address -> prefix length, as in the hash map.
  std::map<IpAddress, int> cidr_of_ ABSL_GUARDED_BY(mu_);
  // (family, length) -> how many CIDRs have it.
  std::map<std::pair<IpFamily, int>, int> cidr_count_ ABSL_GUARDED_BY(mu_);
};

}  // namespace kmesh::linux_backend

#endif  // KMESH_LINUX_BPF_MARKER_MAPS_H_
