#include "kmesh/kube/typed_client.h"

#include <map>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "kmesh/api/kmesh_node_info.pb.h"
#include "kmesh/api/kube.pb.h"

namespace kmesh::kube {
namespace {

using ::testing::HasSubstr;

// Records what it is sent and answers with canned JSON.
class CannedKubeClient : public KubeClient {
 public:
  std::string answer;
  std::string sent;
  std::string sent_name;
  ObjectList list;

  absl::StatusOr<std::string> Get(const ResourceKind&, const std::string&,
                                  const std::string& name) override {
    sent_name = name;
    if (answer.empty()) return absl::NotFoundError("no such object");
    return answer;
  }
  absl::StatusOr<ObjectList> List(const ResourceKind&, const std::string&,
                                  const ListOptions&) override {
    return list;
  }
  absl::StatusOr<std::string> Create(const ResourceKind&, const std::string&,
                                     const std::string& object) override {
    sent = object;
    return answer;
  }
  absl::StatusOr<std::string> Update(const ResourceKind&, const std::string&,
                                     const std::string& name,
                                     const std::string& object) override {
    sent_name = name;
    sent = object;
    return answer;
  }
  absl::Status Delete(const ResourceKind&, const std::string&,
                      const std::string&) override {
    return absl::OkStatus();
  }
  absl::StatusOr<std::unique_ptr<WatchStream>> Watch(
      const ResourceKind&, const std::string&, const ListOptions&) override {
    return absl::UnimplementedError("");
  }
};

TEST(TypedClientTest, GetParsesAndIgnoresUnknownFields) {
  CannedKubeClient client;
  client.answer =
      R"({"apiVersion":"v1","kind":"Secret","metadata":{"name":"kmesh-ipsec",)"
      R"("resourceVersion":"12","managedFields":[{"manager":"kubectl"}]},)"
      R"("type":"Opaque","data":{"ipSec":"aGVsbG8="}})";
  absl::StatusOr<api::Secret> secret = GetObject<api::Secret>(
      client, SecretsKind(), "kmesh-system", "kmesh-ipsec");
  ASSERT_TRUE(secret.ok()) << secret.status();
  EXPECT_EQ(secret->metadata().resource_version(), "12");
  EXPECT_EQ(secret->data().at("ipSec"), "hello");
  EXPECT_EQ(client.sent_name, "kmesh-ipsec");
}

TEST(TypedClientTest, GetPassesErrorsThroughAndRejectsGarbage) {
  CannedKubeClient client;
  EXPECT_TRUE(absl::IsNotFound(
      GetObject<api::Secret>(client, SecretsKind(), "ns", "x").status()));
  client.answer = "not json";
  absl::StatusOr<api::Secret> bad =
      GetObject<api::Secret>(client, SecretsKind(), "ns", "x");
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(bad.status().message(), HasSubstr("unreadable Secret"));
}

TEST(TypedClientTest, CreateAndUpdateSendJsonAndReturnTheStoredObject) {
  CannedKubeClient client;
  api::KmeshNodeInfo info;
  info.set_api_version("kmesh.net/v1alpha1");
  info.set_kind("KmeshNodeInfo");
  info.mutable_metadata()->set_name("node-1");
  info.mutable_spec()->set_spi(2);
  info.mutable_spec()->add_pod_cidrs("10.244.1.0/24");
  client.answer =
      R"({"metadata":{"name":"node-1","resourceVersion":"5"},"spec":{"spi":2}})";
  absl::StatusOr<api::KmeshNodeInfo> created =
      CreateObject(client, KmeshNodeInfosKind(), "kmesh-system", info);
  ASSERT_TRUE(created.ok()) << created.status();
  EXPECT_EQ(created->metadata().resource_version(), "5");
  EXPECT_THAT(client.sent, HasSubstr(R"("podCIDRS":["10.244.1.0/24"])"));

  absl::StatusOr<api::KmeshNodeInfo> updated =
      UpdateObject(client, KmeshNodeInfosKind(), "kmesh-system", *created);
  ASSERT_TRUE(updated.ok()) << updated.status();
  EXPECT_EQ(client.sent_name, "node-1");
  EXPECT_THAT(client.sent, HasSubstr(R"("resourceVersion":"5")"));
}

TEST(TypedClientTest, ListKeepsTheListVersion) {
  CannedKubeClient client;
  client.list.items = {R"({"metadata":{"name":"a"}})",
                       R"({"metadata":{"name":"b"}})"};
  client.list.resource_version = "42";
  absl::StatusOr<api::NodeList> nodes =
      ListObjects<api::NodeList>(client, NodesKind(), "");
  ASSERT_TRUE(nodes.ok()) << nodes.status();
  ASSERT_EQ(nodes->items_size(), 2);
  EXPECT_EQ(nodes->items(1).metadata().name(), "b");
  EXPECT_EQ(nodes->metadata().resource_version(), "42");
}

}  // namespace
}  // namespace kmesh::kube
