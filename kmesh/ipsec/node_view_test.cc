#include "kmesh/ipsec/node_view.h"

#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace kmesh::ipsec {
namespace {

using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr char kBoot[] = "0b1b5f2a-6d3c-4e8f-9a7b-1c2d3e4f5a6b";

kmesh::api::KmeshNodeInfo ValidInfo() {
  kmesh::api::KmeshNodeInfo info;
  info.set_api_version("kmesh.net/v1alpha1");
  info.set_kind("KmeshNodeInfo");
  info.mutable_metadata()->set_name("node1");
  info.mutable_metadata()->set_namespace_("kmesh-system");
  info.mutable_spec()->set_spi(3);
  info.mutable_spec()->add_addresses("10.0.0.2");
  info.mutable_spec()->add_addresses("fd00::2");
  info.mutable_spec()->set_boot_id(kBoot);
  info.mutable_spec()->add_pod_cidrs("10.244.1.0/24");
  info.mutable_spec()->add_pod_cidrs("fd10:1::/64");
  return info;
}

TEST(NodeViewTest, ConvertsAValidRecord) {
  absl::StatusOr<NodeView> view = NodeViewFromKmeshNodeInfo(ValidInfo());
  ASSERT_TRUE(view.ok()) << view.status();
  EXPECT_EQ(view->name, "node1");
  EXPECT_EQ(view->spi, 3);
  EXPECT_THAT(view->addresses, ElementsAre("10.0.0.2", "fd00::2"));
  EXPECT_EQ(view->boot_id, kBoot);
  EXPECT_THAT(view->pod_cidrs, ElementsAre(*IpPrefix::Parse("10.244.1.0/24"),
                                           *IpPrefix::Parse("fd10:1::/64")));
}

TEST(NodeViewTest, KeepsAddressTextExactlyAsPublished) {
  // The key derivation hashes the text, so a non-canonical IPv6 spelling must
  // not be rewritten.
  kmesh::api::KmeshNodeInfo info = ValidInfo();
  info.mutable_spec()->set_addresses(1, "FD00:0:0::2");
  absl::StatusOr<NodeView> view = NodeViewFromKmeshNodeInfo(info);
  ASSERT_TRUE(view.ok()) << view.status();
  EXPECT_EQ(view->addresses[1], "FD00:0:0::2");
}

TEST(NodeViewTest, RoundTripsThroughKmeshNodeInfo) {
  absl::StatusOr<NodeView> view = NodeViewFromKmeshNodeInfo(ValidInfo());
  ASSERT_TRUE(view.ok());
  kmesh::api::KmeshNodeInfo info =
      KmeshNodeInfoFromNodeView(*view, "kmesh-system");
  EXPECT_EQ(info.api_version(), "kmesh.net/v1alpha1");
  EXPECT_EQ(info.kind(), "KmeshNodeInfo");
  EXPECT_EQ(info.metadata().name(), "node1");
  EXPECT_EQ(info.metadata().namespace_(), "kmesh-system");
  EXPECT_TRUE(info.metadata().resource_version().empty());
  EXPECT_THAT(info.spec().pod_cidrs(),
              ElementsAre("10.244.1.0/24", "fd10:1::/64"));
  absl::StatusOr<NodeView> again = NodeViewFromKmeshNodeInfo(info);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*again, *view);
}

