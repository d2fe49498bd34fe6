// The options of a simulated API server that serves HTTPS with test
// certificates (test_certs.h): their server certificate and key, their CA
// as the one the kubeconfigs it writes trust, and, when asked, client
// certificates from that CA required.
#ifndef SIM_KUBE_TESTING_TLS_SERVER_OPTIONS_H_
#define SIM_KUBE_TESTING_TLS_SERVER_OPTIONS_H_

#include "sim/kube/api_server.h"
#include "sim/kube/testing/test_certs.h"

namespace kmesh::sim::kube {

ApiServer::Options TlsServerOptions(const TestCertificates& certs,
                                    bool require_client_certificate = false);

}  // namespace kmesh::sim::kube

#endif  // SIM_KUBE_TESTING_TLS_SERVER_OPTIONS_H_
