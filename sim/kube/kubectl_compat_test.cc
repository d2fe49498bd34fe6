// The real kubectl against the simulated API server: each command is run as
// a subprocess (kubectl_runner.h) against an in-process server, and checked
// by what the store then holds (or what kubectl printed, for reads). Skipped
// when kubectl is not installed.
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "sim/kube/api_server.h"
#include "sim/kube/testing/kube_objects.h"
#include "sim/kube/testing/kubectl_runner.h"
#include "sim/kube/testing/test_certs.h"
#include "sim/kube/testing/tls_server_options.h"

namespace kmesh::sim::kube {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;

constexpr char kCrdPath[] = "kmesh/daemon/crd/kmeshnodeinfo_crd.yaml";

class KubectlCompatTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!KubectlRunner::Available()) {
      GTEST_SKIP() << KubectlRunner::UnavailableReason();
    }
    dir_ = KubectlRunner::NewWorkDir("kubectl_compat");
    ASSERT_FALSE(dir_.empty());
    kubeconfig_ = dir_ + "/kubeconfig";
    kubectl_ = std::make_unique<KubectlRunner>(kubeconfig_, dir_);
    StartServer(ApiServer::Options());
  }

  void StartServer(ApiServer::Options options) {
    server_.reset();
    auto server = ApiServer::Start(std::move(options));
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    ASSERT_TRUE(server_->WriteKubeconfig(kubeconfig_).ok());
    ASSERT_TRUE(CreateNamespace(store(), "kmesh-system").ok());
  }

  ObjectStore& store() { return server_->store(); }
  const ResourceType& Type(const std::string& group, const std::string& version,
                           const std::string& plural) {
    return *store().FindType(group, version, plural);
  }

  KubectlResult Kubectl(const std::vector<std::string>& args) {
    return kubectl_->Run(args);
  }

  // Runs kubectl and expects success; returns its output.
  std::string KubectlOk(const std::vector<std::string>& args) {
    KubectlResult result = Kubectl(args);
    EXPECT_EQ(result.exit_code, 0)
        << "kubectl " << absl::StrJoin(args, " ") << "\nstdout: " << result.out
        << "\nstderr: " << result.err;
    return result.out;
  }

  // Runs kubectl and expects failure; returns what it said on stderr.
  std::string KubectlFails(const std::vector<std::string>& args) {
    KubectlResult result = Kubectl(args);
    EXPECT_NE(result.exit_code, 0) << "kubectl " << absl::StrJoin(args, " ");
    return result.err;
  }

  std::string WriteManifest(const std::string& name, const std::string& text) {
    std::string path = dir_ + "/" + name;
    std::ofstream(path) << text;
    return path;
  }

  static std::string NodeInfoManifest(int spi,
                                      const std::string& spi_text = "") {
    return absl::StrCat(R"(apiVersion: kmesh.net/v1alpha1
kind: KmeshNodeInfo
metadata:
  name: node1
  namespace: kmesh-system
spec:
  spi: )",
                        spi_text.empty() ? std::to_string(spi) : spi_text, R"(
  addresses: ["10.0.0.1"]
  bootID: "3c1f5b9e-1111-2222-3333-444455556666"
  podCIDRS: ["10.244.1.0/24"]
)");
  }

  std::string dir_;
  std::string kubeconfig_;
  std::unique_ptr<KubectlRunner> kubectl_;
  std::unique_ptr<ApiServer> server_;
};

TEST_F(KubectlCompatTest, CreateSecretFromLiteral) {
  KubectlOk({"create", "secret", "generic", "s", "--from-literal=a=b", "-n",
             "kmesh-system"});
  auto secret = store().Get(Type("", "v1", "secrets"), "kmesh-system", "s");
  ASSERT_TRUE(secret.ok()) << secret.status();
  EXPECT_EQ((*secret)["data"]["a"], "Yg==");  // base64("b")
  EXPECT_EQ((*secret)["type"], "Opaque");

  KubectlResult again = Kubectl({"create", "secret", "generic", "s",
                                 "--from-literal=a=c", "-n", "kmesh-system"});
  EXPECT_NE(again.exit_code, 0);
  EXPECT_NE(again.err.find("secrets \"s\" already exists"), std::string::npos)
      << again.err;
}

