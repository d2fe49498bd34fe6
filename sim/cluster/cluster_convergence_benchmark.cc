// Cluster convergence benchmark: a SimCluster of --nodes nodes, each running
// the production IpsecAgent with its own REST client, simulated kernel and
// projected key file (per-node key delays over --key_window_ms), under
// continuous traffic on --pairs cross-node pod pairs. It creates the key,
// rotates it, and reports when every node advertised, converged and
// reclaimed, with CPU, memory and lost/plaintext packets (which must be 0),
// against a --baseline_nodes run in the same process. docs/benchmarks.md
// defines each figure and records the runs:
//   bazel run -c opt //sim/cluster:cluster_convergence_benchmark --
//       --nodes=1000 --baseline_nodes=100 --grace_seconds=300  (one line)
// Needs fs.inotify.max_user_instances above the node count (one inotify
// instance per simulated daemon); it says so when it is not.
#include <dirent.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <numeric>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "gflags/gflags.h"
#include "glog/logging.h"
#include "kmesh/kmeshctl/secret_command.h"
#include "nlohmann/json.hpp"
#include "sim/cluster/daemon_node_agent.h"
#include "sim/cluster/sim_cluster.h"
#include "sim/cluster/traffic.h"
#include "sim/kube/api_server.h"
#include "sim/kube/object_store.h"

DEFINE_int32(nodes, 1000, "Nodes in the measured cluster.");
DEFINE_int32(baseline_nodes, 100,
             "Nodes in the baseline cluster measured first (0: none).");
DEFINE_int32(pairs, 50, "Cross-node managed pod pairs carrying traffic.");
DEFINE_int32(key_window_ms, 20000,
             "Nodes learn each key at delays spread evenly over this window.");
DEFINE_int32(grace_seconds, 30,
             "The agents' --ipsec-grace-period in the measured cluster. It "
             "must exceed the time a record takes to reach every node, or "
             "the sampled flows lose packets (see docs/benchmarks.md).");
DEFINE_int32(baseline_grace_seconds, 30,
             "The agents' --ipsec-grace-period in the baseline cluster.");
DEFINE_double(traffic_rate, 20,
              "Traffic rounds per second (one request and "
              "one response per pair each round).");
DEFINE_int32(timeout_seconds, 900, "Give up on any one phase after this.");
DEFINE_string(state_dir, "",
              "Where the clusters' files go (a fresh "
              "directory under /tmp when empty).");

namespace kmesh::sim {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

double Seconds(Clock::duration d) {
  return std::chrono::duration<double>(d).count();
}

double CpuSeconds() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  auto s = [](const timeval& t) { return t.tv_sec + t.tv_usec / 1e6; };
  return s(usage.ru_utime) + s(usage.ru_stime);
}

// A field of /proc/self/status in kB (VmHWM, VmRSS) or a count (Threads).
long ProcStatus(const std::string& field) {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(field + ":", 0) == 0) {
      return std::strtol(line.c_str() + field.size() + 1, nullptr, 10);
    }
  }
  return -1;
}

int OpenFiles() {
  int n = 0;
  if (DIR* dir = opendir("/proc/self/fd")) {
    while (readdir(dir) != nullptr) ++n;
    closedir(dir);
  }
  return n - 2;  // "." and "..".
}

long ReadLong(const char* path) {
  std::ifstream in(path);
  long value = -1;
  in >> value;
  return value;
}

struct PhaseResult {
  size_t requests = 0;          // API requests served during the phase.
  size_t record_lists = 0;      // Of which LISTs of KmeshNodeInfo (relists).
  double advertised_s = 0;      // Every node advertises the SPI.
  double converged_s = 0;       // And every outbound SA moved (kernel state).
  double converged_seen_s = 0;  // When the poll saw that.
  double cpu_s = 0;             // Process CPU until converged.
};

struct RunResult {
  int nodes = 0;
  int grace_seconds = 0;
  double startup_s = 0;
  double startup_cpu_s = 0;
  PhaseResult first_key;
  PhaseResult rotation;
  // CPU seconds per second with the key in place and nothing changing (the
  // agents' ticks, the watches' keep-alive checks).
  double idle_cpu_per_s = 0;
  double reclaimed_s = 0;
  double reclaim_seen_s = 0;
  double reclaim_cpu_s = 0;
  long rss_converged_kb = 0;
  long hwm_kb = 0;
  long threads = 0;
  double sas_per_node = 0;
  double policies_per_node = 0;
  uint64_t packets_sent = 0;
  uint64_t packets_lost = 0;
  uint64_t plaintext = 0;
  bool ok = false;
};

