#include "kmesh/kernel/marker_maps.h"

namespace kmesh {

absl::Status MarkerMaps::UpdateUnmanagedPods(
    const std::vector<IpAddress>& upserts,
    const std::vector<IpAddress>& deletes) {
  absl::Status first;
  for (const IpAddress& ip : upserts) {
    absl::Status s = UpsertUnmanagedPod(ip);
    if (!s.ok() && first.ok()) first = s;
  }
  for (const IpAddress& ip : deletes) {
    absl::Status s = DeleteUnmanagedPod(ip);
    if (!s.ok() && first.ok()) first = s;
  }
  return first;
}

}  // namespace kmesh
