// kmesh-sim: the simulated cluster on the command line.
//
//   kmesh-sim demo [--all] [--kmeshctl=PATH] [--state_dir=DIR]
//                  [--timeline=FILE] [--ipsec_grace_period_s=N]
//       The user's walk-through end to end: a 3-node cluster running the
//       Kmesh daemon, `kubectl label namespace default
//       istio.io/dataplane-mode=Kmesh`, the real `kmeshctl secret create`,
//       ESP with spi 0x00000001 on the wire, a rotation with `kmeshctl secret
//       create`, spi 0x00000002, and a summary. With --all, then a rolling
//       restart of every daemon (SIGTERM), kill -9 and restart, new managed
//       pods on every node sending at once, a node joining and a rotation to
//       spi 3. Every step runs under the same traffic and prints what it
//       lost (counted from the first packet of every flow), how many managed
//       packets crossed in clear after their node pair had used ESP, and which
//       xfrm_stat counters rose. Exits 0 only if every step held. Leaves in
//       its state directory the captures (captures/<node>.pcap), cluster.json
//       (every node's addresses and boot ID, every pod with its node, IPs and
//       whether it was managed) and the key of each SPI (keys/ipSec.spi<N>):
//       all that decrypting the captures independently needs. Writes a
//       timeline of the run (timeline.svg in the state directory, or
//       --timeline; "" writes none): per node pair, which SPI its packets
//       used over time, the secret writes, each node's advertisement and the
//       reclaim of the old SPI, lost or in-clear packets in red. The daemons
//       run with a short grace period (--ipsec_grace_period_s, 2 s), and a
//       rotation's step lasts until the old SPI's SAs are gone from every
//       node, so the reclaim happens under the step's traffic.
//   kmesh-sim up [--state_dir=DIR]
//       Starts a 3-node cluster with workloads and traffic, writes its
//       kubeconfig (path printed) and runs until SIGINT/SIGTERM, so that
//       `kmeshctl --kubeconfig=...` and `kubectl --kubeconfig=...` can be
//       used by hand.
//   kmesh-sim tcpdump NODE [--state_dir=DIR] [--from_start] [--count=N]
//       Follows NODE's capture of a running `up` like `tcpdump -i any`.
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <iostream>
#include <iterator>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "gflags/gflags.h"
#include "glog/logging.h"
#include "kmesh/base/poll_until.h"
#include "kmesh/kernel/xfrm.h"
#include "nlohmann/json.hpp"
#include "sim/cluster/daemon_node_agent.h"
#include "sim/cluster/sim_cluster.h"
#include "sim/cluster/timeline_recorder.h"
#include "sim/cluster/traffic.h"
#include "sim/kernel/xfrm/xfrm_stat.h"

DEFINE_string(state_dir, "",
              "Directory for the kubeconfig, node directories and captures. "
              "up/tcpdump: default /tmp/kmesh-sim; demo: a new temporary "
              "directory.");
DEFINE_string(kmeshctl, "",
              "The kmeshctl binary for demo (default: $KMESHCTL, then next "
              "to kmesh-sim in Bazel's runfiles or bazel-bin, then $PATH).");
DEFINE_int32(nodes, 3, "Number of nodes (master, node1, ...).");
DEFINE_bool(dual_stack, false, "Give nodes and pods IPv6 addresses too.");
DEFINE_double(rate, 0,
              "Traffic rounds per second, one request per flow (0: demo 50, "
              "up 2, which keeps up's capture files small).");
DEFINE_int32(timeout_s, 60, "demo: how long to wait for each step.");
DEFINE_bool(all, false,
            "demo: after the walk-through, run under the same traffic a "
            "rolling restart of every daemon (SIGTERM), kill -9 and restart of "
            "every daemon, new managed pods on every node sending at once, a "
            "node joining and another rotation; report each step.");
DEFINE_string(agent, "daemon",
              "up: what runs on each node: daemon (the Kmesh daemon) or none "
              "(nothing; traffic stays plaintext).");
DEFINE_string(timeline, "",
              "demo: where to write the SVG timeline of the run (default: "
              "timeline.svg in the state directory; \"\" writes none).");
DEFINE_int32(ipsec_grace_period_s, 2,
             "demo: the daemons' --ipsec-grace-period in seconds, short so "
             "that a rotation's old SAs are reclaimed within its step (the "
             "daemon's own default is 300).");
DEFINE_bool(from_start, false,
            "tcpdump: print the capture from its start, not only new lines.");
DEFINE_int32(count, 0, "tcpdump: exit after this many lines (0: never).");

namespace kmesh::sim {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr char kDataplaneLabel[] = "istio.io/dataplane-mode";

std::vector<std::string> NodeNames(int n) {
  std::vector<std::string> names = {"master"};
  for (int i = 1; i < n; ++i) names.push_back(absl::StrCat("node", i));
  return names;
}

std::string ShellQuote(const std::string& s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'') {
      out += "'\\''";
    } else {
      out += c;
    }
  }
  return out + "'";
}

bool IsExecutable(const std::string& path) {
  return !path.empty() && ::access(path.c_str(), X_OK) == 0;
}

