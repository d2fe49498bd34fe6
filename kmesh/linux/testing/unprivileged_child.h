// RunAsNobody: runs a piece of a root test as an unprivileged user, to check
// what the product says when a privilege is missing. The test process forks;
// the child drops to uid/gid 65534 (nobody), and with them every capability,
// runs `body` and sends back the string it returns. Files the child opens
// must be reachable by nobody (under /tmp, mode 0755 or so; $TEST_TMPDIR may
// lie below a directory only root can enter).
#ifndef KMESH_LINUX_TESTING_UNPRIVILEGED_CHILD_H_
#define KMESH_LINUX_TESTING_UNPRIVILEGED_CHILD_H_

#include <functional>
#include <string>

#include "absl/status/statusor.h"

namespace kmesh::linux_backend::testing {

// What `body` returned in the child; an error when the fork, the drop of
// privileges or the child itself failed.
absl::StatusOr<std::string> RunAsNobody(
    const std::function<std::string()>& body);

}  // namespace kmesh::linux_backend::testing

#endif  // KMESH_LINUX_TESTING_UNPRIVILEGED_CHILD_H_
