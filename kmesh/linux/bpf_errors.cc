#include "kmesh/linux/bpf_errors.h"

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace kmesh::linux_backend {

absl::Status BpfErrnoStatus(int err, const std::string& what) {
  if (err < 0) err = -err;
  const char* name = strerrorname_np(err);
  std::string message =
      absl::StrCat(what, ": ", name ? name : absl::StrCat("errno ", err), " (",
                   std::strerror(err), ")");
  switch (err) {
    case EPERM:
      return absl::PermissionDeniedError(
          absl::StrCat(message, ": ", kBpfNotPermitted));
    case ENOENT:
    case ENODEV:
    case ENXIO:
      return absl::NotFoundError(message);
    case E2BIG:
    case ENOSPC:
    case ENOMEM:
      return absl::ResourceExhaustedError(message);
    case EEXIST:
      return absl::AlreadyExistsError(message);
    case EINVAL:
      return absl::InvalidArgumentError(message);
    default:
      return absl::InternalError(message);
  }
}

}  // namespace kmesh::linux_backend
