// Benchmarks: what the daemon's status and metrics (node_status.h,
// node_metrics.h) cost the paths that must not slow down. A scrape takes the
// controller's lock once (IpsecController::Snapshot) and dumps the XFRM
// tables (ReadKernelStatus); the metrics are computed from that, with no
// lock held. So a scrape can delay a peer event only while it holds the
// controller's lock or the kernel's tables, and a packet only while it holds
// the kernel's tables. Measured here, on one node over SimKernel with N
// programmed peers:
//   - BM_PeerEvent: one peer record change (OnPeerUpsert; the peer's pod
//     CIDR alternates between two values, so every event really reprograms
//     its policies and the encrypt marker's CIDRs), per event, with no
//     scraping (the baseline), with a thread scraping continuously (the
//     worst case: a scrape always in progress), with a scrape every second
//     (Prometheus usually scrapes every 15-60 s), and, as a control, with a
//     thread that only spins (a second busy core, no scrape). Counters: the
//     event's p50/p99/max, the measuring thread's blocked and preempted
//     context switches, and the scraper's rate and call times.
//   - BM_Scrape and its parts (BM_ScrapeSnapshot under the controller's
//     lock, BM_ScrapeReadKernelStatus under the tables' lock,
//     BM_ScrapeMetricsText with no lock): one scrape.
//   - BM_PodSendsPacket: the simulator's packet path (encrypt marker, out
//     policy, SA, ESP of a 1,000-byte UDP payload), with and without a
//     thread reading the kernel status continuously. On a real node the
//     packet path is the Linux kernel, which a scrape reaches only through
//     netlink dumps and /proc/net/xfrm_stat.
// Results: docs/benchmarks.md.
//   bazel run -c opt //kmesh/agent:node_metrics_benchmark --
//       --benchmark_repetitions=5 --benchmark_report_aggregates_only=true
#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <ctime>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/str_format.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "benchmark/benchmark.h"
#include "glog/logging.h"
#include "kmesh/agent/node_metrics.h"
#include "kmesh/agent/node_status.h"
#include "kmesh/base/clock.h"
#include "kmesh/base/ip_address.h"
#include "kmesh/ipsec/ipsec_controller.h"
#include "kmesh/ipsec/node_view.h"
#include "kmesh/ipsec/testing/recording_node_info_publisher.h"
#include "kmesh/ipsec/testing/test_nodes.h"
#include "kmesh/ipsec/testing/test_psk.h"
#include "sim/kernel/sim_kernel.h"
#include "sim/net/ip_packet.h"

namespace kmesh::agent {
namespace {

using ipsec::NodeView;
using SteadyClock = std::chrono::steady_clock;

double Micros(SteadyClock::duration d) {
  return std::chrono::duration<double, std::micro>(d).count();
}

// Node 0 over a SimKernel, its controller holding a key and peers 1..n
// (each advertising the same key, so every peer has inbound and outbound
// SAs, in/fwd/out policies and marker entries), with one local pod whose
// veth has the encrypt marker and routes to every peer's pod CIDR.
class BenchNode {
 public:
  explicit BenchNode(int n) : kernel_("node-0", 1000), self_(Peer(0)) {
    for (int i = 1; i <= n; ++i) {
      NodeView a = Peer(i);
      NodeView b = a;
      b.pod_cidrs = {*IpPrefix::Parse(
          absl::StrFormat("10.%d.%d.0/24", 150 + i / 200, i % 200))};
      peers_.push_back({std::move(a), std::move(b)});
    }
    kernel_.AddNodeAddress(*IpAddress::Parse(self_.addresses[0]));
    kernel_.SetUplink([](const IpAddress&, std::vector<uint8_t>) {});
    pod_ = ipsec::PodIp(self_, IpFamily::kV4);
    kernel_.AddPod("pod-0", pod_, [](absl::Span<const uint8_t>) {});
    kernel_.SetEncryptMarker(pod_, true);
    for (const auto& [a, b] : peers_) {
      const IpAddress via = *IpAddress::Parse(a.addresses[0]);
      kernel_.SetRoute(a.pod_cidrs[0], via);
      kernel_.SetRoute(b.pod_cidrs[0], via);
    }
    stats_at_start_ = *kernel_.xfrm().ReadStats();
    controller_ = std::make_unique<ipsec::IpsecController>(
        self_, &kernel_.xfrm(), &publisher_, &kernel_.marker_maps(), &clock_);
    CHECK(controller_->Start().ok());
    controller_->OnKeyChanged(1, ipsec::TestPsk(1));
    controller_->OnPeersSynced();
    for (const auto& [a, b] : peers_) controller_->OnPeerUpsert(a);
    flipped_.assign(peers_.size(), false);
  }

