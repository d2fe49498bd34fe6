// BPF error reporting for the marker loader and maps: a failed libbpf or tc
// call as a KernelError (kmesh/kernel/kernel_error.h: the errno, its name and
// its code), plus what to do when the privilege is missing.
#ifndef KMESH_LINUX_BPF_ERRORS_H_
#define KMESH_LINUX_BPF_ERRORS_H_

#include <string>

#include "absl/status/status.h"

namespace kmesh::linux_backend {

// The hint every EPERM from a BPF or tc call carries.
inline constexpr char kBpfNotPermitted[] =
    "BPF not permitted: run as root with CAP_BPF/CAP_NET_ADMIN";

// `err` is an errno, positive or negated (libbpf returns it negated):
// KernelError(err, what), with kBpfNotPermitted as the hint for EPERM.
absl::Status BpfErrnoStatus(int err, const std::string& what);

}  // namespace kmesh::linux_backend

#endif  // KMESH_LINUX_BPF_ERRORS_H_
