// KubeletCni: what a node's kubelet and container runtime do with the
// node's CNI chain for a pod sandbox, in the simulated cluster. The primary
// plugin's work is SimNetwork's (the pod's veth "veth-<pod>" and its IPs);
// its result, as Debian's ptp reports it, becomes the prevResult of
// kmesh-cni, which runs in-process through RunCniPlugin, the very code of
// the kmesh-cni binary, with the same kubeconfig-based API client and with
// the node's simulated kernel in place of the pinned tc program. So a
// managed pod's veth carries the encrypt marker before the pod can send.
// (The pin is not simulated: the simulated kernel always has the program.)
#ifndef SIM_CLUSTER_KUBELET_CNI_H_
#define SIM_CLUSTER_KUBELET_CNI_H_

#include <string>

#include "kmesh/cni/cni_plugin.h"
#include "sim/cluster/sim_network.h"
#include "sim/kernel/sim_kernel.h"

namespace kmesh::sim {

// Runs kmesh-cni's `command` ("ADD", "DEL" or "CHECK") for `pod` on
// `kernel` (its node's), reading the API server through `kubeconfig`.
cni::CniOutcome RunKmeshCni(const std::string& command, const SimPodInfo& pod,
                            SimKernel* kernel, const std::string& kubeconfig);

// The host-side interface SimNetwork gives `pod`.
std::string PodHostInterface(const SimPodInfo& pod);

}  // namespace kmesh::sim

#endif  // SIM_CLUSTER_KUBELET_CNI_H_
