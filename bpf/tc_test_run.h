// TcTestRun: runs a loaded tc (sched_cls) program on one frame with
// BPF_PROG_TEST_RUN, the kernel's way of executing a program without a
// device: the frame goes in as packet data and a struct __sk_buff carries the
// mark in and out. The marker tests read back the mark with it, and the marker
// benchmark times programs with its repeat count. Needs root (CAP_BPF and
// CAP_NET_ADMIN).
#ifndef KMESH_BPF_TC_TEST_RUN_H_
#define KMESH_BPF_TC_TEST_RUN_H_

#include <cstdint>

#include "absl/status/statusor.h"
#include "absl/types/span.h"

namespace kmesh {

struct TcTestRunResult {
  uint32_t retval = 0;       // The program's verdict (TC_ACT_OK is 0).
  uint32_t mark = 0;         // skb->mark after the last run.
  uint32_t duration_ns = 0;  // Kernel-measured average per run.
};

// Runs `program_fd` `repeat` times on `frame` (an Ethernet frame of at least
// 14 bytes), each run starting with skb->mark = `mark`. InvalidArgument
// (EINVAL) when the kernel refuses the frame: shorter than 14 bytes, or an
// IPv4/IPv6 ethertype with an incomplete fixed IP header.
absl::StatusOr<TcTestRunResult> TcTestRun(int program_fd,
                                          absl::Span<const uint8_t> frame,
                                          uint32_t mark, int repeat = 1);

}  // namespace kmesh

#endif  // KMESH_BPF_TC_TEST_RUN_H_