std::string SelfPath() {
  char buf[4096];
  const ssize_t n = ::readlink("/proc/self/exe", buf, sizeof(buf) - 1);
  return n > 0 ? std::string(buf, n) : "";
}

// Where kmeshctl is: the flag, $KMESHCTL, Bazel runfiles, bazel-bin, $PATH.
absl::StatusOr<std::string> FindKmeshctl() {
  std::vector<std::string> candidates;
  if (!FLAGS_kmeshctl.empty()) {
    if (IsExecutable(FLAGS_kmeshctl)) return FLAGS_kmeshctl;
    return absl::NotFoundError(absl::StrCat("--kmeshctl=", FLAGS_kmeshctl,
                                            " is not an executable file"));
  }
  if (const char* env = std::getenv("KMESHCTL")) candidates.push_back(env);
  const std::string self = SelfPath();
  if (const char* runfiles = std::getenv("RUNFILES_DIR")) {
    candidates.push_back(
        absl::StrCat(runfiles, "/kmesh_ipsec/kmesh/kmeshctl/kmeshctl"));
  }
  if (!self.empty()) {
    candidates.push_back(self +
                         ".runfiles/kmesh_ipsec/kmesh/kmeshctl/kmeshctl");
    const std::string dir = self.substr(0, self.rfind('/'));
    candidates.push_back(dir + "/../../kmesh/kmeshctl/kmeshctl");
  }
  candidates.push_back("kmesh/kmeshctl/kmeshctl");  // cwd = runfiles root.
  for (const std::string& c : candidates) {
    if (IsExecutable(c)) return c;
  }
  if (std::system("command -v kmeshctl >/dev/null 2>&1") == 0) {
    return std::string("kmeshctl");
  }
  return absl::NotFoundError(
      "kmeshctl not found: build it (bazel build //kmesh/kmeshctl:kmeshctl) "
      "and pass --kmeshctl=PATH");
}

struct CommandResult {
  int exit_code = -1;
  std::string output;
};

CommandResult Run(const std::vector<std::string>& argv) {
  std::vector<std::string> quoted;
  for (const std::string& a : argv) quoted.push_back(ShellQuote(a));
  const std::string command = absl::StrJoin(quoted, " ") + " 2>&1";
  CommandResult result;
  FILE* pipe = ::popen(command.c_str(), "r");
  if (pipe == nullptr) return result;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof(buf), pipe)) > 0) {
    result.output.append(buf, n);
  }
  const int status = ::pclose(pipe);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

std::string Indent(const std::string& text) {
  std::string out;
  for (absl::string_view line : absl::StrSplit(text, '\n', absl::SkipEmpty())) {
    absl::StrAppend(&out, "    ", line, "\n");
  }
  return out;
}

// --- Workloads shared by demo and up ---------------------------------------

struct Workloads {
  std::vector<std::string> managed;    // default/app-<node>
  std::vector<std::string> unmanaged;  // plain/plain-<node>
};

absl::StatusOr<Workloads> CreateWorkloads(SimCluster& cluster,
                                          Traffic& traffic) {
  Workloads w;
  if (auto s = cluster.CreateNamespace("plain", {}); !s.ok()) return s;
  const std::vector<std::string> nodes = cluster.node_names();
  std::vector<SimPodInfo> apps, plains;
  for (const std::string& node : nodes) {
    auto app =
        cluster.CreatePod("default", "app-" + node, node, {{"app", "echo"}});
    if (!app.ok()) return app.status();
    auto plain =
        cluster.CreatePod("plain", "plain-" + node, node, {{"app", "echo"}});
    if (!plain.ok()) return plain.status();
    apps.push_back(*app);
    plains.push_back(*plain);
  }
  for (size_t i = 0; i < apps.size(); ++i) {
    for (size_t j = 0; j < apps.size(); ++j) {
      if (i == j) continue;
      auto id =
          traffic.AddFlow({"default", apps[i].name, "default", apps[j].name});
      if (!id.ok()) return id.status();
      if (apps[i].ips.size() > 1) {  // Dual-stack: IPv6 too.
        auto v6 = traffic.AddFlow(
            {"default", apps[i].name, "default", apps[j].name, IpFamily::kV6});
        if (!v6.ok()) return v6.status();
      }
    }
    const size_t next = (i + 1) % plains.size();
    if (next != i) {
      auto id = traffic.AddFlow(
          {"plain", plains[i].name, "plain", plains[next].name});
      if (!id.ok()) return id.status();
      // A mixed pair: managed client, unmanaged server (stays plaintext).
      auto mixed = traffic.AddFlow(
          {"default", apps[i].name, "plain", plains[next].name});
      if (!mixed.ok()) return mixed.status();
    }
  }
  for (const SimPodInfo& p : apps) w.managed.push_back(p.key());
  for (const SimPodInfo& p : plains) w.unmanaged.push_back(p.key());
  return w;
}

std::vector<std::string> EspLines(SimCluster& cluster, const std::string& node,
                                  uint32_t spi, size_t max) {
  const std::string needle = absl::StrFormat("ESP(spi=0x%08x,", spi);
  std::vector<std::string> out;
  const auto lines = cluster.network().CaptureLines(node);
  for (auto it = lines.rbegin(); it != lines.rend() && out.size() < max; ++it) {
    if (absl::StrContains(*it, needle)) out.insert(out.begin(), *it);
  }
  return out;
}

