// The transport through an HTTP CONNECT proxy (testing/connect_proxy.h) on
// loopback: proxy-url and the proxy environment, requests and streams,
// TLS to the API server's name inside the tunnel, refusals.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <thread>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "kmesh/kube/http_transport.h"
#include "kmesh/kube/testing/connect_proxy.h"
#include "kmesh/kube/testing/loopback_http_server.h"
#include "kmesh/kube/testing/test_cluster_access.h"
#include "sim/kube/testing/test_certs.h"

namespace kmesh::kube {
namespace {

using std::chrono::milliseconds;
using ::testing::AllOf;
using testing::ConnectProxy;
using testing::ConnectProxyOptions;
using ::testing::HasSubstr;
using testing::LoopbackHttpServer;
using testing::LoopbackTls;
using ::testing::Not;
using testing::ReceivedRequest;
using testing::ScriptedResponse;
using testing::TestClusterAccess;

// A proxy that resolves kube.test and other.test to 127.0.0.1.
std::unique_ptr<ConnectProxy> ResolvingProxy() {
  ConnectProxyOptions options;
  options.hosts = {{"kube.test", "127.0.0.1"}, {"other.test", "127.0.0.1"}};
  return ConnectProxy::Start(options);
}

ScriptedResponse Ok(const ReceivedRequest&) {
  ScriptedResponse response;
  response.body = R"({"kind":"Status"})";
  return response;
}

std::unique_ptr<HttpTransport> MustCreate(const ClusterAccess& access) {
  absl::StatusOr<std::unique_ptr<HttpTransport>> transport =
      HttpTransport::Create(access);
  EXPECT_TRUE(transport.ok()) << transport.status();
  return transport.ok() ? *std::move(transport) : nullptr;
}

class ProxyTransportTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    absl::StatusOr<sim::kube::TestCertificates> certs =
        sim::kube::GenerateTestCertificates("proxy-test-ca");
    ASSERT_TRUE(certs.ok());
    certs_ = new sim::kube::TestCertificates(*std::move(certs));
  }

  void StartTlsServer() {
    LoopbackTls tls{certs_->server_cert_pem, certs_->server_key_pem, ""};
    server_ = LoopbackHttpServer::Start(Ok, &tls);
  }

  // Access to https://NAME:PORT of the TLS server, trusting the test CA.
  ClusterAccess TlsAccess(const std::string& name) const {
    ClusterAccess access =
        TestClusterAccess(absl::StrCat("https://", name, ":", server_->port()));
    access.certificate_authority_pem = certs_->ca_cert_pem;
    return access;
  }

  static sim::kube::TestCertificates* certs_;
  std::unique_ptr<LoopbackHttpServer> server_;
};
sim::kube::TestCertificates* ProxyTransportTest::certs_;

TEST_F(ProxyTransportTest, PlainHttpThroughProxyUrlIsTunnelled) {
  server_ = LoopbackHttpServer::Start(Ok);
  auto proxy = ConnectProxy::Start();
  ClusterAccess access = TestClusterAccess(server_->url());
  access.proxy_url = proxy->url();
  auto transport = MustCreate(access);
  ASSERT_NE(transport, nullptr);
  absl::StatusOr<HttpResponse> response =
      transport->RoundTrip({"GET", "/api/v1/nodes", "", ""});
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->status, 200);
  // proxy-url is used even for a loopback server (client-go's
  // http.ProxyURL has no exemptions).
  const std::string target = absl::StrCat("127.0.0.1:", server_->port());
  ASSERT_EQ(proxy->connects().size(), 1u);
  EXPECT_EQ(proxy->connects()[0].method, "CONNECT");
  EXPECT_EQ(proxy->connects()[0].target, target);
  EXPECT_EQ(proxy->connects()[0].host_header, target);
  EXPECT_EQ(proxy->connects()[0].proxy_authorization, "");
  ASSERT_EQ(server_->requests().size(), 1u);
  EXPECT_EQ(server_->requests()[0].target, "/api/v1/nodes");
}

