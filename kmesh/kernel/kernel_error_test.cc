#include "kmesh/kernel/kernel_error.h"

#include <cerrno>

#include "gtest/gtest.h"

namespace kmesh {
namespace {

TEST(KernelErrorTest, NamesTheCallTheErrnoAndTheHint) {
  const absl::Status status =
      KernelError(EPERM, "XFRM add SA 10.0.0.2 -> 10.0.0.1", "run as root");
  EXPECT_EQ(status.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(status.message(),
            "XFRM add SA 10.0.0.2 -> 10.0.0.1: EPERM (Operation not "
            "permitted); run as root");
  EXPECT_EQ(KernelErrno(status), EPERM);
}

TEST(KernelErrorTest, OneTableForEveryBackend) {
  const struct {
    int err;
    absl::StatusCode code;
  } cases[] = {
      {EEXIST, absl::StatusCode::kAlreadyExists},
      {ENOENT, absl::StatusCode::kNotFound},
      {ESRCH, absl::StatusCode::kNotFound},
      {ENODEV, absl::StatusCode::kNotFound},
      {EPERM, absl::StatusCode::kPermissionDenied},
      {EACCES, absl::StatusCode::kPermissionDenied},
      {EINVAL, absl::StatusCode::kInvalidArgument},
      {ENOBUFS, absl::StatusCode::kResourceExhausted},
      {E2BIG, absl::StatusCode::kResourceExhausted},
      {ENOMEM, absl::StatusCode::kResourceExhausted},
      {EPROTONOSUPPORT, absl::StatusCode::kUnimplemented},
      {ENOSYS, absl::StatusCode::kUnimplemented},
      {EINTR, absl::StatusCode::kUnavailable},
      {EBUSY, absl::StatusCode::kUnavailable},
      {EOVERFLOW, absl::StatusCode::kOutOfRange},
  };
  for (const auto& c : cases) {
    // libbpf's negated errno reads the same.
    for (int err : {c.err, -c.err}) {
      const absl::Status status = KernelError(err, "op");
      EXPECT_EQ(status.code(), c.code) << status;
      EXPECT_EQ(KernelErrno(status), c.err) << status;
      EXPECT_EQ(status.message().rfind("op: ", 0), 0u) << status;
    }
  }
}

TEST(KernelErrorTest, OnlyKernelErrorsCarryAnErrno) {
  EXPECT_EQ(KernelErrno(absl::OkStatus()), std::nullopt);
  EXPECT_EQ(KernelErrno(absl::NotFoundError("ENOENT: looks like one")),
            std::nullopt);
  EXPECT_EQ(ErrnoName(EEXIST), "EEXIST (File exists)");
  EXPECT_EQ(ErrnoName(4095).rfind("errno 4095 (", 0), 0u);
}

}  // namespace
}  // namespace kmesh
