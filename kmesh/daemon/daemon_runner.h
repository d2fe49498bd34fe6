// RunDaemon: kmesh-daemon's life from command line to exit. It parses
// Kmesh's flags (--mode, --enable-bypass, --enable-ipsec, node name from
// NODE_NAME or --node-name, ...), and with IPsec on builds the node's
// backends through the given factory, finds the cluster the way kubectl does
// (--kubeconfig, $KUBECONFIG, ~/.kube/config, in-cluster), runs the
// IpsecAgent, and on SIGTERM/SIGINT stops it, leaving the node's SAs,
// policies, markers and KmeshNodeInfo in place for the next daemon (a
// restart or an upgrade is hitless). Returns the process exit code; every
// failure is one line on stderr naming its cause.
#ifndef KMESH_DAEMON_DAEMON_RUNNER_H_
#define KMESH_DAEMON_DAEMON_RUNNER_H_

#include <functional>
#include <memory>

#include "absl/status/statusor.h"
#include "kmesh/daemon/daemon_flags.h"
#include "kmesh/kernel/node_backends.h"

namespace kmesh::daemon {

// Builds the node's kernel backends from the daemon's configuration: the
// Linux ones in kmesh-daemon, simulated ones in kmesh-daemon-sim.
using NodeBackendsFactory =
    std::function<absl::StatusOr<std::unique_ptr<NodeBackends>>(
        const DaemonConfig& config)>;

int RunDaemon(int argc, char** argv, const NodeBackendsFactory& backends);

}  // namespace kmesh::daemon

#endif  // KMESH_DAEMON_DAEMON_RUNNER_H_
