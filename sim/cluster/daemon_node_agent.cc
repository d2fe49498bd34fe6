#include "sim/cluster/daemon_node_agent.h"

#include "absl/strings/str_cat.h"
#include "kmesh/agent/ipsec_agent.h"
#include "kmesh/agent/node_endpoint.h"
#include "kmesh/kube/kubeconfig.h"
#include "kmesh/kube/rest_kube_client.h"

namespace kmesh::sim {
namespace {

// The production IpsecAgent (what kmesh-daemon runs) on a simulated node:
// its own REST client to the simulated API server, the node's SimKernel as
// XFRM tables and marker maps, the node's projected key file.
class DaemonNodeAgent : public NodeAgent {
 public:
  DaemonNodeAgent(const NodeAgentContext& context,
                  DaemonNodeAgentOptions options)
      : context_(context), options_(options) {}
  ~DaemonNodeAgent() override { Stop(AgentStop::kKill); }

  absl::Status Start() override {
    auto access = kube::LoadKubeconfigFile(context_.kubeconfig_path, "");
    if (!access.ok()) return access.status();
    kube::RestKubeClientOptions options;
    options.transport.request_timeout = options_.request_timeout;
    auto client = kube::RestKubeClient::ForCluster(*access, options);
    if (!client.ok()) return client.status();
    client_ = *std::move(client);

    agent::IpsecAgentConfig config;
    config.node_name = context_.node_name;
    config.key_file_path = context_.key_file_path;
    config.tick_interval = options_.tick_interval;
    config.self_refresh_interval = options_.self_refresh_interval;
    config.controller.grace_period = context_.ipsec_grace_period;
    config.reflector.initial_backoff = std::chrono::milliseconds(100);
    config.reflector.max_backoff = std::chrono::milliseconds(1000);
    agent::IpsecAgentDeps deps;
    deps.client = client_.get();
    deps.node = context_.kernel.get();
    deps.clock = context_.clock != nullptr ? context_.clock : RealClock::Get();
    // As kmesh-daemon does: the endpoint first (it answers 503 until the
    // agent runs), on an ephemeral loopback port.
    auto endpoint =
        agent::StartNodeEndpoint("127.0.0.1:0", running_.AsSource());
    if (!endpoint.ok()) return endpoint.status();
    endpoint_ = *std::move(endpoint);
    auto agent = agent::IpsecAgent::Start(config, deps);
    if (!agent.ok()) {
      endpoint_->Stop();
      endpoint_.reset();
      return agent.status();
    }
    agent_ = *std::move(agent);
    running_.Set(agent_.get());
    return absl::OkStatus();
  }

  uint16_t status_port() const override {
    return endpoint_ ? endpoint_->port() : 0;
  }

  void Stop(AgentStop mode) override {
    if (agent_ == nullptr) return;
    // SIGTERM and SIGKILL end the same way: the kernel and the API keep
    // everything (kmesh-daemon removes nothing when it stops).
    (void)mode;
    running_.Clear();
    if (endpoint_) endpoint_->Stop();
    agent_->Stop();
    agent_.reset();
  }

 private:
  const NodeAgentContext context_;
  const DaemonNodeAgentOptions options_;
  std::unique_ptr<kube::RestKubeClient> client_;
  std::unique_ptr<agent::IpsecAgent> agent_;
  agent::RunningAgent running_;
  // Stopped (not destroyed) with the agent: the port stays known, so the
  // daemon Pod keeps pointing at a port nothing listens on, as a real
  // crashed daemon's does.
  std::unique_ptr<telemetry::HttpEndpoint> endpoint_;
};

}  // namespace

absl::StatusOr<NodeAgentFactory> DaemonNodeAgentFactory() {
  return DaemonNodeAgentFactory(DaemonNodeAgentOptions());
}

absl::StatusOr<NodeAgentFactory> DaemonNodeAgentFactory(
    DaemonNodeAgentOptions options) {
  return NodeAgentFactory([options](const NodeAgentContext& context)
                              -> absl::StatusOr<std::unique_ptr<NodeAgent>> {
    return std::unique_ptr<NodeAgent>(new DaemonNodeAgent(context, options));
  });
}

}  // namespace kmesh::sim
