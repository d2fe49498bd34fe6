// NodeMetrics: one node's IPsec as Prometheus metrics. It is a
// prometheus::Collectable that reads the node's status (node_status.h) when
// scraped, so nothing on the packet or event paths changes: the controller
// keeps its counters as before, under the lock it already holds, and the
// metrics are computed only when Prometheus asks. Names follow Prometheus
// conventions (prefix kmesh_ipsec_, base units, _total for counters,
// _timestamp_seconds for times); docs/metrics.md lists every one.
#ifndef KMESH_AGENT_NODE_METRICS_H_
#define KMESH_AGENT_NODE_METRICS_H_

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "kmesh/agent/node_status.h"
#include "prometheus/collectable.h"
#include "prometheus/metric_family.h"

namespace kmesh::agent {

// Returns the node's status now, or nullopt while the agent is not running
// (then only kmesh_ipsec_up 0 is exported).
using NodeStatusSource = std::function<std::optional<NodeStatus>()>;

class NodeMetrics : public prometheus::Collectable {
 public:
  explicit NodeMetrics(NodeStatusSource source) : source_(std::move(source)) {}
  std::vector<prometheus::MetricFamily> Collect() const override;

 private:
  NodeStatusSource source_;
};

// The families for `status` (nullopt: the agent is not running), with
// `unix_now` the wall-clock time that status.now corresponds to.
std::vector<prometheus::MetricFamily> NodeMetricFamilies(
    const std::optional<NodeStatus>& status, double unix_now);

// The text exposition format (version 0.0.4) of `families`.
std::string PrometheusText(
    const std::vector<prometheus::MetricFamily>& families);

}  // namespace kmesh::agent

#endif  // KMESH_AGENT_NODE_METRICS_H_
