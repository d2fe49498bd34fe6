// Authentication and identity end to end: kubeconfig -> FindClusterAccess ->
// RestKubeClient -> the simulated API server, with an exec credential plugin
// (a shell script written by the test), impersonation and the refusal of
// credentials over http://.
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "kmesh/kube/kube_client.h"
#include "kmesh/kube/kubeconfig.h"
#include "kmesh/kube/rest_kube_client.h"
#include "nlohmann/json.hpp"
#include "sim/kube/api_server.h"
#include "sim/kube/testing/test_certs.h"
#include "sim/kube/testing/tls_server_options.h"

namespace kmesh::kube {
namespace {

using std::chrono::milliseconds;
using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::Pair;

constexpr char kNamespace[] =
    R"({"apiVersion":"v1","kind":"Namespace","metadata":{"name":"n1"}})";

class KubeAuthSimTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* tmp = std::getenv("TEST_TMPDIR");
    std::string pattern = absl::StrCat(tmp ? tmp : "/tmp", "/auth.XXXXXX");
    ASSERT_NE(mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
  }

  void Start(bool tls) {
    sim::kube::ApiServer::Options options;
    if (tls) {
      absl::StatusOr<sim::kube::TestCertificates> certs =
          sim::kube::GenerateTestCertificates();
      ASSERT_TRUE(certs.ok()) << certs.status();
      ca_pem_ = certs->ca_cert_pem;
      options = sim::kube::TlsServerOptions(*certs, /*mutual=*/false);
    }
    absl::StatusOr<std::unique_ptr<sim::kube::ApiServer>> server =
        sim::kube::ApiServer::Start(std::move(options));
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
  }

  // An exec plugin printing the token "tok-<run>" (runs counted in a file).
  void WritePlugin() {
    const std::string path = dir_ + "/kube-login";
    std::ofstream(path) << R"(#!/bin/sh
d=$(dirname "$0")
n=$(cat "$d/runs" 2>/dev/null || echo 0); n=$((n+1)); echo $n > "$d/runs"
printf '{"apiVersion":"client.authentication.k8s.io/v1beta1","kind":"ExecCredential","status":{"token":"tok-%s"}}' "$n"
)";
    ::chmod(path.c_str(), 0755);
  }

  int PluginRuns() {
    std::ifstream in(dir_ + "/runs");
    int runs = 0;
    in >> runs;
    return runs;
  }

  // A kubeconfig for the server with `user_yaml` (indented under "user:").
  std::string Kubeconfig(const std::string& user_yaml) {
    std::string cluster = absl::StrCat("    server: ", server_->url(), "\n");
    if (!ca_pem_.empty()) {
      absl::StrAppend(&cluster, "    certificate-authority-data: ",
                      absl::Base64Escape(ca_pem_), "\n");
    }
    const std::string path = dir_ + "/config";
    std::ofstream(path) << "apiVersion: v1\nkind: Config\n"
                        << "current-context: sim\nclusters:\n- name: sim\n"
                        << "  cluster:\n"
                        << cluster << "users:\n- name: me\n  user:\n"
                        << user_yaml << "contexts:\n- name: sim\n"
                        << "  context: {cluster: sim, user: me}\n";
    return path;
  }

  absl::StatusOr<std::unique_ptr<RestKubeClient>> Client(
      ClusterAccessSearch search) {
    absl::StatusOr<ClusterAccess> access = FindClusterAccess(search);
    if (!access.ok()) return access.status();
    RestKubeClientOptions options;
    options.sleep = [](milliseconds) {};
    return RestKubeClient::ForCluster(*access, options);
  }

  static constexpr char kExecUser[] =
      "    exec:\n"
      "      apiVersion: client.authentication.k8s.io/v1beta1\n"
      "      command: ./kube-login\n";

  std::string dir_;
  std::string ca_pem_;
  std::unique_ptr<sim::kube::ApiServer> server_;
};

TEST_F(KubeAuthSimTest, ImpersonationHeadersReachTheServer) {
  Start(/*tls=*/false);
  ClusterAccessSearch search;
  search.explicit_kubeconfig = Kubeconfig(
      "    as: jane\n"
      "    as-groups: [developers]\n"
      "    as-user-extra: {reason: [on-call]}\n");
  // Flags as kmeshctl passes them: --as-group replaces the kubeconfig's
  // groups, --as-uid adds a uid, the user stays.
  search.as_groups = {"system:masters", "ops"};
  search.as_uid = "uid-7";
  absl::StatusOr<std::unique_ptr<RestKubeClient>> client = Client(search);
  ASSERT_TRUE(client.ok()) << client.status();
  ASSERT_TRUE((*client)->List(NamespacesKind(), "", {}).ok());
  std::vector<sim::kube::ApiServer::RequestRecord> log = server_->RequestLog();
  ASSERT_FALSE(log.empty());
  EXPECT_THAT(log.back().impersonation,
              ElementsAre(Pair("Impersonate-User", "jane"),
                          Pair("Impersonate-Uid", "uid-7"),
                          Pair("Impersonate-Group", "system:masters"),
                          Pair("Impersonate-Group", "ops"),
                          Pair("Impersonate-Extra-reason", "on-call")));
}

