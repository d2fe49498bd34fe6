#include "sim/net/ip_packet.h"

#include "gtest/gtest.h"
#include "kmesh/base/testing/ip_literals.h"

namespace kmesh::sim {
namespace {

using ::kmesh::testing::Ip;

TEST(IpPacketTest, Ipv4HeaderHasAValidChecksumAndParsesBack) {
  const uint8_t payload[] = {1, 2, 3};
  auto p = BuildIpPacket(Ip("10.0.0.1"), Ip("10.0.0.2"), 50, payload, 7);
  ASSERT_EQ(p.size(), 23u);
  // RFC 1071: the checksum over a header including its checksum is 0.
  EXPECT_EQ(InternetChecksum(absl::MakeConstSpan(p.data(), 20)), 0);
  auto h = ParseIpHeader(p);
  ASSERT_TRUE(h.ok()) << h.status();
  EXPECT_EQ(h->src, Ip("10.0.0.1"));
  EXPECT_EQ(h->dst, Ip("10.0.0.2"));
  EXPECT_EQ(h->proto, 50);
  EXPECT_EQ(h->header_length, 20u);
  EXPECT_EQ(h->total_length, 23u);
}

TEST(IpPacketTest, StartedPacketWithItsPayloadAppendedIsTheBuiltOne) {
  const uint8_t payload[] = {9, 8, 7, 6, 5};
  for (const auto& [src, dst] : {std::pair{Ip("10.0.0.1"), Ip("10.0.0.2")},
                                 std::pair{Ip("fd00::1"), Ip("fd00::2")}}) {
    std::vector<uint8_t> p = StartIpPacket(src, dst, 50, sizeof(payload), 3);
    EXPECT_EQ(p.size(), IpHeaderLength(src.family()));
    EXPECT_GE(p.capacity(), p.size() + sizeof(payload));
    p.insert(p.end(), std::begin(payload), std::end(payload));
    EXPECT_EQ(p, BuildIpPacket(src, dst, 50, payload, 3)) << src.ToString();
    auto h = ParseIpHeader(p);
    ASSERT_TRUE(h.ok()) << h.status();
    EXPECT_EQ(h->total_length, p.size());
  }
}

TEST(IpPacketTest, KnownChecksum) {
  // The classic example header (checksum field zero) sums to 0xb861.
  const uint8_t header[] = {0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40,
                            0x00, 0x40, 0x11, 0x00, 0x00, 0xc0, 0xa8,
                            0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7};
  EXPECT_EQ(InternetChecksum(header), 0xb861);
}

TEST(IpPacketTest, RejectsWhatLinuxDrops) {
  auto p = BuildIpPacket(Ip("10.0.0.1"), Ip("10.0.0.2"), 17, {});
  auto bad_sum = p;
  bad_sum[12] ^= 1;  // Source address changed, checksum not updated.
  EXPECT_FALSE(ParseIpHeader(bad_sum).ok());
  auto truncated = p;
  truncated.resize(12);
  EXPECT_FALSE(ParseIpHeader(truncated).ok());
  auto too_long = p;
  too_long[3] = 200;  // Total length beyond the bytes present.
  EXPECT_FALSE(ParseIpHeader(too_long).ok());
  std::vector<uint8_t> v5 = p;
  v5[0] = 0x55;
  EXPECT_FALSE(ParseIpHeader(v5).ok());
  EXPECT_FALSE(ParseIpHeader({}).ok());
}

TEST(IpPacketTest, UdpOverBothFamiliesRoundTripsAndChecksumsAreVerified) {
  const uint8_t payload[] = {'h', 'e', 'l', 'l', 'o'};
  for (auto [src, dst] : {std::pair{"10.244.1.2", "10.244.2.3"},
                          std::pair{"fd00:1::2", "fd00:2::3"}}) {
    auto p = BuildUdpPacket(Ip(src), Ip(dst), 40000, 8080, payload, 1);
    auto d = ParseUdpPacket(p);
    ASSERT_TRUE(d.ok()) << d.status();
    EXPECT_EQ(d->src_port, 40000);
    EXPECT_EQ(d->dst_port, 8080);
    EXPECT_EQ(std::string(d->payload.begin(), d->payload.end()), "hello");
    p[p.size() - 1] ^= 0xff;  // Payload corrupted.
    EXPECT_FALSE(ParseUdpPacket(p).ok());
  }
}

TEST(IpPacketTest, TtlDecrementsAndExpires) {
  auto p = BuildIpPacket(Ip("10.0.0.1"), Ip("10.0.0.2"), 17, {}, 0, 2);
  ASSERT_TRUE(DecrementTtl(p));
  EXPECT_EQ(ParseIpHeader(p)->ttl, 1);  // Checksum still valid.
  EXPECT_FALSE(DecrementTtl(p));
  auto q = BuildIpPacket(Ip("fd00::1"), Ip("fd00::2"), 17, {}, 0, 1);
  EXPECT_FALSE(DecrementTtl(q));
}

}  // namespace
}  // namespace kmesh::sim
