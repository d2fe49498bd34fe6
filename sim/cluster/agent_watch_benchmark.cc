// What one production IpsecAgent (what kmesh-daemon runs) costs on the
// watch path, measured in its own process: the simulated API server runs in
// a child process (forked before any thread starts), so the CPU time
// (getrusage RUSAGE_SELF: user + system, every thread) and the memory
// (VmRSS, VmHWM) read here are the agent's alone, not the server's.
//
// --mode=events: the agent holds keys 1 and 2 and P peers; the server then
// makes N KmeshNodeInfo changes (peer i%P, its SPI alternating 2, 1, ...: a
// rotation's delivery, each moving the agent's outbound SA to that peer),
// one every --interval_us, so each arrives on its own as in a rotation. CPU
// per delivered event, from the command to the server until the agent's
// controller shows every peer's last SPI. Baseline in the same run: the same
// N changes read by a raw HTTP watch of the same resource on the same
// server (read the chunks, split the lines, nothing else). Raw phases run
// while no agent does, agent phases while no raw watch does; they alternate
// (--rounds of each) and the median is reported.
//
// --mode=pods: the server holds --nodes Nodes and KmeshNodeInfos and --pods
// Pods spread over them (10% managed); one agent (for node-0) starts, and
// the CPU, wall time and memory until every watch of it has listed and
// watches are reported, and again after --settle_seconds.
//
//   bazel run -c opt //sim/cluster:agent_watch_benchmark -- --mode=events
//   bazel run -c opt //sim/cluster:agent_watch_benchmark -- --mode=pods
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "gflags/gflags.h"
#include "glog/logging.h"
#include "kmesh/agent/ipsec_agent.h"
#include "kmesh/api/ipsec_key_codec.h"
#include "kmesh/base/clock.h"
#include "kmesh/base/ip_address.h"
#include "kmesh/crypto/random.h"
#include "kmesh/kube/kubeconfig.h"
#include "kmesh/kube/rest_kube_client.h"
#include "nlohmann/json.hpp"
#include "sim/kernel/sim_kernel.h"
#include "sim/kube/api_server.h"
#include "sim/kube/object_store.h"
#include "sim/kube/testing/test_http_client.h"

DEFINE_string(mode, "events", "events | pods");
DEFINE_int32(peers, 100, "events mode: peers (KmeshNodeInfos) besides node-0");
DEFINE_int32(events, 5000, "events mode: KmeshNodeInfo changes per phase");
DEFINE_int32(interval_us, 1000, "events mode: time between two changes");
DEFINE_int32(rounds, 3, "events mode: raw and agent phases, each");
DEFINE_int32(nodes, 1000, "pods mode: Nodes (node-0 is the agent's)");
DEFINE_int32(pods, 100000, "pods mode: Pods spread over the nodes");
DEFINE_int32(namespaces, 50, "pods mode: namespaces the pods are in");
DEFINE_int32(settle_seconds, 10, "pods mode: measured again after this");

