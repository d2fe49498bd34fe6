// Fuzz target: kubeconfig YAML (kubeconfig.h: ParseKubeconfig), for the
// file's current context and for a named one. Files the kubeconfig names
// (certificate-authority, client-key, tokenFile, ...) are read by design;
// they resolve against a directory that does not exist, and inputs naming
// a device or kernel file system (or escaping, which could spell one) are
// skipped, so an input cannot make the fuzzer read /dev/zero.
#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/string_view.h"
#include "kmesh/kube/kubeconfig.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view yaml(reinterpret_cast<const char*>(data), size);
  for (absl::string_view word : {"dev", "proc", "sys", "\\", "%"}) {
    if (absl::StrContains(yaml, word)) return 0;
  }
  const std::string base_dir = "/nonexistent-kmesh-fuzz";
  absl::StatusOr<kmesh::kube::ClusterAccess> access =
      kmesh::kube::ParseKubeconfig(yaml, base_dir, "fuzz-kubeconfig", "");
  if (access.ok()) {
    kmesh::kube::CheckCredentialsNotInClear(*access).IgnoreError();
    kmesh::kube::ClusterAccess copy = access->Clone();
    static_cast<void>(copy.server.size());
  }
  absl::StatusOr<kmesh::kube::ClusterAccess> other =
      kmesh::kube::ParseKubeconfig(yaml, base_dir, "fuzz-kubeconfig", "kind");
  static_cast<void>(other.ok());
  return 0;
}
