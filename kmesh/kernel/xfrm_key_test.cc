#include "kmesh/kernel/xfrm_key.h"

#include <cstdint>
#include <utility>
#include <vector>

#include "gtest/gtest.h"
#include "kmesh/crypto/testing/core_dump_exclusion.h"

namespace kmesh {
namespace {

using ::kmesh::crypto::testing::ExcludedFromCoreDumps;

XfrmKey KeyOf(uint8_t fill) {
  const std::vector<uint8_t> bytes(36, fill);
  return XfrmKey(bytes.data(), bytes.size());
}

// A derived key is copied with every SA description that holds it: no copy
// may land on pages a core dump would carry.
TEST(XfrmKeyTest, EveryCopyIsExcludedFromCoreDumps) {
  const XfrmKey key = KeyOf(0xa7);
  ASSERT_EQ(key.size(), 36u);
  EXPECT_TRUE(ExcludedFromCoreDumps(key.data()));
  const XfrmKey copy = key;  // NOLINT(performance-unnecessary-copy-*)
  EXPECT_NE(copy.data(), key.data());
  EXPECT_TRUE(ExcludedFromCoreDumps(copy.data()));
  XfrmKey assigned;
  assigned = key;
  EXPECT_TRUE(ExcludedFromCoreDumps(assigned.data()));
  const std::vector<XfrmKey> many(100, key);
  for (const XfrmKey& k : many) EXPECT_TRUE(ExcludedFromCoreDumps(k.data()));
}

TEST(XfrmKeyTest, CopiesMovesAndComparisons) {
  XfrmKey a = KeyOf(1);
  XfrmKey b = a;
  EXPECT_TRUE(a == b);
  EXPECT_FALSE(a == KeyOf(2));
  EXPECT_FALSE(a == XfrmKey());
  EXPECT_TRUE(XfrmKey() == XfrmKey());
  XfrmKey moved = std::move(b);
  EXPECT_TRUE(moved == a);
  EXPECT_TRUE(b.empty());  // NOLINT(bugprone-use-after-move): defined empty.
  a = KeyOf(3);
  EXPECT_TRUE(a == KeyOf(3));
  EXPECT_EQ(a.DebugString(), "<36 key bytes>");
}

}  // namespace
}  // namespace kmesh
