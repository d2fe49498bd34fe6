// sim_apiserver: the simulated Kubernetes API server as a process, for
// trying kubectl or kmeshctl against it by hand or from scripts.
//
//   sim_apiserver --port=6443 --kubeconfig_out=/tmp/kubeconfig
//   kubectl --kubeconfig=/tmp/kubeconfig get namespaces
//
// Serves on 127.0.0.1 (or --address) until SIGINT or SIGTERM. With
// --tls_cert and --tls_key (PEM files) it serves HTTPS; --tls_ca names the CA
// written into the kubeconfig (default: the certificate itself).
#include <signal.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <tuple>

#include "gflags/gflags.h"
#include "sim/kube/api_server.h"

DEFINE_string(address, "127.0.0.1",
              "IP address to listen on (and to name in the kubeconfig)");
DEFINE_int32(port, 0, "TCP port on --address; 0 picks a free one");
DEFINE_string(kubeconfig_out, "", "write a kubeconfig for this server here");
DEFINE_string(tls_cert, "", "PEM certificate file; with --tls_key: HTTPS");
DEFINE_string(tls_key, "", "PEM private key file");
DEFINE_string(tls_ca, "", "PEM CA file for the kubeconfig");
DEFINE_string(token, "", "require this bearer token");
DEFINE_int32(history_limit, 1000, "watch events kept for replay");
DEFINE_int32(bookmark_interval_ms, 60000,
             "how often watches with allowWatchBookmarks get a BOOKMARK");

namespace {

bool ReadFile(const std::string& path, std::string* contents) {
  std::ifstream in(path);
  if (!in) return false;
  std::stringstream text;
  text << in.rdbuf();
  *contents = text.str();
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  gflags::SetUsageMessage("a simulated Kubernetes API server on loopback");
  gflags::ParseCommandLineFlags(&argc, &argv, true);
  kmesh::sim::kube::ApiServer::Options options;
  if (FLAGS_port < 0 || FLAGS_port > 65535) {
    fprintf(stderr, "sim_apiserver: --port must be 0..65535\n");
    return 1;
  }
  options.address = FLAGS_address;
  options.port = static_cast<uint16_t>(FLAGS_port);
  options.store.history_limit = FLAGS_history_limit;
  options.bookmark_interval =
      std::chrono::milliseconds(std::max(FLAGS_bookmark_interval_ms, 1));
  for (const auto& [flag, path, out] :
       {std::make_tuple("--tls_cert", FLAGS_tls_cert, &options.tls_cert_pem),
        std::make_tuple("--tls_key", FLAGS_tls_key, &options.tls_key_pem),
        std::make_tuple("--tls_ca", FLAGS_tls_ca, &options.tls_ca_pem)}) {
    if (!path.empty() && !ReadFile(path, out)) {
      fprintf(stderr, "sim_apiserver: cannot read %s %s\n", flag, path.c_str());
      return 1;
    }
  }
  // Block the stop signals before any thread starts, then wait for them.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  auto server = kmesh::sim::kube::ApiServer::Start(options);
  if (!server.ok()) {
    fprintf(stderr, "sim_apiserver: %s\n", server.status().ToString().c_str());
    return 1;
  }
  if (!FLAGS_token.empty()) (*server)->RequireBearerToken(FLAGS_token);
  if (!FLAGS_kubeconfig_out.empty()) {
    absl::Status written = (*server)->WriteKubeconfig(FLAGS_kubeconfig_out);
    if (!written.ok()) {
      fprintf(stderr, "sim_apiserver: %s\n", written.ToString().c_str());
      return 1;
    }
  }
  printf("sim_apiserver serving on %s\n", (*server)->url().c_str());
  fflush(stdout);
  int signal_number = 0;
  sigwait(&stop_signals, &signal_number);
  (*server)->Stop();
  return 0;
}
