#include "sim/kernel/xfrm/xfrm_stat.h"

#include "absl/strings/str_format.h"

namespace kmesh {
namespace sim {
namespace {

constexpr const char* kNames[kXfrmStatCount] = {
    "XfrmInError",
    "XfrmInBufferError",
    "XfrmInHdrError",
    "XfrmInNoStates",
    "XfrmInStateProtoError",
    "XfrmInStateModeError",
    "XfrmInStateSeqError",
    "XfrmInStateExpired",
    "XfrmInStateMismatch",
    "XfrmInStateInvalid",
    "XfrmInTmplMismatch",
    "XfrmInNoPols",
    "XfrmInPolBlock",
    "XfrmInPolError",
    "XfrmOutError",
    "XfrmOutBundleGenError",
    "XfrmOutBundleCheckError",
    "XfrmOutNoStates",
    "XfrmOutStateProtoError",
    "XfrmOutStateModeError",
    "XfrmOutStateSeqError",
    "XfrmOutStateExpired",
    "XfrmOutPolBlock",
    "XfrmOutPolDead",
    "XfrmOutPolError",
    "XfrmFwdHdrError",
    "XfrmOutStateInvalid",
    "XfrmAcquireError",
    "XfrmOutStateDirError",
    "XfrmInStateDirError",
    "XfrmInIptfsError",
    "XfrmOutNoQueueSpace",
};

}  // namespace

const char* XfrmStatName(XfrmStat stat) {
  const size_t i = static_cast<size_t>(stat);
  return i < kXfrmStatCount ? kNames[i] : "?";
}

void XfrmStatCounters::Increment(XfrmStat stat, uint64_t n) {
  const size_t i = static_cast<size_t>(stat);
  if (i < kXfrmStatCount) values_[i].fetch_add(n, std::memory_order_relaxed);
}

uint64_t XfrmStatCounters::Get(XfrmStat stat) const {
  const size_t i = static_cast<size_t>(stat);
  return i < kXfrmStatCount ? values_[i].load(std::memory_order_relaxed) : 0;
}

std::string XfrmStatCounters::Format() const {
  std::string out;
  for (size_t i = 0; i < kXfrmStatCount; ++i) {
    absl::StrAppendFormat(&out, "%-24s\t%lu\n", kNames[i],
                          values_[i].load(std::memory_order_relaxed));
  }
  return out;
}

}  // namespace sim
}  // namespace kmesh
