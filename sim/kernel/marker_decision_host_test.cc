#include "sim/kernel/marker_decision_host.h"

#include "bpf/marker_decision.h"
#include "bpf/marker_decision_table.h"
#include "bpf/marker_test_packets.h"
#include "gtest/gtest.h"
#include "sim/kernel/memory_marker_maps.h"
#include "sim/kernel/testing/bare_ip_marker_cases.h"

namespace kmesh {
namespace {

using ::kmesh::testing::Ip;
using ::kmesh::testing::IpPacket;

class MarkerDecisionHostTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(testing::FillTableMaps(maps_).ok()); }

  MemoryMarkerMaps maps_;
};

TEST_F(MarkerDecisionHostTest, FollowsTheDecisionTable) {
  const std::vector<testing::MarkerCase> table = testing::MarkerDecisionTable();
  ASSERT_GT(table.size(), 30u);
  for (const testing::MarkerCase& c : table) {
    SCOPED_TRACE(c.name);
    const uint32_t mark =
        c.marker == testing::Marker::kEncrypt
            ? RunEncryptMarkerOnFrame(maps_, c.frame, c.mark_in)
            : RunDecryptMarkerOnFrame(maps_, c.frame, c.mark_in);
    EXPECT_EQ(mark, c.want_mark) << std::hex << "mark 0x" << mark;
  }
}

// The simulator's devices carry bare IP packets: the same table with the
// Ethernet header stripped gives the same marks wherever the ethertype and
// the version nibble agree (the bare-IP parser has only the nibble).
TEST_F(MarkerDecisionHostTest, BareIpPacketsFollowTheDecisionTable) {
  const std::vector<sim::testing::BareIpMarkerCase> cases =
      sim::testing::BareIpMarkerCases();
  ASSERT_GT(cases.size(), 25u);
  for (const auto& [c, packet] : cases) {
    SCOPED_TRACE(c.name);
    const uint32_t mark =
        c.marker == testing::Marker::kEncrypt
            ? RunEncryptMarkerOnIpPacket(maps_, packet, c.mark_in)
            : RunDecryptMarkerOnIpPacket(maps_, packet, c.mark_in);
    EXPECT_EQ(mark, c.want_mark) << std::hex << "mark 0x" << mark;
  }
}

TEST_F(MarkerDecisionHostTest, EmptyFrameKeepsItsMark) {
  EXPECT_EQ(RunEncryptMarkerOnFrame(maps_, {}, 0x1234), 0x1234u);
  EXPECT_EQ(RunDecryptMarkerOnFrame(maps_, {}, 0xd0), 0xd0u);
  EXPECT_EQ(RunDecryptMarkerOnFrame(maps_, {}, 0x100d0), 0u);
}

TEST_F(MarkerDecisionHostTest, MapChangesTakeEffectOnTheNextPacket) {
  const std::vector<uint8_t> to_pod =
      testing::IpFrame(Ip("10.244.0.7"), Ip("10.244.1.5"), testing::kProtoUdp);
  const std::vector<uint8_t> esp = testing::IpFrame(
      Ip("192.168.1.2"), Ip("192.168.1.1"), testing::kProtoEsp);
  ASSERT_EQ(RunEncryptMarkerOnFrame(maps_, to_pod, 0), 0xe0u);
  ASSERT_EQ(RunDecryptMarkerOnFrame(maps_, esp, 0), 0x100d0u);

  ASSERT_TRUE(maps_.UpsertUnmanagedPod(Ip("10.244.1.5")).ok());
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
          maps_, IpPacket(Ip("fd00:1::3"), Ip("fd00:1::1"), testing::kProtoEsp),
          0),
      0x700d0u);
  EXPECT_EQ(
      RunDecryptMarkerOnIpPacket(
          maps_, IpPacket(Ip("192.168.1.2"), Ip("1.1.1.1"), testing::kProtoUdp),
          0xd0),
      0xd0u);

  std::vector<uint8_t> version5 =
      IpPacket(Ip("10.244.0.7"), Ip("10.244.1.5"), 6);
  version5[0] = 0x55;
  EXPECT_EQ(RunEncryptMarkerOnIpPacket(maps_, version5, 7), 7u);
  EXPECT_EQ(RunEncryptMarkerOnIpPacket(
                maps_,
                testing::Truncated(
                    IpPacket(Ip("fd00:244::7"), Ip("fd00:244:1::5"), 6), 39),
                0),
            0u);
}

}  // namespace
}  // namespace kmesh
