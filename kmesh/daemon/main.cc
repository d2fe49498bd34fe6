// kmesh-daemon: the Kmesh node agent, IPsec part, on a real Linux node (XFRM
// over netlink, eBPF markers through libbpf). See daemon_runner.h.
#include "kmesh/daemon/daemon_runner.h"
#include "kmesh/daemon/linux_node_backends.h"

int main(int argc, char** argv) {
  return kmesh::daemon::RunDaemon(argc, argv,
                                  kmesh::daemon::MakeLinuxNodeBackends);
}