  int peers() const { return static_cast<int>(peers_.size()); }
  sim::SimKernel& kernel() { return kernel_; }
  ipsec::IpsecController& controller() { return *controller_; }
  const IpAddress& pod() const { return pod_; }
  // Peer i (1..n) as currently programmed.
  const NodeView& peer(int i) const {
    const auto& [a, b] = peers_[i - 1];
    return flipped_[i - 1] ? b : a;
  }

  // The next peer event: the next peer in turn moves its pod CIDR to its
  // other value.
  void PeerEvent() {
    const size_t i = next_++ % peers_.size();
    flipped_[i] = !flipped_[i];
    controller_->OnPeerUpsert(flipped_[i] ? peers_[i].second : peers_[i].first);
  }

  // The status the daemon builds for GET /metrics (IpsecAgent::Status
  // without the agent's own fields). Adds to *snapshot_us the time in
  // Snapshot (under the controller's lock) and to *kernel_us the time in
  // ReadKernelStatus (the kernel dumps), when given.
  NodeStatus Status(double* snapshot_us = nullptr,
                    double* kernel_us = nullptr) {
    NodeStatus status;
    status.node = self_.name;
    status.now = clock_.Now();
    status.daemon_started = status.now;
    const SteadyClock::time_point t0 = SteadyClock::now();
    status.controller = controller_->Snapshot();
    const SteadyClock::time_point t1 = SteadyClock::now();
    ReadKernelStatus(kernel_.xfrm(), stats_at_start_, &status);
    const SteadyClock::time_point t2 = SteadyClock::now();
    if (snapshot_us != nullptr) *snapshot_us += Micros(t1 - t0);
    if (kernel_us != nullptr) *kernel_us += Micros(t2 - t1);
    return status;
  }
  // A whole scrape: the status, then NodeMetrics::Collect's families in the
  // text format.
  std::string Scrape(double* snapshot_us = nullptr,
                     double* kernel_us = nullptr) {
    return PrometheusText(
        NodeMetricFamilies(Status(snapshot_us, kernel_us),
                           static_cast<double>(std::time(nullptr))));
  }
  void ReadKernel() {
    NodeStatus status;
    ReadKernelStatus(kernel_.xfrm(), stats_at_start_, &status);
    benchmark::DoNotOptimize(status);
  }

 private:
  static NodeView Peer(int i) {
    NodeView v = ipsec::TestNodeView(i);
    v.spi = 1;
    return v;
  }

  ManualClock clock_;
  sim::SimKernel kernel_;
  ipsec::RecordingNodeInfoPublisher publisher_;
  NodeView self_;
  IpAddress pod_;
  std::vector<std::pair<NodeView, NodeView>> peers_;
  std::vector<bool> flipped_;
  size_t next_ = 0;
  XfrmStats stats_at_start_;
  std::unique_ptr<ipsec::IpsecController> controller_;
};

// One node per peer count, built once and shared by the variants (so they
// run against the same tables); `use` keeps the event and packet benchmarks
// apart, since events move the peers' pod CIDRs.
BenchNode& SharedNode(int n, int use) {
  static auto* nodes =
      new std::map<std::pair<int, int>, std::unique_ptr<BenchNode>>();
  std::unique_ptr<BenchNode>& node = (*nodes)[{n, use}];
  if (!node) node = std::make_unique<BenchNode>(n);
  return *node;
}

enum ScrapeMode : int64_t {
  kNone = 0,
  kContinuous = 1,   // A full scrape always in progress.
  kEverySecond = 2,  // A full scrape at start, then every second.
  kKernelOnly = 3,   // ReadKernelStatus always in progress.
  // Control: a thread that only spins (no lock, no shared data), to tell
  // the cost of a second busy core on this machine from the scrape's.
  kSpinOnly = 4,
};

// A background thread scraping `node` until destroyed, timing each part.
class Scraper {
 public:
  Scraper(BenchNode* node, ScrapeMode mode) : node_(node) {
    thread_ = std::thread([this, mode] { Run(mode); });
  }
  ~Scraper() {
    stop_.Notify();
    thread_.join();
  }

  void Report(benchmark::State& state, double seconds) const {
    const double n = std::max<double>(1, scrapes_.load());
    state.counters["scrapes_per_s"] = static_cast<double>(scrapes_) / seconds;
    // Wall time of the calls, waits for the locks included.
    state.counters["snapshot_call_us"] = snapshot_us_.load() / n;
    state.counters["kernel_read_call_us"] = kernel_us_.load() / n;
  }

