#include "kmesh/linux/bpf_filesystem.h"

#include <linux/magic.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace kmesh::linux_backend {
namespace {

// "EPERM (Operation not permitted)".
std::string ErrnoText(int err) {
  const char* name = strerrorname_np(err);
  return absl::StrCat(name ? name : absl::StrCat("errno ", err), " (",
                      std::strerror(err), ")");
}

// "/a/b/c/" -> "/a/b/c"; "/a//b" -> "/a/b".
std::string Normalize(const std::string& path) {
  std::string out;
  for (char c : path) {
    if (c == '/' && !out.empty() && out.back() == '/') continue;
    out.push_back(c);
  }
  while (out.size() > 1 && out.back() == '/') out.pop_back();
  return out;
}

// mkdir -p.
absl::Status MakeDirectories(const std::string& directory) {
  for (size_t slash = 0; slash != std::string::npos;) {
    slash = directory.find('/', slash + 1);
    const std::string prefix = directory.substr(0, slash);
    if (mkdir(prefix.c_str(), 0700) != 0 && errno != EEXIST) {
      return absl::FailedPreconditionError(
          absl::StrCat("create directory ", prefix, ": ", ErrnoText(errno)));
    }
  }
  struct stat st;
  if (stat(directory.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    return absl::FailedPreconditionError(
        absl::StrCat(directory, " exists and is not a directory"));
  }
  return absl::OkStatus();
}

}  // namespace

bool IsOnBpfFilesystem(const std::string& path) {
  struct statfs fs;
  return statfs(path.c_str(), &fs) == 0 &&
         static_cast<unsigned long>(fs.f_type) == BPF_FS_MAGIC;
}

absl::StatusOr<BpfFilesystem> EnsureBpfFilesystem(
    const std::string& pin_directory) {
  const std::string pin = Normalize(pin_directory);
  if (pin.empty() || pin[0] != '/' || pin == "/") {
    return absl::InvalidArgumentError(
        absl::StrCat("BPF pin directory \"", pin_directory,
                     "\" must be an absolute path below a mount point, e.g. "
                     "/sys/fs/bpf/kmesh-ipsec"));
  }
  const std::string parent =
      pin.rfind('/') == 0 ? "/" : pin.substr(0, pin.rfind('/'));
  if (IsOnBpfFilesystem(pin)) return BpfFilesystem{pin, false};
  if (IsOnBpfFilesystem(parent)) return BpfFilesystem{parent, false};

  const std::string advice = absl::StrCat(
      "mount one by hand (mount -t bpf bpf ", parent,
      "), or pass --bpf-pin-dir=<a directory on a bpf filesystem>");
  if (parent == "/") {
    return absl::FailedPreconditionError(absl::StrCat(
        "BPF pin directory ", pin,
        " is not on a bpf filesystem and one cannot be mounted on /: ",
        advice));
  }
  if (absl::Status made = MakeDirectories(parent); !made.ok()) {
    return absl::FailedPreconditionError(
        absl::StrCat("no bpf filesystem for the BPF pin directory ", pin, ": ",
                     made.message(), "; ", advice));
  }
  if (mount("bpf", parent.c_str(), "bpf", 0, "mode=0700") != 0) {
    const int err = errno;
    return absl::FailedPreconditionError(absl::StrCat(
        "no bpf filesystem at ", parent,
        " and mounting one failed: ", ErrnoText(err),
        err == EPERM ? " (mounting needs CAP_SYS_ADMIN)" : "", "; ", advice));
  }
  return BpfFilesystem{parent, true};
}

}  // namespace kmesh::linux_backend
