#include "kmesh/linux/bpf_marker_maps.h"

#include <bpf/bpf.h>
#include <unistd.h>

#include <cerrno>

#include "absl/strings/str_cat.h"
#include "bpf/marker_decision.h"
#include "kmesh/linux/bpf_errors.h"

namespace kmesh::linux_backend {

absl::StatusOr<std::unique_ptr<BpfMarkerMaps>> BpfMarkerMaps::FromFds(
    const MarkerMapFds& fds) {
  absl::StatusOr<std::unique_ptr<BpfIndexedMap>> peers = BpfIndexedMap::Open(
      kPeerMapName, fds.peers, fds.peer_index, KMESH_PEER_INDEX_BUCKETS);
  if (!peers.ok()) return peers.status();
  absl::StatusOr<std::unique_ptr<BpfIndexedMap>> targets = BpfIndexedMap::Open(
      kEncryptTargetMapName, fds.encrypt_targets, fds.encrypt_target_index,
      KMESH_ENCRYPT_TARGET_INDEX_BUCKETS);
  if (!targets.ok()) return targets.status();
  return std::unique_ptr<BpfMarkerMaps>(
      new BpfMarkerMaps(*std::move(peers), *std::move(targets)));
}

absl::StatusOr<std::unique_ptr<BpfMarkerMaps>> BpfMarkerMaps::OpenPinned(
    const std::string& pin_directory) {
  MarkerMapFds fds;
  const struct {
    const char* name;
    int* fd;
  } pins[] = {{kPeerMapName, &fds.peers},
              {kPeerIndexMapName, &fds.peer_index},
              {kEncryptTargetMapName, &fds.encrypt_targets},
              {kEncryptTargetIndexMapName, &fds.encrypt_target_index}};
  absl::Status status;
  for (const auto& pin : pins) {
    const std::string path = absl::StrCat(pin_directory, "/", pin.name);
    *pin.fd = bpf_obj_get(path.c_str());
    if (*pin.fd < 0) {
      status = BpfErrnoStatus(errno, absl::StrCat("open ", path));
      break;
    }
  }
  absl::StatusOr<std::unique_ptr<BpfMarkerMaps>> maps =
      status.ok() ? FromFds(fds) : status;
  for (const auto& pin : pins) {
    if (*pin.fd >= 0) close(*pin.fd);
  }
  return maps;
}

BpfMarkerMaps::BpfMarkerMaps(std::unique_ptr<BpfIndexedMap> peers,
                             std::unique_ptr<BpfIndexedMap> encrypt_targets)
    : peers_(std::move(peers)), encrypt_targets_(std::move(encrypt_targets)) {}

absl::Status BpfMarkerMaps::UpsertPeer(const IpAddress& address,
                                       uint16_t peer_index) {
  if (peer_index < KMESH_PEER_INDEX_MIN) {
    return absl::InvalidArgumentError(
        absl::StrCat(kPeerMapName, ": index 0 is reserved (address ",
                     address.ToString(), ")"));
  }
  return peers_->Upsert(address, peer_index);
}

absl::Status BpfMarkerMaps::DeletePeer(const IpAddress& address) {
  return peers_->Delete(address);
}

absl::StatusOr<std::vector<PeerMarkerEntry>> BpfMarkerMaps::DumpPeers() {
  absl::StatusOr<std::vector<std::pair<IpAddress, uint32_t>>> entries =
      peers_->Dump();
  if (!entries.ok()) return entries.status();
  std::vector<PeerMarkerEntry> peers;
  peers.reserve(entries->size());
  for (const auto& [address, index] : *entries) {
    if (index < KMESH_PEER_INDEX_MIN || index > KMESH_PEER_INDEX_MAX) {
      return absl::DataLossError(absl::StrCat(kPeerMapName, ": ",
                                              address.ToString(),
                                              " has invalid index ", index));
    }
    peers.push_back({address, static_cast<uint16_t>(index)});
  }
  return peers;
}

absl::Status BpfMarkerMaps::UpsertEncryptTarget(const IpAddress& pod_ip) {
  return encrypt_targets_->Upsert(pod_ip, 1);
}

absl::Status BpfMarkerMaps::DeleteEncryptTarget(const IpAddress& pod_ip) {
  return encrypt_targets_->Delete(pod_ip);
}

absl::StatusOr<std::vector<IpAddress>> BpfMarkerMaps::DumpEncryptTargets() {
  absl::StatusOr<std::vector<std::pair<IpAddress, uint32_t>>> entries =
      encrypt_targets_->Dump();
  if (!entries.ok()) return entries.status();
  std::vector<IpAddress> targets;
  targets.reserve(entries->size());
  for (const auto& entry : *entries) targets.push_back(entry.first);
  return targets;
}

}  // namespace kmesh::linux_backend
