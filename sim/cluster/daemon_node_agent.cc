#include "sim/cluster/daemon_node_agent.h"

#include "absl/strings/str_cat.h"
#include "kmesh/agent/ipsec_agent.h"
#include "kmesh/kube/kubeconfig.h"
#include "kmesh/kube/rest_kube_client.h"

namespace kmesh::sim {
namespace {

// The production IpsecAgent (what kmesh-daemon runs) on a simulated node:
// its own REST client to the simulated API server, the node's SimKernel as
// XFRM tables and marker maps, the node's projected key file.
class DaemonNodeAgent : public NodeAgent {
 public:
  explicit DaemonNodeAgent(const NodeAgentContext& context)
      : context_(context) {}
  ~DaemonNodeAgent() override { Stop(AgentStop::kKill); }

  absl::Status Start() override {
    auto access = kube::LoadKubeconfigFile(context_.kubeconfig_path, "");
    if (!access.ok()) return access.status();
    kube::RestKubeClientOptions options;
    auto client = kube::RestKubeClient::ForCluster(*access, options);
    if (!client.ok()) return client.status();
    client_ = *std::move(client);

    agent::IpsecAgentConfig config;
    config.node_name = context_.node_name;
    config.key_file_path = context_.key_file_path;
    config.tick_interval = std::chrono::milliseconds(100);
    config.self_refresh_interval = std::chrono::milliseconds(200);
    config.controller.grace_period = context_.ipsec_grace_period;
    config.reflector.initial_backoff = std::chrono::milliseconds(100);
    config.reflector.max_backoff = std::chrono::milliseconds(1000);
    agent::IpsecAgentDeps deps;
    deps.client = client_.get();
    deps.node = context_.kernel.get();
    deps.clock = context_.clock != nullptr ? context_.clock : RealClock::Get();
    auto agent = agent::IpsecAgent::Start(config, deps);
    if (!agent.ok()) return agent.status();
    agent_ = *std::move(agent);
    return absl::OkStatus();
  }

  void Stop(AgentStop mode) override {
    if (agent_ == nullptr) return;
    // SIGTERM and SIGKILL end the same way: the kernel and the API keep
    // everything (kmesh-daemon removes nothing when it stops).
    (void)mode;
    agent_->Stop();
    agent_.reset();
  }

 private:
  const NodeAgentContext context_;
  std::unique_ptr<kube::RestKubeClient> client_;
  std::unique_ptr<agent::IpsecAgent> agent_;
};

}  // namespace

absl::StatusOr<NodeAgentFactory> DaemonNodeAgentFactory() {
  return NodeAgentFactory([](const NodeAgentContext& context)
                              -> absl::StatusOr<std::unique_ptr<NodeAgent>> {
    return std::unique_ptr<NodeAgent>(new DaemonNodeAgent(context));
  });
}

}  // namespace kmesh::sim