 private:
  void Run(ScrapeMode mode) {
    while (!stop_.HasBeenNotified()) {
      double snapshot_us = 0;
      double kernel_us = 0;
      if (mode == kSpinOnly) {
        uint64_t x = scrapes_.load();
        for (int i = 0; i < 1000000; ++i) benchmark::DoNotOptimize(x += i);
        continue;  // Not a scrape: not counted.
      }
      if (mode == kKernelOnly) {
        const SteadyClock::time_point t0 = SteadyClock::now();
        node_->ReadKernel();
        kernel_us = Micros(SteadyClock::now() - t0);
      } else {
        benchmark::DoNotOptimize(node_->Scrape(&snapshot_us, &kernel_us));
      }
      // One writer: plain load and store.
      snapshot_us_.store(snapshot_us_.load() + snapshot_us);
      kernel_us_.store(kernel_us_.load() + kernel_us);
      ++scrapes_;
      if (mode == kEverySecond) {
        stop_.WaitForNotificationWithTimeout(absl::Seconds(1));
      }
    }
  }

  BenchNode* const node_;
  absl::Notification stop_;
  std::atomic<uint64_t> scrapes_{0};
  std::atomic<double> snapshot_us_{0};
  std::atomic<double> kernel_us_{0};
  std::thread thread_;
};

// This thread's context switches so far: voluntary (it blocked, e.g. on a
// contended lock) and involuntary (it was preempted: no free core).
struct Switches {
  static Switches Now() {
    struct rusage usage {};
    getrusage(RUSAGE_THREAD, &usage);
    return {usage.ru_nvcsw, usage.ru_nivcsw};
  }
  long voluntary = 0;
  long involuntary = 0;
};

// Context switches of the measuring thread per 1,000 iterations.
void ReportSwitches(benchmark::State& state, const Switches& before) {
  const Switches after = Switches::Now();
  const double per_1k =
      1000.0 / static_cast<double>(std::max<int64_t>(1, state.iterations()));
  state.counters["blocked_per_1k"] =
      static_cast<double>(after.voluntary - before.voluntary) * per_1k;
  state.counters["preempted_per_1k"] =
      static_cast<double>(after.involuntary - before.involuntary) * per_1k;
}

// Per-event latency mean and percentiles, as counters (microseconds).
void ReportLatencies(benchmark::State& state, std::vector<double>* us) {
  if (us->empty()) return;
  double sum = 0;
  for (double x : *us) sum += x;
  state.counters["mean_us"] = sum / static_cast<double>(us->size());
  std::sort(us->begin(), us->end());
  auto at = [&](double q) {
    return (*us)[std::min(
        us->size() - 1,
        static_cast<size_t>(q * static_cast<double>(us->size())))];
  };
  state.counters["p50_us"] = at(0.50);
  state.counters["p99_us"] = at(0.99);
  state.counters["max_us"] = us->back();
}

void BM_PeerEvent(benchmark::State& state) {
  BenchNode& node = SharedNode(static_cast<int>(state.range(0)), 0);
  const auto mode = static_cast<ScrapeMode>(state.range(1));
  std::vector<double> latencies;
  latencies.reserve(1 << 20);
  const uint64_t ops_before = node.controller().xfrm_op_counts().changes();
  const SteadyClock::time_point start = SteadyClock::now();
  std::optional<Scraper> scraper;
  if (mode != kNone) scraper.emplace(&node, mode);
  const Switches switches = Switches::Now();
  for (auto _ : state) {
    const SteadyClock::time_point t0 = SteadyClock::now();
    node.PeerEvent();
    latencies.push_back(Micros(SteadyClock::now() - t0));
  }
  ReportSwitches(state, switches);
  const double seconds =
      std::chrono::duration<double>(SteadyClock::now() - start).count();
  if (scraper) scraper->Report(state, seconds);
  scraper.reset();
  state.counters["kernel_ops_per_event"] =
      static_cast<double>(node.controller().xfrm_op_counts().changes() -
                          ops_before) /
      static_cast<double>(std::max<int64_t>(1, state.iterations()));
  ReportLatencies(state, &latencies);
}
BENCHMARK(BM_PeerEvent)
    ->ArgNames({"peers", "scrape"})
    ->ArgsProduct({{100, 1000}, {kNone, kContinuous, kEverySecond, kSpinOnly}})
    ->UseRealTime()
    ->MinTime(3.0)
    ->Unit(benchmark::kMicrosecond);

void BM_Scrape(benchmark::State& state) {
  BenchNode& node = SharedNode(static_cast<int>(state.range(0)), 0);
  size_t bytes = 0;
  for (auto _ : state) {
    const std::string text = node.Scrape();
    bytes = text.size();
  }
  state.counters["text_bytes"] = static_cast<double>(bytes);
}
BENCHMARK(BM_Scrape)->Arg(100)->Arg(1000)->Unit(benchmark::kMicrosecond);

// The part of a scrape under the controller's lock.
void BM_ScrapeSnapshot(benchmark::State& state) {
  BenchNode& node = SharedNode(static_cast<int>(state.range(0)), 0);
  for (auto _ : state) {
    benchmark::DoNotOptimize(node.controller().Snapshot());
  }
}
BENCHMARK(BM_ScrapeSnapshot)
    ->Arg(100)
    ->Arg(1000)
    ->Unit(benchmark::kMicrosecond);

// The part that reads the kernel (SimXfrm's lock, once per dump).
void BM_ScrapeReadKernelStatus(benchmark::State& state) {
  BenchNode& node = SharedNode(static_cast<int>(state.range(0)), 0);
  for (auto _ : state) node.ReadKernel();
}
BENCHMARK(BM_ScrapeReadKernelStatus)
    ->Arg(100)
    ->Arg(1000)
    ->Unit(benchmark::kMicrosecond);

// What of it holds SimXfrm's lock: the two dumps (copies of the tables).
void BM_ScrapeKernelDumps(benchmark::State& state) {
  BenchNode& node = SharedNode(static_cast<int>(state.range(0)), 0);
  size_t objects = 0;
  for (auto _ : state) {
    auto sas = node.kernel().xfrm().DumpSas();
    auto policies = node.kernel().xfrm().DumpPolicies();
    objects = sas->size() + policies->size();
    benchmark::DoNotOptimize(sas);
    benchmark::DoNotOptimize(policies);
  }
  state.counters["objects"] = static_cast<double>(objects);
}
BENCHMARK(BM_ScrapeKernelDumps)
    ->Arg(100)
    ->Arg(1000)
    ->Unit(benchmark::kMicrosecond);

// The part with no lock: families and the text exposition.
void BM_ScrapeMetricsText(benchmark::State& state) {
  BenchNode& node = SharedNode(static_cast<int>(state.range(0)), 0);
  const NodeStatus status = node.Status();  // Taken once.
  for (auto _ : state) {
    benchmark::DoNotOptimize(PrometheusText(
        NodeMetricFamilies(status, static_cast<double>(std::time(nullptr)))));
  }
}
BENCHMARK(BM_ScrapeMetricsText)
    ->Arg(100)
    ->Arg(1000)
    ->Unit(benchmark::kMicrosecond);

// A local pod sends a 1,000-byte UDP payload to a pod of the next peer in
// turn: encrypt marker, out policy, SA, ESP, eth0.
void BM_PodSendsPacket(benchmark::State& state) {
  BenchNode& node = SharedNode(static_cast<int>(state.range(0)), 1);
  const auto mode = static_cast<ScrapeMode>(state.range(1));
  std::vector<std::vector<uint8_t>> packets;
  const std::vector<uint8_t> payload(1000, 0x5a);
  for (int i = 1; i <= node.peers(); ++i) {
    packets.push_back(sim::BuildUdpPacket(
        node.pod(), ipsec::PodIp(node.peer(i), IpFamily::kV4), 1000, 2000,
        payload));
  }
  const SteadyClock::time_point start = SteadyClock::now();
  std::optional<Scraper> scraper;
  if (mode != kNone) scraper.emplace(&node, mode);
  size_t next = 0;
  uint64_t transmitted = 0;
  const Switches switches = Switches::Now();
  for (auto _ : state) {
    const sim::PacketFate fate =
        node.kernel().SendFromPod(node.pod(), packets[next++ % packets.size()]);
    transmitted += fate == sim::PacketFate::kTransmitted ? 1 : 0;
  }
  ReportSwitches(state, switches);
  const double seconds =
      std::chrono::duration<double>(SteadyClock::now() - start).count();
  if (scraper) scraper->Report(state, seconds);
  scraper.reset();
  if (transmitted != static_cast<uint64_t>(state.iterations())) {
    state.SkipWithError("a packet was not transmitted");
  }
}
BENCHMARK(BM_PodSendsPacket)
    ->ArgNames({"peers", "scrape"})
    ->ArgsProduct({{100, 1000}, {kNone, kKernelOnly}})
    ->UseRealTime()
    ->MinTime(2.0)
    ->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace kmesh::agent

int main(int argc, char** argv) {
  FLAGS_logtostderr = true;
  google::InitGoogleLogging(argv[0]);
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
