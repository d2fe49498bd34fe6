// Benchmarks of the IPsec controller and XFRM programmer against the
// simulated kernel: programming N peers from nothing, one peer changing, a
// key rotation, and memory per peer. Counters report the kernel operations
// (adds, updates, deletes), which must grow linearly with the peers for the
// first and the rotation, and stay constant for a single peer's change.
//   bazel run -c opt //kmesh/ipsec:xfrm_programmer_benchmark
#include <malloc.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "benchmark/benchmark.h"
#include "glog/logging.h"
#include "kmesh/base/clock.h"
#include "kmesh/ipsec/ipsec_controller.h"
#include "kmesh/ipsec/testing/recording_node_info_publisher.h"
#include "kmesh/ipsec/testing/test_nodes.h"
#include "kmesh/ipsec/testing/test_psk.h"
#include "kmesh/kernel/testing/null_xfrm_kernel.h"
#include "sim/kernel/memory_marker_maps.h"
#include "sim/kernel/xfrm/sim_xfrm.h"

namespace kmesh::ipsec {
namespace {

struct Node {
  explicit Node(XfrmKernel* kernel)
      : controller(TestNodeView(0, false), kernel, &publisher, &markers,
                   &clock) {
    (void)controller.Start();
  }
  ManualClock clock;
  RecordingNodeInfoPublisher publisher;
  MemoryMarkerMaps markers;
  IpsecController controller;
};

std::vector<NodeView> Peers(int n, int32_t spi) {
  std::vector<NodeView> peers;
  peers.reserve(n);
  for (int i = 1; i <= n; ++i) {
    peers.push_back(TestNodeView(i, false));
    peers.back().spi = spi;
  }
  return peers;
}

// A fresh node: its key, the (empty) initial peer list, then one event per
// peer as the peers' records arrive.
void ProgramAll(Node& node, const std::vector<NodeView>& peers) {
  node.controller.OnKeyChanged(1, TestPsk(1));
  node.controller.OnPeersSynced();
  for (const NodeView& peer : peers) node.controller.OnPeerUpsert(peer);
}

// Kernel: the simulator (its policy table re-sorts on every insert, so its
// own cost grows faster than linearly), or NullXfrmKernel (the controller's
// and programmer's own cost alone).
std::unique_ptr<XfrmKernel> MakeKernel(bool simulated) {
  if (simulated) return std::make_unique<sim::SimXfrm>();
  return std::make_unique<NullXfrmKernel>();
}

void BM_ProgramPeersFromNothing(benchmark::State& state) {
  const int n = static_cast<int>(state.range(0));
  const bool simulated = state.range(1) != 0;
  const std::vector<NodeView> peers = Peers(n, 1);
  uint64_t ops = 0;
  for (auto _ : state) {
    state.PauseTiming();
    auto sim = MakeKernel(simulated);
    auto node = std::make_unique<Node>(sim.get());
    const uint64_t before = node->controller.xfrm_op_counts().changes();
    state.ResumeTiming();
    ProgramAll(*node, peers);
    state.PauseTiming();
    ops = node->controller.xfrm_op_counts().changes() - before;
    node.reset();
    sim.reset();
    state.ResumeTiming();
  }
  state.counters["peers"] = n;
  state.counters["kernel_ops"] = static_cast<double>(ops);
  state.counters["ops_per_peer"] = static_cast<double>(ops) / n;
}
BENCHMARK(BM_ProgramPeersFromNothing)
    ->ArgNames({"peers", "sim"})
    ->Args({500, 0})
    ->Args({1000, 0})
    ->Args({5000, 0})
    ->Args({500, 1})
    ->Args({1000, 1})
    ->Args({5000, 1})
    ->Unit(benchmark::kMillisecond);

void BM_OnePeerChanges(benchmark::State& state) {
  const int n = static_cast<int>(state.range(0));
  std::vector<NodeView> peers = Peers(n, 1);
  auto kernel = MakeKernel(state.range(1) != 0);
  Node node(kernel.get());
  ProgramAll(node, peers);
  int generation = 0;
  uint64_t ops = 0;
  uint64_t changes = 0;
  for (auto _ : state) {
    NodeView& peer = peers[generation % n];
    ++generation;
    peer.boot_id = TestBootId(generation % n + 1, generation);  // Reboot.
    const uint64_t before = node.controller.xfrm_op_counts().changes();
    node.controller.OnPeerUpsert(peer);
    ops += node.controller.xfrm_op_counts().changes() - before;
    ++changes;
  }
  state.counters["peers"] = n;
  state.counters["kernel_ops_per_change"] =
      static_cast<double>(ops) / static_cast<double>(changes);
}
BENCHMARK(BM_OnePeerChanges)
    ->ArgNames({"peers", "sim"})
    ->Args({500, 0})
    ->Args({5000, 0})
    ->Args({500, 1})
    ->Args({5000, 1})
    ->Unit(benchmark::kMicrosecond);

// A full rotation: the new key arrives, every peer advertises it, the grace
// period passes and the old SPI goes.
void BM_Rotation(benchmark::State& state) {
  const int n = static_cast<int>(state.range(0));
  std::vector<NodeView> peers = Peers(n, 1);
  auto kernel = MakeKernel(state.range(1) != 0);
  Node node(kernel.get());
  ProgramAll(node, peers);
  int32_t spi = 1;
  uint64_t ops = 0;
  uint64_t rotations = 0;
  for (auto _ : state) {
    const uint64_t before = node.controller.xfrm_op_counts().changes();
    ++spi;
    node.controller.OnKeyChanged(spi, TestPsk(spi));
    for (NodeView& peer : peers) {
      peer.spi = spi;
      node.controller.OnPeerUpsert(peer);
    }
    node.clock.Advance(std::chrono::minutes(6));
    node.controller.Tick();
    ops += node.controller.xfrm_op_counts().changes() - before;
    ++rotations;
  }
  state.counters["peers"] = n;
  state.counters["kernel_ops"] =
      static_cast<double>(ops) / static_cast<double>(rotations);
  state.counters["ops_per_peer"] =
      static_cast<double>(ops) / static_cast<double>(rotations) / n;
}
BENCHMARK(BM_Rotation)
    ->ArgNames({"peers", "sim"})
    ->Args({500, 0})
    ->Args({5000, 0})
    ->Args({500, 1})
    ->Args({5000, 1})
    ->Unit(benchmark::kMillisecond);

size_t HeapInUse() {
  struct mallinfo2 info = mallinfo2();
  return info.uordblks + info.hblkhd;
}

// Heap per peer: the controller alone (over a kernel that keeps nothing),
// and controller plus the simulated kernel's tables.
void BM_MemoryPerPeer(benchmark::State& state) {
  const int n = static_cast<int>(state.range(0));
  const std::vector<NodeView> peers = Peers(n, 1);
  double controller_bytes = 0;
  double total_bytes = 0;
  for (auto _ : state) {
    {
      NullXfrmKernel null_kernel;
      const size_t before = HeapInUse();
      auto node = std::make_unique<Node>(&null_kernel);
      ProgramAll(*node, peers);
      controller_bytes =
          static_cast<double>(HeapInUse() - before) / static_cast<double>(n);
    }
    {
      const size_t before = HeapInUse();
      auto sim = std::make_unique<sim::SimXfrm>();
      auto node = std::make_unique<Node>(sim.get());
      ProgramAll(*node, peers);
      total_bytes =
          static_cast<double>(HeapInUse() - before) / static_cast<double>(n);
    }
  }
  state.counters["peers"] = n;
  state.counters["controller_bytes_per_peer"] = controller_bytes;
  state.counters["with_sim_kernel_bytes_per_peer"] = total_bytes;
}
BENCHMARK(BM_MemoryPerPeer)
    ->Arg(5000)
    ->Iterations(1)
    ->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace kmesh::ipsec

int main(int argc, char** argv) {
  FLAGS_logtostderr = true;
  google::InitGoogleLogging(argv[0]);
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
