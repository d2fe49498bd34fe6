// BpfMarkerMaps: MarkerMaps (kmesh/kernel/marker_maps.h) over the real BPF
// maps of the marker programs: the peer map (kmesh_peers, address -> peer
// index) of the decrypt marker and the encrypt-target map
// (kmesh_encrypt_targets) of the encrypt marker, each with its IPv4 fast
// index (BpfIndexedMap). Every call changes one entry (a hash-map update or
// delete plus at most two atomic index writes), so the daemon updates the maps
// incrementally while the programs keep running. Keys are written with
// MarkerKeyFor (bpf/marker_key.h), the layout the programs look up. Kernel
// errors map to the interface's codes: a full map (E2BIG) is
// ResourceExhausted, a missing entry (ENOENT) NotFound, EPERM
// PermissionDenied; messages name the map, the address and the errno. One
// BpfMarkerMaps per set of maps at a time (it keeps the index bookkeeping).
#ifndef KMESH_LINUX_BPF_MARKER_MAPS_H_
#define KMESH_LINUX_BPF_MARKER_MAPS_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "kmesh/kernel/marker_maps.h"
#include "kmesh/linux/bpf_indexed_map.h"

namespace kmesh::linux_backend {

// The map names in the objects (and the file names when pinned).
inline constexpr char kPeerMapName[] = "kmesh_peers";
inline constexpr char kPeerIndexMapName[] = "kmesh_idx_peers";
inline constexpr char kEncryptTargetMapName[] = "kmesh_encrypt_targets";
inline constexpr char kEncryptTargetIndexMapName[] =
    "kmesh_idx_encrypt_targets";

// Open descriptors of the four maps.
struct MarkerMapFds {
  int peers = -1;
  int peer_index = -1;
  int encrypt_targets = -1;
  int encrypt_target_index = -1;
};

class BpfMarkerMaps : public MarkerMaps {
 public:
  // Over open map descriptors, which it duplicates (the caller keeps its
  // own). Repairs the IPv4 indexes from the hash maps. InvalidArgument when a
  // descriptor is not the marker map it should be.
  static absl::StatusOr<std::unique_ptr<BpfMarkerMaps>> FromFds(
      const MarkerMapFds& fds);

  // Over the maps a BpfMarkerLoader pinned in `pin_directory`.
  static absl::StatusOr<std::unique_ptr<BpfMarkerMaps>> OpenPinned(
      const std::string& pin_directory);

  absl::Status UpsertPeer(const IpAddress& address,
                          uint16_t peer_index) override;
  absl::Status DeletePeer(const IpAddress& address) override;
  absl::StatusOr<std::vector<PeerMarkerEntry>> DumpPeers() override;

  absl::Status UpsertEncryptTarget(const IpAddress& pod_ip) override;
  absl::Status DeleteEncryptTarget(const IpAddress& pod_ip) override;
  absl::StatusOr<std::vector<IpAddress>> DumpEncryptTargets() override;

  // How the IPv4 entries are indexed (for metrics and tests).
  BpfIndexedMap::Stats peer_index_stats() const { return peers_->stats(); }
  BpfIndexedMap::Stats encrypt_target_index_stats() const {
    return encrypt_targets_->stats();
  }

 private:
  BpfMarkerMaps(std::unique_ptr<BpfIndexedMap> peers,
                std::unique_ptr<BpfIndexedMap> encrypt_targets);

  std::unique_ptr<BpfIndexedMap> peers_;
  std::unique_ptr<BpfIndexedMap> encrypt_targets_;
};

}  // namespace kmesh::linux_backend

#endif  // KMESH_LINUX_BPF_MARKER_MAPS_H_
