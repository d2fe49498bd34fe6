// SimNodeBackends: NodeBackends on a simulated kernel with no packet path of
// its own, for running the real daemon code path (RunDaemon, IpsecAgent) as a
// process on a machine without ESP or BPF: the XFRM tables are a SimXfrm, the
// marker maps are in memory, and marker attachment is recorded, not done.
#ifndef SIM_DAEMON_SIM_NODE_BACKENDS_H_
#define SIM_DAEMON_SIM_NODE_BACKENDS_H_

#include <memory>

#include "absl/status/statusor.h"
#include "kmesh/daemon/node_backends.h"

namespace kmesh::sim {

absl::StatusOr<std::unique_ptr<daemon::NodeBackends>> MakeSimNodeBackends(
    const daemon::DaemonConfig& config);

}  // namespace kmesh::sim

#endif  // SIM_DAEMON_SIM_NODE_BACKENDS_H_
