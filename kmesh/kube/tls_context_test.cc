#include "kmesh/kube/tls_context.h"

#include <openssl/ssl.h>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "sim/kube/test_certs.h"

namespace kmesh::kube {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

ClusterAccess AccessTo(const std::string& server) {
  ClusterAccess access;
  access.server = server;
  access.source = "test kubeconfig";
  return access;
}

// The server name a new connection's TLS session sends (SNI), or "".
std::string SniOf(TlsContext& tls) {
  bssl::UniquePtr<SSL> ssl(SSL_new(tls.context().native_handle()));
  EXPECT_TRUE(tls.NameServer(ssl.get()));
  const char* name = SSL_get_servername(ssl.get(), TLSEXT_NAMETYPE_host_name);
  return name ? name : "";
}

TEST(TlsContextTest, UnusableKeyOrCaIsRefusedAtCreation) {
  absl::StatusOr<sim::kube::TestCertificates> certs =
      sim::kube::GenerateTestCertificates("kube-test-ca");
  ASSERT_TRUE(certs.ok()) << certs.status();
  ClusterAccess access = AccessTo("https://127.0.0.1:1");
  access.certificate_authority_pem = "not a certificate";
  absl::StatusOr<std::unique_ptr<TlsContext>> tls =
      TlsContext::Create(access, "127.0.0.1");
  ASSERT_FALSE(tls.ok());
  EXPECT_THAT(tls.status().message(),
              HasSubstr("test kubeconfig: the certificate authority"));
  access.certificate_authority_pem = certs->ca_cert_pem;
  access.client_certificate_pem = certs->client_cert_pem;
  access.client_key_pem = crypto::SecretBytes::CopyFrom("SECRETKEYJUNK");
  tls = TlsContext::Create(access, "127.0.0.1");
  ASSERT_FALSE(tls.ok());
  EXPECT_THAT(tls.status().message(),
              ::testing::AllOf(HasSubstr("client key"),
                               Not(HasSubstr("SECRETKEYJUNK"))));
}

TEST(TlsContextTest, SendsTheServerNameOnlyForADnsName) {
  ClusterAccess access = AccessTo("https://kubernetes.default.svc");
  absl::StatusOr<std::unique_ptr<TlsContext>> by_name =
      TlsContext::Create(access, "kubernetes.default.svc");
  ASSERT_TRUE(by_name.ok()) << by_name.status();
  EXPECT_EQ(SniOf(**by_name), "kubernetes.default.svc");
  absl::StatusOr<std::unique_ptr<TlsContext>> by_address =
      TlsContext::Create(access, "10.0.0.1");
  ASSERT_TRUE(by_address.ok()) << by_address.status();
  EXPECT_EQ(SniOf(**by_address), "");
}

TEST(TlsContextTest, TlsServerNameReplacesTheUrlsHost) {
  ClusterAccess access = AccessTo("https://10.0.0.1:6443");
  access.tls_server_name = "kubernetes";
  absl::StatusOr<std::unique_ptr<TlsContext>> tls =
      TlsContext::Create(access, "10.0.0.1");
  ASSERT_TRUE(tls.ok()) << tls.status();
  EXPECT_EQ(SniOf(**tls), "kubernetes");
}

TEST(TlsContextTest, VerifiesThePeerUnlessTheKubeconfigSaysNot) {
  ClusterAccess access = AccessTo("https://10.0.0.1:6443");
  absl::StatusOr<std::unique_ptr<TlsContext>> tls =
      TlsContext::Create(access, "10.0.0.1");
  ASSERT_TRUE(tls.ok()) << tls.status();
  EXPECT_TRUE((*tls)->verify_peer());
  access.insecure_skip_tls_verify = true;
  tls = TlsContext::Create(access, "10.0.0.1");
  ASSERT_TRUE(tls.ok()) << tls.status();
  EXPECT_FALSE((*tls)->verify_peer());
}

}  // namespace
}  // namespace kmesh::kube
