#include "bpf/tc_test_run.h"

#include <bpf/bpf.h>
#include <linux/bpf.h>

#include <cerrno>
#include <cstring>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace kmesh {

absl::StatusOr<TcTestRunResult> TcTestRun(int program_fd,
                                          absl::Span<const uint8_t> frame,
                                          uint32_t mark, int repeat) {
  __sk_buff ctx_in;
  std::memset(&ctx_in, 0, sizeof(ctx_in));
  ctx_in.mark = mark;
  __sk_buff ctx_out;
  std::memset(&ctx_out, 0, sizeof(ctx_out));

  bpf_test_run_opts opts;
  std::memset(&opts, 0, sizeof(opts));
  opts.sz = sizeof(opts);
  opts.data_in = frame.data();
  opts.data_size_in = static_cast<uint32_t>(frame.size());
  opts.ctx_in = &ctx_in;
  opts.ctx_size_in = sizeof(ctx_in);
  opts.ctx_out = &ctx_out;
  opts.ctx_size_out = sizeof(ctx_out);
  opts.repeat = repeat;
  if (int err = bpf_prog_test_run_opts(program_fd, &opts); err != 0) {
    const int e = -err;
    const char* name = strerrorname_np(e);
    return absl::Status(e == EPERM    ? absl::StatusCode::kPermissionDenied
                        : e == EINVAL ? absl::StatusCode::kInvalidArgument
                                      : absl::StatusCode::kInternal,
                        absl::StrCat("BPF_PROG_TEST_RUN on a ", frame.size(),
                                     "-byte frame: ", name ? name : "errno",
                                     " (", std::strerror(e), ")"));
  }
  TcTestRunResult result;
  result.retval = opts.retval;
  result.mark = ctx_out.mark;
  result.duration_ns = opts.duration;
  return result;
}

}  // namespace kmesh
