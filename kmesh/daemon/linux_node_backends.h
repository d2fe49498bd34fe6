// LinuxNodeBackends: what kmesh-daemon programs on a real node. XFRM goes
// over netlink (kmesh/linux/netlink_xfrm.h); the eBPF markers are loaded with
// libbpf, their maps pinned under --bpf-pin-dir so a restart keeps them. The
// encrypt marker is attached to the host side of a pod's veth, found as the
// interface the host routes the pod's IP to (a CNI that puts pods behind a
// bridge has no such per-pod interface: the attach then fails with a clear
// error naming the bridge). The decrypt marker is attached to every
// interface that carries one of the node's addresses.
#ifndef KMESH_DAEMON_LINUX_NODE_BACKENDS_H_
#define KMESH_DAEMON_LINUX_NODE_BACKENDS_H_

#include <memory>

#include "absl/status/statusor.h"
#include "kmesh/daemon/node_backends.h"

namespace kmesh::daemon {

absl::StatusOr<std::unique_ptr<NodeBackends>> MakeLinuxNodeBackends(
    const DaemonConfig& config);

// The interface the host routes `ip` through (RTM_GETROUTE), e.g. a pod's
// host-side veth.
absl::StatusOr<std::string> RouteInterfaceFor(const IpAddress& ip);

}  // namespace kmesh::daemon

#endif  // KMESH_DAEMON_LINUX_NODE_BACKENDS_H_
