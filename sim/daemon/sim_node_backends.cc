#include "sim/daemon/sim_node_backends.h"

#include <vector>

#include "sim/kernel/sim_kernel.h"

namespace kmesh::sim {
namespace {

// A SimKernel whose eth0 takes on the node's addresses when the agent
// first names them (the process has no network of its own to read them
// from).
class StandaloneSimKernel : public SimKernel {
 public:
  explicit StandaloneSimKernel(const std::string& node_name)
      : SimKernel(node_name, /*ifindex_base=*/1) {}

  absl::Status SetDecryptMarker(
      bool attach, const std::vector<IpAddress>& addresses) override {
    if (attach && node_addresses().empty()) {
      for (const IpAddress& a : addresses) AddNodeAddress(a);
    }
    return SimKernel::SetDecryptMarker(attach, addresses);
  }
};

}  // namespace

absl::StatusOr<std::unique_ptr<NodeBackends>> MakeSimNodeBackends(
    const daemon::DaemonConfig& config) {
  return std::unique_ptr<NodeBackends>(
      new StandaloneSimKernel(config.node_name));
}

}  // namespace kmesh::sim
