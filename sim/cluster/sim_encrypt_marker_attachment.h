// SimEncryptMarkerAttachment: the simulated cluster's backend for attaching
// the encrypt marker to a local pod's veth (workload::EncryptMarkerAttachment),
// what the libbpf loader does with tc on a real node. Attach turns the
// SimKernel's tc-ingress encrypt hook on for every address of the pod's veth;
// Detach turns it off. A pod that has no veth on this node (unknown, or on
// another node) is NotFound ("ENODEV"), as tc would fail; detaching from a
// pod that is already gone succeeds (its veth went with it). The node's
// current kernel is looked up on every call.
#ifndef SIM_CLUSTER_SIM_ENCRYPT_MARKER_ATTACHMENT_H_
#define SIM_CLUSTER_SIM_ENCRYPT_MARKER_ATTACHMENT_H_

#include <string>

#include "absl/status/status.h"
#include "kmesh/workload/managed_pods.h"
#include "sim/cluster/sim_network.h"

namespace kmesh::sim {

class SimEncryptMarkerAttachment : public workload::EncryptMarkerAttachment {
 public:
  // `network` must outlive the attachment.
  SimEncryptMarkerAttachment(SimNetwork* network, std::string node);

  absl::Status Attach(const workload::LocalPod& pod) override;
  absl::Status Detach(const workload::LocalPod& pod) override;

 private:
  absl::Status Set(const workload::LocalPod& pod, bool attached);

  SimNetwork* const network_;
  const std::string node_;
};

}  // namespace kmesh::sim

#endif  // SIM_CLUSTER_SIM_ENCRYPT_MARKER_ATTACHMENT_H_
