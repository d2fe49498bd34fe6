#include "sim/kernel/xfrm/replay_window.h"

#include <algorithm>
#include <limits>

namespace kmesh {
namespace sim {

ReplayWindow::ReplayWindow(uint32_t size, bool esn)
    : size_(std::min(size, kMaxSize)),
      esn_(esn),
      bitmap_((size_ + 31) / 32, 0) {}

bool ReplayWindow::InferHigh(uint32_t seq_low, uint32_t* high) const {
  if (!esn_) {
    *high = 0;
    return true;
  }
  // RFC 4303 Appendix A2.2. Tl/Th are the halves of the window top, W its
  // size (at least 1, so that an SA without a window still follows the
  // sender across 2^32).
  const uint32_t top_low = static_cast<uint32_t>(top_);
  const uint32_t top_high = static_cast<uint32_t>(top_ >> 32);
  const uint32_t w = size_ == 0 ? 1 : size_;
  const uint32_t bottom_low = top_low - w + 1;  // Modulo 2^32.
  if (top_low >= w - 1) {
    // Case A: the window lies inside one subspace; a number below it
    // belongs to the next subspace.
    if (seq_low >= bottom_low) {
      *high = top_high;
      return true;
    }
    if (top_high == std::numeric_limits<uint32_t>::max()) return false;
    *high = top_high + 1;
    return true;
  }
  // Case B: the window reaches back into the previous subspace.
  if (seq_low >= bottom_low) {
    // Before the SA's first subspace there is nothing, but Linux
    // (xfrm_replay_seqhi) still takes the high half one below, 0xffffffff:
    // the number passes the window check and the ICV, computed over the
    // wrong high half, fails (XfrmInStateProtoError, not SeqError).
    *high = top_high - 1;  // 0 - 1 wraps to 0xffffffff, as in Linux.
    return true;
  }
  *high = top_high;
  return true;
}

bool ReplayWindow::TestBit(uint64_t seq) const {
  const uint32_t index = static_cast<uint32_t>((seq - 1) % size_);
  return (bitmap_[index >> 5] >> (index & 31)) & 1u;
}

void ReplayWindow::SetBit(uint64_t seq) {
  const uint32_t index = static_cast<uint32_t>((seq - 1) % size_);
  bitmap_[index >> 5] |= 1u << (index & 31);
}

void ReplayWindow::ClearBit(uint64_t seq) {
  const uint32_t index = static_cast<uint32_t>((seq - 1) % size_);
  bitmap_[index >> 5] &= ~(1u << (index & 31));
}

bool ReplayWindow::WasReceived(uint64_t seq) const {
  if (size_ == 0 || seq == 0 || seq > top_ || top_ - seq >= size_) {
    return false;
  }
  return TestBit(seq);
}

ReplayCheck ReplayWindow::Check(uint32_t seq_low) const {
  uint32_t high = 0;
  if (!InferHigh(seq_low, &high)) {
    return ReplayCheck{ReplayVerdict::kTooOld, seq_low};
  }
  const uint64_t seq = (static_cast<uint64_t>(high) << 32) | seq_low;
  // Sequence number 0 is never sent (RFC 4303 3.3.3: the first is 1).
  if (seq == 0) return ReplayCheck{ReplayVerdict::kTooOld, seq};
  if (size_ == 0 || seq > top_) return ReplayCheck{ReplayVerdict::kOk, seq};
  if (top_ - seq >= size_) return ReplayCheck{ReplayVerdict::kTooOld, seq};
  if (TestBit(seq)) return ReplayCheck{ReplayVerdict::kReplayed, seq};
  return ReplayCheck{ReplayVerdict::kOk, seq};
}

void ReplayWindow::Advance(uint64_t seq) {
  if (seq == 0) return;
  if (seq > top_) {
    if (size_ > 0) {
      const uint64_t diff = seq - top_;
      if (diff >= size_) {
        std::fill(bitmap_.begin(), bitmap_.end(), 0);
      } else {
        // The slots of top+1 .. seq held numbers that now fall out of the
        // window.
        for (uint64_t s = top_ + 1; s <= seq; ++s) ClearBit(s);
      }
      SetBit(seq);
    }
    top_ = seq;
    return;
  }
  if (size_ > 0 && top_ - seq < size_) SetBit(seq);
}

}  // namespace sim
}  // namespace kmesh
