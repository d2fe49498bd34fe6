#include "sim/kube/pod_proxy.h"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "kmesh/kube/testing/loopback_http_server.h"
#include "nlohmann/json.hpp"
#include "sim/kube/api_server.h"
#include "sim/kube/testing/kube_objects.h"
#include "sim/kube/testing/test_http_client.h"

namespace kmesh::sim::kube {
namespace {

using nlohmann::json;
namespace pod_testing = ::kmesh::kube::testing;

constexpr char kNs[] = "kmesh-system";

TEST(SplitSchemeNamePortTest, TheThreeFormsAndWhatIsInvalid) {
  SchemeNamePort id;
  ASSERT_TRUE(SplitSchemeNamePort("pod", &id));
  EXPECT_EQ(id.scheme, "");
  EXPECT_EQ(id.name, "pod");
  EXPECT_EQ(id.port, "");
  ASSERT_TRUE(SplitSchemeNamePort("pod:15200", &id));
  EXPECT_EQ(id.name, "pod");
  EXPECT_EQ(id.port, "15200");
  ASSERT_TRUE(SplitSchemeNamePort("https:pod:metrics", &id));
  EXPECT_EQ(id.scheme, "https");
  EXPECT_EQ(id.port, "metrics");
  ASSERT_TRUE(SplitSchemeNamePort("pod:", &id));
  EXPECT_EQ(id.port, "");
  EXPECT_FALSE(SplitSchemeNamePort("", &id));
  EXPECT_FALSE(SplitSchemeNamePort(":80", &id));
  EXPECT_FALSE(SplitSchemeNamePort("ftp:pod:80", &id));
  EXPECT_FALSE(SplitSchemeNamePort("http:pod:80:1", &id));
}

TEST(IsGlobalUnicastIpTest, AsGoDecides) {
  EXPECT_TRUE(IsGlobalUnicastIp("10.244.1.5"));
  EXPECT_TRUE(IsGlobalUnicastIp("010.244.001.005"));  // ParseIPSloppy.
  EXPECT_TRUE(IsGlobalUnicastIp("2001:db8::1"));
  EXPECT_FALSE(IsGlobalUnicastIp(""));
  EXPECT_FALSE(IsGlobalUnicastIp("pod.local"));
  EXPECT_FALSE(IsGlobalUnicastIp("127.0.0.1"));
  EXPECT_FALSE(IsGlobalUnicastIp("0.0.0.0"));
  EXPECT_FALSE(IsGlobalUnicastIp("255.255.255.255"));
  EXPECT_FALSE(IsGlobalUnicastIp("224.0.0.1"));
  EXPECT_FALSE(IsGlobalUnicastIp("169.254.1.1"));
  EXPECT_FALSE(IsGlobalUnicastIp("::1"));
  EXPECT_FALSE(IsGlobalUnicastIp("::"));
  EXPECT_FALSE(IsGlobalUnicastIp("fe80::1"));
  EXPECT_FALSE(IsGlobalUnicastIp("ff02::1"));
  EXPECT_FALSE(IsGlobalUnicastIp("::ffff:127.0.0.1"));
  EXPECT_TRUE(IsLoopbackIp("127.0.0.1"));
  EXPECT_TRUE(IsLoopbackIp("::1"));
  EXPECT_FALSE(IsLoopbackIp("10.0.0.1"));
}

TEST(CleanProxyPathTest, AsPathJoin) {
  EXPECT_EQ(CleanProxyPath(""), "");
  EXPECT_EQ(CleanProxyPath("a//b/./c/../d"), "a/b/d");
  EXPECT_EQ(CleanProxyPath("../x"), "../x");
  EXPECT_EQ(CleanProxyPath("a/"), "a/");
}

TEST(EscapeUrlPathTest, AsGoEscapesAPath) {
  EXPECT_EQ(EscapeUrlPath("/a b/c%d:e@f;g=h$,+&"), "/a%20b/c%25d:e@f;g=h$,+&");
  EXPECT_EQ(EscapeUrlPath("/q?x#y"), "/q%3Fx%23y");
}

// A port nothing listens on.
uint16_t DeadPort() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr = {};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  socklen_t len = sizeof(addr);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

class PodProxyServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    pod_ = pod_testing::LoopbackHttpServer::Start(
        [](const pod_testing::ReceivedRequest& request) {
          pod_testing::ScriptedResponse response;
          if (request.target.find("fail") != std::string::npos) {
            response.status = 503;
            response.headers = {{"Content-Type", "application/json"}};
            response.body = R"({"healthy":false})";
            return response;
          }
          response.headers = {{"Content-Type", "text/plain; version=0.0.4"},
                              {"X-Pod", "daemon"}};
          if (request.method != "HEAD") {
            response.body = absl::StrCat(request.method, " ", request.target,
                                         " ", request.body);
          }
          return response;
        });
    ApiServer::Options options;
    options.pod_proxy.timeout = std::chrono::milliseconds(500);
    options.pod_proxy.allow_loopback_pod_ips = true;
    StartServer(std::move(options));
  }