TEST_F(ProxyTransportTest, TlsToANameOnlyTheProxyResolves) {
  StartTlsServer();
  auto proxy = ResolvingProxy();
  ClusterAccess access = TlsAccess("kube.test");
  access.proxy_url = proxy->url();
  access.bearer_token = crypto::SecretBytes::CopyFrom("proxied-token");
  absl::StatusOr<HttpResponse> response =
      MustCreate(access)->RoundTrip({"GET", "/version", "", ""});
  ASSERT_TRUE(response.ok()) << response.status();
  ASSERT_EQ(proxy->connects().size(), 1u);
  EXPECT_EQ(proxy->connects()[0].target,
            absl::StrCat("kube.test:", server_->port()));
  ASSERT_EQ(server_->requests().size(), 1u);
  EXPECT_EQ(server_->requests()[0].headers["authorization"],
            "Bearer proxied-token");

  // The certificate is checked against the server's name, not the
  // proxy's: it does not name other.test.
  ClusterAccess other = TlsAccess("other.test");
  other.proxy_url = proxy->url();
  response = MustCreate(other)->RoundTrip({"GET", "/version", "", ""});
  ASSERT_FALSE(response.ok());
  EXPECT_THAT(response.status().message(), HasSubstr("not trusted"));
  EXPECT_EQ(server_->requests().size(), 1u);
}

TEST_F(ProxyTransportTest, WatchStreamsGoThroughTheTunnel) {
  server_ = LoopbackHttpServer::Start([](const ReceivedRequest&) {
    ScriptedResponse response;
    response.stream = [](const std::function<bool(const std::string&)>& write) {
      write("{\"type\":\"ADDED\"}\n");
      std::this_thread::sleep_for(milliseconds(50));
      write("{\"type\":\"MODIFIED\"}\n");
    };
    return response;
  });
  auto proxy = ConnectProxy::Start();
  ClusterAccess access = TestClusterAccess(server_->url());
  access.proxy_url = proxy->url();
  absl::StatusOr<std::unique_ptr<HttpResponseStream>> stream =
      MustCreate(access)->OpenStream({"GET", "/api/v1/pods?watch=1", "", ""},
                                     milliseconds(5000));
  ASSERT_TRUE(stream.ok()) << stream.status();
  std::string body;
  while (true) {
    absl::StatusOr<std::string> piece = (*stream)->ReadSome();
    ASSERT_TRUE(piece.ok()) << piece.status();
    if (piece->empty()) break;
    body += *piece;
  }
  EXPECT_EQ(body, "{\"type\":\"ADDED\"}\n{\"type\":\"MODIFIED\"}\n");
  EXPECT_EQ(proxy->connects().size(), 1u);
}

TEST_F(ProxyTransportTest, ProxyCredentialsAreSentAsBasicAuth) {
  server_ = LoopbackHttpServer::Start(Ok);
  ConnectProxyOptions options;
  options.required_authorization =
      "Basic " + absl::Base64Escape("proxy-user:p@ss");
  auto proxy = ConnectProxy::Start(options);
  ClusterAccess access = TestClusterAccess(server_->url());
  access.proxy_url =
      absl::StrCat("http://proxy-user:p%40ss@127.0.0.1:", proxy->port());
  absl::StatusOr<HttpResponse> response =
      MustCreate(access)->RoundTrip({"GET", "/version", "", ""});
  ASSERT_TRUE(response.ok()) << response.status();

  access.proxy_url =
      absl::StrCat("http://proxy-user:wrong-secret@127.0.0.1:", proxy->port());
  response = MustCreate(access)->RoundTrip({"GET", "/version", "", ""});
  ASSERT_FALSE(response.ok());
  EXPECT_TRUE(absl::IsPermissionDenied(response.status()));
  EXPECT_TRUE(RequestNotSent(response.status()));
  EXPECT_THAT(
      response.status().message(),
      AllOf(HasSubstr(absl::StrCat("proxy http://127.0.0.1:", proxy->port(),
                                   " refused CONNECT")),
            HasSubstr("407 Proxy Authentication Required"),
            Not(HasSubstr("wrong-secret")), Not(HasSubstr("proxy-user"))));
  EXPECT_EQ(server_->requests().size(), 1u);
}

