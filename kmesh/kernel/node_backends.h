// NodeBackends: everything in one node's kernel that its IPsec agent
// programs, as one object chosen at start-up: the XFRM tables, the marker
// maps, where the encrypt marker is attached, and the decrypt marker on the
// interfaces that carry the node's addresses. kmesh-daemon uses the Linux
// backends (kmesh/linux/linux_node_backends.h: XFRM netlink, libbpf and tc);
// the simulated cluster hands each node's simulated kernel (sim/), which
// implements the same interface, to the very same agent code.
#ifndef KMESH_KERNEL_NODE_BACKENDS_H_
#define KMESH_KERNEL_NODE_BACKENDS_H_

#include <vector>

#include "absl/status/status.h"
#include "kmesh/base/ip_address.h"
#include "kmesh/kernel/marker_attachment.h"
#include "kmesh/kernel/marker_maps.h"
#include "kmesh/kernel/xfrm.h"

namespace kmesh {

class NodeBackends {
 public:
  virtual ~NodeBackends() = default;

  virtual XfrmKernel& xfrm() = 0;
  virtual MarkerMaps& marker_maps() = 0;
  virtual EncryptMarkerAttachment& encrypt_marker_attachment() = 0;
  // Attaches (true) or detaches (false) the decrypt marker on every
  // interface that carries one of `node_addresses`. Attaching where no
  // interface carries any of them is NotFound.
  virtual absl::Status SetDecryptMarker(
      bool attach, const std::vector<IpAddress>& node_addresses) = 0;
};

}  // namespace kmesh

#endif  // KMESH_KERNEL_NODE_BACKENDS_H_
