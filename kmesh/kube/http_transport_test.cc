#include "kmesh/kube/http_transport.h"

#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <condition_variable>
#include <cstdlib>
#include <fstream>
#include <mutex>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "kmesh/kube/testing/loopback_http_server.h"
#include "sim/kube/test_certs.h"

namespace kmesh::kube {
namespace {

using ::testing::HasSubstr;
using testing::LoopbackHttpServer;
using testing::LoopbackTls;
using ::testing::Not;
using testing::ReceivedRequest;
using testing::ScriptedResponse;

// A latch a test opens to let a scripted server continue.
class Gate {
 public:
  void Open() {
    std::lock_guard<std::mutex> lock(mu_);
    open_ = true;
    cv_.notify_all();
  }
  void Wait() {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [this] { return open_; });
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool open_ = false;
};

ClusterAccess AccessFor(const std::string& server) {
  ClusterAccess access;
  access.server = server;
  access.source = "test kubeconfig";
  return access;
}

std::unique_ptr<HttpTransport> MustCreate(const ClusterAccess& access,
                                          HttpTransportOptions options = {}) {
  absl::StatusOr<std::unique_ptr<HttpTransport>> transport =
      HttpTransport::Create(access, options);
  EXPECT_TRUE(transport.ok()) << transport.status();
  return transport.ok() ? *std::move(transport) : nullptr;
}

TEST(ParseServerUrlTest, SplitsSchemeHostPortAndPrefix) {
  absl::StatusOr<ServerUrl> url = ParseServerUrl("https://10.0.0.1:6443");
  ASSERT_TRUE(url.ok());
  EXPECT_TRUE(url->tls);
  EXPECT_EQ(url->host, "10.0.0.1");
  EXPECT_EQ(url->port, 6443);
  EXPECT_EQ(url->path_prefix, "");

  url = ParseServerUrl("http://[fd00::1]/k8s/clusters/c1/");
  ASSERT_TRUE(url.ok());
  EXPECT_FALSE(url->tls);
  EXPECT_EQ(url->host, "fd00::1");
  EXPECT_EQ(url->port, 80);
  EXPECT_EQ(url->path_prefix, "/k8s/clusters/c1");

  url = ParseServerUrl("https://kubernetes.default.svc");
  ASSERT_TRUE(url.ok());
  EXPECT_EQ(url->port, 443);

  for (const char* bad : {"ftp://x", "10.0.0.1:6443", "https://:6443",
                          "https://a:99999", "https://[fd00::1"}) {
    EXPECT_FALSE(ParseServerUrl(bad).ok()) << bad;
  }
}

TEST(HttpTransportTest, SendsTheRequestAndReadsTheResponse) {
  auto server = LoopbackHttpServer::Start([](const ReceivedRequest&) {
    ScriptedResponse response;
    response.status = 201;
    response.body = R"({"ok":true})";
    response.headers = {{"Retry-After", "7"}};
    return response;
  });
  ClusterAccess access = AccessFor(server->url() + "/prefix");
  access.bearer_token = crypto::SecretBytes::CopyFrom("tok123");
  std::unique_ptr<HttpTransport> transport = MustCreate(access);
  absl::StatusOr<HttpResponse> response = transport->RoundTrip(
      {"POST", "/api/v1/nodes?x=1", R"({"a":1})", "application/json"});
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->status, 201);
  EXPECT_EQ(response->body, R"({"ok":true})");
  EXPECT_EQ(response->retry_after, "7");
  std::vector<ReceivedRequest> requests = server->requests();
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_EQ(requests[0].method, "POST");
  EXPECT_EQ(requests[0].target, "/prefix/api/v1/nodes?x=1");
  EXPECT_EQ(requests[0].body, R"({"a":1})");
  EXPECT_EQ(requests[0].headers["content-type"], "application/json");
  EXPECT_EQ(requests[0].headers["authorization"], "Bearer tok123");
  EXPECT_EQ(requests[0].headers["accept"], "application/json");
}

TEST(HttpTransportTest, TokenFromAFileIsReReadAsItRotates) {
  auto server = LoopbackHttpServer::Start(
      [](const ReceivedRequest&) { return ScriptedResponse(); });
  const char* tmp = std::getenv("TEST_TMPDIR");
  const std::string token_file =
      absl::StrCat(tmp ? tmp : "/tmp", "/rotating-token");
  std::ofstream(token_file) << "first\n";
  ClusterAccess access = AccessFor(server->url());
  access.bearer_token = crypto::SecretBytes::CopyFrom("first");
  access.bearer_token_file = token_file;
  HttpTransportOptions options;
  options.token_file_refresh = std::chrono::milliseconds(0);  // Every call.
  std::unique_ptr<HttpTransport> transport = MustCreate(access, options);
  ASSERT_TRUE(transport->RoundTrip({"GET", "/1", "", ""}).ok());
  std::ofstream(token_file) << "second\n";
  ASSERT_TRUE(transport->RoundTrip({"GET", "/2", "", ""}).ok());
  // An empty (half-written) file keeps the last good token.
  std::ofstream(token_file, std::ios::trunc).flush();
  ASSERT_TRUE(transport->RoundTrip({"GET", "/3", "", ""}).ok());
  std::vector<ReceivedRequest> requests = server->requests();
  ASSERT_EQ(requests.size(), 3u);
  EXPECT_EQ(requests[0].headers["authorization"], "Bearer first");
  EXPECT_EQ(requests[1].headers["authorization"], "Bearer second");
  EXPECT_EQ(requests[2].headers["authorization"], "Bearer second");
}

TEST(HttpTransportTest, ConnectionRefusedNamesTheServerAndWasNotSent) {
  auto server = LoopbackHttpServer::Start(
      [](const ReceivedRequest&) { return ScriptedResponse(); });
  const std::string url = server->url();
  server->Stop();
  server.reset();  // Nothing listens on the port any more.
  std::unique_ptr<HttpTransport> transport = MustCreate(AccessFor(url));
  absl::StatusOr<HttpResponse> response =
      transport->RoundTrip({"GET", "/api/v1/nodes", "", ""});
  ASSERT_FALSE(response.ok());
  EXPECT_TRUE(absl::IsUnavailable(response.status()));
  EXPECT_THAT(response.status().message(),
              HasSubstr(absl::StrCat("cannot reach the API server at ", url,
                                     ": Connection refused")));
  EXPECT_TRUE(RequestNotSent(response.status()));
}

TEST(HttpTransportTest, OutOfFileDescriptorsIsUnavailableNotACrash) {
  auto server = LoopbackHttpServer::Start(
      [](const ReceivedRequest&) { return ScriptedResponse(); });
  std::unique_ptr<HttpTransport> transport =
      MustCreate(AccessFor(server->url()));
  // Use up every descriptor the process may open (a low limit makes that
  // quick), so the connection cannot get its socket or Asio's reactor.
  rlimit saved{};
  ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &saved), 0);
  rlimit low = saved;
  low.rlim_cur = std::min<rlim_t>(saved.rlim_cur, 1024);
  ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &low), 0);
  std::vector<int> filler;
  for (int fd; (fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC)) >= 0;) {
    filler.push_back(fd);
  }
  absl::StatusOr<HttpResponse> response =
      transport->RoundTrip({"GET", "/api/v1/nodes", "", ""});
  for (int fd : filler) ::close(fd);
  ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &saved), 0);
  ASSERT_FALSE(response.ok());
  EXPECT_TRUE(absl::IsUnavailable(response.status())) << response.status();
  EXPECT_THAT(response.status().message(),
              HasSubstr(absl::StrCat("cannot reach the API server at ",
                                     server->url())));
  EXPECT_TRUE(RequestNotSent(response.status()));
}

