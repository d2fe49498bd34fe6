// EnsureBpfFilesystem: makes sure a directory for pinned BPF maps can exist,
// the way Kmesh's start_kmesh.sh and Cilium's agent do at start-up. A fresh
// host often has no bpf filesystem at /sys/fs/bpf; pinning there then fails.
// When the pin directory is not on a bpf filesystem already, one is mounted on
// its parent (for the default /sys/fs/bpf/kmesh-ipsec: /sys/fs/bpf), never on
// top of an existing bpf filesystem. A failure says what to do instead.
#ifndef KMESH_LINUX_BPF_FILESYSTEM_H_
#define KMESH_LINUX_BPF_FILESYSTEM_H_

#include <string>

#include "absl/status/statusor.h"

namespace kmesh::linux_backend {

struct BpfFilesystem {
  // The directory the bpf filesystem is mounted on (or found at).
  std::string mount_point;
  // Whether this call mounted it (false: it was there already).
  bool mounted_now = false;
};

// Ensures `pin_directory` (absolute, not "/") lies on a bpf filesystem: if
// it, or else its parent, is on one, nothing is changed; otherwise a bpf
// filesystem (mode 0700) is mounted on the parent, which is created first if
// missing. The pin directory itself is not created. InvalidArgument for a
// relative path or "/"; FailedPrecondition when the mount cannot be made,
// naming the errno, the command to run by hand and the flag to use instead.
absl::StatusOr<BpfFilesystem> EnsureBpfFilesystem(
    const std::string& pin_directory);

// Whether `path` exists and lies on a bpf filesystem.
bool IsOnBpfFilesystem(const std::string& path);

}  // namespace kmesh::linux_backend

#endif  // KMESH_LINUX_BPF_FILESYSTEM_H_