std::string XfrmStatSummary(SimCluster& cluster) {
  std::string out;
  for (const std::string& node : cluster.node_names()) {
    auto kernel = cluster.network().kernel(node);
    std::vector<std::string> nonzero;
    for (size_t i = 0; i < kXfrmStatCount; ++i) {
      const auto stat = static_cast<XfrmStat>(i);
      if (const uint64_t v = kernel->xfrm().Stat(stat)) {
        nonzero.push_back(absl::StrCat(XfrmStatName(stat), "=", v));
      }
    }
    absl::StrAppend(
        &out, "    ", node, ": ",
        nonzero.empty() ? "all error counters 0" : absl::StrJoin(nonzero, " "),
        "\n");
  }
  return out;
}

// <state_dir>/cluster.json: where the cluster is (kubeconfig, API server,
// pid), its node names (`kmesh-sim tcpdump` checks them), and what an
// independent check of the captures needs besides the keys: each node's
// InternalIPs (as its Node and KmeshNodeInfo spell them), boot ID and pod
// CIDRs, the inputs of the per-pair key derivation, and every pod's node and
// addresses, with whether the demo made it managed (absent for `up`, where
// labels are changed by hand).
absl::Status WriteClusterFile(SimCluster& cluster, const Workloads* workloads) {
  nlohmann::json node_info = nlohmann::json::object();
  for (const SimNodeInfo& node : cluster.network().nodes()) {
    nlohmann::json addresses = nlohmann::json::array();
    for (const IpAddress& a : node.addresses) addresses.push_back(a.ToString());
    nlohmann::json cidrs = nlohmann::json::array();
    for (const IpPrefix& c : node.pod_cidrs) cidrs.push_back(c.ToString());
    node_info[node.name] = {{"addresses", addresses},
                            {"boot_id", cluster.boot_id(node.name)},
                            {"pod_cidrs", cidrs}};
  }
  nlohmann::json pods = nlohmann::json::array();
  for (const SimPodInfo& pod : cluster.network().pods()) {
    nlohmann::json ips = nlohmann::json::array();
    for (const IpAddress& ip : pod.ips) ips.push_back(ip.ToString());
    nlohmann::json entry = {{"namespace", pod.ns},
                            {"name", pod.name},
                            {"node", pod.node},
                            {"ips", ips}};
    if (workloads != nullptr) {
      entry["managed"] =
          std::find(workloads->managed.begin(), workloads->managed.end(),
                    pod.key()) != workloads->managed.end();
    }
    pods.push_back(entry);
  }
  nlohmann::json state = {{"kubeconfig", cluster.kubeconfig_path()},
                          {"nodes", cluster.node_names()},
                          {"node_info", node_info},
                          {"pods", pods},
                          {"api_server", cluster.api_server().url()},
                          {"pid", ::getpid()}};
  std::ofstream out(cluster.state_dir() + "/cluster.json");
  out << state.dump(2) << "\n";
  return out ? absl::OkStatus()
             : absl::InternalError("cannot write cluster.json");
}

// Keeps a copy of the key file projected into `node` as
// <state_dir>/keys/ipSec.spi<spi> (mode 0600), after checking that it holds
// `spi`. This is secret material written to disk on purpose: the demo's
// cluster is simulated and throwaway (a fresh random key in a temporary
// directory, the latest one already projected under nodes/), and keeping the
// key of every SPI is what lets a reader decrypt the demo's own captures
// with tshark and keys derived by code other than ours
// (kmesh_sim_test's DemoCapturesDecryptWithIndependentlyDerivedKeys).
absl::Status KeepProjectedKey(SimCluster& cluster, const std::string& node,
                              int spi) {
  std::ifstream in(cluster.key_file_path(node));
  const std::string text((std::istreambuf_iterator<char>(in)), {});
  const auto key = nlohmann::json::parse(text, nullptr, false);
  if (!in.is_open() || key.is_discarded() || !key.is_object() ||
      key.value("spi", -1) != spi) {
    return absl::FailedPreconditionError(absl::StrCat(
        "the key file projected into ", node, " does not hold spi ", spi));
  }
  // The directory is private (0700) before the file exists in it.
  const std::string dir = cluster.state_dir() + "/keys";
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
    return absl::ErrnoToStatus(errno, absl::StrCat("mkdir ", dir));
  }
  const std::string path = absl::StrCat(dir, "/ipSec.spi", spi);
  std::ofstream out(path, std::ios::trunc);
  out << text;
  out.close();
  if (!out || ::chmod(path.c_str(), 0600) != 0) {
    return absl::InternalError(absl::StrCat("cannot write ", path));
  }
  return absl::OkStatus();
}

std::string MakeTempDir(const std::string& prefix) {
  std::string tmpl = prefix + ".XXXXXX";
  if (::mkdtemp(tmpl.data()) == nullptr) return "";
  return tmpl;
}

// --- demo ---------------------------------------------------------------

