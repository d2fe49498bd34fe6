// HttpEndpoint: the daemon's small read-only HTTP/1.1 server (plain HTTP, no
// TLS) for its status pages and Prometheus metrics. It serves GET and HEAD
// on exact paths (the query string is ignored for routing); HEAD answers the
// same headers, Content-Length included, without the body. Anything else is
// answered as a real client expects: another method 405 with
// `Allow: GET, HEAD`, an unknown path 404, request headers over 16 KiB 431,
// a handler that throws 500. Keep-alive and `Connection: close` are honoured.
// One thread runs every connection on Boost.Asio: a client that is idle or
// slow (a request, or reading a response, that takes longer than
// idle_timeout) is disconnected, and at most max_connections are served at
// once (more get 503 and are closed), so no client can pin the server.
// Handlers run on that thread, one at a time, and should be quick.
//
//   HttpEndpointOptions options;
//   options.address = "127.0.0.1:15200";  // Port 0: ephemeral; see port().
//   options.routes["/healthz"] = [] { return HttpResponse{200, "", "ok\n"}; };
//   auto endpoint = HttpEndpoint::Start(std::move(options));
//   (*endpoint)->Stop();                   // Also done by the destructor.
#ifndef KMESH_TELEMETRY_HTTP_ENDPOINT_H_
#define KMESH_TELEMETRY_HTTP_ENDPOINT_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace kmesh::telemetry {

// What a handler answers. An empty content_type is sent as
// "text/plain; charset=utf-8".
struct HttpResponse {
  int code = 200;
  std::string content_type;
  std::string body;
};

// Answers a GET (or HEAD) of its path. Runs on the endpoint's thread; an
// exception it throws becomes a 500.
using HttpHandler = std::function<HttpResponse()>;

// Request headers (with the request line) larger than this get 431.
inline constexpr size_t kMaxRequestHeaderBytes = 16 * 1024;

struct HttpEndpointOptions {
  // Where to listen, as ParseListenAddress accepts it: "127.0.0.1:15200",
  // "[::1]:0", "10.0.0.5:15200", ":15200" (every address, IPv6 and IPv4).
  std::string address;
  // Exact paths ("/metrics") and what answers them.
  std::map<std::string, HttpHandler> routes;
  // A connection is closed when a request (from its first byte, or from the
  // end of the previous response) or the writing of a response takes longer.
  absl::Duration idle_timeout = absl::Seconds(30);
  // Connections served at once; those beyond get 503 and are closed.
  int max_connections = 16;
};

// A listen address. An empty host means every address.
struct ListenAddress {
  std::string host;  // An IPv4 or IPv6 literal, without brackets; or empty.
  uint16_t port = 0;
};

// Parses "host:port", "[ipv6]:port" or ":port"; the host must be an IP
// address (no name lookups). Errors are InvalidArgument and start with
// "<flag_name>: ". The caller handles values such as "off".
absl::StatusOr<ListenAddress> ParseListenAddress(
    absl::string_view text, absl::string_view flag_name = "--status-address");

class HttpEndpoint {
 public:
  // Binds, listens and starts serving. InvalidArgument for a bad address or
  // option, Unavailable when the address cannot be bound (in use, not
  // local, no permission).
  static absl::StatusOr<std::unique_ptr<HttpEndpoint>> Start(
      HttpEndpointOptions options);

  HttpEndpoint(const HttpEndpoint&) = delete;
  HttpEndpoint& operator=(const HttpEndpoint&) = delete;
  ~HttpEndpoint();  // Stops.

  // The bound port (the ephemeral one when the address gave port 0).
  uint16_t port() const;

  // Stops listening, closes every connection (idle ones at once, a request
  // in progress once its handler returns) and joins the thread. Idempotent;
  // must not be called from a handler.
  void Stop();

 private:
  class Impl;
  explicit HttpEndpoint(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace kmesh::telemetry

#endif  // KMESH_TELEMETRY_HTTP_ENDPOINT_H_
