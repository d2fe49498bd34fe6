// The xfrm_stat reader on files the test writes (good, malformed, missing)
// and, where the kernel has XFRM statistics, on the real /proc file.
#include "kmesh/linux/xfrm_stat_file.h"

#include <unistd.h>

#include <fstream>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "kmesh/base/testing/test_directory.h"
#include "kmesh/kernel/kernel_error.h"

namespace kmesh::linux_backend {
namespace {

// The first lines of a 6.18 kernel's file, as xfrm_proc.c prints them
// ("%-24s\t%lu\n").
constexpr char kGood[] =
    "XfrmInError             \t0\n"
    "XfrmInBufferError       \t0\n"
    "XfrmInHdrError          \t0\n"
    "XfrmInNoStates          \t17\n"
    "XfrmOutStateInvalid     \t18446744073709551615\n"
    "XfrmOutNoQueueSpace     \t2\n";

TEST(ParseXfrmStatTest, ListsCountersInTheFilesOrderWithTheirNames) {
  auto stats = ParseXfrmStat(kGood, "/proc/net/xfrm_stat");
  ASSERT_TRUE(stats.ok()) << stats.status();
  const XfrmStats want = {
      {"XfrmInError", 0},
      {"XfrmInBufferError", 0},
      {"XfrmInHdrError", 0},
      {"XfrmInNoStates", 17},
      {"XfrmOutStateInvalid", 18446744073709551615ull},
      {"XfrmOutNoQueueSpace", 2},
  };
  EXPECT_EQ(*stats, want);
}

TEST(ParseXfrmStatTest, MalformedLinesAreErrorsNamingTheLine) {
  for (const char* bad :
       {"XfrmInNoStates\n", "XfrmInNoStates\tmany\n", "XfrmInNoStates\t-1\n",
        "XfrmInNoStates\t1 2\n", "XfrmInNoStates\t99999999999999999999\n"}) {
    const std::string text = absl::StrCat("XfrmInError\t0\n", bad);
    auto stats = ParseXfrmStat(text, "/some/xfrm_stat");
    ASSERT_FALSE(stats.ok()) << bad;
    EXPECT_TRUE(absl::IsInvalidArgument(stats.status())) << stats.status();
    const std::string msg(stats.status().message());
    EXPECT_TRUE(absl::StrContains(msg, "/some/xfrm_stat line 2")) << msg;
    EXPECT_TRUE(absl::StrContains(msg, "XfrmInNoStates")) << msg;
  }
}

TEST(ParseXfrmStatTest, AFileWithoutCountersIsAnError) {
  auto stats = ParseXfrmStat("\n", "/some/xfrm_stat");
  EXPECT_TRUE(absl::IsInvalidArgument(stats.status())) << stats.status();
}

TEST(ReadXfrmStatFileTest, ReadsAFile) {
  const std::string path =
      ::kmesh::testing::NewTestDirectory("xfrm-stat") + "/xfrm_stat";
  std::ofstream(path) << kGood;
  auto stats = ReadXfrmStatFile(path);
  ASSERT_TRUE(stats.ok()) << stats.status();
  ASSERT_EQ(stats->size(), 6u);
  EXPECT_EQ((*stats)[3],
            (std::pair<std::string, uint64_t>{"XfrmInNoStates", 17}));
}

TEST(ReadXfrmStatFileTest, AMissingFileIsNotFoundNamingTheFileAndTheOption) {
  const std::string path =
      ::kmesh::testing::NewTestDirectory("xfrm-stat") + "/xfrm_stat";
  auto stats = ReadXfrmStatFile(path);
  ASSERT_FALSE(stats.ok());
  EXPECT_TRUE(absl::IsNotFound(stats.status())) << stats.status();
  EXPECT_EQ(KernelErrno(stats.status()), ENOENT);
  const std::string msg(stats.status().message());
  EXPECT_TRUE(absl::StrContains(msg, path)) << msg;
  EXPECT_TRUE(absl::StrContains(msg, "CONFIG_XFRM_STATISTICS")) << msg;
}

TEST(ReadXfrmStatFileTest, TheKernelsFileListsItsCounters) {
  if (access(kXfrmStatPath, R_OK) != 0) {
    GTEST_SKIP() << kXfrmStatPath
                 << " is missing: kernel without CONFIG_XFRM_STATISTICS";
  }
  auto stats = ReadXfrmStatFile(kXfrmStatPath);
  ASSERT_TRUE(stats.ok()) << stats.status();
  // 28 counters before Linux 6.10, a few more after.
  EXPECT_GE(stats->size(), 28u);
  EXPECT_EQ(stats->front().first, "XfrmInError");
  for (const auto& [name, value] : *stats) {
    EXPECT_TRUE(absl::StartsWith(name, "Xfrm")) << name;
  }
}

}  // namespace
}  // namespace kmesh::linux_backend
