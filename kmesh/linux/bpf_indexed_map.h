// BpfIndexedMap: one marker map as user space writes it: the BPF hash map
// keyed by address (authoritative) together with its fast indexes, mmap'ed
// BPF arrays of buckets: 64-byte buckets of 64-bit tags for IPv4 keys, and
// 128-byte buckets of three-word entries for IPv6 keys
// (bpf/marker_decision.h explains both and why: an array lookup costs a few
// ns per packet, a hash-map lookup 15-50). Every write keeps the invariant
// the marker programs rely on: each key of the hash map is in its bucket, or
// its bucket's overflow bit is set; index words are stored with single atomic
// 64-bit writes (IPv6 entries carry a generation in each word), ordered so a
// concurrent program sees a key either before or after a change, never a
// torn or lost key. Opening
// repairs the index from the hash map (after a restart with pinned maps, or a
// crash between two writes). One writer per map at a time; thread-safe.
#ifndef KMESH_LINUX_BPF_INDEXED_MAP_H_
#define KMESH_LINUX_BPF_INDEXED_MAP_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "bpf/marker_decision.h"
#include "kmesh/base/ip_address.h"

namespace kmesh::linux_backend {

class BpfIndexedMap {
 public:
  struct Stats {
    size_t indexed = 0;           // IPv4 keys answered from their bucket.
    size_t overflowed = 0;        // IPv4 keys only in the hash map.
    size_t overflow_buckets = 0;  // Buckets with the overflow bit set.
    size_t indexed6 = 0;          // The same for IPv6 keys.
    size_t overflowed6 = 0;
    size_t overflow_buckets6 = 0;
  };

  // `map_fd`: the hash map (struct kmesh_marker_ip_key -> __u32);
  // `index_fd`: its IPv4 index array with `buckets` buckets; `index6_fd`:
  // its IPv6 index array with `buckets6` buckets. The descriptors are
  // duplicated. InvalidArgument when they do not have those shapes.
  static absl::StatusOr<std::unique_ptr<BpfIndexedMap>> Open(
      const std::string& name, int map_fd, int index_fd, uint32_t buckets,
      int index6_fd, uint32_t buckets6);

  ~BpfIndexedMap();
  BpfIndexedMap(const BpfIndexedMap&) = delete;
  BpfIndexedMap& operator=(const BpfIndexedMap&) = delete;

  // Creates or replaces; `value` must fit 16 bits (peer index, or 1).
  absl::Status Upsert(const IpAddress& address, uint32_t value);
  // NotFound when absent.
  absl::Status Delete(const IpAddress& address);
  // Every entry of the hash map.
  absl::StatusOr<std::vector<std::pair<IpAddress, uint32_t>>> Dump() const;

  Stats stats() const;
  int map_fd() const { return map_fd_; }
  int index_fd() const { return index_fd_; }

 private:
  using Words6 = std::array<uint32_t, 4>;  // An IPv6 key's addr[].

  BpfIndexedMap(std::string name, int map_fd, int index_fd, uint32_t buckets,
                kmesh_marker_index_bucket* index, size_t mapped_bytes,
                int index6_fd, uint32_t buckets6,
                kmesh_marker_index6_bucket* index6, size_t mapped6_bytes);

  // Makes the index agree with the hash map.
  absl::Status Repair() ABSL_LOCKS_EXCLUDED(mu_);
  // Puts IPv4 `word` with `value` in a free slot of its bucket, or records it
  // as overflowed.
  void Place(uint32_t word, uint32_t value) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Moves one overflowed key of `bucket` into a free slot, if any.
  void Promote(uint32_t bucket) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The IPv6 counterparts.
  void Repair6(const std::map<Words6, uint32_t>& v6)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Place6(const Words6& addr, uint32_t value)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Promote6(uint32_t bucket) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The entry of `addr` in `bucket`, or -1.
  int Find6(uint32_t bucket, const Words6& addr) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Write6(uint32_t bucket, int entry, const Words6& addr, uint32_t value)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Clear6(uint32_t bucket, int entry) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status Upsert6(const Words6& addr, uint32_t value)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Unindex6(const Words6& addr) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const std::string name_;
  const int map_fd_;
  const int index_fd_;
  const uint32_t buckets_;
  kmesh_marker_index_bucket* const index_;
  const size_t mapped_bytes_;
  const int index6_fd_;
  const uint32_t buckets6_;
  kmesh_marker_index6_bucket* const index6_;
  const size_t mapped6_bytes_;

  // Writers of the index (the mmap'ed buckets) and of overflowed_.
  mutable absl::Mutex mu_;
  // Bucket -> the IPv4 address words that live only in the hash map.
  absl::flat_hash_map<uint32_t, std::vector<uint32_t>> overflowed_
      ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<uint32_t, std::vector<Words6>> overflowed6_
      ABSL_GUARDED_BY(mu_);
  // The generation each IPv6 entry slot last had (bucket * 5 + entry), so a
  // slot's next entry gets another one.
  std::vector<uint8_t> generation6_ ABSL_GUARDED_BY(mu_);
};

}  // namespace kmesh::linux_backend

#endif  // KMESH_LINUX_BPF_INDEXED_MAP_H_
