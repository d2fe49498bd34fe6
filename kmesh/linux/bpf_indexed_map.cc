#include "kmesh/linux/bpf_indexed_map.h"

#include <bpf/bpf.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "bpf/marker_key.h"
#include "kmesh/linux/bpf_errors.h"

namespace kmesh::linux_backend {
namespace {

// Entries fetched per BPF_MAP_LOOKUP_BATCH call when dumping.
constexpr uint32_t kDumpChunk = 4096;

absl::StatusOr<bpf_map_info> MapInfo(int fd, const std::string& name) {
  bpf_map_info info;
  std::memset(&info, 0, sizeof(info));
  uint32_t length = sizeof(info);
  if (bpf_obj_get_info_by_fd(fd, &info, &length) != 0) {
    return BpfErrnoStatus(errno, absl::StrCat("inspect map ", name));
  }
  return info;
}

int Duplicate(int fd) { return fcntl(fd, F_DUPFD_CLOEXEC, 0); }

void StoreSlot(__u64* slot, __u64 value) {
  __atomic_store_n(slot, value, __ATOMIC_RELEASE);
}

__u64 LoadSlot(const __u64* slot) {
  return __atomic_load_n(slot, __ATOMIC_ACQUIRE);
}

uint32_t WordOf(const kmesh_marker_ip_key& key) { return key.addr[0]; }

}  // namespace

absl::StatusOr<std::unique_ptr<BpfIndexedMap>> BpfIndexedMap::Open(
    const std::string& name, int map_fd, int index_fd, uint32_t buckets) {
  absl::StatusOr<bpf_map_info> map = MapInfo(map_fd, name);
  if (!map.ok()) return map.status();
  if (map->type != BPF_MAP_TYPE_HASH ||
      map->key_size != sizeof(kmesh_marker_ip_key) ||
      map->value_size != sizeof(__u32)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "map ", name, " (", map->name, ") is not a marker map: type ",
        map->type, ", key ", map->key_size, " bytes, value ", map->value_size,
        " bytes"));
  }
  absl::StatusOr<bpf_map_info> index = MapInfo(index_fd, name);
  if (!index.ok()) return index.status();
  if (index->type != BPF_MAP_TYPE_ARRAY ||
      index->value_size != sizeof(kmesh_marker_index_bucket) ||
      index->max_entries != buckets ||
      (index->map_flags & BPF_F_MMAPABLE) == 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "map ", name, " index (", index->name, ") is not a marker index: type ",
        index->type, ", value ", index->value_size, " bytes, ",
        index->max_entries, " buckets (want ", buckets, "), flags ",
        index->map_flags));
  }
  const size_t bytes = size_t{buckets} * sizeof(kmesh_marker_index_bucket);
  void* mapped =
      mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, index_fd, 0);
  if (mapped == MAP_FAILED) {
    return BpfErrnoStatus(errno, absl::StrCat("mmap index of map ", name));
  }
  const int own_map = Duplicate(map_fd);
  const int own_index = own_map < 0 ? -1 : Duplicate(index_fd);
  if (own_index < 0) {
    const int err = errno;
    if (own_map >= 0) close(own_map);
    munmap(mapped, bytes);
    return BpfErrnoStatus(err, absl::StrCat("duplicate fd of map ", name));
  }
  std::unique_ptr<BpfIndexedMap> indexed(new BpfIndexedMap(
      name, own_map, own_index, buckets,
      static_cast<kmesh_marker_index_bucket*>(mapped), bytes));
  if (absl::Status s = indexed->Repair(); !s.ok()) return s;
  return indexed;
}

BpfIndexedMap::BpfIndexedMap(std::string name, int map_fd, int index_fd,
                             uint32_t buckets, kmesh_marker_index_bucket* index,
                             size_t mapped_bytes)
    : name_(std::move(name)),
      map_fd_(map_fd),
      index_fd_(index_fd),
      buckets_(buckets),
      index_(index),
      mapped_bytes_(mapped_bytes) {}

BpfIndexedMap::~BpfIndexedMap() {
  munmap(index_, mapped_bytes_);
  close(map_fd_);
  close(index_fd_);
}

