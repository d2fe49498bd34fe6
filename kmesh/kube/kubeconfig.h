// Finding and loading Kubernetes cluster access the way kubectl does: an
// explicit --kubeconfig path, else $KUBECONFIG, else ~/.kube/config, else the
// in-cluster service account (KUBERNETES_SERVICE_HOST/PORT plus the mounted
// token and CA). A colon-separated $KUBECONFIG is merged by client-go's
// rules (tools/clientcmd/loader.go): missing files and empty entries are
// skipped, repeated files read once, the first file that defines a cluster,
// user or context name wins, and current-context comes from the first file
// that sets it; a relative path in an entry is relative to the directory of
// the file that defined that entry. A kubeconfig is read for one context
// (its current-context unless another is named): the cluster's server URL,
// CA (file or -data, or insecure-skip-tls-verify) and proxy-url (chosen
// with the proxy environment as proxy_config.h says), and the user's client
// certificate and key (file or -data), bearer token (token or tokenFile) or
// exec credential plugin (exec_credential.h), and impersonation (as,
// as-groups, as-uid, as-user-extra; ClusterAccessSearch's --as flags
// override them as kubectl's do). Fields that would change identity, route
// or security and are not supported (auth-provider, username/password) are
// errors naming the field, never ignored. Client keys and tokens are held in
// SecretBytes (wiped when freed) and never appear in messages; the file text
// read is wiped after parsing (yaml-cpp's own parse tree is not).
#ifndef KMESH_KUBE_KUBECONFIG_H_
#define KMESH_KUBE_KUBECONFIG_H_

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "kmesh/crypto/secret_bytes.h"
#include "kmesh/kube/exec_credential.h"
#include "kmesh/kube/proxy_config.h"

namespace kmesh::kube {

// Whom requests act as (kubectl --as ...; Impersonate-* headers).
struct Impersonation {
  std::string user;  // "" = no impersonation.
  std::string uid;
  std::vector<std::string> groups;
  std::map<std::string, std::vector<std::string>> extra;
};

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
  // The user's exec credential plugin (nullptr: none); shared by clones,
  // so that they share its cached credential.
  std::shared_ptr<ExecCredentialProvider> exec_credentials;
  // Impersonation headers sent with every request.
  Impersonation impersonate;
  // The user explicitly allowed credentials (token, exec token) over an
  // http:// server URL (kmeshctl --insecure-allow-http-credentials);
  // otherwise RestKubeClient refuses (CheckCredentialsNotInClear).
  bool allow_credentials_over_http = false;
  // The cluster's proxy-url ("" = none: then proxy_environment decides;
  // see proxy_config.h). It may carry proxy credentials: never shown as is.
  std::string proxy_url;
  // HTTPS_PROXY/HTTP_PROXY/NO_PROXY as found by FindClusterAccess (empty
  // when the access was built otherwise, as in tests).
  ProxyEnvironment proxy_environment;
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
  // kubectl's --as, --as-group (repeatable), --as-uid: each one given
  // replaces what the kubeconfig says.
  std::string as_user;
  std::vector<std::string> as_groups;
  std::string as_uid;
  // --insecure-allow-http-credentials.
  bool allow_credentials_over_http = false;
  // The proxy variables (ProxyEnvironment::FromProcess() in FromProcess);
  // copied into the ClusterAccess found.
  ProxyEnvironment proxy_environment;

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

// Loads the merge of several kubeconfig files (a $KUBECONFIG list) for
// `context`, by client-go's rules (see above); NotFound when none exists.
absl::StatusOr<ClusterAccess> LoadKubeconfigFiles(
    const std::vector<std::string>& paths, const std::string& context);

// Parses kubeconfig YAML text; relative file paths are resolved against
// `base_dir`, and `display_path` names the file in messages.
absl::StatusOr<ClusterAccess> ParseKubeconfig(absl::string_view yaml,
                                              const std::string& base_dir,
                                              const std::string& display_path,
                                              const std::string& context);

// OK unless `access` would send credentials (a bearer token, a token file or
// an exec plugin) to an http:// server without allow_credentials_over_http.
absl::Status CheckCredentialsNotInClear(const ClusterAccess& access);

// `access` with the exec plugin's client certificate and key when it returns
// some (the plugin runs now, for an https:// server; the TLS context is made
// with them and they are not rotated later: a short-lived client such as
// kmeshctl needs no more); otherwise a copy of `access`.
absl::StatusOr<ClusterAccess> WithExecClientCertificate(
    const ClusterAccess& access);

// In-cluster access from the service-account mount under `root`.
absl::StatusOr<ClusterAccess> LoadInClusterAccess(
    const std::string& service_host, const std::string& service_port,
    const std::string& root);

}  // namespace kmesh::kube

#endif  // KMESH_KUBE_KUBECONFIG_H_
