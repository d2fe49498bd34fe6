// DaemonConfig: the kmesh-daemon command line, validated. Flag names are
// Kmesh's (--mode, --enable-bypass, --enable-ipsec); dashes and underscores
// are interchangeable, as in Kmesh's Go flags. Parsing is separate from main()
// so that every rule is unit-tested.
#ifndef KMESH_DAEMON_DAEMON_FLAGS_H_
#define KMESH_DAEMON_DAEMON_FLAGS_H_

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace kmesh::daemon {

struct DaemonConfig {
  std::string mode = "dual-engine";  // or "kernel-native"
  bool enable_bypass = false;
  bool enable_ipsec = false;
  std::string node_name;  // --node-name, else $NODE_NAME
  std::string ipsec_key_file = "kmesh-ipsec/ipSec";
  std::chrono::nanoseconds ipsec_grace_period = std::chrono::minutes(5);
  std::string kubeconfig;  // empty: kubectl's search, then in-cluster
  // Where the compiled eBPF markers are (encrypt_marker.bpf.o,
  // decrypt_marker.bpf.o), and where their maps are pinned so a restart
  // keeps them.
  std::string bpf_object_dir = "bpf";
  std::string bpf_pin_dir = "/sys/fs/bpf/kmesh-ipsec";
  // Where the status endpoint (status JSON, /metrics, /healthz) listens;
  // empty: off. Loopback by default: the DaemonSet binds it to the node's
  // address (status.hostIP) so that the API server's pod proxy and
  // Prometheus reach it.
  std::string status_address = "127.0.0.1:15200";
  // How often the controller's Tick runs.
  std::chrono::nanoseconds tick_interval = std::chrono::seconds(2);
};

// Rewrites "--enable-ipsec=true" to "--enable_ipsec=true" (flag names only,
// values untouched), so gflags accepts Kmesh's spelling.
std::vector<std::string> NormalizeFlagNames(
    const std::vector<std::string>& args);

// Builds the configuration from parsed flag values; `node_name_env` is
// $NODE_NAME. InvalidArgument names the flag and what is accepted.
absl::StatusOr<DaemonConfig> MakeDaemonConfig(
    const std::string& mode, bool enable_bypass, bool enable_ipsec,
    const std::string& node_name, std::optional<std::string> node_name_env,
    const std::string& ipsec_key_file, const std::string& ipsec_grace_period,
    const std::string& kubeconfig, const std::string& bpf_object_dir,
    const std::string& bpf_pin_dir,
    const std::string& status_address = "127.0.0.1:15200");

}  // namespace kmesh::daemon

#endif  // KMESH_DAEMON_DAEMON_FLAGS_H_
