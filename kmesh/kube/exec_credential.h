// ExecCredentialProvider: a kubeconfig's `users[].user.exec` credential
// plugin, run as client-go runs it (plugin/pkg/client/auth/exec/exec.go).
// The command (already resolved against the kubeconfig's directory when it
// holds a '/', else looked up on $PATH) runs with the process's environment
// plus the configured `env` and KUBERNETES_EXEC_INFO, an ExecCredential
// (apiVersion as configured) whose spec says interactive=false and, with
// provideClusterInfo, carries spec.cluster; it starts with no blocked
// signals, default signal dispositions and no descriptor of ours but its
// stdin, stdout and stderr. Standard input is /dev/null: we
// are never interactive, so interactiveMode Always is refused, IfAvailable
// and Never run the plugin non-interactively. The plugin's stdout must be an
// ExecCredential of the same apiVersion with status.token or
// status.clientCertificateData + clientKeyData; the credential is cached
// until status.expirationTimestamp (RFC 3339; none = until the server
// refuses it). After a 401, RefreshAfterUnauthorized() re-runs the plugin
// unless another request already did. A failing plugin's error names the
// command, its exit status and its stderr (trimmed and shortened; never its
// stdout, which may hold a token); a missing command adds the installHint.
// The stdout buffer is wiped, also when it grows; the JSON parser's own
// scratch copies are not (as with yaml-cpp for kubeconfigs).
// Thread-safe: one plugin run at a time.
#ifndef KMESH_KUBE_EXEC_CREDENTIAL_H_
#define KMESH_KUBE_EXEC_CREDENTIAL_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "kmesh/crypto/secret_bytes.h"

namespace kmesh::kube {

inline constexpr char kExecApiV1[] = "client.authentication.k8s.io/v1";
inline constexpr char kExecApiV1beta1[] =
    "client.authentication.k8s.io/v1beta1";

// The `exec` section of a kubeconfig user, as parsed.
struct ExecConfig {
  std::string api_version;
  std::string command;  // Absolute, or a bare name looked up on $PATH.
  std::vector<std::string> args;
  std::vector<std::pair<std::string, std::string>> env;
  std::string install_hint;
  // "Never", "IfAvailable" or "Always" (v1beta1 defaults to IfAvailable).
  std::string interactive_mode;
  bool provide_cluster_info = false;
  // With provide_cluster_info: the JSON object sent as spec.cluster.
  std::string cluster_json;
  // For messages: "user \"eks\" in kubeconfig /root/.kube/config".
  std::string owner;
};

// What the plugin returned.
struct ExecCredential {
  crypto::SecretBytes token;
  std::string client_certificate_pem;
  crypto::SecretBytes client_key_pem;
  std::optional<absl::Time> expiry;
};

class ExecCredentialProvider {
 public:
  struct Options {
    // The current time (expiry checks); nullptr = absl::Now.
    std::function<absl::Time()> now;
    // The environment the plugin inherits ("NAME=value" entries) and whose
    // PATH finds it; nullopt = this process's environment.
    std::optional<std::vector<std::string>> environ;
  };

  // Checks the configuration as client-go does (apiVersion, command,
  // interactiveMode); runs nothing yet.
  static absl::StatusOr<std::shared_ptr<ExecCredentialProvider>> Create(
      ExecConfig config, Options options = {});

  // The cached credential, or a fresh one from the plugin when there is none
  // or it has expired. `generation` (optional) receives the credential's
  // generation for RefreshAfterUnauthorized().
  absl::StatusOr<std::shared_ptr<const ExecCredential>> Get(
      uint64_t* generation = nullptr);

  // The API server refused the credential of `generation` (a 401): drops it
  // so that the next Get() runs the plugin again, unless a newer one has
  // been fetched meanwhile. False when there was already a newer one.
  bool RefreshAfterUnauthorized(uint64_t generation);

  // How often the plugin ran (tests, diagnostics).
  int runs() const;

  const ExecConfig& config() const { return config_; }

 private:
  ExecCredentialProvider(ExecConfig config, Options options);
  absl::StatusOr<std::shared_ptr<const ExecCredential>> RunPlugin()
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  std::string ExecInfoJson() const;

  const ExecConfig config_;
  const Options options_;
  mutable absl::Mutex mu_;
  std::shared_ptr<const ExecCredential> cached_ ABSL_GUARDED_BY(mu_);
  uint64_t generation_ ABSL_GUARDED_BY(mu_) = 0;
  int runs_ ABSL_GUARDED_BY(mu_) = 0;
};

// Parses a plugin's stdout (exposed for tests); errors never quote it.
absl::StatusOr<ExecCredential> ParseExecCredential(
    const std::string& stdout_text, const std::string& api_version);

}  // namespace kmesh::kube

#endif  // KMESH_KUBE_EXEC_CREDENTIAL_H_
