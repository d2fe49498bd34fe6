// Directories for a test's files (testonly): a new empty directory under the
// test's own $TEST_TMPDIR (Bazel gives each test one and empties it before
// the next run; /tmp outside Bazel), or under `base` when given: a test that
// drops privileges passes "/tmp", because $TEST_TMPDIR may lie below a
// directory only root can enter. The test removes what it made.
#ifndef KMESH_BASE_TESTING_TEST_DIRECTORY_H_
#define KMESH_BASE_TESTING_TEST_DIRECTORY_H_

#include <string>

#include "absl/status/statusor.h"

namespace kmesh::testing {

// $TEST_TMPDIR, or /tmp when it is not set.
std::string TestTempDir();

// A new empty directory "<base or TestTempDir()>/<prefix>-XXXXXX".
absl::StatusOr<std::string> MakeTestDirectory(const std::string& prefix,
                                              const std::string& base = "");

// The same for a fixture's SetUp: aborts the test binary, naming the cause,
// when the directory cannot be made (a broken machine, not a test outcome).
std::string NewTestDirectory(const std::string& prefix);

}  // namespace kmesh::testing

#endif  // KMESH_BASE_TESTING_TEST_DIRECTORY_H_
