// kmesh-cni: the chained CNI plugin (cni_plugin.h) on a Linux node. The
// runtime runs it in the host's network namespace with the CNI_* variables
// and the network configuration on stdin; it prints the result or the CNI
// error object on stdout and exits non-zero on error.
#include <unistd.h>

#include <iostream>
#include <iterator>
#include <map>
#include <string>

#include "kmesh/cni/cni_plugin.h"
#include "kmesh/linux/pinned_encrypt_marker.h"

extern char** environ;

namespace {

using kmesh::cni::HostInterfaceMarker;
using kmesh::linux_backend::PinnedEncryptMarker;

// The marker the daemon pinned, on the host's interfaces.
class PinnedHostInterfaceMarker : public HostInterfaceMarker {
 public:
  explicit PinnedHostInterfaceMarker(const std::string& pin_dir)
      : marker_(pin_dir) {}
  absl::Status AttachTo(const std::string& ifname) override {
    return marker_.Attach(ifname);
  }
  absl::Status DetachFrom(const std::string& ifname) override {
    return marker_.Detach(ifname);
  }
  absl::StatusOr<bool> IsAttached(const std::string& ifname) override {
    return marker_.IsAttached(ifname);
  }
  bool IsBridge(const std::string& ifname) override {
    return kmesh::linux_backend::IsBridgeInterface(ifname);
  }

 private:
  PinnedEncryptMarker marker_;
};

}  // namespace

int main() {
  std::map<std::string, std::string> env;
  for (char** e = environ; *e != nullptr; ++e) {
    const std::string entry(*e);
    const size_t eq = entry.find('=');
    if (eq != std::string::npos && entry.compare(0, 4, "CNI_") == 0) {
      env[entry.substr(0, eq)] = entry.substr(eq + 1);
    }
  }
  const std::string config((std::istreambuf_iterator<char>(std::cin)),
                           std::istreambuf_iterator<char>());
  kmesh::cni::CniBackends backends;
  backends.kube = kmesh::cni::KubeClientForNetConf;
  backends.marker = [](const kmesh::cni::CniNetConf& conf)
      -> absl::StatusOr<std::unique_ptr<HostInterfaceMarker>> {
    return std::make_unique<PinnedHostInterfaceMarker>(conf.bpf_pin_dir);
  };
  const kmesh::cni::CniOutcome outcome =
      kmesh::cni::RunCniPlugin(env, config, backends);
  std::cout << outcome.stdout_text;
  if (!outcome.stdout_text.empty()) std::cout << "\n";
  std::cout.flush();
  return outcome.exit_code;
}
