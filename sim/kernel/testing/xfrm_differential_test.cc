// The differential runner and its generator, on two simulators: identical
// kernels never differ, and a kernel with a planted bug (an accepted
// duplicate SA, a priority not kept, a delete of nothing that succeeds) is
// found within a few sequences and shrunk to the operations that show it.
// The comparison with Linux is //e2e/vm:xfrm_differential_test (and, in the VM,
// :xfrm_differential_vm_test).
#include "sim/kernel/testing/xfrm_differential.h"

#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "gtest/gtest.h"
#include "kmesh/kernel/kernel_error.h"
#include "sim/kernel/testing/planted_xfrm_bugs.h"
#include "sim/kernel/testing/xfrm_operations.h"
#include "sim/kernel/testing/xfrm_probe_sequence.h"
#include "sim/kernel/xfrm/sim_xfrm.h"

namespace kmesh::sim::testing {
namespace {

template <typename Candidate>
KernelPairFactory PairWith() {
  return []() -> absl::StatusOr<KernelPair> {
    return KernelPair{std::make_unique<SimXfrm>(),
                      std::make_unique<Candidate>()};
  };
}

constexpr uint32_t kSeed = 20261207;
constexpr int kLength = 30;

TEST(XfrmDifferentialTest, TwoSimulatorsNeverDiffer) {
  RandomXfrmOperations ops(kSeed, {});
  const KernelPairFactory factory = PairWith<SimXfrm>();
  for (int i = 0; i < 300; ++i) {
    const std::vector<XfrmOperation> seq = ops.Sequence(kLength);
    auto result = RunDifferential(factory, seq);
    ASSERT_TRUE(result.ok()) << result.status();
    ASSERT_FALSE(result->has_value()) << DescribeFailure(seq, **result);
  }
}

TEST(XfrmDifferentialTest, TheSameSeedGivesTheSameSequences) {
  RandomXfrmOperations a(kSeed, {});
  RandomXfrmOperations b(kSeed, {});
  RandomXfrmOperations c(kSeed + 1, {});
  std::vector<std::string> da, db, dc;
  for (int i = 0; i < 5; ++i) {
    for (const XfrmOperation& op : a.Sequence(kLength)) {
      da.push_back(Describe(op));
    }
    for (const XfrmOperation& op : b.Sequence(kLength)) {
      db.push_back(Describe(op));
    }
    for (const XfrmOperation& op : c.Sequence(kLength)) {
      dc.push_back(Describe(op));
    }
  }
  EXPECT_EQ(da, db);
  EXPECT_NE(da, dc);
}

// The generator reaches every answer a kernel gives: success, duplicates,
// misses, and the refusals of invalid objects.
TEST(XfrmDifferentialTest, SequencesReachEveryOutcome) {
  RandomXfrmOperations ops(kSeed, {});
  std::map<std::string, int> seen;
  std::map<XfrmOp, int> ops_seen;
  for (int i = 0; i < 200; ++i) {
    SimXfrm kernel;
    for (const XfrmOperation& op : ops.Sequence(kLength)) {
      const absl::Status s = Apply(kernel, op).status;
      ++ops_seen[op.op];
      seen[s.ok() ? "OK" : ErrnoName(KernelErrno(s).value_or(0))]++;
    }
  }
  for (const char* outcome : {"OK", "EEXIST", "ENOENT", "EINVAL", "ENOSYS"}) {
    bool found = false;
    for (const auto& [text, count] : seen) {
      found = found || absl::StartsWith(text, outcome);
    }
    EXPECT_TRUE(found) << outcome << " never answered";
  }
  EXPECT_EQ(ops_seen.size(), kXfrmOpCount);
}

// The first difference against a planted bug, from the usual seed.
FirstDifference Find(const KernelPairFactory& factory,
                     RandomXfrmOperations::Options options) {
  RandomXfrmOperations ops(kSeed, options);
  return FindFirstDifference(factory, ops, kLength);
}

TEST(XfrmDifferentialTest, APlantedDuplicateSaIsFoundAndShrunk) {
  const FirstDifference d = Find(PairWith<AcceptsDuplicateSa>(), {});
  ASSERT_GT(d.sequence, 0) << "the planted bug was not found";
  EXPECT_LE(d.sequence, 5);
  // Two adds of the same identity are all it takes.
  EXPECT_EQ(d.shrunk_size, 2u) << d.report;
  EXPECT_TRUE(absl::StrContains(d.report, "Linux answered EEXIST")) << d.report;
}

TEST(XfrmDifferentialTest, APlantedLostPriorityIsFoundAndShrunk) {
  const FirstDifference d =
      Find(PairWith<ForgetsPolicyPriority>(), {.sas = false, .policies = true});
  ASSERT_GT(d.sequence, 0) << "the planted bug was not found";
  EXPECT_LE(d.sequence, 5);
  EXPECT_EQ(d.shrunk_size, 1u) << d.report;
  EXPECT_TRUE(absl::StrContains(d.report, "only in simulator")) << d.report;
}

TEST(XfrmDifferentialTest, APlantedForgivingDeleteIsFoundAndShrunk) {
  const FirstDifference d =
      Find(PairWith<ForgivesMissingSa>(), {.sas = true, .policies = false});
  ASSERT_GT(d.sequence, 0) << "the planted bug was not found";
  EXPECT_LE(d.sequence, 5);
  EXPECT_EQ(d.shrunk_size, 1u) << d.report;
}

// The hand-picked cases, recorded from a Debian 6.1 kernel: the simulator
// gives Linux's answer to each (the VM test asks Linux again).
TEST(XfrmDifferentialTest, TheProbeSequencesGetLinuxsRecordedAnswers) {
  for (const auto& steps : {SaProbeSequence(), PolicyProbeSequence()}) {
    SimXfrm kernel;
    for (const ProbeStep& step : steps) {
      const absl::Status s = Apply(kernel, step.op).status;
      const std::string answer =
          s.ok() ? "OK" : ErrnoName(KernelErrno(s).value_or(0));
      EXPECT_TRUE(absl::StartsWith(answer, step.linux_answer))
          << Describe(step.op) << ": Linux said " << step.linux_answer
          << ", the simulator " << answer;
    }
  }
}

}  // namespace
}  // namespace kmesh::sim::testing
