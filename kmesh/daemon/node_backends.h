// NodeBackends: the kernel-side objects kmesh-daemon programs on one node
// (XFRM tables, the marker maps, where the encrypt and decrypt markers are
// attached), chosen once at start-up. On a real node they are the Linux
// backends (linux_node_backends.h: XFRM netlink, libbpf); the simulated
// daemon (sim/daemon) plugs in the simulator. RunDaemon (daemon_runner.h)
// takes a factory, so the flags, signals and lifecycle are one code path.
#ifndef KMESH_DAEMON_NODE_BACKENDS_H_
#define KMESH_DAEMON_NODE_BACKENDS_H_

#include <functional>
#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "kmesh/base/ip_address.h"
#include "kmesh/daemon/daemon_flags.h"
#include "kmesh/kernel/marker_maps.h"
#include "kmesh/kernel/xfrm.h"
#include "kmesh/workload/managed_pods.h"

namespace kmesh::daemon {

class NodeBackends {
 public:
  virtual ~NodeBackends() = default;
  virtual XfrmKernel* xfrm() = 0;
  virtual MarkerMaps* markers() = 0;
  virtual workload::EncryptMarkerAttachment* encrypt_attachment() = 0;
  // Attaches or detaches the decrypt marker on the interfaces carrying
  // `node_addresses`.
  virtual absl::Status SetDecryptMarker(
      bool attach, const std::vector<IpAddress>& node_addresses) = 0;
};

using NodeBackendsFactory =
    std::function<absl::StatusOr<std::unique_ptr<NodeBackends>>(
        const DaemonConfig& config)>;

}  // namespace kmesh::daemon

#endif  // KMESH_DAEMON_NODE_BACKENDS_H_
