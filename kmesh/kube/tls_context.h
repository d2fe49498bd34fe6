// TlsContext: the client side of TLS to one API server (BoringSSL), as its
// cluster access describes it: TLS 1.2 or later; the server's certificate
// verified against the kubeconfig's certificate authority (the system's
// trust store when it names none) and against the server's name --
// tls-server-name or the URL's host, a SAN IP address for an IP literal --
// unless the kubeconfig says insecure-skip-tls-verify; the client
// certificate and key presented when there are some. Creation fails with
// InvalidArgument, naming the kubeconfig, on an unusable CA, certificate or
// key, and never quotes the key.
#ifndef KMESH_KUBE_TLS_CONTEXT_H_
#define KMESH_KUBE_TLS_CONTEXT_H_

#include <openssl/ssl.h>

#include <boost/asio/ssl/context.hpp>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "kmesh/kube/kubeconfig.h"

namespace kmesh::kube {

class TlsContext {
 public:
  // For the server `access` names, whose URL's host is `url_host`.
  static absl::StatusOr<std::unique_ptr<TlsContext>> Create(
      const ClusterAccess& access, const std::string& url_host);

  // What connections are made with.
  boost::asio::ssl::context& context() { return *context_; }
  // Whether the server's certificate is verified (no
  // insecure-skip-tls-verify).
  bool verify_peer() const { return verify_peer_; }

  // Names the server on a new connection's TLS session before its
  // handshake: SNI for a DNS name and, when verifying, the name or address
  // its certificate must carry. False when that name cannot be set: the
  // handshake must not go on, or any certificate from the CA would pass.
  bool NameServer(SSL* ssl) const;

 private:
  TlsContext(std::unique_ptr<boost::asio::ssl::context> context,
             std::string verify_name, bool verify_peer);

  const std::unique_ptr<boost::asio::ssl::context> context_;
  const std::string verify_name_;
  const bool verify_peer_;
};

}  // namespace kmesh::kube

#endif  // KMESH_KUBE_TLS_CONTEXT_H_
