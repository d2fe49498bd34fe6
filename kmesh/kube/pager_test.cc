#include "kmesh/kube/pager.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "kmesh/kube/testing/mock_kube_client.h"

namespace kmesh::kube {
namespace {

using ::testing::_;
using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::Field;
using ::testing::Return;

auto Page(int64_t limit, const std::string& token) {
  return AllOf(Field(&ListOptions::limit, limit),
               Field(&ListOptions::continue_token, token),
               Field(&ListOptions::label_selector, "app=kmesh"));
}

TEST(PagerTest, FollowsContinueTokensAndKeepsTheSelector) {
  MockKubeClient client;
  ::testing::InSequence order;
  EXPECT_CALL(client, List(_, "ns", Page(2, "")))
      .WillOnce(Return(ObjectList{{"a", "b"}, "10", "t1"}));
  EXPECT_CALL(client, List(_, "ns", Page(2, "t1")))
      .WillOnce(Return(ObjectList{{"c", "d"}, "10", "t2"}));
  EXPECT_CALL(client, List(_, "ns", Page(2, "t2")))
      .WillOnce(Return(ObjectList{{"e"}, "10", ""}));
  ListOptions options;
  options.label_selector = "app=kmesh";
  PagerStats stats;
  absl::StatusOr<ObjectList> all =
      ListAll(client, SecretsKind(), "ns", options, 2, nullptr, &stats);
  ASSERT_TRUE(all.ok()) << all.status();
  EXPECT_THAT(all->items, ElementsAre("a", "b", "c", "d", "e"));
  EXPECT_EQ(all->resource_version, "10");
  EXPECT_EQ(all->continue_token, "");
  EXPECT_EQ(stats.requests, 3);
  EXPECT_FALSE(stats.fell_back);
}

TEST(PagerTest, AnExpiredTokenFallsBackToOneFullList) {
  MockKubeClient client;
  ::testing::InSequence order;
  EXPECT_CALL(client, List(_, "ns", Page(2, "")))
      .WillOnce(Return(ObjectList{{"a", "b"}, "10", "t1"}));
  EXPECT_CALL(client, List(_, "ns", Page(2, "t1")))
      .WillOnce(Return(absl::OutOfRangeError("continue parameter too old")));
  EXPECT_CALL(client, List(_, "ns", Page(0, "")))
      .WillOnce(Return(ObjectList{{"a", "x"}, "12", ""}));
  ListOptions options;
  options.label_selector = "app=kmesh";
  PagerStats stats;
  absl::StatusOr<ObjectList> all =
      ListAll(client, SecretsKind(), "ns", options, 2, nullptr, &stats);
  ASSERT_TRUE(all.ok()) << all.status();
  EXPECT_THAT(all->items, ElementsAre("a", "x"));
  EXPECT_EQ(all->resource_version, "12");
  EXPECT_EQ(stats.requests, 3);
  EXPECT_TRUE(stats.fell_back);
}

TEST(PagerTest, GoneOnTheFirstPageAndOtherErrorsAreReturned) {
  MockKubeClient client;
  EXPECT_CALL(client, List(_, _, _))
      .WillOnce(Return(absl::OutOfRangeError("gone")))
      .WillOnce(Return(ObjectList{{"a"}, "1", "t"}))
      .WillOnce(Return(absl::UnavailableError("down")));
  EXPECT_TRUE(
      absl::IsOutOfRange(ListAll(client, SecretsKind(), "ns", {}).status()));
  EXPECT_TRUE(
      absl::IsUnavailable(ListAll(client, SecretsKind(), "ns", {}).status()));
}

TEST(PagerTest, StopsBetweenPagesWhenAsked) {
  MockKubeClient client;
  EXPECT_CALL(client, List(_, _, _))
      .WillOnce(Return(ObjectList{{"a"}, "1", "t"}));
  EXPECT_TRUE(absl::IsCancelled(ListAll(client, SecretsKind(), "ns", {}, 1, [] {
                                  return true;
                                }).status()));
}

}  // namespace
}  // namespace kmesh::kube