TEST(HttpTransportTest, AnswerlessServerTimesOutAfterTheRequestTimeout) {
  Gate release;
  auto server = LoopbackHttpServer::Start([&](const ReceivedRequest&) {
    release.Wait();
    return ScriptedResponse();
  });
  HttpTransportOptions options;
  options.request_timeout = std::chrono::milliseconds(100);
  std::unique_ptr<HttpTransport> transport =
      MustCreate(AccessFor(server->url()), options);
  absl::StatusOr<HttpResponse> response =
      transport->RoundTrip({"GET", "/api/v1/nodes", "", ""});
  release.Open();
  ASSERT_FALSE(response.ok());
  EXPECT_TRUE(absl::IsUnavailable(response.status()));
  EXPECT_THAT(response.status().message(),
              HasSubstr("no response from the API server at " + server->url()));
  // The request had been sent: not safe to repeat blindly.
  EXPECT_FALSE(RequestNotSent(response.status()));
}

TEST(HttpTransportTest, DroppedConnectionAfterSendingIsUnavailable) {
  auto server = LoopbackHttpServer::Start([](const ReceivedRequest&) {
    ScriptedResponse response;
    response.drop = true;
    return response;
  });
  std::unique_ptr<HttpTransport> transport =
      MustCreate(AccessFor(server->url()));
  absl::StatusOr<HttpResponse> response =
      transport->RoundTrip({"PUT", "/api/v1/nodes/a", "{}", "x"});
  ASSERT_FALSE(response.ok());
  EXPECT_TRUE(absl::IsUnavailable(response.status()));
  EXPECT_FALSE(RequestNotSent(response.status()));
}

