// IpsecAgent: everything one node runs for IPsec, assembled from the
// components in kmesh/ipsec and kmesh/workload and driven by threads. It
// reads the node's own Node object, starts the IpsecController (which adopts
// what the kernel already holds and installs the block policies), attaches
// the decrypt marker, then runs: the key file watcher, the KmeshNodeInfo
// watcher (peers), the Node watcher (every node is received from before it
// publishes its record: docs/decisions.md, "First contact"), Pod and
// Namespace watchers feeding the ManagedPodTracker (pods in two watches:
// this node's by the field selector spec.nodeName=<node>, the other nodes'
// by spec.nodeName!=<node>, both stored reduced to what the tracker reads:
// docs/decisions.md, "What each daemon watches"), and a ticker that
// reclaims old keys and retries failed operations. The kernel, the marker maps
// and attachments and the Kubernetes client are given to it (NodeBackends), so
// kmesh-daemon runs it on Linux and the simulated cluster runs the very same
// code on simulated kernels.
//
// The node's own Node object is read again every few seconds: a change of
// its addresses, boot ID or pod CIDRs re-derives the keys and re-publishes
// the record; and a KmeshNodeInfo of its own deleted or altered by someone
// else is published again (IpsecController::OnOwnRecord).
//
// Stopping it (SIGTERM, a crash, kill -9: all the same) touches nothing
// outside the process: SAs, policies (the block policy too), markers, their
// pinned maps and the node's KmeshNodeInfo stay, and the next agent adopts
// them, so a restart or a rolling upgrade does not interrupt encryption.
// Removing the product from a node is explicit: `kmesh-daemon uninstall`
// (node_uninstall.h).
//
// What a managed pod's traffic is encrypted to: the pod CIDRs of peers this
// node has out policies and an outbound SA for (the controller keeps them in
// the encrypt-CIDR map), except pods known to be unmanaged (the tracker keeps
// those). Before a key exists, or towards a node that joined but cannot be
// encrypted to yet, traffic is not marked (and stays plaintext, as for
// unmanaged pods) instead of being dropped by the block policy. Once marked,
// traffic to a peer is never sent in clear: the block policy drops it
// whenever its specific policy or SA is missing.
#ifndef KMESH_AGENT_IPSEC_AGENT_H_
#define KMESH_AGENT_IPSEC_AGENT_H_

#include <atomic>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "kmesh/agent/node_status.h"
#include "kmesh/base/clock.h"
#include "kmesh/ipsec/ipsec_controller.h"
#include "kmesh/ipsec/key_file_watcher.h"
#include "kmesh/ipsec/node_record.h"
#include "kmesh/ipsec/node_watcher.h"
#include "kmesh/ipsec/peer_watcher.h"
#include "kmesh/kernel/node_backends.h"
#include "kmesh/kube/kube_client.h"
#include "kmesh/kube/reflector.h"
#include "kmesh/workload/managed_pods.h"
#include "kmesh/workload/pod_record.h"

namespace kmesh::agent {

struct IpsecAgentConfig {
  std::string node_name;
  std::string key_file_path = ipsec::kDefaultKeyFilePath;
  ipsec::IpsecControllerOptions controller;
  // How often Tick() runs (reclaim, retries).
  std::chrono::milliseconds tick_interval{500};
  // How long Start() waits for the Node object to show an InternalIP and a
  // boot ID.
  std::chrono::milliseconds node_wait{std::chrono::seconds(30)};
  // How often the node's own Node object is read again: a change of its
  // InternalIPs, boot ID or pod CIDRs is handed to the controller
  // (UpdateSelf) and the decrypt marker follows the addresses.
  std::chrono::milliseconds self_refresh_interval{std::chrono::seconds(10)};
  kube::ReflectorOptions reflector;
};

// What the agent programs and talks to; all must outlive it.
struct IpsecAgentDeps {
  kube::KubeClient* client = nullptr;
  // The node's kernel: XFRM tables, marker maps, marker attach points.
  NodeBackends* node = nullptr;
  const Clock* clock = nullptr;
};

class IpsecAgent {
 public:
  static absl::StatusOr<std::unique_ptr<IpsecAgent>> Start(
      IpsecAgentConfig config, IpsecAgentDeps deps);
  ~IpsecAgent();

  // Ends the agent's threads; the kernel and the API keep everything it
  // programmed and published. Idempotent.
  void Stop();

  ipsec::IpsecController& controller() { return *controller_; }

  // What the node's status endpoint and metrics show now (node_status.h):
  // the controller's state, the managed pods, the watches, and what the
  // kernel holds (it dumps the XFRM tables: call it per request, not per
  // packet). Safe from any thread.
  NodeStatus Status();

 private:
  class PodHandler;
  class NamespaceHandler;

  IpsecAgent(IpsecAgentConfig config, IpsecAgentDeps deps);
  absl::Status Init();
  void TickLoop();
  // Reads the Node object again when due; see self_refresh_interval.
  void RefreshSelf();
  // The tracker's timed retries of failed marker operations (backoff 0.5 s
  // doubling to 30 s, see ManagedPodTracker::RetryFailed).
  void RetryFailedMarkerOperations();

  std::vector<IpAddress> NodeAddresses() const;

  const IpsecAgentConfig config_;
  const IpsecAgentDeps deps_;
  // Written by Init() and then only by the tick thread (RefreshSelf).
  std::optional<ipsec::NodeView> self_;
  TimePoint next_self_refresh_{};
  // For Status(): when the agent started, and xfrm_stat as first read (at
  // start, or at the first Status() if the kernel could not be read then:
  // never an empty baseline, which would count every error since boot).
  TimePoint started_at_{};
  absl::Mutex baseline_mu_;
  std::optional<XfrmStats> stats_at_start_ ABSL_GUARDED_BY(baseline_mu_);
  std::unique_ptr<ipsec::KubeNodeInfoPublisher> publisher_;
  std::unique_ptr<ipsec::IpsecController> controller_;
  std::unique_ptr<ipsec::KeyFileWatcher> key_watcher_;
  std::unique_ptr<ipsec::PeerWatcher> peer_watcher_;
  std::unique_ptr<ipsec::NodeWatcher> node_watcher_;

  absl::Mutex tracker_mu_;
  std::unique_ptr<workload::ManagedPodTracker> tracker_
      ABSL_GUARDED_BY(tracker_mu_);
  // Merges the two pod watches into the tracker (the local view wins).
  std::unique_ptr<workload::PodWatchMerger> pod_merger_
      ABSL_GUARDED_BY(tracker_mu_);
  std::unique_ptr<PodHandler> local_pod_handler_;
  std::unique_ptr<PodHandler> remote_pod_handler_;
  std::unique_ptr<NamespaceHandler> namespace_handler_;
  std::unique_ptr<kube::Reflector> local_pod_reflector_;
  std::unique_ptr<kube::Reflector> remote_pod_reflector_;
  std::unique_ptr<kube::Reflector> namespace_reflector_;

  absl::Mutex tick_mu_;
  bool stopping_ ABSL_GUARDED_BY(tick_mu_) = false;
  std::vector<std::thread> threads_;
  std::atomic<bool> stopped_{false};
};

}  // namespace kmesh::agent

#endif  // KMESH_AGENT_IPSEC_AGENT_H_
