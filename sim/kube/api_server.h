// ApiServer: the simulated Kubernetes API server. It serves an ObjectStore
// (every type of resource_types.h and any a stored CRD defines) over
// HTTP/1.1 or HTTPS on loopback with the paths, verbs, status bodies, watch
// streams and discovery documents of the real one (request_handler.h), so
// the real kubectl, kmeshctl and the daemon's REST client talk to it
// unchanged. A thread serves each connection, with keep-alive. The pod proxy
// subresource relays requests to pods at their status.podIP (pod_proxy.h).
// Tests can inject faults (failing requests, dropped watches, delays,
// 401/403) and read the request log.
//
//   auto server = ApiServer::Start({});   // 127.0.0.1, ephemeral port.
//   (*server)->WriteKubeconfig(dir + "/kubeconfig");
//   (*server)->Stop();                    // Also done by the destructor.
#ifndef SIM_KUBE_API_SERVER_H_
#define SIM_KUBE_API_SERVER_H_

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "sim/kube/object_store.h"
#include "sim/kube/pod_proxy.h"

namespace kmesh::sim::kube {

class ApiServer {
 public:
  struct Options {
    std::string address = "127.0.0.1";
    uint16_t port = 0;  // 0: an ephemeral port; see port().
    // PEM. When both are set the server speaks HTTPS only.
    std::string tls_cert_pem;
    std::string tls_key_pem;
    // PEM of the CA that issued tls_cert_pem, written into kubeconfigs as
    // certificate-authority-data; empty: the certificate itself.
    std::string tls_ca_pem;
    // PEM. When set (with TLS), clients must present a certificate it
    // issued (mutual TLS), as an API server with --client-ca-file does.
    std::string client_ca_pem;
    ObjectStore::Options store;
    // A watch without timeoutSeconds ends after this long.
    std::chrono::seconds default_watch_timeout{1800};
    // How often a watch with allowWatchBookmarks=true gets a BOOKMARK (the
    // real cacher: every minute, and 2 s before the watch times out).
    std::chrono::milliseconds bookmark_interval{60000};
    // pods/proxy: its timeout, and whether loopback pod IPs may be reached
    // (the real server refuses them; simulated pods listen on 127.0.0.1).
    PodProxyOptions pod_proxy;
  };

  // What a test may read about each request served.
  struct RequestRecord {
    std::string method;  // "GET", "POST", ...
    std::string path;    // "/api/v1/namespaces/kmesh-system/secrets"
    std::string query;   // "watch=1&resourceVersion=5", without '?'.
    int code = 0;        // The HTTP status sent.
    // The Impersonate-* headers received (name as sent, value), in order.
    std::vector<std::pair<std::string, std::string>> impersonation;
  };

  // Which requests a fault applies to; empty fields match everything.
  struct RequestFilter {
    std::string method;
    std::string path_prefix;
  };

  // Credentials a kubeconfig carries besides the server and its CA.
  struct KubeconfigUser {
    std::string token;
    std::string client_cert_pem;
    std::string client_key_pem;
  };

  // Binds, listens and serves until Stop().
  static absl::StatusOr<std::unique_ptr<ApiServer>> Start(Options options);
  ~ApiServer();
  ApiServer(const ApiServer&) = delete;
  ApiServer& operator=(const ApiServer&) = delete;

  // Closes the listener and every connection (open watches end) and waits
  // for the serving threads. Idempotent.
  void Stop();

  // "http://127.0.0.1:PORT" or "https://127.0.0.1:PORT".
  std::string url() const;
  uint16_t port() const;
  // The objects served; tests may read and change them directly.
  ObjectStore& store();

  // Writes a kubeconfig whose current context points at this server (with
  // certificate-authority-data under TLS, and the bearer token set by
  // RequireBearerToken, if any).
  absl::Status WriteKubeconfig(const std::string& path) const;
  absl::Status WriteKubeconfig(const std::string& path,
                               const KubeconfigUser& user) const;

  // Fault injection. The next `count` requests matching `filter` fail with
  // `http_code` and a Status body (429 also carries Retry-After: 1).
  void FailNext(int count, int http_code, RequestFilter filter = {});
  // Closes every open watch stream at once, mid-stream, without the final
  // chunk (as a dying connection or API server would).
  void DropWatches();
  // Each later response waits this long first (0: none); for `lasting`
  // only, when given (the fault ends on time whatever the caller is doing).
  void SetResponseDelay(std::chrono::milliseconds delay,
                        std::optional<std::chrono::milliseconds> lasting = {});
  // The API server process restarts: every connection is cut at once (open
  // watches end without their final chunk, keep-alive connections close),
  // connections made during the next `down_for` are closed unanswered (as
  // the port is refused while the new process starts), and the watch
  // history is compacted, as the new process's watch cache starts at the
  // current revision: a watch resuming from an older resourceVersion gets
  // 410 Gone and its client lists again. The objects stay (they are etcd's).
  void SimulateRestart(std::chrono::milliseconds down_for);
  // Requests without "Authorization: Bearer <token>" get 401 ("" = off).
  // kubectl (client-go's kubeconfig loader) sends credentials only over
  // HTTPS, so test kubectl with a token against a TLS server.
  void RequireBearerToken(const std::string& token);
  // `verb` (get, list, watch, create, update, patch, delete,
  // deletecollection) on `resource` gets 403 Forbidden, as RBAC would say
  // it. `resource` is named as an RBAC rule names it: "secrets", or with a
  // subresource "pods/proxy" (which a rule on "pods" does not cover; a GET
  // or HEAD through the proxy is the verb "get").
  void Forbid(const std::string& verb, const std::string& resource);
  // Undoes FailNext, SetResponseDelay, RequireBearerToken and Forbid.
  void ClearFaults();

  std::vector<RequestRecord> RequestLog() const;
  void ClearRequestLog();
  // How many watch streams are open now.
  int OpenWatches() const;
  // Waits until at least `count` watch streams are open; false on timeout.
  // Lets a test know a client's watch is established before it writes.
  bool WaitForOpenWatches(int count, std::chrono::milliseconds timeout) const;

 private:
  class Impl;
  explicit ApiServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace kmesh::sim::kube

#endif  // SIM_KUBE_API_SERVER_H_
