// The inbound cases reach every verdict often enough to mean something when
// compared with Linux (//e2e/vm:xfrm_differential_test), and the verdict is
// read from what moved.
#include "sim/kernel/testing/inbound_lookup_cases.h"

#include <algorithm>
#include <cstdio>
#include <map>
#include <string>

#include "gtest/gtest.h"

namespace kmesh::sim::testing {
namespace {

TEST(InboundLookupCasesTest, PacketsReachEveryVerdict) {
  RandomInboundCases cases(20261207);
  std::map<std::string, int> verdicts;
  int packets = 0;
  for (int i = 0; i < 150; ++i) {
    const InboundCase c = cases.Next();
    SimInboundHost host = MakeSimInboundHost(c);
    for (const InboundPacket& p : c.packets) {
      const std::string v = SimInboundVerdict(host, p);
      // What became of the packet.
      const bool delivered = v.find("delivered") != std::string::npos;
      ++verdicts[delivered ? "delivered" : v.substr(v.rfind(' ') + 1)];
      if (v.rfind("sa ", 0) == 0) ++verdicts["decrypted"];
      if (v.rfind("sa ", 0) == 0 && !p.fragments.empty()) {
        ++verdicts["decrypted from fragments"];
      }
      ++packets;
    }
  }
  for (const auto& [v, n] : verdicts) std::printf("%s %d\n", v.c_str(), n);
  // Reassembled ESP, decrypted: at least 1% of the packets.
  EXPECT_GE(verdicts["decrypted from fragments"] * 100, packets);
  // At least 2% of the packets for each.
  for (const char* v :
       {"delivered", "decrypted", "InNoStates", "InStateProtoError",
        "InStateSeqError", "InNoPols", "InTmplMismatch", "InPolBlock"}) {
    EXPECT_GE(verdicts[v] * 50, packets)
        << v << ": " << verdicts[v] << " of " << packets;
  }
}

TEST(InboundLookupCasesTest, PacketsForPodsAreForwardedOrRefusedByFwdPolicies) {
  RandomInboundCases cases(20261208, InboundTarget::kPods);
  std::map<std::string, int> verdicts;
  int packets = 0;
  for (int i = 0; i < 150; ++i) {
    const InboundCase c = cases.Next();
    ASSERT_EQ(c.pods.size(), 2u);
    for (const XfrmPolicy& p : c.policies) EXPECT_EQ(p.dir, XfrmDir::kFwd);
    SimInboundHost host = MakeSimInboundHost(c);
    for (const InboundPacket& p : c.packets) {
      EXPECT_TRUE(std::find(c.pods.begin(), c.pods.end(), p.inner_dst) !=
                  c.pods.end());
      const std::string v = SimInboundVerdict(host, p);
      const bool delivered = v.find("delivered") != std::string::npos;
      ++verdicts[delivered ? "delivered" : v.substr(v.rfind(' ') + 1)];
      // Forwarded: one hop less than the 64 it was sent with.
      if (delivered) {
        EXPECT_NE(v.find("ttl 63"), std::string::npos) << v;
      }
      ++packets;
    }
  }
  for (const auto& [v, n] : verdicts) std::printf("%s %d\n", v.c_str(), n);
  for (const char* v : {"delivered", "InNoPols", "InTmplMismatch", "InPolBlock",
                        "InStateMismatch"}) {
    EXPECT_GE(verdicts[v] * 50, packets)
        << v << ": " << verdicts[v] << " of " << packets;
  }
}

TEST(InboundLookupCasesTest, TheSameSeedGivesTheSameCases) {
  RandomInboundCases a(7), b(7);
  for (int i = 0; i < 20; ++i) {
    const InboundCase x = a.Next();
    const InboundCase y = b.Next();
    ASSERT_EQ(x.packets.size(), y.packets.size());
    for (size_t j = 0; j < x.packets.size(); ++j) {
      EXPECT_EQ(x.packets[j].description, y.packets[j].description);
      EXPECT_EQ(x.packets[j].wire, y.packets[j].wire);
    }
  }
}

TEST(InboundVerdictTest, NamesTheSaThatMovedAndTheCountersThatRose) {
  XfrmSa sa;
  sa.src = *IpAddress::Parse("10.0.0.1");
  sa.dst = *IpAddress::Parse("10.0.0.2");
  sa.spi = 2;
  XfrmSa moved = sa;
  moved.counters.packets = 1;
  const XfrmStats before = {{"XfrmInNoPols", 4}, {"XfrmOutNoStates", 1}};
  const XfrmStats after = {{"XfrmInNoPols", 5}, {"XfrmOutNoStates", 2}};
  EXPECT_EQ(InboundVerdict({sa}, before, {moved}, after, std::nullopt),
            "sa 10.0.0.1 -> 10.0.0.2 spi 0x2 reqid 0 mark 0x0/0x0, InNoPols");
  EXPECT_EQ(InboundVerdict({sa}, before, {sa}, before, Delivery{0xba, 64}),
            "delivered tos 0xba ttl 64");
  EXPECT_EQ(InboundVerdict({sa}, before, {sa}, before, std::nullopt),
            "nothing");
}

}  // namespace
}  // namespace kmesh::sim::testing