// The walk-through, and with --all the day-to-day operations after it, each
// as a step under the same continuous traffic. A step is accounted from the
// moment it starts until the next one starts (the first from the first
// packet of every flow): packets lost and why, managed packets that crossed
// the wire in clear although their node pair had used ESP, and xfrm_stat
// error counters that rose on any node. A step holds when all three are 0.
class Demo {
 public:
  // `timeline` (may be null) records the run and is written to
  // `timeline_path` by Finish().
  Demo(SimCluster* cluster, Traffic* traffic, Workloads* workloads,
       std::string kmeshctl, TimelineRecorder* timeline,
       std::string timeline_path)
      : cluster_(*cluster),
        traffic_(*traffic),
        workloads_(*workloads),
        kmeshctl_(std::move(kmeshctl)),
        timeout_(FLAGS_timeout_s),
        timeline_(timeline),
        timeline_path_(std::move(timeline_path)) {
    baseline_ = TakeSnapshot();
  }

  // Runs `action` as the step `title`, lets traffic flow `settle`, prints
  // the step's accounting and returns whether it held.
  bool Step(const std::string& title,
            const std::function<absl::Status()>& action,
            std::chrono::milliseconds settle = seconds(1)) {
    ++steps_run_;
    std::cout << "==> step " << steps_run_ << ": " << title << "\n";
    if (timeline_ != nullptr) timeline_->MarkStep(title);
    absl::Status status = action();
    if (status.ok()) std::this_thread::sleep_for(settle);
    const Snapshot now = TakeSnapshot();
    const uint64_t lost = now.lost - baseline_.lost;
    const uint64_t in_clear = now.in_clear - baseline_.in_clear;
    std::vector<std::string> causes;
    for (const auto& [cause, n] : now.losses_by_cause) {
      auto before = baseline_.losses_by_cause.find(cause);
      const uint64_t was =
          before == baseline_.losses_by_cause.end() ? 0 : before->second;
      if (n > was) causes.push_back(absl::StrCat(cause, "=", n - was));
    }
    std::vector<std::string> rose;
    for (const auto& [node, stats] : now.xfrm_stats) {
      auto before = baseline_.xfrm_stats.find(node);
      for (size_t i = 0; i < stats.size(); ++i) {
        const uint64_t was =
            before == baseline_.xfrm_stats.end() ? 0 : before->second[i];
        if (stats[i] > was) {
          rose.push_back(absl::StrCat(node, " ",
                                      XfrmStatName(static_cast<XfrmStat>(i)),
                                      "+", stats[i] - was));
        }
      }
    }
    baseline_ = now;
    const bool held = status.ok() && lost == 0 && in_clear == 0 && rose.empty();
    std::cout << "    [" << (held ? "held" : "FAILED") << "] " << title
              << ": lost " << lost;
    if (!causes.empty()) std::cout << " (" << absl::StrJoin(causes, " ") << ")";
    std::cout << ", managed in clear " << in_clear << ", xfrm_stat "
              << (rose.empty() ? "unchanged"
                               : "rose: " + absl::StrJoin(rose, ", "))
              << "\n";
    if (!status.ok()) {
      std::cout << "    error: " << status.message() << "\n";
      failures_.push_back(absl::StrCat(title, ": ", status.message()));
    } else if (!held) {
      failures_.push_back(absl::StrCat(title, ": lost ", lost,
                                       ", managed in clear ", in_clear,
                                       rose.empty() ? "" : ", xfrm_stat rose"));
    }
    total_lost_ += lost;
    total_in_clear_ += in_clear;
    return held;
  }

  // `kmeshctl secret create` (the first key, or a rotation to the next SPI),
  // then every node advertises the new SPI, ESP with it crosses between
  // every pair of nodes, master's capture shows it, and (a rotation) every
  // node reclaims the old SPI after the grace period.
  absl::Status CreateSecret() {
    const int spi = spi_ + 1;
    std::cout << "==> kmeshctl secret create\n";
    CommandResult r =
        Run({kmeshctl_, "--kubeconfig=" + cluster_.kubeconfig_path(), "secret",
             "create"});
    std::cout << Indent(r.output);
    if (r.exit_code != 0) {
      return absl::InternalError(
          absl::StrCat("kmeshctl secret create exited ", r.exit_code));
    }
    spi_ = spi;
    if (auto s = WaitForSpi(); !s.ok()) return s;
    std::cout << "==> tcpdump -i any | grep ESP   (on master)\n";
    const std::string master = cluster_.node_names()[0];
    const auto lines = EspLines(cluster_, master, spi, /*max=*/4);
    for (const std::string& line : lines) std::cout << "    " << line << "\n";
    if (lines.empty()) {
      return absl::NotFoundError(
          absl::StrFormat("no ESP(spi=0x%08x line in master's capture", spi));
    }
    if (auto s = KeepProjectedKey(cluster_, master, spi); !s.ok()) return s;
    if (spi > 1) {
      if (auto s = WaitForReclaim(spi - 1); !s.ok()) return s;
    }
    return ShowSecretStatus();
  }

  // `kmeshctl secret status`: what an operator sees once the step is done
  // (every node on the new SPI, the old key gone); anything but exit 0
  // fails the step.
  absl::Status ShowSecretStatus() {
    std::cout << "==> kmeshctl secret status\n";
    CommandResult r =
        Run({kmeshctl_, "--kubeconfig=" + cluster_.kubeconfig_path(), "secret",
             "status"});
    std::cout << Indent(r.output);
    if (r.exit_code != 0) {
      return absl::InternalError(
          absl::StrCat("kmeshctl secret status exited ", r.exit_code));
    }
    return absl::OkStatus();
  }