TEST_F(KubeAuthSimTest, ExecTokenIsRefreshedOnceAfter401AndTheRequestWorks) {
  Start(/*tls=*/true);
  WritePlugin();
  server_->RequireBearerToken("tok-2");  // The plugin's first token is stale.
  ClusterAccessSearch search;
  search.explicit_kubeconfig = Kubeconfig(kExecUser);
  absl::StatusOr<std::unique_ptr<RestKubeClient>> client = Client(search);
  ASSERT_TRUE(client.ok()) << client.status();
  absl::StatusOr<std::string> created =
      (*client)->Create(NamespacesKind(), "", kNamespace);
  ASSERT_TRUE(created.ok()) << created.status();
  EXPECT_EQ(PluginRuns(), 2);
  std::vector<int> codes;
  for (const auto& record : server_->RequestLog()) codes.push_back(record.code);
  EXPECT_THAT(codes, ElementsAre(401, 201));
  // The refreshed token is cached: no further run.
  ASSERT_TRUE((*client)->Get(NamespacesKind(), "", "n1").ok());
  EXPECT_EQ(PluginRuns(), 2);

  // A watch gets the same treatment.
  server_->RequireBearerToken("tok-3");
  absl::StatusOr<std::unique_ptr<WatchStream>> watch =
      (*client)->Watch(NamespacesKind(), "", {});
  ASSERT_TRUE(watch.ok()) << watch.status();
  EXPECT_EQ(PluginRuns(), 3);
  (*watch)->Close();

  // Refused again after the re-run: one re-run per request, then the 401.
  server_->RequireBearerToken("never-issued");
  absl::StatusOr<std::string> denied =
      (*client)->Get(NamespacesKind(), "", "n1");
  EXPECT_TRUE(absl::IsUnauthenticated(denied.status())) << denied.status();
  EXPECT_EQ(PluginRuns(), 4);
  EXPECT_THAT(denied.status().message(), Not(HasSubstr("tok-")));
}

TEST_F(KubeAuthSimTest, CredentialsOverHttpAreRefusedUnlessAllowed) {
  Start(/*tls=*/false);
  WritePlugin();
  server_->RequireBearerToken("tok-1");
  ClusterAccessSearch search;
  search.explicit_kubeconfig = Kubeconfig(kExecUser);
  absl::StatusOr<std::unique_ptr<RestKubeClient>> refused = Client(search);
  ASSERT_FALSE(refused.ok());
  EXPECT_TRUE(absl::IsFailedPrecondition(refused.status()));
  EXPECT_THAT(refused.status().message(),
              AllOf(HasSubstr("clear text"),
                    HasSubstr("--insecure-allow-http-credentials")));
  EXPECT_EQ(PluginRuns(), 0);  // Not even asked for a token.

  search.allow_credentials_over_http = true;
  absl::StatusOr<std::unique_ptr<RestKubeClient>> allowed = Client(search);
  ASSERT_TRUE(allowed.ok()) << allowed.status();
  EXPECT_TRUE((*allowed)->List(NamespacesKind(), "", {}).ok());
}

TEST_F(KubeAuthSimTest, ExecClientCertificateForMutualTls) {
  absl::StatusOr<sim::kube::TestCertificates> certs =
      sim::kube::GenerateTestCertificates();
  ASSERT_TRUE(certs.ok()) << certs.status();
  ca_pem_ = certs->ca_cert_pem;
  absl::StatusOr<std::unique_ptr<sim::kube::ApiServer>> server =
      sim::kube::ApiServer::Start(
          sim::kube::TlsServerOptions(*certs, /*mutual=*/true));
  ASSERT_TRUE(server.ok()) << server.status();
  server_ = *std::move(server);
  nlohmann::json credential = {
      {"apiVersion", "client.authentication.k8s.io/v1beta1"},
      {"kind", "ExecCredential"},
      {"status",
       {{"clientCertificateData", certs->client_cert_pem},
        {"clientKeyData", certs->client_key_pem}}}};
  std::ofstream(dir_ + "/credential.json") << credential.dump();
  std::ofstream(dir_ + "/kube-login")
      << "#!/bin/sh\ncat \"$(dirname \"$0\")/credential.json\"\n";
  ::chmod((dir_ + "/kube-login").c_str(), 0755);
  ClusterAccessSearch search;
  search.explicit_kubeconfig = Kubeconfig(kExecUser);
  absl::StatusOr<std::unique_ptr<RestKubeClient>> client = Client(search);
  ASSERT_TRUE(client.ok()) << client.status();
  EXPECT_TRUE((*client)->List(NamespacesKind(), "", {}).ok());

  // Without the plugin's certificate the server refuses the handshake.
  std::ofstream(dir_ + "/kube-login") << "#!/bin/sh\nexit 0\n";
  absl::StatusOr<ClusterAccess> anonymous = FindClusterAccess(search);
  ASSERT_TRUE(anonymous.ok());
  anonymous->exec_credentials = nullptr;
  absl::StatusOr<std::unique_ptr<RestKubeClient>> refused =
      RestKubeClient::ForCluster(*anonymous);
  ASSERT_TRUE(refused.ok()) << refused.status();
  EXPECT_FALSE((*refused)->List(NamespacesKind(), "", {}).ok());
}

TEST_F(KubeAuthSimTest, FailingPluginStopsTheRequestWithItsMessage) {
  Start(/*tls=*/true);
  std::ofstream(dir_ + "/kube-login") << "#!/bin/sh\n"
                                      << "echo 'please log in first' >&2\n"
                                      << "exit 1\n";
  ::chmod((dir_ + "/kube-login").c_str(), 0755);
  ClusterAccessSearch search;
  search.explicit_kubeconfig = Kubeconfig(kExecUser);
  absl::StatusOr<std::unique_ptr<RestKubeClient>> client = Client(search);
  // The plugin runs when the client is made (its certificate, if any, goes
  // into the TLS context).
  ASSERT_FALSE(client.ok());
  EXPECT_THAT(client.status().message(),
              AllOf(HasSubstr("failed with exit code 1"),
                    HasSubstr("please log in first")));
  EXPECT_TRUE(server_->RequestLog().empty());
}

}  // namespace
}  // namespace kmesh::kube