TEST_F(ProxyTransportTest, RefusalNamesTheProxyAndItsStatusLine) {
  server_ = LoopbackHttpServer::Start(Ok);
  ConnectProxyOptions options;
  options.refuse_status = 403;
  auto proxy = ConnectProxy::Start(options);
  ClusterAccess access = TestClusterAccess(server_->url());
  access.proxy_url = proxy->url();
  access.bearer_token = crypto::SecretBytes::CopyFrom("never-sent-token");
  absl::StatusOr<HttpResponse> response =
      MustCreate(access)->RoundTrip({"POST", "/api/v1/secrets", "{}", ""});
  ASSERT_FALSE(response.ok());
  EXPECT_TRUE(absl::IsPermissionDenied(response.status()));
  EXPECT_TRUE(RequestNotSent(response.status()));
  EXPECT_EQ(response.status().message(),
            absl::StrCat("proxy ", proxy->url(), " refused CONNECT 127.0.0.1:",
                         server_->port(), ": 403 Forbidden"));
  EXPECT_TRUE(server_->requests().empty());
  // Nothing of the request went to the proxy either.
  ASSERT_EQ(proxy->connects().size(), 1u);
  EXPECT_EQ(proxy->connects()[0].proxy_authorization, "");
}

TEST_F(ProxyTransportTest, UnreachableProxyIsNamed) {
  server_ = LoopbackHttpServer::Start(Ok);
  auto proxy = ConnectProxy::Start();
  const std::string proxy_url = proxy->url();
  proxy->Stop();
  proxy.reset();
  ClusterAccess access = TestClusterAccess(server_->url());
  access.proxy_url = proxy_url;
  absl::StatusOr<HttpResponse> response =
      MustCreate(access)->RoundTrip({"GET", "/version", "", ""});
  ASSERT_FALSE(response.ok());
  EXPECT_TRUE(absl::IsUnavailable(response.status()));
  EXPECT_TRUE(RequestNotSent(response.status()));
  EXPECT_THAT(
      response.status().message(),
      HasSubstr(absl::StrCat("cannot reach the API server at ", server_->url(),
                             " through proxy ", proxy_url, ": ")));
}

TEST_F(ProxyTransportTest, EnvironmentProxyHonoursNoProxyAndLoopback) {
  StartTlsServer();
  auto proxy = ResolvingProxy();
  ClusterAccess access = TlsAccess("kube.test");
  access.proxy_environment.https_proxy =
      absl::StrCat("127.0.0.1:", proxy->port());  // No scheme: http://.
  ASSERT_TRUE(MustCreate(access)->RoundTrip({"GET", "/version", "", ""}).ok());
  EXPECT_EQ(proxy->connects().size(), 1u);

  // localhost is never proxied from the environment.
  ClusterAccess loopback = TlsAccess("localhost");
  loopback.proxy_environment.https_proxy = proxy->url();
  absl::StatusOr<HttpResponse> direct =
      MustCreate(loopback)->RoundTrip({"GET", "/version", "", ""});
  EXPECT_TRUE(direct.ok()) << direct.status();
  EXPECT_EQ(proxy->connects().size(), 1u);

  // HTTP_PROXY is for http:// servers only: kube.test is then dialled
  // directly, and the client cannot resolve it.
  ClusterAccess http_only = TlsAccess("kube.test");
  http_only.proxy_environment.http_proxy = proxy->url();
  direct = MustCreate(http_only)->RoundTrip({"GET", "/version", "", ""});
  ASSERT_FALSE(direct.ok());
  EXPECT_THAT(direct.status().message(), HasSubstr("cannot resolve kube.test"));
  EXPECT_EQ(proxy->connects().size(), 1u);

  // NO_PROXY exempts kube.test: the client resolves it itself, and cannot.
  access.proxy_environment.no_proxy = "example.com,.test";
  absl::StatusOr<HttpResponse> response =
      MustCreate(access)->RoundTrip({"GET", "/version", "", ""});
  ASSERT_FALSE(response.ok());
  EXPECT_THAT(response.status().message(),
              HasSubstr("cannot resolve kube.test"));
  EXPECT_EQ(proxy->connects().size(), 1u);
}

