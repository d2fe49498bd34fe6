#include "kmesh/ipsec/peer_index_allocator.h"

#include <algorithm>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace kmesh::ipsec {

PeerIndexAllocator::PeerIndexAllocator(uint32_t max_index)
    : max_index_(std::min<uint32_t>(max_index, 0xffff)),
      use_(max_index_ + 1, Use::kFree),
      next_(max_index_ + 1, 0),
      prev_(max_index_ + 1, 0) {
  use_[0] = Use::kAssigned;  // Never handed out; the list's head.
  for (uint32_t i = 1; i <= max_index_; ++i) PushBack(i);
}

void PeerIndexAllocator::PushBack(uint32_t index) {
  const uint16_t last = prev_[0];
  prev_[index] = last;
  next_[index] = 0;
  next_[last] = static_cast<uint16_t>(index);
  prev_[0] = static_cast<uint16_t>(index);
  ++free_count_;
}

void PeerIndexAllocator::Unlink(uint32_t index) {
  next_[prev_[index]] = next_[index];
  prev_[next_[index]] = prev_[index];
  next_[index] = prev_[index] = 0;
  --free_count_;
}

absl::StatusOr<uint16_t> PeerIndexAllocator::Assign(const std::string& name,
                                                    uint16_t preferred) {
  if (auto it = by_name_.find(name); it != by_name_.end()) return it->second;
  uint32_t chosen = 0;
  if (preferred != 0 && preferred <= max_index_ &&
      use_[preferred] != Use::kAssigned) {
    chosen = preferred;
    if (use_[chosen] == Use::kFree) {
      Unlink(chosen);
    } else {
      --reserved_count_;
    }
  } else if (next_[0] != 0) {
    chosen = next_[0];
    Unlink(chosen);
  }
  if (chosen == 0) {
    return absl::ResourceExhaustedError(
        absl::StrCat("no free peer index for ", name, ": all ", max_index_,
                     " are in use (the mark carries 16 bits of peer index)"));
  }
  use_[chosen] = Use::kAssigned;
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
  PushBack(it->second);
  by_name_.erase(it);
}

void PeerIndexAllocator::Reserve(uint16_t index) {
  if (index != 0 && index <= max_index_ && use_[index] == Use::kFree) {
    Unlink(index);
    use_[index] = Use::kReserved;
    ++reserved_count_;
  }
}

void PeerIndexAllocator::Unreserve(uint16_t index) {
  if (index != 0 && index <= max_index_ && use_[index] == Use::kReserved) {
    use_[index] = Use::kFree;
    PushBack(index);
    --reserved_count_;
  }
}

std::vector<uint16_t> PeerIndexAllocator::Reserved() const {
  std::vector<uint16_t> out;
  if (reserved_count_ == 0) return out;
  for (uint32_t i = 1; i <= max_index_; ++i) {
    if (use_[i] == Use::kReserved) out.push_back(static_cast<uint16_t>(i));
  }
  return out;
}

}  // namespace kmesh::ipsec
