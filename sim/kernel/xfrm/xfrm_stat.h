// XfrmStatCounters: the simulated kernel's XFRM MIB, the counters Linux shows
// in /proc/net/xfrm_stat (include/uapi/linux/snmp.h, net/xfrm/xfrm_proc.c).
// The simulated data path bumps them where Linux would (for example
// XfrmInNoStates when no SA matches an inbound ESP packet, XfrmOutPolBlock
// when a block policy drops an outbound one), and Format() prints them in the
// exact /proc layout so tests and humans read them as on a real node.
// Increments are lock-free, so the data path never waits for the control
// plane.
#ifndef SIM_KERNEL_XFRM_XFRM_STAT_H_
#define SIM_KERNEL_XFRM_XFRM_STAT_H_

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string>

namespace kmesh {
namespace sim {

// In /proc order (Linux 6.18; kernels before 6.10 stop after
// kAcquireError).
enum class XfrmStat : uint8_t {
  kInError,
  kInBufferError,
  kInHdrError,
  kInNoStates,
  kInStateProtoError,
  kInStateModeError,
  kInStateSeqError,
  kInStateExpired,
  kInStateMismatch,
  kInStateInvalid,
  kInTmplMismatch,
  kInNoPols,
  kInPolBlock,
  kInPolError,
  kOutError,
  kOutBundleGenError,
  kOutBundleCheckError,
  kOutNoStates,
  kOutStateProtoError,
  kOutStateModeError,
  kOutStateSeqError,
  kOutStateExpired,
  kOutPolBlock,
  kOutPolDead,
  kOutPolError,
  kFwdHdrError,
  kOutStateInvalid,
  kAcquireError,
  kOutStateDirError,
  kInStateDirError,
  kInIptfsError,
  kOutNoQueueSpace,
};
inline constexpr size_t kXfrmStatCount =
    static_cast<size_t>(XfrmStat::kOutNoQueueSpace) + 1;

// The /proc name, e.g. "XfrmInNoStates".
const char* XfrmStatName(XfrmStat stat);

class XfrmStatCounters {
 public:
  XfrmStatCounters() = default;
  XfrmStatCounters(const XfrmStatCounters&) = delete;
  XfrmStatCounters& operator=(const XfrmStatCounters&) = delete;

  void Increment(XfrmStat stat, uint64_t n = 1);
  uint64_t Get(XfrmStat stat) const;

  // One line per counter, "%-24s\t%lu\n" as /proc/net/xfrm_stat prints it.
  std::string Format() const;

 private:
  std::array<std::atomic<uint64_t>, kXfrmStatCount> values_{};
};

}  // namespace sim
}  // namespace kmesh

#endif  // SIM_KERNEL_XFRM_XFRM_STAT_H_
