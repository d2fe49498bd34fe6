#include "sim/cluster/daemon_node_agent.h"

namespace kmesh::sim {

absl::StatusOr<NodeAgentFactory> DaemonNodeAgentFactory() {
  return absl::FailedPreconditionError(
      "no IPsec agent wired: sim/cluster/daemon_node_agent.cc does not yet "
      "start the Kmesh daemon (IpsecController, key-file and peer watchers, "
      "ManagedPodTracker) on the simulated nodes");
}

}  // namespace kmesh::sim
