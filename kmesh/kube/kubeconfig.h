// Finding and loading Kubernetes cluster access the way kubectl does: an
// explicit --kubeconfig path, else $KUBECONFIG, else ~/.kube/config, else the
// in-cluster service account (KUBERNETES_SERVICE_HOST/PORT plus the mounted
// token and CA). A kubeconfig is read for one context (its current-context
// unless another is named): the cluster's server URL and CA (file or -data,
// or insecure-skip-tls-verify), and the user's client certificate and key
// (file or -data) or bearer token (token or tokenFile). Relative paths in a
// kubeconfig are relative to the kubeconfig's directory, as in kubectl.
// Differences from kubectl: of a colon-separated $KUBECONFIG only the first
// existing file is read (no merging), and exec/auth-provider plugins and
// basic auth are refused with a clear error. Client keys and tokens are held
// in SecretBytes (wiped when freed) and never appear in messages; the file
// text read is wiped after parsing (yaml-cpp's own parse tree is not).
#ifndef KMESH_KUBE_KUBECONFIG_H_
#define KMESH_KUBE_KUBECONFIG_H_

#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "kmesh/crypto/secret_bytes.h"

namespace kmesh::kube {

// Everything needed to open authenticated connections to one API server.
struct ClusterAccess {
  // "https://10.0.0.1:6443" (may carry a path prefix).
  std::string server;
  // PEM of the CA(s) that sign the server's certificate; empty = the
  // system's default trust store.
  std::string certificate_authority_pem;
  // Only when the kubeconfig says so: no server certificate verification.
  bool insecure_skip_tls_verify = false;
  // SNI and the name to verify instead of the server URL's host (optional).
  std::string tls_server_name;
  // PEM client certificate and its private key (both or neither).
  std::string client_certificate_pem;
  crypto::SecretBytes client_key_pem;
  // A bearer token; when bearer_token_file is set, the token is that file's
  // content and is re-read as it rotates (bound service-account tokens).
  crypto::SecretBytes bearer_token;
  std::string bearer_token_file;
  // The context's namespace ("" if none): kubectl's default namespace.
  std::string default_namespace;
  // Where this came from, for messages: "kubeconfig /root/.kube/config
  // (context kind-kind)" or "in-cluster service account".
  std::string source;

  ClusterAccess() = default;
  ClusterAccess(ClusterAccess&&) = default;
  ClusterAccess& operator=(ClusterAccess&&) = default;
  // Explicit copy (key material is copied into fresh wiped-on-free buffers).
  ClusterAccess Clone() const;
};

// Where to look; FromProcess() reads the real environment, tests build one.
struct ClusterAccessSearch {
  // --kubeconfig; empty = not given.
  std::string explicit_kubeconfig;
  // --context; empty = the kubeconfig's current-context.
  std::string context;
  // $KUBECONFIG (nullopt = unset).
  std::optional<std::string> kubeconfig_env;
  // $HOME (nullopt = unset); ~/.kube/config is looked for under it.
  std::optional<std::string> home;
  // $KUBERNETES_SERVICE_HOST / $KUBERNETES_SERVICE_PORT.
  std::optional<std::string> service_host;
  std::optional<std::string> service_port;
  // The file system root under which
  // var/run/secrets/kubernetes.io/serviceaccount/{token,ca.crt,namespace}
  // are found; "/" in production, a temporary directory in tests.
  std::string in_cluster_root = "/";

  // explicit_kubeconfig and context as given; the rest from the environment.
  static ClusterAccessSearch FromProcess(std::string explicit_kubeconfig = "",
                                         std::string context = "");
};

// Finds cluster access in kubectl's order. Errors name the file and what is
// missing, or, when nothing was found, every place that was tried.
absl::StatusOr<ClusterAccess> FindClusterAccess(
    const ClusterAccessSearch& search);

// Loads one kubeconfig file for `context` ("" = its current-context).
absl::StatusOr<ClusterAccess> LoadKubeconfigFile(const std::string& path,
                                                 const std::string& context);

// Parses kubeconfig YAML text; relative file paths are resolved against
// `base_dir`, and `display_path` names the file in messages.
absl::StatusOr<ClusterAccess> ParseKubeconfig(absl::string_view yaml,
                                              const std::string& base_dir,
                                              const std::string& display_path,
                                              const std::string& context);

// In-cluster access from the service-account mount under `root`.
absl::StatusOr<ClusterAccess> LoadInClusterAccess(
    const std::string& service_host, const std::string& service_port,
    const std::string& root);

}  // namespace kmesh::kube

#endif  // KMESH_KUBE_KUBECONFIG_H_
