#include "kmesh/daemon/daemon_runner.h"

#include <signal.h>
#include <time.h>

#include <chrono>
#include <cstdlib>
#include <iostream>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "gflags/gflags.h"
#include "glog/logging.h"
#include "kmesh/agent/ipsec_agent.h"
#include "kmesh/agent/node_endpoint.h"
#include "kmesh/agent/node_uninstall.h"
#include "kmesh/base/backoff.h"
#include "kmesh/base/clock.h"
#include "kmesh/ipsec/key_file_watcher.h"
#include "kmesh/kube/kubeconfig.h"
#include "kmesh/kube/rest_kube_client.h"

DEFINE_string(mode, "dual-engine", "Kmesh mode: dual-engine or kernel-native");
DEFINE_bool(enable_bypass, false, "Enable the bypass feature");
DEFINE_bool(enable_ipsec, false,
            "Encrypt cross-node pod traffic with IPsec (ESP, AES-256-GCM)");
DEFINE_string(node_name, "", "This node's name (default: $NODE_NAME)");
DEFINE_string(ipsec_key_file, kmesh::ipsec::kDefaultKeyFilePath,
              "The mounted kmesh-ipsec secret's ipSec file");
DEFINE_string(ipsec_grace_period, "5m",
              "How long an old key stays after every peer moved past it");
DEFINE_string(kubeconfig, "",
              "kubeconfig file (default: $KUBECONFIG, ~/.kube/config, then "
              "in-cluster service account)");
DEFINE_string(status_address, "127.0.0.1:15200",
              "Where the status endpoint listens (GET /v1/ipsec/status for "
              "`kmeshctl secret status`, /metrics for Prometheus, /healthz): "
              "HOST:PORT, [IPV6]:PORT, :PORT for every address, or off. The "
              "DaemonSet sets the node's address so the API server's pod "
              "proxy and Prometheus reach it");
DEFINE_string(
    bpf_object_dir, "bpf",
    "Directory holding encrypt_marker.bpf.o and decrypt_marker.bpf.o");
DEFINE_string(bpf_pin_dir, "/sys/fs/bpf/kmesh-ipsec",
              "Directory where the marker maps are pinned (a bpf filesystem "
              "is mounted on its parent when there is none; empty: no pins)");

