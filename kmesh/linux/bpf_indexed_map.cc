#include "kmesh/linux/bpf_indexed_map.h"

#include <bpf/bpf.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <set>

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

std::array<uint32_t, 4> Words6Of(const kmesh_marker_ip_key& key) {
  return {key.addr[0], key.addr[1], key.addr[2], key.addr[3]};
}

// An IPv6 entry's address, value and generation, read back from its words
// (generation 0 when the words disagree or the slot is empty).
struct Entry6 {
  std::array<uint32_t, 4> addr;
  uint32_t value = 0;
  uint8_t generation = 0;
};

Entry6 DecodeEntry6(const __u64* words) {
  const __u64 w0 = LoadSlot(&words[0]);
  const __u64 w1 = LoadSlot(&words[1]);
  const __u64 w2 = LoadSlot(&words[2]);
  Entry6 e;
  e.addr = {static_cast<uint32_t>(w0),
            static_cast<uint32_t>((w0 >> 32) & 0xffffffu) |
                static_cast<uint32_t>((w1 & 0xff) << 24),
            static_cast<uint32_t>(w1 >> 8),
            static_cast<uint32_t>((w1 >> 40) & 0xffffu) |
                static_cast<uint32_t>((w2 & 0xffffu) << 16)};
  e.value = static_cast<uint32_t>((w2 & KMESH_INDEX6_VALUE_MASK) >>
                                  KMESH_INDEX6_VALUE_SHIFT);
  const __u64 g = w0 & KMESH_INDEX6_GEN_MASK;
  if (g != 0 && (w1 & KMESH_INDEX6_GEN_MASK) == g &&
      (w2 & KMESH_INDEX6_GEN_MASK) == g) {
    e.generation = static_cast<uint8_t>(g >> KMESH_INDEX6_GEN_SHIFT);
  }
  return e;
}

}  // namespace

absl::StatusOr<std::unique_ptr<BpfIndexedMap>> BpfIndexedMap::Open(
    const std::string& name, int map_fd, int index_fd, uint32_t buckets,
    int index6_fd, uint32_t buckets6) {
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
  absl::StatusOr<bpf_map_info> index6 = MapInfo(index6_fd, name);
  if (!index6.ok()) return index6.status();
  if (index6->type != BPF_MAP_TYPE_ARRAY ||
      index6->value_size != sizeof(kmesh_marker_index6_bucket) ||
      index6->max_entries != buckets6 ||
      (index6->map_flags & BPF_F_MMAPABLE) == 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "map ", name, " IPv6 index (", index6->name,
        ") is not a marker index: type ", index6->type, ", value ",
        index6->value_size, " bytes, ", index6->max_entries, " buckets (want ",
        buckets6, "), flags ", index6->map_flags));
  }
  const size_t bytes = size_t{buckets} * sizeof(kmesh_marker_index_bucket);
  void* mapped =
      mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, index_fd, 0);
  if (mapped == MAP_FAILED) {
    return BpfErrnoStatus(errno, absl::StrCat("mmap index of map ", name));
  }
  const size_t bytes6 = size_t{buckets6} * sizeof(kmesh_marker_index6_bucket);
  void* mapped6 =
      mmap(nullptr, bytes6, PROT_READ | PROT_WRITE, MAP_SHARED, index6_fd, 0);
  if (mapped6 == MAP_FAILED) {
    const int err = errno;
    munmap(mapped, bytes);
    return BpfErrnoStatus(err, absl::StrCat("mmap IPv6 index of map ", name));
  }
  const int own_map = Duplicate(map_fd);
  const int own_index = own_map < 0 ? -1 : Duplicate(index_fd);
  const int own_index6 = own_index < 0 ? -1 : Duplicate(index6_fd);
  if (own_index6 < 0) {
    const int err = errno;
    if (own_map >= 0) close(own_map);
    if (own_index >= 0) close(own_index);
    munmap(mapped, bytes);
    munmap(mapped6, bytes6);
    return BpfErrnoStatus(err, absl::StrCat("duplicate fd of map ", name));
  }
  std::unique_ptr<BpfIndexedMap> indexed(new BpfIndexedMap(
      name, own_map, own_index, buckets,
      static_cast<kmesh_marker_index_bucket*>(mapped), bytes, own_index6,
      buckets6, static_cast<kmesh_marker_index6_bucket*>(mapped6), bytes6));
  if (absl::Status s = indexed->Repair(); !s.ok()) return s;
  return indexed;
}

