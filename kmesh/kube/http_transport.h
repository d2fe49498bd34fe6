// HttpTransport: HTTP/1.1 to one Kubernetes API server, over TCP or TLS,
// with Boost.Beast. It assembles the pieces beside it: the server's URL
// (server_url.h), TLS as the kubeconfig says (tls_context.h), the bearer
// token (bearer_token.h), and connections on the process's one I/O thread
// (io_thread.h, connection.h). Each request uses a fresh connection (no
// keep-alive pool: enough for the product's request rate) within a connect
// and a request deadline; the request text, which may hold the token, is
// wiped after sending. Errors name the server: "cannot reach the API server
// at https://10.0.0.1:6443: Connection refused". When proxy_config.h selects
// a proxy (the cluster's proxy-url, else HTTPS_PROXY/HTTP_PROXY minus
// NO_PROXY), every connection, watch streams included, is an HTTP CONNECT
// (http:// proxy) or SOCKS5 CONNECT (socks5://) tunnel through it, within
// the connect timeout: the proxy resolves the server's name, and TLS (SNI,
// verification) runs to the server inside the tunnel. Proxy credentials
// are sent only to the proxy, and never appear in messages.
#ifndef KMESH_KUBE_HTTP_TRANSPORT_H_
#define KMESH_KUBE_HTTP_TRANSPORT_H_

#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "kmesh/kube/kubeconfig.h"

namespace kmesh::kube {

// The longest timeout a transport uses: larger ones (up to
// milliseconds::max(), e.g. from `--request-timeout=2562047h`) are clamped
// to it, so that adding one to a clock's time never overflows. A day is
// "forever" for one request; kmeshctl's "0 = no timeout" is a day too.
inline constexpr std::chrono::milliseconds kMaxTimeout{24 * 3600 * 1000};

// `timeout` within [0, kMaxTimeout].
constexpr std::chrono::milliseconds ClampTimeout(
    std::chrono::milliseconds timeout) {
  return timeout < std::chrono::milliseconds(0) ? std::chrono::milliseconds(0)
         : timeout > kMaxTimeout                ? kMaxTimeout
                                                : timeout;
}

// Timeouts are clamped with ClampTimeout().
struct HttpTransportOptions {
  std::chrono::milliseconds connect_timeout{10000};  // TCP + TLS handshake.
  std::chrono::milliseconds request_timeout{30000};  // Send + full response.
  std::string user_agent = "kmesh-ipsec";
  // A token from a file (ClusterAccess::bearer_token_file) is re-read when
  // it is older than this; kubelet rotates projected tokens.
  std::chrono::milliseconds token_file_refresh{60000};
};

struct HttpRequest {
  std::string method;  // "GET", "POST", ...
  // Path and query, without the server's path prefix: "/api/v1/nodes?x=y".
  std::string target;
  std::string body;
  std::string content_type;  // Sent when there is a body.
};

struct HttpResponse {
  int status = 0;
  std::string body;
  std::string retry_after;   // The Retry-After header, if any.
  std::string content_type;  // The Content-Type header, if any.
};

// A response whose body is read as it arrives (watch streams). The body is
// read either by calling ReadSome() or, without a thread of the caller's, by
// StartReading(); not both.
class HttpResponseStream {
 public:
  // Called on the transport's I/O thread with each piece of the body (never
  // empty), then once with how it ended: "" when the body ended normally,
  // Unavailable when the connection broke, Cancelled after Cancel(),
  // DeadlineExceeded after `idle_timeout` without data. Returning false
  // stops the reading (no further call). Must not block. An exception it
  // throws ends the stream: its last call is then Internal (an exception
  // from that call is dropped), and the I/O thread serves the others.
  using DataHandler = std::function<bool(absl::StatusOr<std::string>)>;

  // Cancels the stream and waits for a handler call in progress to return.
  virtual ~HttpResponseStream() = default;
  virtual int status() const = 0;
  // Blocks until body bytes arrive. Returns them (never empty), "" when the
  // body ended normally, Unavailable when the connection broke, Cancelled
  // after Cancel(), DeadlineExceeded after `idle_timeout` without data.
  virtual absl::StatusOr<std::string> ReadSome() = 0;
  // Reads the rest of the body on the I/O thread, handing it to `handler`.
  // Call once; again only after the handler returned false with the body
  // unfinished (a consumer pausing for back-pressure), to resume reading.
  virtual void StartReading(DataHandler handler) = 0;
  // Makes a blocked or later ReadSome() return Cancelled, and ends
  // StartReading() with Cancelled. Thread-safe.
  virtual void Cancel() = 0;
};

class HttpTransport {
 public:
  // Fails on an unusable server URL, CA or client certificate/key.
  static absl::StatusOr<std::unique_ptr<HttpTransport>> Create(
      const ClusterAccess& access, HttpTransportOptions options = {});
  virtual ~HttpTransport() = default;

  // Sends `request` and reads the whole response. Thread-safe. Transport
  // failures are Unavailable (or FailedPrecondition when the server's TLS
  // certificate is refused); when the request certainly did not reach the
  // server (no connection), RequestNotSent(status) is true.
  virtual absl::StatusOr<HttpResponse> RoundTrip(
      const HttpRequest& request) = 0;

  // Sends `request`, waits for the response header (request timeout) and
  // returns the body as a stream. `idle_timeout` bounds each ReadSome (zero:
  // no bound).
  virtual absl::StatusOr<std::unique_ptr<HttpResponseStream>> OpenStream(
      const HttpRequest& request, std::chrono::milliseconds idle_timeout) = 0;

  // The server URL as configured, for messages.
  virtual const std::string& server_url() const = 0;
};

// True when `status` is a transport failure that happened before any byte
// of the request was sent (so even a non-idempotent request may be retried).
bool RequestNotSent(const absl::Status& status);

}  // namespace kmesh::kube

#endif  // KMESH_KUBE_HTTP_TRANSPORT_H_