TEST_F(KubectlCompatTest, GetSecretAsJson) {
  auto created = store().Create(Type("", "v1", "secrets"), "kmesh-system",
                                {{"metadata", {{"name", "kmesh-ipsec"}}},
                                 {"data", {{"ipSec", "eyJzcGkiOjF9"}}}});
  ASSERT_TRUE(created.ok());
  json secret = json::parse(KubectlOk({"get", "secret", "kmesh-ipsec", "-n",
                                       "kmesh-system", "-o", "json"}),
                            nullptr, false);
  ASSERT_FALSE(secret.is_discarded());
  EXPECT_EQ(secret["data"]["ipSec"], "eyJzcGkiOjF9");
  EXPECT_EQ(secret["metadata"]["resourceVersion"],
            (*created)["metadata"]["resourceVersion"]);
  EXPECT_NE(KubectlOk({"get", "secrets", "-A"}).find("kmesh-ipsec"),
            std::string::npos);
}

TEST_F(KubectlCompatTest, MissingSecretIsNotFound) {
  EXPECT_THAT(
      KubectlFails({"get", "secret", "kmesh-ipsec", "-n", "kmesh-system"}),
      HasSubstr("Error from server (NotFound): secrets \"kmesh-ipsec\" not "
                "found"));
}

TEST_F(KubectlCompatTest, LabelAndUnlabelNamespace) {
  const ResourceType& namespaces = Type("", "v1", "namespaces");
  KubectlOk({"label", "namespace", "default", "istio.io/dataplane-mode=Kmesh"});
  auto labelled = store().Get(namespaces, "", "default");
  ASSERT_TRUE(labelled.ok());
  EXPECT_EQ((*labelled)["metadata"]["labels"]["istio.io/dataplane-mode"],
            "Kmesh");
  KubectlOk({"label", "namespace", "default", "istio.io/dataplane-mode=none",
             "--overwrite"});
  EXPECT_EQ((*store().Get(
                namespaces, "",
                "default"))["metadata"]["labels"]["istio.io/dataplane-mode"],
            "none");
  KubectlOk({"label", "namespace", "default", "istio.io/dataplane-mode-"});
  EXPECT_FALSE(
      (*store().Get(namespaces, "", "default"))["metadata"]["labels"].contains(
          "istio.io/dataplane-mode"));
}

TEST_F(KubectlCompatTest, ApplyCrdThenKmeshNodeInfoThenDelete) {
  const ResourceType& crds =
      Type("apiextensions.k8s.io", "v1", "customresourcedefinitions");
  const ResourceType& infos = Type("kmesh.net", "v1alpha1", "kmeshnodeinfos");
  KubectlOk({"apply", "-f", kCrdPath});
  auto crd = store().Get(crds, "", "kmeshnodeinfos.kmesh.net");
  ASSERT_TRUE(crd.ok()) << crd.status();
  EXPECT_EQ((*crd)["spec"]["names"]["plural"], "kmeshnodeinfos");
  // Applying it again changes nothing.
  EXPECT_NE(KubectlOk({"apply", "-f", kCrdPath}).find("unchanged"),
            std::string::npos);

  std::string manifest = WriteManifest("info.yaml", NodeInfoManifest(1));
  KubectlOk({"apply", "-f", manifest});
  auto info = store().Get(infos, "kmesh-system", "node1");
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ((*info)["spec"]["spi"], 1);
  EXPECT_EQ((*info)["spec"]["podCIDRS"], json({"10.244.1.0/24"}));

  WriteManifest("info.yaml", NodeInfoManifest(2));
  KubectlOk({"apply", "-f", manifest});
  EXPECT_EQ((*store().Get(infos, "kmesh-system", "node1"))["spec"]["spi"], 2);

  EXPECT_NE(
      KubectlOk({"get", "kmeshnodeinfos", "-n", "kmesh-system"}).find("node1"),
      std::string::npos);
  json list = json::parse(
      KubectlOk({"get", "kmeshnodeinfos", "-A", "-o", "json"}), nullptr, false);
  ASSERT_FALSE(list.is_discarded());
  ASSERT_EQ(list["items"].size(), 1u);
  EXPECT_EQ(list["items"][0]["spec"]["bootID"],
            "3c1f5b9e-1111-2222-3333-444455556666");

  KubectlOk({"delete", "kmeshnodeinfo", "node1", "-n", "kmesh-system"});
  EXPECT_EQ(store().Get(infos, "kmesh-system", "node1").status().code(),
            absl::StatusCode::kNotFound);
}

