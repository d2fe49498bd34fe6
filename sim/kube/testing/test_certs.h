// Throwaway X.509 certificates for TLS tests, made in-process with
// BoringSSL: a CA, a server certificate it issued for 127.0.0.1, localhost
// and kube.test (a name only a test proxy resolves; subjectAltName IP and
// DNS, serverAuth), and a client
// certificate (clientAuth, CN kmesh-test, O system:masters), all ECDSA P-256
// and valid for a day from an hour ago. Everything is PEM.
#ifndef SIM_KUBE_TESTING_TEST_CERTS_H_
#define SIM_KUBE_TESTING_TEST_CERTS_H_

#include <string>

#include "absl/status/statusor.h"

namespace kmesh::sim::kube {

struct TestCertificates {
  std::string ca_cert_pem;
  std::string ca_key_pem;
  std::string server_cert_pem;
  std::string server_key_pem;
  std::string client_cert_pem;
  std::string client_key_pem;
};

// `ca_name` is the CA's common name; different names give unrelated CAs
// (for tests that a wrong CA is refused).
absl::StatusOr<TestCertificates> GenerateTestCertificates(
    const std::string& ca_name = "kmesh-sim-test-ca");

}  // namespace kmesh::sim::kube

#endif  // SIM_KUBE_TESTING_TEST_CERTS_H_
