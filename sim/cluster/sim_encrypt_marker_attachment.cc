#include "sim/cluster/sim_encrypt_marker_attachment.h"

#include <utility>

#include "absl/strings/str_cat.h"

namespace kmesh::sim {

SimEncryptMarkerAttachment::SimEncryptMarkerAttachment(SimNetwork* network,
                                                       std::string node)
    : network_(network), node_(std::move(node)) {}

absl::Status SimEncryptMarkerAttachment::Set(const workload::LocalPod& pod,
                                             bool attached) {
  const auto found = network_->pod(pod.ns, pod.name);
  auto kernel = network_->kernel(node_);
  if (!found || found->node != node_ || !kernel) {
    if (!attached) return absl::OkStatus();  // The veth is gone already.
    return absl::NotFoundError(absl::StrCat(
        "ENODEV: pod ", pod.ns, "/", pod.name, " has no veth on node ", node_));
  }
  for (const IpAddress& ip : found->ips) kernel->SetEncryptMarker(ip, attached);
  return absl::OkStatus();
}

absl::Status SimEncryptMarkerAttachment::Attach(const workload::LocalPod& pod) {
  return Set(pod, true);
}

absl::Status SimEncryptMarkerAttachment::Detach(const workload::LocalPod& pod) {
  return Set(pod, false);
}

}  // namespace kmesh::sim
