// The simulator against the real kernel on inputs nobody chose: seeded random
// sequences of XFRM operations (sim/kernel/testing/xfrm_operations.h), each
// sent to Linux through the product's NetlinkXfrm, in a network namespace
// of its own, and to a fresh SimXfrm; every answer (success or errno) and
// every dump must be the same, and so must the tables at the end. A
// difference fails the test with the sequence shrunk to the operations that
// show it and the seed that reproduces it.
//
// Policies need only root; SAs need a kernel with ESP (the e2e VM), so on a
// host without ESP the SA case skips saying so. Budget (environment):
// KMESH_XFRM_DIFF_SEED (default 20261207), KMESH_XFRM_DIFF_SEQUENCES
// (default 1500 per case), KMESH_XFRM_DIFF_SECONDS (default 120 per case,
// whichever ends first). Each case prints one line "xfrm differential
// (<case>): N sequences, M operations, K differences".
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "e2e/vm/kernel_test_env.h"
#include "gtest/gtest.h"
#include "kmesh/kernel/kernel_error.h"
#include "kmesh/kernel/testing/xfrm_objects.h"
#include "kmesh/kernel/xfrm.h"
#include "kmesh/linux/netlink_xfrm.h"
#include "kmesh/linux/testing/private_namespaces.h"
#include "sim/kernel/testing/planted_xfrm_bugs.h"
#include "sim/kernel/testing/xfrm_differential.h"
#include "sim/kernel/testing/xfrm_operations.h"
#include "sim/kernel/testing/xfrm_probe_sequence.h"
#include "sim/kernel/xfrm/sim_xfrm.h"

