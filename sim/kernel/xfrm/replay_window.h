// ReplayWindow: the anti-replay state of one inbound SA, as Linux keeps it
// for XFRM states (net/xfrm/xfrm_replay.c) and RFC 4303 section 3.4.3 and
// Appendix A describe it: the highest sequence number authenticated so far
// and a bitmap of the `size` numbers at and below it. With extended sequence
// numbers (ESN) only the low 32 bits travel in the ESP header; the high 32 bits
// are inferred from the window position (RFC 4303 Appendix A2.2), so a window
// near 2^32 moves into the next subspace without a gap.
//
// The check and the update are separate because a receiver must only move the
// window after the packet's ICV verified (RFC 4303 3.4.3): Check() tells the
// data path whether to drop the packet and which 64-bit sequence number goes
// into the AAD, Advance() records it once the packet authenticated.
#ifndef SIM_KERNEL_XFRM_REPLAY_WINDOW_H_
#define SIM_KERNEL_XFRM_REPLAY_WINDOW_H_

#include <cstdint>
#include <vector>

namespace kmesh {
namespace sim {

enum class ReplayVerdict : uint8_t {
  kOk = 0,        // New, or inside the window and not seen yet.
  kReplayed = 1,  // Inside the window and already received.
  kTooOld = 2,    // Below the window (also: sequence number 0, which is
                  // never sent).
};

struct ReplayCheck {
  ReplayVerdict verdict = ReplayVerdict::kOk;
  // The full sequence number the packet carries: the low 32 bits from the
  // wire and, with ESN, the inferred high 32 bits (0 without ESN).
  uint64_t seq = 0;
};

class ReplayWindow {
 public:
  // Linux's upper bound (XFRMA_REPLAY_ESN_MAX): a bitmap of at most 128
  // 32-bit words, 4096 packets.
  static constexpr uint32_t kMaxSize = 4096;

  // `size` packets; 0 turns anti-replay off (every packet passes, as Linux
  // does when an SA has no replay window). Sizes above kMaxSize are clamped;
  // SimXfrm rejects them before they get here.
  ReplayWindow(uint32_t size, bool esn);

  uint32_t size() const { return size_; }
  // Highest authenticated sequence number; 0 before the first packet.
  uint64_t top() const { return top_; }

  // Classifies a received low-32-bit sequence number without changing the
  // window. With ESN a number below the window is taken for the next
  // subspace (RFC 4303 A2.2, as Linux does): it comes back kOk with a high
  // half one larger, and the ICV check is what rejects it.
  ReplayCheck Check(uint32_t seq_low) const;
  // Records an authenticated sequence number (the `seq` of a kOk Check()).
  void Advance(uint64_t seq);

  // Whether `seq` lies inside the window and was received.
  bool WasReceived(uint64_t seq) const;

  // Bitmap words for display: bit (seq - 1) % size set when seq was
  // received, the layout Linux keeps and `ip xfrm state` prints for ESN and
  // bitmap windows.
  const std::vector<uint32_t>& bitmap_words() const { return bitmap_; }

 private:
  // High 32 bits for a received low half, or false when the number cannot
  // belong to this SA (beyond 2^64). A number that would fall before the
  // SA's first subspace gets 0xffffffff, as Linux gives it.
  bool InferHigh(uint32_t seq_low, uint32_t* high) const;
  bool TestBit(uint64_t seq) const;
  void SetBit(uint64_t seq);
  void ClearBit(uint64_t seq);

  uint32_t size_;
  bool esn_;
  uint64_t top_ = 0;
  std::vector<uint32_t> bitmap_;
};

}  // namespace sim
}  // namespace kmesh

#endif  // SIM_KERNEL_XFRM_REPLAY_WINDOW_H_
