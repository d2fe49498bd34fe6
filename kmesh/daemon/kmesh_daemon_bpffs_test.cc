// kmesh-daemon on a host without a bpf filesystem: the real binary, run in a
// private mount namespace of the test's own, mounts one where its pin
// directory needs it and pins its maps there; without the privilege to mount
// it exits non-zero and says what to do. Needs root. The daemon's API server
// is a closed loopback port: it keeps retrying, which is all this test needs.
#include <signal.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "kmesh/linux/bpf_filesystem.h"
#include "kmesh/linux/testing/private_bpf_filesystem.h"

namespace kmesh::daemon {
namespace {

namespace testing = ::kmesh::linux_backend::testing;
using linux_backend::IsOnBpfFilesystem;

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

class KmeshDaemonBpffsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "needs root to mount and load BPF";
    absl::Status entered = testing::EnterPrivateMountNamespace();
    if (!entered.ok()) GTEST_SKIP() << entered;
    // Under /tmp: one case runs the daemon unprivileged, and it must reach
    // this directory and a copy of the binary in it.
    absl::StatusOr<std::string> dir =
        ::kmesh::testing::MakeTestDirectory("kmesh-daemon-bpffs-test", "/tmp");
    ASSERT_TRUE(dir.ok()) << dir.status();
    dir_ = *dir;
    ASSERT_EQ(chmod(dir_.c_str(), 0755), 0);
    std::ofstream(dir_ + "/kubeconfig") << R"(apiVersion: v1
kind: Config
clusters:
- name: closed
  cluster:
    server: http://127.0.0.1:1
users:
- name: nobody
  user: {}
contexts:
- name: closed
  context:
    cluster: closed
    user: nobody
current-context: closed
)";
    chmod((dir_ + "/kubeconfig").c_str(), 0644);
  }
  void TearDown() override {
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
    if (dir_.empty()) return;
    umount2((dir_ + "/fs/bpf").c_str(), MNT_DETACH);
    std::filesystem::remove_all(dir_);
  }

  // Starts the daemon with its pin directory under dir_/fs/bpf; as user
  // `uid` (0: root) from a copy of the binary the user can execute.
  void StartDaemon(uid_t uid) {
    std::string binary = "kmesh/daemon/kmesh-daemon";
    if (uid != 0) {
      const std::string copy = dir_ + "/kmesh-daemon";
      std::filesystem::copy_file(binary, copy);
      chmod(copy.c_str(), 0755);
      binary = copy;
    }
    std::vector<std::string> args = {
        binary,
        "--enable-ipsec=true",
        "--node-name=node-a",
        "--kubeconfig=" + dir_ + "/kubeconfig",
        "--ipsec-key-file=" + dir_ + "/kmesh-ipsec/ipSec",
        "--bpf-object-dir=" + std::filesystem::absolute("bpf").string(),
        "--bpf-pin-dir=" + pin_dir()};
    const std::string log = dir_ + "/daemon.log";
    pid_ = fork();
    ASSERT_GE(pid_, 0);
    if (pid_ == 0) {
      // The log is opened as root, before the privileges go.
      if (freopen(log.c_str(), "w", stderr) == nullptr) _exit(126);
      if (uid != 0 &&
          (setresgid(uid, uid, uid) != 0 || setresuid(uid, uid, uid) != 0)) {
        _exit(125);
      }
      std::vector<char*> argv;
      for (std::string& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      execv(binary.c_str(), argv.data());
      _exit(127);
    }
  }

  // Waits up to `timeout` for the daemon to exit; its exit status, or -1.
  int WaitForExit(std::chrono::seconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      int status = 0;
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = 0;
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return -1;
  }

  std::string mount_point() const { return dir_ + "/fs/bpf"; }
  std::string pin_dir() const { return mount_point() + "/kmesh-ipsec"; }
  std::string log() const { return ReadFile(dir_ + "/daemon.log"); }

  std::string dir_;
  pid_t pid_ = 0;
};

TEST_F(KmeshDaemonBpffsTest, MountsABpfFilesystemWhereNoneWasAndPinsThere) {
  ASSERT_FALSE(IsOnBpfFilesystem(dir_));
  StartDaemon(0);
  // The maps appear in the pin directory once the daemon has loaded them.
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::seconds(30);
  size_t pins = 0;
  while (std::chrono::steady_clock::now() < deadline) {
    std::error_code ec;
    pins = 0;
    for (auto it = std::filesystem::directory_iterator(pin_dir(), ec);
         !ec && it != std::filesystem::directory_iterator(); ++it) {
      ++pins;
    }
    if (pins >= 4) break;
    int status;
    ASSERT_EQ(waitpid(pid_, &status, WNOHANG), 0)
        << "the daemon exited: " << log();
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_GE(pins, 4u) << log();
  EXPECT_TRUE(IsOnBpfFilesystem(mount_point()));
  EXPECT_NE(log().find("mounted a bpf filesystem at " + mount_point()),
            std::string::npos)
      << log();

  // Stopping the daemon leaves the filesystem and the pins in place.
  ASSERT_EQ(kill(pid_, SIGTERM), 0);
  EXPECT_EQ(WaitForExit(std::chrono::seconds(30)), 0) << log();
  EXPECT_TRUE(IsOnBpfFilesystem(pin_dir()));
}

TEST_F(KmeshDaemonBpffsTest, WithoutThePrivilegeToMountItExitsAndSaysWhatToDo) {
  std::filesystem::create_directories(mount_point());
  chmod((dir_ + "/fs").c_str(), 0755);
  StartDaemon(65534);
  const int exit_code = WaitForExit(std::chrono::seconds(30));
  const std::string text = log();
  EXPECT_EQ(exit_code, 1) << text;
  for (const std::string& part :
       {"kmesh-daemon: no bpf filesystem at " + mount_point(),
        std::string("EPERM"), "mount -t bpf bpf " + mount_point(),
        std::string("--bpf-pin-dir")}) {
    EXPECT_NE(text.find(part), std::string::npos)
        << "missing \"" << part << "\" in: " << text;
  }
  EXPECT_FALSE(IsOnBpfFilesystem(mount_point()));
}

}  // namespace
}  // namespace kmesh::daemon
