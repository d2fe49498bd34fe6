#include "sim/kernel/testing/xfrm_differential.h"

#include <algorithm>
#include <iterator>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "kmesh/kernel/kernel_error.h"

namespace kmesh::sim::testing {
namespace {

// "OK", "EEXIST (File exists)", or a status that is not a kernel error as
// its code (a backend refusing before the kernel saw the request).
std::string OutcomeText(const absl::Status& status) {
  if (status.ok()) return "OK";
  if (std::optional<int> err = KernelErrno(status)) return ErrnoName(*err);
  return absl::StrCat("not a kernel error: ",
                      absl::StatusCodeToString(status.code()));
}

// Lines in one sorted list and not in the other, prefixed with the side.
std::string TableDifference(const std::vector<std::string>& reference,
                            const std::vector<std::string>& candidate) {
  std::vector<std::string> only_reference;
  std::vector<std::string> only_candidate;
  std::set_difference(reference.begin(), reference.end(), candidate.begin(),
                      candidate.end(), std::back_inserter(only_reference));
  std::set_difference(candidate.begin(), candidate.end(), reference.begin(),
                      reference.end(), std::back_inserter(only_candidate));
  std::string text;
  for (const std::string& l : only_reference) {
    absl::StrAppend(&text, "\n  only on Linux:     ", l);
  }
  for (const std::string& l : only_candidate) {
    absl::StrAppend(&text, "\n  only in simulator: ", l);
  }
  return text;
}

// Both outcomes of one operation; nullopt when they agree.
std::optional<std::string> Compare(const XfrmOutcome& reference,
                                   const XfrmOutcome& candidate) {
  const std::string r = OutcomeText(reference.status);
  const std::string c = OutcomeText(candidate.status);
  if (r != c) {
    return absl::StrCat("Linux answered ", r, ", the simulator ", c);
  }
  if (reference.dumped != candidate.dumped) {
    return absl::StrCat("the dumps differ:",
                        TableDifference(reference.dumped, candidate.dumped));
  }
  return std::nullopt;
}

}  // namespace

absl::StatusOr<std::optional<XfrmDifference>> RunDifferential(
    const KernelPairFactory& factory, const std::vector<XfrmOperation>& ops,
    XfrmOutcomeCounts* outcomes) {
  absl::StatusOr<KernelPair> pair = factory();
  if (!pair.ok()) return pair.status();
  for (size_t i = 0; i < ops.size(); ++i) {
    const XfrmOutcome r = Apply(*pair->reference, ops[i]);
    const XfrmOutcome c = Apply(*pair->candidate, ops[i]);
    if (outcomes != nullptr) {
      const std::string text = OutcomeText(r.status);
      ++(*outcomes)[text.substr(0, text.find(' '))];
    }
    if (std::optional<std::string> what = Compare(r, c)) {
      return XfrmDifference{i, *std::move(what)};
    }
  }
  for (XfrmOp dump : {XfrmOp::kDumpSas, XfrmOp::kDumpPolicies}) {
    XfrmOperation op;
    op.op = dump;
    const XfrmOutcome r = Apply(*pair->reference, op);
    const XfrmOutcome c = Apply(*pair->candidate, op);
    if (std::optional<std::string> what = Compare(r, c)) {
      return XfrmDifference{
          ops.size(),
          absl::StrCat("after the sequence, ", XfrmOpName(dump), ": ", *what)};
    }
  }
  return std::nullopt;
}

absl::StatusOr<std::vector<XfrmOperation>> Shrink(
    const KernelPairFactory& factory, std::vector<XfrmOperation> ops,
    int max_tries) {
  int tries = 0;
  // Ops after the first difference never matter: cut them first.
  {
    auto first = RunDifferential(factory, ops);
    if (!first.ok()) return first.status();
    if (!first->has_value()) return ops;  // Nothing to shrink.
    ops.resize(std::min(ops.size(), (*first)->index + 1));
  }
  for (size_t chunk = std::max<size_t>(ops.size() / 2, 1); chunk >= 1;) {
    bool removed = false;
    for (size_t start = 0; start < ops.size() && tries < max_tries;) {
      std::vector<XfrmOperation> without;
      without.reserve(ops.size());
      for (size_t i = 0; i < ops.size(); ++i) {
        if (i < start || i >= start + chunk) without.push_back(ops[i]);
      }
      ++tries;
      auto result = RunDifferential(factory, without);
      if (!result.ok()) return result.status();
      if (result->has_value()) {
        ops = std::move(without);
        removed = true;
      } else {
        start += chunk;
      }
    }
    if (tries >= max_tries) break;
    if (!removed) {
      if (chunk == 1) break;
      chunk /= 2;
    }
  }
  return ops;
}

FirstDifference FindFirstDifference(const KernelPairFactory& factory,
                                    RandomXfrmOperations& generator, int length,
                                    int max_sequences) {
  FirstDifference found;
  for (int i = 1; i <= max_sequences; ++i) {
    const std::vector<XfrmOperation> ops = generator.Sequence(length);
    auto result = RunDifferential(factory, ops);
    if (!result.ok() || !result->has_value()) continue;
    found.sequence = i;
    auto shrunk = Shrink(factory, ops);
    if (!shrunk.ok()) return found;
    found.shrunk_size = shrunk->size();
    auto again = RunDifferential(factory, *shrunk);
    if (again.ok() && again->has_value()) {
      found.report = DescribeFailure(*shrunk, **again);
    }
    return found;
  }
  return found;
}

std::string DescribeOutcomes(const XfrmOutcomeCounts& outcomes) {
  std::vector<std::pair<uint64_t, std::string>> sorted;
  for (const auto& [text, count] : outcomes) sorted.emplace_back(count, text);
  std::sort(sorted.rbegin(), sorted.rend());
  std::vector<std::string> parts;
  for (const auto& [count, text] : sorted) {
    parts.push_back(absl::StrCat(text, " ", count));
  }
  return absl::StrJoin(parts, ", ");
}

std::string DescribeFailure(const std::vector<XfrmOperation>& ops,
                            const XfrmDifference& difference) {
  std::vector<std::string> lines;
  for (size_t i = 0; i < ops.size(); ++i) {
    lines.push_back(absl::StrCat(i == difference.index ? "=> " : "   ", i, ": ",
                                 Describe(ops[i])));
  }
  return absl::StrCat(absl::StrJoin(lines, "\n"), "\n", difference.what);
}

}  // namespace kmesh::sim::testing
