#include "kmesh/linux/xfrm_stat_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "kmesh/kernel/kernel_error.h"

namespace kmesh::linux_backend {

absl::StatusOr<XfrmStats> ParseXfrmStat(absl::string_view text,
                                        absl::string_view path) {
  XfrmStats stats;
  int line_number = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    ++line_number;
    if (absl::StripAsciiWhitespace(line).empty()) continue;
    const std::vector<absl::string_view> fields =
        absl::StrSplit(line, absl::ByAnyChar(" \t"), absl::SkipEmpty());
    uint64_t value = 0;
    if (fields.size() != 2 || !absl::SimpleAtoi(fields[1], &value) ||
        fields[1].front() == '-' || fields[1].front() == '+') {
      return absl::InvalidArgumentError(
          absl::StrCat(path, " line ", line_number, " is not \"<counter> ",
                       "<value>\": \"", absl::CHexEscape(line), "\""));
    }
    stats.emplace_back(std::string(fields[0]), value);
  }
  if (stats.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(path, " lists no counters"));
  }
  return stats;
}

absl::StatusOr<XfrmStats> ReadXfrmStatFile(const std::string& path) {
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    const int err = errno;
    return KernelError(err, absl::StrCat("open ", path),
                       err == ENOENT
                           ? "the kernel has no XFRM statistics (built "
                             "without CONFIG_XFRM_STATISTICS?)"
                           : "");
  }
  std::string text;
  char buf[4096];
  while (true) {
    const ssize_t n = read(fd, buf, sizeof(buf));
    if (n < 0) {
      if (errno == EINTR) continue;
      const int err = errno;
      close(fd);
      return KernelError(err, absl::StrCat("read ", path));
    }
    if (n == 0) break;
    text.append(buf, static_cast<size_t>(n));
  }
  close(fd);
  return ParseXfrmStat(text, path);
}

}  // namespace kmesh::linux_backend