TEST(HttpTransportTest, StreamDeliversChunksAsTheyArriveAndCancelUnblocks) {
  Gate second_chunk;
  auto server = LoopbackHttpServer::Start([&](const ReceivedRequest&) {
    ScriptedResponse response;
    response.stream = [&](const auto& write) {
      write("first");
      second_chunk.Wait();
      write("second");
      // Hold the stream open until the client goes away.
      while (write(" "))
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    };
    return response;
  });
  std::unique_ptr<HttpTransport> transport =
      MustCreate(AccessFor(server->url()));
  absl::StatusOr<std::unique_ptr<HttpResponseStream>> stream =
      transport->OpenStream({"GET", "/w", "", ""},
                            std::chrono::milliseconds(0));
  ASSERT_TRUE(stream.ok()) << stream.status();
  EXPECT_EQ((*stream)->status(), 200);
  absl::StatusOr<std::string> data = (*stream)->ReadSome();
  ASSERT_TRUE(data.ok()) << data.status();
  EXPECT_EQ(*data, "first");  // Before the server sent anything else.
  second_chunk.Open();
  std::string rest;
  while (rest.find("second") == std::string::npos) {
    data = (*stream)->ReadSome();
    ASSERT_TRUE(data.ok()) << data.status();
    rest += *data;
  }
  // Cancel from another thread while a read may be blocked.
  std::thread canceller([&] { (*stream)->Cancel(); });
  absl::Status end;
  for (;;) {
    data = (*stream)->ReadSome();
    if (!data.ok()) {
      end = data.status();
      break;
    }
  }
  canceller.join();
  EXPECT_TRUE(absl::IsCancelled(end)) << end;
}

// A server that sends `first` on every stream and then holds it open (a
// space every few ms) until the client goes away; a request for /once gets
// a plain answer.
std::unique_ptr<LoopbackHttpServer> EndlessStreamServer(std::string first) {
  return LoopbackHttpServer::Start([first](const ReceivedRequest& request) {
    ScriptedResponse response;
    if (request.target == "/once") return response;
    response.stream = [first](const auto& write) {
      if (!first.empty()) write(first);
      while (write(" "))
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    };
    return response;
  });
}

absl::StatusOr<std::unique_ptr<HttpResponseStream>> OpenEndlessStream(
    HttpTransport& transport) {
  return transport.OpenStream({"GET", "/w", "", ""},
                              std::chrono::milliseconds(0));
}

// What a StartReading handler was given, for the test thread to wait on.
class Received {
 public:
  bool Add(absl::StatusOr<std::string> data) {
    std::lock_guard<std::mutex> lock(mu_);
    if (data.ok() && !data->empty()) {
      text_ += *data;
    } else {
      end_ = data.ok() ? absl::OkStatus() : data.status();
      ++ends_;
    }
    cv_.notify_all();
    return keep_reading_;
  }
  void StopAfterNext() {
    std::lock_guard<std::mutex> lock(mu_);
    keep_reading_ = false;
  }
  // Waits for `text` in what arrived; false after 10 s.
  bool WaitFor(const std::string& text) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, std::chrono::seconds(10),
                        [&] { return text_.find(text) != std::string::npos; });
  }
  absl::Status WaitForEnd() {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait_for(lock, std::chrono::seconds(10), [&] { return ends_ > 0; });
    return ends_ > 0 ? end_ : absl::InternalError("no end within 10 s");
  }
  int ends() {
    std::lock_guard<std::mutex> lock(mu_);
    return ends_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::string text_;
  absl::Status end_;
  int ends_ = 0;
  bool keep_reading_ = true;
};

