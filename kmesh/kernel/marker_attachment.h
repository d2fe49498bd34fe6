// EncryptMarkerAttachment: where the encrypt marker (bpf/encrypt_marker.bpf.c)
// runs. On a node it is attached to the host side of each managed local
// pod's veth, found from the pod's IPs the way the host routes them, and
// detached when the pod stops being managed. Backends: the libbpf loader
// with tc on Linux (kmesh/linux/linux_node_backends.h) and the simulated
// kernel's tc hooks (sim/). Attaching to a pod that has no veth here is
// NotFound; detaching from one that is gone succeeds.
#ifndef KMESH_KERNEL_MARKER_ATTACHMENT_H_
#define KMESH_KERNEL_MARKER_ATTACHMENT_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "kmesh/base/ip_address.h"

namespace kmesh {

// A local pod the encrypt marker is attached to.
struct LocalPod {
  std::string ns;
  std::string name;
  std::vector<IpAddress> ips;
};

class EncryptMarkerAttachment {
 public:
  virtual ~EncryptMarkerAttachment() = default;
  virtual absl::Status Attach(const LocalPod& pod) = 0;
  virtual absl::Status Detach(const LocalPod& pod) = 0;
};

}  // namespace kmesh

#endif  // KMESH_KERNEL_MARKER_ATTACHMENT_H_
