#include "sim/daemon/sim_node_backends.h"

#include <mutex>
#include <set>

#include "sim/kernel/memory_marker_maps.h"
#include "sim/kernel/xfrm/sim_xfrm.h"

namespace kmesh::sim {
namespace {

class RecordingAttachment : public workload::EncryptMarkerAttachment {
 public:
  absl::Status Attach(const workload::LocalPod& pod) override {
    std::lock_guard<std::mutex> lock(mu_);
    attached_.insert(pod.ns + "/" + pod.name);
    return absl::OkStatus();
  }
  absl::Status Detach(const workload::LocalPod& pod) override {
    std::lock_guard<std::mutex> lock(mu_);
    attached_.erase(pod.ns + "/" + pod.name);
    return absl::OkStatus();
  }

 private:
  std::mutex mu_;
  std::set<std::string> attached_;
};

class SimNodeBackends : public daemon::NodeBackends {
 public:
  XfrmKernel* xfrm() override { return &xfrm_; }
  MarkerMaps* markers() override { return &maps_; }
  workload::EncryptMarkerAttachment* encrypt_attachment() override {
    return &attachment_;
  }
  absl::Status SetDecryptMarker(bool, const std::vector<IpAddress>&) override {
    return absl::OkStatus();
  }

 private:
  SimXfrm xfrm_;
  MemoryMarkerMaps maps_;
  RecordingAttachment attachment_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<daemon::NodeBackends>> MakeSimNodeBackends(
    const daemon::DaemonConfig&) {
  return std::unique_ptr<daemon::NodeBackends>(new SimNodeBackends());
}

}  // namespace kmesh::sim
