// BPF error reporting for the marker loader and maps: turns the errno of a
// libbpf call into an absl::Status that names the operation, the errno and,
// for a missing privilege, what to do about it.
#ifndef KMESH_LINUX_BPF_ERRORS_H_
#define KMESH_LINUX_BPF_ERRORS_H_

#include <string>

#include "absl/status/status.h"

namespace kmesh::linux_backend {

// The hint every EPERM from a BPF or tc call carries.
inline constexpr char kBpfNotPermitted[] =
    "BPF not permitted: run as root with CAP_BPF/CAP_NET_ADMIN";

// `err` is a positive errno (libbpf returns it negated). The message is
// "<what>: <NAME> (<strerror>)", plus kBpfNotPermitted for EPERM. Codes: EPERM
// PermissionDenied, ENOENT/ENODEV/ENXIO NotFound, E2BIG/ENOSPC/ENOMEM
// ResourceExhausted, EEXIST AlreadyExists, EINVAL InvalidArgument, anything
// else Internal.
absl::Status BpfErrnoStatus(int err, const std::string& what);

}  // namespace kmesh::linux_backend

#endif  // KMESH_LINUX_BPF_ERRORS_H_
