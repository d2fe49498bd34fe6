// Namespaces of a test's own, so that what a test does to the kernel stays
// with the test: a network namespace (XFRM tables, links, routes) or a mount
// namespace (a bpf filesystem) for the calling thread. Linux gives them to
// the calling thread only; threads and processes it starts afterwards
// inherit them, those started before do not. A namespace goes away when
// nothing uses it any more, also when the test is killed. Both need root
// (CAP_SYS_ADMIN): PermissionDenied otherwise, for GTEST_SKIP.
#ifndef KMESH_LINUX_TESTING_PRIVATE_NAMESPACES_H_
#define KMESH_LINUX_TESTING_PRIVATE_NAMESPACES_H_

#include <string>

#include "absl/status/status.h"

namespace kmesh::linux_backend::testing {

// Moves the calling thread into a new mount namespace whose mounts are all
// private (nothing propagates back to the host). Idempotent per thread.
absl::Status EnterPrivateMountNamespace();

// Moves the calling thread into a new, empty network namespace (only a
// loopback device, down); each call makes a fresh one.
absl::Status EnterNewNetworkNamespace();

// A failed call that set up a test's own kernel state (a namespace, a
// mount): KernelError, saying that EPERM means the test needs root.
absl::Status TestSetupError(int err, const std::string& what);

}  // namespace kmesh::linux_backend::testing

#endif  // KMESH_LINUX_TESTING_PRIVATE_NAMESPACES_H_