class Run {
 public:
  Run(int nodes, int grace_seconds, std::string state_dir)
      : nodes_(nodes),
        grace_seconds_(grace_seconds),
        state_dir_(std::move(state_dir)) {}

  absl::Status Execute(RunResult* result) {
    result->nodes = nodes_;
    result->grace_seconds = grace_seconds_;
    std::cout << "=== " << nodes_ << " nodes ===" << std::endl;
    if (auto s = StartCluster(result); !s.ok()) return s;
    if (auto s = CreatePods(); !s.ok()) return s;

    // First key.
    if (auto s = MeasureKey(1, &result->first_key); !s.ok()) return s;
    {
      const double cpu_start = CpuSeconds();
      const auto start = Clock::now();
      std::this_thread::sleep_for(std::chrono::seconds(3));
      result->idle_cpu_per_s =
          (CpuSeconds() - cpu_start) / Seconds(Clock::now() - start);
      std::cout << "  idle: " << result->idle_cpu_per_s
                << " CPU seconds per second" << std::endl;
    }

    // Traffic on the sampled pairs; wait until all of it is ESP.
    traffic_ = std::make_unique<Traffic>(&cluster_->network());
    for (const auto& [client, server] : pairs_) {
      auto flow =
          traffic_->AddFlow({"default", client.name, "default", server.name});
      if (!flow.ok()) return flow.status();
    }
    if (auto s = traffic_->Start(FLAGS_traffic_rate, std::chrono::hours(1));
        !s.ok()) {
      return s;
    }
    if (auto s = WaitForAllEsp(); !s.ok()) return s;
    const DirectionStats before = traffic_->Totals();
    const uint64_t plain_before = SampledPlaintext();

    // Rotation.
    if (auto s = MeasureKey(2, &result->rotation); !s.ok()) return s;
    result->rss_converged_kb = ProcStatus("VmRSS");
    result->threads = ProcStatus("Threads");
    CountObjects(result);

    // Reclaim: the grace period runs from when each node saw every peer
    // advertise 2.
    const double cpu_start = CpuSeconds();
    auto reclaimed = WaitForNodes(
        [this](const std::string& node) { return NoSaWithSpi(node, 1); },
        "no SA with SPI 1 left");
    if (!reclaimed.ok()) return reclaimed.status();
    result->reclaimed_s = Seconds(reclaimed->at - rotation_start_);
    result->reclaim_seen_s = Seconds(reclaimed->seen - rotation_start_);
    result->reclaim_cpu_s = CpuSeconds() - cpu_start;

    // A few more rounds after reclaim, then stop and count.
    const uint64_t rounds = traffic_->rounds();
    const auto until = Clock::now() + std::chrono::seconds(2);
    while (traffic_->rounds() < rounds + 10 && Clock::now() < until) {
      std::this_thread::sleep_for(milliseconds(20));
    }
    traffic_->Stop();
    const DirectionStats after = traffic_->Totals();
    result->packets_sent = after.sent - before.sent;
    result->packets_lost = after.lost - before.lost;
    result->plaintext = SampledPlaintext() - plain_before;
    result->hwm_kb = ProcStatus("VmHWM");
    if (result->packets_lost != 0 ||
        result->packets_sent != after.received - before.received) {
      for (const auto& [cause, n] : after.losses_by_cause) {
        std::cout << "  lost to " << cause << ": " << n << std::endl;
      }
    }
    result->ok = result->packets_sent > 0 && result->packets_lost == 0 &&
                 result->packets_sent == after.received - before.received &&
                 result->plaintext == 0;
    traffic_.reset();
    return absl::OkStatus();
  }

  void Stop() {
    traffic_.reset();
    if (cluster_) {
      const auto start = Clock::now();
      cluster_->Stop();
      std::cout << "  stopped in " << Seconds(Clock::now() - start) << " s"
                << std::endl;
    }
    cluster_.reset();
  }

