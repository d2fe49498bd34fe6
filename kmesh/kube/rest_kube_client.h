// RestKubeClient: KubeClient over the Kubernetes REST API (a real API server
// or the simulated one), through an HttpTransport. Paths follow the API's
// layout (ResourcePath); objects travel as JSON; a non-2xx answer is read as
// a metav1.Status and mapped with StatusFromHttp, naming the server. Reads
// are retried on Unavailable outcomes (transport failures, 5xx, 429 with its
// Retry-After) with bounded, jittered exponential backoff (kmesh/base/
// backoff.h); writes only when the server certainly did not act on them
// (nothing was sent, 429, 503), since callers do read-modify-write with
// resourceVersion anyway. Lists are paged when ListOptions::limit is set
// (the caller follows ObjectList::continue_token). A watch's body is split
// into events on the transport's I/O thread, each line decoded once, and
// queued for Next() in a bounded queue (a full queue pauses reading from the
// socket: back-pressure, nothing dropped). ProxyGet
// is tried once, never retried (a pod that is down costs one dial timeout;
// the caller decides what to do); the pod's own answers (any status code) are
// results, not errors, and are never retried: only a metav1.Status body, which
// the API server sends and a pod's daemon does not, is taken as the API
// server's failure.
#ifndef KMESH_KUBE_REST_KUBE_CLIENT_H_
#define KMESH_KUBE_REST_KUBE_CLIENT_H_

#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "kmesh/base/backoff.h"
#include "kmesh/kube/http_transport.h"
#include "kmesh/kube/kube_client.h"
#include "kmesh/kube/kubeconfig.h"

namespace kmesh::kube {

struct RestKubeClientOptions {
  HttpTransportOptions transport;
  // Attempts in total for a retryable request (1 = no retry).
  int max_attempts = 4;
  // Backoff before retry n (n = 1, 2, ...): d = base * 2^(n-1), at most max,
  // plus a random [0, retry_jitter * d) so that clients failing together do
  // not retry together. A server's Retry-After is used as it is.
  std::chrono::milliseconds retry_base_delay{200};
  std::chrono::milliseconds retry_max_delay{5000};
  double retry_jitter = 1.0;
  // The jitter's random source (uniform in [0, 1)); nullptr = random.
  Backoff::Uniform retry_uniform;
  // How to wait between attempts; tests inject a recorder. nullptr = sleep.
  std::function<void(std::chrono::milliseconds)> sleep;
  // Longest watch event line accepted (Kubernetes objects are < 1.5 MiB).
  size_t max_watch_line = 16 << 20;
  // Decoded watch events queued per stream before reading from the socket
  // pauses until the consumer catches up.
  size_t max_queued_events = 1024;
};

class RestKubeClient : public KubeClient {
 public:
  // A client for the cluster `access` describes (see kubeconfig.h:
  // FindClusterAccess). Fails on an unusable URL, CA or client key.
  static absl::StatusOr<std::unique_ptr<RestKubeClient>> ForCluster(
      const ClusterAccess& access, RestKubeClientOptions options = {});
  // Over a given transport (tests).
  RestKubeClient(std::unique_ptr<HttpTransport> transport,
                 RestKubeClientOptions options);
  ~RestKubeClient() override;

  absl::StatusOr<std::string> Get(const ResourceKind& kind,
                                  const std::string& ns,
                                  const std::string& name) override;
  absl::StatusOr<ObjectList> List(const ResourceKind& kind,
                                  const std::string& ns,
                                  const ListOptions& options) override;
  absl::StatusOr<std::string> Create(const ResourceKind& kind,
                                     const std::string& ns,
                                     const std::string& object) override;
  absl::StatusOr<std::string> Update(const ResourceKind& kind,
                                     const std::string& ns,
                                     const std::string& name,
                                     const std::string& object) override;
  absl::Status Delete(const ResourceKind& kind, const std::string& ns,
                      const std::string& name) override;
  absl::StatusOr<std::unique_ptr<WatchStream>> Watch(
      const ResourceKind& kind, const std::string& ns,
      const ListOptions& options) override;
  absl::StatusOr<ProxyResponse> ProxyGet(
      const std::string& ns, const std::string& pod, int port,
      const std::string& path_and_query) override;

  const std::string& server_url() const { return transport_->server_url(); }

 private:
  enum class Idempotency { kRead, kWrite };
  // Answers for which `result` is true are returned as they are, whatever
  // their status (nullptr: only 2xx ones).
  using ResultFilter = bool (*)(const HttpResponse&);
  absl::StatusOr<HttpResponse> Call(const HttpRequest& request,
                                    Idempotency idempotency,
                                    ResultFilter result = nullptr);
  absl::Status ErrorFromResponse(const HttpRequest& request,
                                 const HttpResponse& response) const;
  // The transport's RoundTrip / OpenStream; with an exec credential plugin,
  // a 401 makes the plugin run again and the request is sent once more.
  absl::StatusOr<HttpResponse> RoundTripAuthenticated(
      const HttpRequest& request);
  absl::StatusOr<std::unique_ptr<HttpResponseStream>> OpenStreamAuthenticated(
      const HttpRequest& request, std::chrono::milliseconds idle_timeout);

  std::unique_ptr<HttpTransport> transport_;
  RestKubeClientOptions options_;
  // The cluster access's exec credential plugin (nullptr: none).
  std::shared_ptr<ExecCredentialProvider> exec_;
};

// The request path for `kind` ("" name = the collection); exposed for tests.
std::string ResourcePath(const ResourceKind& kind, const std::string& ns,
                         const std::string& name);
// Percent-encodes a query parameter value or a path segment.
std::string UrlEncode(const std::string& text);
// The request target of ProxyGet(ns, pod, port, path_and_query), or
// InvalidArgument; exposed for tests.
absl::StatusOr<std::string> PodProxyTarget(const std::string& ns,
                                           const std::string& pod, int port,
                                           const std::string& path_and_query);

}  // namespace kmesh::kube

#endif  // KMESH_KUBE_REST_KUBE_CLIENT_H_
