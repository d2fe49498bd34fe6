// NodeAgent: the slot on each simulated node where the Kmesh daemon runs.
// SimCluster creates one agent per node through a NodeAgentFactory, starts it
// when the node comes up, and stops it when the node leaves, reboots or the
// daemon is restarted (a restart creates a new agent: a new process). The
// factory gets everything a daemon pod has on a real node (NodeAgentContext):
// the node's name, its kernel (XFRM tables, marker maps and tc hooks), a
// kubeconfig for the API server, and its working directory with the projected
// secret volume. The production wiring (IpsecController + key-file and peer
// watchers + ManagedPodTracker + the REST client) is provided by
// daemon_node_agent.h; NoopNodeAgent, which programs nothing, keeps all
// traffic plaintext and is what the scaffolding tests use.
#ifndef SIM_CLUSTER_NODE_AGENT_H_
#define SIM_CLUSTER_NODE_AGENT_H_

#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "kmesh/base/clock.h"
#include "sim/kernel/sim_kernel.h"

namespace kmesh::sim {

struct NodeAgentContext {
  std::string node_name;
  // The node's kernel for this boot, the NodeBackends a daemon programs
  // (XFRM tables, marker maps, the markers' tc attach points). Replaced by a
  // reboot (the agent is recreated then).
  std::shared_ptr<SimKernel> kernel;
  // A kubeconfig for the simulated API server (plain HTTP on 127.0.0.1).
  std::string kubeconfig_path;
  // The daemon's working directory on this node; the secret volume is
  // projected at <work_dir>/kmesh-ipsec (key file below).
  std::string work_dir;
  std::string key_file_path;  // <work_dir>/kmesh-ipsec/ipSec
  // How long old keys stay after every peer moved on (--ipsec-grace-period).
  std::chrono::seconds ipsec_grace_period{300};
  const Clock* clock = nullptr;
};

// How an agent is stopped.
enum class AgentStop {
  // SIGTERM: the daemon ends its threads; like kKill it leaves its kernel
  // state and its KmeshNodeInfo in place for the next daemon to adopt.
  kGraceful,
  kKill,  // SIGKILL / crash / power loss: threads end, state stays.
};

class NodeAgent {
 public:
  virtual ~NodeAgent() = default;
  // Starts the agent's work (threads); returns once it runs. An error means
  // the daemon could not start (the node runs without it).
  virtual absl::Status Start() = 0;
  // Stops it; idempotent. The destructor must not be the first stop.
  virtual void Stop(AgentStop mode) = 0;
  // The port of its status endpoint on 127.0.0.1 (kmesh-daemon's
  // --status-address), 0 when it has none. SimCluster publishes it in the
  // node's daemon Pod, which the API server's pod proxy follows.
  virtual uint16_t status_port() const { return 0; }
};

using NodeAgentFactory =
    std::function<absl::StatusOr<std::unique_ptr<NodeAgent>>(
        const NodeAgentContext& context)>;

// An agent that programs nothing: no SAs, no policies, no markers. Counts its
// starts and stops, for tests.
class NoopNodeAgent : public NodeAgent {
 public:
  explicit NoopNodeAgent(NodeAgentContext context)
      : context_(std::move(context)) {}
  absl::Status Start() override {
    running_ = true;
    return absl::OkStatus();
  }
  void Stop(AgentStop) override { running_ = false; }
  bool running() const { return running_; }
  const NodeAgentContext& context() const { return context_; }

 private:
  NodeAgentContext context_;
  bool running_ = false;
};

NodeAgentFactory NoopNodeAgentFactory();

}  // namespace kmesh::sim

#endif  // SIM_CLUSTER_NODE_AGENT_H_