 private:
  absl::Status StartCluster(RunResult* result) {
    SimClusterOptions options;
    options.state_dir = state_dir_;
    options.nodes.clear();
    for (int i = 0; i < nodes_; ++i) {
      options.nodes.push_back(absl::StrFormat("node-%04d", i));
    }
    // Delays spread evenly over the window, in an order unrelated to the
    // node's index (fixed seed: the same order every run).
    std::vector<int> order(nodes_);
    std::iota(order.begin(), order.end(), 0);
    std::shuffle(order.begin(), order.end(), std::mt19937(12345));
    for (int i = 0; i < nodes_; ++i) {
      const int64_t delay =
          nodes_ > 1 ? int64_t{FLAGS_key_window_ms} * order[i] / (nodes_ - 1)
                     : 0;
      options.key_delays[options.nodes[i]] = milliseconds(delay);
    }
    options.capture_lines_kept = 0;
    // Every node's record changes within the key window: keep enough
    // history that no watch falls out of it (see SimClusterOptions).
    options.api_watch_history = std::max<size_t>(1000, 20 * nodes_);
    options.ipsec_grace_period = std::chrono::seconds(grace_seconds_);
    // kmesh-daemon's own tick and Node re-read intervals (500 ms, 10 s),
    // not the faster ones the simulated cluster's tests use.
    DaemonNodeAgentOptions daemon;
    daemon.tick_interval = std::chrono::milliseconds(500);
    daemon.self_refresh_interval = std::chrono::seconds(10);
    auto factory = DaemonNodeAgentFactory(daemon);
    if (!factory.ok()) return factory.status();
    options.agent_factory = *factory;

    const double cpu_start = CpuSeconds();
    const auto start = Clock::now();
    auto cluster = SimCluster::Start(options);
    if (!cluster.ok()) return cluster.status();
    cluster_ = *std::move(cluster);
    for (const SimNodeInfo& node : cluster_->network().nodes()) {
      const int index = static_cast<int>(node_index_.size());
      node_index_[node.name] = index;
      for (const IpAddress& a : node.addresses) owner_[a] = index;
    }
    // Every agent watches peers, Nodes, its own pods, the other nodes' pods
    // and namespaces; the projector the secret. All watches open = every
    // reflector has listed.
    const int watches = 5 * nodes_ + 1;
    if (!cluster_->api_server().WaitForOpenWatches(
            watches, std::chrono::seconds(FLAGS_timeout_seconds))) {
      return absl::DeadlineExceededError(
          absl::StrCat("only ", cluster_->api_server().OpenWatches(), " of ",
                       watches, " watches open"));
    }
    result->startup_s = Seconds(Clock::now() - start);
    result->startup_cpu_s = CpuSeconds() - cpu_start;
    std::cout << "  up (" << watches << " watches) in " << result->startup_s
              << " s, CPU " << result->startup_cpu_s << " s, RSS "
              << ProcStatus("VmRSS") / 1024 << " MiB, threads "
              << ProcStatus("Threads") << ", open files " << OpenFiles()
              << std::endl;
    return absl::OkStatus();
  }

  // Pair k: a client and a server pod on two different nodes, spread over
  // the cluster.
  absl::Status CreatePods() {
    const std::vector<std::string> names = cluster_->node_names();
    const int slots = 2 * FLAGS_pairs;
    for (int k = 0; k < FLAGS_pairs; ++k) {
      const std::string& a = names[(2 * k) * nodes_ / slots % nodes_];
      const std::string& b = names[(2 * k + 1) * nodes_ / slots % nodes_];
      if (a == b) {
        return absl::InvalidArgumentError("more pairs than nodes allow");
      }
      auto client =
          cluster_->CreatePod("default", absl::StrCat("client-", k), a, {});
      if (!client.ok()) return client.status();
      auto server =
          cluster_->CreatePod("default", absl::StrCat("server-", k), b, {});
      if (!server.ok()) return server.status();
      pairs_.push_back({*client, *server});
    }
    return cluster_->SetNamespaceLabel("default", "istio.io/dataplane-mode",
                                       "Kmesh");
  }