TEST(NodeViewTest, RejectsABadAddressNamingNodeAndField) {
  kmesh::api::KmeshNodeInfo info = ValidInfo();
  info.mutable_spec()->set_addresses(1, "10.0.0.300");
  absl::StatusOr<NodeView> view = NodeViewFromKmeshNodeInfo(info);
  ASSERT_FALSE(view.ok());
  EXPECT_EQ(view.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(view.status().message(),
              AllOf(HasSubstr("node1"), HasSubstr("spec.addresses[1]"),
                    HasSubstr("10.0.0.300")));
}

TEST(NodeViewTest, RejectsABadPodCidrNamingNodeAndField) {
  kmesh::api::KmeshNodeInfo info = ValidInfo();
  info.mutable_spec()->set_pod_cidrs(0, "10.244.1.0/33");
  absl::StatusOr<NodeView> view = NodeViewFromKmeshNodeInfo(info);
  ASSERT_FALSE(view.ok());
  EXPECT_THAT(view.status().message(),
              AllOf(HasSubstr("node1"), HasSubstr("spec.podCIDRS[0]")));
}

TEST(NodeViewTest, RejectsMissingNameAddressesBootIdAndNegativeSpi) {
  kmesh::api::KmeshNodeInfo no_name = ValidInfo();
  no_name.mutable_metadata()->clear_name();
  EXPECT_FALSE(NodeViewFromKmeshNodeInfo(no_name).ok());

  kmesh::api::KmeshNodeInfo no_addresses = ValidInfo();
  no_addresses.mutable_spec()->clear_addresses();
  absl::StatusOr<NodeView> view = NodeViewFromKmeshNodeInfo(no_addresses);
  ASSERT_FALSE(view.ok());
  EXPECT_THAT(view.status().message(), HasSubstr("spec.addresses"));

  kmesh::api::KmeshNodeInfo no_boot = ValidInfo();
  no_boot.mutable_spec()->clear_boot_id();
  view = NodeViewFromKmeshNodeInfo(no_boot);
  ASSERT_FALSE(view.ok());
  EXPECT_THAT(view.status().message(), HasSubstr("spec.bootID"));

  kmesh::api::KmeshNodeInfo negative = ValidInfo();
  negative.mutable_spec()->set_spi(-1);
  view = NodeViewFromKmeshNodeInfo(negative);
  ASSERT_FALSE(view.ok());
  EXPECT_THAT(view.status().message(), HasSubstr("spec.spi"));
}

TEST(NodeViewTest, AcceptsANodeWithoutKeyYetOrPodCidrs) {
  kmesh::api::KmeshNodeInfo info = ValidInfo();
  info.mutable_spec()->set_spi(0);
  info.mutable_spec()->clear_pod_cidrs();
  absl::StatusOr<NodeView> view = NodeViewFromKmeshNodeInfo(info);
  ASSERT_TRUE(view.ok()) << view.status();
  EXPECT_EQ(view->spi, 0);
  EXPECT_TRUE(view->pod_cidrs.empty());
}

NodeView Node(std::vector<std::string> addresses,
              std::vector<std::string> cidrs) {
  NodeView v;
  v.name = "node-2";
  v.addresses = std::move(addresses);
  for (const std::string& c : cidrs) v.pod_cidrs.push_back(*IpPrefix::Parse(c));
  return v;
}

TEST(CheckRecordAgainstNodeTest, AcceptsWhatTheNodeSays) {
  const NodeView node =
      Node({"10.0.0.3", "fd00::3"}, {"10.244.2.0/24", "fd00:244:2::/64"});
  EXPECT_TRUE(CheckRecordAgainstNode(node, &node).ok());
  // A subset, the same address spelt differently, a narrower CIDR.
  const NodeView record = Node({"fd00:0::3"}, {"10.244.2.128/25"});
  EXPECT_TRUE(CheckRecordAgainstNode(record, &node).ok());
}

TEST(CheckRecordAgainstNodeTest, RejectsWhatTheNodeDoesNotSay) {
  const NodeView node = Node({"10.0.0.3"}, {"10.244.2.0/24"});
  RecordCheck check =
      CheckRecordAgainstNode(Node({"10.0.0.3"}, {"10.244.2.0/24"}), nullptr);
  EXPECT_EQ(check.problem, RecordProblem::kNoNode);
  EXPECT_THAT(check.detail, HasSubstr("node-2"));
  check = CheckRecordAgainstNode(Node({"10.0.0.4"}, {}), &node);
  EXPECT_EQ(check.problem, RecordProblem::kAddressNotOnNode);
  EXPECT_THAT(check.detail, HasSubstr("10.0.0.4"));
  check = CheckRecordAgainstNode(Node({"10.0.0.3", "10.0.0.3"}, {}), &node);
  EXPECT_EQ(check.problem, RecordProblem::kAddressNotOnNode);
  check = CheckRecordAgainstNode(Node({"10.0.0.3"}, {"10.244.0.0/16"}), &node);
  EXPECT_EQ(check.problem, RecordProblem::kPodCidrNotOnNode)
      << "wider than the Node's";
  check = CheckRecordAgainstNode(Node({"10.0.0.3"}, {"10.244.1.0/24"}), &node);
  EXPECT_EQ(check.problem, RecordProblem::kPodCidrNotOnNode);
  EXPECT_THAT(check.detail, HasSubstr("10.244.1.0/24"));
  check = CheckRecordAgainstNode(Node({"10.0.0.3"}, {"::/0"}), &node);
  EXPECT_EQ(check.problem, RecordProblem::kPodCidrNotOnNode);
  EXPECT_STREQ(RecordProblemName(RecordProblem::kPodCidrOverlap),
               "pod_cidr_overlap");
}

TEST(PrefixTest, WithinAndOverlap) {
  const IpPrefix wide = *IpPrefix::Parse("10.244.0.0/16");
  const IpPrefix narrow = *IpPrefix::Parse("10.244.3.0/24");
  const IpPrefix other = *IpPrefix::Parse("10.245.0.0/24");
  const IpPrefix v6 = *IpPrefix::Parse("::/0");
  EXPECT_TRUE(PrefixWithin(narrow, wide));
  EXPECT_FALSE(PrefixWithin(wide, narrow));
  EXPECT_TRUE(PrefixesOverlap(wide, narrow));
  EXPECT_TRUE(PrefixesOverlap(narrow, wide));
  EXPECT_FALSE(PrefixesOverlap(wide, other));
  EXPECT_FALSE(PrefixesOverlap(v6, wide));
}

}  // namespace
}  // namespace kmesh::ipsec
