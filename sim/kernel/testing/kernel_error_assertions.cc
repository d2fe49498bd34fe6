#include "sim/kernel/testing/kernel_error_assertions.h"

#include <optional>

#include "kmesh/kernel/kernel_error.h"

namespace kmesh::sim::testing {

::testing::AssertionResult IsKernelError(const absl::Status& status, int err) {
  const std::optional<int> got = KernelErrno(status);
  if (status.code() == KernelErrorCode(err) && got == err) {
    return ::testing::AssertionSuccess();
  }
  return ::testing::AssertionFailure()
         << "want " << ErrnoName(err) << " ("
         << absl::StatusCodeToString(KernelErrorCode(err)) << "), got "
         << status;
}

}  // namespace kmesh::sim::testing