BpfIndexedMap::BpfIndexedMap(std::string name, int map_fd, int index_fd,
                             uint32_t buckets, kmesh_marker_index_bucket* index,
                             size_t mapped_bytes, int index6_fd,
                             uint32_t buckets6,
                             kmesh_marker_index6_bucket* index6,
                             size_t mapped6_bytes)
    : name_(std::move(name)),
      map_fd_(map_fd),
      index_fd_(index_fd),
      buckets_(buckets),
      index_(index),
      mapped_bytes_(mapped_bytes),
      index6_fd_(index6_fd),
      buckets6_(buckets6),
      index6_(index6),
      mapped6_bytes_(mapped6_bytes),
      generation6_(size_t{buckets6} * KMESH_INDEX6_ENTRIES, 0) {}

BpfIndexedMap::~BpfIndexedMap() {
  munmap(index_, mapped_bytes_);
  munmap(index6_, mapped6_bytes_);
  close(map_fd_);
  close(index_fd_);
  close(index6_fd_);
}

absl::Status BpfIndexedMap::Repair() {
  absl::StatusOr<std::vector<std::pair<IpAddress, uint32_t>>> entries = Dump();
  if (!entries.ok()) return entries.status();
  absl::flat_hash_map<uint32_t, uint32_t> v4;  // Address word -> value.
  std::map<Words6, uint32_t> v6;
  for (const auto& [address, value] : *entries) {
    if (address.is_v4()) {
      v4[WordOf(MarkerKeyFor(address))] = value;
    } else {
      v6[Words6Of(MarkerKeyFor(address))] = value;
    }
  }
  absl::MutexLock lock(&mu_);
  Repair6(v6);
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
  if (!address.is_v4()) return Upsert6(Words6Of(key), value);
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
  } else {
    // Likewise: the entry first (the key stays in the books of an
    // overflowed bucket if the delete fails, as a key the hash map has).
    const Words6 addr = Words6Of(key);
    const uint32_t b6 = kmesh_marker_index6_bucket_of(addr.data(), buckets6_);
    const int entry = Find6(b6, addr);
    uint32_t value = 0;
    if (entry >= 0) {
      value = DecodeEntry6(&index6_[b6].word[3 * entry]).value;
      Clear6(b6, entry);
    }
    if (bpf_map_delete_elem(map_fd_, &key) != 0) {
      const int err = errno;
      if (entry >= 0) Write6(b6, entry, addr, value);  // Still in the map.
      return BpfErrnoStatus(
          err, absl::StrCat(name_, ": delete ", address.ToString()));
    }
    if (entry >= 0) {
      Promote6(b6);
    } else {
      Unindex6(addr);
    }
    return absl::OkStatus();
  }
  if (bpf_map_delete_elem(map_fd_, &key) != 0) {
    return BpfErrnoStatus(errno,
                          absl::StrCat(name_, ": delete ", address.ToString()));
  }
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

int BpfIndexedMap::Find6(uint32_t bucket, const Words6& addr) const {
  for (int i = 0; i < KMESH_INDEX6_ENTRIES; ++i) {
    const Entry6 e = DecodeEntry6(&index6_[bucket].word[3 * i]);
    if (e.generation != 0 && e.addr == addr) return i;
  }
  return -1;
}

void BpfIndexedMap::Write6(uint32_t bucket, int entry, const Words6& addr,
                           uint32_t value) {
  __u64* words = &index6_[bucket].word[3 * entry];
  uint8_t& generation = generation6_[size_t{bucket} * KMESH_INDEX6_ENTRIES +
                                     static_cast<size_t>(entry)];
  const Entry6 current = DecodeEntry6(words);
  __u64 w[3];
  if (current.generation != 0 && current.addr == addr) {
    // A new value for the same key: w2 alone, same generation.
    kmesh_marker_index6_words(addr.data(), value, current.generation, w);
    StoreSlot(&words[2], w[2]);
    return;
  }
  // A new entry: a generation the slot did not have last.
  generation = static_cast<uint8_t>(generation % 255 + 1);
  kmesh_marker_index6_words(addr.data(), value, generation, w);
  StoreSlot(&words[2], w[2]);
  StoreSlot(&words[1], w[1]);
  StoreSlot(&words[0], w[0]);
}

void BpfIndexedMap::Clear6(uint32_t bucket, int entry) {
  __u64* words = &index6_[bucket].word[3 * entry];
  StoreSlot(&words[0], 0);
  StoreSlot(&words[1], 0);
  StoreSlot(&words[2], 0);
}

void BpfIndexedMap::Place6(const Words6& addr, uint32_t value) {
  const uint32_t b = kmesh_marker_index6_bucket_of(addr.data(), buckets6_);
  for (int i = 0; i < KMESH_INDEX6_ENTRIES; ++i) {
    if (LoadSlot(&index6_[b].word[3 * i]) == 0) {
      Write6(b, i, addr, value);
      return;
    }
  }
  overflowed6_[b].push_back(addr);
  __atomic_fetch_or(&index6_[b].meta, KMESH_INDEX_OVERFLOW, __ATOMIC_RELEASE);
}

