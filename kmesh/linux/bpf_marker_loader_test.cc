// BpfMarkerLoader against the real kernel: tc attach and detach on veths in
// network namespaces the test creates (and always deletes), and real packets
// whose marks are observed by the kernel itself. Topology:
//
//   ns "pod" (A)              ns "host" (B, forwards)            ns "remote"
//   (C) vA 10.250.1.2  <-veth->  vB1 10.250.1.1 | vB2 10.250.2.1  <-veth->
//   vC 10.250.2.2
//      fd77:1::2                fd77:1::1   |    fd77:2::1 fd77:2::2
//
// The markers sit on vB1's tc ingress (the host side of the pod's veth). B has
// XFRM out policies with `action block` for the marks under test, so a marked
// packet forwarded by B is dropped and counted as XfrmOutPolBlock in B's
// /proc/net/xfrm_stat, while an unmarked one reaches C. Needs root, `ip` and
// `ping`; skips otherwise.
#include "kmesh/linux/bpf_marker_loader.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sched.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "kmesh/base/ip_address.h"
#include "kmesh/base/testing/ip_literals.h"
#include "kmesh/base/testing/shell_command.h"
#include "kmesh/linux/testing/test_markers.h"
#include "kmesh/linux/testing/unprivileged_child.h"

namespace kmesh::linux_backend {
namespace {

using ::kmesh::testing::Ip;

// Runs a shell command; true on exit status 0. Output is discarded.
bool Sh(const std::string& command) {
  return ::kmesh::testing::CommandSucceeds(command);
}

// Moves the calling thread into a named network namespace (ip netns) for its
// lifetime.
class ScopedNetns {
 public:
  explicit ScopedNetns(const std::string& name) {
    original_ = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
    const int target = open(absl::StrCat("/var/run/netns/", name).c_str(),
                            O_RDONLY | O_CLOEXEC);
    ok_ = original_ >= 0 && target >= 0 && setns(target, CLONE_NEWNET) == 0;
    if (target >= 0) close(target);
  }
  ~ScopedNetns() {
    if (original_ >= 0) {
      if (setns(original_, CLONE_NEWNET) != 0) std::abort();
      close(original_);
    }
  }
  bool ok() const { return ok_; }

