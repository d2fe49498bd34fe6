#include "kmesh/linux/bpf_marker_maps.h"

#include <bpf/bpf.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <set>

#include "absl/strings/str_cat.h"
#include "kmesh/linux/bpf_errors.h"

namespace kmesh::linux_backend {
namespace {

int MaxLength(IpFamily family) { return family == IpFamily::kV4 ? 32 : 128; }

// Maps `fd` (kmesh_cidr_lens: a one-element mmapable array of
// kmesh_marker_cidr_lengths) read-write.
absl::StatusOr<kmesh_marker_cidr_lengths*> MapLengths(int fd, size_t* bytes) {
  bpf_map_info info;
  std::memset(&info, 0, sizeof(info));
  uint32_t length = sizeof(info);
  if (bpf_obj_get_info_by_fd(fd, &info, &length) != 0) {
    return BpfErrnoStatus(errno,
                          absl::StrCat("inspect map ", kCidrLengthsMapName));
  }
  if (info.type != BPF_MAP_TYPE_ARRAY || info.max_entries != 1 ||
      info.value_size != sizeof(kmesh_marker_cidr_lengths) ||
      (info.map_flags & BPF_F_MMAPABLE) == 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "map ", kCidrLengthsMapName, " (", info.name,
        ") is not the CIDR length list: type ", info.type, ", ",
        info.max_entries, " entries of ", info.value_size, " bytes"));
  }
  *bytes = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  void* mapped =
      mmap(nullptr, *bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (mapped == MAP_FAILED) {
    return BpfErrnoStatus(errno,
                          absl::StrCat("mmap map ", kCidrLengthsMapName));
  }
  return static_cast<kmesh_marker_cidr_lengths*>(mapped);
}

}  // namespace

absl::StatusOr<std::unique_ptr<BpfMarkerMaps>> BpfMarkerMaps::FromFds(
    const MarkerMapFds& fds) {
  absl::StatusOr<std::unique_ptr<BpfIndexedMap>> peers = BpfIndexedMap::Open(
      kPeerMapName, fds.peers, fds.peer_index, KMESH_PEER_INDEX_BUCKETS,
      fds.peer_index6, KMESH_PEER_INDEX6_BUCKETS);
  if (!peers.ok()) return peers.status();
  absl::StatusOr<std::unique_ptr<BpfIndexedMap>> unmanaged =
      BpfIndexedMap::Open(kUnmanagedMapName, fds.unmanaged, fds.unmanaged_index,
                          KMESH_UNMANAGED_INDEX_BUCKETS, fds.unmanaged_index6,
                          KMESH_UNMANAGED_INDEX6_BUCKETS);
  if (!unmanaged.ok()) return unmanaged.status();
  absl::StatusOr<std::unique_ptr<BpfIndexedMap>> cidrs = BpfIndexedMap::Open(
      kEncryptCidrMapName, fds.encrypt_cidrs, fds.encrypt_cidr_index,
      KMESH_ENCRYPT_CIDR_INDEX_BUCKETS, fds.encrypt_cidr_index6,
      KMESH_ENCRYPT_CIDR_INDEX6_BUCKETS);
  if (!cidrs.ok()) return cidrs.status();
  size_t bytes = 0;
  absl::StatusOr<kmesh_marker_cidr_lengths*> lengths =
      MapLengths(fds.cidr_lengths, &bytes);
  if (!lengths.ok()) return lengths.status();
  std::unique_ptr<BpfMarkerMaps> maps(
      new BpfMarkerMaps(*std::move(peers), *std::move(unmanaged),
                        *std::move(cidrs), *lengths, bytes));
  if (absl::Status s = maps->RepairLengths(); !s.ok()) return s;
  return maps;
}

absl::StatusOr<std::unique_ptr<BpfMarkerMaps>> BpfMarkerMaps::OpenPinned(
    const std::string& pin_directory) {
  MarkerMapFds fds;
  const struct {
    const char* name;
    int* fd;
  } pins[] = {{kPeerMapName, &fds.peers},
              {kPeerIndexMapName, &fds.peer_index},
              {kPeerIndex6MapName, &fds.peer_index6},
              {kUnmanagedMapName, &fds.unmanaged},
              {kUnmanagedIndexMapName, &fds.unmanaged_index},
              {kUnmanagedIndex6MapName, &fds.unmanaged_index6},
              {kEncryptCidrMapName, &fds.encrypt_cidrs},
              {kEncryptCidrIndexMapName, &fds.encrypt_cidr_index},
              {kEncryptCidrIndex6MapName, &fds.encrypt_cidr_index6},
              {kCidrLengthsMapName, &fds.cidr_lengths}};
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
                             std::unique_ptr<BpfIndexedMap> unmanaged,
                             std::unique_ptr<BpfIndexedMap> cidrs,
                             kmesh_marker_cidr_lengths* lengths,
                             size_t mapped_bytes)
    : peers_(std::move(peers)),
      unmanaged_(std::move(unmanaged)),
      cidrs_(std::move(cidrs)),
      lengths_(lengths),
      mapped_bytes_(mapped_bytes) {}

BpfMarkerMaps::~BpfMarkerMaps() { munmap(lengths_, mapped_bytes_); }

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

