// The pieces of the API server's pod proxy subresource
// (GET /api/v1/namespaces/{ns}/pods/{id}/proxy/{path}) that request_handler
// assembles, each as Kubernetes does it: the id's "name", "name:port" or
// "scheme:name:port" forms (SplitSchemeNamePort, apimachinery
// util/net/port_split.go); which pod IPs may be dialled (ResourceLocation in
// pkg/registry/core/pod/strategy.go: only global unicast ones); the proxied
// path cleaned as path.Join does and escaped as Go's url.URL escapes a path;
// and one HTTP/1.1 exchange with the pod within a deadline, whose failures
// are worded as Go's dialer and HTTP client word them, since the real server
// answers them with 503 "error trying to reach service: <that text>".
#ifndef SIM_KUBE_POD_PROXY_H_
#define SIM_KUBE_POD_PROXY_H_

#include <chrono>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"

namespace kmesh::sim::kube {

struct PodProxyOptions {
  // One exchange with a pod (connect, request, response) must finish within
  // this, so a dead daemon makes the request fail with 503, not hang. The
  // real server's dialer gives up after 30 s.
  std::chrono::milliseconds timeout{5000};
  // The real server refuses to proxy to a pod IP that is not global unicast
  // (400 "address not allowed"), and 127.0.0.1 is not. Pods of a simulated
  // cluster all listen on loopback, so tests that proxy to them set this;
  // with it, loopback addresses (only) are allowed as well.
  bool allow_loopback_pod_ips = false;
};

struct SchemeNamePort {
  std::string scheme;  // "", "http" or "https".
  std::string name;
  std::string port;  // As given; may be empty or not numeric.
};

// "name", "name:port" or "scheme:name:port"; false when the name is empty,
// there are more parts, or the scheme is not http or https.
bool SplitSchemeNamePort(const std::string& id, SchemeNamePort* out);

// Go's net.ParseIP(...).IsGlobalUnicast() (IPv4 octets may have leading
// zeros, as netutils.ParseIPSloppy allows); false for what does not parse.
bool IsGlobalUnicastIp(const std::string& ip);
bool IsLoopbackIp(const std::string& ip);

// path.Clean of a relative path (what path.Join("", p) returns), with a
// trailing slash kept as net.JoinPreservingTrailingSlash keeps it.
std::string CleanProxyPath(const std::string& path);

// Percent-encodes `path` as Go's url.URL.EscapedPath() does for a path
// without a RawPath: unreserved characters and $&+,/:;=@ stay.
std::string EscapeUrlPath(const std::string& path);

struct PodHttpRequest {
  std::string method;
  std::string target;  // Escaped path and query.
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
};

struct PodHttpResponse {
  int code = 0;
  // Without hop-by-hop headers and Content-Length.
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
};

// One exchange with `host`:`port` (an IP address and a decimal port) over
// plain HTTP/1.1. The error is Unavailable with Go's wording of the failure,
// e.g. "dial tcp 127.0.0.1:9: connect: connection refused".
absl::StatusOr<PodHttpResponse> ExchangeWithPod(
    const std::string& host, const std::string& port,
    const PodHttpRequest& request, std::chrono::milliseconds timeout);

}  // namespace kmesh::sim::kube

#endif  // SIM_KUBE_POD_PROXY_H_
