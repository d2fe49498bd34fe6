#include "kmesh/linux/testing/private_bpf_filesystem.h"

#include <sys/mount.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <vector>

#include "absl/strings/str_cat.h"
#include "kmesh/linux/testing/private_namespaces.h"

namespace kmesh::linux_backend::testing {

absl::StatusOr<std::unique_ptr<PrivateBpfFilesystem>>
PrivateBpfFilesystem::Create() {
  if (absl::Status s = EnterPrivateMountNamespace(); !s.ok()) return s;
  absl::StatusOr<std::string> dir =
      ::kmesh::testing::MakeTestDirectory("bpffs");
  if (!dir.ok()) return dir.status();
  if (mount("bpf", dir->c_str(), "bpf", 0, "mode=0700") != 0) {
    const int err = errno;
    rmdir(dir->c_str());
    return TestSetupError(err, absl::StrCat("mount -t bpf bpf ", *dir));
  }
  return std::unique_ptr<PrivateBpfFilesystem>(
      new PrivateBpfFilesystem(*std::move(dir)));
}

PrivateBpfFilesystem::~PrivateBpfFilesystem() {
  umount2(path_.c_str(), MNT_DETACH);
  std::error_code ignored;
  std::filesystem::remove(path_, ignored);
}

}  // namespace kmesh::linux_backend::testing