absl::Status BpfIndexedMap::Repair() {
  absl::StatusOr<std::vector<std::pair<IpAddress, uint32_t>>> entries = Dump();
  if (!entries.ok()) return entries.status();
  absl::flat_hash_map<uint32_t, uint32_t> v4;  // Address word -> value.
  for (const auto& [address, value] : *entries) {
    if (address.is_v4()) v4[WordOf(MarkerKeyFor(address))] = value;
  }
  absl::MutexLock lock(&mu_);
  overflowed_.clear();
  // Slots: drop tags of keys the hash map no longer has, fix stale values.
  absl::flat_hash_set<uint32_t> indexed;
  for (uint32_t b = 0; b < buckets_; ++b) {
    kmesh_marker_index_bucket& bucket = index_[b];
    for (__u64& slot : bucket.slot) {
      const __u64 tag = LoadSlot(&slot);
      if (tag == 0) continue;
      const uint32_t word = static_cast<uint32_t>(tag);
      auto it = v4.find(word);
      if (it == v4.end() || indexed.contains(word) ||
          kmesh_marker_index_bucket_of(word, buckets_) != b ||
          !kmesh_marker_index_holds(tag, word)) {
        StoreSlot(&slot, 0);
        continue;
      }
      StoreSlot(&slot, kmesh_marker_index_tag(word, it->second));
      indexed.insert(word);
    }
  }
  // Keys without a slot get one, or overflow.
  for (const auto& [word, value] : v4) {
    if (!indexed.contains(word)) Place(word, value);
  }
  // Overflow bits only where overflowed keys remain.
  for (uint32_t b = 0; b < buckets_; ++b) {
    if (!overflowed_.contains(b)) {
      __atomic_fetch_and(&index_[b].meta, ~KMESH_INDEX_OVERFLOW,
                         __ATOMIC_RELEASE);
    }
  }
  return absl::OkStatus();
}

void BpfIndexedMap::Place(uint32_t word, uint32_t value) {
  const uint32_t b = kmesh_marker_index_bucket_of(word, buckets_);
  kmesh_marker_index_bucket& bucket = index_[b];
  for (__u64& slot : bucket.slot) {
    if (LoadSlot(&slot) == 0) {
      StoreSlot(&slot, kmesh_marker_index_tag(word, value));
      return;
    }
  }
  overflowed_[b].push_back(word);
  __atomic_fetch_or(&bucket.meta, KMESH_INDEX_OVERFLOW, __ATOMIC_RELEASE);
}

void BpfIndexedMap::Promote(uint32_t b) {
  auto it = overflowed_.find(b);
  if (it == overflowed_.end()) return;
  const uint32_t word = it->second.back();
  kmesh_marker_ip_key key;
  std::memset(&key, 0, sizeof(key));
  key.family = KMESH_MARKER_FAMILY_V4;
  key.addr[0] = word;
  uint32_t value = 0;
  if (bpf_map_lookup_elem(map_fd_, &key, &value) != 0) return;
  for (__u64& slot : index_[b].slot) {
    if (LoadSlot(&slot) == 0) {
      // The tag first, then the overflow bit: the key stays visible.
      StoreSlot(&slot, kmesh_marker_index_tag(word, value));
      it->second.pop_back();
      if (it->second.empty()) {
        overflowed_.erase(it);
        __atomic_fetch_and(&index_[b].meta, ~KMESH_INDEX_OVERFLOW,
                           __ATOMIC_RELEASE);
      }
      return;
    }
  }
}

