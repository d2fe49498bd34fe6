// PinnedEncryptMarker: the encrypt marker as kmesh-cni sees it on a node.
// kmesh-daemon loads the marker and pins its program in the pin directory
// (bpf_marker_loader.h: kEncryptProgramPinName); this opens that pin and
// attaches the very same program, with the daemon's maps, as the same tc
// filter the daemon uses (ingress, kEncryptMarkerTcHandle,
// kMarkerTcPriority), so either of them may attach, replace or detach it.
// Attaching when the daemon has not pinned the program yet is
// FailedPrecondition (a missing pin is not a missing interface). Works in
// the calling thread's network namespace: the host's, where the host side
// of a pod's veth lives.
#ifndef KMESH_LINUX_PINNED_ENCRYPT_MARKER_H_
#define KMESH_LINUX_PINNED_ENCRYPT_MARKER_H_

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace kmesh::linux_backend {

class PinnedEncryptMarker {
 public:
  // `pin_directory`: the daemon's --bpf-pin-dir.
  explicit PinnedEncryptMarker(std::string pin_directory)
      : pin_directory_(std::move(pin_directory)) {}

  absl::Status Attach(const std::string& interface);
  // Succeeds when nothing is attached or the interface is gone; needs no
  // pin.
  absl::Status Detach(const std::string& interface);
  // Whether the filter on `interface` runs the pinned program.
  absl::StatusOr<bool> IsAttached(const std::string& interface);

  std::string pin_path() const;

 private:
  // The pinned program's fd (the caller closes it).
  absl::StatusOr<int> OpenProgram() const;

  const std::string pin_directory_;
};

// Whether `interface` is a Linux bridge (/sys/class/net/<if>/bridge).
bool IsBridgeInterface(const std::string& interface);

}  // namespace kmesh::linux_backend

#endif  // KMESH_LINUX_PINNED_ENCRYPT_MARKER_H_