 private:
  int original_ = -1;
  bool ok_ = false;
};

class BpfMarkerLoaderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (geteuid() != 0) {
      GTEST_SKIP() << "needs root: network namespaces, tc and BPF";
    }
    if (!Sh("command -v ip") || !Sh("command -v ping")) {
      GTEST_SKIP() << "needs iproute2 `ip` and `ping`";
    }
    const std::string tag = absl::StrCat("kmbpf", getpid(), "-");
    pod_ = tag + "pod";
    host_ = tag + "host";
    remote_ = tag + "remote";
    for (const std::string& ns : {pod_, host_, remote_}) {
      if (!Sh("ip netns add " + ns)) {
        if (created_.empty()) {
          GTEST_SKIP() << "cannot create network namespaces here";
        }
        FAIL() << "ip netns add " << ns;
      }
      created_.push_back(ns);  // TearDown deletes even a half-made setup.
      // Link-local addresses usable at once (no 1 s of DAD before the
      // router can resolve neighbours).
      ASSERT_TRUE(Sh("ip netns exec " + ns +
                     " sysctl -w net.ipv6.conf.default.accept_dad=0"));
    }
    const std::vector<std::string> setup = {
        "ip link add vA netns " + pod_ + " type veth peer name vB1 netns " +
            host_,
        "ip link add vC netns " + remote_ + " type veth peer name vB2 netns " +
            host_,
        "ip -n " + pod_ + " addr add 10.250.1.2/24 dev vA",
        "ip -n " + pod_ + " addr add fd77:1::2/64 dev vA nodad",
        "ip -n " + host_ + " addr add 10.250.1.1/24 dev vB1",
        "ip -n " + host_ + " addr add fd77:1::1/64 dev vB1 nodad",
        "ip -n " + host_ + " addr add 10.250.2.1/24 dev vB2",
        "ip -n " + host_ + " addr add fd77:2::1/64 dev vB2 nodad",
        "ip -n " + remote_ + " addr add 10.250.2.2/24 dev vC",
        "ip -n " + remote_ + " addr add fd77:2::2/64 dev vC nodad",
        "ip -n " + pod_ + " link set vA up",
        "ip -n " + host_ + " link set vB1 up",
        "ip -n " + host_ + " link set vB2 up",
        "ip -n " + remote_ + " link set vC up",
        "ip -n " + pod_ + " route add default via 10.250.1.1",
        "ip -n " + pod_ + " -6 route add default via fd77:1::1",
        "ip -n " + remote_ + " route add default via 10.250.2.1",
        "ip -n " + remote_ + " -6 route add default via fd77:2::1",
        "ip netns exec " + host_ + " sysctl -w net.ipv4.ip_forward=1",
        "ip netns exec " + host_ + " sysctl -w net.ipv6.conf.all.forwarding=1",
        // The observers: marked packets leaving B are blocked and counted.
        "ip -n " + host_ +
            " xfrm policy add src 0.0.0.0/0 dst 0.0.0.0/0 dir out"
            " mark 0xe0 mask 0xffffffff action block",
        "ip -n " + host_ +
            " xfrm policy add src ::/0 dst ::/0 dir out"
            " mark 0xe0 mask 0xffffffff action block",
        "ip -n " + host_ +
            " xfrm policy add src 0.0.0.0/0 dst 0.0.0.0/0 dir out"
            " mark 0x100d0 mask 0xffffffff action block",
    };
    for (const std::string& command : setup) {
      ASSERT_TRUE(Sh(command)) << command;
    }
    // Unmarked traffic flows before any marker is attached (allowing the
    // links a moment to come up).
    for (const char* address : {"10.250.2.2", "fd77:2::2"}) {
      bool reachable = false;
      for (int attempt = 0; attempt < 5 && !reachable; ++attempt) {
        reachable = Ping(pod_, address);
      }
      ASSERT_TRUE(reachable) << address;
    }

    absl::StatusOr<std::unique_ptr<BpfMarkerLoader>> loader =
        testing::LoadTestMarkers();
    if (absl::IsPermissionDenied(loader.status())) {
      GTEST_SKIP() << loader.status().message();
    }
    ASSERT_TRUE(loader.ok()) << loader.status();
    loader_ = *std::move(loader);
  }

  void TearDown() override {
    loader_.reset();
    for (const std::string& ns : created_) Sh("ip netns del " + ns);
  }

  static bool Ping(const std::string& ns, const std::string& address) {
    return Sh("ip netns exec " + ns + " ping -n -c 1 -W 1 " + address);
  }

  // XfrmOutPolBlock of namespace `ns`.
  static long OutPolicyBlocks(const std::string& ns) {
    ScopedNetns in(ns);
    if (!in.ok()) return -1;
    // /proc/net follows the reading thread's namespace.
    std::ifstream stat("/proc/thread-self/net/xfrm_stat");
    std::string name;
    long value;
    while (stat >> name >> value) {
      if (name == "XfrmOutPolBlock") return value;
    }
    return -1;
  }

  absl::Status AttachInHost(MarkerProgram program,
                            const std::string& interface) {
    ScopedNetns in(host_);
    if (!in.ok()) return absl::InternalError("setns");
    return loader_->Attach(program, interface);
  }

  absl::Status DetachInHost(MarkerProgram program,
                            const std::string& interface) {
    ScopedNetns in(host_);
    if (!in.ok()) return absl::InternalError("setns");
    return loader_->Detach(program, interface);
  }

  absl::StatusOr<bool> AttachedInHost(MarkerProgram program,
                                      const std::string& interface) {
    ScopedNetns in(host_);
    if (!in.ok()) return absl::InternalError("setns");
    return loader_->IsAttached(program, interface);
  }

  std::string pod_, host_, remote_;
  std::vector<std::string> created_;
  std::unique_ptr<BpfMarkerLoader> loader_;
};

