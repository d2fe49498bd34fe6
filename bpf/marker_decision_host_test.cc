#include "bpf/marker_decision_host.h"

#include <cstring>

#include "bpf/marker_decision.h"
#include "bpf/marker_decision_table.h"
#include "bpf/marker_key.h"
#include "bpf/marker_test_packets.h"
#include "gtest/gtest.h"
#include "kmesh/kernel/memory_marker_maps.h"

namespace kmesh {
namespace {

using ::kmesh::testing::Ip;
using ::kmesh::testing::IpFrame;
using ::kmesh::testing::IpPacket;
using ::kmesh::testing::kProtoEsp;
using ::kmesh::testing::kProtoUdp;
using ::kmesh::testing::Marker;
using ::kmesh::testing::MarkerCase;
using ::kmesh::testing::Truncated;

class MarkerDecisionHostTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(testing::FillTableMaps(maps_).ok()); }

  MemoryMarkerMaps maps_;
};

TEST_F(MarkerDecisionHostTest, FollowsTheDecisionTable) {
  const std::vector<MarkerCase> table = testing::MarkerDecisionTable();
  ASSERT_GT(table.size(), 30u);
  for (const MarkerCase& c : table) {
    SCOPED_TRACE(c.name);
    const uint32_t mark =
        c.marker == Marker::kEncrypt
            ? RunEncryptMarkerOnFrame(maps_, c.frame, c.mark_in)
            : RunDecryptMarkerOnFrame(maps_, c.frame, c.mark_in);
    EXPECT_EQ(mark, c.want_mark) << std::hex << "mark 0x" << mark;
  }
}

// The simulator's devices carry bare IP packets: the same table with the
// Ethernet header stripped gives the same marks wherever the ethertype and
// the version nibble agree (the bare-IP parser has only the nibble).
TEST_F(MarkerDecisionHostTest, BareIpPacketsFollowTheDecisionTable) {
  int ran = 0;
  for (const MarkerCase& c : testing::MarkerDecisionTable()) {
    if (c.frame.size() <= 14) continue;
    const int ethertype = c.frame[12] << 8 | c.frame[13];
    const int version = c.frame[14] >> 4;
    if (!(ethertype == 0x0800 && version == 4) &&
        !(ethertype == 0x86dd && version == 6)) {
      continue;
    }
    SCOPED_TRACE(c.name);
    const absl::Span<const uint8_t> packet =
        absl::MakeConstSpan(c.frame).subspan(14);
    const uint32_t mark =
        c.marker == Marker::kEncrypt
            ? RunEncryptMarkerOnIpPacket(maps_, packet, c.mark_in)
            : RunDecryptMarkerOnIpPacket(maps_, packet, c.mark_in);
    EXPECT_EQ(mark, c.want_mark) << std::hex << "mark 0x" << mark;
    ++ran;
  }
  EXPECT_GT(ran, 25);
}

TEST_F(MarkerDecisionHostTest, EmptyFrameKeepsItsMark) {
  EXPECT_EQ(RunEncryptMarkerOnFrame(maps_, {}, 0x1234), 0x1234u);
  EXPECT_EQ(RunDecryptMarkerOnFrame(maps_, {}, 0xd0), 0xd0u);
  EXPECT_EQ(RunDecryptMarkerOnFrame(maps_, {}, 0x100d0), 0u);
}

TEST_F(MarkerDecisionHostTest, MapChangesTakeEffectOnTheNextPacket) {
  const std::vector<uint8_t> to_pod =
      IpFrame(Ip("10.244.0.7"), Ip("10.244.1.5"), kProtoUdp);
  const std::vector<uint8_t> esp =
      IpFrame(Ip("192.168.1.2"), Ip("192.168.1.1"), kProtoEsp);
  ASSERT_EQ(RunEncryptMarkerOnFrame(maps_, to_pod, 0), 0xe0u);
  ASSERT_EQ(RunDecryptMarkerOnFrame(maps_, esp, 0), 0x100d0u);

  ASSERT_TRUE(maps_.DeleteEncryptTarget(Ip("10.244.1.5")).ok());
  ASSERT_TRUE(maps_.UpsertPeer(Ip("192.168.1.2"), 42).ok());
  EXPECT_EQ(RunEncryptMarkerOnFrame(maps_, to_pod, 0), 0u);
  EXPECT_EQ(RunDecryptMarkerOnFrame(maps_, esp, 0), 0x2a00d0u);

  ASSERT_TRUE(maps_.DeletePeer(Ip("192.168.1.2")).ok());
  EXPECT_EQ(RunDecryptMarkerOnFrame(maps_, esp, 0), 0u);
}

