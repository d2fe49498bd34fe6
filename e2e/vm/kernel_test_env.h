// Test environment for tests that need a real kernel with ESP (the e2e VM;
// each test runs in a network namespace of its own, see
// kmesh/linux/testing/private_namespaces.h): whether the VM demands ESP
// (KMESH_VM_EXPECT_ESP=1, where a refused ESP SA is a failure rather than a
// skip), and running iproute2 for cross-checks.
#ifndef E2E_VM_KERNEL_TEST_ENV_H_
#define E2E_VM_KERNEL_TEST_ENV_H_

#include <string>

namespace kmesh::e2e {

// Whether the environment promises a kernel with ESP (KMESH_VM_EXPECT_ESP=1).
bool EspRequired();

// Runs `ip ARGS` with iproute2's binary (never a busybox applet) and returns
// its stdout and stderr.
std::string RunIp(const std::string& args);

}  // namespace kmesh::e2e

#endif  // E2E_VM_KERNEL_TEST_ENV_H_