  // Writes the key as `kmeshctl secret create` does, then waits for every
  // node to advertise `spi` and to have moved every outbound SA to it.
  absl::Status MeasureKey(int spi, PhaseResult* phase) {
    kmeshctl::SecretCommand command(cluster_->client(), {});
    const size_t log_start = cluster_->api_server().RequestLog().size();
    const double cpu_start = CpuSeconds();
    const auto start = Clock::now();
    if (spi == 2) rotation_start_ = start;
    kmeshctl::CommandResult created = command.Create(std::nullopt);
    if (created.exit_code != 0) {
      return absl::InternalError(absl::StrCat("secret create: ", created.err));
    }
    // Outbound SAs move to a peer only once it advertises the SPI, so no
    // node can have converged before every node advertises it.
    const auto deadline = start + std::chrono::seconds(FLAGS_timeout_seconds);
    while (!AllAdvertise(spi)) {
      if (Clock::now() >= deadline) {
        return absl::DeadlineExceededError(
            absl::StrCat("not every node advertises spi ", spi));
      }
      std::this_thread::sleep_for(milliseconds(50));
    }
    phase->advertised_s = Seconds(Clock::now() - start);
    auto converged = WaitForNodes(
        [this, spi](const std::string& node) {
          return OutboundAndInboundAt(node, spi);
        },
        absl::StrCat("outbound and inbound SAs at spi ", spi));
    if (!converged.ok()) return converged.status();
    phase->converged_s = Seconds(std::max(converged->at, start) - start);
    phase->converged_seen_s = Seconds(converged->seen - start);
    phase->cpu_s = CpuSeconds() - cpu_start;
    const auto log = cluster_->api_server().RequestLog();
    for (size_t i = log_start; i < log.size(); ++i) {
      ++phase->requests;
      if (log[i].method == "GET" &&
          log[i].query.find("watch") == std::string::npos &&
          absl::EndsWith(log[i].path, "/kmeshnodeinfos")) {
        ++phase->record_lists;
      }
    }
    std::cout << "  spi " << spi << ": advertised by all after "
              << phase->advertised_s << " s, converged after "
              << phase->converged_s << " s (seen by the poll after "
              << phase->converged_seen_s << " s), CPU " << phase->cpu_s
              << " s, " << phase->requests << " API requests, "
              << phase->record_lists << " KmeshNodeInfo lists" << std::endl;
    return absl::OkStatus();
  }

  // Whether every node's KmeshNodeInfo says `spi`, read from the API
  // server's store in process (no HTTP, so the agents' requests are all the
  // server serves).
  bool AllAdvertise(int spi) {
    kube::ObjectStore& store = cluster_->api_server().store();
    const kube::ResourceType* type =
        store.FindType("kmesh.net", "v1alpha1", "kmeshnodeinfos");
    if (type == nullptr) return false;
    auto list = store.List(*type, "kmesh-system", {});
    if (!list.ok() || list->items.size() != static_cast<size_t>(nodes_)) {
      return false;
    }
    for (const nlohmann::json& item : list->items) {
      const nlohmann::json& spec = item.value("spec", nlohmann::json());
      if (!spec.is_object() || spec.value("spi", 0) != spi) return false;
    }
    return true;
  }

  // When the last node reached a state of its SA table, and when the poll
  // saw that.
  struct Reached {
    Clock::time_point at;    // The SA change that completed the last node.
    Clock::time_point seen;  // The sweep that found it.
  };

  // Polls `done` for each node not yet done until all are. A node found done
  // got there with the last change to its SA table (SimXfrm::
  // last_sa_change, read after `done`, so a change in between only makes
  // it later): that instant, not when the poll looked, is when it got
  // there, so the result does not depend on how starved the poll is. The
  // pause between sweeps is four times the last sweep, between 50 ms and
  // 2 s: the poll takes at most a fifth of a core from the cluster it
  // measures. (In a 1,000-node rotation the starved poll saw convergence at
  // 1,162 s; the agents' reclaim times less the grace period put it at
  // 624 s.)
  absl::StatusOr<Reached> WaitForNodes(
      const std::function<bool(const std::string&)>& done,
      const std::string& what) {
    std::vector<std::string> pending = cluster_->node_names();
    const auto deadline =
        Clock::now() + std::chrono::seconds(FLAGS_timeout_seconds);
    Reached reached;
    while (true) {
      const auto sweep_start = Clock::now();
      pending.erase(
          std::remove_if(
              pending.begin(), pending.end(),
              [&](const std::string& node) {
                if (!done(node)) return false;
                reached.at = std::max(
                    reached.at,
                    cluster_->network().kernel(node)->xfrm().last_sa_change());
                return true;
              }),
          pending.end());
      const auto now = Clock::now();
      if (pending.empty()) {
        reached.seen = now;
        return reached;
      }
      if (now >= deadline) {
        return absl::DeadlineExceededError(
            absl::StrCat(pending.size(), " nodes never reached: ", what,
                         " (first: ", pending.front(), ")"));
      }
      std::this_thread::sleep_for(std::clamp<Clock::duration>(
          4 * (now - sweep_start), milliseconds(50), milliseconds(2000)));
    }
  }