  // Every daemon, one node at a time, as a DaemonSet rolling update does:
  // the old one stops (`mode`), the node runs without one for a moment, a
  // new one starts, and the next node waits until this one is back.
  absl::Status RestartEveryDaemon(AgentStop mode) {
    for (const std::string& node : cluster_.node_names()) {
      std::cout << "    " << node << ": "
                << (mode == AgentStop::kGraceful ? "SIGTERM" : "kill -9")
                << ", new daemon after 0.5 s\n";
      if (auto s = cluster_.RestartAgent(node, mode, milliseconds(500));
          !s.ok()) {
        return s;
      }
      std::this_thread::sleep_for(seconds(1));
    }
    return WaitForSpi();
  }

  // A new managed pod on every node; at once, each sends to every managed
  // pod on the other nodes, old and new, and they answer.
  absl::Status NewManagedPodsSendAtOnce() {
    std::vector<SimPodInfo> created;
    for (const std::string& node : cluster_.node_names()) {
      auto pod =
          cluster_.CreatePod("default", "new-" + node, node, {{"app", "echo"}});
      if (!pod.ok()) return pod.status();
      workloads_.managed.push_back(pod->key());
      created.push_back(*pod);
    }
    for (const SimPodInfo& pod : created) {
      if (auto s = AddManagedFlows(pod); !s.ok()) return s;
    }
    std::cout << "    created " << created.size()
              << " managed pods (default/new-<node>), each sending to every "
                 "managed pod on the other nodes\n";
    traffic_.SendRound();  // Their first packets, now.
    return absl::OkStatus();
  }

  // A node joins with a managed pod that talks to every other managed pod.
  absl::Status JoinNode(const std::string& node) {
    if (auto s = cluster_.AddNode(node); !s.ok()) return s;
    auto pod =
        cluster_.CreatePod("default", "app-" + node, node, {{"app", "echo"}});
    if (!pod.ok()) return pod.status();
    workloads_.managed.push_back(pod->key());
    if (auto s = AddManagedFlows(*pod); !s.ok()) return s;
    std::cout << "    " << node << " joined with default/app-" << node << "\n";
    traffic_.SendRound();
    return WaitForSpi();
  }

  int Finish() {
    traffic_.Stop();
    absl::Status timeline_written = absl::OkStatus();
    if (timeline_ != nullptr) {
      timeline_->Stop();
      timeline_written = timeline_->WriteSvg(timeline_path_);
    }
    (void)cluster_.network().FlushCaptures();
    (void)WriteClusterFile(cluster_, &workloads_);
    const DirectionStats total = traffic_.Totals();
    std::cout << "==> summary\n"
              << "    traffic: " << FormatDirectionStats(total) << "\n"
              << "    lost, counted from the first packet of every flow: "
              << total_lost_ << "\n"
              << "    managed packets in clear once their node pair had "
                 "used ESP: "
              << total_in_clear_ << "\n"
              << "    ESP packets on the wire:";
    for (uint32_t spi : cluster_.network().wire().Spis()) {
      std::cout << " spi " << spi << ": "
                << cluster_.network().wire().EspPackets(spi) << ";";
    }
    std::cout << "\n    xfrm_stat:\n"
              << XfrmStatSummary(cluster_)
              << "    captures: " << cluster_.state_dir()
              << "/captures/<node>.pcap (tcpdump -r ...)\n"
              << "    keys of this throwaway cluster: " << cluster_.state_dir()
              << "/keys/ipSec.spi<N>; nodes and pods: " << cluster_.state_dir()
              << "/cluster.json\n";
    if (timeline_ != nullptr && timeline_written.ok()) {
      std::cout << "    timeline of the run (SVG, opens in a browser): "
                << timeline_path_ << "\n";
    } else if (!timeline_written.ok()) {
      failures_.push_back(
          absl::StrCat("timeline: ", timeline_written.message()));
    }
    cluster_.Stop();
    if (!failures_.empty()) {
      std::cout << "FAILED:\n";
      for (const std::string& f : failures_) std::cout << "    " << f << "\n";
      return 1;
    }
    return 0;
  }

  int steps_run() const { return steps_run_; }

 private:
  struct Snapshot {
    uint64_t lost = 0;
    std::map<std::string, uint64_t> losses_by_cause;
    uint64_t in_clear = 0;
    std::map<std::string, std::vector<uint64_t>> xfrm_stats;  // By node.
  };

  Snapshot TakeSnapshot() {
    Snapshot s;
    const DirectionStats total = traffic_.Totals();
    s.lost = total.lost;
    s.losses_by_cause = total.losses_by_cause;
    s.in_clear = ManagedInClear();
    s.xfrm_stats = cluster_.XfrmStats();
    return s;
  }

