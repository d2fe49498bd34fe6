// The REST client (lists, writes and a watch stream) against the simulated
// API server, reached only through an HTTP CONNECT proxy
// (testing/connect_proxy.h) that alone resolves the server's name.
#include <chrono>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "kmesh/kube/kube_client.h"
#include "kmesh/kube/kubeconfig.h"
#include "kmesh/kube/rest_kube_client.h"
#include "kmesh/kube/testing/connect_proxy.h"
#include "sim/kube/api_server.h"
#include "sim/kube/testing/test_certs.h"
#include "sim/kube/testing/tls_server_options.h"

namespace kmesh::kube {
namespace {

using std::chrono::milliseconds;
using testing::ConnectProxy;
using testing::ConnectProxyOptions;
using ::testing::HasSubstr;

constexpr milliseconds kWait(10000);

std::string TempDir() {
  const char* dir = std::getenv("TEST_TMPDIR");
  return dir != nullptr ? dir : "/tmp";
}

TEST(RestKubeClientProxyTest, ListWriteAndWatchThroughTheTunnel) {
  absl::StatusOr<sim::kube::TestCertificates> certs =
      sim::kube::GenerateTestCertificates();
  ASSERT_TRUE(certs.ok()) << certs.status();
  absl::StatusOr<std::unique_ptr<sim::kube::ApiServer>> server =
      sim::kube::ApiServer::Start(sim::kube::TlsServerOptions(*certs));
  ASSERT_TRUE(server.ok()) << server.status();
  ConnectProxyOptions proxy_options;
  proxy_options.hosts = {{"kube.test", "127.0.0.1"}};
  auto proxy = ConnectProxy::Start(proxy_options);

  // The server's own kubeconfig, pointed at https://kube.test:PORT through
  // the proxy.
  const std::string path = TempDir() + "/kubeconfig-proxy";
  ASSERT_TRUE((*server)->WriteKubeconfig(path).ok());
  std::stringstream text;
  text << std::ifstream(path).rdbuf();
  const std::string target = absl::StrCat("kube.test:", (*server)->port());
  const std::string rewritten = absl::StrReplaceAll(
      text.str(),
      {{absl::StrCat("server: \"", (*server)->url(), "\""),
        absl::StrCat("server: \"https://", target, "\"\n    proxy-url: \"",
                     proxy->url(), "\"")}});
  ASSERT_NE(rewritten, text.str());
  std::ofstream(path) << rewritten;

  ClusterAccessSearch search;
  search.explicit_kubeconfig = path;
  absl::StatusOr<ClusterAccess> access = FindClusterAccess(search);
  ASSERT_TRUE(access.ok()) << access.status();
  absl::StatusOr<std::unique_ptr<RestKubeClient>> client =
      RestKubeClient::ForCluster(*access);
  ASSERT_TRUE(client.ok()) << client.status();

  ASSERT_TRUE((*client)
                  ->Create(NamespacesKind(), "",
                           R"({"apiVersion":"v1","kind":"Namespace",)"
                           R"("metadata":{"name":"kmesh-system"}})")
                  .ok());
  absl::StatusOr<ObjectList> list =
      (*client)->List(SecretsKind(), "kmesh-system", {});
  ASSERT_TRUE(list.ok()) << list.status();
  ListOptions options;
  options.resource_version = list->resource_version;
  options.timeout = std::chrono::seconds(60);
  absl::StatusOr<std::unique_ptr<WatchStream>> watch =
      (*client)->Watch(SecretsKind(), "kmesh-system", options);
  ASSERT_TRUE(watch.ok()) << watch.status();
  ASSERT_TRUE((*client)
                  ->Create(SecretsKind(), "kmesh-system",
                           R"({"apiVersion":"v1","kind":"Secret",)"
                           R"("metadata":{"name":"through-proxy"}})")
                  .ok());
  bool added = false;
  while (!added) {
    absl::StatusOr<WatchEvent> event = (*watch)->Next(kWait);
    ASSERT_TRUE(event.ok()) << event.status();
    if (event->type != WatchEventType::kAdded) continue;
    EXPECT_THAT(event->ObjectText(), HasSubstr("through-proxy"));
    added = true;
  }
  (*watch)->Close();

  // Every request (namespace, list, watch, secret) was its own tunnel to
  // the server's name.
  const std::vector<testing::ConnectRecord> connects = proxy->connects();
  EXPECT_GE(connects.size(), 4u);
  for (const auto& connect : connects) {
    EXPECT_EQ(connect.target, target);
    EXPECT_EQ(connect.status, 200);
  }
}

}  // namespace
}  // namespace kmesh::kube
