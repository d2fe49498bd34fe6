// The kmesh-sim binary as a user runs it: `up` brings a cluster up that the
// real kmeshctl can change by hand (the secret lands in every node), `tcpdump
// NODE` follows a node's capture, and `demo` refuses to pretend when no
// IPsec agent is wired.
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "sim/cluster/daemon_node_agent.h"

namespace kmesh::sim {
namespace {

std::string Runfile(const std::string& path) {
  const char* srcdir = std::getenv("TEST_SRCDIR");
  return absl::StrCat(srcdir != nullptr ? srcdir : ".", "/kmesh_ipsec/", path);
}
std::string KmeshSim() { return Runfile("sim/cluster/kmesh-sim"); }
std::string Kmeshctl() { return Runfile("kmesh/kmeshctl/kmeshctl"); }

struct Result {
  int exit_code = -1;
  std::string out;
};

// Runs a shell command line, stdout and stderr together.
Result Shell(const std::string& command) {
  Result r;
  FILE* p = popen((command + " 2>&1").c_str(), "r");
  if (p == nullptr) return r;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), p)) > 0) r.out.append(buf, n);
  const int status = pclose(p);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return "";
  return std::string((std::istreambuf_iterator<char>(in)), {});
}

template <typename F>
bool Eventually(F condition, std::chrono::seconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (condition()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return condition();
}

class KmeshSimTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/kmesh_sim_test.XXXXXX";
    dir_ = mkdtemp(tmpl);
  }
  void TearDown() override { std::system(("rm -rf " + dir_).c_str()); }
  std::string dir_;
};

// The README's main job: the walk-through on a simulated 3-node cluster with
// the real kmeshctl, spi 1 then spi 2 on the wire, nothing lost, nothing
// managed in clear; exit 0 only if all of that held.
TEST_F(KmeshSimTest, DemoShowsSpi1ThenSpi2WithNothingLostOrInClear) {
  const Result r =
      Shell(absl::StrCat(KmeshSim(), " demo --state_dir=", dir_,
                         " --kmeshctl=", Kmeshctl(), " --minloglevel=1"));
  EXPECT_EQ(r.exit_code, 0) << r.out;
  EXPECT_TRUE(absl::StrContains(r.out, "secret kmesh-ipsec created, spi 1"))
      << r.out;
  EXPECT_TRUE(absl::StrContains(r.out, "rotated, spi 1 -> 2")) << r.out;
  EXPECT_TRUE(absl::StrContains(r.out, "ESP(spi=0x00000001,")) << r.out;
  EXPECT_TRUE(absl::StrContains(r.out, "ESP(spi=0x00000002,")) << r.out;
  EXPECT_TRUE(
      absl::StrContains(r.out, "lost since every node had the first key: 0"))
      << r.out;
  EXPECT_TRUE(absl::StrContains(
      r.out, "plaintext on the wire between managed pods since then: 0"))
      << r.out;
}

TEST_F(KmeshSimTest, UnknownCommandsPrintUsage) {
  const Result r = Shell(KmeshSim() + " launch");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_TRUE(absl::StrContains(r.out, "usage: kmesh-sim demo|up|tcpdump"));
}

TEST_F(KmeshSimTest, TcpdumpPrintsANodesCaptureLines) {
  mkdir((dir_ + "/captures").c_str(), 0755);
  std::ofstream(dir_ + "/cluster.json") << R"({"nodes":["master","node1"]})";
  std::ofstream(dir_ + "/captures/master.log")
      << "10:00:00.000001 ? Out IP master > node1: ESP(spi=0x00000001,seq=0x1),"
         " length 120\n"
      << "10:00:00.000002 ? In IP node1 > master: ESP(spi=0x00000001,seq=0x1),"
         " length 120\n"
      << "10:00:00.000003 ? In IP 10.244.2.2.7 > 10.244.1.2.40000: UDP\n";
  const Result r =
      Shell(absl::StrCat(KmeshSim(), " tcpdump master --state_dir=", dir_,
                         " --from_start --count=2"));
  EXPECT_EQ(r.exit_code, 0) << r.out;
  EXPECT_TRUE(absl::StrContains(
      r.out, "Out IP master > node1: ESP(spi=0x00000001,seq=0x1), length 120"))
      << r.out;
  EXPECT_FALSE(absl::StrContains(r.out, "UDP")) << r.out;  // --count=2.
  const Result unknown =
      Shell(absl::StrCat(KmeshSim(), " tcpdump node7 --state_dir=", dir_));
  EXPECT_EQ(unknown.exit_code, 1);
  EXPECT_TRUE(absl::StrContains(unknown.out, "no node node7")) << unknown.out;
}

TEST_F(KmeshSimTest, UpRunsAClusterThatKmeshctlAndTcpdumpUse) {
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    const std::string log = dir_ + "/up.log";
    freopen(log.c_str(), "w", stdout);
    freopen(log.c_str(), "a", stderr);
    const std::string state = "--state_dir=" + dir_;
    execl(KmeshSim().c_str(), "kmesh-sim", "up", "--agent=none", "--rate=100",
          state.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  const bool up = Eventually(
      [&] { return absl::StrContains(ReadFile(dir_ + "/up.log"), "Ctrl-C"); },
      std::chrono::seconds(30));
  const std::string up_log = ReadFile(dir_ + "/up.log");
  EXPECT_TRUE(up) << up_log;
  if (up) {
    EXPECT_TRUE(
        absl::StrContains(up_log, "kubeconfig: " + dir_ + "/kubeconfig"))
        << up_log;
    // Pods talk in clear (no agent); the capture shows it.
    const Result dump = Shell(absl::StrCat(
        KmeshSim(), " tcpdump node1 --state_dir=", dir_, " --count=3"));
    EXPECT_EQ(dump.exit_code, 0) << dump.out;
    EXPECT_TRUE(absl::StrContains(dump.out, ": UDP, length 64")) << dump.out;
    // The real kmeshctl against the running cluster: the key reaches every
    // node's projected volume.
    const Result created = Shell(absl::StrCat(
        Kmeshctl(), " --kubeconfig=", dir_, "/kubeconfig secret create"));
    EXPECT_EQ(created.exit_code, 0) << created.out;
    EXPECT_TRUE(absl::StrContains(created.out, "spi 1")) << created.out;
    for (const char* node : {"master", "node1", "node2"}) {
      const std::string key =
          absl::StrCat(dir_, "/nodes/", node, "/kmesh-ipsec/ipSec");
      EXPECT_TRUE(Eventually(
          [&] { return absl::StrContains(ReadFile(key), "\"spi\":1"); },
          std::chrono::seconds(10)))
          << node;
    }
  }
  kill(pid, SIGTERM);
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
      << ReadFile(dir_ + "/up.log");
}

}  // namespace
}  // namespace kmesh::sim
