// Watch fan-out of the simulated API server's store, shaped like a simulated
// cluster of N nodes: N watches each on Nodes, Pods and KmeshNodeInfos (one
// thread per watch, as the API server streams them), then one rotation: N
// KmeshNodeInfo updates, one per node. The time is from the first update
// until every KmeshNodeInfo watch has taken all N events from its watcher
// and turned each into the line it would write to its socket; the Node and
// Pod watches get nothing. `cpu_s` is the process's user + system time over
// that span (every thread), `lines/s` the watch lines produced per second.
//   bazel run -c opt //sim/kube:object_store_watch_benchmark
#include <sys/resource.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "benchmark/benchmark.h"
#include "nlohmann/json.hpp"
#include "sim/kube/object_store.h"
#include "sim/kube/request_handler.h"

namespace kmesh::sim::kube {
namespace {

using nlohmann::json;

constexpr char kNamespace[] = "kmesh-system";

double ProcessCpuSeconds() {
  struct rusage usage;
  getrusage(RUSAGE_SELF, &usage);
  auto seconds = [](const timeval& t) { return t.tv_sec + t.tv_usec / 1e6; };
  return seconds(usage.ru_utime) + seconds(usage.ru_stime);
}

json NodeInfo(int node, int spi) {
  std::string name = "node-" + std::to_string(node);
  return {{"apiVersion", "kmesh.net/v1alpha1"},
          {"kind", "KmeshNodeInfo"},
          {"metadata", {{"name", name}, {"namespace", kNamespace}}},
          {"spec",
           {{"spi", spi},
            {"addresses",
             {"10.0." + std::to_string(node / 250) + "." +
              std::to_string(node % 250 + 1)}},
            {"bootID", "b6c5a4d3-e2f1-4a0b-9c8d-7e6f5a4b3c2d"},
            {"podCIDRS", {"10.244." + std::to_string(node % 250) + ".0/24"}},
            {"nodeName", name}}}};
}

// One watch stream: takes events until cancelled, serialising each.
class WatchStream {
 public:
  WatchStream(std::unique_ptr<ObjectStore::Watcher> watcher, int expected,
              std::atomic<int>* pending)
      : watcher_(std::move(watcher)),
        expected_(expected),
        pending_(pending),
        thread_([this] { Run(); }) {}
  ~WatchStream() {
    watcher_->Cancel();
    thread_.join();
  }

 private:
  void Run() {
    int seen = 0;
    while (true) {
      auto event = watcher_->Next(std::chrono::steady_clock::now() +
                                  std::chrono::seconds(60));
      if (absl::IsDeadlineExceeded(event.status())) continue;
      if (!event.ok()) return;
      std::string line = RequestHandler::WatchEventLine(*event);
      benchmark::DoNotOptimize(line.data());
      if (++seen == expected_) pending_->fetch_sub(1);
    }
  }

  std::unique_ptr<ObjectStore::Watcher> watcher_;
  const int expected_;
  std::atomic<int>* const pending_;
  std::thread thread_;
};

void BM_RotationFanOut(benchmark::State& state) {
  const int nodes = static_cast<int>(state.range(0));
  ObjectStore::Options options;
  options.history_limit = 2 * nodes + 100;
  ObjectStore store(options);
  const ResourceType& namespaces = *store.FindType("", "v1", "namespaces");
  const ResourceType& node_type = *store.FindType("", "v1", "nodes");
  const ResourceType& pod_type = *store.FindType("", "v1", "pods");
  const ResourceType& infos =
      *store.FindType("kmesh.net", "v1alpha1", "kmeshnodeinfos");
  (void)store.Create(namespaces, "",
                     {{"apiVersion", "v1"},
                      {"kind", "Namespace"},
                      {"metadata", {{"name", kNamespace}}}});
  for (int i = 0; i < nodes; ++i) {
    if (!store.Create(infos, kNamespace, NodeInfo(i, 1)).ok()) {
      state.SkipWithError("creating a KmeshNodeInfo failed");
      return;
    }
  }
  int spi = 1;
  double cpu_seconds = 0;
  double wall_seconds = 0;
  for (auto _ : state) {
    ++spi;
    const std::string from = std::to_string(store.CurrentResourceVersion());
    std::atomic<int> pending{nodes};
    std::atomic<int> unused{0};
    std::vector<std::unique_ptr<WatchStream>> streams;
    for (int i = 0; i < nodes; ++i) {
      auto info_watch = store.Watch(infos, kNamespace, {}, from);
      auto node_watch = store.Watch(node_type, "", {}, from);
      auto pod_watch = store.Watch(
          pod_type, "", {"", "spec.nodeName=node-" + std::to_string(i)}, from);
      if (!info_watch.ok() || !node_watch.ok() || !pod_watch.ok()) {
        state.SkipWithError("starting a watch failed");
        return;
      }
      streams.push_back(std::make_unique<WatchStream>(*std::move(info_watch),
                                                      nodes, &pending));
      streams.push_back(
          std::make_unique<WatchStream>(*std::move(node_watch), -1, &unused));
      streams.push_back(
          std::make_unique<WatchStream>(*std::move(pod_watch), -1, &unused));
    }
    const double cpu_before = ProcessCpuSeconds();
    const auto start = std::chrono::steady_clock::now();
    for (int i = 0; i < nodes; ++i) {
      if (!store
               .Update(infos, kNamespace, "node-" + std::to_string(i),
                       NodeInfo(i, spi))
               .ok()) {
        state.SkipWithError("updating a KmeshNodeInfo failed");
        return;
      }
    }
    while (pending.load() > 0) {
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
    const auto end = std::chrono::steady_clock::now();
    cpu_seconds += ProcessCpuSeconds() - cpu_before;
    const double elapsed = std::chrono::duration<double>(end - start).count();
    wall_seconds += elapsed;
    state.SetIterationTime(elapsed);
    streams.clear();  // Cancels and joins, outside the timed span.
  }
  const double lines = static_cast<double>(nodes) * nodes * state.iterations();
  state.counters["cpu_s"] =
      benchmark::Counter(cpu_seconds, benchmark::Counter::kAvgIterations);
  // Per wall-clock second (kIsRate would divide by the main thread's CPU).
  state.counters["lines/s"] = lines / wall_seconds;
  state.counters["watches"] = 3 * nodes;
}
BENCHMARK(BM_RotationFanOut)
    ->Arg(100)
    ->Arg(300)
    ->Arg(1000)
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond)
    ->Iterations(3);

}  // namespace
}  // namespace kmesh::sim::kube

BENCHMARK_MAIN();