  // In `node`'s kernel: for every other node, exactly one outbound SA with
  // `spi`, and an inbound SA with `spi` from it. The out policy moves to the
  // new outbound SA as it is added (docs/xfrm-layout.md, section 5, step
  // 3); the old outbound SA stays, unused, until its SPI is reclaimed, so
  // it does not count against convergence (NoSaWithSpi measures the
  // reclaim). Reads the table in place (SimXfrm::VisitSas): copying a
  // thousand tables of two thousand SAs, keys and all, on every sweep was
  // what made sweeps take minutes.
  bool OutboundAndInboundAt(const std::string& node, int spi) {
    const int self = node_index_.at(node);
    std::vector<int> outbound(nodes_, 0);  // By peer: outbound SAs with spi.
    std::vector<bool> inbound(nodes_, false);
    cluster_->network().kernel(node)->xfrm().VisitSas([&](const XfrmSa& sa) {
      if (sa.spi != static_cast<uint32_t>(spi)) return;
      const int src = NodeOf(sa.src);
      const int dst = NodeOf(sa.dst);
      if (src == self && dst >= 0) {
        ++outbound[dst];
      } else if (dst == self && src >= 0) {
        inbound[src] = true;
      }
    });
    for (int peer = 0; peer < nodes_; ++peer) {
      if (peer == self) continue;
      if (outbound[peer] != 1 || !inbound[peer]) return false;
    }
    return true;
  }

  bool NoSaWithSpi(const std::string& node, uint32_t spi) {
    bool found = false;
    cluster_->network().kernel(node)->xfrm().VisitSas(
        [&](const XfrmSa& sa) { found = found || sa.spi == spi; });
    return !found;
  }

  // The index of the node that owns `address`, -1 for none.
  int NodeOf(const IpAddress& address) const {
    auto it = owner_.find(address);
    return it == owner_.end() ? -1 : it->second;
  }

  void CountObjects(RunResult* result) {
    size_t sas = 0;
    size_t policies = 0;
    for (const std::string& node : cluster_->node_names()) {
      SimXfrm& xfrm = cluster_->network().kernel(node)->xfrm();
      sas += xfrm.sa_count();
      policies += xfrm.policy_count();
    }
    result->sas_per_node = static_cast<double>(sas) / nodes_;
    result->policies_per_node = static_cast<double>(policies) / nodes_;
  }

  uint64_t SampledPlaintext() {
    uint64_t n = 0;
    WireMonitor& wire = cluster_->network().wire();
    for (const auto& [a, b] : pairs_) {
      n += wire.PlaintextPackets(a.ips[0], b.ips[0]) +
           wire.PlaintextPackets(b.ips[0], a.ips[0]);
    }
    return n;
  }

  // Until the sampled flows have sent 20 rounds in a row with nothing in
  // clear and nothing lost (the encrypt markers follow the SAs on each
  // agent's tick).
  absl::Status WaitForAllEsp() {
    const auto deadline =
        Clock::now() + std::chrono::seconds(FLAGS_timeout_seconds);
    uint64_t plain = SampledPlaintext();
    DirectionStats totals = traffic_->Totals();
    uint64_t clean_since = traffic_->rounds();
    while (traffic_->rounds() < clean_since + 20) {
      if (Clock::now() >= deadline) {
        return absl::DeadlineExceededError("sampled flows never all ESP");
      }
      std::this_thread::sleep_for(milliseconds(50));
      const uint64_t plain_now = SampledPlaintext();
      const DirectionStats now = traffic_->Totals();
      if (plain_now != plain || now.lost != totals.lost) {
        clean_since = traffic_->rounds();
      }
      plain = plain_now;
      totals = now;
    }
    return absl::OkStatus();
  }

