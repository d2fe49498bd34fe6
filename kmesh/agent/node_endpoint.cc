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

NodeStatusSource CachedNodeStatus(NodeStatusSource source, Duration max_age,
                                  const Clock* clock) {
  struct Cache {
    absl::Mutex mu;
    std::optional<NodeStatus> status ABSL_GUARDED_BY(mu);
    TimePoint read_at ABSL_GUARDED_BY(mu){};
    bool valid ABSL_GUARDED_BY(mu) = false;
  };
  auto cache = std::make_shared<Cache>();
  return [cache, source = std::move(source), max_age,
          clock]() -> std::optional<NodeStatus> {
    absl::MutexLock lock(&cache->mu);
    const TimePoint now = clock->Now();
    if (!cache->valid || now - cache->read_at >= max_age) {
      cache->status = source();
      cache->read_at = now;
      cache->valid = true;
    }
    return cache->status;
  };
}

absl::StatusOr<std::unique_ptr<telemetry::HttpEndpoint>> StartNodeEndpoint(
    const std::string& address, NodeStatusSource source, Duration max_age,
    const Clock* clock) {
  source = CachedNodeStatus(std::move(source), max_age, clock);
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
  auto metrics = std::make_shared<NodeMetrics>(source);
  options.routes["/metrics"] = [metrics] {
    return telemetry::PrometheusTextResponse(*metrics);
  };
  options.routes["/healthz"] = [] {
    return telemetry::HttpResponse{200, "", "ok\n"};
  };
  // Ready once the agent runs, adopted the kernel's state and has seen the
  // complete peer lists: a rolling update waits for that before it moves
  // on to the next node.
  options.routes["/readyz"] = [source] {
    std::optional<NodeStatus> status = source();
    if (!status) {
      return telemetry::HttpResponse{
          503, "", "not ready: the IPsec agent is not running yet\n"};
    }
    if (!status->controller.started) {
      return telemetry::HttpResponse{
          503, "", "not ready: the kernel's XFRM state is not adopted yet\n"};
    }
    if (!status->controller.peers_synced) {
      return telemetry::HttpResponse{
          503, "", "not ready: the peer lists are not complete yet\n"};
    }
    return telemetry::HttpResponse{200, "", "ok\n"};
  };
  return telemetry::HttpEndpoint::Start(std::move(options));
}

}  // namespace kmesh::agent
