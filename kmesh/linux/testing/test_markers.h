// The eBPF markers as a test loads them: the compiled objects from the
// test's runfiles (bpf/encrypt_marker.bpf.o, bpf/decrypt_marker.bpf.o; the
// test target lists them as data), optionally with their maps pinned.
// Where the test may not load BPF (not root, BPF refused) the error is
// PermissionDenied, for the caller to skip with.
#ifndef KMESH_LINUX_TESTING_TEST_MARKERS_H_
#define KMESH_LINUX_TESTING_TEST_MARKERS_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "kmesh/linux/bpf_marker_loader.h"

namespace kmesh::linux_backend::testing {

// The loader options for the runfiles' objects and `pin_directory`.
BpfMarkerLoaderOptions TestMarkerObjects(const std::string& pin_directory = "");

// Loads them; PermissionDenied without root or where BPF is refused.
absl::StatusOr<std::unique_ptr<BpfMarkerLoader>> LoadTestMarkers(
    const std::string& pin_directory = "");

}  // namespace kmesh::linux_backend::testing

#endif  // KMESH_LINUX_TESTING_TEST_MARKERS_H_
