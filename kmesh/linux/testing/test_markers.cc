#include "kmesh/linux/testing/test_markers.h"

#include <unistd.h>

#include "absl/strings/str_cat.h"

namespace kmesh::linux_backend::testing {

BpfMarkerLoaderOptions TestMarkerObjects(const std::string& pin_directory) {
  BpfMarkerLoaderOptions options;
  options.encrypt_object_path = "bpf/encrypt_marker.bpf.o";
  options.decrypt_object_path = "bpf/decrypt_marker.bpf.o";
  options.pin_directory = pin_directory;
  return options;
}

absl::StatusOr<std::unique_ptr<BpfMarkerLoader>> LoadTestMarkers(
    const std::string& pin_directory) {
  if (geteuid() != 0) {
    return absl::PermissionDeniedError(
        "needs root: loading BPF requires CAP_BPF and CAP_NET_ADMIN");
  }
  absl::StatusOr<std::unique_ptr<BpfMarkerLoader>> loader =
      BpfMarkerLoader::Load(TestMarkerObjects(pin_directory));
  if (absl::IsPermissionDenied(loader.status())) {
    return absl::PermissionDeniedError(
        absl::StrCat("BPF unavailable here: ", loader.status().message()));
  }
  return loader;
}

}  // namespace kmesh::linux_backend::testing
