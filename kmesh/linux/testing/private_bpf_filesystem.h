// PrivateBpfFilesystem: a bpf filesystem that belongs to one test. Creating it
// moves the calling thread into a new mount namespace in which every mount is
// private (nothing propagates back to the host), then mounts a bpffs on a
// fresh directory under $TEST_TMPDIR (or /tmp). Pins made there are gone when
// the object is destroyed, and with the namespace if the test is killed, so
// the host is left as it was found and no /sys/fs/bpf need exist. Threads the
// caller starts afterwards share the namespace; threads started before do
// not. Needs CAP_SYS_ADMIN: Create() says so (for GTEST_SKIP) when it fails.
#ifndef KMESH_LINUX_TESTING_PRIVATE_BPF_FILESYSTEM_H_
#define KMESH_LINUX_TESTING_PRIVATE_BPF_FILESYSTEM_H_

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "kmesh/base/testing/test_directory.h"
#include "kmesh/linux/testing/private_namespaces.h"

namespace kmesh::linux_backend::testing {

class PrivateBpfFilesystem {
 public:
  static absl::StatusOr<std::unique_ptr<PrivateBpfFilesystem>> Create();
  // Unmounts the filesystem (dropping every pin in it) and removes the
  // directory.
  ~PrivateBpfFilesystem();

  PrivateBpfFilesystem(const PrivateBpfFilesystem&) = delete;
  PrivateBpfFilesystem& operator=(const PrivateBpfFilesystem&) = delete;

  // The mount point, e.g. "$TEST_TMPDIR/bpffs-XXXXXX".
  const std::string& path() const { return path_; }

 private:
  explicit PrivateBpfFilesystem(std::string path) : path_(std::move(path)) {}
  std::string path_;
};

}  // namespace kmesh::linux_backend::testing

#endif  // KMESH_LINUX_TESTING_PRIVATE_BPF_FILESYSTEM_H_
