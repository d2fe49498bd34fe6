// PeerIndexAllocator: assigns each peer node a locally unique 16-bit index,
// the value the decrypt eBPF program writes into the mark of that peer's ESP
// so that the peer's inbound SAs are distinct (see xfrm_layout.h). An index is
// stable while its peer exists, and is only handed out again after the caller
// releases it, which the controller does once the peer's SAs are gone; the
// next free index is searched from just after the last one given out, so a
// released index is reused as late as possible. Index 0 is never assigned:
// at most 65535 peers per node. Not thread-safe.
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
  // is free or only reserved, else the next free one. ResourceExhausted when
  // all are taken.
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
  std::vector<uint16_t> Reserved() const;

  size_t assigned() const { return by_name_.size(); }

 private:
  enum class Use : uint8_t { kFree, kAssigned, kReserved };
  uint32_t max_index_;
  uint32_t cursor_ = 0;  // Last index handed out.
  std::vector<Use> use_;
  std::map<std::string, uint16_t> by_name_;
};

}  // namespace kmesh::ipsec

#endif  // KMESH_IPSEC_PEER_INDEX_ALLOCATOR_H_
