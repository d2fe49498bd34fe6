// kmesh-cni: a chained CNI plugin that attaches Kmesh IPsec's encrypt marker
// to a managed pod's host-side veth before the pod's containers run, so the
// pod's first packet is already marked (Kmesh attaches its programs from a
// chained CNI plugin for the same reason). It is listed after the plugin
// that creates the pod's interface (ptp, bridge, ...), whose result
// (prevResult) names the host-side interface.
//   ADD:   decides whether the pod is managed (its labels and its
//          namespace's, read from the API server: the rule of
//          kmesh/workload/managed_pods.h); if so attaches the marker to every
//          per-pod host interface of prevResult, and fails (the runtime does
//          not start the pod) when it cannot. Passes prevResult on.
//   DEL:   detaches the marker from those interfaces; idempotent, never asks
//          the API server (the pod may be gone).
//   CHECK: for a managed pod, verifies the marker is attached.
//   VERSION: the versions it speaks.
// RunCniPlugin is the whole plugin behind main(): the binary and the
// simulated kubelet (sim/cluster) run the same code, each with its own
// backends for the Kubernetes API and the node's kernel.
#ifndef KMESH_CNI_CNI_PLUGIN_H_
#define KMESH_CNI_CNI_PLUGIN_H_

#include <functional>
#include <map>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "kmesh/cni/cni_protocol.h"
#include "kmesh/kube/kube_client.h"

namespace kmesh::cni {

// The encrypt marker on the node's host interfaces.
class HostInterfaceMarker {
 public:
  virtual ~HostInterfaceMarker() = default;
  // Idempotent.
  virtual absl::Status AttachTo(const std::string& ifname) = 0;
  // Succeeds when nothing is attached or the interface is gone.
  virtual absl::Status DetachFrom(const std::string& ifname) = 0;
  virtual absl::StatusOr<bool> IsAttached(const std::string& ifname) = 0;
  // A bridge carries several pods: never a pod's own interface.
  virtual bool IsBridge(const std::string& ifname) = 0;
};

struct CniBackends {
  std::function<absl::StatusOr<std::unique_ptr<kube::KubeClient>>(
      const CniNetConf&)>
      kube;
  std::function<absl::StatusOr<std::unique_ptr<HostInterfaceMarker>>(
      const CniNetConf&)>
      marker;
};

// What the plugin prints and its exit status (0 on success).
struct CniOutcome {
  int exit_code = 0;
  std::string stdout_text;
};

CniOutcome RunCniPlugin(const std::map<std::string, std::string>& env,
                        const std::string& stdin_text,
                        const CniBackends& backends);

// The Kubernetes backend of the binary (and of the simulated kubelet): a
// REST client for conf.kubeconfig, or for what kubectl's search finds when
// that is empty.
absl::StatusOr<std::unique_ptr<kube::KubeClient>> KubeClientForNetConf(
    const CniNetConf& conf);

}  // namespace kmesh::cni

#endif  // KMESH_CNI_CNI_PLUGIN_H_