TEST_F(BpfMarkerLoaderTest, AttachIsIdempotentAndDetachRemovesOnlyItsFilter) {
  ASSERT_TRUE(AttachInHost(MarkerProgram::kEncrypt, "vB1").ok());
  ASSERT_TRUE(AttachInHost(MarkerProgram::kEncrypt, "vB1").ok());  // Again.
  ASSERT_TRUE(AttachInHost(MarkerProgram::kDecrypt, "vB1").ok());
  EXPECT_EQ(AttachedInHost(MarkerProgram::kEncrypt, "vB1").value_or(false),
            true);
  EXPECT_EQ(AttachedInHost(MarkerProgram::kDecrypt, "vB1").value_or(false),
            true);
  EXPECT_EQ(AttachedInHost(MarkerProgram::kEncrypt, "vB2").value_or(true),
            false);
  // Exactly one filter per program: attaching twice replaced, not added.
  std::string filters;
  {
    FILE* out = popen(("ip netns exec " + host_ +
                       " tc filter show dev vB1 ingress 2>/dev/null")
                          .c_str(),
                      "r");
    ASSERT_NE(out, nullptr);
    char buffer[512];
    while (fgets(buffer, sizeof(buffer), out) != nullptr) filters += buffer;
    pclose(out);
  }
  const auto count = [&filters](const std::string& needle) {
    int n = 0;
    for (size_t at = filters.find(needle); at != std::string::npos;
         at = filters.find(needle, at + 1)) {
      ++n;
    }
    return n;
  };
  EXPECT_EQ(count("handle 0xe0 kmesh_encrypt"), 1) << filters;
  EXPECT_EQ(count("handle 0xd0 kmesh_decrypt"), 1) << filters;
  EXPECT_EQ(count(" handle "), 2) << filters;
  EXPECT_NE(filters.find("direct-action"), std::string::npos) << filters;

  ASSERT_TRUE(DetachInHost(MarkerProgram::kEncrypt, "vB1").ok());
  EXPECT_EQ(AttachedInHost(MarkerProgram::kEncrypt, "vB1").value_or(true),
            false);
  EXPECT_EQ(AttachedInHost(MarkerProgram::kDecrypt, "vB1").value_or(false),
            true);
  // Detaching what is not there, or from an interface without clsact.
  EXPECT_TRUE(DetachInHost(MarkerProgram::kEncrypt, "vB1").ok());
  EXPECT_TRUE(DetachInHost(MarkerProgram::kEncrypt, "vB2").ok());
  EXPECT_TRUE(DetachInHost(MarkerProgram::kDecrypt, "vB1").ok());
  EXPECT_EQ(AttachedInHost(MarkerProgram::kDecrypt, "vB1").value_or(true),
            false);
}

TEST_F(BpfMarkerLoaderTest, MissingInterfaceIsNotFoundOnAttachAndFineOnDetach) {
  const absl::Status attach = AttachInHost(MarkerProgram::kEncrypt, "nosuch0");
  EXPECT_EQ(attach.code(), absl::StatusCode::kNotFound) << attach;
  EXPECT_NE(attach.message().find("nosuch0"), absl::string_view::npos);
  EXPECT_NE(attach.message().find("ENODEV"), absl::string_view::npos) << attach;
  EXPECT_TRUE(DetachInHost(MarkerProgram::kEncrypt, "nosuch0").ok());
}

