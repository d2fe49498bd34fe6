#include "sim/net/icmp_too_big.h"

#include <algorithm>

#include "gtest/gtest.h"
#include "kmesh/base/testing/ip_literals.h"
#include "sim/net/ip_packet.h"

namespace kmesh::sim {
namespace {

using ::kmesh::testing::Ip;

TEST(IcmpTooBigTest, FragmentationNeededCarriesTheMtuAndQuotesThePacket) {
  std::vector<uint8_t> payload(1480, 0xab);
  const auto offending =
      BuildUdpPacket(Ip("10.244.1.2"), Ip("10.244.2.2"), 4000, 5000, payload);
  const auto icmp = BuildIcmpTooBig(Ip("172.18.0.2"), offending, 1446);
  auto ip = ParseIpHeader(icmp);
  ASSERT_TRUE(ip.ok());
  EXPECT_EQ(ip->proto, kIpProtoIcmp);
  EXPECT_EQ(ip->dst, Ip("10.244.1.2"));
  EXPECT_EQ(icmp.size(), 576u);  // Linux's limit for an ICMP error.
  auto parsed = ParseIcmpTooBig(icmp);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->mtu, 1446u);
  EXPECT_EQ(parsed->reporter, Ip("172.18.0.2"));
  EXPECT_EQ(parsed->original_src, Ip("10.244.1.2"));
  EXPECT_EQ(parsed->original_dst, Ip("10.244.2.2"));
  EXPECT_EQ(parsed->original_proto, kIpProtoUdp);
  EXPECT_EQ(parsed->original_transport[0], 4000 >> 8);
}

TEST(IcmpTooBigTest, PacketTooBigForIpv6QuotesUpTo1280Bytes) {
  std::vector<uint8_t> payload(1452, 1);
  const auto offending = BuildUdpPacket(Ip("fd00:10:244:1::2"),
                                        Ip("fd00:10:244:2::2"), 1, 2, payload);
  const auto icmp = BuildIcmpTooBig(Ip("fd00:172:18::2"), offending, 1426);
  EXPECT_EQ(icmp.size(), 1280u);
  auto parsed = ParseIcmpTooBig(icmp);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->mtu, 1426u);
  EXPECT_EQ(parsed->to, Ip("fd00:10:244:1::2"));
  EXPECT_EQ(parsed->original_dst, Ip("fd00:10:244:2::2"));
}

// Differential finding 16: the error's own header as Linux sends it.
TEST(IcmpErrorTest, Ipv4ErrorsHaveInternetControlPrecedenceIpv6OnesAFlowLabel) {
  std::vector<uint8_t> payload(100, 1);
  auto offending =
      BuildUdpPacket(Ip("10.244.1.2"), Ip("10.244.2.2"), 1, 2, payload);
  SetTrafficClass(offending, 0xbf);  // TOS bits 0x1e survive, the rest not.
  auto error = ParseIpHeader(BuildIcmpTooBig(Ip("10.0.0.1"), offending, 1400));
  ASSERT_TRUE(error.ok()) << error.status();
  EXPECT_EQ(error->tos, 0xde);
  error = ParseIpHeader(BuildIcmpTimeExceeded(Ip("10.0.0.1"), offending));
  ASSERT_TRUE(error.ok());
  EXPECT_EQ(error->tos, 0xde);

  const auto offending6 = BuildUdpPacket(Ip("fd00:10:244:1::2"),
                                         Ip("fd00:10:244:2::2"), 1, 2, payload);
  const auto error6 = BuildIcmpTooBig(Ip("fd00::1"), offending6, 1400);
  EXPECT_NE((error6[1] & 0x0f) | error6[2] | error6[3], 0);
  EXPECT_EQ(ParseIpHeader(error6)->tos, 0);
}

TEST(IcmpErrorTest, TimeExceededQuotesThePacketAsTheOtherErrors) {
  std::vector<uint8_t> payload(1000, 1);
  const auto offending =
      BuildUdpPacket(Ip("10.244.1.2"), Ip("10.244.2.2"), 1, 2, payload);
  const auto error = BuildIcmpTimeExceeded(Ip("10.0.0.1"), offending);
  ASSERT_EQ(error.size(), 576u);
  EXPECT_EQ(error[20], 11);  // Time Exceeded,
  EXPECT_EQ(error[21], 0);   // TTL exceeded in transit.
  EXPECT_EQ(InternetChecksum(absl::MakeConstSpan(error).subspan(20)), 0);
  EXPECT_TRUE(std::equal(error.begin() + 28, error.end(), offending.begin()));
  const auto offending6 = BuildUdpPacket(Ip("fd00:10:244:1::2"),
                                         Ip("fd00:10:244:2::2"), 1, 2, payload);
  const auto error6 = BuildIcmpTimeExceeded(Ip("fd00::1"), offending6);
  EXPECT_EQ(error6.size(), 48u + offending6.size());
  EXPECT_EQ(error6[40], 3);  // ICMPv6 Time Exceeded, hop limit.
  EXPECT_EQ(error6[41], 0);
}

TEST(IcmpTooBigTest, ACorruptedOrOtherMessageIsRejected) {
  const auto offending = BuildUdpPacket(Ip("10.244.1.2"), Ip("10.244.2.2"), 1,
                                        2, std::vector<uint8_t>(100));
  auto icmp = BuildIcmpTooBig(Ip("172.18.0.2"), offending, 1446);
  icmp[26] ^= 1;  // The MTU, under the checksum.
  EXPECT_FALSE(ParseIcmpTooBig(icmp).ok());
  EXPECT_FALSE(ParseIcmpTooBig(offending).ok());
}

}  // namespace
}  // namespace kmesh::sim