TEST_F(MarkerDecisionHostTest, BareIpPacketsAreClassifiedByVersion) {
  EXPECT_EQ(RunEncryptMarkerOnIpPacket(
                maps_, IpPacket(Ip("10.244.0.7"), Ip("10.244.1.5"), 6), 0),
            0xe0u);
  EXPECT_EQ(RunEncryptMarkerOnIpPacket(
                maps_, IpPacket(Ip("fd00:244::7"), Ip("fd00:244:1::5"), 6), 0),
            0xe0u);
  EXPECT_EQ(
      RunDecryptMarkerOnIpPacket(
          maps_, IpPacket(Ip("fd00:1::3"), Ip("fd00:1::1"), kProtoEsp), 0),
      0x700d0u);
  EXPECT_EQ(
      RunDecryptMarkerOnIpPacket(
          maps_, IpPacket(Ip("192.168.1.2"), Ip("1.1.1.1"), kProtoUdp), 0xd0),
      0xd0u);

  std::vector<uint8_t> version5 =
      IpPacket(Ip("10.244.0.7"), Ip("10.244.1.5"), 6);
  version5[0] = 0x55;
  EXPECT_EQ(RunEncryptMarkerOnIpPacket(maps_, version5, 7), 7u);
  EXPECT_EQ(
      RunEncryptMarkerOnIpPacket(
          maps_,
          Truncated(IpPacket(Ip("fd00:244::7"), Ip("fd00:244:1::5"), 6), 39),
          0),
      0u);
}

TEST(MarkLayoutTest, PeerIndexAndKindDoNotOverlap) {
  EXPECT_EQ(KMESH_MARK_PEER_INDEX_MASK & KMESH_MARK_KIND_MASK, 0u);
  EXPECT_EQ(KMESH_MARK_ENCRYPT & ~KMESH_MARK_KIND_MASK, 0u);
  EXPECT_EQ(KMESH_MARK_DECRYPT & ~KMESH_MARK_KIND_MASK, 0u);
  EXPECT_NE(KMESH_MARK_ENCRYPT, KMESH_MARK_DECRYPT);
  EXPECT_EQ(kmesh_decrypt_mark_for_peer(1), 0x100d0u);
  EXPECT_EQ(kmesh_decrypt_mark_for_peer(KMESH_PEER_INDEX_MAX), 0xffff00d0u);
  EXPECT_EQ(kmesh_decrypt_mark_for_peer(KMESH_PEER_INDEX_MAX) &
                KMESH_MARK_PEER_INDEX_MASK,
            KMESH_PEER_INDEX_MAX << KMESH_MARK_PEER_INDEX_SHIFT);
}

TEST(MarkLayoutTest, PeerIndexOutsideItsRangeCountsAsUnknown) {
  // A map value the daemon never writes must not produce a colliding mark.
  EXPECT_EQ(kmesh_decrypt_mark(0x1234, /*is_esp=*/1, 0), 0x1234u);
  EXPECT_EQ(kmesh_decrypt_mark(0x1234, /*is_esp=*/1, 0x10000), 0x1234u);
  EXPECT_EQ(kmesh_decrypt_mark(0xd0, /*is_esp=*/1, 0x10000), 0u);
  EXPECT_EQ(kmesh_decrypt_mark(0, /*is_esp=*/1, 0x10001), 0u);
}

TEST(MarkerKeyTest, RoundTripsBothFamilies) {
  for (const char* text : {"10.244.1.5", "0.0.0.0", "fd00:244:1::5", "::1"}) {
    const IpAddress address = Ip(text);
    const kmesh_marker_ip_key key = MarkerKeyFor(address);
    EXPECT_EQ(key.family, address.is_v4() ? 4 : 6);
    absl::StatusOr<IpAddress> back = IpAddressFromMarkerKey(key);
    ASSERT_TRUE(back.ok()) << back.status();
    EXPECT_EQ(*back, address);
  }
}

TEST(MarkerKeyTest, HoldsTheAddressBytesInNetworkOrder) {
  const kmesh_marker_ip_key key = MarkerKeyFor(Ip("10.244.1.5"));
  uint8_t bytes[16];
  std::memcpy(bytes, key.addr, sizeof(bytes));
  const uint8_t want[16] = {10, 244, 1, 5};
  EXPECT_EQ(std::memcmp(bytes, want, sizeof(want)), 0);
  EXPECT_EQ(sizeof(kmesh_marker_ip_key), 20u);
}

TEST(MarkerKeyTest, RejectsKeysTheProgramsCannotProduce) {
  kmesh_marker_ip_key key = MarkerKeyFor(Ip("10.0.0.1"));
  key.family = 5;
  EXPECT_EQ(IpAddressFromMarkerKey(key).status().code(),
            absl::StatusCode::kInvalidArgument);
  key = MarkerKeyFor(Ip("10.0.0.1"));
  key.pad[1] = 1;
  EXPECT_EQ(IpAddressFromMarkerKey(key).status().code(),
            absl::StatusCode::kInvalidArgument);
  key = MarkerKeyFor(Ip("10.0.0.1"));
  key.addr[2] = 1;
  EXPECT_EQ(IpAddressFromMarkerKey(key).status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace kmesh
