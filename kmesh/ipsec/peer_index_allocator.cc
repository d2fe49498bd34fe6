#include "kmesh/ipsec/peer_index_allocator.h"

#include <algorithm>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace kmesh::ipsec {

PeerIndexAllocator::PeerIndexAllocator(uint32_t max_index)
    : max_index_(std::min<uint32_t>(max_index, 0xffff)),
      use_(max_index_ + 1, Use::kFree) {
  use_[0] = Use::kAssigned;  // Never handed out.
}

absl::StatusOr<uint16_t> PeerIndexAllocator::Assign(const std::string& name,
                                                    uint16_t preferred) {
  if (auto it = by_name_.find(name); it != by_name_.end()) return it->second;
  uint32_t chosen = 0;
  if (preferred != 0 && preferred <= max_index_ &&
      use_[preferred] != Use::kAssigned) {
    chosen = preferred;
  } else {
    for (uint32_t step = 1; step <= max_index_; ++step) {
      const uint32_t candidate = (cursor_ + step - 1) % max_index_ + 1;
      if (use_[candidate] == Use::kFree) {
        chosen = candidate;
        break;
      }
    }
  }
  if (chosen == 0) {
    return absl::ResourceExhaustedError(
        absl::StrCat("no free peer index for ", name, ": all ", max_index_,
                     " are in use (the mark carries 16 bits of peer index)"));
  }
  use_[chosen] = Use::kAssigned;
  if (chosen != preferred) cursor_ = chosen;
  by_name_[name] = static_cast<uint16_t>(chosen);
  return static_cast<uint16_t>(chosen);
}

std::optional<uint16_t> PeerIndexAllocator::Find(
    const std::string& name) const {
  auto it = by_name_.find(name);
  if (it == by_name_.end()) return std::nullopt;
  return it->second;
}

void PeerIndexAllocator::Release(const std::string& name) {
  auto it = by_name_.find(name);
  if (it == by_name_.end()) return;
  use_[it->second] = Use::kFree;
  by_name_.erase(it);
}

void PeerIndexAllocator::Reserve(uint16_t index) {
  if (index != 0 && index <= max_index_ && use_[index] == Use::kFree) {
    use_[index] = Use::kReserved;
  }
}

void PeerIndexAllocator::Unreserve(uint16_t index) {
  if (index != 0 && index <= max_index_ && use_[index] == Use::kReserved) {
    use_[index] = Use::kFree;
  }
}

std::vector<uint16_t> PeerIndexAllocator::Reserved() const {
  std::vector<uint16_t> out;
  for (uint32_t i = 1; i <= max_index_; ++i) {
    if (use_[i] == Use::kReserved) out.push_back(static_cast<uint16_t>(i));
  }
  return out;
}

}  // namespace kmesh::ipsec
