// Nodes learn the secret at different times, each exactly `delay` after the
// change, under an injected clock; a deleted secret is handled the way
// kubelet handles an optional (file gone) or a required (file kept) volume;
// and the projector follows the real secret through the API server.
#include "sim/cluster/secret_projector.h"

#include <stdlib.h>
#include <sys/stat.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

#include "gtest/gtest.h"
#include "kmesh/base/poll_until.h"
#include "kmesh/base/testing/test_directory.h"
#include "kmesh/kube/kubeconfig.h"
#include "kmesh/kube/rest_kube_client.h"
#include "nlohmann/json.hpp"
#include "sim/kube/api_server.h"

namespace kmesh::sim {
namespace {

using std::chrono::seconds;

std::string SecretJson(const std::string& rv, const std::string& value) {
  // base64 of the value (short test strings only).
  static const char* const kAlphabet =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string b64;
  size_t i = 0;
  for (; i + 2 < value.size(); i += 3) {
    uint32_t v = (uint8_t(value[i]) << 16) | (uint8_t(value[i + 1]) << 8) |
                 uint8_t(value[i + 2]);
    for (int s = 18; s >= 0; s -= 6) b64 += kAlphabet[(v >> s) & 63];
  }
  if (i < value.size()) {
    uint32_t v = uint8_t(value[i]) << 16;
    if (i + 1 < value.size()) v |= uint8_t(value[i + 1]) << 8;
    b64 += kAlphabet[(v >> 18) & 63];
    b64 += kAlphabet[(v >> 12) & 63];
    b64 += i + 1 < value.size() ? kAlphabet[(v >> 6) & 63] : '=';
    b64 += '=';
  }
  return R"({"apiVersion":"v1","kind":"Secret","metadata":{"name":"kmesh-ipsec",)"
         R"("namespace":"kmesh-system","resourceVersion":")" +
         rv + R"("},"type":"Opaque","data":{"ipSec":")" + b64 + R"("}})";
}

std::string Read(const std::string& path) {
  std::ifstream in(path);
  if (!in) return "<absent>";
  return std::string((std::istreambuf_iterator<char>(in)), {});
}

class SecretProjectorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = ::kmesh::testing::NewTestDirectory("secret_projector_test");
  }
  void TearDown() override { std::filesystem::remove_all(root_); }

  std::unique_ptr<SecretProjector> Make(bool optional = true) {
    SecretProjector::Options options;
    options.clock = &clock_;
    options.optional = optional;
    auto p = std::make_unique<SecretProjector>(nullptr, options);
    p->AddNode("node0", Dir("node0"), seconds(0));
    p->AddNode("node1", Dir("node1"), seconds(10));
    p->AddNode("node2", Dir("node2"), seconds(30));
    return p;
  }
  std::string Dir(const std::string& node) {
    return root_ + "/" + node + "/kmesh-ipsec";
  }
  std::string Key(const std::string& node) {
    return Read(Dir(node) + "/ipSec");
  }

  std::string root_;
  ManualClock clock_;
};

TEST_F(SecretProjectorTest, EachNodeLearnsTheSecretAfterItsOwnDelay) {
  auto p = Make();
  EXPECT_EQ(p->ProcessDue(), 0);  // Nothing known yet.
  p->OnSecret(SecretJson("5", "key-1"));
  EXPECT_EQ(p->ProcessDue(), 1);
  EXPECT_EQ(Key("node0"), "key-1");
  EXPECT_EQ(Key("node1"), "<absent>");
  clock_.Advance(seconds(9));
  EXPECT_EQ(p->ProcessDue(), 0);
  clock_.Advance(seconds(1));
  EXPECT_EQ(p->ProcessDue(), 1);
  EXPECT_EQ(Key("node1"), "key-1");
  EXPECT_EQ(Key("node2"), "<absent>");
  EXPECT_EQ(*p->NextDue(), clock_.Now() + seconds(20));
  clock_.Advance(seconds(20));
  EXPECT_EQ(p->ProcessDue(), 1);
  EXPECT_EQ(Key("node2"), "key-1");
  EXPECT_FALSE(p->NextDue().has_value());
  EXPECT_EQ(p->ProjectedVersions(),
            (std::map<std::string, std::string>{
                {"node0", "5"}, {"node1", "5"}, {"node2", "5"}}));
}

