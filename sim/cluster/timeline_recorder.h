// TimelineRecorder: watches a running SimCluster and its Traffic and keeps
// what it sees in a RotationTimeline (rotation_timeline.h). On a thread of its
// own, every `period` (the demo: 20 ms, one traffic round at its 50 rounds a
// second), it samples, for every ordered pair of nodes, what crossed the
// wire since the previous sample (WireMonitor: ESP packets by SPI, managed
// packets in clear before and after the pair's first ESP) and what the
// traffic's flows between the two nodes' pods delivered and lost; it notes a
// secret write whenever the Secret kmesh-ipsec's resourceVersion changes
// (with the SPI it then holds), an advertisement whenever a node's
// KmeshNodeInfo advertises a new SPI, and a reclaim whenever the last SA with
// an SPI leaves a node's kernel (SimXfrm::VisitSas, which is not an XFRM
// operation and is not counted). The API objects are read from the simulated
// API server's store directly, so sampling adds no requests to its log. The
// caller marks step boundaries. Times are seconds since Start(). Thread-safe.
#ifndef SIM_CLUSTER_TIMELINE_RECORDER_H_
#define SIM_CLUSTER_TIMELINE_RECORDER_H_

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "sim/cluster/rotation_timeline.h"
#include "sim/cluster/sim_cluster.h"
#include "sim/cluster/traffic.h"
#include "sim/kernel/sim_kernel.h"

namespace kmesh::sim {

struct TimelineRecorderOptions {
  std::chrono::milliseconds period{20};
  // Which pods' plaintext counts as "managed in clear" (null: every pod).
  std::function<bool(const SimPodInfo&)> is_managed;
  // What the timeline's x axis says; its zero is Start().
  std::string time_axis_label = "time since the recording started (s)";
};

class TimelineRecorder {
 public:
  // `cluster` and `traffic` must outlive the recorder.
  TimelineRecorder(SimCluster* cluster, Traffic* traffic, std::string title,
                   TimelineRecorderOptions options = {});
  ~TimelineRecorder();  // Stop().
  TimelineRecorder(const TimelineRecorder&) = delete;
  TimelineRecorder& operator=(const TimelineRecorder&) = delete;

  // Takes the first sample (the baseline: counts before it are not shown)
  // and starts sampling.
  void Start();
  // A step named `name` starts now.
  void MarkStep(const std::string& name);
  // Takes a last sample and stops sampling; idempotent.
  void Stop();
  // One sample now (Start() must have been called); for tests that drive
  // the cluster step by step.
  void SampleNow();

  // Sums over the samples so far.
  uint64_t lost() const;
  uint64_t in_clear_after_esp() const;
  std::string RenderSvg() const;
  absl::Status WriteSvg(const std::string& path) const;

 private:
  using NodePair = std::pair<std::string, std::string>;  // (from, to)
  // Cumulative counts per ordered node pair.
  struct PairCounts {
    std::map<uint32_t, uint64_t> esp_by_spi;
    uint64_t in_clear = 0;  // Managed, in clear, before and after ESP.
    uint64_t in_clear_after_esp = 0;
    uint64_t delivered = 0;
    uint64_t lost = 0;
  };

  double Now() const;
  std::map<NodePair, PairCounts> Count();
  void Sample() ABSL_EXCLUSIVE_LOCKS_REQUIRED(sample_mu_);

  SimCluster& cluster_;
  Traffic& traffic_;
  const TimelineRecorderOptions options_;
  std::chrono::steady_clock::time_point start_;

  absl::Mutex sample_mu_;  // One sample at a time.
  bool started_ ABSL_GUARDED_BY(sample_mu_) = false;
  double last_sample_s_ ABSL_GUARDED_BY(sample_mu_) = 0;
  std::map<NodePair, PairCounts> last_counts_ ABSL_GUARDED_BY(sample_mu_);
  std::string secret_version_ ABSL_GUARDED_BY(sample_mu_);
  std::map<std::string, int> advertised_ ABSL_GUARDED_BY(sample_mu_);
  // Per node: its kernel when last looked at, and the SPIs of its SAs.
  std::map<std::string,
           std::pair<std::shared_ptr<SimKernel>, std::set<uint32_t>>>
      sa_spis_ ABSL_GUARDED_BY(sample_mu_);

  mutable absl::Mutex mu_;  // The timeline; never held while sampling.
  RotationTimeline timeline_ ABSL_GUARDED_BY(mu_);

  absl::Mutex run_mu_;
  bool stop_requested_ ABSL_GUARDED_BY(run_mu_) = false;
  std::thread thread_;
};

}  // namespace kmesh::sim

#endif  // SIM_CLUSTER_TIMELINE_RECORDER_H_