  // Managed packets between managed pods on different nodes that crossed
  // the wire in clear after their node pair had used ESP.
  uint64_t ManagedInClear() {
    const std::set<std::string> managed(workloads_.managed.begin(),
                                        workloads_.managed.end());
    std::vector<SimPodInfo> pods;
    for (const SimPodInfo& p : cluster_.network().pods()) {
      if (managed.count(p.key())) pods.push_back(p);
    }
    uint64_t n = 0;
    for (const SimPodInfo& a : pods) {
      for (const SimPodInfo& b : pods) {
        if (a.node == b.node) continue;
        for (size_t f = 0; f < a.ips.size() && f < b.ips.size(); ++f) {
          n += cluster_.network().wire().PlaintextAfterEsp(a.ips[f], b.ips[f]);
        }
      }
    }
    return n;
  }

  // Flows from `pod` to every managed pod on other nodes and back.
  absl::Status AddManagedFlows(const SimPodInfo& pod) {
    for (const std::string& key : workloads_.managed) {
      const std::vector<std::string> parts = absl::StrSplit(key, '/');
      auto other = cluster_.network().pod(parts[0], parts[1]);
      if (!other || other->node == pod.node) continue;
      for (const auto& [client, server] :
           {std::pair(pod, *other), std::pair(*other, pod)}) {
        auto id =
            traffic_.AddFlow({client.ns, client.name, server.ns, server.name});
        if (!id.ok()) return id.status();
        if (client.ips.size() > 1 && server.ips.size() > 1) {
          auto v6 = traffic_.AddFlow(
              {client.ns, client.name, server.ns, server.name, IpFamily::kV6});
          if (!v6.ok()) return v6.status();
        }
      }
    }
    return absl::OkStatus();
  }

  // Every node advertises the current SPI and ESP with it crosses between
  // every pair of nodes.
  absl::Status WaitForSpi() {
    if (spi_ == 0) return absl::OkStatus();
    if (!PollUntil([&] { return cluster_.AllNodesAdvertise(spi_); },
                   timeout_)) {
      auto spis = cluster_.AdvertisedSpis();
      return absl::DeadlineExceededError(absl::StrCat(
          "not every node advertised spi ", spi_, " within ", FLAGS_timeout_s,
          " s (",
          spis.ok() ? absl::StrJoin(*spis, ", ", absl::PairFormatter("="))
                    : std::string(spis.status().message()),
          ")"));
    }
    if (!PollUntil([&] { return cluster_.EspBetweenAllNodes(spi_); },
                   timeout_)) {
      return absl::DeadlineExceededError(absl::StrCat("no ESP with spi ", spi_,
                                                      " between every pair of "
                                                      "nodes within ",
                                                      FLAGS_timeout_s, " s"));
    }
    return absl::OkStatus();
  }

  // No node's kernel holds an SA with `spi` any more.
  absl::Status WaitForReclaim(int spi) {
    std::vector<std::string> holding;
    const auto reclaimed = [&] {
      holding.clear();
      for (const std::string& node : cluster_.node_names()) {
        auto kernel = cluster_.network().kernel(node);
        bool holds = false;
        if (kernel) {
          kernel->xfrm().VisitSas([&](const XfrmSa& sa) {
            holds |= sa.spi == static_cast<uint32_t>(spi);
          });
        }
        if (holds) holding.push_back(node);
      }
      return holding.empty();
    };
    if (!PollUntil(reclaimed, seconds(FLAGS_ipsec_grace_period_s) + timeout_)) {
      return absl::DeadlineExceededError(
          absl::StrCat("spi ", spi, " not reclaimed within ",
                       FLAGS_ipsec_grace_period_s, " s + ", FLAGS_timeout_s,
                       " s (SAs left on ", absl::StrJoin(holding, ", "), ")"));
    }
    return absl::OkStatus();
  }

  SimCluster& cluster_;
  Traffic& traffic_;
  Workloads& workloads_;
  const std::string kmeshctl_;
  const seconds timeout_;
  TimelineRecorder* const timeline_;
  const std::string timeline_path_;
  int spi_ = 0;
  int steps_run_ = 0;
  Snapshot baseline_;
  uint64_t total_lost_ = 0;
  uint64_t total_in_clear_ = 0;
  std::vector<std::string> failures_;
};

