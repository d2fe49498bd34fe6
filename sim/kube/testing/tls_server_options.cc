#include "sim/kube/testing/tls_server_options.h"

namespace kmesh::sim::kube {

ApiServer::Options TlsServerOptions(const TestCertificates& certs,
                                    bool require_client_certificate) {
  ApiServer::Options options;
  options.tls_cert_pem = certs.server_cert_pem;
  options.tls_key_pem = certs.server_key_pem;
  options.tls_ca_pem = certs.ca_cert_pem;
  if (require_client_certificate) options.client_ca_pem = certs.ca_cert_pem;
  return options;
}

}  // namespace kmesh::sim::kube
