// ServerUrl: the address of a Kubernetes API server as a kubeconfig gives it
// ("https://10.0.0.1:6443", "http://[fd00::1]/k8s/clusters/c1"), split into
// scheme, host, port (443 or 80 when absent) and a path prefix that every
// request path is appended to. Parsing fails with InvalidArgument, quoting
// the URL, on a scheme other than https:// or http://, a missing host, an
// unclosed IPv6 bracket or a port outside 1-65535.
#ifndef KMESH_KUBE_SERVER_URL_H_
#define KMESH_KUBE_SERVER_URL_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace kmesh::kube {

struct ServerUrl {
  bool tls = true;
  std::string host;  // Without IPv6 brackets.
  uint16_t port = 443;
  std::string path_prefix;  // "" or "/prefix" (no trailing slash).
};

absl::StatusOr<ServerUrl> ParseServerUrl(absl::string_view url);

// The Host header for requests to `url`: the host (bracketed when IPv6),
// with the port unless it is the scheme's default.
std::string HostHeader(const ServerUrl& url);

}  // namespace kmesh::kube

#endif  // KMESH_KUBE_SERVER_URL_H_