TEST_F(BpfMarkerLoaderTest, EncryptMarkOnRealPingsIsSeenByXfrmPolicy) {
  ASSERT_TRUE(AttachInHost(MarkerProgram::kEncrypt, "vB1").ok());
  const long before = OutPolicyBlocks(host_);
  ASSERT_GE(before, 0);

  // No encrypt CIDR yet: the echo request is not marked and gets through.
  EXPECT_TRUE(Ping(pod_, "10.250.2.2"));
  EXPECT_EQ(OutPolicyBlocks(host_), before);

  // B's CIDR, with B's own address known not to be a managed pod.
  ASSERT_TRUE(loader_->maps().UpsertUnmanagedPod(Ip("10.250.2.1")).ok());
  ASSERT_TRUE(loader_->maps()
                  .UpsertEncryptCidr(*IpPrefix::Parse("10.250.2.0/24"))
                  .ok());
  EXPECT_FALSE(Ping(pod_, "10.250.2.2"));
  EXPECT_EQ(OutPolicyBlocks(host_), before + 1);
  // Other destinations stay unmarked (the known one, another family).
  EXPECT_TRUE(Ping(pod_, "10.250.2.1"));
  EXPECT_TRUE(Ping(pod_, "fd77:2::2"));
  EXPECT_EQ(OutPolicyBlocks(host_), before + 1);

  ASSERT_TRUE(
      loader_->maps().UpsertEncryptCidr(*IpPrefix::Parse("fd77:2::/64")).ok());
  EXPECT_FALSE(Ping(pod_, "fd77:2::2"));
  EXPECT_EQ(OutPolicyBlocks(host_), before + 2);

  // Changes take effect at once; so does detaching.
  ASSERT_TRUE(loader_->maps().UpsertUnmanagedPod(Ip("10.250.2.2")).ok());
  EXPECT_TRUE(Ping(pod_, "10.250.2.2"));
  ASSERT_TRUE(DetachInHost(MarkerProgram::kEncrypt, "vB1").ok());
  EXPECT_TRUE(Ping(pod_, "fd77:2::2"));
  EXPECT_EQ(OutPolicyBlocks(host_), before + 2);
}

// ESP from a known peer gets (index << 16) | 0xd0: with peer index 1 the
// forwarded ESP hits B's block policy for mark 0x100d0.
TEST_F(BpfMarkerLoaderTest, DecryptMarkOnRealEspFromKnownPeer) {
  ASSERT_TRUE(AttachInHost(MarkerProgram::kDecrypt, "vB1").ok());
  const long before = OutPolicyBlocks(host_);
  ASSERT_GE(before, 0);

  // One ESP-looking packet (SPI 1, sequence 1, 16 bytes of payload) from A.
  const auto send_esp = [this] {
    ScopedNetns in(pod_);
    if (!in.ok()) return false;
    const int fd = socket(AF_INET, SOCK_RAW, IPPROTO_ESP);
    if (fd < 0) return false;
    sockaddr_in to{};
    to.sin_family = AF_INET;
    inet_pton(AF_INET, "10.250.2.2", &to.sin_addr);
    const unsigned char esp[24] = {0, 0, 0, 1, 0, 0, 0, 1};
    const bool sent =
        sendto(fd, esp, sizeof(esp), 0, reinterpret_cast<const sockaddr*>(&to),
               sizeof(to)) == sizeof(esp);
    close(fd);
    return sent;
  };

  ASSERT_TRUE(send_esp());  // Unknown peer: not marked, forwarded.
  EXPECT_EQ(OutPolicyBlocks(host_), before);

  ASSERT_TRUE(loader_->maps().UpsertPeer(Ip("10.250.1.2"), 1).ok());
  ASSERT_TRUE(send_esp());
  EXPECT_EQ(OutPolicyBlocks(host_), before + 1);
  // Non-ESP from the same peer is not marked.
  EXPECT_TRUE(Ping(pod_, "10.250.2.2"));
  EXPECT_EQ(OutPolicyBlocks(host_), before + 1);

  ASSERT_TRUE(loader_->maps().UpsertPeer(Ip("10.250.1.2"), 2).ok());
  ASSERT_TRUE(send_esp());  // Now marked 0x200d0: no block policy for it.
  EXPECT_EQ(OutPolicyBlocks(host_), before + 1);
}

// Without CAP_NET_ADMIN the error says what is missing and where.
TEST_F(BpfMarkerLoaderTest, UnprivilegedAttachSaysBpfIsNotPermitted) {
  ScopedNetns in(host_);
  ASSERT_TRUE(in.ok());
  absl::StatusOr<std::string> message = testing::RunAsNobody([this] {
    return std::string(
        loader_->Attach(MarkerProgram::kEncrypt, "vB1").ToString());
  });
  ASSERT_TRUE(message.ok()) << message.status();
  for (const char* part :
       {"PERMISSION_DENIED", "vB1", "EPERM",
        "BPF not permitted: run as root with CAP_BPF/CAP_NET_ADMIN"}) {
    EXPECT_NE(message->find(part), std::string::npos) << *message;
  }
}

}  // namespace
}  // namespace kmesh::linux_backend
