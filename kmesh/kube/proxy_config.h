// Proxy selection for connections to the API server, as kubectl (client-go
// over Go's net/http) chooses: a cluster's `proxy-url` in the kubeconfig is
// always used when set (client-go's http.ProxyURL: no NO_PROXY, no loopback
// exemption); otherwise the environment decides as Go's
// golang.org/x/net/http/httpproxy does: HTTPS_PROXY for https:// servers,
// HTTP_PROXY for http:// servers (the upper-case name wins unless empty),
// a value without a scheme meaning http://, and NO_PROXY exempting "*",
// domains and their subdomains ("example.com", ".example.com",
// "*.example.com", optionally with ":port"), IP addresses (optionally with a
// port) and CIDRs; "localhost" and loopback addresses are never proxied.
// http:// proxies are used with HTTP CONNECT and socks5:// ones with a SOCKS5
// CONNECT (the proxy resolves the server's name in both; see
// http_transport.h); https:// proxies (TLS to the proxy), which Go also
// supports, are refused with an error naming where the URL came from.
// Proxy credentials (userinfo in the URL) become a Proxy-Authorization:
// Basic value or SOCKS5 username/password, held in SecretBytes; messages
// show the proxy as scheme://host:port, never its credentials.
#ifndef KMESH_KUBE_PROXY_CONFIG_H_
#define KMESH_KUBE_PROXY_CONFIG_H_

#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "kmesh/crypto/secret_bytes.h"

namespace kmesh::kube {

// The proxy variables of an environment, read as httpproxy.FromEnvironment
// reads them. The *_var fields name the variable a value came from, for
// messages.
struct ProxyEnvironment {
  std::string http_proxy;
  std::string https_proxy;
  std::string no_proxy;
  std::string http_proxy_var = "HTTP_PROXY";
  std::string https_proxy_var = "HTTPS_PROXY";

  // HTTP_PROXY/http_proxy, HTTPS_PROXY/https_proxy and NO_PROXY/no_proxy of
  // this process (upper case first; an empty value counts as unset).
  static ProxyEnvironment FromProcess();
};

// A proxy to tunnel through.
struct ProxyServer {
  enum class Protocol {
    kHttpConnect,  // http://: HTTP CONNECT.
    kSocks5,       // socks5:// (socks5h:// in the environment): RFC 1928.
  };
  Protocol protocol = Protocol::kHttpConnect;
  std::string host;    // Without IPv6 brackets.
  uint16_t port = 80;  // Go's defaults: 80 for http, 1080 for socks5.
  // "http://127.0.0.1:3128": for messages, never with credentials.
  std::string display;
  // HTTP: the Proxy-Authorization header value ("Basic ..."), empty without
  // credentials.
  crypto::SecretBytes authorization;
  // SOCKS5: username/password authentication (RFC 1929) when the URL has a
  // user name.
  bool socks_credentials = false;
  crypto::SecretBytes socks_username;
  crypto::SecretBytes socks_password;
};

// Parses a proxy URL. `require_scheme` is true for a kubeconfig's
// proxy-url (client-go requires http, https or socks5) and false for an
// environment value, where "host:port" means http://host:port. `origin`
// names where the URL came from for messages ("$HTTPS_PROXY", "kubeconfig
// X (context c): proxy-url"). The port defaults to the scheme's, as in Go
// (80 for http).
absl::StatusOr<ProxyServer> ParseProxyUrl(absl::string_view url,
                                          bool require_scheme,
                                          absl::string_view origin);

// Whether a request to host:port goes through an environment proxy given
// NO_PROXY `no_proxy`: false for "localhost", loopback IPs and hosts the
// list exempts (httpproxy's useProxy). `host` is without IPv6 brackets.
bool UseEnvironmentProxy(absl::string_view no_proxy, absl::string_view host,
                         uint16_t port);

// The proxy for a server (`tls` = https://) at host:port: `proxy_url` when
// not empty, else the environment's; nullopt for a direct connection.
// `source` names the kubeconfig for messages about proxy_url.
absl::StatusOr<std::optional<ProxyServer>> SelectProxy(
    bool tls, absl::string_view host, uint16_t port,
    absl::string_view proxy_url, const ProxyEnvironment& environment,
    absl::string_view source);

}  // namespace kmesh::kube

#endif  // KMESH_KUBE_PROXY_CONFIG_H_
