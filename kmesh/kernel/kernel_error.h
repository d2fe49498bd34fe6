// KernelError: how every kernel backend reports a failed call: the netlink
// XFRM backend and the libbpf loader on Linux, and the simulated kernel that
// stands in for them. One errno table gives the absl code (EEXIST is
// AlreadyExists, ENOENT and ESRCH NotFound, EPERM PermissionDenied, a full map
// ResourceExhausted, ...), the message always reads
// "<what>: EEXIST (File exists)" plus an optional hint on what to do, and the
// errno itself travels with the status as a payload, so that callers and
// tests compare errnos (KernelErrno), never message text.
#ifndef KMESH_KERNEL_KERNEL_ERROR_H_
#define KMESH_KERNEL_KERNEL_ERROR_H_

#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace kmesh {

// "EEXIST (File exists)"; "errno 4095 (Unknown error 4095)" for an errno
// without a name.
std::string ErrnoName(int err);

// The absl code for a positive errno.
absl::StatusCode KernelErrorCode(int err);

// The status for positive errno `err` returned by the kernel call described
// by `what` ("XFRM add SA 10.0.0.2 -> 10.0.0.1 spi 0x1"). A negative `err`
// (libbpf's convention) is taken as its absolute value. `hint`, when not
// empty, is appended after "; ". `err` must not be 0.
absl::Status KernelError(int err, absl::string_view what,
                         absl::string_view hint = "");

// The errno a KernelError carries; nullopt for any other status (OK
// included).
std::optional<int> KernelErrno(const absl::Status& status);

}  // namespace kmesh

#endif  // KMESH_KERNEL_KERNEL_ERROR_H_