  void StartServer(ApiServer::Options options) {
    server_.reset();
    auto started = ApiServer::Start(std::move(options));
    ASSERT_TRUE(started.ok()) << started.status();
    server_ = *std::move(started);
    ASSERT_TRUE(CreateNamespace(server_->store(), kNs).ok());
  }

  // A pod at 127.0.0.1 (`ip`) whose only container declares `ports`.
  void AddPod(const std::string& name, std::vector<int> ports,
              const std::string& ip = "127.0.0.1") {
    json container_ports = json::array();
    for (int port : ports) {
      container_ports.push_back({{"containerPort", port}, {"protocol", "TCP"}});
    }
    json pod = {
        {"apiVersion", "v1"},
        {"kind", "Pod"},
        {"metadata", {{"name", name}, {"namespace", kNs}}},
        {"spec",
         {{"containers", json::array({{{"name", "daemon"},
                                       {"image", "kmesh"},
                                       {"ports", container_ports}}})}}}};
    if (!ip.empty()) pod["status"] = {{"podIP", ip}, {"phase", "Running"}};
    auto created = server_->store().Create(Pods(), kNs, pod);
    ASSERT_TRUE(created.ok()) << created.status();
  }

  const ResourceType& Pods() {
    return *server_->store().FindType("", "v1", "pods");
  }

  TestHttpResponse Request(
      const std::string& method, const std::string& target,
      const std::string& body = "",
      const std::map<std::string, std::string>& headers = {}) {
    auto client = TestHttpClient::Connect(server_->port());
    EXPECT_TRUE(client.ok()) << client.status();
    if (!client.ok()) return {};
    auto response =
        (*client)->Send(method, target, body, "application/json", headers);
    EXPECT_TRUE(response.ok()) << response.status();
    return response.ok() ? *response : TestHttpResponse{};
  }

  static std::string ProxyPath(const std::string& id,
                               const std::string& rest = "") {
    return absl::StrCat("/api/v1/namespaces/", kNs, "/pods/", id, "/proxy",
                        rest);
  }

  static json Status(const TestHttpResponse& response) {
    json status = json::parse(response.body, nullptr, false);
    EXPECT_TRUE(status.is_object()) << response.body;
    EXPECT_EQ(status.value("kind", ""), "Status") << response.body;
    return status;
  }

  std::unique_ptr<pod_testing::LoopbackHttpServer> pod_;
  std::unique_ptr<ApiServer> server_;
};

TEST_F(PodProxyServerTest, RelaysPathQueryCodeAndContentType) {
  AddPod("node-a", {pod_->port()});
  TestHttpResponse response =
      Request("GET", ProxyPath("node-a", "/status/ipsec?verbose=1&x=a%20b"));
  EXPECT_EQ(response.code, 200) << response.body;
  EXPECT_EQ(response.headers["content-type"], "text/plain; version=0.0.4");
  EXPECT_EQ(response.headers["x-pod"], "daemon");
  EXPECT_EQ(response.body, "GET /status/ipsec?verbose=1&x=a%20b ");
  ASSERT_EQ(pod_->requests().size(), 1u);
  EXPECT_EQ(pod_->requests()[0].headers.count("authorization"), 0u);

  auto log = server_->RequestLog();
  ASSERT_FALSE(log.empty());
  EXPECT_EQ(log.back().method, "GET");
  EXPECT_EQ(log.back().path, ProxyPath("node-a", "/status/ipsec"));
  EXPECT_EQ(log.back().query, "verbose=1&x=a%20b");
  EXPECT_EQ(log.back().code, 200);
}