TEST_F(ProxyTransportTest, UnsupportedProxiesAreRefusedAtCreation) {
  ClusterAccess access = TestClusterAccess("https://10.0.0.1:6443");
  access.source = "kubeconfig /k (context c)";
  access.proxy_url = "https://user:hunter2@127.0.0.1:3129";
  absl::StatusOr<std::unique_ptr<HttpTransport>> transport =
      HttpTransport::Create(access);
  ASSERT_FALSE(transport.ok());
  EXPECT_THAT(transport.status().message(),
              AllOf(HasSubstr("kubeconfig /k (context c): proxy-url"),
                    HasSubstr("https://"), Not(HasSubstr("hunter2"))));
  access.proxy_url = "ftp://127.0.0.1:3129";
  EXPECT_FALSE(HttpTransport::Create(access).ok());
}

std::string SocksUrl(const ConnectProxy& proxy,
                     const std::string& userinfo = "") {
  return absl::StrCat("socks5://", userinfo, "127.0.0.1:", proxy.port());
}

TEST_F(ProxyTransportTest, Socks5TunnelsTlsToANameOnlyTheProxyResolves) {
  StartTlsServer();
  auto proxy = ResolvingProxy();
  ClusterAccess access = TlsAccess("kube.test");
  access.proxy_url = SocksUrl(*proxy);
  auto transport = MustCreate(access);
  ASSERT_NE(transport, nullptr);
  ASSERT_TRUE(transport->RoundTrip({"GET", "/version", "", ""}).ok());
  ASSERT_EQ(proxy->connects().size(), 1u);
  EXPECT_EQ(proxy->connects()[0].method, "SOCKS5");
  EXPECT_EQ(proxy->connects()[0].target,
            absl::StrCat("kube.test:", server_->port()));  // A domain name.
  EXPECT_EQ(proxy->connects()[0].proxy_authorization, "");
  EXPECT_EQ(server_->requests().size(), 1u);
}

TEST_F(ProxyTransportTest, Socks5StreamsToAnIpAddress) {
  server_ = LoopbackHttpServer::Start([](const ReceivedRequest&) {
    ScriptedResponse response;
    response.stream = [](const std::function<bool(const std::string&)>& write) {
      write("{\"type\":\"ADDED\"}\n");
    };
    return response;
  });
  auto proxy = ConnectProxy::Start();
  ClusterAccess access = TestClusterAccess(server_->url());
  access.proxy_url = SocksUrl(*proxy);
  absl::StatusOr<std::unique_ptr<HttpResponseStream>> stream =
      MustCreate(access)->OpenStream({"GET", "/api/v1/pods?watch=1", "", ""},
                                     milliseconds(5000));
  ASSERT_TRUE(stream.ok()) << stream.status();
  std::string body;
  for (absl::StatusOr<std::string> piece = (*stream)->ReadSome();
       piece.ok() && !piece->empty(); piece = (*stream)->ReadSome()) {
    body += *piece;
  }
  EXPECT_EQ(body, "{\"type\":\"ADDED\"}\n");
  ASSERT_EQ(proxy->connects().size(), 1u);
  EXPECT_EQ(proxy->connects()[0].target,
            absl::StrCat("127.0.0.1:", server_->port()));
}