namespace kmesh::sim {
namespace {

using nlohmann::json;
using Seconds = std::chrono::duration<double>;

constexpr char kKmeshNamespace[] = "kmesh-system";
constexpr char kBootId[] = "b6c5a4d3-e2f1-4a0b-9c8d-7e6f5a4b3c2d";

double ProcessCpuSeconds() {
  struct rusage usage;
  getrusage(RUSAGE_SELF, &usage);
  auto seconds = [](const timeval& t) { return t.tv_sec + t.tv_usec / 1e6; };
  return seconds(usage.ru_utime) + seconds(usage.ru_stime);
}

// VmRSS and VmHWM of this process, in MiB.
std::pair<double, double> MemoryMib() {
  std::ifstream in("/proc/self/status");
  std::string line;
  double rss = 0, hwm = 0;
  while (std::getline(in, line)) {
    double* out = line.rfind("VmRSS:", 0) == 0   ? &rss
                  : line.rfind("VmHWM:", 0) == 0 ? &hwm
                                                 : nullptr;
    if (out == nullptr) continue;
    *out = std::atof(line.c_str() + 6) / 1024.0;
  }
  return {rss, hwm};
}

std::string NodeName(int i) { return absl::StrCat("node-", i); }
std::string NodeAddress(int i) {
  return absl::StrFormat("10.%d.%d.%d", 1 + i / 62500, (i / 250) % 250,
                         i % 250 + 1);
}
// The IP of pod `i` (on node i % nodes).
std::string PodIp(int i, int nodes) {
  const int node = i % nodes;
  return absl::StrFormat("10.%d.%d.%d", 128 + node / 250, node % 250,
                         2 + (i / nodes) % 250);
}
std::string PodName(int i, int nodes) {
  const std::string app = absl::StrCat("app-", (i / nodes) % 200);
  return absl::StrCat(app, "-7d9c5b", i % 1000, "-x", i);
}
std::string PodCidr(int i) {
  return absl::StrFormat("10.%d.%d.0/24", 128 + i / 250, i % 250);
}

json NodeObject(int i) {
  return {{"apiVersion", "v1"},
          {"kind", "Node"},
          {"metadata",
           {{"name", NodeName(i)},
            {"labels",
             {{"kubernetes.io/hostname", NodeName(i)},
              {"kubernetes.io/os", "linux"}}}}},
          {"spec", {{"podCIDR", PodCidr(i)}, {"podCIDRs", {PodCidr(i)}}}},
          {"status",
           {{"addresses",
             {{{"type", "InternalIP"}, {"address", NodeAddress(i)}},
              {{"type", "Hostname"}, {"address", NodeName(i)}}}},
            {"nodeInfo",
             {{"bootID", kBootId},
              {"machineID", absl::StrFormat("%032x", i + 1)},
              {"kernelVersion", "6.1.0-sim"},
              {"osImage", "kmesh-sim"},
              {"kubeletVersion", "v1.29.0-sim"}}},
            {"conditions",
             json::array({{{"type", "Ready"}, {"status", "True"}}})}}}};
}

json NodeInfoObject(int i, int spi) {
  return {{"apiVersion", "kmesh.net/v1alpha1"},
          {"kind", "KmeshNodeInfo"},
          {"metadata", {{"name", NodeName(i)}, {"namespace", kKmeshNamespace}}},
          {"spec",
           {{"spi", spi},
            {"addresses", {NodeAddress(i)}},
            {"bootID", kBootId},
            {"podCIDRS", {PodCidr(i)}},
            {"nodeName", NodeName(i)}}}};
}

// A Pod about as large as a small Deployment's (2 KiB of JSON).
json PodObject(int i, int nodes, int namespaces) {
  const int node = i % nodes;
  const std::string ns = absl::StrCat("ns-", i % namespaces);
  const std::string app = absl::StrCat("app-", (i / nodes) % 200);
  const std::string name = PodName(i, nodes);
  const std::string ip = PodIp(i, nodes);
  json labels = {{"app", app}, {"pod-template-hash", "7d9c5b"}};
  if ((i / nodes) % 10 == 0) labels["istio.io/dataplane-mode"] = "Kmesh";
  return {
      {"apiVersion", "v1"},
      {"kind", "Pod"},
      {"metadata",
       {{"name", name},
        {"namespace", ns},
        {"labels", labels},
        {"annotations",
         {{"kubectl.kubernetes.io/restartedAt", "2026-12-01T10:00:00Z"}}},
        {"ownerReferences",
         {{{"apiVersion", "apps/v1"},
           {"kind", "ReplicaSet"},
           {"name", absl::StrCat(app, "-7d9c5b")},
           {"uid", absl::StrFormat("0f0e0d0c-0b0a-4909-8807-%012d", i)},
           {"controller", true},
           {"blockOwnerDeletion", true}}}}}},
      {"spec",
       {{"nodeName", NodeName(node)},
        {"serviceAccountName", "default"},
        {"restartPolicy", "Always"},
        {"terminationGracePeriodSeconds", 30},
        {"dnsPolicy", "ClusterFirst"},
        {"containers",
         {{{"name", app},
           {"image", absl::StrCat("registry.example.com/", app, ":1.4.2")},
           {"imagePullPolicy", "IfNotPresent"},
           {"ports", {{{"containerPort", 8080}, {"protocol", "TCP"}}}},
           {"env",
            {{{"name", "LOG_LEVEL"}, {"value", "info"}},
             {{"name", "POD_NAME"},
              {"valueFrom",
               {{"fieldRef",
                 {{"apiVersion", "v1"}, {"fieldPath", "metadata.name"}}}}}}}},
           {"resources",
            {{"requests", {{"cpu", "100m"}, {"memory", "128Mi"}}},
             {"limits", {{"memory", "256Mi"}}}}},
           {"volumeMounts",
            {{{"name", "kube-api-access"},
              {"mountPath", "/var/run/secrets/kubernetes.io/serviceaccount"},
              {"readOnly", true}}}}}}},
        {"tolerations",
         {{{"key", "node.kubernetes.io/not-ready"},
           {"operator", "Exists"},
           {"effect", "NoExecute"},
           {"tolerationSeconds", 300}}}}}},
      {"status",
       {{"phase", "Running"},
        {"hostIP", NodeAddress(node)},
        {"hostIPs", {{{"ip", NodeAddress(node)}}}},
        {"podIP", ip},
        {"podIPs", {{{"ip", ip}}}},
        {"qosClass", "Burstable"},
        {"startTime", "2026-12-01T10:00:05Z"},
        {"conditions",
         {{{"type", "Ready"},
           {"status", "True"},
           {"lastTransitionTime", "2026-12-01T10:00:09Z"}},
          {{"type", "ContainersReady"},
           {"status", "True"},
           {"lastTransitionTime", "2026-12-01T10:00:09Z"}}}},
        {"containerStatuses",
         {{{"name", app},
           {"ready", true},
           {"started", true},
           {"restartCount", 0},
           {"image", absl::StrCat("registry.example.com/", app, ":1.4.2")},
           {"containerID",
            absl::StrFormat("containerd://%064x", static_cast<long>(i))},
           {"state",
            {{"running", {{"startedAt", "2026-12-01T10:00:08Z"}}}}}}}}}}};
}

// --- The server process ------------------------------------------------------

// The SPI update `index` (counted over the whole run) gives its peer.
int SpiOfUpdate(int64_t index, int peers) {
  return (index / peers) % 2 == 0 ? 2 : 1;
}

int RunServer(int command_fd, int reply_fd) {
  kube::ApiServer::Options options;
  options.store.history_limit =
      static_cast<size_t>(std::max(1000, FLAGS_events * 2));
  auto server = kube::ApiServer::Start(options);
  if (!server.ok()) {
    LOG(ERROR) << server.status();
    return 1;
  }
  kube::ObjectStore& store = (*server)->store();
  const kube::ResourceType* nodes = store.FindType("", "v1", "nodes");
  const kube::ResourceType* namespaces = store.FindType("", "v1", "namespaces");
  const kube::ResourceType* pods = store.FindType("", "v1", "pods");
  const kube::ResourceType* infos =
      store.FindType("kmesh.net", "v1alpha1", "kmeshnodeinfos");
  CHECK(nodes && namespaces && pods && infos);
  auto create = [&](const kube::ResourceType* type, const std::string& ns,
                    json object) {
    auto created = store.Create(*type, ns, std::move(object));
    CHECK(created.ok()) << created.status();
  };
  create(namespaces, "",
         {{"apiVersion", "v1"},
          {"kind", "Namespace"},
          {"metadata", {{"name", kKmeshNamespace}}}});
  const bool pod_mode = FLAGS_mode == "pods";
  const int node_count = pod_mode ? FLAGS_nodes : FLAGS_peers + 1;
  for (int i = 0; i < node_count; ++i) {
    create(nodes, "", NodeObject(i));
    if (i > 0) create(infos, kKmeshNamespace, NodeInfoObject(i, 1));
  }
  if (pod_mode) {
    for (int n = 0; n < FLAGS_namespaces; ++n) {
      create(namespaces, "",
             {{"apiVersion", "v1"},
              {"kind", "Namespace"},
              {"metadata", {{"name", absl::StrCat("ns-", n)}}}});
    }
    for (int i = 0; i < FLAGS_pods; ++i) {
      json pod = PodObject(i, node_count, FLAGS_namespaces);
      const std::string ns = pod["metadata"]["namespace"];
      create(pods, ns, std::move(pod));
    }
  }
  const std::string kubeconfig =
      absl::StrCat(std::filesystem::temp_directory_path().string(),
                   "/agent-bench-", getpid(), ".kubeconfig");
  CHECK((*server)->WriteKubeconfig(kubeconfig).ok());
  FILE* commands = fdopen(command_fd, "r");
  FILE* replies = fdopen(reply_fd, "w");
  fprintf(replies, "%d %s\n", (*server)->port(), kubeconfig.c_str());
  fflush(replies);
  int64_t next_update = 0;
  char line[256];
  while (fgets(line, sizeof(line), commands) != nullptr) {
    std::vector<std::string> words = absl::StrSplit(
        absl::StripAsciiWhitespace(line), ' ', absl::SkipEmpty());
    if (words.size() == 3 && words[0] == "updates") {
      int count = 0, interval_us = 0;
      CHECK(absl::SimpleAtoi(words[1], &count));
      CHECK(absl::SimpleAtoi(words[2], &interval_us));
      auto next = std::chrono::steady_clock::now();
      for (int k = 0; k < count; ++k, ++next_update) {
        const int peer = 1 + next_update % FLAGS_peers;
        const int spi = SpiOfUpdate(next_update, FLAGS_peers);
        auto updated =
            store.Mutate(*infos, kKmeshNamespace, NodeName(peer),
                         [&](const json& current) -> absl::StatusOr<json> {
                           json object = current;
                           object["spec"]["spi"] = spi;
                           return object;
                         });
        CHECK(updated.ok()) << updated.status();
        next += std::chrono::microseconds(interval_us);
        std::this_thread::sleep_until(next);
      }
      fprintf(replies, "done %lld\n", static_cast<long long>(next_update));
      fflush(replies);
    } else {
      break;
    }
  }
  std::filesystem::remove(kubeconfig);
  (*server)->Stop();
  return 0;
}

// --- The agent process -------------------------------------------------------

class ServerProcess {
 public:
  absl::Status Start() {
    int commands[2], replies[2];
    if (pipe(commands) != 0 || pipe(replies) != 0) {
      return absl::InternalError("pipe");
    }
    pid_ = fork();
    if (pid_ < 0) return absl::InternalError("fork");
    if (pid_ == 0) {
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      close(commands[1]);
      close(replies[0]);
      _exit(RunServer(commands[0], replies[1]));
    }
    close(commands[0]);
    close(replies[1]);
    commands_ = fdopen(commands[1], "w");
    replies_ = fdopen(replies[0], "r");
    std::string ready = Reply();
    std::vector<std::string> words = absl::StrSplit(ready, ' ');
    if (words.size() != 2 || !absl::SimpleAtoi(words[0], &port_)) {
      return absl::InternalError("the server process did not start");
    }
    kubeconfig_ = words[1];
    return absl::OkStatus();
  }
  ~ServerProcess() {
    if (pid_ <= 0) return;
    fprintf(commands_, "quit\n");
    fflush(commands_);
    waitpid(pid_, nullptr, 0);
  }
  // Asks for `count` KmeshNodeInfo changes; returns how many were made in
  // all once they are.
  int64_t Updates(int count, int interval_us) {
    fprintf(commands_, "updates %d %d\n", count, interval_us);
    fflush(commands_);
    std::string done = Reply();
    int64_t total = 0;
    CHECK(absl::SimpleAtoi(done.substr(5), &total)) << done;
    return total;
  }
  // Sends the command without waiting for its reply (raw phase).
  void StartUpdates(int count, int interval_us) {
    fprintf(commands_, "updates %d %d\n", count, interval_us);
    fflush(commands_);
  }
  int64_t WaitUpdates() {
    std::string done = Reply();
    int64_t total = 0;
    CHECK(absl::SimpleAtoi(done.substr(5), &total)) << done;
    return total;
  }
  int port() const { return port_; }
  const std::string& kubeconfig() const { return kubeconfig_; }