absl::Status BpfMarkerMaps::RepairLengths() {
  absl::StatusOr<std::vector<std::pair<IpAddress, uint32_t>>> entries =
      cidrs_->Dump();
  if (!entries.ok()) return entries.status();
  absl::MutexLock lock(&mu_);
  cidr_of_.clear();
  cidr_count_.clear();
  for (const auto& [network, length] : *entries) {
    if (length == 0 || static_cast<int>(length) > MaxLength(network.family())) {
      return absl::DataLossError(absl::StrCat(kEncryptCidrMapName, ": ",
                                              network.ToString(),
                                              " has invalid length ", length));
    }
    cidr_of_[network] = static_cast<int>(length);
    ++cidr_count_[{network.family(), static_cast<int>(length)}];
  }
  PublishLengths(IpFamily::kV4);
  PublishLengths(IpFamily::kV6);
  return absl::OkStatus();
}

void BpfMarkerMaps::PublishLengths(IpFamily family) {
  __u64 list = 0;
  int n = 0;
  for (const auto& [key, count] : cidr_count_) {
    if (key.first != family || count == 0) continue;
    // A program ignores lengths past KMESH_CIDR_LENGTHS; Upsert refuses a
    // fifth one, so only a map written by someone else can have more.
    if (n == KMESH_CIDR_LENGTHS) break;
    list |= static_cast<__u64>(key.second + 1) << (8 * n++);
  }
  __u64* word = family == IpFamily::kV4 ? &lengths_->v4 : &lengths_->v6;
  __atomic_store_n(word, list, __ATOMIC_RELEASE);
}

absl::Status BpfMarkerMaps::UpsertEncryptCidr(const IpPrefix& cidr) {
  if (cidr.length() == 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        kEncryptCidrMapName, ": ", cidr.ToString(), " covers every address"));
  }
  absl::MutexLock lock(&mu_);
  auto it = cidr_of_.find(cidr.address());
  if (it != cidr_of_.end()) {
    if (it->second == cidr.length()) return absl::OkStatus();
    return absl::AlreadyExistsError(
        absl::StrCat(kEncryptCidrMapName, ": ", cidr.ToString(), " overlaps ",
                     IpPrefix(cidr.address(), it->second).ToString()));
  }
  const std::pair<IpFamily, int> length_key = {cidr.family(), cidr.length()};
  const bool new_length = cidr_count_[length_key] == 0;
  if (new_length) {
    int lengths = 0;
    for (const auto& [key, count] : cidr_count_) {
      if (key.first == cidr.family() && count > 0) ++lengths;
    }
    if (lengths >= kMaxEncryptCidrLengths) {
      cidr_count_.erase(length_key);
      return absl::ResourceExhaustedError(absl::StrCat(
          kEncryptCidrMapName, ": ", cidr.ToString(),
          " would be prefix length ", lengths + 1, " of its family (at most ",
          kMaxEncryptCidrLengths, ")"));
    }
  }
  // The entry first, then its length: a program never looks for a length
  // whose entries are not there yet (and a miss would only mean "not yet").
  if (absl::Status s = cidrs_->Upsert(cidr.address(), cidr.length()); !s.ok()) {
    if (new_length) cidr_count_.erase(length_key);
    return s;
  }
  cidr_of_[cidr.address()] = cidr.length();
  ++cidr_count_[length_key];
  if (new_length) PublishLengths(cidr.family());
  return absl::OkStatus();
}

absl::Status BpfMarkerMaps::DeleteEncryptCidr(const IpPrefix& cidr) {
  absl::MutexLock lock(&mu_);
  auto it = cidr_of_.find(cidr.address());
  if (it == cidr_of_.end() || it->second != cidr.length()) {
    return absl::NotFoundError(absl::StrCat(
        kEncryptCidrMapName, ": no entry for ", cidr.ToString(), " (ENOENT)"));
  }
  if (absl::Status s = cidrs_->Delete(cidr.address()); !s.ok()) return s;
  cidr_of_.erase(it);
  const std::pair<IpFamily, int> length_key = {cidr.family(), cidr.length()};
  if (--cidr_count_[length_key] <= 0) {
    cidr_count_.erase(length_key);
    PublishLengths(cidr.family());
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<IpPrefix>> BpfMarkerMaps::DumpEncryptCidrs() {
  absl::StatusOr<std::vector<std::pair<IpAddress, uint32_t>>> entries =
      cidrs_->Dump();
  if (!entries.ok()) return entries.status();
  std::vector<IpPrefix> cidrs;
  cidrs.reserve(entries->size());
  for (const auto& [network, length] : *entries) {
    cidrs.emplace_back(network, static_cast<int>(length));
  }
  return cidrs;
}

absl::Status BpfMarkerMaps::UpsertUnmanagedPod(const IpAddress& pod_ip) {
  return unmanaged_->Upsert(pod_ip, 1);
}

absl::Status BpfMarkerMaps::DeleteUnmanagedPod(const IpAddress& pod_ip) {
  return unmanaged_->Delete(pod_ip);
}

absl::StatusOr<std::vector<IpAddress>> BpfMarkerMaps::DumpUnmanagedPods() {
  absl::StatusOr<std::vector<std::pair<IpAddress, uint32_t>>> entries =
      unmanaged_->Dump();
  if (!entries.ok()) return entries.status();
  std::vector<IpAddress> pods;
  pods.reserve(entries->size());
  for (const auto& entry : *entries) pods.push_back(entry.first);
  return pods;
}

}  // namespace kmesh::linux_backend