TEST_F(SecretProjectorTest, APendingSyncKeepsItsTimeAndTakesTheNewestContent) {
  auto p = Make();
  p->OnSecret(SecretJson("5", "key-1"));
  p->ProcessDue();
  clock_.Advance(seconds(5));
  p->OnSecret(SecretJson("6", "key-2"));  // node1's sync is 5 s away.
  p->ProcessDue();
  EXPECT_EQ(Key("node0"), "key-2");
  EXPECT_EQ(Key("node1"), "<absent>");
  clock_.Advance(seconds(5));
  p->ProcessDue();
  EXPECT_EQ(Key("node1"), "key-2");  // Straight to the newest.
}

TEST_F(SecretProjectorTest, DeletedOptionalSecretRemovesTheFile) {
  auto p = Make(/*optional=*/true);
  p->OnSecret(SecretJson("5", "key-1"));
  clock_.Advance(seconds(30));
  p->ProcessDue();
  p->OnSecretDeleted();
  p->ProcessDue();
  EXPECT_EQ(Key("node0"), "<absent>");
  EXPECT_EQ(Key("node2"), "key-1");  // Not yet.
  clock_.Advance(seconds(30));
  p->ProcessDue();
  EXPECT_EQ(Key("node2"), "<absent>");
  EXPECT_EQ(p->ProjectedVersions().at("node2"), "deleted");
}

TEST_F(SecretProjectorTest, DeletedRequiredSecretKeepsTheLastContent) {
  auto p = Make(/*optional=*/false);
  p->OnSecret(SecretJson("5", "key-1"));
  p->ProcessDue();
  p->OnSecretDeleted();
  clock_.Advance(seconds(60));
  p->ProcessDue();
  EXPECT_EQ(Key("node0"), "key-1");
}

TEST_F(SecretProjectorTest, NodesAddedLaterAndResyncedNodesGetTheContent) {
  auto p = Make();
  p->OnSecret(SecretJson("5", "key-1"));
  clock_.Advance(seconds(30));
  p->ProcessDue();
  p->AddNode("node3", Dir("node3"), seconds(3));
  p->ProcessDue();
  EXPECT_EQ(Key("node3"), "<absent>");
  clock_.Advance(seconds(3));
  p->ProcessDue();
  EXPECT_EQ(Key("node3"), "key-1");
  // A rebooted node's volume is projected at once.
  p->OnSecret(SecretJson("6", "key-2"));
  p->ResyncNow("node2");
  p->ProcessDue();
  EXPECT_EQ(Key("node2"), "key-2");
  EXPECT_EQ(Key("node1"), "key-1");
}

TEST_F(SecretProjectorTest, MalformedSecretIsReportedAndIgnored) {
  auto p = Make();
  p->OnSecret(SecretJson("5", "key-1"));
  p->OnSecret("{not json");
  EXPECT_FALSE(p->last_error().ok());
  p->ProcessDue();
  EXPECT_EQ(Key("node0"), "key-1");
}

// Waits for `condition` up to 10 s; the projector's threads run in real time.
TEST_F(SecretProjectorTest, FollowsTheSecretThroughTheApiServer) {
  auto server = kube::ApiServer::Start({});
  ASSERT_TRUE(server.ok()) << server.status();
  kmesh::kube::ClusterAccess access;
  access.server = (*server)->url();
  auto client = kmesh::kube::RestKubeClient::ForCluster(access);
  ASSERT_TRUE(client.ok()) << client.status();
  ASSERT_TRUE((*client)
                  ->Create(kmesh::kube::NamespacesKind(), "",
                           R"({"apiVersion":"v1","kind":"Namespace",)"
                           R"("metadata":{"name":"kmesh-system"}})")
                  .ok());
  SecretProjector::Options options;
  options.reflector.initial_backoff = std::chrono::milliseconds(10);
  SecretProjector p(client->get(), options);
  p.AddNode("node0", Dir("node0"), seconds(0));
  ASSERT_TRUE(p.Start().ok());
  ASSERT_TRUE(
      PollUntil([&] { return p.HasSynced(); }, std::chrono::seconds(10)));
  nlohmann::json secret = nlohmann::json::parse(SecretJson("", "key-1"));
  secret["metadata"].erase("resourceVersion");
  ASSERT_TRUE(
      (*client)
          ->Create(kmesh::kube::SecretsKind(), "kmesh-system", secret.dump())
          .ok());
  EXPECT_TRUE(PollUntil([&] { return Key("node0") == "key-1"; },
                        std::chrono::seconds(10)));
  ASSERT_TRUE(
      (*client)
          ->Delete(kmesh::kube::SecretsKind(), "kmesh-system", "kmesh-ipsec")
          .ok());
  EXPECT_TRUE(PollUntil([&] { return Key("node0") == "<absent>"; },
                        std::chrono::seconds(10)));
  p.Stop();
}

}  // namespace
}  // namespace kmesh::sim
