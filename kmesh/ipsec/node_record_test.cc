#include "kmesh/ipsec/node_record.h"

#include <string>

#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "kmesh/api/json_codec.h"
#include "kmesh/api/kmesh_node_info.pb.h"
#include "kmesh/kube/testing/mock_kube_client.h"

namespace kmesh::ipsec {
namespace {

using ::testing::_;
using ::testing::AllOf;
using ::testing::DoAll;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::InSequence;
using ::testing::Return;
using ::testing::SaveArg;

constexpr char kBoot[] = "0b1b5f2a-6d3c-4e8f-9a7b-1c2d3e4f5a6b";

// The Node JSON an API server sends (with fields the product ignores).
constexpr char kNodeJson[] = R"({
  "apiVersion": "v1", "kind": "Node",
  "metadata": {"name": "node1", "resourceVersion": "9",
               "managedFields": [{"manager": "kubelet"}]},
  "spec": {"podCIDR": "10.244.1.0/24",
           "podCIDRs": ["10.244.1.0/24", "fd10:1::/64"]},
  "status": {
    "addresses": [{"type": "Hostname", "address": "node1"},
                  {"type": "InternalIP", "address": "172.18.0.3"},
                  {"type": "ExternalIP", "address": "203.0.113.9"},
                  {"type": "InternalIP", "address": "fc00:f853:ccd:e793::3"}],
    "nodeInfo": {"bootID": "0b1b5f2a-6d3c-4e8f-9a7b-1c2d3e4f5a6b",
                 "machineID": "abc"},
    "conditions": [{"type": "Ready", "status": "True"}]
  }
})";

kmesh::api::Node TestNode() {
  return *kmesh::api::ParseJson<kmesh::api::Node>(kNodeJson);
}

MATCHER_P(ResourceIs, plural, "") { return arg.plural == plural; }

NodeView SelfView(int32_t spi) {
  NodeView view;
  view.name = "node1";
  view.spi = spi;
  view.addresses = {"172.18.0.3"};
  view.boot_id = kBoot;
  view.pod_cidrs = {*IpPrefix::Parse("10.244.1.0/24")};
  return view;
}

// A stored KmeshNodeInfo as the API server returns it.
std::string StoredInfo(int32_t spi, const std::string& resource_version) {
  kmesh::api::KmeshNodeInfo info =
      KmeshNodeInfoFromNodeView(SelfView(spi), "kmesh-system");
  info.mutable_metadata()->set_resource_version(resource_version);
  info.mutable_metadata()->set_uid("uid-1");
  (*info.mutable_metadata()->mutable_labels())["team"] = "net";
  return kmesh::api::ToJson(info);
}

kmesh::api::KmeshNodeInfo Parsed(const std::string& json) {
  absl::StatusOr<kmesh::api::KmeshNodeInfo> info =
      kmesh::api::ParseJson<kmesh::api::KmeshNodeInfo>(json);
  EXPECT_TRUE(info.ok()) << info.status();
  return info.ok() ? *info : kmesh::api::KmeshNodeInfo();
}

TEST(NodeViewFromNodeTest, TakesInternalIpsInOrderBootIdAndPodCidrs) {
  absl::StatusOr<NodeView> view = NodeViewFromNode(TestNode(), 4);
  ASSERT_TRUE(view.ok()) << view.status();
  EXPECT_EQ(view->name, "node1");
  EXPECT_EQ(view->spi, 4);
  EXPECT_THAT(view->addresses,
              ElementsAre("172.18.0.3", "fc00:f853:ccd:e793::3"));
  EXPECT_EQ(view->boot_id, kBoot);
  EXPECT_THAT(view->pod_cidrs, ElementsAre(*IpPrefix::Parse("10.244.1.0/24"),
                                           *IpPrefix::Parse("fd10:1::/64")));
}

