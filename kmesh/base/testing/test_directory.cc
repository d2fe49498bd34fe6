#include "kmesh/base/testing/test_directory.h"

#include <stdlib.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <vector>

#include "absl/strings/str_cat.h"

namespace kmesh::testing {

std::string TestTempDir() {
  const char* tmp = std::getenv("TEST_TMPDIR");
  return tmp != nullptr && *tmp != '\0' ? tmp : "/tmp";
}

absl::StatusOr<std::string> MakeTestDirectory(const std::string& prefix,
                                              const std::string& base) {
  const std::string pattern =
      absl::StrCat(base.empty() ? TestTempDir() : base, "/", prefix, "-XXXXXX");
  std::vector<char> buffer(pattern.begin(), pattern.end());
  buffer.push_back('\0');
  if (mkdtemp(buffer.data()) == nullptr) {
    return absl::InternalError(
        absl::StrCat("mkdtemp ", pattern, ": ", std::strerror(errno)));
  }
  return std::string(buffer.data());
}

std::string NewTestDirectory(const std::string& prefix) {
  absl::StatusOr<std::string> dir = MakeTestDirectory(prefix);
  if (!dir.ok()) {
    std::cerr << dir.status() << std::endl;
    std::abort();
  }
  return *dir;
}

}  // namespace kmesh::testing
