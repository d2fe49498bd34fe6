// MakeSimNodeBackends: the node backends kmesh-daemon-sim runs the real
// daemon code path (RunDaemon, IpsecAgent) on, as a process on a machine
// without ESP or BPF: a simulated kernel (SimKernel) with no packet path
// wired to it. Its one interface carries whatever addresses the Node object
// gives the node, so the decrypt marker attaches as on a real node.
#ifndef SIM_DAEMON_SIM_NODE_BACKENDS_H_
#define SIM_DAEMON_SIM_NODE_BACKENDS_H_

#include <memory>

#include "absl/status/statusor.h"
#include "kmesh/daemon/daemon_flags.h"
#include "kmesh/kernel/node_backends.h"

namespace kmesh::sim {

absl::StatusOr<std::unique_ptr<NodeBackends>> MakeSimNodeBackends(
    const daemon::DaemonConfig& config);

}  // namespace kmesh::sim

#endif  // SIM_DAEMON_SIM_NODE_BACKENDS_H_
