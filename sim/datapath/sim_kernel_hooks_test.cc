// The simulated kernel's tc hooks run the eBPF markers' decision table
// (bpf/marker_decision_table.h) and must give the marks the table says, as
// the real programs under BPF_PROG_TEST_RUN do (//bpf:marker_bpf_test runs
// the same table). The simulator's devices carry bare IP packets, so each
// frame's Ethernet header is stripped where the ethertype and the IP version
// agree.
#include "bpf/marker_decision_table.h"
#include "gtest/gtest.h"
#include "sim/datapath/sim_kernel.h"

namespace kmesh::sim {
namespace {

TEST(SimKernelHooksTest, TcHooksFollowTheMarkerDecisionTable) {
  SimKernel kernel("node", 100);
  ASSERT_TRUE(testing::FillTableMaps(kernel.marker_maps()).ok());
  int ran = 0;
  for (const testing::MarkerCase& c : testing::MarkerDecisionTable()) {
    if (c.frame.size() <= 14) continue;
    const int ethertype = c.frame[12] << 8 | c.frame[13];
    const int version = c.frame[14] >> 4;
    if (!(ethertype == 0x0800 && version == 4) &&
        !(ethertype == 0x86dd && version == 6)) {
      continue;
    }
    SCOPED_TRACE(c.name);
    const auto packet = absl::MakeConstSpan(c.frame).subspan(14);
    const uint32_t mark = c.marker == testing::Marker::kEncrypt
                              ? kernel.RunEncryptHook(packet, c.mark_in)
                              : kernel.RunDecryptHook(packet, c.mark_in);
    EXPECT_EQ(mark, c.want_mark) << std::hex << "mark 0x" << mark;
    ++ran;
  }
  EXPECT_GT(ran, 25);
}

}  // namespace
}  // namespace kmesh::sim
