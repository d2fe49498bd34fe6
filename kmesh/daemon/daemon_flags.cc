#include "kmesh/daemon/daemon_flags.h"

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "kmesh/telemetry/http_endpoint.h"

namespace kmesh::daemon {

std::vector<std::string> NormalizeFlagNames(
    const std::vector<std::string>& args) {
  std::vector<std::string> out;
  out.reserve(args.size());
  bool end_of_flags = false;
  for (const std::string& arg : args) {
    if (arg == "--") end_of_flags = true;
    if (end_of_flags || arg.size() < 2 || arg[0] != '-') {
      out.push_back(arg);
      continue;
    }
    const size_t start = arg[1] == '-' ? 2 : 1;
    const size_t eq = arg.find('=');
    std::string normalized = arg;
    for (size_t i = start; i < normalized.size() && i < eq; ++i) {
      if (normalized[i] == '-') normalized[i] = '_';
    }
    out.push_back(normalized);
  }
  return out;
}

absl::StatusOr<DaemonConfig> MakeDaemonConfig(
    const std::string& mode, bool enable_bypass, bool enable_ipsec,
    const std::string& node_name, std::optional<std::string> node_name_env,
    const std::string& ipsec_key_file, const std::string& ipsec_grace_period,
    const std::string& kubeconfig, const std::string& bpf_object_dir,
    const std::string& bpf_pin_dir, const std::string& status_address) {
  DaemonConfig config;
  if (mode != "dual-engine" && mode != "kernel-native") {
    return absl::InvalidArgumentError(absl::StrCat(
        "--mode=", mode, ": expected dual-engine or kernel-native"));
  }
  config.mode = mode;
  config.enable_bypass = enable_bypass;
  config.enable_ipsec = enable_ipsec;
  config.node_name = node_name;
  if (config.node_name.empty() && node_name_env.has_value()) {
    config.node_name = *node_name_env;
  }
  if (enable_ipsec && config.node_name.empty()) {
    return absl::InvalidArgumentError(
        "--enable-ipsec needs this node's name: set NODE_NAME (the Kmesh "
        "DaemonSet sets it from spec.nodeName) or pass --node-name");
  }
  if (ipsec_key_file.empty()) {
    return absl::InvalidArgumentError("--ipsec-key-file must not be empty");
  }
  config.ipsec_key_file = ipsec_key_file;
  absl::Duration grace;
  if (!absl::ParseDuration(ipsec_grace_period, &grace) ||
      grace < absl::ZeroDuration()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--ipsec-grace-period=", ipsec_grace_period,
        ": expected a non-negative duration such as 5m, 90s or 1h"));
  }
  config.ipsec_grace_period = absl::ToChronoNanoseconds(grace);
  config.kubeconfig = kubeconfig;
  if (bpf_object_dir.empty()) {
    return absl::InvalidArgumentError("--bpf-object-dir must not be empty");
  }
  config.bpf_object_dir = bpf_object_dir;
  config.bpf_pin_dir = bpf_pin_dir;
  if (status_address == "off" || status_address.empty()) {
    config.status_address.clear();
  } else {
    absl::StatusOr<telemetry::ListenAddress> parsed =
        telemetry::ParseListenAddress(status_address, "--status-address");
    if (!parsed.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(
          parsed.status().message(), " (or \"off\" for no status endpoint)"));
    }
    config.status_address = status_address;
  }
  return config;
}

}  // namespace kmesh::daemon
