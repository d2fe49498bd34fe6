// The API server's HTTPS mode: a client trusting the issuing CA completes
// the handshake and is served; one trusting another CA is refused; with a
// client CA configured, only clients presenting a certificate it issued get
// through; kubeconfigs carry the CA.
#include <fstream>
#include <sstream>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "sim/kube/api_server.h"
#include "sim/kube/testing/test_certs.h"
#include "sim/kube/testing/test_http_client.h"
#include "sim/kube/testing/tls_server_options.h"

namespace kmesh::sim::kube {
namespace {

class ApiServerTlsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto certs = GenerateTestCertificates();
    ASSERT_TRUE(certs.ok()) << certs.status();
    certs_ = *certs;
  }

  std::unique_ptr<ApiServer> StartServer(bool require_client_cert) {
    auto server =
        ApiServer::Start(TlsServerOptions(certs_, require_client_cert));
    EXPECT_TRUE(server.ok()) << server.status();
    return server.ok() ? *std::move(server) : nullptr;
  }

  TestCertificates certs_;
};

TEST_F(ApiServerTlsTest, HandshakeWithTheIssuingCaSucceeds) {
  auto server = StartServer(false);
  ASSERT_NE(server, nullptr);
  EXPECT_EQ(server->url(), absl::StrCat("https://127.0.0.1:", server->port()));
  TestTlsOptions tls{certs_.ca_cert_pem, "", ""};
  auto client = TestHttpClient::Connect(server->port(), &tls);
  ASSERT_TRUE(client.ok()) << client.status();
  auto version = (*client)->Send("GET", "/version");
  ASSERT_TRUE(version.ok()) << version.status();
  EXPECT_EQ(version->code, 200);
  auto missing =
      (*client)->Send("GET", "/api/v1/namespaces/kmesh-system/secrets/x");
  ASSERT_TRUE(missing.ok());
  EXPECT_EQ(missing->code, 404);
}

TEST_F(ApiServerTlsTest, WatchStreamsOverTls) {
  auto server = StartServer(false);
  ASSERT_NE(server, nullptr);
  TestTlsOptions tls{certs_.ca_cert_pem, "", ""};
  auto watcher = TestHttpClient::Connect(server->port(), &tls);
  ASSERT_TRUE(watcher.ok());
  auto head = (*watcher)->StartStream(
      "/api/v1/namespaces?watch=1&resourceVersion=" +
      std::to_string(server->store().CurrentResourceVersion()));
  ASSERT_TRUE(head.ok());
  ASSERT_TRUE(server->WaitForOpenWatches(1, std::chrono::seconds(10)));
  auto writer = TestHttpClient::Connect(server->port(), &tls);
  ASSERT_TRUE(writer.ok());
  auto created = (*writer)->Send("POST", "/api/v1/namespaces",
                                 R"({"metadata":{"name":"kmesh-system"}})");
  ASSERT_TRUE(created.ok());
  EXPECT_EQ(created->code, 201);
  auto chunk = (*watcher)->NextChunk();
  ASSERT_TRUE(chunk.ok() && chunk->has_value()) << chunk.status();
  auto event = nlohmann::json::parse(**chunk);
  EXPECT_EQ(event["type"], "ADDED");
  EXPECT_EQ(event["object"]["metadata"]["name"], "kmesh-system");
}

TEST_F(ApiServerTlsTest, HandshakeWithAnotherCaFails) {
  auto server = StartServer(false);
  ASSERT_NE(server, nullptr);
  auto other = GenerateTestCertificates("some-other-ca");
  ASSERT_TRUE(other.ok());
  TestTlsOptions tls{other->ca_cert_pem, "", ""};
  EXPECT_FALSE(TestHttpClient::Connect(server->port(), &tls).ok());
  // Plain HTTP to the HTTPS port gets no HTTP answer either.
  auto plain = TestHttpClient::Connect(server->port());
  ASSERT_TRUE(plain.ok());
  EXPECT_FALSE((*plain)->Send("GET", "/version").ok());
}

TEST_F(ApiServerTlsTest, ClientCertificateRequiredWhenConfigured) {
  auto server = StartServer(true);
  ASSERT_NE(server, nullptr);
  TestTlsOptions anonymous{certs_.ca_cert_pem, "", ""};
  auto refused = TestHttpClient::Connect(server->port(), &anonymous);
  // TLS 1.3 clients learn of the refusal at their first read.
  if (refused.ok()) {
    EXPECT_FALSE((*refused)->Send("GET", "/version").ok());
  }

  TestTlsOptions with_cert{certs_.ca_cert_pem, certs_.client_cert_pem,
                           certs_.client_key_pem};
  auto client = TestHttpClient::Connect(server->port(), &with_cert);
  ASSERT_TRUE(client.ok()) << client.status();
  auto version = (*client)->Send("GET", "/version");
  ASSERT_TRUE(version.ok()) << version.status();
  EXPECT_EQ(version->code, 200);
}

TEST_F(ApiServerTlsTest, KubeconfigCarriesCaAndCredentials) {
  auto server = StartServer(true);
  ASSERT_NE(server, nullptr);
  const std::string path =
      absl::StrCat(::testing::TempDir(), "/tls_kubeconfig");
  ASSERT_TRUE(server
                  ->WriteKubeconfig(
                      path, {"", certs_.client_cert_pem, certs_.client_key_pem})
                  .ok());
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  EXPECT_NE(
      text.str().find(absl::StrCat("certificate-authority-data: ",
                                   absl::Base64Escape(certs_.ca_cert_pem))),
      std::string::npos);
  EXPECT_NE(text.str().find("client-certificate-data: "), std::string::npos);
  EXPECT_NE(text.str().find("client-key-data: "), std::string::npos);
}

TEST_F(ApiServerTlsTest, RejectsIncompleteTlsConfiguration) {
  ApiServer::Options options;
  options.tls_cert_pem = certs_.server_cert_pem;
  EXPECT_FALSE(ApiServer::Start(options).ok());
  options.tls_key_pem = "not a key";
  EXPECT_FALSE(ApiServer::Start(options).ok());
}

}  // namespace
}  // namespace kmesh::sim::kube
