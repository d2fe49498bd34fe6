#include "sim/cluster/kubelet_cni.h"

#include <map>
#include <memory>

#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"

namespace kmesh::sim {
namespace {

using Json = nlohmann::json;

// The encrypt hook of a simulated node's veths.
class SimHostInterfaceMarker : public cni::HostInterfaceMarker {
 public:
  explicit SimHostInterfaceMarker(SimKernel* kernel) : kernel_(kernel) {}
  absl::Status AttachTo(const std::string& ifname) override {
    return kernel_->SetInterfaceEncryptMarker(ifname, true);
  }
  absl::Status DetachFrom(const std::string& ifname) override {
    return kernel_->SetInterfaceEncryptMarker(ifname, false);
  }
  absl::StatusOr<bool> IsAttached(const std::string& ifname) override {
    return kernel_->InterfaceEncryptMarker(ifname);
  }
  bool IsBridge(const std::string&) override { return false; }

 private:
  SimKernel* const kernel_;
};

std::string SandboxPath(const SimPodInfo& pod) {
  return absl::StrCat("/var/run/netns/cni-", pod.ns, "-", pod.name);
}

// ptp's result for the pod, in CNI 1.0.0.
Json PtpResult(const SimPodInfo& pod) {
  Json ips = Json::array();
  for (const IpAddress& ip : pod.ips) {
    ips.push_back(
        {{"address", absl::StrCat(ip.ToString(), ip.is_v4() ? "/32" : "/128")},
         {"interface", 1}});
  }
  return {{"cniVersion", "1.0.0"},
          {"interfaces",
           {{{"name", PodHostInterface(pod)}},
            {{"name", "eth0"}, {"sandbox", SandboxPath(pod)}}}},
          {"ips", ips}};
}

}  // namespace

std::string PodHostInterface(const SimPodInfo& pod) {
  return "veth-" + pod.name;
}

cni::CniOutcome RunKmeshCni(const std::string& command, const SimPodInfo& pod,
                            SimKernel* kernel, const std::string& kubeconfig) {
  const std::map<std::string, std::string> env = {
      {"CNI_COMMAND", command},
      {"CNI_CONTAINERID", absl::StrCat(pod.ns, "-", pod.name)},
      {"CNI_NETNS", SandboxPath(pod)},
      {"CNI_IFNAME", "eth0"},
      {"CNI_PATH", "/opt/cni/bin"},
      {"CNI_ARGS",
       absl::StrCat("IgnoreUnknown=1;K8S_POD_NAMESPACE=", pod.ns,
                    ";K8S_POD_NAME=", pod.name,
                    ";K8S_POD_INFRA_CONTAINER_ID=", pod.ns, "-", pod.name)}};
  // The conflist entry install_cni.sh writes, with prevResult as the
  // runtime adds it.
  const Json conf = {{"cniVersion", "1.0.0"},
                     {"name", "kindnet"},
                     {"type", "kmesh-cni"},
                     {"kubeconfig", kubeconfig},
                     {"bpfPinDir", "/sys/fs/bpf/kmesh-ipsec"},
                     {"prevResult", PtpResult(pod)}};
  cni::CniBackends backends;
  backends.kube = cni::KubeClientForNetConf;
  backends.marker = [kernel](const cni::CniNetConf&)
      -> absl::StatusOr<std::unique_ptr<cni::HostInterfaceMarker>> {
    return std::make_unique<SimHostInterfaceMarker>(kernel);
  };
  return cni::RunCniPlugin(env, conf.dump(), backends);
}

}  // namespace kmesh::sim
