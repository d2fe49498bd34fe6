// kmesh-sim: the simulated cluster on the command line.
//
//   kmesh-sim demo [--kmeshctl=PATH] [--state_dir=DIR]
//       The user's walk-through end to end: a 3-node cluster running the
//       Kmesh daemon, `kubectl label namespace default
//       istio.io/dataplane-mode=Kmesh`, the real `kmeshctl secret create`,
//       ESP with spi 0x00000001 on the wire, a rotation with `kmeshctl secret
//       create`, spi 0x00000002, and a summary. Exits 0 only if every check
//       held. Leaves in its state directory the captures
//       (captures/<node>.pcap), cluster.json (node addresses, boot IDs, pods)
//       and the key of each SPI (keys/ipSec.spi<N>): all that decrypting the
//       captures independently needs.
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
#include <set>
#include <string>
#include <thread>
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
#include "nlohmann/json.hpp"
#include "sim/cluster/daemon_node_agent.h"
#include "sim/cluster/sim_cluster.h"
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
DEFINE_string(agent, "daemon",
              "up: what runs on each node: daemon (the Kmesh daemon) or none "
              "(nothing; traffic stays plaintext).");
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
  // Managed cross-node (client, server) pairs, and their addresses.
  std::vector<std::pair<SimPodInfo, SimPodInfo>> managed_pairs;
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
      w.managed_pairs.push_back({apps[i], apps[j]});
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

uint64_t ManagedPlaintext(SimCluster& cluster, const Workloads& w) {
  uint64_t n = 0;
  for (const auto& [a, b] : w.managed_pairs) {
    for (size_t f = 0; f < a.ips.size() && f < b.ips.size(); ++f) {
      n += cluster.network().wire().PlaintextPackets(a.ips[f], b.ips[f]);
    }
  }
  return n;
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

int Demo() {
  std::cout << "kmesh-sim demo: the Kmesh IPsec walk-through on a simulated "
               "cluster\n";
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
  const std::string kubeconfig = cluster.kubeconfig_path();
  std::cout << "    kubeconfig: " << kubeconfig << "\n";

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
  (void)traffic.Start(rate, std::chrono::minutes(30));
  std::cout << "    traffic: " << traffic.Stats().size()
            << " request/response flows at " << rate
            << " rounds/s (managed pods in default, unmanaged in plain)\n";

  std::vector<std::string> failures;
  const seconds timeout(FLAGS_timeout_s);
  auto create_secret = [&](int expected_spi) {
    std::cout << "==> kmeshctl secret create\n";
    CommandResult r =
        Run({*kmeshctl, "--kubeconfig=" + kubeconfig, "secret", "create"});
    std::cout << Indent(r.output);
    if (r.exit_code != 0) {
      failures.push_back(
          absl::StrCat("kmeshctl secret create exited ", r.exit_code));
      return false;
    }
    std::cout << "==> waiting until every node advertises spi " << expected_spi
              << "\n";
    if (!PollUntil([&] { return cluster.AllNodesAdvertise(expected_spi); },
                   timeout)) {
      auto spis = cluster.AdvertisedSpis();
      std::string seen =
          spis.ok() ? absl::StrJoin(*spis, ", ", absl::PairFormatter("="))
                    : std::string(spis.status().message());
      failures.push_back(absl::StrCat("not every node advertised spi ",
                                      expected_spi, " within ", FLAGS_timeout_s,
                                      " s (", seen, ")"));
      return false;
    }
    if (!PollUntil([&] { return cluster.EspBetweenAllNodes(expected_spi); },
                   timeout)) {
      failures.push_back(absl::StrCat("no ESP with spi ", expected_spi,
                                      " between every pair of nodes"));
      return false;
    }
    std::cout << "==> tcpdump -i any | grep ESP   (on master)\n";
    const auto lines =
        EspLines(cluster, options.nodes[0], expected_spi, /*max=*/4);
    for (const std::string& line : lines) std::cout << "    " << line << "\n";
    if (lines.empty()) {
      failures.push_back(absl::StrFormat(
          "no ESP(spi=0x%08x line in master's capture", expected_spi));
      return false;
    }
    if (auto s = KeepProjectedKey(cluster, options.nodes[0], expected_spi);
        !s.ok()) {
      failures.push_back(std::string(s.message()));
      return false;
    }
    return true;
  };

  bool ok = create_secret(1);
  // From here on: nothing lost, nothing managed in clear.
  const DirectionStats before = traffic.Totals();
  const uint64_t plaintext_before = ManagedPlaintext(cluster, *workloads);
  if (ok) {
    std::this_thread::sleep_for(seconds(1));
    ok = create_secret(2);
  }
  if (ok) std::this_thread::sleep_for(seconds(1));
  traffic.Stop();
  (void)cluster.network().FlushCaptures();

  const DirectionStats total = traffic.Totals();
  const uint64_t lost_after_key = total.lost - before.lost;
  const uint64_t managed_plaintext =
      ManagedPlaintext(cluster, *workloads) - plaintext_before;
  std::cout << "==> summary\n"
            << "    traffic: " << FormatDirectionStats(total) << "\n"
            << "    lost since every node had the first key: " << lost_after_key
            << "\n"
            << "    plaintext on the wire between managed pods since then: "
            << managed_plaintext << "\n"
            << "    ESP packets on the wire: spi 1: "
            << cluster.network().wire().EspPackets(1)
            << ", spi 2: " << cluster.network().wire().EspPackets(2) << "\n"
            << "    xfrm_stat:\n"
            << XfrmStatSummary(cluster)
            << "    captures: " << cluster.state_dir()
            << "/captures/<node>.pcap (tcpdump -r ...)\n"
            << "    keys of this throwaway cluster: " << cluster.state_dir()
            << "/keys/ipSec.spi<N>; node addresses, boot IDs and pods: "
            << cluster.state_dir() << "/cluster.json\n";
  if (lost_after_key != 0) {
    failures.push_back(
        absl::StrCat(lost_after_key, " packets lost after the first key"));
  }
  if (managed_plaintext != 0) {
    failures.push_back(absl::StrCat(managed_plaintext,
                                    " plaintext packets between managed pods"));
  }
  cluster.Stop();
  if (!failures.empty()) {
    std::cout << "FAILED:\n";
    for (const std::string& f : failures) std::cout << "    " << f << "\n";
    return 1;
  }
  std::cout << "OK: spi 1 -> 2 with nothing lost and nothing managed in "
               "clear\n";
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
  if (command == "demo" && argc == 2) return kmesh::sim::Demo();
  if (command == "up" && argc == 2) return kmesh::sim::Up();
  if (command == "tcpdump" && argc == 3) return kmesh::sim::Tcpdump(argv[2]);
  return kmesh::sim::Usage();
}
