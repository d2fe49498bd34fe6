#include "kmesh/ipsec/peer_index_allocator.h"

#include <set>

#include "gtest/gtest.h"

namespace kmesh::ipsec {
namespace {

TEST(PeerIndexAllocatorTest, IndexIsStableWhilePeerExistsAndNeverZero) {
  PeerIndexAllocator allocator;
  auto a = allocator.Assign("node-a");
  auto b = allocator.Assign("node-b");
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_NE(*a, 0);
  EXPECT_NE(*a, *b);
  EXPECT_EQ(*allocator.Assign("node-a"), *a);
  EXPECT_EQ(allocator.Find("node-b"), *b);
}

TEST(PeerIndexAllocatorTest, ReleasedIndexIsReusedAsLateAsPossible) {
  PeerIndexAllocator allocator(/*max_index=*/3);
  const uint16_t a = *allocator.Assign("a");
  ASSERT_TRUE(allocator.Assign("b").ok());
  allocator.Release("a");
  const uint16_t c = *allocator.Assign("c");
  EXPECT_NE(c, a) << "a free index that was never used comes first";
  EXPECT_EQ(*allocator.Assign("d"), a) << "then the released one";
}

TEST(PeerIndexAllocatorTest, ExhaustionIsAClearError) {
  PeerIndexAllocator allocator(/*max_index=*/2);
  ASSERT_TRUE(allocator.Assign("a").ok());
  ASSERT_TRUE(allocator.Assign("b").ok());
  absl::StatusOr<uint16_t> c = allocator.Assign("c");
  EXPECT_EQ(c.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_NE(c.status().message().find("c"), std::string::npos);
}

TEST(PeerIndexAllocatorTest, ReservedIndexGoesOnlyToThePeerThatPrefersIt) {
  PeerIndexAllocator allocator(/*max_index=*/3);
  allocator.Reserve(1);
  EXPECT_EQ(*allocator.Assign("x"), 2);
  EXPECT_EQ(*allocator.Assign("y", /*preferred=*/1), 1);
  EXPECT_TRUE(allocator.Reserved().empty());
  allocator.Reserve(3);
  allocator.Unreserve(3);
  EXPECT_EQ(*allocator.Assign("z"), 3);
}

TEST(PeerIndexAllocatorTest, PreferredIndexHeldByAnotherPeerIsNotStolen) {
  PeerIndexAllocator allocator;
  const uint16_t a = *allocator.Assign("a");
  const uint16_t b = *allocator.Assign("b", /*preferred=*/a);
  EXPECT_NE(a, b);
}

TEST(PeerIndexAllocatorTest, AllSixtyFiveThousandIndicesAreUsable) {
  PeerIndexAllocator allocator;
  std::set<uint16_t> seen;
  for (int i = 0; i < 65535; ++i) {
    auto index = allocator.Assign("n" + std::to_string(i));
    ASSERT_TRUE(index.ok()) << i;
    seen.insert(*index);
  }
  EXPECT_EQ(seen.size(), 65535u);
  EXPECT_EQ(seen.count(0), 0u);
  EXPECT_FALSE(allocator.Assign("one-too-many").ok());
}

TEST(PeerIndexAllocatorTest, FreeCountFollowsEveryOperation) {
  PeerIndexAllocator allocator(/*max_index=*/4);
  EXPECT_EQ(allocator.free_count(), 4u);
  allocator.Reserve(2);
  EXPECT_EQ(allocator.free_count(), 3u);
  ASSERT_TRUE(allocator.Assign("a").ok());
  ASSERT_TRUE(allocator.Assign("b", /*preferred=*/2).ok());  // The reserved.
  EXPECT_EQ(allocator.free_count(), 2u);
  ASSERT_TRUE(allocator.Assign("c").ok());
  ASSERT_TRUE(allocator.Assign("d").ok());
  EXPECT_EQ(allocator.free_count(), 0u);
  EXPECT_FALSE(allocator.Assign("e").ok());
  allocator.Release("c");
  EXPECT_EQ(allocator.free_count(), 1u);
  allocator.Release("c");  // Twice: no-op.
  EXPECT_EQ(allocator.free_count(), 1u);
  EXPECT_TRUE(allocator.Assign("e").ok());
  EXPECT_EQ(allocator.free_count(), 0u);
}

TEST(PeerIndexAllocatorTest, ReleasedIndicesComeBackInTheOrderReleased) {
  PeerIndexAllocator allocator(/*max_index=*/5);
  for (const char* name : {"a", "b", "c", "d", "e"}) {
    ASSERT_TRUE(allocator.Assign(name).ok());
  }
  const uint16_t d = *allocator.Find("d");
  const uint16_t b = *allocator.Find("b");
  allocator.Release("d");
  allocator.Release("b");
  EXPECT_EQ(*allocator.Assign("x"), d);
  EXPECT_EQ(*allocator.Assign("y"), b);
  EXPECT_FALSE(allocator.Assign("z").ok());
}

TEST(PeerIndexAllocatorTest, PreferredFreeIndexIsTakenOutOfTheList) {
  PeerIndexAllocator allocator(/*max_index=*/3);
  EXPECT_EQ(*allocator.Assign("a", /*preferred=*/2), 2);
  EXPECT_EQ(*allocator.Assign("b"), 1);
  EXPECT_EQ(*allocator.Assign("c"), 3);
  EXPECT_FALSE(allocator.Assign("d").ok());
}

// Churn at full occupancy: each release and assign is constant time, so a
// million of them over 65535 taken slots finish quickly (a scan per assign
// would take minutes).
TEST(PeerIndexAllocatorTest, ChurnWhenFullIsCheap) {
  PeerIndexAllocator allocator;
  for (int i = 0; i < 65535; ++i) {
    ASSERT_TRUE(allocator.Assign("n" + std::to_string(i)).ok());
  }
  for (int i = 0; i < 1000000; ++i) {
    const std::string name = "n" + std::to_string(i % 65535);
    allocator.Release(name);
    ASSERT_EQ(allocator.free_count(), 1u);
    ASSERT_TRUE(allocator.Assign(name).ok());
    ASSERT_FALSE(allocator.Assign("other").ok());
  }
  EXPECT_EQ(allocator.assigned(), 65535u);
}

}  // namespace
}  // namespace kmesh::ipsec