TEST(HttpTransportTest, StartReadingHandsOverTheBodyThenHowItEnded) {
  Gate finish;
  auto server = LoopbackHttpServer::Start([&](const ReceivedRequest&) {
    ScriptedResponse response;
    response.stream = [&](const auto& write) {
      write("one ");
      finish.Wait();
      write("two");
    };
    return response;
  });
  std::unique_ptr<HttpTransport> transport =
      MustCreate(AccessFor(server->url()));
  absl::StatusOr<std::unique_ptr<HttpResponseStream>> stream =
      transport->OpenStream({"GET", "/w", "", ""},
                            std::chrono::milliseconds(0));
  ASSERT_TRUE(stream.ok()) << stream.status();
  Received received;
  (*stream)->StartReading(
      [&](absl::StatusOr<std::string> data) { return received.Add(data); });
  ASSERT_TRUE(received.WaitFor("one "));
  EXPECT_EQ(received.ends(), 0);  // Still open: the server is waiting.
  finish.Open();
  ASSERT_TRUE(received.WaitFor("two"));
  // The body ended normally: one last call with "".
  EXPECT_TRUE(received.WaitForEnd().ok());
  stream->reset();
  EXPECT_EQ(received.ends(), 1);
}

TEST(HttpTransportTest, CancelEndsStartReadingWithCancelledOnce) {
  auto server = EndlessStreamServer("hello");
  std::unique_ptr<HttpTransport> transport =
      MustCreate(AccessFor(server->url()));
  absl::StatusOr<std::unique_ptr<HttpResponseStream>> stream =
      OpenEndlessStream(*transport);
  ASSERT_TRUE(stream.ok()) << stream.status();
  Received received;
  (*stream)->StartReading(
      [&](absl::StatusOr<std::string> data) { return received.Add(data); });
  ASSERT_TRUE(received.WaitFor("hello"));
  std::thread canceller([&] { (*stream)->Cancel(); });
  absl::Status end = received.WaitForEnd();
  canceller.join();
  EXPECT_TRUE(absl::IsCancelled(end)) << end;
  stream->reset();  // Returns: the I/O thread is done with the stream.
  EXPECT_EQ(received.ends(), 1);
}

TEST(HttpTransportTest, HandlerReturningFalseStopsTheReading) {
  auto server = EndlessStreamServer("a");
  std::unique_ptr<HttpTransport> transport =
      MustCreate(AccessFor(server->url()));
  absl::StatusOr<std::unique_ptr<HttpResponseStream>> stream =
      OpenEndlessStream(*transport);
  ASSERT_TRUE(stream.ok()) << stream.status();
  Received received;
  received.StopAfterNext();
  (*stream)->StartReading(
      [&](absl::StatusOr<std::string> data) { return received.Add(data); });
  ASSERT_TRUE(received.WaitFor("a"));
  // Destroying the stream does not wait for an end that will not come, and
  // the handler is not called again.
  stream->reset();
  EXPECT_EQ(received.ends(), 0);
}

// Counts this process's open descriptors.
int OpenDescriptors() {
  int count = 0;
  for (int fd = 0; fd < 65536; ++fd) {
    if (::fcntl(fd, F_GETFD) != -1) ++count;
  }
  return count;
}

