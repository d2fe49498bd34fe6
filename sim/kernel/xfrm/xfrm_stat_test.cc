#include "sim/kernel/xfrm/xfrm_stat.h"

#include <algorithm>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace kmesh {
namespace sim {
namespace {

TEST(XfrmStatTest, FormatMatchesProcLayoutAndOrder) {
  XfrmStatCounters counters;
  counters.Increment(XfrmStat::kInNoStates, 3);
  counters.Increment(XfrmStat::kOutPolBlock);
  const std::string text = counters.Format();
  // Name padded to 24 columns, a tab, the value; as /proc/net/xfrm_stat.
  EXPECT_EQ(text.substr(0, 4 * 27),
            "XfrmInError             \t0\n"
            "XfrmInBufferError       \t0\n"
            "XfrmInHdrError          \t0\n"
            "XfrmInNoStates          \t3\n");
  EXPECT_NE(text.find("XfrmOutPolBlock         \t1\n"), std::string::npos);
  EXPECT_NE(text.find("XfrmOutBundleCheckError \t0\n"), std::string::npos);
  size_t lines = 0;
  for (char c : text) lines += c == '\n';
  EXPECT_EQ(lines, kXfrmStatCount);
  // Order of the tail as Linux 6.1 ends it, then the newer counters.
  EXPECT_LT(text.find("XfrmFwdHdrError"), text.find("XfrmOutStateInvalid"));
  EXPECT_LT(text.find("XfrmOutStateInvalid"), text.find("XfrmAcquireError"));
  EXPECT_LT(text.find("XfrmAcquireError"), text.find("XfrmOutNoQueueSpace"));
}

// The running kernel's own file, where there is one: same names, same
// order, same "%-24s\t%lu" layout (values differ, so they are ignored).
TEST(XfrmStatTest, LayoutMatchesThisMachinesKernel) {
  std::ifstream proc("/proc/net/xfrm_stat");
  if (!proc) GTEST_SKIP() << "no /proc/net/xfrm_stat here";
  std::vector<std::string> kernel_lines;
  for (std::string line; std::getline(proc, line);) {
    kernel_lines.push_back(line);
  }
  XfrmStatCounters counters;
  std::istringstream ours(counters.Format());
  std::vector<std::string> our_lines;
  for (std::string line; std::getline(ours, line);) our_lines.push_back(line);
  // Older kernels have fewer counters (6.1: 28), newer ones may add more.
  const size_t n = std::min(kernel_lines.size(), our_lines.size());
  ASSERT_GE(n, 28u);
  for (size_t i = 0; i < n; ++i) {
    const std::string prefix = our_lines[i].substr(0, 25);  // Name + tab.
    EXPECT_EQ(kernel_lines[i].substr(0, 25), prefix) << "line " << i;
  }
}

TEST(XfrmStatTest, IncrementAddsToOneCounterOnly) {
  XfrmStatCounters counters;
  counters.Increment(XfrmStat::kInTmplMismatch);
  counters.Increment(XfrmStat::kInTmplMismatch, 4);
  EXPECT_EQ(counters.Get(XfrmStat::kInTmplMismatch), 5u);
  EXPECT_EQ(counters.Get(XfrmStat::kInNoPols), 0u);
}

TEST(XfrmStatTest, NamesAreTheProcNames) {
  EXPECT_STREQ(XfrmStatName(XfrmStat::kInStateSeqError), "XfrmInStateSeqError");
  EXPECT_STREQ(XfrmStatName(XfrmStat::kOutNoStates), "XfrmOutNoStates");
  EXPECT_STREQ(XfrmStatName(XfrmStat::kAcquireError), "XfrmAcquireError");
}

}  // namespace
}  // namespace sim
}  // namespace kmesh
