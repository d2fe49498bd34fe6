#include "kmesh/linux/pinned_encrypt_marker.h"

#include <bpf/bpf.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include "absl/strings/str_cat.h"
#include "kmesh/linux/bpf_errors.h"
#include "kmesh/linux/bpf_marker_loader.h"

namespace kmesh::linux_backend {

std::string PinnedEncryptMarker::pin_path() const {
  return absl::StrCat(pin_directory_, "/", kEncryptProgramPinName);
}

absl::StatusOr<int> PinnedEncryptMarker::OpenProgram() const {
  const std::string path = pin_path();
  const int fd = bpf_obj_get(path.c_str());
  if (fd >= 0) return fd;
  const int err = errno;
  if (err == ENOENT) {
    return absl::FailedPreconditionError(absl::StrCat(
        "the encrypt marker is not pinned at ", path,
        ": kmesh-daemon has not started on this node yet (or runs with "
        "another --bpf-pin-dir)"));
  }
  return BpfErrnoStatus(err, absl::StrCat("open pinned program ", path));
}

absl::Status PinnedEncryptMarker::Attach(const std::string& interface) {
  absl::StatusOr<int> fd = OpenProgram();
  if (!fd.ok()) return fd.status();
  absl::Status s = AttachMarkerFilter(MarkerProgram::kEncrypt, *fd, interface);
  close(*fd);
  return s;
}

absl::Status PinnedEncryptMarker::Detach(const std::string& interface) {
  return DetachMarkerFilter(MarkerProgram::kEncrypt, interface);
}

absl::StatusOr<bool> PinnedEncryptMarker::IsAttached(
    const std::string& interface) {
  absl::StatusOr<int> fd = OpenProgram();
  if (!fd.ok()) return fd.status();
  absl::StatusOr<bool> attached =
      IsMarkerFilterAttached(MarkerProgram::kEncrypt, *fd, interface);
  close(*fd);
  return attached;
}

bool IsBridgeInterface(const std::string& interface) {
  struct stat st;
  const std::string path =
      absl::StrCat("/sys/class/net/", interface, "/bridge");
  return stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

}  // namespace kmesh::linux_backend
