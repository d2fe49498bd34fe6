// The simulated kernel's tc hooks run the eBPF markers' decision table
// (bpf/marker_decision_table.h) and must give the marks the table says, as
// the real programs under BPF_PROG_TEST_RUN do (//bpf:marker_bpf_test runs
// the same table). The simulator's devices carry bare IP packets.
#include <vector>

#include "bpf/marker_decision_table.h"
#include "gtest/gtest.h"
#include "sim/kernel/sim_kernel.h"
#include "sim/kernel/testing/bare_ip_marker_cases.h"

namespace kmesh::sim {
namespace {

TEST(SimKernelHooksTest, TcHooksFollowTheMarkerDecisionTable) {
  SimKernel kernel("node", 100);
  ASSERT_TRUE(::kmesh::testing::FillTableMaps(kernel.marker_maps()).ok());
  const std::vector<testing::BareIpMarkerCase> cases =
      testing::BareIpMarkerCases();
  ASSERT_GT(cases.size(), 25u);
  for (const auto& [c, packet] : cases) {
    SCOPED_TRACE(c.name);
    const uint32_t mark = c.marker == ::kmesh::testing::Marker::kEncrypt
                              ? kernel.RunEncryptHook(packet, c.mark_in)
                              : kernel.RunDecryptHook(packet, c.mark_in);
    EXPECT_EQ(mark, c.want_mark) << std::hex << "mark 0x" << mark;
  }
}

}  // namespace
}  // namespace kmesh::sim
