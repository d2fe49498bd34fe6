// Test environment for tests that need a real kernel with ESP (the e2e VM):
// moving the whole test process into a private network namespace before any
// test runs (so nothing touches the host's XFRM tables), whether the VM
// demands ESP (KMESH_VM_EXPECT_ESP=1, where a refused ESP SA is a failure
// rather than a skip), and running iproute2 for cross-checks.
#ifndef E2E_VM_KERNEL_TEST_ENV_H_
#define E2E_VM_KERNEL_TEST_ENV_H_

#include <string>

namespace kmesh::e2e {

enum class NetnsSetup { kNotRoot, kNoNetns, kPrivateNetns };

// Moves the process into a fresh network namespace on the first call (call it
// while the process is still single-threaded, e.g. from a test's SetUp) and
// returns the outcome of that first call every time.
NetnsSetup EnterPrivateNetnsOnce();

// Whether the environment promises a kernel with ESP (KMESH_VM_EXPECT_ESP=1).
bool EspRequired();

// Runs `ip ARGS` with iproute2's binary (never a busybox applet) and returns
// its stdout and stderr.
std::string RunIp(const std::string& args);

}  // namespace kmesh::e2e

#endif  // E2E_VM_KERNEL_TEST_ENV_H_
