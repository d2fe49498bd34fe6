#include "kmesh/linux/bpf_errors.h"

#include <cerrno>

#include "gtest/gtest.h"
#include "kmesh/kernel/kernel_error.h"

namespace kmesh::linux_backend {
namespace {

TEST(BpfErrnoStatusTest, PermissionErrorSaysWhatIsMissing) {
  const absl::Status status = BpfErrnoStatus(-EPERM, "attach on eth0");
  EXPECT_EQ(status.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_NE(status.message().find("attach on eth0: EPERM"),
            absl::string_view::npos)
      << status;
  EXPECT_NE(status.message().find(
                "BPF not permitted: run as root with CAP_BPF/CAP_NET_ADMIN"),
            absl::string_view::npos)
      << status;
}

TEST(BpfErrnoStatusTest, MapsErrnoToCodesAndNamesIt) {
  const struct {
    int err;
    absl::StatusCode code;
    const char* name;
  } cases[] = {
      {ENOENT, absl::StatusCode::kNotFound, "ENOENT"},
      {ENODEV, absl::StatusCode::kNotFound, "ENODEV"},
      {E2BIG, absl::StatusCode::kResourceExhausted, "E2BIG"},
      {ENOMEM, absl::StatusCode::kResourceExhausted, "ENOMEM"},
      {EEXIST, absl::StatusCode::kAlreadyExists, "EEXIST"},
      {EINVAL, absl::StatusCode::kInvalidArgument, "EINVAL"},
      // The verifier's refusal: a permission error, but not a missing
      // privilege.
      {EACCES, absl::StatusCode::kPermissionDenied, "EACCES"},
  };
  for (const auto& c : cases) {
    // Positive and negated errno (libbpf returns -errno) read the same.
    for (int err : {c.err, -c.err}) {
      const absl::Status status = BpfErrnoStatus(err, "op");
      EXPECT_EQ(status.code(), c.code) << status;
      EXPECT_NE(status.message().find(c.name), absl::string_view::npos)
          << status;
      EXPECT_EQ(KernelErrno(status), c.err) << status;
      EXPECT_EQ(status.message().find("not permitted"), absl::string_view::npos)
          << status;
    }
  }
}

}  // namespace
}  // namespace kmesh::linux_backend
