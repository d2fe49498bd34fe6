// XfrmDifferential: runs one sequence of XFRM operations on two kernels (a
// reference, Linux through NetlinkXfrm, and a candidate, the simulator) and
// reports the first place they disagree: an operation answered with a
// different outcome (success against failure, or two different errnos), a
// dump with other objects, or, after the last operation, other SA or policy
// tables (compared in canonical form, order aside). Every sequence starts
// from empty tables: the caller's KernelPairFactory makes a fresh pair (for
// Linux, a new network namespace). Shrink reduces a failing sequence to a
// short one that still fails, removing chunks and then single operations
// while the difference remains (delta debugging, ddmin's simple form).
#ifndef SIM_KERNEL_TESTING_XFRM_DIFFERENTIAL_H_
#define SIM_KERNEL_TESTING_XFRM_DIFFERENTIAL_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "kmesh/kernel/xfrm.h"
#include "sim/kernel/testing/xfrm_operations.h"

namespace kmesh::sim::testing {

struct KernelPair {
  std::unique_ptr<XfrmKernel> reference;  // Linux.
  std::unique_ptr<XfrmKernel> candidate;  // The simulator.
};

// Makes two kernels with empty tables; an error (no root, no netns) ends the
// run.
using KernelPairFactory = std::function<absl::StatusOr<KernelPair>()>;

struct XfrmDifference {
  // The operation at which they first disagreed; the sequence's size when
  // only the final tables differ.
  size_t index = 0;
  std::string what;  // Both answers, or both tables' differing lines.
};

// How often Linux gave each answer ("OK", "EEXIST", ...), to show what a run
// covered.
using XfrmOutcomeCounts = std::map<std::string, uint64_t>;

// Runs `ops` on a fresh pair from `factory`, adding Linux's answers to
// `outcomes` when given. nullopt: no difference.
absl::StatusOr<std::optional<XfrmDifference>> RunDifferential(
    const KernelPairFactory& factory, const std::vector<XfrmOperation>& ops,
    XfrmOutcomeCounts* outcomes = nullptr);

// "OK 812, EEXIST 97, ..." (most frequent first).
std::string DescribeOutcomes(const XfrmOutcomeCounts& outcomes);

// A shorter sequence that still differs (each try on a fresh pair), and at
// most `max_tries` runs spent on it.
absl::StatusOr<std::vector<XfrmOperation>> Shrink(
    const KernelPairFactory& factory, std::vector<XfrmOperation> ops,
    int max_tries = 2000);

// The first difference in sequences of `length` from `generator`, at most
// `max_sequences` of them, shrunk: the proof that a planted bug is caught.
struct FirstDifference {
  int sequence = 0;        // 1-based; 0: none found.
  size_t shrunk_size = 0;  // Operations left after shrinking.
  std::string report;      // DescribeFailure of the shrunk sequence.
};
FirstDifference FindFirstDifference(const KernelPairFactory& factory,
                                    RandomXfrmOperations& generator, int length,
                                    int max_sequences = 200);

// The sequence and the difference as a report for a test failure: one
// numbered line per operation.
std::string DescribeFailure(const std::vector<XfrmOperation>& ops,
                            const XfrmDifference& difference);

}  // namespace kmesh::sim::testing

#endif  // SIM_KERNEL_TESTING_XFRM_DIFFERENTIAL_H_
