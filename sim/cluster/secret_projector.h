// SecretProjector: kubelet's secret-volume behaviour for the simulated
// cluster. It follows one Secret (by default kmesh-ipsec in kmesh-system)
// through a KubeClient (a kube::Reflector: list, then watch) and projects
// its data into a volume directory per node with ProjectedVolumeWriter, so
// each node's daemon finds <node volume dir>/ipSec exactly as in a pod.
//
// Timing: a real kubelet notices a changed secret at its next pod sync, so
// nodes learn a new key at different times. Here every node has a fixed
// delay: a change seen at time t is written on that node at t + delay (if a
// write is already pending for the node, that earlier write time stands and
// the newest content is written then). Time is the injected Clock, and writes
// happen only in ProcessDue(), so a test with a ManualClock decides exactly
// when each node sees the key; Start() also runs a thread that calls
// ProcessDue() every few milliseconds for live clusters.
//
// A deleted secret: the daemonset mounts the secret with `optional: true`
// by default (Options::optional), and kubelet then projects an empty volume,
// so the key file disappears. With optional false kubelet fails the volume
// update and keeps the last content; that is what the projector does then.
// Payload bytes are key material: held in SecretBytes, never logged.
#ifndef SIM_CLUSTER_SECRET_PROJECTOR_H_
#define SIM_CLUSTER_SECRET_PROJECTOR_H_

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "kmesh/base/clock.h"
#include "kmesh/kube/kube_client.h"
#include "kmesh/kube/reflector.h"
#include "sim/cluster/projected_volume_writer.h"

namespace kmesh::sim {

class SecretProjector {
 public:
  struct Options {
    std::string ns = "kmesh-system";
    std::string name = "kmesh-ipsec";
    // The volume's `optional` field (see above).
    bool optional = true;
    // The volume's defaultMode, the mode of the key file (as in
    // e2e/kind/manifests/20-daemonset.yaml).
    mode_t default_mode = 0400;
    const Clock* clock = RealClock::Get();
    // Names of the timestamped directories; system clock if unset.
    std::function<std::chrono::system_clock::time_point()> wall_clock;
    // How often the Start() thread calls ProcessDue().
    std::chrono::milliseconds poll_interval{5};
    kube::ReflectorOptions reflector;
  };

  // `client` must outlive the projector; null when only the event entry
  // points below are used (no Start()).
  SecretProjector(kube::KubeClient* client, Options options);
  ~SecretProjector();  // Stops.
  SecretProjector(const SecretProjector&) = delete;
  SecretProjector& operator=(const SecretProjector&) = delete;

  // A node's volume (mount point `dir`) that learns changes `delay` after
  // they happen. A new node gets the current content after its delay, as a
  // new pod's volume would.
  void AddNode(const std::string& node, const std::string& dir, Duration delay);
  void RemoveNode(const std::string& node);
  void SetDelay(const std::string& node, Duration delay);
  // The node's volume is projected with the current content at the next
  // ProcessDue(), whatever its delay (the kubelet syncing a pod now).
  void ResyncNow(const std::string& node);
  // The node rebooted: its volume (tmpfs) is emptied and projected again
  // with the current content at the next ProcessDue(), as when the daemon
  // pod starts.
  absl::Status Reboot(const std::string& node);

  // The Secret as the API returned it (added or modified), or its deletion.
  // Malformed JSON is recorded in last_error() and otherwise ignored.
  void OnSecret(const std::string& json);
  void OnSecretDeleted();

  // Writes every volume whose time has come; returns how many were written
  // (changed). Thread-safe.
  int ProcessDue();
  // When the next pending write is due (nullopt: none pending).
  std::optional<TimePoint> NextDue() const;

  // Watches the secret and writes due volumes on threads of their own.
  absl::Status Start();
  void Stop();
  // True once the reflector has listed the secret's namespace.
  bool HasSynced() const;

  // The resourceVersion each node's volume shows ("" = none yet, "deleted").
  std::map<std::string, std::string> ProjectedVersions() const;
  absl::Status last_error() const;

 private:
  class Handler;
  struct Content {
    std::string resource_version;  // "deleted" for an empty payload.
    std::shared_ptr<const VolumePayload> payload;  // null: keep last content.
  };
  struct Node {
    std::unique_ptr<ProjectedVolumeWriter> writer;
    Duration delay{};
    std::optional<TimePoint> due;
    std::string projected_version;
  };
  void ScheduleAllLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  kube::KubeClient* const client_;
  const Options options_;

  mutable absl::Mutex mu_;
  std::map<std::string, Node> nodes_ ABSL_GUARDED_BY(mu_);
  std::optional<Content> current_ ABSL_GUARDED_BY(mu_);
  absl::Status last_error_ ABSL_GUARDED_BY(mu_);

  std::unique_ptr<Handler> handler_;
  std::unique_ptr<kube::Reflector> reflector_;
  std::thread reflector_thread_;
  std::thread writer_thread_;
  absl::Mutex run_mu_;
  bool stopping_ ABSL_GUARDED_BY(run_mu_) = false;
};

}  // namespace kmesh::sim

#endif  // SIM_CLUSTER_SECRET_PROJECTOR_H_
