#include "kmesh/linux/testing/unprivileged_child.h"

#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace kmesh::linux_backend::testing {

absl::StatusOr<std::string> RunAsNobody(
    const std::function<std::string()>& body) {
  constexpr uid_t kNobody = 65534;
  int fds[2];
  if (pipe(fds) != 0) {
    return absl::InternalError(absl::StrCat("pipe: ", std::strerror(errno)));
  }
  const pid_t child = fork();
  if (child < 0) {
    close(fds[0]);
    close(fds[1]);
    return absl::InternalError(absl::StrCat("fork: ", std::strerror(errno)));
  }
  if (child == 0) {
    close(fds[0]);
    if (setresgid(kNobody, kNobody, kNobody) != 0 ||
        setresuid(kNobody, kNobody, kNobody) != 0) {
      _exit(2);
    }
    const std::string report = body();
    const bool sent = write(fds[1], report.data(), report.size()) ==
                      static_cast<ssize_t>(report.size());
    _exit(sent ? 0 : 3);
  }
  close(fds[1]);
  std::string report;
  char buffer[1024];
  for (ssize_t n; (n = read(fds[0], buffer, sizeof(buffer))) > 0;) {
    report.append(buffer, n);
  }
  close(fds[0]);
  int status = 0;
  if (waitpid(child, &status, 0) != child) {
    return absl::InternalError(absl::StrCat("waitpid: ", std::strerror(errno)));
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    return absl::InternalError(
        absl::StrCat("the unprivileged child failed (wait status ", status,
                     WIFEXITED(status) && WEXITSTATUS(status) == 2
                         ? ": could not drop privileges"
                         : "",
                     ")"));
  }
  return report;
}

}  // namespace kmesh::linux_backend::testing