absl::Status BpfIndexedMap::Upsert(const IpAddress& address, uint32_t value) {
  const kmesh_marker_ip_key key = MarkerKeyFor(address);
  absl::MutexLock lock(&mu_);
  // The hash map first: a tag never names a key the hash map lacks.
  if (bpf_map_update_elem(map_fd_, &key, &value, BPF_ANY) != 0) {
    return BpfErrnoStatus(errno,
                          absl::StrCat(name_, ": update ", address.ToString()));
  }
  if (!address.is_v4()) return absl::OkStatus();
  const uint32_t word = WordOf(key);
  const uint32_t b = kmesh_marker_index_bucket_of(word, buckets_);
  for (__u64& slot : index_[b].slot) {
    if (kmesh_marker_index_holds(LoadSlot(&slot), word)) {
      StoreSlot(&slot, kmesh_marker_index_tag(word, value));
      return absl::OkStatus();
    }
  }
  auto it = overflowed_.find(b);
  if (it != overflowed_.end() && std::find(it->second.begin(), it->second.end(),
                                           word) != it->second.end()) {
    return absl::OkStatus();  // Lives in the hash map, already updated.
  }
  Place(word, value);
  return absl::OkStatus();
}

absl::Status BpfIndexedMap::Delete(const IpAddress& address) {
  const kmesh_marker_ip_key key = MarkerKeyFor(address);
  absl::MutexLock lock(&mu_);
  bool freed_slot = false;
  const uint32_t word = WordOf(key);
  const uint32_t b = kmesh_marker_index_bucket_of(word, buckets_);
  if (address.is_v4()) {
    // The tag first: a tag never names a key the hash map lacks.
    for (__u64& slot : index_[b].slot) {
      if (kmesh_marker_index_holds(LoadSlot(&slot), word)) {
        StoreSlot(&slot, 0);
        freed_slot = true;
        break;
      }
    }
  }
  if (bpf_map_delete_elem(map_fd_, &key) != 0) {
    return BpfErrnoStatus(errno,
                          absl::StrCat(name_, ": delete ", address.ToString()));
  }
  if (!address.is_v4()) return absl::OkStatus();
  if (freed_slot) {
    Promote(b);
    return absl::OkStatus();
  }
  auto it = overflowed_.find(b);
  if (it == overflowed_.end()) return absl::OkStatus();
  it->second.erase(std::remove(it->second.begin(), it->second.end(), word),
                   it->second.end());
  if (it->second.empty()) {
    overflowed_.erase(it);
    __atomic_fetch_and(&index_[b].meta, ~KMESH_INDEX_OVERFLOW,
                       __ATOMIC_RELEASE);
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<std::pair<IpAddress, uint32_t>>>
BpfIndexedMap::Dump() const {
  std::vector<std::pair<IpAddress, uint32_t>> out;
  std::vector<kmesh_marker_ip_key> keys(kDumpChunk);
  std::vector<uint32_t> values(kDumpChunk);
  bpf_map_batch_opts opts;
  std::memset(&opts, 0, sizeof(opts));
  opts.sz = sizeof(opts);
  uint32_t in_batch = 0;
  uint32_t out_batch = 0;
  bool first = true;
  for (;;) {
    uint32_t count = kDumpChunk;
    const int rc =
        bpf_map_lookup_batch(map_fd_, first ? nullptr : &in_batch, &out_batch,
                             keys.data(), values.data(), &count, &opts);
    const int err = rc != 0 ? errno : 0;
    if (rc != 0 && err != ENOENT) {
      return BpfErrnoStatus(err, absl::StrCat(name_, ": dump"));
    }
    for (uint32_t i = 0; i < count; ++i) {
      absl::StatusOr<IpAddress> address = IpAddressFromMarkerKey(keys[i]);
      if (!address.ok()) {
        return absl::DataLossError(
            absl::StrCat(name_, ": dump: ", address.status().message()));
      }
      out.emplace_back(*address, values[i]);
    }
    if (err == ENOENT) return out;  // The last batch.
    in_batch = out_batch;
    first = false;
  }
}

BpfIndexedMap::Stats BpfIndexedMap::stats() const {
  absl::MutexLock lock(&mu_);
  Stats stats;
  for (uint32_t b = 0; b < buckets_; ++b) {
    for (const __u64& slot : index_[b].slot) {
      if (LoadSlot(&slot) != 0) ++stats.indexed;
    }
    if (LoadSlot(&index_[b].meta) & KMESH_INDEX_OVERFLOW) {
      ++stats.overflow_buckets;
    }
  }
  for (const auto& [bucket, words] : overflowed_) {
    stats.overflowed += words.size();
  }
  return stats;
}

}  // namespace kmesh::linux_backend