int RunDemo() {
  std::cout << "kmesh-sim demo: the Kmesh IPsec walk-through on a simulated "
               "cluster"
            << (FLAGS_all ? ", then restarts, new pods, a join and a rotation"
                          : "")
            << "\n";
  auto factory = DaemonNodeAgentFactory();
  if (!factory.ok()) {
    std::cerr << "kmesh-sim demo: " << factory.status().message() << "\n";
    return 1;
  }
  auto kmeshctl = FindKmeshctl();
  if (!kmeshctl.ok()) {
    std::cerr << "kmesh-sim demo: " << kmeshctl.status().message() << "\n";
    return 1;
  }
  SimClusterOptions options;
  options.nodes = NodeNames(FLAGS_nodes);
  options.dual_stack = FLAGS_dual_stack;
  options.state_dir = FLAGS_state_dir.empty()
                          ? MakeTempDir("/tmp/kmesh-sim-demo")
                          : FLAGS_state_dir;
  options.write_pcap = true;
  options.capture_lines_kept = 20000;
  options.agent_factory = *factory;
  options.ipsec_grace_period = seconds(FLAGS_ipsec_grace_period_s);
  // Nodes learn the key at different times, as with real kubelets.
  for (size_t i = 0; i < options.nodes.size(); ++i) {
    options.key_delays[options.nodes[i]] = milliseconds(300 * i);
  }
  ::mkdir(options.state_dir.c_str(), 0755);
  std::cout << "==> starting a " << options.nodes.size() << "-node cluster in "
            << options.state_dir << "\n";
  auto started = SimCluster::Start(options);
  if (!started.ok()) {
    std::cerr << "kmesh-sim demo: " << started.status().message() << "\n";
    return 1;
  }
  SimCluster& cluster = **started;
  std::cout << "    kubeconfig: " << cluster.kubeconfig_path() << "\n";

  const double rate = FLAGS_rate > 0 ? FLAGS_rate : 50;
  Traffic traffic(&cluster.network());
  auto workloads = CreateWorkloads(cluster, traffic);
  if (!workloads.ok()) {
    std::cerr << "kmesh-sim demo: " << workloads.status().message() << "\n";
    return 1;
  }
  (void)WriteClusterFile(cluster, &*workloads);
  std::cout << "==> kubectl label namespace default " << kDataplaneLabel
            << "=Kmesh\n";
  if (auto s = cluster.SetNamespaceLabel("default", kDataplaneLabel, "Kmesh");
      !s.ok()) {
    std::cerr << "kmesh-sim demo: " << s.message() << "\n";
    return 1;
  }
  std::string timeline_path = FLAGS_timeline;
  if (gflags::GetCommandLineFlagInfoOrDie("timeline").is_default) {
    timeline_path = cluster.state_dir() + "/timeline.svg";
  }
  std::unique_ptr<TimelineRecorder> timeline;
  if (!timeline_path.empty()) {
    TimelineRecorderOptions timeline_options;
    // The demo's managed pods are those in `default` (labelled above).
    timeline_options.is_managed = [](const SimPodInfo& pod) {
      return pod.ns == "default";
    };
    // Recording starts just before the traffic does.
    timeline_options.time_axis_label = "time since the traffic started (s)";
    timeline = std::make_unique<TimelineRecorder>(
        &cluster, &traffic,
        absl::StrCat("kmesh-sim demo: the SPI of the packets between each "
                     "pair of nodes (traffic at ",
                     rate, " rounds/s)"),
        timeline_options);
    timeline->Start();
  }
  Demo demo(&cluster, &traffic, &*workloads, *kmeshctl, timeline.get(),
            timeline_path);
  (void)traffic.Start(rate, std::chrono::minutes(30));
  std::cout << "    traffic: " << traffic.Stats().size()
            << " request/response flows at " << rate
            << " rounds/s (managed pods in default, unmanaged in plain)\n";

  // Each step runs even when an earlier one failed: the report is the
  // point, and the exit status says whether everything held.
  bool ok = demo.Step("the first key, created under traffic",
                      [&] { return demo.CreateSecret(); });
  ok &= demo.Step("a rotation", [&] { return demo.CreateSecret(); });
  if (FLAGS_all) {
    const std::string joining = absl::StrCat("node", FLAGS_nodes);
    ok &= demo.Step("a rolling restart of every daemon (SIGTERM)", [&] {
      return demo.RestartEveryDaemon(AgentStop::kGraceful);
    });
    ok &= demo.Step("kill -9 of every daemon, one at a time, and restart",
                    [&] { return demo.RestartEveryDaemon(AgentStop::kKill); });
    ok &= demo.Step("new managed pods on every node, sending at once",
                    [&] { return demo.NewManagedPodsSendAtOnce(); });
    ok &= demo.Step(absl::StrCat("a node joins (", joining, ")"),
                    [&] { return demo.JoinNode(joining); });
    ok &= demo.Step("another rotation", [&] { return demo.CreateSecret(); });
  }
  const int rc = demo.Finish();
  if (rc != 0 || !ok) return 1;
  std::cout << (FLAGS_all
                    ? "OK: every step held: nothing lost and nothing managed "
                      "in clear\n"
                    : "OK: spi 1 -> 2 with nothing lost and nothing managed "
                      "in clear\n");
  return 0;
}

// --- up -------------------------------------------------------------------

