// kmesh-daemon: the Kmesh node agent, IPsec part. With --enable-ipsec it
// reads this node's identity from the Node object, watches the key file and
// every KmeshNodeInfo, and runs the IpsecController (kmesh/ipsec) that
// programs the XFRM tables and publishes this node's record. SIGTERM or
// SIGINT shut it down cleanly: the watchers stop, the controller withdraws
// the record and removes the XFRM objects it owns.
#include <signal.h>
#include <time.h>

#include <chrono>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "gflags/gflags.h"
#include "glog/logging.h"
#include "kmesh/base/clock.h"
#include "kmesh/daemon/daemon_flags.h"
#include "kmesh/daemon/xfrm_backend.h"
#include "kmesh/ipsec/ipsec_controller.h"
#include "kmesh/ipsec/key_file_watcher.h"
#include "kmesh/ipsec/node_record.h"
#include "kmesh/ipsec/peer_watcher.h"
#include "kmesh/kernel/memory_marker_maps.h"
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
DEFINE_string(
    xfrm_backend, "sim",
    "XFRM backend: sim (in-memory) or linux (netlink, not built yet)");

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

int RunIpsec(const DaemonConfig& config, const sigset_t& signals) {
  absl::StatusOr<std::unique_ptr<XfrmKernel>> kernel =
      MakeXfrmBackend(config.xfrm_backend);
  if (!kernel.ok()) return Fail(kernel.status());
  absl::StatusOr<kube::ClusterAccess> access = kube::FindClusterAccess(
      kube::ClusterAccessSearch::FromProcess(config.kubeconfig));
  if (!access.ok()) return Fail(access.status());
  absl::StatusOr<std::unique_ptr<kube::RestKubeClient>> client =
      kube::RestKubeClient::ForCluster(*access);
  if (!client.ok()) return Fail(client.status());

  // This node's identity; kubelet may not have reported it yet.
  std::optional<ipsec::NodeView> self;
  while (!self) {
    absl::StatusOr<ipsec::NodeView> view =
        ipsec::LoadOwnNodeView(client->get(), config.node_name, 0);
    if (view.ok()) {
      self = *std::move(view);
      break;
    }
    if (absl::IsInvalidArgument(view.status())) return Fail(view.status());
    LOG(WARNING) << "waiting for node " << config.node_name << ": "
                 << view.status();
    if (WaitForSignal(signals, std::chrono::seconds(2)) != 0) return 0;
  }

  MemoryMarkerMaps markers;
  ipsec::KubeNodeInfoPublisher publisher(client->get());
  ipsec::IpsecControllerOptions options;
  options.grace_period =
      std::chrono::duration_cast<Duration>(config.ipsec_grace_period);
  ipsec::IpsecController controller(*self, kernel->get(), &publisher, &markers,
                                    RealClock::Get(), options);
  if (absl::Status s = controller.Start(); !s.ok()) {
    LOG(WARNING) << "IPsec: " << s;
  }

  ipsec::KeyFileWatcher keys(config.ipsec_key_file, &controller);
  if (absl::Status s = keys.Start(); !s.ok()) {
    LOG(WARNING) << "key file watcher without inotify (polling): " << s;
  }
  ipsec::PeerWatcher peers(client->get(), config.node_name, &controller);
  std::thread key_thread([&keys] { keys.Run(); });
  std::thread peer_thread([&peers] { peers.Run(); });
  LOG(INFO) << "IPsec running on node " << config.node_name << " (key file "
            << keys.path() << ", XFRM backend " << config.xfrm_backend << ")";

  int sig = 0;
  while ((sig = WaitForSignal(signals, config.tick_interval)) == 0) {
    controller.Tick();
  }
  LOG(INFO) << "signal " << sig << ": shutting down";
  keys.Stop();
  peers.Stop();
  key_thread.join();
  peer_thread.join();
  absl::Status shutdown = controller.Shutdown();
  if (!shutdown.ok()) {
    LOG(ERROR) << shutdown;
    return 1;
  }
  return 0;
}

int Main(int argc, char** argv) {
  std::vector<std::string> args(argv, argv + argc);
  std::vector<std::string> normalized = NormalizeFlagNames(args);
  std::vector<char*> raw;
  for (std::string& a : normalized) raw.push_back(a.data());
  raw.push_back(nullptr);
  int raw_argc = static_cast<int>(normalized.size());
  char** raw_argv = raw.data();
  gflags::SetUsageMessage(
      "kmesh-daemon --mode=dual-engine --enable-bypass=false "
      "--enable-ipsec=true");
  gflags::ParseCommandLineFlags(&raw_argc, &raw_argv, true);
  FLAGS_logtostderr = true;
  google::InitGoogleLogging(argv[0]);

  const char* env = std::getenv("NODE_NAME");
  absl::StatusOr<DaemonConfig> config = MakeDaemonConfig(
      FLAGS_mode, FLAGS_enable_bypass, FLAGS_enable_ipsec, FLAGS_node_name,
      env ? std::optional<std::string>(env) : std::nullopt,
      FLAGS_ipsec_key_file, FLAGS_ipsec_grace_period, FLAGS_kubeconfig,
      FLAGS_xfrm_backend);
  if (!config.ok()) return Fail(config.status());

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
  return RunIpsec(*config, signals);
}

}  // namespace
}  // namespace kmesh::daemon

int main(int argc, char** argv) { return kmesh::daemon::Main(argc, argv); }
