// The production daemon as a NodeAgent: the factory kmesh-sim `demo` and
// `up` (and the e2e tests) use so that each simulated node runs the real
// Kmesh IPsec code (kmesh/ipsec IpsecController with the key-file watcher on
// NodeAgentContext::key_file_path, the KmeshNodeInfo peer watcher and
// publisher over a RestKubeClient built from NodeAgentContext::
// kubeconfig_path, ManagedPodTracker over the node's marker maps and tc
// hooks) against the node's SimKernel.
#ifndef SIM_CLUSTER_DAEMON_NODE_AGENT_H_
#define SIM_CLUSTER_DAEMON_NODE_AGENT_H_

#include "absl/status/statusor.h"
#include "sim/cluster/node_agent.h"

namespace kmesh::sim {

absl::StatusOr<NodeAgentFactory> DaemonNodeAgentFactory();

}  // namespace kmesh::sim

#endif  // SIM_CLUSTER_DAEMON_NODE_AGENT_H_
