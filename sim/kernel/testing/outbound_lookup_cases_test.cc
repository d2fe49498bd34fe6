// The outbound lookup cases reach every verdict often enough to mean
// something when compared with Linux (//e2e/vm:xfrm_differential_test):
// packets sent in clear, blocked, dropped for want of an SA, and encrypted.
#include "sim/kernel/testing/outbound_lookup_cases.h"

#include <map>
#include <string>

#include "gtest/gtest.h"
#include "sim/kernel/xfrm/sim_xfrm.h"

namespace kmesh::sim::testing {
namespace {

TEST(OutboundLookupCasesTest, PacketsReachEveryVerdict) {
  RandomOutboundCases cases(20261207);
  std::map<std::string, int> verdicts;
  int packets = 0;
  for (int i = 0; i < 130; ++i) {
    const OutboundCase c = cases.Next();
    SimXfrm xfrm;
    for (const XfrmPolicy& p : c.policies) (void)xfrm.AddPolicy(p);
    for (const XfrmSa& sa : c.sas) (void)xfrm.AddSa(sa);
    for (const OutboundPacket& p : c.packets) {
      const std::string v = SimOutboundVerdict(xfrm, p);
      ++verdicts[v.substr(0, v.find(' '))];
      ++packets;
    }
  }
  // At least 5% of the packets for each verdict.
  for (const char* v : {"clear", "block", "nostates", "sa"}) {
    EXPECT_GE(verdicts[v] * 20, packets)
        << v << ": " << verdicts[v] << " of " << packets;
  }
}

TEST(OutboundLookupCasesTest, TheSameSeedGivesTheSameCases) {
  RandomOutboundCases a(7), b(7);
  for (int i = 0; i < 20; ++i) {
    const OutboundCase x = a.Next();
    const OutboundCase y = b.Next();
    ASSERT_EQ(x.packets.size(), y.packets.size());
    for (size_t j = 0; j < x.packets.size(); ++j) {
      EXPECT_EQ(x.packets[j].ToString(), y.packets[j].ToString());
    }
  }
}

}  // namespace
}  // namespace kmesh::sim::testing