namespace kmesh::daemon {
namespace {

// Waits up to `timeout` for SIGTERM/SIGINT (blocked in every thread);
// returns the signal or 0.
int WaitForSignal(const sigset_t& signals, std::chrono::nanoseconds timeout) {
  const auto seconds =
      std::chrono::duration_cast<std::chrono::seconds>(timeout);
  timespec ts{static_cast<time_t>(seconds.count()),
              static_cast<long>((timeout - seconds).count())};
  const int sig = sigtimedwait(&signals, nullptr, &ts);
  return sig > 0 ? sig : 0;
}

int Fail(const absl::Status& status) {
  std::cerr << "kmesh-daemon: " << status.message() << std::endl;
  return 1;
}

int RunIpsec(const DaemonConfig& config, const sigset_t& signals,
             const NodeBackendsFactory& factory) {
  absl::StatusOr<std::unique_ptr<NodeBackends>> backends = factory(config);
  if (!backends.ok()) return Fail(backends.status());
  absl::StatusOr<kube::ClusterAccess> access = kube::FindClusterAccess(
      kube::ClusterAccessSearch::FromProcess(config.kubeconfig));
  if (!access.ok()) return Fail(access.status());
  absl::StatusOr<std::unique_ptr<kube::RestKubeClient>> client =
      kube::RestKubeClient::ForCluster(*access);
  if (!client.ok()) return Fail(client.status());

  agent::IpsecAgentConfig agent_config;
  agent_config.node_name = config.node_name;
  agent_config.key_file_path = config.ipsec_key_file;
  agent_config.node_wait = std::chrono::seconds(2);
  agent_config.controller.grace_period =
      std::chrono::duration_cast<Duration>(config.ipsec_grace_period);
  agent::IpsecAgentDeps deps;
  deps.client = client->get();
  deps.node = backends->get();
  deps.clock = RealClock::Get();

  // The endpoint answers (503 for the status, kmesh_ipsec_up 0) while the
  // agent waits for its Node. It is for observing only: when its address
  // cannot be bound (taken by another host-network process) IPsec runs
  // without it and the bind is retried every 10 s.
  agent::RunningAgent running;
  std::unique_ptr<telemetry::HttpEndpoint> endpoint;
  std::string endpoint_error;
  auto start_endpoint = [&] {
    if (config.status_address.empty() || endpoint) return;
    absl::StatusOr<std::unique_ptr<telemetry::HttpEndpoint>> started =
        agent::StartNodeEndpoint(config.status_address, running.AsSource());
    if (!started.ok()) {
      if (std::string(started.status().message()) != endpoint_error) {
        endpoint_error = std::string(started.status().message());
        LOG(ERROR) << "status endpoint on " << config.status_address << ": "
                   << endpoint_error
                   << " (IPsec runs without it; retrying every 10 s)";
      }
      return;
    }
    endpoint = *std::move(started);
    LOG(INFO) << "status endpoint on " << config.status_address << " (GET "
              << agent::kStatusPath << ", /metrics, /healthz, /readyz)";
  };
  auto retry_interval = [&]() -> std::chrono::seconds {
    return config.status_address.empty() || endpoint
               ? std::chrono::seconds(3600)
               : std::chrono::seconds(10);
  };
  start_endpoint();

  // kubelet may not have reported the node yet, or the API server is down:
  // wait, but stay stoppable. The waits grow from 2 s to 30 s with jitter,
  // so the daemons of a large cluster do not all come back to a restarted
  // API server in the same instant.
  absl::StatusOr<std::unique_ptr<agent::IpsecAgent>> agent;
  Backoff backoff(
      {std::chrono::seconds(2), std::chrono::seconds(30), 2.0, 1.0});
  while (true) {
    agent = agent::IpsecAgent::Start(agent_config, deps);
    if (agent.ok() || absl::IsInvalidArgument(agent.status())) break;
    const std::chrono::milliseconds delay = backoff.Next();
    LOG(WARNING) << agent.status() << " (retrying in " << delay.count()
                 << " ms)";
    if (WaitForSignal(signals, delay) != 0) return 0;
    start_endpoint();
  }
  if (!agent.ok()) return Fail(agent.status());
  running.Set(agent->get());
  LOG(INFO) << "IPsec running on node " << config.node_name << " (key file "
            << config.ipsec_key_file << ")";
  int sig = 0;
  while ((sig = WaitForSignal(signals, retry_interval())) == 0) {
    start_endpoint();
  }
  LOG(INFO) << "signal " << sig
            << ": stopping; the node keeps its SAs, policies, markers and "
               "KmeshNodeInfo (remove them with `kmesh-daemon uninstall`)";
  running.Clear();
  if (endpoint) endpoint->Stop();
  (*agent)->Stop();
  return 0;
}

// `kmesh-daemon uninstall`: removes what the product owns on this node.
int RunUninstall(const DaemonConfig& config,
                 const NodeBackendsFactory& factory) {
  if (config.node_name.empty()) {
    return Fail(absl::InvalidArgumentError(
        "uninstall needs this node's name: set NODE_NAME or pass "
        "--node-name"));
  }
  absl::StatusOr<std::unique_ptr<NodeBackends>> backends = factory(config);
  if (!backends.ok()) return Fail(backends.status());
  absl::StatusOr<kube::ClusterAccess> access = kube::FindClusterAccess(
      kube::ClusterAccessSearch::FromProcess(config.kubeconfig));
  if (!access.ok()) return Fail(access.status());
  absl::StatusOr<std::unique_ptr<kube::RestKubeClient>> client =
      kube::RestKubeClient::ForCluster(*access);
  if (!client.ok()) return Fail(client.status());
  absl::StatusOr<agent::UninstallReport> report =
      agent::UninstallNode(config.node_name, client->get(), backends->get());
  if (!report.ok()) return Fail(report.status());
  std::cout << "kmesh-daemon uninstall: node " << config.node_name
            << ": removed " << report->sas_removed << " SAs, "
            << report->policies_removed
            << " policies (block policies included), the encrypt and "
               "decrypt markers, the pinned maps and the KmeshNodeInfo"
            << std::endl;
  return 0;
}

}  // namespace

int RunDaemon(int argc, char** argv, const NodeBackendsFactory& factory) {
  std::vector<std::string> args(argv, argv + argc);
  std::vector<std::string> normalized = NormalizeFlagNames(args);
  std::vector<char*> raw;
  for (std::string& a : normalized) raw.push_back(a.data());
  raw.push_back(nullptr);
  int raw_argc = static_cast<int>(normalized.size());
  char** raw_argv = raw.data();
  gflags::SetUsageMessage(
      "\n  kmesh-daemon --mode=dual-engine --enable-bypass=false "
      "--enable-ipsec=true\n"
      "      runs the node agent. Stopping it (SIGTERM, a crash, kill -9) "
      "leaves the node's\n"
      "      SAs, policies, markers and KmeshNodeInfo in place: the next "
      "daemon adopts them,\n"
      "      so restarts and upgrades keep encrypting.\n"
      "  kmesh-daemon uninstall [--node-name=NODE] [--kubeconfig=FILE] "
      "[--bpf-pin-dir=DIR]\n"
      "      removes exactly what Kmesh IPsec owns on this node: its XFRM "
      "SAs and policies\n"
      "      (reqid 0x4b4d5348, Kmesh marks; the block policy last), the "
      "markers, their\n"
      "      pinned maps and the node's KmeshNodeInfo. Run it on every node "
      "after deleting\n"
      "      the DaemonSet; running it again is harmless.");
  gflags::ParseCommandLineFlags(&raw_argc, &raw_argv, true);
  std::string command;
  if (raw_argc > 1) command = raw_argv[1];
  if (raw_argc > 2 || (!command.empty() && command != "uninstall")) {
    std::cerr << "kmesh-daemon: unknown command \"" << command
              << (raw_argc > 2 ? " ..." : "")
              << "\": the only command is `uninstall` (see --help)"
              << std::endl;
    return 2;
  }
  FLAGS_logtostderr = true;
  google::InitGoogleLogging(argv[0]);

  const char* env = std::getenv("NODE_NAME");
  absl::StatusOr<DaemonConfig> config = MakeDaemonConfig(
      FLAGS_mode, FLAGS_enable_bypass, FLAGS_enable_ipsec, FLAGS_node_name,
      env ? std::optional<std::string>(env) : std::nullopt,
      FLAGS_ipsec_key_file, FLAGS_ipsec_grace_period, FLAGS_kubeconfig,
      FLAGS_bpf_object_dir, FLAGS_bpf_pin_dir, FLAGS_status_address);
  if (!config.ok()) return Fail(config.status());
  if (command == "uninstall") return RunUninstall(*config, factory);

  // Signals are taken synchronously by the main loop: block them before
  // any thread starts so every thread inherits the mask.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  LOG(INFO) << "kmesh-daemon: mode " << config->mode << ", bypass "
            << (config->enable_bypass ? "on" : "off") << ", IPsec "
            << (config->enable_ipsec ? "on" : "off");
  if (!config->enable_ipsec) {
    LOG(INFO) << "IPsec is off; waiting for SIGTERM";
    while (WaitForSignal(signals, std::chrono::seconds(3600)) == 0) {
    }
    return 0;
  }
  return RunIpsec(*config, signals, factory);
}

}  // namespace kmesh::daemon