  const int nodes_;
  const int grace_seconds_;
  const std::string state_dir_;
  std::unique_ptr<SimCluster> cluster_;
  std::unique_ptr<Traffic> traffic_;
  std::map<std::string, int> node_index_;     // Node -> 0..N-1.
  std::unordered_map<IpAddress, int> owner_;  // Node address -> index.
  std::vector<std::pair<SimPodInfo, SimPodInfo>> pairs_;
  Clock::time_point rotation_start_;
};

void Print(const RunResult& r) {
  const double node_pairs = static_cast<double>(r.nodes) * (r.nodes - 1);
  const double window = FLAGS_key_window_ms / 1000.0;
  std::cout << absl::StrFormat(
      "%d nodes: startup %.1f s (CPU %.1f s)\n"
      "  first key: all advertise %.2f s, converged %.2f s (lag after the "
      "key window %.2f s), CPU %.1f s = %.1f us per node pair\n"
      "  rotation:  all advertise %.2f s, converged %.2f s (lag %.2f s), "
      "CPU %.1f s = %.1f us per node pair\n"
      "  idle with the key: %.2f CPU seconds per second\n"
      "  reclaimed %.2f s after the write (seen %.2f s; grace %d s), CPU "
      "%.1f s\n"
      "  memory: RSS after convergence %.0f MiB (%.0f KiB per node), peak "
      "(VmHWM) %.0f MiB; threads %ld; per node %.0f SAs, %.0f policies\n"
      "  sampled traffic from the rotation on: %llu packets, %llu lost, "
      "%llu in clear -> %s\n",
      r.nodes, r.startup_s, r.startup_cpu_s, r.first_key.advertised_s,
      r.first_key.converged_s, r.first_key.converged_s - window,
      r.first_key.cpu_s, r.first_key.cpu_s * 1e6 / node_pairs,
      r.rotation.advertised_s, r.rotation.converged_s,
      r.rotation.converged_s - window, r.rotation.cpu_s,
      r.rotation.cpu_s * 1e6 / node_pairs, r.idle_cpu_per_s, r.reclaimed_s,
      r.reclaim_seen_s, r.grace_seconds, r.reclaim_cpu_s,
      r.rss_converged_kb / 1024.0,
      static_cast<double>(r.rss_converged_kb) / r.nodes, r.hwm_kb / 1024.0,
      r.threads, r.sas_per_node, r.policies_per_node,
      static_cast<unsigned long long>(r.packets_sent),
      static_cast<unsigned long long>(r.packets_lost),
      static_cast<unsigned long long>(r.plaintext), r.ok ? "OK" : "FAILED");
}

// Linux 6.16 gave each process a private futex hash sized by the CPUs
// online (16 buckets on this 2-CPU machine), not by its threads. A thousand
// simulated daemons in one process are some 8,000 threads, nearly all
// parked on futexes: ~500 per bucket, and every wake-up walks its bucket
// (futex_wake was 30-47% of all CPU at 1,000 nodes). One real daemon has a
// dozen threads and no such problem. Older kernels have one global hash and
// refuse the prctl, which is fine.
void SizeFutexHash(int nodes) {
  constexpr int kPrFutexHash = 78;  // <linux/prctl.h> PR_FUTEX_HASH
  constexpr int kSetSlots = 1;      // PR_FUTEX_HASH_SET_SLOTS
  constexpr int kGetSlots = 2;      // PR_FUTEX_HASH_GET_SLOTS
  unsigned long slots = 16;
  while (slots < static_cast<unsigned long>(nodes) * 8) slots *= 2;
  // prctl is variadic and the kernel reads unsigned longs.
  const int before = prctl(kPrFutexHash, kGetSlots, 0UL, 0UL, 0UL);
  if (prctl(kPrFutexHash, kSetSlots, slots, 0UL, 0UL) == 0) {
    std::cout << "futex hash: " << before << " -> "
              << prctl(kPrFutexHash, kGetSlots, 0UL, 0UL, 0UL) << " buckets"
              << std::endl;
  }
}