// Connections share the process's one I/O reactor, so an open watch costs
// its socket and nothing else (a reactor per connection cost four: socket,
// epoll, eventfd, timerfd). A thousand simulated nodes in one process hold
// three thousand watches.
TEST(HttpTransportTest, AnOpenStreamCostsOneDescriptorOnTheClientSide) {
  auto server = EndlessStreamServer("");
  std::unique_ptr<HttpTransport> transport =
      MustCreate(AccessFor(server->url()));
  // Opens the shared reactor if no earlier test did.
  ASSERT_TRUE(transport->RoundTrip({"GET", "/once", "", ""}).ok());
  constexpr int kStreams = 32;
  const int before = OpenDescriptors();
  std::vector<std::unique_ptr<HttpResponseStream>> streams;
  for (int i = 0; i < kStreams; ++i) {
    absl::StatusOr<std::unique_ptr<HttpResponseStream>> stream =
        OpenEndlessStream(*transport);
    ASSERT_TRUE(stream.ok()) << stream.status();
    streams.push_back(*std::move(stream));
  }
  // Each stream: the client's socket plus the test server's accepted one.
  EXPECT_LE(OpenDescriptors() - before, 2 * kStreams);
  for (auto& stream : streams) stream->Cancel();
  for (auto& stream : streams) {
    absl::StatusOr<std::string> data;
    while ((data = stream->ReadSome()).ok()) {
    }
    EXPECT_TRUE(absl::IsCancelled(data.status())) << data.status();
  }
}

TEST(HttpTransportTest, SilentStreamEndsAfterItsIdleTimeout) {
  Gate release;
  auto server = LoopbackHttpServer::Start([&](const ReceivedRequest&) {
    ScriptedResponse response;
    response.stream = [&](const auto& write) {
      write("x");
      release.Wait();
    };
    return response;
  });
  std::unique_ptr<HttpTransport> transport =
      MustCreate(AccessFor(server->url()));
  absl::StatusOr<std::unique_ptr<HttpResponseStream>> stream =
      transport->OpenStream({"GET", "/w", "", ""},
                            std::chrono::milliseconds(100));
  ASSERT_TRUE(stream.ok()) << stream.status();
  absl::StatusOr<std::string> data = (*stream)->ReadSome();
  ASSERT_TRUE(data.ok()) << data.status();
  EXPECT_EQ(*data, "x");
  data = (*stream)->ReadSome();
  release.Open();
  ASSERT_FALSE(data.ok());
  EXPECT_TRUE(absl::IsDeadlineExceeded(data.status())) << data.status();
  EXPECT_THAT(data.status().message(),
              HasSubstr("no data from the API server at " + server->url()));
}

// TLS against certificates made for the test (sim/kube/test_certs.h): a CA,
// a server certificate for IP 127.0.0.1 and DNS localhost, a client
// certificate from the same CA.
class TlsTransportTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    absl::StatusOr<sim::kube::TestCertificates> certs =
        sim::kube::GenerateTestCertificates("kube-test-ca");
    absl::StatusOr<sim::kube::TestCertificates> other =
        sim::kube::GenerateTestCertificates("other-ca");
    ASSERT_TRUE(certs.ok() && other.ok());
    certs_ = new sim::kube::TestCertificates(*std::move(certs));
    other_ = new sim::kube::TestCertificates(*std::move(other));
  }

  static std::unique_ptr<LoopbackHttpServer> StartServer(
      const sim::kube::TestCertificates& certs,
      const std::string& client_ca = "") {
    LoopbackTls tls{certs.server_cert_pem, certs.server_key_pem, client_ca};
    return LoopbackHttpServer::Start(
        [](const ReceivedRequest&) {
          ScriptedResponse response;
          response.body = "{}";
          return response;
        },
        &tls);
  }

  static ClusterAccess TrustingCa(const std::string& url) {
    ClusterAccess access = AccessFor(url);
    access.certificate_authority_pem = certs_->ca_cert_pem;
    return access;
  }

  static sim::kube::TestCertificates* certs_;
  static sim::kube::TestCertificates* other_;
};
sim::kube::TestCertificates* TlsTransportTest::certs_;
sim::kube::TestCertificates* TlsTransportTest::other_;

TEST_F(TlsTransportTest, VerifiesTheServerAgainstTheKubeconfigCa) {
  auto server = StartServer(*certs_);
  ClusterAccess access = TrustingCa(server->url());
  access.bearer_token = crypto::SecretBytes::CopyFrom("tls-token");
  absl::StatusOr<HttpResponse> response =
      MustCreate(access)->RoundTrip({"GET", "/version", "", ""});
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->status, 200);
  ASSERT_EQ(server->requests().size(), 1u);
  EXPECT_EQ(server->requests()[0].headers["authorization"], "Bearer tls-token");
}

