#include "sim/cluster/node_agent.h"

namespace kmesh::sim {

NodeAgentFactory NoopNodeAgentFactory() {
  return [](const NodeAgentContext& context)
             -> absl::StatusOr<std::unique_ptr<NodeAgent>> {
    return std::make_unique<NoopNodeAgent>(context);
  };
}

}  // namespace kmesh::sim
