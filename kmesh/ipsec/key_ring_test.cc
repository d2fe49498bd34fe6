#include "kmesh/ipsec/key_ring.h"

#include <cstdint>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace kmesh::ipsec {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

XfrmKey KeyOf(uint8_t fill) {
  std::vector<uint8_t> bytes(36, fill);
  return XfrmKey(bytes.data(), bytes.size());
}

TEST(KeyRingTest, StartsEmptyWithNoCurrentSpi) {
  KeyRing ring;
  EXPECT_EQ(ring.current_spi(), 0);
  EXPECT_THAT(ring.Spis(), IsEmpty());
  EXPECT_FALSE(ring.Has(1));
  EXPECT_EQ(ring.Find(1), nullptr);
}

TEST(KeyRingTest, InstalledKeysAreFoundBySpiAndListedAscending) {
  KeyRing ring;
  ring.Install(2, KeyOf(2));
  ring.Install(1, KeyOf(1));
  ASSERT_NE(ring.Find(1), nullptr);
  EXPECT_EQ(*ring.Find(1), KeyOf(1));
  EXPECT_EQ(*ring.Find(2), KeyOf(2));
  EXPECT_TRUE(ring.Has(2));
  EXPECT_THAT(ring.Spis(), ElementsAre(1, 2));
  EXPECT_EQ(ring.current_spi(), 0);  // Install does not make a key current.
}

TEST(KeyRingTest, InstallReplacesTheKeyForAnSpi) {
  KeyRing ring;
  ring.Install(1, KeyOf(1));
  ring.Install(1, KeyOf(9));
  EXPECT_EQ(*ring.Find(1), KeyOf(9));
  EXPECT_THAT(ring.Spis(), ElementsAre(1));
}

TEST(KeyRingTest, RemovingTheCurrentSpiClearsCurrent) {
  KeyRing ring;
  ring.Install(1, KeyOf(1));
  ring.Install(2, KeyOf(2));
  ring.SetCurrent(2);
  ring.Remove(1);
  EXPECT_EQ(ring.current_spi(), 2);
  EXPECT_THAT(ring.Spis(), ElementsAre(2));
  ring.Remove(2);
  EXPECT_EQ(ring.current_spi(), 0);
  ring.Remove(7);  // Absent: no-op.
  EXPECT_THAT(ring.Spis(), IsEmpty());
}

TEST(KeyRingTest, CopiesAreIndependent) {
  KeyRing ring;
  ring.Install(1, KeyOf(1));
  ring.SetCurrent(1);
  KeyRing copy = ring;
  ring.Remove(1);
  EXPECT_EQ(copy.current_spi(), 1);
  ASSERT_NE(copy.Find(1), nullptr);
  EXPECT_EQ(*copy.Find(1), KeyOf(1));
}

}  // namespace
}  // namespace kmesh::ipsec
