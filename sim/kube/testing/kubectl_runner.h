// KubectlRunner: runs the real kubectl as a subprocess against one
// kubeconfig, for tests that check the simulated API server with the client
// people use. kubectl is /usr/bin/kubectl or $KUBECTL; its HOME (where it
// caches discovery) is a directory of the runner's own, and its output is
// captured through files in that directory. Tests skip when Available() is
// false.
#ifndef SIM_KUBE_TESTING_KUBECTL_RUNNER_H_
#define SIM_KUBE_TESTING_KUBECTL_RUNNER_H_

#include <string>
#include <vector>

namespace kmesh::sim::kube {

struct KubectlResult {
  int exit_code = -1;  // -1 when kubectl did not exit normally.
  std::string out;
  std::string err;
};

class KubectlRunner {
 public:
  // `work_dir` must exist; the runner creates `work_dir`/home in it.
  KubectlRunner(std::string kubeconfig, std::string work_dir);

  // $KUBECTL, else /usr/bin/kubectl.
  static std::string Path();
  // Whether Path() is an executable.
  static bool Available();
  // Why a test skips when !Available().
  static std::string UnavailableReason();
  // Makes a new work directory, $TEST_TMPDIR/<prefix>_<pid>_<n>; "" when it
  // cannot.
  static std::string NewWorkDir(const std::string& prefix);

  // Runs `kubectl --kubeconfig=... --request-timeout=20s args...` and waits.
  KubectlResult Run(const std::vector<std::string>& args) const;

 private:
  const std::string kubeconfig_;
  const std::string work_dir_;
};

}  // namespace kmesh::sim::kube

#endif  // SIM_KUBE_TESTING_KUBECTL_RUNNER_H_
