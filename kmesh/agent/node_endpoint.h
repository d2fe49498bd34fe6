// NodeEndpoint: the daemon's HTTP endpoint (--status-address), serving
//   GET /v1/ipsec/status  the node's status as JSON (node_status.h), read by
//                         `kmeshctl secret status` through the API server's
//                         pod proxy; 503 while the agent is not running,
//   GET /metrics          Prometheus metrics (node_metrics.h), and
//   GET /healthz          "ok" while the process serves, and
//   GET /readyz           "ok" once the agent runs, has adopted the kernel's
//                         state and has seen the complete peer lists (503
//                         saying which is missing before; the DaemonSet's
//                         readiness probe).
// The agent may start after the endpoint (kubelet may not have reported the
// node yet) and stop before it: the endpoint reads it through a
// NodeStatusSource that answers nullopt meanwhile. Nothing it serves holds
// key material.
#ifndef KMESH_AGENT_NODE_ENDPOINT_H_
#define KMESH_AGENT_NODE_ENDPOINT_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "kmesh/agent/ipsec_agent.h"
#include "kmesh/agent/node_metrics.h"
#include "kmesh/base/clock.h"
#include "kmesh/telemetry/http_endpoint.h"

namespace kmesh::agent {

inline constexpr char kStatusPath[] = "/v1/ipsec/status";
inline constexpr int kDefaultStatusPort = 15200;

// Where the endpoint finds the running agent, if any. Set() and Clear() wait
// for a status read in progress, so an agent cleared is no longer used.
class RunningAgent {
 public:
  void Set(IpsecAgent* agent) ABSL_LOCKS_EXCLUDED(mu_);
  void Clear() ABSL_LOCKS_EXCLUDED(mu_) { Set(nullptr); }
  std::optional<NodeStatus> Status() ABSL_LOCKS_EXCLUDED(mu_);
  NodeStatusSource AsSource() {
    return [this] { return Status(); };
  }

 private:
  absl::Mutex mu_;
  IpsecAgent* agent_ ABSL_GUARDED_BY(mu_) = nullptr;
};

// `source` read at most once per `max_age`: answers within it share one
// status. A status costs a controller snapshot under the controller's lock
// and an XFRM dump; a client polling the endpoint in a loop would otherwise
// hold those locks back to back and slow the node's events about 2x
// (docs/benchmarks.md); with the cache it costs what a few scrapes a second
// cost. Thread-safe.
NodeStatusSource CachedNodeStatus(NodeStatusSource source, Duration max_age,
                                  const Clock* clock);

// How old a status the endpoint may serve: short enough that an operator
// never sees a daemon behind its own KmeshNodeInfo for long, long enough
// that a client polling in a loop costs at most five statuses a second.
inline constexpr Duration kStatusMaxAge = std::chrono::milliseconds(200);

// Starts the endpoint on `address` (telemetry::ParseListenAddress syntax)
// with the routes above, reading `source` through CachedNodeStatus.
absl::StatusOr<std::unique_ptr<telemetry::HttpEndpoint>> StartNodeEndpoint(
    const std::string& address, NodeStatusSource source,
    Duration max_age = kStatusMaxAge, const Clock* clock = RealClock::Get());

}  // namespace kmesh::agent

#endif  // KMESH_AGENT_NODE_ENDPOINT_H_
