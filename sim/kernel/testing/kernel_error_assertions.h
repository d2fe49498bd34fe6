// IsKernelError: a test's check that a call failed as the kernel would have,
// with the errno (kmesh/kernel/kernel_error.h) and the absl code that errno
// maps to, in one assertion that prints the status when it fails:
//   EXPECT_TRUE(IsKernelError(x.AddSa(sa), EEXIST));
#ifndef SIM_KERNEL_XFRM_TESTING_KERNEL_ERROR_ASSERTIONS_H_
#define SIM_KERNEL_XFRM_TESTING_KERNEL_ERROR_ASSERTIONS_H_

#include "absl/status/status.h"
#include "gtest/gtest.h"

namespace kmesh::sim::testing {

::testing::AssertionResult IsKernelError(const absl::Status& status, int err);

}  // namespace kmesh::sim::testing

#endif  // SIM_KERNEL_XFRM_TESTING_KERNEL_ERROR_ASSERTIONS_H_
