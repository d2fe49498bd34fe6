// ChaosSoak: the simulated cluster (SimCluster with the production daemon on
// every node) under continuous traffic while a seeded random scheduler
// throws faults from every layer at it at once (issue 21, point 4):
//   API server: 5xx answers, slow answers that time requests out, cut
//     watches, 410 Gone (history compacted under open watches), restarts;
//   kernel: ENOBUFS and EINTR on XFRM dumps, EEXIST on XFRM adds;
//   daemon: SIGTERM and kill -9 (down for a while, then a new process);
//   key file: garbage and half-written contents (kubelet's next sync puts
//     the real content back);
//   rotations every few seconds; nodes joining and leaving.
// Invariants, checked throughout:
//   - no managed packet crosses the wire in clear between two nodes once
//     that direction has carried ESP (every pod of the soak is managed);
//   - every packet is delivered, except on flows of a node that joined less
//     than `join_window` ago: decisions.md ("First contact loses nothing")
//     bounds a joining node's losses only while every peer's Node watch
//     works, which the faults break. Those losses are counted apart.
// Then the faults stop (quiet phase): every node must converge to exactly
// the desired state, computed here from the simulator's own view of the
// cluster (live nodes, their addresses, pod CIDRs, boot IDs, the current
// SPI) and compared object by object: SAs, policies, marker map entries,
// the managed pods' encrypt hooks and the KmeshNodeInfo records. Anything
// extra is a leak, anything missing a failure.
//
// Reproducible from the seed (printed first): the sequence of faults and
// their parameters is a function of it; their exact timing against the
// daemons' threads is not.
#ifndef SIM_CLUSTER_CHAOS_SOAK_H_
#define SIM_CLUSTER_CHAOS_SOAK_H_

#include <chrono>
#include <cstdint>
#include <map>
#include <ostream>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace kmesh::sim {

struct ChaosSoakOptions {
  // 0: a random seed (printed, so the run can be repeated).
  uint64_t seed = 0;
  // How long faults are injected (traffic runs throughout).
  std::chrono::milliseconds duration{std::chrono::minutes(2)};
  // Nodes at start; joins and leaves keep the count within [min, max].
  int nodes = 3;
  int min_nodes = 2;
  int max_nodes = 5;
  // Mean time between two faults (exponentially distributed).
  std::chrono::milliseconds mean_fault_interval{500};
  // A new key (SPI + 1) every interval, +-50 % jitter.
  std::chrono::milliseconds rotation_interval{4000};
  // The daemons' --ipsec-grace-period.
  std::chrono::seconds grace_period{10};
  // The daemons' REST request timeout (slow answers beyond it time out).
  std::chrono::milliseconds request_timeout{1500};
  // Losses on a joining node's flows within this are in the join window.
  std::chrono::milliseconds join_window{std::chrono::seconds(15)};
  // How long the quiet phase may take to reach the desired state.
  std::chrono::milliseconds quiet_timeout{std::chrono::seconds(90)};
  // Traffic rounds per second (one packet per ordered node pair a round).
  double rounds_per_second = 50;
  // Required: a scratch directory (removed and recreated).
  std::string state_dir;
  // Progress lines; nullptr: none.
  std::ostream* log = nullptr;
};

struct ChaosSoakReport {
  uint64_t seed = 0;
  std::map<std::string, uint64_t> faults;  // Injected, by kind.
  uint64_t rotations = 0;
  uint64_t sent = 0;
  uint64_t delivered = 0;
  uint64_t lost_in_window = 0;
  uint64_t lost_outside_window = 0;
  std::map<std::string, uint64_t> losses_in_window_by_cause;
  std::map<std::string, uint64_t> losses_outside_by_cause;
  // Managed packets in clear after their direction carried ESP (own wire
  // check), and the WireMonitor's count of the same, as a cross-check.
  uint64_t in_clear = 0;
  uint64_t in_clear_wire_monitor = 0;
  // API responses by code during the run (410s included), from the log.
  std::map<int, uint64_t> api_error_codes;
  // The first violations, with time, node pair and what happened.
  std::vector<std::string> violations;
  // The quiet phase: whether every node reached the desired state, how
  // long it took, and what differed at the end (empty when converged).
  bool converged = false;
  std::chrono::milliseconds convergence_time{0};
  std::vector<std::string> final_diff;
  int final_nodes = 0;
  uint32_t final_spi = 0;

  bool ok() const {
    return converged && lost_outside_window == 0 && in_clear == 0 &&
           in_clear_wire_monitor == 0;
  }
  // A multi-line summary: seed, faults per kind, packets, losses (in and
  // outside windows, with causes), in clear, final-state diff, verdict.
  std::string Summary() const;
};

// Runs the soak. An error means the harness itself could not run (the
// cluster did not start); invariant violations are in the report.
absl::StatusOr<ChaosSoakReport> RunChaosSoak(ChaosSoakOptions options);

}  // namespace kmesh::sim

#endif  // SIM_CLUSTER_CHAOS_SOAK_H_
