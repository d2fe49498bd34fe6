#include "sim/kube/testing/kubectl_runner.h"

#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <fstream>
#include <sstream>
#include <utility>

namespace kmesh::sim::kube {
namespace {

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace

KubectlRunner::KubectlRunner(std::string kubeconfig, std::string work_dir)
    : kubeconfig_(std::move(kubeconfig)), work_dir_(std::move(work_dir)) {
  mkdir((work_dir_ + "/home").c_str(), 0700);
}

std::string KubectlRunner::Path() {
  const char* env = getenv("KUBECTL");
  return env != nullptr ? env : "/usr/bin/kubectl";
}

bool KubectlRunner::Available() { return access(Path().c_str(), X_OK) == 0; }

std::string KubectlRunner::UnavailableReason() {
  return "kubectl not found at " + Path() + " (set KUBECTL to its path)";
}

std::string KubectlRunner::NewWorkDir(const std::string& prefix) {
  static std::atomic<int> counter{0};
  const char* tmp = getenv("TEST_TMPDIR");
  const std::string dir = std::string(tmp ? tmp : "/tmp") + "/" + prefix + "_" +
                          std::to_string(getpid()) + "_" +
                          std::to_string(counter++);
  return mkdir(dir.c_str(), 0700) == 0 ? dir : "";
}

KubectlResult KubectlRunner::Run(const std::vector<std::string>& args) const {
  std::vector<std::string> argv = {Path(), "--kubeconfig=" + kubeconfig_,
                                   "--request-timeout=20s"};
  argv.insert(argv.end(), args.begin(), args.end());
  const std::string out_path = work_dir_ + "/kubectl.stdout";
  const std::string err_path = work_dir_ + "/kubectl.stderr";
  std::vector<char*> c_argv;
  for (std::string& arg : argv) c_argv.push_back(arg.data());
  c_argv.push_back(nullptr);
  std::string home = "HOME=" + work_dir_ + "/home";
  std::string path = "PATH=/usr/bin:/bin";
  char* envp[] = {home.data(), path.data(), nullptr};
  KubectlResult result;
  pid_t pid = fork();
  if (pid < 0) return result;
  if (pid == 0) {
    int out = open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    int err = open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    dup2(out, 1);
    dup2(err, 2);
    execve(argv[0].c_str(), c_argv.data(), envp);
    _exit(127);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  result.out = ReadFile(out_path);
  result.err = ReadFile(err_path);
  return result;
}

}  // namespace kmesh::sim::kube
