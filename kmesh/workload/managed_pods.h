// Which pods Kmesh manages, and what the encrypt marker must therefore know.
// A pod is managed when its own label istio.io/dataplane-mode is "Kmesh", or
// it has no such label and its namespace's label is "Kmesh" (any other pod
// value, e.g. "none", opts it out). Traffic from a managed pod to another
// node's pod CIDR is encrypted when that node runs IPsec with this one
// (the controller puts the CIDR in the encrypt-CIDR map), unless the
// destination is known to be unmanaged; so:
//   - the encrypt marker is attached to the host-side veth of every managed
//     pod on this node (and detached when the pod stops being managed), and
//   - the unmanaged-pod map holds the IPs of every pod on another node that
//     is known to be unmanaged: the pods left in clear. A pod this node has
//     not heard of yet, or whose namespace it has not seen, is not in it, and
//     is encrypted to (fail-closed). Whether the pod's node runs IPsec does
//     not matter: only addresses inside an encrypt CIDR are ever encrypted.
// ManagedPodTracker keeps the pods and namespaces it is told about and
// applies only the difference to the map and the attachments, so
// labelling or unlabelling a namespace takes effect at once, without a
// restart and without rewriting the map. An operation that fails (a full
// map, an attach the kernel refuses) is retried with every later event and,
// in a quiet cluster, by RetryFailed() on the agent's timer, with a backoff
// doubling from RetryBackoff::initial to RetryBackoff::max.
#ifndef KMESH_WORKLOAD_MANAGED_PODS_H_
#define KMESH_WORKLOAD_MANAGED_PODS_H_

#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "kmesh/api/kube.pb.h"
#include "kmesh/base/clock.h"
#include "kmesh/base/ip_address.h"
#include "kmesh/kernel/marker_attachment.h"
#include "kmesh/kernel/marker_maps.h"

namespace kmesh::workload {

inline constexpr char kDataplaneModeLabel[] = "istio.io/dataplane-mode";
inline constexpr char kDataplaneModeKmesh[] = "Kmesh";

// The rule above, on the two label maps.
bool IsManaged(const google::protobuf::Map<std::string, std::string>& pod,
               const google::protobuf::Map<std::string, std::string>* ns);

// When failed marker operations are retried without an event.
struct RetryBackoff {
  Duration initial = std::chrono::milliseconds(500);
  Duration max = std::chrono::seconds(30);
};

class ManagedPodTracker {
 public:
  // `clock` (the real clock when null) times the retries.
  ManagedPodTracker(std::string local_node, MarkerMaps* maps,
                    EncryptMarkerAttachment* attachment,
                    const Clock* clock = nullptr, RetryBackoff backoff = {});

  // Kubernetes events (objects as the API returns them).
  void UpsertPod(const api::Pod& pod);
  void DeletePod(const std::string& ns, const std::string& name);
  void UpsertNamespace(const api::Namespace& ns);
  void DeleteNamespace(const std::string& name);

  // Called on a timer: retries the failed operations once their backoff has
  // passed (the next wait doubles while they keep failing, up to
  // RetryBackoff::max, and starts again from RetryBackoff::initial once all
  // succeed). Does nothing when nothing failed or the time has not come.
  void RetryFailed();
  // When RetryFailed() will next retry; nullopt when nothing is failing.
  std::optional<TimePoint> next_retry() const { return next_retry_; }
  // Failed operations waiting for a retry (map entries and pods).
  size_t pending_retries() const {
    return failed_unmanaged_.size() + failed_pods_.size();
  }

  // Detaches the encrypt marker from every local pod (before a graceful
  // shutdown removes the block policy: unmarked traffic cannot be marked
  // traffic leaking). Returns the first error; failures are retried by later
  // events.
  absl::Status DetachAll();

  // What is applied now (for tests and diagnostics).
  std::set<IpAddress> unmanaged_pods() const { return applied_unmanaged_; }
  std::set<std::string> attached_pods() const;  // "ns/name"
  // Failed map or attach operations so far; they are retried on the next
  // event or by RetryFailed().
  uint64_t errors() const { return errors_; }

 private:
  struct PodState {
    std::string node;
    std::vector<IpAddress> ips;
    google::protobuf::Map<std::string, std::string> labels;
  };
  bool Managed(const std::string& ns, const PodState& pod) const;
  // Unmanaged by its own label, or by the label of a namespace this tracker
  // has seen (a pod whose namespace is not known yet may still be managed).
  bool KnownUnmanaged(const std::string& ns, const PodState& pod) const;
  // Recomputes the desired entries/attachments for the given pods (and for
  // whatever failed before) and applies the difference.
  void Reconcile(const std::vector<std::string>& changed);
  // After a reconcile: schedules the next retry while something is failing,
  // resets the backoff once nothing is.
  void ScheduleRetry();
  void ReconcileNamespace(const std::string& name);

  const std::string local_node_;
  MarkerMaps* const maps_;
  EncryptMarkerAttachment* const attachment_;
  const Clock* const clock_;
  const RetryBackoff backoff_;
  Duration retry_wait_;
  std::optional<TimePoint> next_retry_;
  std::map<std::string, PodState> pods_;  // "ns/name"
  std::map<std::string, google::protobuf::Map<std::string, std::string>>
      namespaces_;
  // Unmanaged-pod entries: what each pod currently contributes, so
  // removals are exact.
  std::map<std::string, std::vector<IpAddress>> pod_unmanaged_ips_;
  std::map<IpAddress, int> unmanaged_refs_;
  std::set<IpAddress> applied_unmanaged_;
  std::map<std::string, LocalPod> attached_;
  // Operations that failed, retried on the next reconcile.
  std::set<IpAddress> failed_unmanaged_;
  std::set<std::string> failed_pods_;
  uint64_t errors_ = 0;
};

}  // namespace kmesh::workload

#endif  // KMESH_WORKLOAD_MANAGED_PODS_H_
