#include "kmesh/kube/tls_context.h"

#include <openssl/ssl.h>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "kmesh/kube/testing/test_cluster_access.h"
#include "sim/kube/testing/test_certs.h"

namespace kmesh::kube {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using testing::TestClusterAccess;

// A context for `access` to a server whose URL's host is `host`; nullptr
// (and a failure) when it cannot be made.
std::unique_ptr<TlsContext> MustCreate(const ClusterAccess& access,
                                       const std::string& host) {
  absl::StatusOr<std::unique_ptr<TlsContext>> tls =
      TlsContext::Create(access, host);
  EXPECT_TRUE(tls.ok()) << tls.status();
  return tls.ok() ? *std::move(tls) : nullptr;
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
  ClusterAccess access = TestClusterAccess("https://127.0.0.1:1");
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
  const ClusterAccess access =
      TestClusterAccess("https://kubernetes.default.svc");
  std::unique_ptr<TlsContext> by_name =
      MustCreate(access, "kubernetes.default.svc");
  ASSERT_NE(by_name, nullptr);
  EXPECT_EQ(SniOf(*by_name), "kubernetes.default.svc");
  std::unique_ptr<TlsContext> by_address = MustCreate(access, "10.0.0.1");
  ASSERT_NE(by_address, nullptr);
  EXPECT_EQ(SniOf(*by_address), "");
}

TEST(TlsContextTest, TlsServerNameReplacesTheUrlsHost) {
  ClusterAccess access = TestClusterAccess("https://10.0.0.1:6443");
  access.tls_server_name = "kubernetes";
  std::unique_ptr<TlsContext> tls = MustCreate(access, "10.0.0.1");
  ASSERT_NE(tls, nullptr);
  EXPECT_EQ(SniOf(*tls), "kubernetes");
}

TEST(TlsContextTest, VerifiesThePeerUnlessTheKubeconfigSaysNot) {
  ClusterAccess access = TestClusterAccess("https://10.0.0.1:6443");
  std::unique_ptr<TlsContext> verifying = MustCreate(access, "10.0.0.1");
  ASSERT_NE(verifying, nullptr);
  EXPECT_TRUE(verifying->verify_peer());
  access.insecure_skip_tls_verify = true;
  std::unique_ptr<TlsContext> trusting = MustCreate(access, "10.0.0.1");
  ASSERT_NE(trusting, nullptr);
  EXPECT_FALSE(trusting->verify_peer());
}

}  // namespace
}  // namespace kmesh::kube