int Main() {
  const long inotify = ReadLong("/proc/sys/fs/inotify/max_user_instances");
  const int most = std::max(FLAGS_nodes, FLAGS_baseline_nodes);
  if (inotify >= 0 && inotify < most + 64) {
    std::cout << "fs.inotify.max_user_instances is " << inotify
              << ": too few for " << most
              << " simulated daemons (one each, as on real nodes). Daemons "
                 "without one re-read their key file only every 60 s. Raise "
                 "it: sysctl -w fs.inotify.max_user_instances="
              << (most + 64) * 2 << std::endl;
    return 2;
  }
  // Every simulated daemon holds about 6 descriptors (key file watcher,
  // three watch connections) and the API server one per watch: raise the
  // soft limit to the hard one.
  rlimit files{};
  if (getrlimit(RLIMIT_NOFILE, &files) == 0 &&
      files.rlim_cur < files.rlim_max) {
    files.rlim_cur = files.rlim_max;
    (void)setrlimit(RLIMIT_NOFILE, &files);
  }
  if (getrlimit(RLIMIT_NOFILE, &files) == 0 &&
      files.rlim_cur < static_cast<rlim_t>(12) * most) {
    std::cout << "warning: the open-files limit " << files.rlim_cur
              << " is tight for " << most
              << " simulated daemons (about 9 each at rest, with the API "
                 "server's side, more while they make requests)"
              << std::endl;
  }
  SizeFutexHash(most);
  std::string root = FLAGS_state_dir;
  if (root.empty()) {
    char dir[] = "/tmp/kmesh-convergence-XXXXXX";
    if (mkdtemp(dir) == nullptr) {
      std::cerr << "cannot create a state directory under /tmp\n";
      return 1;
    }
    root = dir;
  }
  std::vector<std::pair<int, int>> sizes;  // Nodes, grace seconds.
  if (FLAGS_baseline_nodes > 0) {
    sizes.push_back({FLAGS_baseline_nodes, FLAGS_baseline_grace_seconds});
  }
  sizes.push_back({FLAGS_nodes, FLAGS_grace_seconds});
  std::vector<RunResult> results;
  bool ok = true;
  for (const auto& [n, grace] : sizes) {
    const std::string dir = absl::StrCat(root, "/n", n);
    Run run(n, grace, dir);
    RunResult result;
    absl::Status status = run.Execute(&result);
    run.Stop();
    if (!status.ok()) {
      std::cout << n << " nodes: FAILED: " << status << std::endl;
      ok = false;
      break;
    }
    Print(result);
    ok = ok && result.ok;
    results.push_back(result);
  }
  if (FLAGS_state_dir.empty()) {
    std::error_code ignored;  // Best effort: it is under /tmp.
    std::filesystem::remove_all(root, ignored);
  }
  if (results.size() == 2) {
    const RunResult& base = results[0];
    const RunResult& big = results[1];
    auto per_pair = [](const RunResult& r, double cpu) {
      return cpu / (static_cast<double>(r.nodes) * (r.nodes - 1));
    };
    std::cout << absl::StrFormat(
        "ratio %d vs %d nodes: rotation CPU per node pair %.2fx, first-key "
        "CPU per node pair %.2fx, rotation lag after the window %.2f s vs "
        "%.2f s, RSS per node %.2fx\n",
        big.nodes, base.nodes,
        per_pair(big, big.rotation.cpu_s) / per_pair(base, base.rotation.cpu_s),
        per_pair(big, big.first_key.cpu_s) /
            per_pair(base, base.first_key.cpu_s),
        big.rotation.converged_s - FLAGS_key_window_ms / 1000.0,
        base.rotation.converged_s - FLAGS_key_window_ms / 1000.0,
        (static_cast<double>(big.rss_converged_kb) / big.nodes) /
            (static_cast<double>(base.rss_converged_kb) / base.nodes));
  }
  if (!ok) {
    std::cout << "FAILED: see above (lost or plaintext packets, or a phase "
                 "that did not converge)"
              << std::endl;
    return 1;
  }
  return 0;
}

}  // namespace
}  // namespace kmesh::sim

int main(int argc, char** argv) {
  gflags::ParseCommandLineFlags(&argc, &argv, true);
  google::InitGoogleLogging(argv[0]);
  FLAGS_logtostderr = true;
  return kmesh::sim::Main();
}