TEST_F(PodProxyServerTest, ThePodsOwnErrorIsPassedThrough) {
  AddPod("node-a", {pod_->port()});
  TestHttpResponse response = Request("GET", ProxyPath("node-a", "/fail"));
  EXPECT_EQ(response.code, 503);
  EXPECT_EQ(response.headers["content-type"], "application/json");
  EXPECT_EQ(response.body, R"({"healthy":false})");
}

TEST_F(PodProxyServerTest, PathIsCleanedAndEscapedAndKeepsItsTrailingSlash) {
  AddPod("node-a", {pod_->port()});
  EXPECT_EQ(Request("GET", ProxyPath("node-a", "/a//b/./c%20d/")).body,
            "GET /a/b/c%20d/ ");
  EXPECT_EQ(Request("GET", ProxyPath("node-a", "/")).body, "GET / ");
}

TEST_F(PodProxyServerTest, AnEmptyPathIsRedirectedToTheSlash) {
  AddPod("node-a", {pod_->port()});
  TestHttpResponse response = Request("GET", ProxyPath("node-a") + "?a=1");
  EXPECT_EQ(response.code, 301);
  EXPECT_EQ(response.headers["location"], ProxyPath("node-a", "/?a=1"));
  EXPECT_TRUE(pod_->requests().empty());
}

TEST_F(PodProxyServerTest, PortFromTheIdOrTheFirstDeclaredContainerPort) {
  // The declared port is dead: only "name:port" reaches the server.
  AddPod("node-a", {DeadPort(), pod_->port()});
  EXPECT_EQ(
      Request("GET", ProxyPath(absl::StrCat("node-a:", pod_->port()), "/x"))
          .code,
      200);
  EXPECT_EQ(Request("GET",
                    ProxyPath(absl::StrCat("http:node-a:", pod_->port()), "/x"))
                .code,
            200);
  EXPECT_EQ(Request("GET", ProxyPath("node-a", "/x")).code, 503);

  // The first container with ports decides.
  json pod = {
      {"apiVersion", "v1"},
      {"kind", "Pod"},
      {"metadata", {{"name", "node-b"}, {"namespace", kNs}}},
      {"spec",
       {{"containers",
         json::array({{{"name", "init"}, {"image", "busybox"}},
                      {{"name", "daemon"},
                       {"image", "kmesh"},
                       {"ports", json::array({{{"containerPort", pod_->port()}},
                                              {{"containerPort", 1}}})}}})}}},
      {"status", {{"podIP", "127.0.0.1"}}}};
  ASSERT_TRUE(server_->store().Create(Pods(), kNs, pod).ok());
  EXPECT_EQ(Request("GET", ProxyPath("node-b", "/x")).code, 200);
}

TEST_F(PodProxyServerTest, IdsTheRealServerRejects) {
  AddPod("node-a", {pod_->port()});
  TestHttpResponse bad = Request("GET", ProxyPath("ftp:node-a:80", "/x"));
  EXPECT_EQ(bad.code, 400);
  EXPECT_EQ(Status(bad)["message"], "invalid pod request \"ftp:node-a:80\"");
  EXPECT_EQ(Request("GET", ProxyPath("a:b:c:d", "/x")).code, 400);

  // A port name is not looked up among the container ports: the real server
  // fails to build the URL and panics.
  TestHttpResponse named = Request("GET", ProxyPath("node-a:metrics", "/x"));
  EXPECT_EQ(named.code, 500);
  EXPECT_EQ(named.body,
            "This request caused apiserver to panic. Look in the logs for "
            "details.\n");

  TestHttpResponse https = Request(
      "GET", ProxyPath(absl::StrCat("https:node-a:", pod_->port()), "/x"));
  EXPECT_EQ(https.code, 503);
  EXPECT_NE(Status(https)["message"].get<std::string>().find("https"),
            std::string::npos);
  EXPECT_TRUE(pod_->requests().empty());
}

TEST_F(PodProxyServerTest, AMissingPodIsNotFound) {
  TestHttpResponse response = Request("GET", ProxyPath("nope", "/x"));
  EXPECT_EQ(response.code, 404);
  json status = Status(response);
  EXPECT_EQ(status["reason"], "NotFound");
  EXPECT_EQ(status["message"], "pods \"nope\" not found");
}

