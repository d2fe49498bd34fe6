#include "sim/kernel/memory_marker_maps.h"

#include "gtest/gtest.h"
#include "kmesh/base/testing/ip_literals.h"

namespace kmesh {
namespace {

using ::kmesh::testing::Ip;

TEST(MemoryMarkerMapsTest, PeerUpsertReplacesAndLookupFindsIndex) {
  MemoryMarkerMaps maps;
  ASSERT_TRUE(maps.UpsertPeer(Ip("10.0.0.2"), 7).ok());
  ASSERT_TRUE(maps.UpsertPeer(Ip("10.0.0.2"), 9).ok());
  ASSERT_TRUE(maps.UpsertPeer(Ip("fd00::2"), 9).ok());
  EXPECT_EQ(maps.LookupPeer(Ip("10.0.0.2")), 9);
  EXPECT_EQ(maps.LookupPeer(Ip("fd00::2")), 9);
  EXPECT_FALSE(maps.LookupPeer(Ip("10.0.0.3")).has_value());
  EXPECT_EQ(maps.DumpPeers()->size(), 2u);
}

TEST(MemoryMarkerMapsTest, PeerIndexZeroIsRejected) {
  MemoryMarkerMaps maps;
  EXPECT_EQ(maps.UpsertPeer(Ip("10.0.0.2"), 0).code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(MemoryMarkerMapsTest, DeleteOfAbsentEntryIsNotFound) {
  MemoryMarkerMaps maps;
  EXPECT_EQ(maps.DeletePeer(Ip("10.0.0.2")).code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(maps.DeleteEncryptTarget(Ip("10.244.1.5")).code(),
            absl::StatusCode::kNotFound);
}

TEST(MemoryMarkerMapsTest, FullMapRefusesNewKeysButAcceptsReplacements) {
  MemoryMarkerMaps maps(/*max_peers=*/1, /*max_encrypt_targets=*/1);
  ASSERT_TRUE(maps.UpsertPeer(Ip("10.0.0.2"), 1).ok());
  EXPECT_EQ(maps.UpsertPeer(Ip("10.0.0.3"), 2).code(),
            absl::StatusCode::kResourceExhausted);
  EXPECT_TRUE(maps.UpsertPeer(Ip("10.0.0.2"), 3).ok());
  ASSERT_TRUE(maps.UpsertEncryptTarget(Ip("10.244.1.5")).ok());
  EXPECT_TRUE(maps.UpsertEncryptTarget(Ip("10.244.1.5")).ok());
  EXPECT_EQ(maps.UpsertEncryptTarget(Ip("10.244.1.6")).code(),
            absl::StatusCode::kResourceExhausted);
}

TEST(MemoryMarkerMapsTest, BatchUpdateAppliesAllAndReportsFirstError) {
  MemoryMarkerMaps maps;
  ASSERT_TRUE(maps.UpsertEncryptTarget(Ip("10.244.1.5")).ok());
  absl::Status s =
      maps.UpdateEncryptTargets({Ip("10.244.2.5"), Ip("fd00:244::5")},
                                {Ip("10.244.9.9"), Ip("10.244.1.5")});
  EXPECT_EQ(s.code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE(maps.IsEncryptTarget(Ip("10.244.2.5")));
  EXPECT_TRUE(maps.IsEncryptTarget(Ip("fd00:244::5")));
  EXPECT_FALSE(maps.IsEncryptTarget(Ip("10.244.1.5")));
  EXPECT_EQ(maps.DumpEncryptTargets()->size(), 2u);
}

}  // namespace
}  // namespace kmesh