TEST_F(KubectlCompatTest, SchemaViolationsAreRejected) {
  KubectlOk({"apply", "-f", kCrdPath});
  std::string manifest =
      WriteManifest("bad.yaml", NodeInfoManifest(0, "\"one\""));
  KubectlResult bad = Kubectl({"apply", "-f", manifest});
  EXPECT_NE(bad.exit_code, 0);
  EXPECT_NE(bad.err.find("spec.spi"), std::string::npos) << bad.err;
  EXPECT_FALSE(store()
                   .Get(Type("kmesh.net", "v1alpha1", "kmeshnodeinfos"),
                        "kmesh-system", "node1")
                   .ok());
}

TEST_F(KubectlCompatTest, ApplySecretTwiceUpdatesIt) {
  std::string manifest = WriteManifest("secret.yaml", R"(apiVersion: v1
kind: Secret
metadata:
  name: applied
  namespace: kmesh-system
stringData:
  ipSec: '{"spi":1}'
)");
  KubectlOk({"apply", "-f", manifest});
  WriteManifest("secret.yaml", R"(apiVersion: v1
kind: Secret
metadata:
  name: applied
  namespace: kmesh-system
stringData:
  ipSec: '{"spi":2}'
)");
  KubectlOk({"apply", "-f", manifest});
  auto secret =
      store().Get(Type("", "v1", "secrets"), "kmesh-system", "applied");
  ASSERT_TRUE(secret.ok());
  EXPECT_EQ((*secret)["data"]["ipSec"], "eyJzcGkiOjJ9");  // {"spi":2}
}

TEST_F(KubectlCompatTest, CreateAndDeleteNamespace) {
  KubectlOk({"create", "namespace", "scratch"});
  ASSERT_TRUE(store().Get(Type("", "v1", "namespaces"), "", "scratch").ok());
  KubectlOk({"delete", "namespace", "scratch"});
  EXPECT_FALSE(store().Get(Type("", "v1", "namespaces"), "", "scratch").ok());
}

TEST_F(KubectlCompatTest, ForbiddenIsReported) {
  server_->Forbid("get", "secrets");
  EXPECT_THAT(
      KubectlFails({"get", "secret", "kmesh-ipsec", "-n", "kmesh-system"}),
      HasSubstr("Error from server (Forbidden): secrets \"kmesh-ipsec\" is "
                "forbidden"));
  server_->ClearFaults();
  EXPECT_NE(Kubectl({"get", "secret", "kmesh-ipsec", "-n", "kmesh-system"})
                .err.find("NotFound"),
            std::string::npos);
}

// kubectl sends credentials only over TLS, so the token test needs HTTPS.
TEST_F(KubectlCompatTest, BearerTokenOverTls) {
  auto certs = GenerateTestCertificates();
  ASSERT_TRUE(certs.ok());
  StartServer(TlsServerOptions(*certs));
  server_->RequireBearerToken("t0ken");
  // (Without any credentials kubectl would prompt for a user name.)
  ASSERT_TRUE(server_->WriteKubeconfig(kubeconfig_, {"wrong"}).ok());
  EXPECT_THAT(KubectlFails({"get", "namespaces"}),
              HasSubstr("You must be logged in to the server"));
  ASSERT_TRUE(server_->WriteKubeconfig(kubeconfig_).ok());  // With the token.
  EXPECT_NE(KubectlOk({"get", "namespaces"}).find("kmesh-system"),
            std::string::npos);
}

TEST_F(KubectlCompatTest, WorksOverTlsWithClientCertificates) {
  auto certs = GenerateTestCertificates();
  ASSERT_TRUE(certs.ok());
  StartServer(TlsServerOptions(*certs, /*require_client_certificate=*/true));
  ASSERT_TRUE(server_
                  ->WriteKubeconfig(kubeconfig_, {"", certs->client_cert_pem,
                                                  certs->client_key_pem})
                  .ok());
  KubectlOk({"create", "secret", "generic", "s", "--from-literal=a=b", "-n",
             "kmesh-system"});
  EXPECT_TRUE(store().Get(Type("", "v1", "secrets"), "kmesh-system", "s").ok());
  // Without the client certificate the server refuses the handshake.
  ASSERT_TRUE(server_->WriteKubeconfig(kubeconfig_, {"some-token"}).ok());
  EXPECT_THAT(KubectlFails({"get", "secrets", "-n", "kmesh-system"}),
              HasSubstr("tls"));
}

}  // namespace
}  // namespace kmesh::sim::kube
