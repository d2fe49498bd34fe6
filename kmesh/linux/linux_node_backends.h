// LinuxNodeBackends: NodeBackends on a real Linux node, what kmesh-daemon
// programs. XFRM goes over netlink (netlink_xfrm.h); the eBPF markers are
// loaded with libbpf (bpf_marker_loader.h), their maps pinned in a directory
// on a bpf filesystem (mounted first when the host has none) so that a
// restart keeps them. The encrypt marker is attached to the host side of a
// pod's veth, found as the interface the host routes the pod's IP to
// (route_lookup.h); the decrypt marker to every interface that carries one
// of the node's addresses.
#ifndef KMESH_LINUX_LINUX_NODE_BACKENDS_H_
#define KMESH_LINUX_LINUX_NODE_BACKENDS_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "kmesh/kernel/node_backends.h"

namespace kmesh::linux_backend {

struct LinuxNodeBackendsOptions {
  // Holds encrypt_marker.bpf.o and decrypt_marker.bpf.o.
  std::string bpf_object_dir = "bpf";
  // Where the marker maps are pinned; empty: not pinned.
  std::string bpf_pin_dir = "/sys/fs/bpf/kmesh-ipsec";
};

// Opens the XFRM netlink socket and loads the markers (mounting a bpf
// filesystem for the pins where there is none).
absl::StatusOr<std::unique_ptr<NodeBackends>> MakeLinuxNodeBackends(
    const LinuxNodeBackendsOptions& options);

}  // namespace kmesh::linux_backend

#endif  // KMESH_LINUX_LINUX_NODE_BACKENDS_H_
