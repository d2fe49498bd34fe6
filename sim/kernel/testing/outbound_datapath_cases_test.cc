// The datapath cases reach every outcome (encrypted whole, encrypted and
// fragmented, refused as too big, the TTL running out) often enough to mean
// something when compared with Linux (//e2e/vm:xfrm_differential_test), and
// the verdict reads every field it claims to.
#include "sim/kernel/testing/outbound_datapath_cases.h"

#include <cstdio>
#include <map>
#include <string>

#include "absl/strings/match.h"
#include "gtest/gtest.h"

namespace kmesh::sim::testing {
namespace {

TEST(OutboundDatapathCasesTest, PacketsReachEveryOutcome) {
  RandomDatapathCases cases(20261208);
  std::map<std::string, int> outcomes;
  int packets = 0;
  for (int i = 0; i < 100; ++i) {
    const DatapathCase c = cases.Next();
    SimDatapathHost host = MakeSimDatapathHost(c);
    ASSERT_TRUE(host.added.ok()) << host.added;
    for (const DatapathPacket& p : c.packets) {
      const std::string v = DatapathVerdict(c, SimDatapathOutput(host, p));
      ++packets;
      if (absl::StrContains(v, "reassembled")) ++outcomes["fragmented"];
      if (absl::StrContains(v, "inner [")) {
        ++outcomes["encrypted"];
        if (c.node.family() != c.pod.family()) ++outcomes["across families"];
      }
      if (absl::StrContains(v, "icmp type 3 code 4") ||
          absl::StrContains(v, "icmp type 2 code 0")) {
        ++outcomes["too big"];
      }
      if (absl::StrContains(v, "icmp type 11") ||
          absl::StrContains(v, "icmp type 3 code 0")) {
        ++outcomes["ttl"];
      }
      if (absl::StrContains(v, "undecryptable") ||
          absl::StrContains(v, "malformed")) {
        ADD_FAILURE() << p.description << v;
      }
    }
  }
  for (const auto& [o, n] : outcomes) std::printf("%s %d\n", o.c_str(), n);
  for (const char* o :
       {"fragmented", "encrypted", "across families", "too big", "ttl"}) {
    EXPECT_GE(outcomes[o] * 50, packets)
        << o << ": " << outcomes[o] << " of " << packets;
  }
}

TEST(OutboundDatapathCasesTest, TheSameSeedGivesTheSameCases) {
  RandomDatapathCases a(7), b(7);
  for (int i = 0; i < 20; ++i) {
    const DatapathCase x = a.Next();
    const DatapathCase y = b.Next();
    ASSERT_EQ(x.packets.size(), y.packets.size());
    for (size_t j = 0; j < x.packets.size(); ++j) {
      EXPECT_EQ(x.packets[j].inner, y.packets[j].inner);
    }
  }
}

TEST(DatapathVerdictTest, DescribesEveryOuterFieldAndTheDecryptedPacket) {
  RandomDatapathCases cases(3);
  DatapathCase c = cases.Next();
  while (c.node.family() != IpFamily::kV4) c = cases.Next();
  SimDatapathHost host = MakeSimDatapathHost(c);
  ASSERT_TRUE(host.added.ok());
  DatapathPacket small = c.packets[0];
  small.inner.resize(28);
  small.inner[2] = 0;
  small.inner[3] = 28;
  small.inner[1] = 0;                   // TOS
  small.inner[4] = small.inner[5] = 0;  // ID
  small.inner[6] = 0x40;                // DF
  small.inner[8] = 64;
  small.inner[24] = 0;  // UDP length 8, no checksum.
  small.inner[25] = 8;
  small.inner[26] = small.inner[27] = 0;
  small.inner[10] = small.inner[11] = 0;
  uint32_t sum = 0;
  for (int i = 0; i < 20; i += 2)
    sum += (small.inner[i] << 8) | small.inner[i + 1];
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  small.inner[10] = static_cast<uint8_t>(~sum >> 8);
  small.inner[11] = static_cast<uint8_t>(~sum);
  const DatapathOutput out = SimDatapathOutput(host, small);
  ASSERT_EQ(out.wire.size(), 1u);
  const std::string v = DatapathVerdict(c, out);
  // The outer header: addresses, length (20 + 8 + 8 + 28 + 2 padding + 2
  // + 16), DF copied with ID 0, TTL 64, ESP.
  EXPECT_TRUE(absl::StrContains(v, absl::StrCat("wire: ip4 ", c.node.ToString(),
                                                " > ", c.peer.ToString())))
      << v;
  EXPECT_TRUE(absl::StrContains(v, "len 84 id 0 DF off 0 ttl 64 proto 50"))
      << v;
  // The inner packet, decrypted, forwarded: TTL 63.
  EXPECT_TRUE(absl::StrContains(v, "esp spi 0x")) << v;
  EXPECT_TRUE(absl::StrContains(v, "len 28 id 0 DF off 0 ttl 63 proto 17"))
      << v;
  EXPECT_TRUE(absl::StrContains(v, "28 bytes digest")) << v;

  // A flipped byte of ciphertext is seen.
  DatapathOutput corrupted = out;
  corrupted.wire[0][50] ^= 1;
  EXPECT_TRUE(
      absl::StrContains(DatapathVerdict(c, corrupted), "undecryptable"));
}

}  // namespace
}  // namespace kmesh::sim::testing
