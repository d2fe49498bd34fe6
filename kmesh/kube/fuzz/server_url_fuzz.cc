// Fuzz target: URLs from a kubeconfig or the environment: the API server's
// (server_url.h: ParseServerUrl, then the Host header from it) and a
// proxy's (proxy_config.h: ParseProxyUrl, proxy-url / HTTPS_PROXY), and the
// NO_PROXY matcher over a host taken from the same input.
#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "kmesh/kube/proxy_config.h"
#include "kmesh/kube/server_url.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view url(reinterpret_cast<const char*>(data), size);
  absl::StatusOr<kmesh::kube::ServerUrl> server =
      kmesh::kube::ParseServerUrl(url);
  if (server.ok()) {
    const std::string host = kmesh::kube::HostHeader(*server);
    static_cast<void>(kmesh::kube::UseEnvironmentProxy(
        "localhost,.svc,10.0.0.0/8,fd00::/8", server->host, server->port));
    static_cast<void>(host.size());
  }
  const size_t split = url.find('\n');
  if (split != absl::string_view::npos) {
    static_cast<void>(kmesh::kube::UseEnvironmentProxy(
        url.substr(0, split), url.substr(split + 1), 443));
  }
  const auto required = kmesh::kube::ParseProxyUrl(url, true, "proxy-url");
  const auto environment =
      kmesh::kube::ParseProxyUrl(url, false, "$HTTPS_PROXY");
  static_cast<void>(required.ok() && environment.ok());
  return 0;
}
