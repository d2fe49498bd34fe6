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

absl::StatusOr<std::string> MakeTestDirectory(const std::string& prefix,
                                              const std::string& base) {
  const char* tmp = std::getenv("TEST_TMPDIR");
  const std::string parent = !base.empty()                    ? base
                             : tmp != nullptr && *tmp != '\0' ? tmp
                                                              : "/tmp";
  const std::string pattern = absl::StrCat(parent, "/", prefix, "-XXXXXX");
  std::vector<char> buffer(pattern.begin(), pattern.end());
  buffer.push_back('\0');
  if (mkdtemp(buffer.data()) == nullptr) {
    return TestSetupError(errno, absl::StrCat("mkdtemp ", pattern));
  }
  return std::string(buffer.data());
}

absl::StatusOr<std::unique_ptr<PrivateBpfFilesystem>>
PrivateBpfFilesystem::Create() {
  if (absl::Status s = EnterPrivateMountNamespace(); !s.ok()) return s;
  absl::StatusOr<std::string> dir = MakeTestDirectory("bpffs");
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
