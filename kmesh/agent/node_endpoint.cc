#include "kmesh/agent/node_endpoint.h"

#include <utility>

#include "kmesh/telemetry/metrics_exposition.h"

namespace kmesh::agent {

void RunningAgent::Set(IpsecAgent* agent) {
  absl::MutexLock lock(&mu_);
  agent_ = agent;
}

std::optional<NodeStatus> RunningAgent::Status() {
  absl::MutexLock lock(&mu_);
  if (agent_ == nullptr) return std::nullopt;
  return agent_->Status();
}

absl::StatusOr<std::unique_ptr<telemetry::HttpEndpoint>> StartNodeEndpoint(
    const std::string& address, NodeStatusSource source) {
  telemetry::HttpEndpointOptions options;
  options.address = address;
  options.routes[kStatusPath] = [source] {
    std::optional<NodeStatus> status = source();
    if (!status) {
      return telemetry::HttpResponse{
          503, "application/json",
          "{\"kind\":\"Status\",\"status\":\"Failure\",\"message\":\"the "
          "IPsec agent is not running yet (waiting for its Node object)\","
          "\"code\":503}\n"};
    }
    return telemetry::HttpResponse{200, "application/json",
                                   NodeStatusJson(*status)};
  };
  auto metrics = std::make_shared<NodeMetrics>(std::move(source));
  options.routes["/metrics"] = [metrics] {
    return telemetry::PrometheusTextResponse(*metrics);
  };
  options.routes["/healthz"] = [] {
    return telemetry::HttpResponse{200, "", "ok\n"};
  };
  return telemetry::HttpEndpoint::Start(std::move(options));
}

}  // namespace kmesh::agent
