#include "sim/cluster/managed_mesh.h"

namespace kmesh::sim {

absl::StatusOr<std::vector<std::pair<SimPodInfo, SimPodInfo>>> StartManagedMesh(
    SimCluster* cluster, Traffic* traffic, const std::string& ns) {
  if (ns != "default") {
    if (absl::Status s = cluster->CreateNamespace(ns, {}); !s.ok()) return s;
  }
  std::vector<SimPodInfo> apps;
  for (const std::string& node : cluster->node_names()) {
    absl::StatusOr<SimPodInfo> app =
        cluster->CreatePod(ns, "app-" + node, node, {});
    if (!app.ok()) return app.status();
    apps.push_back(*app);
  }
  std::vector<std::pair<SimPodInfo, SimPodInfo>> pairs;
  for (const SimPodInfo& a : apps) {
    for (const SimPodInfo& b : apps) {
      if (a.node == b.node) continue;
      absl::StatusOr<int> flow = traffic->AddFlow({a.ns, a.name, b.ns, b.name});
      if (!flow.ok()) return flow.status();
      pairs.push_back({a, b});
    }
  }
  if (absl::Status s =
          cluster->SetNamespaceLabel(ns, kDataplaneModeLabel, "Kmesh");
      !s.ok()) {
    return s;
  }
  return pairs;
}

}  // namespace kmesh::sim