TEST_F(PodProxyServerTest, APodWithoutAnIpIsNotAnAllowedAddress) {
  AddPod("pending", {pod_->port()}, /*ip=*/"");
  TestHttpResponse response = Request("GET", ProxyPath("pending", "/x"));
  EXPECT_EQ(response.code, 400);
  json status = Status(response);
  EXPECT_EQ(status["reason"], "BadRequest");
  EXPECT_EQ(status["message"], "address not allowed");
}

// Bytes that are not UTF-8 in the pod's id, and a pod whose IP fields are
// not strings: proper errors, and the server goes on serving.
TEST_F(PodProxyServerTest, BadBytesAndOddIpFieldsAreErrorsNotACrash) {
  AddPod("node-a", {pod_->port()});
  // Four parts: not scheme:name:port, quoted in the message.
  TestHttpResponse bad = Request("GET", ProxyPath("%FF:a:b:c", "/"));
  EXPECT_EQ(bad.code, 400) << bad.body;
  EXPECT_EQ(Status(bad)["message"],
            "invalid pod request \"\xEF\xBF\xBD:a:b:c\"");
  // A name that is no pod's: its NotFound message carries the bytes.
  TestHttpResponse missing = Request("GET", ProxyPath("%FF", "/x"));
  EXPECT_EQ(missing.code, 404) << missing.body;
  EXPECT_EQ(Status(missing)["message"], "pods \"\xEF\xBF\xBD\" not found");
  missing =
      Request("GET", absl::StrCat("/api/v1/namespaces/", kNs, "/pods/%C3%28"));
  EXPECT_EQ(missing.code, 404) << missing.body;

  int n = 0;
  for (const json& status : {
           json{{"podIP", 5}},
           json{{"podIP", json::array({"127.0.0.1"})}},
           json{{"podIPs", json::array({{{"ip", 5}}})}, {"podIP", 5}},
           json{{"podIPs", json::array({{{"ip", nullptr}}})}},
           json{{"podIPs", json::array({{{"ip", {{"v4", "127.0.0.1"}}}}})}},
       }) {
    const std::string name = absl::StrCat("odd-", n++);
    json pod = {
        {"apiVersion", "v1"},
        {"kind", "Pod"},
        {"metadata", {{"name", name}, {"namespace", kNs}}},
        {"spec",
         {{"containers",
           json::array({{{"name", "daemon"},
                         {"image", "kmesh"},
                         {"ports", json::array({{{"containerPort",
                                                  pod_->port()}}})}}})}}},
        {"status", status}};
    auto created = server_->store().Create(Pods(), kNs, pod);
    ASSERT_TRUE(created.ok()) << created.status();
    TestHttpResponse response = Request("GET", ProxyPath(name, "/x"));
    EXPECT_EQ(response.code, 400) << status.dump() << " " << response.body;
    EXPECT_EQ(Status(response)["message"], "address not allowed")
        << status.dump();
  }

  TestHttpResponse served = Request("GET", ProxyPath("node-a", "/x"));
  EXPECT_EQ(served.code, 200) << served.body;
  EXPECT_EQ(served.body, "GET /x ");
}

TEST_F(PodProxyServerTest, LoopbackPodIpsAreRefusedUnlessAllowed) {
  StartServer({});
  AddPod("node-a", {pod_->port()});
  TestHttpResponse response = Request("GET", ProxyPath("node-a", "/x"));
  EXPECT_EQ(response.code, 400);
  EXPECT_EQ(Status(response)["message"], "address not allowed");
  EXPECT_TRUE(pod_->requests().empty());
}

TEST_F(PodProxyServerTest, ADeadPodIsServiceUnavailable) {
  const uint16_t dead = DeadPort();
  AddPod("node-a", {dead});
  TestHttpResponse response = Request("GET", ProxyPath("node-a", "/x"));
  EXPECT_EQ(response.code, 503);
  json status = Status(response);
  EXPECT_EQ(status["reason"], "ServiceUnavailable");
  EXPECT_EQ(status["message"],
            absl::StrCat("error trying to reach service: dial tcp 127.0.0.1:",
                         dead, ": connect: connection refused"));
}

