// ManagedMesh: the workload most end-to-end tests run on a simulated
// cluster. One pod per node (`app-<node>` in `ns`), a request/response flow
// between every ordered pair of them on a Traffic, and `ns` labelled
// istio.io/dataplane-mode=Kmesh, so that every flow crosses two nodes and is
// managed: all of it must be encrypted once a key exists.
#ifndef SIM_CLUSTER_MANAGED_MESH_H_
#define SIM_CLUSTER_MANAGED_MESH_H_

#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "sim/cluster/sim_cluster.h"
#include "sim/cluster/traffic.h"

namespace kmesh::sim {

// Kmesh's label that puts a namespace's pods under management.
inline constexpr char kDataplaneModeLabel[] = "istio.io/dataplane-mode";

// Creates the pods and flows and labels `ns` (created if missing, as
// "default" always exists). Returns the (client, server) pod of each flow.
absl::StatusOr<std::vector<std::pair<SimPodInfo, SimPodInfo>>> StartManagedMesh(
    SimCluster* cluster, Traffic* traffic, const std::string& ns = "default");

}  // namespace kmesh::sim

#endif  // SIM_CLUSTER_MANAGED_MESH_H_
