// chaos-soak: runs the chaos soak (chaos_soak.h) once and prints its
// summary; exits 0 when every invariant held and the cluster converged, 1
// otherwise. The seed is printed first; pass it back with --seed to repeat
// a failing run.
//
//   bazel run //sim/cluster:chaos-soak -- --duration=1h
//   bazel run //sim/cluster:chaos-soak -- --seed=12345 --duration=3m
#include <unistd.h>

#include <chrono>
#include <iostream>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "gflags/gflags.h"
#include "sim/cluster/chaos_soak.h"

DEFINE_uint64(seed, 0, "Random seed (0: a random one, printed).");
DEFINE_string(duration, "3m",
              "How long faults are injected (Go-style duration: 90s, 3m, "
              "1h).");
DEFINE_int32(nodes, 3, "Nodes at start.");
DEFINE_int32(min_nodes, 2, "Fewest nodes left by leaves.");
DEFINE_int32(max_nodes, 5, "Most nodes reached by joins.");
DEFINE_int32(mean_fault_interval_ms, 500, "Mean time between faults.");
DEFINE_int32(rotation_interval_ms, 4000, "Mean time between key rotations.");
DEFINE_int32(grace_period_s, 10, "The daemons' --ipsec-grace-period.");
DEFINE_int32(quiet_timeout_s, 90,
             "How long the quiet phase may take to converge.");
DEFINE_double(rounds_per_second, 50, "Traffic rounds per second.");
DEFINE_string(state_dir, "",
              "Scratch directory (default: /tmp/kmesh-chaos-<pid>).");

int main(int argc, char** argv) {
  gflags::SetUsageMessage("chaos-soak [--seed=N] [--duration=1h] [flags]");
  gflags::ParseCommandLineFlags(&argc, &argv, /*remove_flags=*/true);
  absl::Duration duration;
  if (!absl::ParseDuration(FLAGS_duration, &duration)) {
    std::cerr << "bad --duration " << FLAGS_duration << "\n";
    return 2;
  }
  kmesh::sim::ChaosSoakOptions options;
  options.seed = FLAGS_seed;
  options.duration = absl::ToChronoMilliseconds(duration);
  options.nodes = FLAGS_nodes;
  options.min_nodes = FLAGS_min_nodes;
  options.max_nodes = FLAGS_max_nodes;
  options.mean_fault_interval =
      std::chrono::milliseconds(FLAGS_mean_fault_interval_ms);
  options.rotation_interval =
      std::chrono::milliseconds(FLAGS_rotation_interval_ms);
  options.grace_period = std::chrono::seconds(FLAGS_grace_period_s);
  options.quiet_timeout = std::chrono::seconds(FLAGS_quiet_timeout_s);
  options.rounds_per_second = FLAGS_rounds_per_second;
  options.state_dir = FLAGS_state_dir.empty()
                          ? absl::StrCat("/tmp/kmesh-chaos-", ::getpid())
                          : FLAGS_state_dir;
  options.log = &std::cout;
  auto report = kmesh::sim::RunChaosSoak(options);
  if (!report.ok()) {
    std::cerr << "chaos soak could not run: " << report.status() << "\n";
    return 2;
  }
  // The summary was logged last (options.log).
  return report->ok() ? 0 : 1;
}
