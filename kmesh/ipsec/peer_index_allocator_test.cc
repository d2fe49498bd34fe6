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

}  // namespace
}  // namespace kmesh::ipsec