namespace kmesh {
namespace {

using ::kmesh::sim::testing::DescribeFailure;
using ::kmesh::sim::testing::KernelPair;
using ::kmesh::sim::testing::KernelPairFactory;
using ::kmesh::sim::testing::RandomXfrmOperations;
using ::kmesh::sim::testing::RunDifferential;
using ::kmesh::sim::testing::Shrink;
using ::kmesh::sim::testing::XfrmOperation;

uint64_t EnvOr(const char* name, uint64_t fallback) {
  const char* text = std::getenv(name);
  uint64_t value = 0;
  if (text == nullptr || !absl::SimpleAtoi(text, &value)) return fallback;
  return value;
}

// Linux in a new network namespace of the calling thread (the previous
// sequence's namespace goes with its socket), and an empty simulator.
absl::StatusOr<KernelPair> FreshPair() {
  if (absl::Status s = linux_backend::testing::EnterNewNetworkNamespace();
      !s.ok()) {
    return s;
  }
  auto opened = linux_backend::NetlinkXfrm::Open();
  if (!opened.ok()) return opened.status();
  return KernelPair{*std::move(opened), std::make_unique<sim::SimXfrm>()};
}

// Linux against a simulator with a bug planted.
template <typename Planted>
absl::StatusOr<KernelPair> FreshPairWithPlantedBug() {
  auto pair = FreshPair();
  if (pair.ok()) pair->candidate = std::make_unique<Planted>();
  return pair;
}

// Sequences until the first difference against a planted bug: how many it
// took (0: not found in 200) and the shrunk report.
template <typename Planted>
int FindPlantedBug(RandomXfrmOperations::Options options, size_t* shrunk_size,
                   std::string* report) {
  const KernelPairFactory factory = FreshPairWithPlantedBug<Planted>;
  RandomXfrmOperations generator(20261207, options);
  for (int i = 1; i <= 200; ++i) {
    const std::vector<XfrmOperation> ops = generator.Sequence(20);
    auto result = RunDifferential(factory, ops);
    if (!result.ok() || !result->has_value()) continue;
    auto shrunk = Shrink(factory, ops);
    if (!shrunk.ok()) return i;
    *shrunk_size = shrunk->size();
    auto again = RunDifferential(factory, *shrunk);
    if (again.ok() && again->has_value()) {
      *report = DescribeFailure(*shrunk, **again);
    }
    return i;
  }
  return 0;
}

// Whether this kernel takes an ESP SA (the host's may lack the AEAD).
absl::Status EspAvailable() {
  auto pair = FreshPair();
  if (!pair.ok()) return pair.status();
  const XfrmSa sa = ::kmesh::testing::Sa("10.0.0.1", "10.0.0.2", 1);
  return pair->reference->AddSa(sa);
}

void RunCase(const std::string& name, RandomXfrmOperations::Options options) {
  const uint64_t seed = EnvOr("KMESH_XFRM_DIFF_SEED", 20261207);
  const uint64_t max_sequences = EnvOr("KMESH_XFRM_DIFF_SEQUENCES", 1500);
  const auto budget = std::chrono::seconds(EnvOr("KMESH_XFRM_DIFF_SECONDS", 120));
  const auto start = std::chrono::steady_clock::now();
  RandomXfrmOperations generator(static_cast<uint32_t>(seed), options);
  const KernelPairFactory factory = FreshPair;
  uint64_t sequences = 0;
  uint64_t operations = 0;
  int differences = 0;
  sim::testing::XfrmOutcomeCounts outcomes;
  while (sequences < max_sequences &&
         std::chrono::steady_clock::now() - start < budget) {
    // Lengths from 1 to 40, short ones as often as long ones.
    const int length = 1 + static_cast<int>((sequences * 7919) % 40);
    const std::vector<XfrmOperation> ops = generator.Sequence(length);
    ++sequences;
    operations += ops.size();
    auto result = RunDifferential(factory, ops, &outcomes);
    ASSERT_TRUE(result.ok()) << result.status();
    if (!result->has_value()) continue;
    ++differences;
    auto shrunk = Shrink(factory, ops);
    ASSERT_TRUE(shrunk.ok()) << shrunk.status();
    auto again = RunDifferential(factory, *shrunk);
    ASSERT_TRUE(again.ok()) << again.status();
    ADD_FAILURE() << "Linux and the simulator differ (seed " << seed
                  << ", sequence " << sequences << ", " << ops.size()
                  << " operations, shrunk to " << shrunk->size() << "):\n"
                  << (again->has_value() ? DescribeFailure(*shrunk, **again)
                                         : DescribeFailure(ops, **result));
    if (differences >= 5) break;
  }
  const double seconds = std::chrono::duration<double>(
                             std::chrono::steady_clock::now() - start)
                             .count();
  std::printf(
      "xfrm differential (%s): %llu sequences, %llu operations, %d "
      "differences, seed %llu, %.1f s (Linux answered: %s)\n",
      name.c_str(), static_cast<unsigned long long>(sequences),
      static_cast<unsigned long long>(operations), differences,
      static_cast<unsigned long long>(seed), seconds,
      sim::testing::DescribeOutcomes(outcomes).c_str());
  std::fflush(stdout);
  EXPECT_GT(sequences, 0u);
}

// The hand-picked cases (xfrm_probe_sequence.h): this kernel gives the
// recorded answers, and the simulator the same as this kernel.
void RunProbe(const std::vector<sim::testing::ProbeStep>& steps) {
  std::vector<XfrmOperation> ops;
  auto pair = FreshPair();
  ASSERT_TRUE(pair.ok()) << pair.status();
  for (const sim::testing::ProbeStep& step : steps) {
    ops.push_back(step.op);
    const absl::Status s = sim::testing::Apply(*pair->reference, step.op).status;
    const std::string answer =
        s.ok() ? "OK" : ErrnoName(KernelErrno(s).value_or(0));
    EXPECT_EQ(answer.substr(0, answer.find(' ')), step.linux_answer)
        << sim::testing::Describe(step.op);
  }
  auto result = RunDifferential(FreshPair, ops);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_FALSE(result->has_value()) << DescribeFailure(ops, **result);
}

TEST(XfrmDifferentialOnLinuxTest, PolicyProbesMatchLinux) {
  if (absl::Status s = FreshPair().status(); !s.ok()) GTEST_SKIP() << s;
  RunProbe(sim::testing::PolicyProbeSequence());
}

TEST(XfrmDifferentialOnLinuxTest, SaProbesMatchLinux) {
  if (absl::Status s = FreshPair().status(); !s.ok()) GTEST_SKIP() << s;
  if (absl::Status s = EspAvailable(); !s.ok()) {
    if (e2e::EspRequired()) FAIL() << "ESP SA refused: " << s;
    GTEST_SKIP() << "this kernel has no ESP (" << s << ")";
  }
  RunProbe(sim::testing::SaProbeSequence());
}

TEST(XfrmDifferentialOnLinuxTest, PolicySequencesMatchLinux) {
  if (absl::Status s = FreshPair().status(); !s.ok()) GTEST_SKIP() << s;
  RunCase("policies", {.sas = false, .policies = true});
}

// The proof that the comparison with Linux catches a simulator bug: with the
// priority of policies planted away, the first sequence that adds a policy
// of non-zero priority differs, and shrinks to that one add.
TEST(XfrmDifferentialOnLinuxTest, APlantedSimulatorBugIsCaught) {
  if (absl::Status s = FreshPair().status(); !s.ok()) GTEST_SKIP() << s;
  size_t shrunk = 0;
  std::string report;
  const int found = FindPlantedBug<sim::testing::ForgetsPolicyPriority>(
      {.sas = false, .policies = true}, &shrunk, &report);
  std::printf("planted bug (policy priority dropped): found in sequence %d, "
              "shrunk to %zu operation(s)\n%s\n",
              found, shrunk, report.c_str());
  ASSERT_GT(found, 0) << "not found in 200 sequences";
  EXPECT_LE(found, 3);
  EXPECT_EQ(shrunk, 1u) << report;
}

// The same with an SA bug: a duplicate SA accepted.
TEST(XfrmDifferentialOnLinuxTest, APlantedDuplicateSaIsCaught) {
  if (absl::Status s = FreshPair().status(); !s.ok()) GTEST_SKIP() << s;
  if (absl::Status s = EspAvailable(); !s.ok()) {
    if (e2e::EspRequired()) FAIL() << "ESP SA refused: " << s;
    GTEST_SKIP() << "this kernel has no ESP (" << s << ")";
  }
  size_t shrunk = 0;
  std::string report;
  const int found =
      FindPlantedBug<sim::testing::AcceptsDuplicateSa>({}, &shrunk, &report);
  std::printf("planted bug (duplicate SA accepted): found in sequence %d, "
              "shrunk to %zu operation(s)\n%s\n",
              found, shrunk, report.c_str());
  ASSERT_GT(found, 0) << "not found in 200 sequences";
  EXPECT_LE(found, 10);
  EXPECT_EQ(shrunk, 2u) << report;
}

TEST(XfrmDifferentialOnLinuxTest, SaAndPolicySequencesMatchLinux) {
  if (absl::Status s = FreshPair().status(); !s.ok()) GTEST_SKIP() << s;
  if (absl::Status s = EspAvailable(); !s.ok()) {
    if (e2e::EspRequired()) FAIL() << "ESP SA refused: " << s;
    GTEST_SKIP() << "this kernel has no ESP (" << s
                 << "); e2e/vm runs this test under a Debian kernel";
  }
  RunCase("SAs and policies", {});
}

}  // namespace
}  // namespace kmesh
