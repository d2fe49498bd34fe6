#include "kmesh/crypto/testing/core_dump_exclusion.h"

#include <algorithm>
#include <cstdint>
#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace kmesh::crypto::testing {

std::string VmFlagsOf(const void* address) {
  const auto target = reinterpret_cast<uintptr_t>(address);
  std::ifstream smaps("/proc/self/smaps");
  std::string line;
  bool inside = false;
  while (std::getline(smaps, line)) {
    // A mapping's first line: "start-end perms offset dev inode path".
    std::vector<std::string> range =
        absl::StrSplit(line.substr(0, line.find(' ')), '-');
    uint64_t start = 0, end = 0;
    if (range.size() == 2 && absl::SimpleHexAtoi(range[0], &start) &&
        absl::SimpleHexAtoi(range[1], &end)) {
      inside = start <= target && target < end;
      continue;
    }
    absl::string_view rest = line;
    if (inside && absl::ConsumePrefix(&rest, "VmFlags:")) {
      return std::string(rest);
    }
  }
  return "";
}

bool ExcludedFromCoreDumps(const void* address) {
  const std::vector<std::string> flags =
      absl::StrSplit(VmFlagsOf(address), ' ', absl::SkipEmpty());
  return std::find(flags.begin(), flags.end(), "dd") != flags.end();
}

}  // namespace kmesh::crypto::testing
