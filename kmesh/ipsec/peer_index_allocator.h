// PeerIndexAllocator: assigns each peer node a locally unique 16-bit index,
// the value the decrypt eBPF program writes into the mark of that peer's ESP
// so that the peer's inbound SAs are distinct (see xfrm_layout.h). An index is
// stable while its peer exists, and is only handed out again after the caller
// releases it, which the controller does once the peer's SAs are gone. Free
// indices are kept in a first-in first-out list (never-used ones in order,
// then released ones in the order released), so a released index is reused
// as late as possible, and every operation but Reserved() takes constant
// time: nothing scans the 65535 slots, even when they are all taken (a
// caller asks free_count() before retrying a peer that found none). Index 0
// is never assigned: at most 65535 peers per node. Not thread-safe.
#ifndef KMESH_IPSEC_PEER_INDEX_ALLOCATOR_H_
#define KMESH_IPSEC_PEER_INDEX_ALLOCATOR_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace kmesh::ipsec {

class PeerIndexAllocator {
 public:
  // Indices 1..max_index are available (max_index <= 65535).
  explicit PeerIndexAllocator(uint32_t max_index = 0xffff);

  // The index `name` holds; a new one when it holds none: `preferred` if it
  // is free or only reserved, else the free one at the head of the list.
  // ResourceExhausted when all are taken. O(1) (plus the name lookup).
  absl::StatusOr<uint16_t> Assign(const std::string& name,
                                  uint16_t preferred = 0);
  std::optional<uint16_t> Find(const std::string& name) const;
  // Frees the index of `name` (no-op when it holds none).
  void Release(const std::string& name);

  // Marks `index` as in use by no named peer yet (an index found in the
  // kernel after a restart): Assign skips it unless it is the preferred one.
  void Reserve(uint16_t index);
  // Frees a reserved index (no-op when it is not reserved).
  void Unreserve(uint16_t index);
  // The reserved indices; walks the slots only when some are reserved.
  std::vector<uint16_t> Reserved() const;

  size_t assigned() const { return by_name_.size(); }
  // Indices Assign() can hand out without a preference.
  size_t free_count() const { return free_count_; }

 private:
  enum class Use : uint8_t { kFree, kAssigned, kReserved };
  // The free list: a circular doubly linked list through next_/prev_ with
  // slot 0 (never assigned) as its head.
  void PushBack(uint32_t index);
  void Unlink(uint32_t index);

  uint32_t max_index_;
  std::vector<Use> use_;
  std::vector<uint16_t> next_;
  std::vector<uint16_t> prev_;
  size_t free_count_ = 0;
  size_t reserved_count_ = 0;
  std::map<std::string, uint16_t> by_name_;
};

}  // namespace kmesh::ipsec

#endif  // KMESH_IPSEC_PEER_INDEX_ALLOCATOR_H_
