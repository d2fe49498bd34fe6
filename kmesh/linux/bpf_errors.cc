#include "kmesh/linux/bpf_errors.h"

#include <cerrno>

#include "kmesh/kernel/kernel_error.h"

namespace kmesh::linux_backend {

absl::Status BpfErrnoStatus(int err, const std::string& what) {
  if (err < 0) err = -err;
  return KernelError(err, what, err == EPERM ? kBpfNotPermitted : "");
}

}  // namespace kmesh::linux_backend