TEST_F(ProxyTransportTest, Socks5UsernamePasswordAndRefusals) {
  server_ = LoopbackHttpServer::Start(Ok);
  ConnectProxyOptions options;
  options.socks_username = "ops";
  options.socks_password = "p@ss";
  auto proxy = ConnectProxy::Start(options);
  ClusterAccess access = TestClusterAccess(server_->url());
  access.proxy_url = SocksUrl(*proxy, "ops:p%40ss@");
  ASSERT_TRUE(MustCreate(access)->RoundTrip({"GET", "/version", "", ""}).ok());
  ASSERT_EQ(proxy->connects().size(), 1u);
  EXPECT_EQ(proxy->connects()[0].proxy_authorization, "ops:p@ss");

  access.proxy_url = SocksUrl(*proxy, "ops:wrong-secret@");
  absl::StatusOr<HttpResponse> response =
      MustCreate(access)->RoundTrip({"GET", "/version", "", ""});
  ASSERT_FALSE(response.ok());
  EXPECT_TRUE(absl::IsPermissionDenied(response.status()));
  EXPECT_TRUE(RequestNotSent(response.status()));
  EXPECT_THAT(response.status().message(),
              AllOf(HasSubstr(absl::StrCat("proxy socks5://127.0.0.1:",
                                           proxy->port(), " refused CONNECT")),
                    HasSubstr("username/password authentication failed"),
                    Not(HasSubstr("wrong-secret"))));

  access.proxy_url = SocksUrl(*proxy);  // No credentials.
  response = MustCreate(access)->RoundTrip({"GET", "/version", "", ""});
  ASSERT_FALSE(response.ok());
  EXPECT_THAT(response.status().message(),
              HasSubstr("no acceptable authentication method"));

  ConnectProxyOptions refusing;
  refusing.refuse_status = 403;
  auto strict = ConnectProxy::Start(refusing);
  access.proxy_url = SocksUrl(*strict);
  response = MustCreate(access)->RoundTrip({"GET", "/version", "", ""});
  ASSERT_FALSE(response.ok());
  EXPECT_TRUE(absl::IsPermissionDenied(response.status()));
  EXPECT_EQ(response.status().message(),
            absl::StrCat("proxy socks5://127.0.0.1:", strict->port(),
                         " refused CONNECT 127.0.0.1:", server_->port(),
                         ": connection not allowed by ruleset (SOCKS5 reply "
                         "2)"));
  EXPECT_EQ(server_->requests().size(), 1u);
}

TEST_F(ProxyTransportTest, SilentProxyTimesOutWithinTheConnectTimeout) {
  // A listening socket nobody accepts from: the connection completes in the
  // kernel's backlog, and the CONNECT is never answered.
  const int listener = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)),
            0);
  ASSERT_EQ(::listen(listener, 8), 0);
  socklen_t len = sizeof(addr);
  ::getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len);
  for (const char* scheme : {"http", "socks5"}) {
    SCOPED_TRACE(scheme);
    ClusterAccess access = TestClusterAccess("https://kube.test:6443");
    access.proxy_url =
        absl::StrCat(scheme, "://127.0.0.1:", ntohs(addr.sin_port));
    HttpTransportOptions options;
    options.connect_timeout = milliseconds(300);
    absl::StatusOr<std::unique_ptr<HttpTransport>> transport =
        HttpTransport::Create(access, options);
    ASSERT_TRUE(transport.ok()) << transport.status();
    const auto start = std::chrono::steady_clock::now();
    absl::StatusOr<HttpResponse> response =
        (*transport)->RoundTrip({"GET", "/version", "", ""});
    EXPECT_LT(std::chrono::steady_clock::now() - start, milliseconds(5000));
    ASSERT_FALSE(response.ok());
    EXPECT_TRUE(absl::IsUnavailable(response.status()));
    EXPECT_TRUE(RequestNotSent(response.status()));
    EXPECT_THAT(response.status().message(),
                AllOf(HasSubstr(absl::StrCat("no answer from proxy ", scheme,
                                             "://127.0.0.1:")),
                      HasSubstr("within 300 ms")));
  }
  ::close(listener);
}

}  // namespace
}  // namespace kmesh::kube
