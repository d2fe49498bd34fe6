#include "kmesh/telemetry/http_endpoint.h"

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "kmesh/telemetry/testing/http_test_client.h"

namespace kmesh::telemetry {
namespace {

using ::kmesh::telemetry::testing::HttpTestClient;
using ::testing::HasSubstr;
using ::testing::StartsWith;

constexpr char kMetricsBody[] = "kmesh_up 1\n";
constexpr char kMetricsType[] = "text/plain; version=0.0.4; charset=utf-8";

HttpEndpointOptions TestOptions(std::string address = "127.0.0.1:0") {
  HttpEndpointOptions options;
  options.address = std::move(address);
  options.routes["/metrics"] = [] {
    return HttpResponse{200, kMetricsType, kMetricsBody};
  };
  options.routes["/healthz"] = [] { return HttpResponse{200, "", "ok\n"}; };
  options.routes["/unready"] = [] {
    return HttpResponse{503, "", "not ready\n"};
  };
  options.routes["/throws"] = []() -> HttpResponse {
    throw std::runtime_error("handler failed");
  };
  options.routes["/throws-int"] = []() -> HttpResponse { throw 42; };
  return options;
}

std::unique_ptr<HttpEndpoint> StartOrDie(HttpEndpointOptions options) {
  absl::StatusOr<std::unique_ptr<HttpEndpoint>> endpoint =
      HttpEndpoint::Start(std::move(options));
  EXPECT_TRUE(endpoint.ok()) << endpoint.status();
  if (!endpoint.ok()) return nullptr;
  return *std::move(endpoint);
}

bool Ipv6LoopbackAvailable() {
  boost::asio::io_context ioc;
  boost::asio::ip::tcp::acceptor acceptor(ioc);
  boost::system::error_code ec;
  acceptor.open(boost::asio::ip::tcp::v6(), ec);
  if (!ec) {
    acceptor.bind(boost::asio::ip::tcp::endpoint(
                      boost::asio::ip::address_v6::loopback(), 0),
                  ec);
  }
  return !ec;
}

TEST(HttpEndpointTest, ServesARouteWithItsContentTypeAndLength) {
  auto endpoint = StartOrDie(TestOptions());
  ASSERT_NE(endpoint, nullptr);
  EXPECT_NE(endpoint->port(), 0);
  HttpTestClient client("127.0.0.1", endpoint->port());
  ASSERT_TRUE(client.status().ok()) << client.status();
  auto response = client.Request(
      "GET", "/metrics",
      "Accept: application/openmetrics-text;version=1.0.0,application/"
      "openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,"
      "*/*;q=0.1\r\n");
  ASSERT_TRUE(response.has_value());
  EXPECT_EQ(response->result_int(), 200);
  EXPECT_EQ(response->version(), 11);
  EXPECT_EQ((*response)["Content-Type"], kMetricsType);
  EXPECT_EQ((*response)["Content-Length"],
            absl::StrCat(sizeof(kMetricsBody) - 1));
  EXPECT_EQ(response->body(), kMetricsBody);
  EXPECT_TRUE(response->keep_alive());
}

TEST(HttpEndpointTest, DefaultContentTypeAndTheHandlersCode) {
  auto endpoint = StartOrDie(TestOptions());
  ASSERT_NE(endpoint, nullptr);
  HttpTestClient client("127.0.0.1", endpoint->port());
  auto healthz = client.Request("GET", "/healthz");
  ASSERT_TRUE(healthz.has_value());
  EXPECT_EQ(healthz->result_int(), 200);
  EXPECT_EQ((*healthz)["Content-Type"], "text/plain; charset=utf-8");
  EXPECT_EQ(healthz->body(), "ok\n");
  auto unready = client.Request("GET", "/unready");
  ASSERT_TRUE(unready.has_value());
  EXPECT_EQ(unready->result_int(), 503);
  EXPECT_EQ(unready->body(), "not ready\n");
}

TEST(HttpEndpointTest, QueryStringIsIgnoredForRouting) {
  auto endpoint = StartOrDie(TestOptions());
  ASSERT_NE(endpoint, nullptr);
  HttpTestClient client("127.0.0.1", endpoint->port());
  auto response = client.Request("GET", "/metrics?name[]=kmesh_up&x=1");
  ASSERT_TRUE(response.has_value());
  EXPECT_EQ(response->result_int(), 200);
  EXPECT_EQ(response->body(), kMetricsBody);
}

TEST(HttpEndpointTest, UnknownPathIs404) {
  auto endpoint = StartOrDie(TestOptions());
  ASSERT_NE(endpoint, nullptr);
  HttpTestClient client("127.0.0.1", endpoint->port());
  for (const char* target : {"/", "/metric", "/metrics/", "/METRICS"}) {
    auto response = client.Request("GET", target);
    ASSERT_TRUE(response.has_value()) << target;
    EXPECT_EQ(response->result_int(), 404) << target;
    EXPECT_TRUE(response->keep_alive()) << target;
  }
}

TEST(HttpEndpointTest, OtherMethodsAre405WithAllowAndKeepTheConnection) {
  auto endpoint = StartOrDie(TestOptions());
  ASSERT_NE(endpoint, nullptr);
  HttpTestClient client("127.0.0.1", endpoint->port());
  ASSERT_TRUE(
      client.Send("POST /metrics HTTP/1.1\r\nHost: test\r\nContent-Length: "
                  "5\r\n\r\nhello"));
  auto post = client.Read();
  ASSERT_TRUE(post.has_value());
  EXPECT_EQ(post->result_int(), 405);
  EXPECT_EQ((*post)["Allow"], "GET, HEAD");
  for (const char* method : {"PUT", "DELETE", "OPTIONS", "PATCH", "BREW"}) {
    auto response = client.Request(method, "/metrics");
    ASSERT_TRUE(response.has_value()) << method;
    EXPECT_EQ(response->result_int(), 405) << method;
    EXPECT_EQ((*response)["Allow"], "GET, HEAD") << method;
  }
  // The same connection still serves a GET.
  auto get = client.Request("GET", "/metrics");
  ASSERT_TRUE(get.has_value());
  EXPECT_EQ(get->result_int(), 200);
}

TEST(HttpEndpointTest, HeadSendsTheHeadersOfGetWithoutTheBody) {
  auto endpoint = StartOrDie(TestOptions());
  ASSERT_NE(endpoint, nullptr);
  HttpTestClient client("127.0.0.1", endpoint->port());
  // HEAD then GET on one connection: a body after HEAD's headers would be
  // taken for the GET's response.
  auto head = client.Request("HEAD", "/metrics");
  ASSERT_TRUE(head.has_value());
  EXPECT_EQ(head->result_int(), 200);
  EXPECT_EQ((*head)["Content-Length"], absl::StrCat(sizeof(kMetricsBody) - 1));
  EXPECT_EQ((*head)["Content-Type"], kMetricsType);
  EXPECT_EQ(head->body(), "");
  auto get = client.Request("GET", "/healthz");
  ASSERT_TRUE(get.has_value());
  EXPECT_EQ(get->result_int(), 200);
  EXPECT_EQ(get->body(), "ok\n");

  // And on the wire: nothing after HEAD's blank line.
  HttpTestClient raw("127.0.0.1", endpoint->port());
  ASSERT_TRUE(raw.Send(
      "HEAD /metrics HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n"));
  std::string bytes;
  EXPECT_TRUE(raw.WaitForClose(absl::Seconds(5), &bytes));
  EXPECT_THAT(bytes, StartsWith("HTTP/1.1 200 OK\r\n"));
  EXPECT_THAT(bytes, HasSubstr("Content-Length: 11\r\n"));
  EXPECT_TRUE(absl::EndsWith(bytes, "\r\n\r\n")) << bytes;
}

TEST(HttpEndpointTest, KeepAliveServesManyRequestsOnOneConnection) {
  std::atomic<int> calls{0};
  HttpEndpointOptions options = TestOptions();
  options.routes["/count"] = [&calls] {
    return HttpResponse{200, "", absl::StrCat(++calls)};
  };
  auto endpoint = StartOrDie(std::move(options));
  ASSERT_NE(endpoint, nullptr);
  HttpTestClient client("127.0.0.1", endpoint->port());
  for (int i = 1; i <= 3; ++i) {
    auto response = client.Request("GET", "/count");
    ASSERT_TRUE(response.has_value()) << i;
    EXPECT_EQ(response->body(), absl::StrCat(i));
    EXPECT_TRUE(response->keep_alive());
  }
  // Two pipelined requests in one write get two responses, in order.
  ASSERT_TRUE(
      client.Send("GET /count HTTP/1.1\r\nHost: t\r\n\r\n"
                  "GET /count?again HTTP/1.1\r\nHost: t\r\n\r\n"));
  auto fourth = client.Read();
  auto fifth = client.Read();
  ASSERT_TRUE(fourth.has_value());
  ASSERT_TRUE(fifth.has_value());
  EXPECT_EQ(fourth->body(), "4");
  EXPECT_EQ(fifth->body(), "5");
}

TEST(HttpEndpointTest, ConnectionCloseIsHonoured) {
  auto endpoint = StartOrDie(TestOptions());
  ASSERT_NE(endpoint, nullptr);
  HttpTestClient client("127.0.0.1", endpoint->port());
  auto response = client.Request("GET", "/healthz", "Connection: close\r\n");
  ASSERT_TRUE(response.has_value());
  EXPECT_EQ(response->result_int(), 200);
  EXPECT_FALSE(response->keep_alive());
  EXPECT_TRUE(client.WaitForClose(absl::Seconds(5)));
}

TEST(HttpEndpointTest, Http10WithoutKeepAliveIsClosedAfterTheResponse) {
  auto endpoint = StartOrDie(TestOptions());
  ASSERT_NE(endpoint, nullptr);
  HttpTestClient client("127.0.0.1", endpoint->port());
  ASSERT_TRUE(client.Send("GET /healthz HTTP/1.0\r\n\r\n"));
  auto response = client.Read();
  ASSERT_TRUE(response.has_value());
  EXPECT_EQ(response->version(), 10);
  EXPECT_EQ(response->body(), "ok\n");
  EXPECT_TRUE(client.WaitForClose(absl::Seconds(5)));
}

TEST(HttpEndpointTest, OversizedRequestHeadersAre431AndClosed) {
  auto endpoint = StartOrDie(TestOptions());
  ASSERT_NE(endpoint, nullptr);
  HttpTestClient client("127.0.0.1", endpoint->port());
  ASSERT_TRUE(client.Send(absl::StrCat("GET /metrics HTTP/1.1\r\nHost: t\r\n",
                                       "X-Big: ", std::string(20000, 'a'),
                                       "\r\n\r\n")));
  auto response = client.Read();
  ASSERT_TRUE(response.has_value());
  EXPECT_EQ(response->result_int(), 431);
  EXPECT_FALSE(response->keep_alive());
  EXPECT_TRUE(client.WaitForClose(absl::Seconds(5)));

  // Headers just under the limit are served.
  HttpTestClient under("127.0.0.1", endpoint->port());
  auto ok =
      under.Request("GET", "/metrics",
                    absl::StrCat("X-Big: ", std::string(15000, 'a'), "\r\n"));
  ASSERT_TRUE(ok.has_value());
  EXPECT_EQ(ok->result_int(), 200);
}

TEST(HttpEndpointTest, MalformedRequestIs400AndClosed) {
  auto endpoint = StartOrDie(TestOptions());
  ASSERT_NE(endpoint, nullptr);
  HttpTestClient client("127.0.0.1", endpoint->port());
  ASSERT_TRUE(client.Send("GET /metrics HTTP/9\r\n\r\n"));
  auto response = client.Read();
  ASSERT_TRUE(response.has_value());
  EXPECT_EQ(response->result_int(), 400);
  EXPECT_TRUE(client.WaitForClose(absl::Seconds(5)));
}

TEST(HttpEndpointTest, AHandlerThatThrowsIs500AndTheServerGoesOn) {
  auto endpoint = StartOrDie(TestOptions());
  ASSERT_NE(endpoint, nullptr);
  HttpTestClient client("127.0.0.1", endpoint->port());
  for (const char* target : {"/throws", "/throws-int"}) {
    auto response = client.Request("GET", target);
    ASSERT_TRUE(response.has_value()) << target;
    EXPECT_EQ(response->result_int(), 500) << target;
    EXPECT_EQ(response->body().find("handler failed"), std::string::npos);
  }
  auto after = client.Request("GET", "/metrics");
  ASSERT_TRUE(after.has_value());
  EXPECT_EQ(after->result_int(), 200);
}

TEST(HttpEndpointTest, StopWithIdleConnectionsReturnsPromptly) {
  auto endpoint = StartOrDie(TestOptions());
  ASSERT_NE(endpoint, nullptr);
  // One connection idle after a request, one that never sent anything, one
  // in the middle of its request headers.
  HttpTestClient after_request("127.0.0.1", endpoint->port());
  ASSERT_TRUE(after_request.Request("GET", "/metrics").has_value());
  HttpTestClient silent("127.0.0.1", endpoint->port());
  HttpTestClient partial("127.0.0.1", endpoint->port());
  ASSERT_TRUE(partial.Send("GET /metrics HTTP/1.1\r\nHost:"));
  absl::SleepFor(absl::Milliseconds(100));  // All accepted.

  const absl::Time start = absl::Now();
  endpoint->Stop();
  EXPECT_LT(absl::Now() - start, absl::Seconds(2));
  EXPECT_TRUE(after_request.WaitForClose(absl::Seconds(2)));
  EXPECT_TRUE(silent.WaitForClose(absl::Seconds(2)));
  EXPECT_TRUE(partial.WaitForClose(absl::Seconds(2)));
  endpoint->Stop();  // Idempotent.
  HttpTestClient refused("127.0.0.1", endpoint->port());
  EXPECT_FALSE(refused.status().ok());
}

TEST(HttpEndpointTest, IdleAndSlowClientsTimeOut) {
  HttpEndpointOptions options = TestOptions();
  options.idle_timeout = absl::Milliseconds(300);
  auto endpoint = StartOrDie(std::move(options));
  ASSERT_NE(endpoint, nullptr);
  HttpTestClient idle("127.0.0.1", endpoint->port());
  ASSERT_TRUE(idle.Request("GET", "/metrics").has_value());
  HttpTestClient slow("127.0.0.1", endpoint->port());
  const absl::Time start = absl::Now();
  // A byte every 100 ms: progress does not extend the request's deadline.
  bool closed = false;
  for (int i = 0; i < 30 && !closed; ++i) {
    closed = !slow.Send("X") || slow.WaitForClose(absl::Milliseconds(100));
  }
  EXPECT_TRUE(closed);
  EXPECT_LT(absl::Now() - start, absl::Seconds(2));
  EXPECT_TRUE(idle.WaitForClose(absl::Seconds(2)));
}

TEST(HttpEndpointTest, ConnectionsBeyondTheLimitGet503) {
  HttpEndpointOptions options = TestOptions();
  options.max_connections = 2;
  auto endpoint = StartOrDie(std::move(options));
  ASSERT_NE(endpoint, nullptr);
  auto first = std::make_unique<HttpTestClient>("127.0.0.1", endpoint->port());
  HttpTestClient second("127.0.0.1", endpoint->port());
  ASSERT_TRUE(first->Request("GET", "/healthz").has_value());
  ASSERT_TRUE(second.Request("GET", "/healthz").has_value());

  HttpTestClient third("127.0.0.1", endpoint->port());
  auto refused = third.Request("GET", "/healthz");
  ASSERT_TRUE(refused.has_value());
  EXPECT_EQ(refused->result_int(), 503);
  EXPECT_FALSE(refused->keep_alive());
  EXPECT_TRUE(third.WaitForClose(absl::Seconds(5)));

  // Once a connection is closed, a new one is served again.
  first.reset();
  std::optional<HttpTestClient::Response> served;
  const absl::Time deadline = absl::Now() + absl::Seconds(5);
  while (absl::Now() < deadline) {
    HttpTestClient next("127.0.0.1", endpoint->port());
    served = next.Request("GET", "/healthz");
    if (served.has_value() && served->result_int() == 200) break;
    absl::SleepFor(absl::Milliseconds(20));
  }
  ASSERT_TRUE(served.has_value());
  EXPECT_EQ(served->result_int(), 200);
}

// Connections that never send a request cannot lock real clients out: one
// beyond the limit is answered 503 at once (not after its request), and the
// silent ones are closed after first_request_timeout (5 s by default), not
// idle_timeout (30 s).
TEST(HttpEndpointTest, SilentConnectionsDoNotLockOutRealClients) {
  HttpEndpointOptions options = TestOptions();
  options.max_connections = 4;
  ASSERT_EQ(options.first_request_timeout, absl::Seconds(5));
  ASSERT_EQ(options.idle_timeout, absl::Seconds(30));
  auto endpoint = StartOrDie(std::move(options));
  ASSERT_NE(endpoint, nullptr);
  const absl::Time start = absl::Now();
  std::vector<std::unique_ptr<HttpTestClient>> silent;
  for (int i = 0; i < 4; ++i) {
    silent.push_back(
        std::make_unique<HttpTestClient>("127.0.0.1", endpoint->port()));
    ASSERT_TRUE(silent.back()->status().ok()) << silent.back()->status();
  }
  absl::SleepFor(absl::Milliseconds(100));  // All accepted.

  // Over the limit: 503 before the client has sent anything.
  HttpTestClient refused("127.0.0.1", endpoint->port());
  const absl::Time refused_at = absl::Now();
  auto early = refused.Read(/*head=*/false, absl::Seconds(2));
  ASSERT_TRUE(early.has_value());
  EXPECT_LT(absl::Now() - refused_at, absl::Seconds(1));
  EXPECT_EQ(early->result_int(), 503);
  EXPECT_EQ((*early)["Retry-After"], "1");
  EXPECT_EQ((*early)["Connection"], "close");
  EXPECT_FALSE(early->keep_alive());
  EXPECT_TRUE(refused.WaitForClose(absl::Seconds(3)));

  // A real client is served as soon as the silent ones are dropped.
  std::optional<HttpTestClient::Response> served;
  while (absl::Now() - start < absl::Seconds(8)) {
    HttpTestClient next("127.0.0.1", endpoint->port());
    served = next.Request("GET", "/healthz");
    if (served.has_value() && served->result_int() == 200) break;
    EXPECT_TRUE(served.has_value());  // 503, not silence.
    absl::SleepFor(absl::Milliseconds(200));
  }
  const absl::Duration took = absl::Now() - start;
  ASSERT_TRUE(served.has_value());
  EXPECT_EQ(served->result_int(), 200);
  EXPECT_GT(took, absl::Seconds(4));
  EXPECT_LT(took, absl::Seconds(7));
  for (auto& client : silent) {
    EXPECT_TRUE(client->WaitForClose(absl::Seconds(1)));
  }
}

TEST(HttpEndpointTest, TheFirstRequestHasAShorterDeadlineThanKeepAlive) {
  HttpEndpointOptions options = TestOptions();
  options.first_request_timeout = absl::Milliseconds(300);
  options.idle_timeout = absl::Seconds(5);
  auto endpoint = StartOrDie(std::move(options));
  ASSERT_NE(endpoint, nullptr);
  HttpTestClient silent("127.0.0.1", endpoint->port());
  HttpTestClient partial("127.0.0.1", endpoint->port());
  ASSERT_TRUE(partial.Send("GET /healthz HTTP/1.1\r\nHost:"));
  HttpTestClient kept("127.0.0.1", endpoint->port());
  ASSERT_TRUE(kept.Request("GET", "/healthz").has_value());
  const absl::Time start = absl::Now();
  EXPECT_TRUE(silent.WaitForClose(absl::Seconds(2)));
  EXPECT_TRUE(partial.WaitForClose(absl::Seconds(2)));
  EXPECT_LT(absl::Now() - start, absl::Seconds(1));
  // Between keep-alive requests, idle_timeout applies.
  absl::SleepFor(absl::Milliseconds(700));
  auto again = kept.Request("GET", "/healthz");
  ASSERT_TRUE(again.has_value());
  EXPECT_EQ(again->result_int(), 200);
}

TEST(HttpEndpointTest, ManyClientsAtOnce) {
  auto endpoint = StartOrDie(TestOptions());
  ASSERT_NE(endpoint, nullptr);
  std::atomic<int> ok{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      HttpTestClient client("127.0.0.1", endpoint->port());
      for (int i = 0; i < 25; ++i) {
        auto response = client.Request("GET", "/metrics");
        if (response.has_value() && response->body() == kMetricsBody) ++ok;
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(ok, 200);
}

TEST(HttpEndpointTest, ServesOnIpv6Loopback) {
  if (!Ipv6LoopbackAvailable()) GTEST_SKIP() << "no IPv6 loopback here";
  auto endpoint = StartOrDie(TestOptions("[::1]:0"));
  ASSERT_NE(endpoint, nullptr);
  HttpTestClient client("::1", endpoint->port());
  ASSERT_TRUE(client.status().ok()) << client.status();
  auto response = client.Request("GET", "/metrics");
  ASSERT_TRUE(response.has_value());
  EXPECT_EQ(response->body(), kMetricsBody);
  HttpTestClient v4("127.0.0.1", endpoint->port());
  EXPECT_FALSE(v4.status().ok());
}

TEST(HttpEndpointTest, ServesOnABracketedIpv4Address) {
  auto endpoint = StartOrDie(TestOptions("[127.0.0.1]:0"));
  ASSERT_NE(endpoint, nullptr);
  HttpTestClient client("127.0.0.1", endpoint->port());
  auto response = client.Request("GET", "/healthz");
  ASSERT_TRUE(response.has_value());
  EXPECT_EQ(response->result_int(), 200);
}

TEST(HttpEndpointTest, AnEmptyHostListensOnEveryAddress) {
  auto endpoint = StartOrDie(TestOptions(":0"));
  ASSERT_NE(endpoint, nullptr);
  HttpTestClient v4("127.0.0.1", endpoint->port());
  auto response = v4.Request("GET", "/healthz");
  ASSERT_TRUE(response.has_value());
  EXPECT_EQ(response->result_int(), 200);
  if (Ipv6LoopbackAvailable()) {
    HttpTestClient v6("::1", endpoint->port());
    auto v6_response = v6.Request("GET", "/healthz");
    ASSERT_TRUE(v6_response.has_value());
    EXPECT_EQ(v6_response->result_int(), 200);
  }
}

TEST(HttpEndpointTest, StartErrors) {
  auto taken = StartOrDie(TestOptions());
  ASSERT_NE(taken, nullptr);
  auto in_use = HttpEndpoint::Start(
      TestOptions(absl::StrCat("127.0.0.1:", taken->port())));
  EXPECT_EQ(in_use.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(std::string(in_use.status().message()),
              HasSubstr("cannot listen on"));

  // Not an address of this host (TEST-NET-1).
  auto foreign = HttpEndpoint::Start(TestOptions("192.0.2.1:0"));
  EXPECT_EQ(foreign.status().code(), absl::StatusCode::kUnavailable);

  auto bad = HttpEndpoint::Start(TestOptions("localhost:15200"));
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(bad.status().message()),
              StartsWith("--status-address: "));

  HttpEndpointOptions no_connections = TestOptions();
  no_connections.max_connections = 0;
  EXPECT_EQ(HttpEndpoint::Start(std::move(no_connections)).status().code(),
            absl::StatusCode::kInvalidArgument);
  HttpEndpointOptions no_first_request = TestOptions();
  no_first_request.first_request_timeout = absl::ZeroDuration();
  EXPECT_EQ(HttpEndpoint::Start(std::move(no_first_request)).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(ParseListenAddressTest, AcceptsHostPortIpv6AndPortOnly) {
  struct Case {
    const char* text;
    const char* host;
    uint16_t port;
  };
  for (const Case& c : std::vector<Case>{
           {"127.0.0.1:15200", "127.0.0.1", 15200},
           {"10.0.0.5:15200", "10.0.0.5", 15200},
           {"0.0.0.0:80", "0.0.0.0", 80},
           {"[::1]:0", "::1", 0},
           {"[::]:15200", "::", 15200},
           {"[fd00:10:244::5]:65535", "fd00:10:244::5", 65535},
           {"[fd00::5]:15200", "fd00::5", 15200},
           // IPv4 in brackets too: "[$(HOST_IP)]:15200" on either family.
           {"[10.0.0.5]:15200", "10.0.0.5", 15200},
           {"[127.0.0.1]:0", "127.0.0.1", 0},
           {"[0.0.0.0]:80", "0.0.0.0", 80},
           {":15200", "", 15200},
           {":0", "", 0},
       }) {
    absl::StatusOr<ListenAddress> address = ParseListenAddress(c.text);
    ASSERT_TRUE(address.ok()) << c.text << ": " << address.status();
    EXPECT_EQ(address->host, c.host) << c.text;
    EXPECT_EQ(address->port, c.port) << c.text;
  }
}

TEST(ParseListenAddressTest, RejectsWithTheFlagNameAndTheReason) {
  struct Case {
    const char* text;
    const char* reason;
  };
  for (const Case& c : std::vector<Case>{
           {"", "empty"},
           {"off", "no ':port'"},
           {"15200", "no ':port'"},
           {"127.0.0.1", "no ':port'"},
           {"127.0.0.1:", "port \"\" is not a number"},
           {"127.0.0.1:65536", "port \"65536\""},
           {"127.0.0.1:-1", "port \"-1\""},
           {"127.0.0.1:+80", "port \"+80\""},
           {"127.0.0.1:http", "port \"http\""},
           {"127.0.0.1:99999999999999999999", "not a number"},
           {"localhost:15200", "not an IP address"},
           {"256.0.0.1:80", "not an IP address"},
           {"::1:15200", "must be in brackets"},
           {"[::1]", "no ':port' after ']'"},
           {"[::1]15200", "no ':port' after ']'"},
           {"[::1:15200", "no ']'"},
           {"fd00::5:15200", "must be in brackets"},
           {"[]:80", "is not an IPv6 or IPv4 address"},
           {"[]:1", "is not an IPv6 or IPv4 address"},
           {"[]", "no ':port' after ']'"},
           {"[fe80::1%eth0]:80", "is not an IPv6 or IPv4 address"},
           {"[::ffff:127.0.0.1]:80", "plain IPv4"},
           {"[10.0.0.5]", "no ':port' after ']'"},
           {"[10.0.0.5]15200", "no ':port' after ']'"},
           {"[10.0.0.5]:", "port \"\" is not a number"},
           {"[10.0.0.5]:65536", "port \"65536\""},
           {"[10.0.0.5]:15200]", "port \"15200]\""},
           {"[10.0.0.5:15200", "no ']'"},
           {"[10.0.0.5%eth0]:80", "is not an IPv6 or IPv4 address"},
           {"[10.0.5]:80", "is not an IPv6 or IPv4 address"},
           {"[256.0.0.1]:80", "is not an IPv6 or IPv4 address"},
           {"[ 10.0.0.5]:80", "is not an IPv6 or IPv4 address"},
           {"[localhost]:80", "is not an IPv6 or IPv4 address"},
           {"[[10.0.0.5]]:80", "no ':port' after ']'"},
       }) {
    absl::StatusOr<ListenAddress> address = ParseListenAddress(c.text);
    ASSERT_FALSE(address.ok()) << c.text;
    EXPECT_EQ(address.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(address.status().message()),
                StartsWith("--status-address: "))
        << c.text;
    EXPECT_THAT(std::string(address.status().message()), HasSubstr(c.reason))
        << c.text;
  }
  EXPECT_THAT(
      std::string(
          ParseListenAddress("x", "--metrics-address").status().message()),
      StartsWith("--metrics-address: \"x\": "));
}

}  // namespace
}  // namespace kmesh::telemetry
