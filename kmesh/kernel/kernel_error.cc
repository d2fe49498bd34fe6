#include "kmesh/kernel/kernel_error.h"

#include <cerrno>
#include <cstdint>
#include <cstring>

#include "absl/strings/cord.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace kmesh {
namespace {

constexpr char kErrnoPayload[] = "type.kmesh.net/kernel-errno";

}  // namespace

std::string ErrnoName(int err) {
  const char* name = strerrorname_np(err);
  return absl::StrCat(name != nullptr ? name : absl::StrCat("errno ", err),
                      " (", std::strerror(err), ")");
}

absl::StatusCode KernelErrorCode(int err) {
  switch (err) {
    case EEXIST:
      return absl::StatusCode::kAlreadyExists;
    case ENOENT:
    case ESRCH:
    case ENODEV:
    case ENXIO:
      return absl::StatusCode::kNotFound;
    case EPERM:
    case EACCES:
      return absl::StatusCode::kPermissionDenied;
    case EINVAL:
      return absl::StatusCode::kInvalidArgument;
    case ENOBUFS:
    case ENOMEM:
    case E2BIG:  // A full BPF hash map.
    case ENOSPC:
      return absl::StatusCode::kResourceExhausted;
    case EPROTONOSUPPORT:
    case ENOSYS:
    case EAFNOSUPPORT:
    case EOPNOTSUPP:
      return absl::StatusCode::kUnimplemented;
    case EAGAIN:
    case EINTR:
    case EBUSY:
      return absl::StatusCode::kUnavailable;
    default:
      return absl::ErrnoToStatusCode(err);
  }
}

absl::Status KernelError(int err, absl::string_view what,
                         absl::string_view hint) {
  if (err < 0) err = -err;
  std::string message = absl::StrCat(what, ": ", ErrnoName(err));
  if (!hint.empty()) absl::StrAppend(&message, "; ", hint);
  absl::Status status(KernelErrorCode(err), message);
  status.SetPayload(kErrnoPayload, absl::Cord(absl::StrCat(err)));
  return status;
}

std::optional<int> KernelErrno(const absl::Status& status) {
  const auto payload = status.GetPayload(kErrnoPayload);
  int err = 0;
  if (!payload.has_value() || !absl::SimpleAtoi(std::string(*payload), &err)) {
    return std::nullopt;
  }
  return err;
}

}  // namespace kmesh
