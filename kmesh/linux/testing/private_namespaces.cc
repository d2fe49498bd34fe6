#include "kmesh/linux/testing/private_namespaces.h"

#include <sched.h>
#include <sys/mount.h>

#include <cerrno>
#include <string>

#include "kmesh/kernel/kernel_error.h"

namespace kmesh::linux_backend::testing {

absl::Status TestSetupError(int err, const std::string& what) {
  return KernelError(err, what,
                     err == EPERM ? "needs root with CAP_SYS_ADMIN" : "");
}

absl::Status EnterPrivateMountNamespace() {
  thread_local bool entered = false;
  if (entered) return absl::OkStatus();
  if (unshare(CLONE_NEWNS) != 0) {
    return TestSetupError(errno, "unshare(CLONE_NEWNS)");
  }
  // Without this, mounts under a shared host mount would propagate back.
  if (mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) {
    return TestSetupError(errno, "make / private in the new mount namespace");
  }
  entered = true;
  return absl::OkStatus();
}

absl::Status EnterNewNetworkNamespace() {
  if (unshare(CLONE_NEWNET) != 0) {
    return TestSetupError(errno, "unshare(CLONE_NEWNET)");
  }
  return absl::OkStatus();
}

}  // namespace kmesh::linux_backend::testing
