// HttpEndpoint: the daemon's small read-only HTTP/1.1 server (plain HTTP, no
// TLS) for its status pages and Prometheus metrics. It serves GET and HEAD
// on exact paths (the query string is ignored for routing); HEAD answers the
// same headers, Content-Length included, without the body. Anything else is
// answered as a real client expects: another method 405 with
// `Allow: GET, HEAD`, an unknown path 404, request headers over 16 KiB 431,
// a handler that throws 500. Keep-alive and `Connection: close` are honoured.
// One thread runs every connection on Boost.Asio: a client that is idle or
// slow is disconnected (a new connection whose first request has not fully
// arrived within first_request_timeout; a request after the previous
// response, or the reading of a response, that takes longer than
// idle_timeout), and at most max_connections are served at once: one more
// is answered 503 with `Retry-After: 1` and `Connection: close` at once,
// without waiting for its request. So silent connections hold a slot for a
// few seconds only, and no client can pin the server.
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
  // "[::1]:0", "10.0.0.5:15200", "[10.0.0.5]:15200", ":15200" (every
  // address, IPv6 and IPv4).
  std::string address;
  // Exact paths ("/metrics") and what answers them.
  std::map<std::string, HttpHandler> routes;
  // A connection is closed when a request (from its first byte, or from the
  // end of the previous response) or the writing of a response takes longer.
  absl::Duration idle_timeout = absl::Seconds(30);
  // A new connection is closed when its first request has not fully arrived
  // within this long (at most idle_timeout), so that connections that send
  // nothing cannot hold the max_connections slots for long.
  absl::Duration first_request_timeout = absl::Seconds(5);
  // Connections served at once; those beyond get 503 (Retry-After: 1) at
  // once and are closed.
  int max_connections = 16;
};

// A listen address. An empty host means every address.
struct ListenAddress {
  std::string host;  // An IPv4 or IPv6 literal, without brackets; or empty.
  uint16_t port = 0;
};

// Parses "host:port" (IPv4), "[ip]:port" or ":port"; the host must be an IP
// address (no name lookups, no IPv6 zone). In brackets it may be IPv6 or
// IPv4 ("[10.0.0.5]:15200"), so that one "[$(HOST_IP)]:15200" serves nodes
// of either family; IPv6 must be in brackets, and an IPv4-mapped IPv6
// address must be written as plain IPv4. Errors are InvalidArgument and
// start with "<flag_name>: ". The caller handles values such as "off".
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
