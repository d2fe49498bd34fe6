// The production daemon as a NodeAgent: the factory kmesh-sim `demo` and
// `up` (and the e2e tests) use so that each simulated node runs the real
// Kmesh IPsec code (kmesh/ipsec IpsecController with the key-file watcher on
// NodeAgentContext::key_file_path, the KmeshNodeInfo peer watcher and
// publisher over a RestKubeClient built from NodeAgentContext::
// kubeconfig_path, ManagedPodTracker over the node's marker maps and tc
// hooks) against the node's SimKernel.
#ifndef SIM_CLUSTER_DAEMON_NODE_AGENT_H_
#define SIM_CLUSTER_DAEMON_NODE_AGENT_H_

#include <chrono>

#include "absl/status/statusor.h"
#include "sim/cluster/node_agent.h"

namespace kmesh::sim {

struct DaemonNodeAgentOptions {
  // The REST client's per-request timeout (kmesh-daemon's default: 30 s).
  // The chaos soak shortens it so that a slow API server makes requests
  // time out.
  std::chrono::milliseconds request_timeout{30000};
  // How often the agent ticks and re-reads its own Node object. The
  // simulated cluster's tests use 100 ms and 200 ms so that a change is seen
  // at once; kmesh-daemon's defaults are 500 ms and 10 s, which a benchmark
  // of many nodes uses (1,000 agents re-reading every 200 ms would be 5,000
  // requests a second, none of which a real cluster makes).
  std::chrono::milliseconds tick_interval{100};
  std::chrono::milliseconds self_refresh_interval{200};
};

absl::StatusOr<NodeAgentFactory> DaemonNodeAgentFactory();
absl::StatusOr<NodeAgentFactory> DaemonNodeAgentFactory(
    DaemonNodeAgentOptions options);

}  // namespace kmesh::sim

#endif  // SIM_CLUSTER_DAEMON_NODE_AGENT_H_