 private:
  std::string Reply() {
    char line[512];
    if (fgets(line, sizeof(line), replies_) == nullptr) return "";
    return std::string(absl::StripAsciiWhitespace(line));
  }
  pid_t pid_ = -1;
  FILE* commands_ = nullptr;
  FILE* replies_ = nullptr;
  int port_ = 0;
  std::string kubeconfig_;
};

absl::Status WriteKey(const std::string& path, int spi) {
  auto config = api::MakeIpsecKeyConfig(spi, crypto::RandomSecretBytes(36));
  if (!config.ok()) return config.status();
  auto text = api::SerializeIpsecKeyJson(*config);
  if (!text.ok()) return text.status();
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp);
    out << *text;
  }
  std::filesystem::rename(tmp, path);
  return absl::OkStatus();
}

template <typename Predicate>
bool WaitFor(Predicate done, Seconds timeout, Seconds poll) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!done()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(poll);
  }
  return true;
}

// One agent for node-0 on a simulated kernel, with its own REST client.
struct Agent {
  std::unique_ptr<SimKernel> kernel;
  std::unique_ptr<kmesh::kube::RestKubeClient> client;
  std::unique_ptr<agent::IpsecAgent> agent;
};

absl::StatusOr<Agent> StartAgent(const ServerProcess& server,
                                 const std::string& key_path) {
  Agent a;
  a.kernel = std::make_unique<SimKernel>(NodeName(0), 100);
  a.kernel->AddNodeAddress(*IpAddress::Parse(NodeAddress(0)));
  if (FLAGS_mode == "pods") {
    // node-0's pods, behind their veths as the CNI left them.
    for (int i = 0; i < FLAGS_pods; i += FLAGS_nodes) {
      a.kernel->AddPod(PodName(i, FLAGS_nodes),
                       *IpAddress::Parse(PodIp(i, FLAGS_nodes)),
                       [](absl::Span<const uint8_t>) {});
    }
  }
  auto access = kmesh::kube::LoadKubeconfigFile(server.kubeconfig(), "");
  if (!access.ok()) return access.status();
  auto client = kmesh::kube::RestKubeClient::ForCluster(*access, {});
  if (!client.ok()) return client.status();
  a.client = *std::move(client);
  agent::IpsecAgentConfig config;
  config.node_name = NodeName(0);
  config.key_file_path = key_path;
  config.controller.grace_period = std::chrono::hours(1);
  agent::IpsecAgentDeps deps;
  deps.client = a.client.get();
  deps.node = a.kernel.get();
  deps.clock = RealClock::Get();
  auto started = agent::IpsecAgent::Start(config, deps);
  if (!started.ok()) return started.status();
  a.agent = *std::move(started);
  return a;
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

// CPU seconds of this process while a raw watch reads `count` changes.
double RawPhase(ServerProcess& server, int count) {
  auto client = kube::TestHttpClient::Connect(server.port());
  CHECK(client.ok()) << client.status();
  const std::string path = absl::StrCat("/apis/kmesh.net/v1alpha1/namespaces/",
                                        kKmeshNamespace, "/kmeshnodeinfos");
  auto list = (*client)->Send("GET", path);
  CHECK(list.ok() && list->code == 200);
  const std::string rv = json::parse(list->body)["metadata"]["resourceVersion"];
  auto head = (*client)->StartStream(
      absl::StrCat(path, "?watch=true&resourceVersion=", rv));
  CHECK(head.ok() && head->code == 200);
  const double cpu0 = ProcessCpuSeconds();
  server.StartUpdates(count, FLAGS_interval_us);
  int lines = 0;
  std::string pending;
  size_t bytes = 0;
  while (lines < count) {
    auto chunk = (*client)->NextChunk();
    CHECK(chunk.ok() && chunk->has_value()) << "watch ended early";
    pending.append(**chunk);
    bytes += (*chunk)->size();
    size_t start = 0;
    for (size_t nl; (nl = pending.find('\n', start)) != std::string::npos;
         start = nl + 1) {
      if (nl > start) ++lines;
    }
    pending.erase(0, start);
  }
  const double cpu = ProcessCpuSeconds() - cpu0;
  server.WaitUpdates();
  LOG(INFO) << "raw watch: " << lines << " events, " << bytes << " bytes";
  return cpu;
}

int EventsMain() {
  ServerProcess server;
  CHECK((server.Start()).ok());
  const std::string dir =
      absl::StrCat(std::filesystem::temp_directory_path().string(),
                   "/agent-bench-keys-", getpid());
  std::filesystem::create_directories(dir);
  const std::string key_path = dir + "/ipSec";
  CHECK((WriteKey(key_path, 1)).ok());
  const int n = FLAGS_events;
  std::vector<double> raw, agent, idle;
  int64_t total = 0;
  for (int round = 0; round < FLAGS_rounds; ++round) {
    raw.push_back(RawPhase(server, n) / n);
    total += n;
    // The agent, with keys 1 and 2 held and 2 advertised.
    CHECK((WriteKey(key_path, round % 2 == 0 ? 1 : 2)).ok());
    auto a = StartAgent(server, key_path);
    CHECK((a.status()).ok());
    ipsec::IpsecController& controller = a->agent->controller();
    CHECK(WaitFor(
        [&] {
          auto s = controller.Snapshot();
          return s.peers_synced && s.advertised_spi != 0 &&
                 static_cast<int>(s.peers.size()) == FLAGS_peers;
        },
        Seconds(60), Seconds(0.05)));
    const int second = round % 2 == 0 ? 2 : 1;
    CHECK((WriteKey(key_path, second)).ok());
    CHECK(WaitFor([&] { return controller.advertised_spi() == second; },
                  Seconds(60), Seconds(0.05)));
    std::this_thread::sleep_for(std::chrono::seconds(1));
    // Idle: as long as a phase lasts, nothing changing.
    const double idle_wall = n * FLAGS_interval_us / 1e6;
    double cpu0 = ProcessCpuSeconds();
    std::this_thread::sleep_for(Seconds(idle_wall));
    idle.push_back((ProcessCpuSeconds() - cpu0) / n);
    cpu0 = ProcessCpuSeconds();
    const auto wall0 = std::chrono::steady_clock::now();
    total = server.Updates(n, FLAGS_interval_us);
    std::map<std::string, int> expected;
    for (int64_t k = std::max<int64_t>(0, total - FLAGS_peers); k < total;
         ++k) {
      expected[NodeName(1 + k % FLAGS_peers)] = SpiOfUpdate(k, FLAGS_peers);
    }
    CHECK(WaitFor(
        [&] {
          auto s = controller.Snapshot();
          for (const auto& p : s.peers) {
            auto it = expected.find(p.name);
            if (it != expected.end() && p.advertised_spi != it->second) {
              return false;
            }
          }
          return true;
        },
        Seconds(120), Seconds(0.002)));
    const double cpu = ProcessCpuSeconds() - cpu0;
    const double lag =
        Seconds(std::chrono::steady_clock::now() - wall0).count() -
        n * FLAGS_interval_us / 1e6;
    agent.push_back(cpu / n);
    auto s = controller.Snapshot();
    int on_expected = 0;
    for (const auto& p : s.peers) {
      if (p.outbound_spi == expected[p.name]) ++on_expected;
    }
    printf(
        "round %d: raw %.1f us/event, agent %.1f us/event (idle %.1f), "
        "last event seen %.3f s after the last write, %d/%zu peers sent to "
        "with their last SPI\n",
        round, raw.back() * 1e6, agent.back() * 1e6, idle.back() * 1e6, lag,
        on_expected, s.peers.size());
    fflush(stdout);
    a->agent->Stop();
  }
  std::filesystem::remove_all(dir);
  const double r = Median(raw), g = Median(agent), i = Median(idle);
  printf(
      "\n%d events/phase, %d peers, one every %d us, median of %d rounds:\n"
      "  raw HTTP watch read      %8.1f us CPU/event (baseline)\n"
      "  IpsecAgent               %8.1f us CPU/event (%.1fx the baseline)\n"
      "  IpsecAgent idle          %8.1f us CPU per event interval\n"
      "  agent less idle and raw  %8.1f us CPU/event\n",
      n, FLAGS_peers, FLAGS_interval_us, FLAGS_rounds, r * 1e6, g * 1e6, g / r,
      i * 1e6, (g - i - r) * 1e6);
  return 0;
}

int PodsMain() {
  const double cpu_start = ProcessCpuSeconds();
  ServerProcess server;
  CHECK((server.Start()).ok());
  const std::string dir =
      absl::StrCat(std::filesystem::temp_directory_path().string(),
                   "/agent-bench-keys-", getpid());
  std::filesystem::create_directories(dir);
  const std::string key_path = dir + "/ipSec";
  CHECK((WriteKey(key_path, 1)).ok());
  const auto [rss0, hwm0] = MemoryMib();
  const double cpu0 = ProcessCpuSeconds();
  const auto wall0 = std::chrono::steady_clock::now();
  auto a = StartAgent(server, key_path);
  CHECK((a.status()).ok());
  auto synced = [&] {
    agent::NodeStatus status = a->agent->Status();
    for (const auto& w : status.watches) {
      if (w.watches < 1) return false;
    }
    auto s = a->agent->controller().Snapshot();
    return s.peers_synced && s.advertised_spi == 1;
  };
  CHECK(WaitFor(synced, Seconds(600), Seconds(0.1)));
  const double wall = Seconds(std::chrono::steady_clock::now() - wall0).count();
  const double cpu = ProcessCpuSeconds() - cpu0;
  const auto [rss1, hwm1] = MemoryMib();
  const double cpu1 = ProcessCpuSeconds();
  std::this_thread::sleep_for(std::chrono::seconds(FLAGS_settle_seconds));
  const double idle = (ProcessCpuSeconds() - cpu1) / FLAGS_settle_seconds;
  const auto [rss2, hwm2] = MemoryMib();
  agent::NodeStatus status = a->agent->Status();
  printf(
      "%d pods on %d nodes (%d namespaces), one agent (node-0):\n"
      "  process before the agent: RSS %.1f MiB (CPU %.2f s so far)\n"
      "  synced (every watch listed and watching, SPI advertised) after "
      "%.2f s wall, %.2f s CPU\n"
      "  RSS at sync %.1f MiB (+%.1f), peak %.1f MiB\n"
      "  after %d s: RSS %.1f MiB (+%.1f), peak %.1f MiB, idle CPU %.3f s/s\n"
      "  peers %zu, managed local pods %zu, unmanaged pods %zu\n",
      FLAGS_pods, FLAGS_nodes, FLAGS_namespaces, rss0, cpu0 - cpu_start, wall,
      cpu, rss1, rss1 - rss0, hwm1, FLAGS_settle_seconds, rss2, rss2 - rss0,
      hwm2, idle, a->agent->controller().Snapshot().peers.size(),
      status.managed_local_pods, status.unmanaged_pods);
  a->agent->Stop();
  std::filesystem::remove_all(dir);
  return 0;
}

}  // namespace
}  // namespace kmesh::sim

int main(int argc, char** argv) {
  gflags::ParseCommandLineFlags(&argc, &argv, true);
  google::InitGoogleLogging(argv[0]);
  FLAGS_logtostderr = true;
  if (FLAGS_mode == "pods") return kmesh::sim::PodsMain();
  return kmesh::sim::EventsMain();
}
