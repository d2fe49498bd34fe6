#include "kmesh/ipsec/esp_overhead.h"

#include <vector>

#include "gtest/gtest.h"
#include "kmesh/base/testing/ip_literals.h"
#include "kmesh/kernel/xfrm.h"
#include "sim/kernel/esp_transform.h"
#include "sim/net/ip_packet.h"

namespace kmesh::ipsec {
namespace {

using ::kmesh::testing::Ip;

// The simulator's ESP transform, which builds the real bytes, for an SA
// between two nodes of `family`.
sim::EspTransform Transform(IpFamily family) {
  XfrmSa sa;
  sa.src = Ip(family == IpFamily::kV4 ? "172.18.0.2" : "fd00:172:18::2");
  sa.dst = Ip(family == IpFamily::kV4 ? "172.18.0.3" : "fd00:172:18::3");
  sa.spi = 1;
  std::vector<uint8_t> key(36, 0x42);
  sa.aead_key = XfrmKey(key.data(), key.size());
  auto t = sim::EspTransform::Create(sa);
  EXPECT_TRUE(t.ok()) << t.status();
  return *std::move(t);
}

// An inner IPv4 packet of exactly `length` bytes.
std::vector<uint8_t> Inner(size_t length) {
  std::vector<uint8_t> payload(length - 20, 0x5a);
  return sim::BuildIpPacket(Ip("10.244.1.2"), Ip("10.244.2.2"), 17, payload);
}

TEST(EspOverheadTest, PacketLengthIsTheLengthOfTheBytesEspBuilds) {
  for (IpFamily outer : {IpFamily::kV4, IpFamily::kV6}) {
    const sim::EspTransform t = Transform(outer);
    for (size_t inner = 20; inner <= 1600; ++inner) {
      auto packet = t.Encapsulate(1, Inner(inner));
      ASSERT_TRUE(packet.ok()) << packet.status();
      EXPECT_EQ(EspTunnelPacketLength(outer, inner), packet->size())
          << "inner " << inner << " outer IPv" << static_cast<int>(outer);
    }
  }
}

TEST(EspOverheadTest, LargestInnerPacketFitsAndOneMoreByteDoesNot) {
  for (IpFamily outer : {IpFamily::kV4, IpFamily::kV6}) {
    const sim::EspTransform t = Transform(outer);
    for (size_t mtu : {1280, 1400, 1500, 1501, 1502, 1503, 9000}) {
      const size_t largest = LargestEspInnerPacket(outer, mtu);
      auto fits = t.Encapsulate(1, Inner(largest));
      auto too_big = t.Encapsulate(1, Inner(largest + 1));
      ASSERT_TRUE(fits.ok() && too_big.ok());
      EXPECT_LE(fits->size(), mtu) << "mtu " << mtu;
      EXPECT_GT(too_big->size(), mtu) << "mtu " << mtu;
    }
  }
  EXPECT_EQ(LargestEspInnerPacket(IpFamily::kV4, 40), 0u);
}

// The simulated kernel's tunnel MTU (what it answers Fragmentation Needed
// with) is the product's.
TEST(EspOverheadTest, TheSimulatedKernelsTunnelMtuIsTheSame) {
  for (IpFamily outer : {IpFamily::kV4, IpFamily::kV6}) {
    for (size_t mtu = 60; mtu <= 9000; ++mtu) {
      ASSERT_EQ(LargestEspInnerPacket(outer, mtu),
                sim::EspTransform::LargestInnerPacket(outer, mtu))
          << mtu;
    }
  }
}

// The values Linux reports for the same SAs (xfrm_state_mtu; ICMP
// frag-needed "mtu 1446" measured in the VM, docs/vm-e2e.md).
TEST(EspOverheadTest, PodRouteMtuOverA1500ByteNodeIsWhatLinuxReports) {
  EXPECT_EQ(PodRouteMtu(IpFamily::kV4), 1446u);
  EXPECT_EQ(PodRouteMtu(IpFamily::kV6), 1426u);
  EXPECT_EQ(PodRouteMtu(IpFamily::kV4, 9000), 8946u);
  EXPECT_EQ(TcpMssForMtu(IpFamily::kV4, PodRouteMtu(IpFamily::kV4)), 1406u);
  EXPECT_EQ(TcpMssForMtu(IpFamily::kV6, PodRouteMtu(IpFamily::kV6)), 1366u);
  EXPECT_EQ(TcpMssForMtu(IpFamily::kV4, 1500), 1460u);
}

}  // namespace
}  // namespace kmesh::ipsec
