// LinuxNodeBackends' encrypt-marker attachment on a real kernel, where pods
// share a host interface: two pods behind one bridge (their veths enslaved
// to it, so the host routes both pod IPs to the bridge). The marker on the
// bridge stays while either pod is managed and goes with the last one; a
// pod with its own veth is independent. Runs in a network namespace of the
// test's own (the "host") with pod namespaces it creates and deletes. Needs
// root (BPF, tc, namespaces); skips otherwise.
#include "kmesh/linux/linux_node_backends.h"

#include <unistd.h>

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "kmesh/base/testing/ip_literals.h"
#include "kmesh/base/testing/shell_command.h"
#include "kmesh/linux/testing/private_namespaces.h"

namespace kmesh::linux_backend {
namespace {

using ::kmesh::testing::CommandOutput;
using ::kmesh::testing::CommandSucceeds;
using ::kmesh::testing::Ip;

class LinuxNodeBackendsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "needs root: namespaces, tc and BPF";
    if (!CommandSucceeds("command -v ip && command -v tc")) {
      GTEST_SKIP() << "needs iproute2 (ip, tc)";
    }
    ASSERT_TRUE(testing::EnterNewNetworkNamespace().ok());
    tag_ = absl::StrCat("kmlnb", getpid(), "-");
    std::vector<std::string> setup = {
        "ip link set lo up",
        "ip link add kmbr0 type bridge",
        "ip addr add 10.254.0.1/24 dev kmbr0",
        "ip link set kmbr0 up",
    };
    // Pods a and b behind the bridge, c with a routed veth of its own.
    for (const char* pod : {"a", "b", "c"}) {
      const std::string ns = tag_ + pod;
      ASSERT_TRUE(CommandSucceeds("ip netns add " + ns)) << ns;
      netns_.push_back(ns);
      const std::string host_if = absl::StrCat("veth", pod, "0");
      setup.push_back(absl::StrCat("ip link add ", host_if,
                                   " type veth peer name eth0 netns ", ns));
      setup.push_back(absl::StrCat("ip link set ", host_if, " up"));
      if (std::string(pod) != "c") {
        setup.push_back(absl::StrCat("ip link set ", host_if, " master kmbr0"));
      }
    }
    setup.push_back("ip route add 10.254.1.2/32 dev vethc0");
    for (const std::string& command : setup) {
      ASSERT_TRUE(CommandSucceeds(command)) << command;
    }
    LinuxNodeBackendsOptions options;
    options.bpf_object_dir = "bpf";
    options.bpf_pin_dir = "";  // Nothing pinned: nothing outlives the test.
    auto backends = MakeLinuxNodeBackends(options);
    if (absl::IsPermissionDenied(backends.status())) {
      GTEST_SKIP() << backends.status().message();
    }
    ASSERT_TRUE(backends.ok()) << backends.status();
    backends_ = *std::move(backends);
  }

  void TearDown() override {
    backends_.reset();
    for (const std::string& ns : netns_) CommandSucceeds("ip netns del " + ns);
  }

  // Whether the encrypt marker's tc filter (handle 0xe0) is on `ifname`.
  static bool Marked(const std::string& ifname) {
    return CommandOutput("tc filter show dev " + ifname + " ingress")
               .find("handle 0xe0") != std::string::npos;
  }

  std::string tag_;
  std::vector<std::string> netns_;
  std::unique_ptr<NodeBackends> backends_;
};

TEST_F(LinuxNodeBackendsTest, MarkerOnASharedBridgeStaysUntilTheLastPodGoes) {
  EncryptMarkerAttachment& attachment = backends_->encrypt_marker_attachment();
  const LocalPod a{"default", "a", {Ip("10.254.0.2")}};
  const LocalPod b{"default", "b", {Ip("10.254.0.3")}};
  const LocalPod c{"default", "c", {Ip("10.254.1.2")}};
  ASSERT_TRUE(attachment.Attach(a).ok());
  ASSERT_TRUE(attachment.Attach(b).ok());
  ASSERT_TRUE(attachment.Attach(c).ok());
  EXPECT_TRUE(Marked("kmbr0"));
  EXPECT_TRUE(Marked("vethc0"));

  ASSERT_TRUE(attachment.Detach(a).ok());
  EXPECT_TRUE(Marked("kmbr0")) << "b is still behind the bridge";
  ASSERT_TRUE(attachment.Detach(c).ok());
  EXPECT_FALSE(Marked("vethc0"));
  EXPECT_TRUE(Marked("kmbr0"));
  ASSERT_TRUE(attachment.Detach(b).ok());
  EXPECT_FALSE(Marked("kmbr0"));
}

}  // namespace
}  // namespace kmesh::linux_backend