TEST_F(TlsTransportTest, RefusesACertificateFromAnotherCa) {
  auto server = StartServer(*other_);
  ClusterAccess access = TrustingCa(server->url());
  access.bearer_token = crypto::SecretBytes::CopyFrom("never-sent-token");
  absl::StatusOr<HttpResponse> response =
      MustCreate(access)->RoundTrip({"GET", "/version", "", ""});
  ASSERT_FALSE(response.ok());
  EXPECT_TRUE(absl::IsFailedPrecondition(response.status()));
  EXPECT_THAT(
      response.status().message(),
      ::testing::AllOf(
          HasSubstr("the API server at " + server->url() +
                    " presented a TLS certificate that is not trusted"),
          HasSubstr("test kubeconfig"), Not(HasSubstr("never-sent-token"))));
  EXPECT_TRUE(server->requests().empty());
}

TEST_F(TlsTransportTest, ChecksTheServerNameAndAddress) {
  auto server = StartServer(*certs_);
  ClusterAccess access = TrustingCa(server->url());
  // The certificate names 127.0.0.1 and localhost, not these.
  for (const char* name : {"10.0.0.1", "kubernetes.default.svc"}) {
    SCOPED_TRACE(name);
    access.tls_server_name = name;
    absl::StatusOr<HttpResponse> response =
        MustCreate(access)->RoundTrip({"GET", "/version", "", ""});
    ASSERT_FALSE(response.ok());
    EXPECT_THAT(response.status().message(), HasSubstr("not trusted"));
  }
  access.tls_server_name = "localhost";
  absl::StatusOr<HttpResponse> response =
      MustCreate(access)->RoundTrip({"GET", "/version", "", ""});
  EXPECT_TRUE(response.ok()) << response.status();
}

TEST_F(TlsTransportTest, InsecureSkipVerifyOnlyWhenAsked) {
  auto server = StartServer(*other_);
  ClusterAccess access = AccessFor(server->url());
  access.insecure_skip_tls_verify = true;
  absl::StatusOr<HttpResponse> response =
      MustCreate(access)->RoundTrip({"GET", "/version", "", ""});
  EXPECT_TRUE(response.ok()) << response.status();
}

TEST_F(TlsTransportTest, PresentsTheClientCertificateWhenRequired) {
  auto server = StartServer(*certs_, certs_->ca_cert_pem);
  ClusterAccess access = TrustingCa(server->url());
  // Without a client certificate the server refuses the handshake.
  absl::StatusOr<HttpResponse> response =
      MustCreate(access)->RoundTrip({"GET", "/version", "", ""});
  EXPECT_FALSE(response.ok());
  EXPECT_TRUE(server->requests().empty());
  access.client_certificate_pem = certs_->client_cert_pem;
  access.client_key_pem = crypto::SecretBytes::CopyFrom(certs_->client_key_pem);
  response = MustCreate(access)->RoundTrip({"GET", "/version", "", ""});
  EXPECT_TRUE(response.ok()) << response.status();
}

TEST_F(TlsTransportTest, UnusableKeyOrCaIsRefusedAtCreation) {
  ClusterAccess access = AccessFor("https://127.0.0.1:1");
  access.certificate_authority_pem = "not a certificate";
  EXPECT_FALSE(HttpTransport::Create(access).ok());
  access.certificate_authority_pem = certs_->ca_cert_pem;
  access.client_certificate_pem = certs_->client_cert_pem;
  access.client_key_pem = crypto::SecretBytes::CopyFrom("SECRETKEYJUNK");
  absl::StatusOr<std::unique_ptr<HttpTransport>> transport =
      HttpTransport::Create(access);
  ASSERT_FALSE(transport.ok());
  EXPECT_THAT(transport.status().message(),
              ::testing::AllOf(HasSubstr("client key"),
                               Not(HasSubstr("SECRETKEYJUNK"))));
}

}  // namespace
}  // namespace kmesh::kube