TEST(NodeViewFromNodeTest, FallsBackToPodCidrWhenPodCidrsIsEmpty) {
  kmesh::api::Node node = TestNode();
  node.mutable_spec()->clear_pod_cidrs();
  node.mutable_spec()->set_pod_cidr("10.244.7.0/24");
  absl::StatusOr<NodeView> view = NodeViewFromNode(node, 1);
  ASSERT_TRUE(view.ok()) << view.status();
  EXPECT_THAT(view->pod_cidrs, ElementsAre(*IpPrefix::Parse("10.244.7.0/24")));

  node.mutable_spec()->clear_pod_cidr();
  view = NodeViewFromNode(node, 1);
  ASSERT_TRUE(view.ok()) << view.status();
  EXPECT_TRUE(view->pod_cidrs.empty());
}

// Why NodeViewFromNode refuses `node` (OK when it does not).
absl::Status Refusal(const kmesh::api::Node& node) {
  return NodeViewFromNode(node, 1).status();
}

TEST(NodeViewFromNodeTest, NodeWithoutInternalIpIsAClearError) {
  kmesh::api::Node node = TestNode();
  node.mutable_status()->clear_addresses();
  auto* external = node.mutable_status()->add_addresses();
  external->set_type("ExternalIP");
  external->set_address("203.0.113.9");
  EXPECT_EQ(Refusal(node).code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(Refusal(node).message(),
              AllOf(HasSubstr("node1"), HasSubstr("InternalIP")));
}

TEST(NodeViewFromNodeTest, NodeWithoutBootIdIsAClearError) {
  kmesh::api::Node node = TestNode();
  node.mutable_status()->mutable_node_info()->clear_boot_id();
  EXPECT_EQ(Refusal(node).code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(Refusal(node).message(),
              AllOf(HasSubstr("node1"), HasSubstr("bootID")));
}

TEST(NodeViewFromNodeTest, ShortBootIdAndBadValuesAreInvalid) {
  kmesh::api::Node short_boot = TestNode();
  short_boot.mutable_status()->mutable_node_info()->set_boot_id("1234");
  EXPECT_EQ(Refusal(short_boot).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(Refusal(short_boot).message(), HasSubstr("bootID"));

  kmesh::api::Node bad_ip = TestNode();
  bad_ip.mutable_status()->mutable_addresses(1)->set_address("172.18.0.300");
  EXPECT_THAT(Refusal(bad_ip).message(), HasSubstr("172.18.0.300"));

  kmesh::api::Node bad_cidr = TestNode();
  bad_cidr.mutable_spec()->set_pod_cidrs(1, "fd10:1::/129");
  EXPECT_THAT(Refusal(bad_cidr).message(), HasSubstr("spec.podCIDRs"));
}

TEST(LoadOwnNodeViewTest, ReadsTheNodeFromTheApi) {
  kube::MockKubeClient client;
  EXPECT_CALL(client, Get(ResourceIs("nodes"), _, "node1"))
      .WillOnce(Return(std::string(kNodeJson)));
  absl::StatusOr<NodeView> view = LoadOwnNodeView(&client, "node1", 2);
  ASSERT_TRUE(view.ok()) << view.status();
  EXPECT_EQ(view->spi, 2);
  EXPECT_EQ(view->addresses.size(), 2u);
}

TEST(LoadOwnNodeViewTest, PassesApiErrorsThrough) {
  kube::MockKubeClient client;
  EXPECT_CALL(client, Get(_, _, "node1"))
      .WillOnce(Return(absl::UnavailableError("server down")));
  EXPECT_EQ(LoadOwnNodeView(&client, "node1", 2).status().code(),
            absl::StatusCode::kUnavailable);
}

TEST(KubeNodeInfoPublisherTest, CreatesTheRecordWhenAbsent) {
  kube::MockKubeClient client;
  std::string created;
  EXPECT_CALL(client,
              Get(ResourceIs("kmeshnodeinfos"), "kmesh-system", "node1"))
      .WillOnce(Return(absl::NotFoundError("not found")));
  EXPECT_CALL(client, Create(ResourceIs("kmeshnodeinfos"), "kmesh-system", _))
      .WillOnce(DoAll(SaveArg<2>(&created), Return(std::string("{}"))));
  EXPECT_CALL(client, Update).Times(0);
  KubeNodeInfoPublisher publisher(&client);
  ASSERT_TRUE(publisher.Publish(SelfView(1)).ok());

  // The wire names other Kmesh tools read, including the capital S.
  EXPECT_THAT(created, AllOf(HasSubstr("\"apiVersion\":\"kmesh.net/v1alpha1\""),
                             HasSubstr("\"kind\":\"KmeshNodeInfo\""),
                             HasSubstr("\"bootID\":\""),
                             HasSubstr("\"podCIDRS\":[\"10.244.1.0/24\"]")));
  kmesh::api::KmeshNodeInfo info = Parsed(created);
  EXPECT_EQ(info.metadata().name(), "node1");
  EXPECT_EQ(info.metadata().namespace_(), "kmesh-system");
  EXPECT_TRUE(info.metadata().resource_version().empty());
  EXPECT_EQ(info.spec().spi(), 1);
  EXPECT_THAT(info.spec().addresses(), ElementsAre("172.18.0.3"));
  EXPECT_EQ(info.spec().boot_id(), kBoot);
}

TEST(KubeNodeInfoPublisherTest, WritesEverySpecFieldEvenAtZeroValue) {
  // Kmesh's CRD requires spi, addresses, bootID and podCIDRS.
  kube::MockKubeClient client;
  std::string created;
  EXPECT_CALL(client, Get).WillOnce(Return(absl::NotFoundError("absent")));
  EXPECT_CALL(client, Create)
      .WillOnce(DoAll(SaveArg<2>(&created), Return(std::string("{}"))));
  NodeView keyless = SelfView(0);
  keyless.pod_cidrs.clear();
  KubeNodeInfoPublisher publisher(&client);
  ASSERT_TRUE(publisher.Publish(keyless).ok());
  EXPECT_THAT(created,
              AllOf(HasSubstr("\"spi\":0"), HasSubstr("\"podCIDRS\":[]")));
  EXPECT_EQ(Parsed(created).metadata().name(), "node1");
}

TEST(KubeNodeInfoPublisherTest, UpdatesWithTheStoredResourceVersion) {
  kube::MockKubeClient client;
  std::string updated;
  EXPECT_CALL(client, Get(_, "kmesh-system", "node1"))
      .WillOnce(Return(StoredInfo(1, "42")));
  EXPECT_CALL(client,
              Update(ResourceIs("kmeshnodeinfos"), "kmesh-system", "node1", _))
      .WillOnce(DoAll(SaveArg<3>(&updated), Return(std::string("{}"))));
  EXPECT_CALL(client, Create).Times(0);
  KubeNodeInfoPublisher publisher(&client);
  ASSERT_TRUE(publisher.Publish(SelfView(2)).ok());

  kmesh::api::KmeshNodeInfo info = Parsed(updated);
  EXPECT_EQ(info.metadata().resource_version(), "42");
  EXPECT_EQ(info.metadata().uid(), "uid-1");
  EXPECT_EQ(info.metadata().labels().at("team"), "net");
  EXPECT_EQ(info.spec().spi(), 2);
}

TEST(KubeNodeInfoPublisherTest, UnchangedSpecIsNotWritten) {
  kube::MockKubeClient client;
  EXPECT_CALL(client, Get).WillOnce(Return(StoredInfo(3, "42")));
  EXPECT_CALL(client, Update).Times(0);
  EXPECT_CALL(client, Create).Times(0);
  KubeNodeInfoPublisher publisher(&client);
  EXPECT_TRUE(publisher.Publish(SelfView(3)).ok());
}

TEST(KubeNodeInfoPublisherTest, RereadsAndRetriesAfterAConflict) {
  kube::MockKubeClient client;
  InSequence in_order;
  std::string second;
  EXPECT_CALL(client, Get).WillOnce(Return(StoredInfo(1, "42")));
  EXPECT_CALL(client, Update)
      .WillOnce(Return(absl::AbortedError("409 Conflict: object modified")));
  EXPECT_CALL(client, Get).WillOnce(Return(StoredInfo(1, "43")));
  EXPECT_CALL(client, Update)
      .WillOnce(DoAll(SaveArg<3>(&second), Return(std::string("{}"))));
  KubeNodeInfoPublisher publisher(&client);
  ASSERT_TRUE(publisher.Publish(SelfView(2)).ok());
  EXPECT_EQ(Parsed(second).metadata().resource_version(), "43");
  EXPECT_EQ(Parsed(second).spec().spi(), 2);
}

TEST(KubeNodeInfoPublisherTest, CreateRaceFallsBackToUpdate) {
  kube::MockKubeClient client;
  InSequence in_order;
  EXPECT_CALL(client, Get).WillOnce(Return(absl::NotFoundError("absent")));
  EXPECT_CALL(client, Create)
      .WillOnce(Return(absl::AlreadyExistsError("409 AlreadyExists")));
  EXPECT_CALL(client, Get).WillOnce(Return(StoredInfo(1, "7")));
  EXPECT_CALL(client, Update).WillOnce(Return(std::string("{}")));
  KubeNodeInfoPublisher publisher(&client);
  EXPECT_TRUE(publisher.Publish(SelfView(2)).ok());
}

TEST(KubeNodeInfoPublisherTest, GivesUpAfterBoundedConflicts) {
  kube::MockKubeClient client;
  EXPECT_CALL(client, Get).Times(3).WillRepeatedly(Return(StoredInfo(1, "42")));
  EXPECT_CALL(client, Update)
      .Times(3)
      .WillRepeatedly(Return(absl::AbortedError("409 Conflict")));
  KubeNodeInfoPublisher::Options options;
  options.max_attempts = 3;
  KubeNodeInfoPublisher publisher(&client, options);
  absl::Status status = publisher.Publish(SelfView(2));
  EXPECT_EQ(status.code(), absl::StatusCode::kAborted);
  EXPECT_THAT(status.message(), HasSubstr("node1"));
}

TEST(KubeNodeInfoPublisherTest, ServerErrorIsReturnedForTheCallerToRetry) {
  kube::MockKubeClient client;
  EXPECT_CALL(client, Get)
      .WillOnce(Return(absl::UnavailableError("500 Internal Server Error")));
  EXPECT_CALL(client, Create).Times(0);
  EXPECT_CALL(client, Update).Times(0);
  KubeNodeInfoPublisher publisher(&client);
  EXPECT_EQ(publisher.Publish(SelfView(1)).code(),
            absl::StatusCode::kUnavailable);
}

TEST(KubeNodeInfoPublisherTest, ServerErrorOnWriteIsReturned) {
  kube::MockKubeClient client;
  EXPECT_CALL(client, Get).WillOnce(Return(StoredInfo(1, "42")));
  EXPECT_CALL(client, Update)
      .WillOnce(Return(absl::UnavailableError("500 Internal Server Error")));
  KubeNodeInfoPublisher publisher(&client);
  EXPECT_EQ(publisher.Publish(SelfView(2)).code(),
            absl::StatusCode::kUnavailable);
}

TEST(KubeNodeInfoPublisherTest, WithdrawDeletesAndToleratesAbsence) {
  kube::MockKubeClient client;
  EXPECT_CALL(client,
              Delete(ResourceIs("kmeshnodeinfos"), "kmesh-system", "node1"))
      .WillOnce(Return(absl::OkStatus()))
      .WillOnce(Return(absl::NotFoundError("gone")))
      .WillOnce(Return(absl::UnavailableError("500")));
  KubeNodeInfoPublisher publisher(&client);
  EXPECT_TRUE(publisher.Withdraw("node1").ok());
  EXPECT_TRUE(publisher.Withdraw("node1").ok());
  EXPECT_EQ(publisher.Withdraw("node1").code(), absl::StatusCode::kUnavailable);
}

}  // namespace
}  // namespace kmesh::ipsec
