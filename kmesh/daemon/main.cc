// kmesh-daemon: the Kmesh node agent, IPsec part, on a real Linux node (XFRM
// over netlink, eBPF markers through libbpf). See daemon_runner.h.
#include "kmesh/daemon/daemon_runner.h"
#include "kmesh/linux/linux_node_backends.h"

int main(int argc, char** argv) {
  return kmesh::daemon::RunDaemon(
      argc, argv, [](const kmesh::daemon::DaemonConfig& config) {
        kmesh::linux_backend::LinuxNodeBackendsOptions options;
        options.bpf_object_dir = config.bpf_object_dir;
        options.bpf_pin_dir = config.bpf_pin_dir;
        return kmesh::linux_backend::MakeLinuxNodeBackends(options);
      });
}
