// Pod records: what the ManagedPodTracker (managed_pods.h) reads of a pod,
// taken from its decoded JSON without a text round trip. CompactPod keeps
// only those fields (name, namespace, resourceVersion, the
// istio.io/dataplane-mode label, spec.nodeName, spec.hostNetwork,
// status.podIP and status.podIPs) so that a daemon holding every pod of a
// large cluster keeps a small record per pod (it is the pod reflectors'
// transform); PodFromJson builds the api::Pod the tracker takes, reading
// the same fields as the protobuf JSON parser would.
#ifndef KMESH_WORKLOAD_POD_RECORD_H_
#define KMESH_WORKLOAD_POD_RECORD_H_

#include <functional>
#include <optional>
#include <set>
#include <string>

#include "kmesh/api/kube.pb.h"
#include "kmesh/workload/managed_pods.h"
#include "nlohmann/json.hpp"

namespace kmesh::workload {

// The fields above of `pod` (a Pod as the API server sends it); fields of an
// unexpected type are left out.
nlohmann::json CompactPod(const nlohmann::json& pod);

// The tracker's view of a (compact or full) decoded pod.
api::Pod PodFromJson(const nlohmann::json& object);

// PodWatchMerger: one ManagedPodTracker fed by two pod watches, this node's
// pods (fieldSelector spec.nodeName=<node>) and the other nodes' ones
// (spec.nodeName!=<node>). A pod moves from one to the other when it is
// bound to this node (the other watch sends DELETED, the local one ADDED)
// or is deleted and created again elsewhere under the same name; the two
// watches are not ordered with each other. So the local view wins while it
// has the pod, and when it loses it the other watch's current record (if
// any, from `other_record`) takes over. Not thread-safe: the caller holds
// the tracker's lock.
class PodWatchMerger {
 public:
  // The other nodes' watch's record of "ns/name", or nullopt.
  using OtherRecord =
      std::function<std::optional<nlohmann::json>(const std::string& key)>;

  PodWatchMerger(ManagedPodTracker* tracker, OtherRecord other_record);

  void LocalUpsert(const nlohmann::json& pod);
  void LocalDelete(const nlohmann::json& pod);
  void OtherUpsert(const nlohmann::json& pod);
  void OtherDelete(const nlohmann::json& pod);

 private:
  ManagedPodTracker* const tracker_;
  const OtherRecord other_record_;
  std::set<std::string> local_;  // "ns/name" the local watch has.
};

}  // namespace kmesh::workload

#endif  // KMESH_WORKLOAD_POD_RECORD_H_
