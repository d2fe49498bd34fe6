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

  // --- Uninstall (`kmesh-daemon uninstall`, kmesh/agent/node_uninstall.h) --
  // Detaches the encrypt marker from every interface of the node, whichever
  // pod it was attached for (a fresh process does not know them): afterwards
  // nothing is marked for encryption. Touches only the product's own hooks.
  virtual absl::Status DetachEncryptMarkerEverywhere() = 0;
  // Detaches the decrypt marker from every interface and removes the
  // markers' pinned maps: nothing of the markers is left on the node.
  // Succeeds when there is nothing to remove.
  virtual absl::Status RemoveMarkers() = 0;
};

}  // namespace kmesh

#endif  // KMESH_KERNEL_NODE_BACKENDS_H_
