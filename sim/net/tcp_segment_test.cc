#include "sim/net/tcp_segment.h"

#include "gtest/gtest.h"
#include "kmesh/base/testing/ip_literals.h"

namespace kmesh::sim {
namespace {

using ::kmesh::testing::Ip;

TEST(TcpSegmentTest, RoundTripsWithDfSetAndTheMssOption) {
  for (const char* family : {"4", "6"}) {
    const bool v4 = family[0] == '4';
    const IpAddress src = Ip(v4 ? "10.244.1.2" : "fd00:1::2");
    const IpAddress dst = Ip(v4 ? "10.244.2.2" : "fd00:2::2");
    TcpSegment s;
    s.src_port = 40000;
    s.dst_port = 5001;
    s.seq = 0xfffffff0;  // Wraps within the payload.
    s.ack = 7;
    s.flags = kTcpAck | kTcpPsh;
    s.payload.assign(1406, 0x33);
    const auto packet = BuildTcpPacket(src, dst, s);
    EXPECT_EQ(packet.size(), (v4 ? 20u : 40u) + 20 + 1406);
    auto parsed = ParseTcpPacket(packet);
    ASSERT_TRUE(parsed.ok()) << parsed.status();
    EXPECT_EQ(parsed->ip.dont_fragment, v4);
    EXPECT_EQ(parsed->segment.seq, 0xfffffff0u);
    EXPECT_EQ(parsed->segment.ack, 7u);
    EXPECT_EQ(parsed->segment.flags, kTcpAck | kTcpPsh);
    EXPECT_EQ(parsed->segment.payload, s.payload);
    EXPECT_FALSE(parsed->segment.mss.has_value());

    TcpSegment syn;
    syn.flags = kTcpSyn;
    syn.mss = 1460;
    auto parsed_syn = ParseTcpPacket(BuildTcpPacket(src, dst, syn));
    ASSERT_TRUE(parsed_syn.ok());
    EXPECT_EQ(parsed_syn->segment.mss, 1460);
  }
}

TEST(TcpSegmentTest, ACorruptedSegmentIsRejected) {
  TcpSegment s;
  s.payload.assign(100, 1);
  auto packet = BuildTcpPacket(Ip("10.0.0.1"), Ip("10.0.0.2"), s);
  packet.back() ^= 0x40;
  EXPECT_FALSE(ParseTcpPacket(packet).ok());
  EXPECT_FALSE(ParseTcpPacket(BuildUdpPacket(Ip("10.0.0.1"), Ip("10.0.0.2"), 1,
                                             2, s.payload))
                   .ok());
}

}  // namespace
}  // namespace kmesh::sim
