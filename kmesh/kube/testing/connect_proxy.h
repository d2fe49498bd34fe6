// A forward proxy speaking HTTP CONNECT, and SOCKS5 (RFC 1928/1929, told
// apart by the first byte), on 127.0.0.1, for tests of clients
// that tunnel through one (proxy_config.h, http_transport.h). It records
// every CONNECT it is sent; it resolves the names a test gives it (so a
// server name only the proxy knows, "kube.test", can be reached) and IP
// literals, answering 502 for anything else; it can refuse every CONNECT
// with a given status (403, 407) or require a Proxy-Authorization value
// (407 without it). After its 200 it relays bytes both ways until either
// side closes. One thread per connection; Stop() closes everything.
// Test-only.
#ifndef KMESH_KUBE_TESTING_CONNECT_PROXY_H_
#define KMESH_KUBE_TESTING_CONNECT_PROXY_H_

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace kmesh::kube::testing {

struct ConnectProxyOptions {
  // Host names the proxy resolves: "kube.test" -> "127.0.0.1".
  std::map<std::string, std::string> hosts;
  // Non-zero: every CONNECT is answered with this status and closed.
  int refuse_status = 0;
  // Non-empty: the Proxy-Authorization value required (else 407).
  std::string required_authorization;
  // SOCKS5: non-empty = username/password authentication required.
  std::string socks_username;
  std::string socks_password;
};

struct ConnectRecord {
  // "CONNECT" (or whatever the client sent), or "SOCKS5".
  std::string method;
  std::string target;  // "kube.test:6443"
  std::string host_header;
  // "" when absent; for SOCKS5 "user:password" as received.
  std::string proxy_authorization;
  // What the proxy answered: the HTTP status; for SOCKS5 200 on success,
  // else the reply code (0xff: no acceptable method, 0x101: bad password).
  int status = 0;
};

class ConnectProxy {
 public:
  static std::unique_ptr<ConnectProxy> Start(ConnectProxyOptions options = {});
  ~ConnectProxy();

  uint16_t port() const;
  // "http://127.0.0.1:PORT".
  std::string url() const;
  std::vector<ConnectRecord> connects() const;
  void Stop();

  class Impl;

 private:
  explicit ConnectProxy(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace kmesh::kube::testing

#endif  // KMESH_KUBE_TESTING_CONNECT_PROXY_H_
