// BpfIndexedMap: one marker map as user space writes it: the BPF hash map
// keyed by address (authoritative, and the only map for IPv6) together with
// its IPv4 fast index, an mmap'ed BPF array of 64-byte buckets holding
// 64-bit tags (bpf/marker_decision.h explains why: an array lookup costs a few
// ns per packet, a hash-map lookup 40-50). Every write keeps the invariant
// the marker programs rely on: each IPv4 key of the hash map has its tag in
// its bucket, or its bucket's overflow bit is set; tags are stored with
// single atomic 64-bit writes, ordered so a concurrent program sees a key
// either before or after a change, never a torn or lost key. Opening
// repairs the index from the hash map (after a restart with pinned maps, or a
// crash between two writes). One writer per map at a time; thread-safe.
#ifndef KMESH_LINUX_BPF_INDEXED_MAP_H_
#define KMESH_LINUX_BPF_INDEXED_MAP_H_

#include <cstddef>
#include <cstdint>
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
  };

  // `map_fd`: the hash map (struct kmesh_marker_ip_key -> __u32);
  // `index_fd`: its index array with `buckets` buckets. Both descriptors are
  // duplicated. InvalidArgument when they do not have those shapes.
  static absl::StatusOr<std::unique_ptr<BpfIndexedMap>> Open(
      const std::string& name, int map_fd, int index_fd, uint32_t buckets);

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
  BpfIndexedMap(std::string name, int map_fd, int index_fd, uint32_t buckets,
                kmesh_marker_index_bucket* index, size_t mapped_bytes);

  // Makes the index agree with the hash map.
  absl::Status Repair() ABSL_LOCKS_EXCLUDED(mu_);
  // Puts IPv4 `word` with `value` in a free slot of its bucket, or records it
  // as overflowed.
  void Place(uint32_t word, uint32_t value) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Moves one overflowed key of `bucket` into a free slot, if any.
  void Promote(uint32_t bucket) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const std::string name_;
  const int map_fd_;
  const int index_fd_;
  const uint32_t buckets_;
  kmesh_marker_index_bucket* const index_;
  const size_t mapped_bytes_;

  // Writers of the index (the mmap'ed buckets) and of overflowed_.
  mutable absl::Mutex mu_;
  // Bucket -> the IPv4 address words that live only in the hash map.
  absl::flat_hash_map<uint32_t, std::vector<uint32_t>> overflowed_
      ABSL_GUARDED_BY(mu_);
};

}  // namespace kmesh::linux_backend

#endif  // KMESH_LINUX_BPF_INDEXED_MAP_H_
