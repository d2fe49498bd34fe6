// The chaos soak (sim/cluster/chaos_soak.h) at CI length: the simulated
// cluster with the production daemon on every node under traffic while
// faults from every layer hit it at once (API server 5xx, timeouts, cut
// watches, 410s, restarts; XFRM dump ENOBUFS/EINTR and add EEXIST; daemon
// SIGTERM and kill -9; garbage and half-written key files; rotations every
// few seconds; nodes joining and leaving). It must lose nothing outside the
// named windows, send nothing managed in clear once a direction used ESP,
// and converge to exactly the desired state once the faults stop.
//
// The seed is printed first. KMESH_CHAOS_SEED=<n> repeats a run, and
// KMESH_CHAOS_DURATION_S=<s> changes its length (default 100 s of faults).
#include "sim/cluster/chaos_soak.h"

#include <cstdint>
#include <cstdlib>
#include <initializer_list>
#include <iostream>
#include <string>

#include "absl/strings/numbers.h"
#include "gtest/gtest.h"
#include "kmesh/base/testing/test_directory.h"

namespace kmesh::sim {
namespace {

uint64_t EnvNumber(const char* name, uint64_t fallback) {
  const char* text = std::getenv(name);
  uint64_t value = 0;
  return text != nullptr && absl::SimpleAtoi(text, &value) ? value : fallback;
}

TEST(ChaosSoakTest, FaultsFromEveryLayerLoseNothingOutsideWindowsAndConverge) {
  ChaosSoakOptions options;
  options.seed = EnvNumber("KMESH_CHAOS_SEED", 0);
  options.duration =
      std::chrono::seconds(EnvNumber("KMESH_CHAOS_DURATION_S", 100));
  options.state_dir = ::kmesh::testing::NewTestDirectory("kmesh-chaos");
  options.log = &std::cout;
  auto report = RunChaosSoak(options);
  ASSERT_TRUE(report.ok()) << report.status();
  // Every layer was hit (each kind is random; a layer has several).
  auto injected = [&](std::initializer_list<const char*> kinds) {
    uint64_t n = 0;
    for (const char* kind : kinds) {
      auto it = report->faults.find(kind);
      if (it != report->faults.end()) n += it->second;
    }
    return n;
  };
  EXPECT_GT(injected({"api_5xx", "api_timeout"}), 0u);
  EXPECT_GT(injected({"watch_cut", "watch_410", "api_restart"}), 0u);
  EXPECT_GT(injected({"netlink_dump_enobufs", "netlink_dump_eintr",
                      "netlink_add_eexist"}),
            0u);
  EXPECT_GT(injected({"daemon_sigterm", "daemon_kill9"}), 0u);
  EXPECT_GT(injected({"key_file_garbage", "key_file_half_written"}), 0u);
  EXPECT_GT(injected({"node_join", "node_leave"}), 0u);
  EXPECT_GE(report->rotations, 10u);
  EXPECT_GT(report->sent, 10000u);
  EXPECT_EQ(report->in_clear, 0u) << report->Summary();
  EXPECT_EQ(report->in_clear_wire_monitor, 0u) << report->Summary();
  EXPECT_EQ(report->lost_outside_window, 0u) << report->Summary();
  EXPECT_TRUE(report->converged) << report->Summary();
  EXPECT_TRUE(report->ok()) << "rerun with KMESH_CHAOS_SEED=" << report->seed;
}

}  // namespace
}  // namespace kmesh::sim