int Up() {
  NodeAgentFactory factory;
  if (FLAGS_agent == "daemon") {
    auto daemon = DaemonNodeAgentFactory();
    if (!daemon.ok()) {
      std::cerr << "kmesh-sim up: " << daemon.status().message()
                << "\n(--agent=none runs the cluster without Kmesh)\n";
      return 1;
    }
    factory = *daemon;
  } else if (FLAGS_agent == "none") {
    factory = NoopNodeAgentFactory();
  } else {
    std::cerr << "kmesh-sim up: --agent must be daemon or none\n";
    return 2;
  }
  // Signals are taken with sigwait below; block them before any thread.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  SimClusterOptions options;
  options.nodes = NodeNames(FLAGS_nodes);
  options.dual_stack = FLAGS_dual_stack;
  options.state_dir =
      FLAGS_state_dir.empty() ? "/tmp/kmesh-sim" : FLAGS_state_dir;
  options.write_pcap = true;
  options.agent_factory = factory;
  ::mkdir(options.state_dir.c_str(), 0755);
  auto started = SimCluster::Start(options);
  if (!started.ok()) {
    std::cerr << "kmesh-sim up: " << started.status().message() << "\n";
    return 1;
  }
  SimCluster& cluster = **started;
  Traffic traffic(&cluster.network());
  auto workloads = CreateWorkloads(cluster, traffic);
  if (!workloads.ok()) {
    std::cerr << "kmesh-sim up: " << workloads.status().message() << "\n";
    return 1;
  }
  (void)traffic.Start(FLAGS_rate > 0 ? FLAGS_rate : 2,
                      std::chrono::hours(24 * 365));
  (void)WriteClusterFile(cluster, nullptr);
  const std::string kc = cluster.kubeconfig_path();
  std::cout << "kmesh-sim: " << options.nodes.size() << "-node cluster up ("
            << cluster.api_server().url() << ")\n"
            << "kubeconfig: " << kc << "\n"
            << "  kubectl --kubeconfig=" << kc << " label namespace default "
            << kDataplaneLabel << "=Kmesh\n"
            << "  kmeshctl --kubeconfig=" << kc << " secret create\n"
            << "  kmesh-sim tcpdump master"
            << (FLAGS_state_dir.empty() ? ""
                                        : " --state_dir=" + FLAGS_state_dir)
            << " | grep ESP\n"
            << "Ctrl-C to stop.\n"
            << std::flush;
  timespec tick{1, 0};
  while (true) {
    const int sig = sigtimedwait(&signals, nullptr, &tick);
    if (sig == SIGINT || sig == SIGTERM) break;
    (void)cluster.network().FlushCaptures();
  }
  traffic.Stop();
  std::cout << "kmesh-sim: stopping; traffic "
            << FormatDirectionStats(traffic.Totals()) << "\n";
  cluster.Stop();
  return 0;
}

// --- tcpdump ----------------------------------------------------------------

int Tcpdump(const std::string& node) {
  const std::string dir =
      FLAGS_state_dir.empty() ? "/tmp/kmesh-sim" : FLAGS_state_dir;
  std::ifstream state(dir + "/cluster.json");
  if (state) {
    auto json = nlohmann::json::parse(state, nullptr, false);
    if (!json.is_discarded() && json.contains("nodes")) {
      const auto nodes = json["nodes"].get<std::vector<std::string>>();
      if (std::find(nodes.begin(), nodes.end(), node) == nodes.end()) {
        std::cerr << "kmesh-sim tcpdump: no node " << node << " in " << dir
                  << " (nodes: " << absl::StrJoin(nodes, ", ") << ")\n";
        return 1;
      }
    }
  }
  const std::string path = dir + "/captures/" + node + ".log";
  std::ifstream in;
  for (int i = 0; !in.is_open(); ++i) {
    in.open(path);
    if (in.is_open()) break;
    if (i == 0) {
      std::cerr << "kmesh-sim tcpdump: waiting for " << path
                << " (is `kmesh-sim up` running?)\n";
    }
    std::this_thread::sleep_for(milliseconds(200));
  }
  std::cerr << "tcpdump: listening on any (simulated node " << node << ")\n";
  if (!FLAGS_from_start) in.seekg(0, std::ios::end);
  std::streampos pos = in.tellg();
  int printed = 0;
  std::string partial;
  while (FLAGS_count == 0 || printed < FLAGS_count) {
    std::string line;
    if (std::getline(in, line)) {
      if (in.eof()) {  // No newline yet: wait for the rest.
        partial += line;
      } else {
        std::cout << partial << line << "\n" << std::flush;
        partial.clear();
        ++printed;
        pos = in.tellg();
        continue;
      }
    }
    in.clear();
    // A new `up` truncates the log: start again from its beginning.
    struct stat st;
    if (::stat(path.c_str(), &st) == 0 && st.st_size < pos) {
      in.close();
      in.open(path);
      partial.clear();
      pos = 0;
      continue;
    }
    if (partial.empty()) pos = in.tellg();
    std::this_thread::sleep_for(milliseconds(100));
  }
  return 0;
}

int Usage() {
  std::cerr << "usage: kmesh-sim demo|up|tcpdump NODE [flags]\n"
               "  demo           the IPsec walk-through, end to end\n"
               "  up             run a cluster until Ctrl-C\n"
               "  tcpdump NODE   follow a node's capture of a running up\n"
               "(kmesh-sim --help for flags)\n";
  return 2;
}

}  // namespace
}  // namespace kmesh::sim

int main(int argc, char** argv) {
  gflags::SetUsageMessage("kmesh-sim demo|up|tcpdump NODE [flags]");
  gflags::ParseCommandLineFlags(&argc, &argv, /*remove_flags=*/true);
  FLAGS_logtostderr = true;
  google::InitGoogleLogging(argv[0]);
  if (argc < 2) return kmesh::sim::Usage();
  const std::string command = argv[1];
  if (command == "demo" && argc == 2) return kmesh::sim::RunDemo();
  if (command == "up" && argc == 2) return kmesh::sim::Up();
  if (command == "tcpdump" && argc == 3) return kmesh::sim::Tcpdump(argv[2]);
  return kmesh::sim::Usage();
}
