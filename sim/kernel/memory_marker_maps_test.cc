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
  EXPECT_EQ(maps.DeleteUnmanagedPod(Ip("10.244.1.5")).code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(maps.DeleteEncryptCidr(*IpPrefix::Parse("10.244.1.0/24")).code(),
            absl::StatusCode::kNotFound);
}

TEST(MemoryMarkerMapsTest, FullMapRefusesNewKeysButAcceptsReplacements) {
  MemoryMarkerMaps maps(/*max_peers=*/1, /*max_unmanaged_pods=*/1,
                        /*max_encrypt_cidrs=*/1);
  ASSERT_TRUE(maps.UpsertPeer(Ip("10.0.0.2"), 1).ok());
  EXPECT_EQ(maps.UpsertPeer(Ip("10.0.0.3"), 2).code(),
            absl::StatusCode::kResourceExhausted);
  EXPECT_TRUE(maps.UpsertPeer(Ip("10.0.0.2"), 3).ok());
  ASSERT_TRUE(maps.UpsertUnmanagedPod(Ip("10.244.1.5")).ok());
  EXPECT_TRUE(maps.UpsertUnmanagedPod(Ip("10.244.1.5")).ok());
  EXPECT_EQ(maps.UpsertUnmanagedPod(Ip("10.244.1.6")).code(),
            absl::StatusCode::kResourceExhausted);
  ASSERT_TRUE(maps.UpsertEncryptCidr(*IpPrefix::Parse("10.244.1.0/24")).ok());
  EXPECT_TRUE(maps.UpsertEncryptCidr(*IpPrefix::Parse("10.244.1.0/24")).ok());
  EXPECT_EQ(maps.UpsertEncryptCidr(*IpPrefix::Parse("10.244.2.0/24")).code(),
            absl::StatusCode::kResourceExhausted);
}

// Inside an encrypt CIDR, whatever the prefix length; outside, not; a second
// length for one network address, a /0 and a fifth length per family are
// refused (as the BPF maps refuse them: bpf/marker_bpf_test.cc).
TEST(MemoryMarkerMapsTest, EncryptCidrsCoverTheirAddressesOnly) {
  MemoryMarkerMaps maps;
  const auto cidr = [](const char* text) { return *IpPrefix::Parse(text); };
  ASSERT_TRUE(maps.UpsertEncryptCidr(cidr("10.244.1.0/24")).ok());
  ASSERT_TRUE(maps.UpsertEncryptCidr(cidr("10.250.0.64/26")).ok());
  ASSERT_TRUE(maps.UpsertEncryptCidr(cidr("fd00:244:1::/64")).ok());
  EXPECT_TRUE(maps.InEncryptCidr(Ip("10.244.1.0")));
  EXPECT_TRUE(maps.InEncryptCidr(Ip("10.244.1.255")));
  EXPECT_FALSE(maps.InEncryptCidr(Ip("10.244.2.0")));
  EXPECT_TRUE(maps.InEncryptCidr(Ip("10.250.0.127")));
  EXPECT_FALSE(maps.InEncryptCidr(Ip("10.250.0.128")));
  EXPECT_TRUE(maps.InEncryptCidr(Ip("fd00:244:1::ffff:1")));
  EXPECT_FALSE(maps.InEncryptCidr(Ip("fd00:244:2::1")));
  EXPECT_EQ(maps.UpsertEncryptCidr(cidr("10.244.1.0/25")).code(),
            absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(maps.UpsertEncryptCidr(cidr("0.0.0.0/0")).code(),
            absl::StatusCode::kInvalidArgument);
  ASSERT_TRUE(maps.UpsertEncryptCidr(cidr("10.1.0.0/16")).ok());
  ASSERT_TRUE(maps.UpsertEncryptCidr(cidr("10.2.0.0/20")).ok());
  EXPECT_EQ(maps.UpsertEncryptCidr(cidr("10.3.0.0/12")).code(),
            absl::StatusCode::kResourceExhausted);
  ASSERT_TRUE(maps.DeleteEncryptCidr(cidr("10.1.0.0/16")).ok());
  EXPECT_TRUE(maps.UpsertEncryptCidr(cidr("10.3.0.0/12")).ok());
  EXPECT_EQ(maps.DeleteEncryptCidr(cidr("10.244.1.0/25")).code(),
            absl::StatusCode::kNotFound);
}

TEST(MemoryMarkerMapsTest, BatchUpdateAppliesAllAndReportsFirstError) {
  MemoryMarkerMaps maps;
  ASSERT_TRUE(maps.UpsertUnmanagedPod(Ip("10.244.1.5")).ok());
  absl::Status s =
      maps.UpdateUnmanagedPods({Ip("10.244.2.5"), Ip("fd00:244::5")},
                               {Ip("10.244.9.9"), Ip("10.244.1.5")});
  EXPECT_EQ(s.code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE(maps.IsUnmanagedPod(Ip("10.244.2.5")));
  EXPECT_TRUE(maps.IsUnmanagedPod(Ip("fd00:244::5")));
  EXPECT_FALSE(maps.IsUnmanagedPod(Ip("10.244.1.5")));
  EXPECT_EQ(maps.DumpUnmanagedPods()->size(), 2u);
}

}  // namespace
}  // namespace kmesh