void BpfIndexedMap::Promote6(uint32_t b) {
  auto it = overflowed6_.find(b);
  if (it == overflowed6_.end()) return;
  const Words6 addr = it->second.back();
  kmesh_marker_ip_key key;
  std::memset(&key, 0, sizeof(key));
  key.family = KMESH_MARKER_FAMILY_V6;
  std::memcpy(key.addr, addr.data(), sizeof(key.addr));
  uint32_t value = 0;
  if (bpf_map_lookup_elem(map_fd_, &key, &value) != 0) return;
  for (int i = 0; i < KMESH_INDEX6_ENTRIES; ++i) {
    if (LoadSlot(&index6_[b].word[3 * i]) == 0) {
      // The entry first, then the overflow bit: the key stays visible.
      Write6(b, i, addr, value);
      it->second.pop_back();
      if (it->second.empty()) {
        overflowed6_.erase(it);
        __atomic_fetch_and(&index6_[b].meta, ~KMESH_INDEX_OVERFLOW,
                           __ATOMIC_RELEASE);
      }
      return;
    }
  }
}

absl::Status BpfIndexedMap::Upsert6(const Words6& addr, uint32_t value) {
  const uint32_t b = kmesh_marker_index6_bucket_of(addr.data(), buckets6_);
  if (const int entry = Find6(b, addr); entry >= 0) {
    Write6(b, entry, addr, value);
    return absl::OkStatus();
  }
  auto it = overflowed6_.find(b);
  if (it != overflowed6_.end() &&
      std::find(it->second.begin(), it->second.end(), addr) !=
          it->second.end()) {
    return absl::OkStatus();  // Lives in the hash map, already updated.
  }
  Place6(addr, value);
  return absl::OkStatus();
}

void BpfIndexedMap::Unindex6(const Words6& addr) {
  const uint32_t b = kmesh_marker_index6_bucket_of(addr.data(), buckets6_);
  auto it = overflowed6_.find(b);
  if (it == overflowed6_.end()) return;
  it->second.erase(std::remove(it->second.begin(), it->second.end(), addr),
                   it->second.end());
  if (it->second.empty()) {
    overflowed6_.erase(it);
    __atomic_fetch_and(&index6_[b].meta, ~KMESH_INDEX_OVERFLOW,
                       __ATOMIC_RELEASE);
  }
}

void BpfIndexedMap::Repair6(const std::map<Words6, uint32_t>& v6) {
  overflowed6_.clear();
  std::set<Words6> indexed;
  for (uint32_t b = 0; b < buckets6_; ++b) {
    for (int i = 0; i < KMESH_INDEX6_ENTRIES; ++i) {
      __u64* words = &index6_[b].word[3 * i];
      if (LoadSlot(&words[0]) == 0 && LoadSlot(&words[1]) == 0 &&
          LoadSlot(&words[2]) == 0) {
        continue;
      }
      const Entry6 e = DecodeEntry6(words);
      generation6_[size_t{b} * KMESH_INDEX6_ENTRIES + i] = e.generation;
      auto it = v6.find(e.addr);
      if (e.generation == 0 || it == v6.end() || indexed.count(e.addr) ||
          kmesh_marker_index6_bucket_of(e.addr.data(), buckets6_) != b) {
        Clear6(b, i);
        continue;
      }
      if (e.value != it->second) Write6(b, i, e.addr, it->second);
      indexed.insert(e.addr);
    }
  }
  for (const auto& [addr, value] : v6) {
    if (!indexed.count(addr)) Place6(addr, value);
  }
  for (uint32_t b = 0; b < buckets6_; ++b) {
    if (!overflowed6_.contains(b)) {
      __atomic_fetch_and(&index6_[b].meta, ~KMESH_INDEX_OVERFLOW,
                         __ATOMIC_RELEASE);
    }
  }
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
  for (uint32_t b = 0; b < buckets6_; ++b) {
    for (int i = 0; i < KMESH_INDEX6_ENTRIES; ++i) {
      if (DecodeEntry6(&index6_[b].word[3 * i]).generation != 0) {
        ++stats.indexed6;
      }
    }
    if (LoadSlot(&index6_[b].meta) & KMESH_INDEX_OVERFLOW) {
      ++stats.overflow_buckets6;
    }
  }
  for (const auto& [bucket, keys] : overflowed6_) {
    stats.overflowed6 += keys.size();
  }
  return stats;
}

}  // namespace kmesh::linux_backend