TEST_F(PodProxyServerTest, ASilentPodTimesOutWithServiceUnavailable) {
  // Listens (the kernel completes the handshake) but never answers.
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr = {};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  ASSERT_EQ(::listen(fd, 4), 0);
  socklen_t len = sizeof(addr);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  AddPod("node-a", {ntohs(addr.sin_port)});

  const auto start = std::chrono::steady_clock::now();
  TestHttpResponse response = Request("GET", ProxyPath("node-a", "/x"));
  const auto took = std::chrono::steady_clock::now() - start;
  ::close(fd);
  EXPECT_EQ(response.code, 503);
  EXPECT_EQ(Status(response)["message"],
            "error trying to reach service: net/http: timeout awaiting "
            "response headers");
  EXPECT_LT(took, std::chrono::seconds(3));
}

TEST_F(PodProxyServerTest, MethodsBodiesAndHead) {
  AddPod("node-a", {pod_->port()});
  TestHttpResponse post =
      Request("POST", ProxyPath("node-a", "/reload"), "{\"now\":true}");
  EXPECT_EQ(post.code, 200);
  EXPECT_EQ(post.body, "POST /reload {\"now\":true}");

  TestHttpResponse head = Request("HEAD", ProxyPath("node-a", "/x"));
  EXPECT_EQ(head.code, 200);
  EXPECT_EQ(head.body, "");
  ASSERT_EQ(pod_->requests().size(), 2u);
  EXPECT_EQ(pod_->requests()[1].method, "HEAD");

  EXPECT_EQ(Request("TRACE", ProxyPath("node-a", "/x")).code, 405);
}

// A pod announcing more than the proxy holds (64 MiB), with body bytes in
// the same read: Boost 1.74's eager parser would forget the limit and
// reserve the announced 100 GB.
TEST_F(PodProxyServerTest, APodAnnouncingAHugeBodyIsAnErrorNotAnAllocation) {
  auto pod = pod_testing::LoopbackHttpServer::Start(
      [](const pod_testing::ReceivedRequest&) {
        pod_testing::ScriptedResponse response;
        response.raw =
            "HTTP/1.1 200 OK\r\nContent-Length: 100000000000\r\n\r\nok";
        return response;
      });
  AddPod("node-a", {pod->port()});
  TestHttpResponse response = Request("GET", ProxyPath("node-a", "/x"));
  EXPECT_EQ(response.code, 503);
  EXPECT_EQ(Status(response)["reason"], "ServiceUnavailable");
}

TEST_F(PodProxyServerTest, AuthorizationIsForPodsProxyAndNotForwarded) {
  AddPod("node-a", {pod_->port()});
  server_->RequireBearerToken("s3cret");
  const std::map<std::string, std::string> auth = {
      {"Authorization", "Bearer s3cret"}};
  EXPECT_EQ(Request("GET", ProxyPath("node-a", "/x")).code, 401);
  EXPECT_EQ(Request("GET", ProxyPath("node-a", "/x"), "", auth).code, 200);
  ASSERT_EQ(pod_->requests().size(), 1u);
  EXPECT_EQ(pod_->requests()[0].headers.count("authorization"), 0u);

  // A rule on "pods" is not one on "pods/proxy", and the reverse.
  server_->Forbid("get", "pods");
  EXPECT_EQ(Request("GET", ProxyPath("node-a", "/x"), "", auth).code, 200);
  server_->ClearFaults();
  server_->Forbid("get", "pods/proxy");
  EXPECT_EQ(
      Request("GET", absl::StrCat("/api/v1/namespaces/", kNs, "/pods/node-a"))
          .code,
      200);
  TestHttpResponse forbidden = Request("HEAD", ProxyPath("node-a", "/x"));
  EXPECT_EQ(forbidden.code, 403);
  forbidden = Request("GET", ProxyPath("node-a:15200", "/x"));
  EXPECT_EQ(forbidden.code, 403);
  EXPECT_EQ(Status(forbidden)["message"],
            "pods \"node-a:15200\" is forbidden: User \"system:anonymous\" "
            "cannot get resource \"pods/proxy\" in API group \"\" in the "
            "namespace \"kmesh-system\"");
  // POST is the verb "create", which is not forbidden.
  EXPECT_EQ(Request("POST", ProxyPath("node-a", "/x"), "{}").code, 200);
}

}  // namespace
}  // namespace kmesh::sim::kube
