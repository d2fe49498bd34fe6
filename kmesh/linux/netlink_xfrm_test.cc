// NetlinkXfrm against the real kernel, inside a fresh network namespace of
// each test's own (it disappears with the test's socket and process, so
// nothing is left behind). Each policy shape the programmer emits is added,
// dumped, compared field by field with what `ip xfrm policy` prints, updated
// and deleted; an SA's counters and the namespace's xfrm_stat are read back.
// Needs root; skips otherwise (and where the kernel lacks ESP or XFRM
// statistics, the tests that need them skip, saying so).
#include "kmesh/linux/netlink_xfrm.h"

#include <arpa/inet.h>
#include <linux/netlink.h>
#include <netinet/in.h>
#include <sched.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "gtest/gtest.h"
#include "kmesh/base/testing/shell_command.h"
#include "kmesh/kernel/testing/xfrm_objects.h"
#include "kmesh/linux/netlink_socket.h"
#include "kmesh/linux/testing/private_namespaces.h"

namespace kmesh::linux_backend {
namespace {

using ::kmesh::testing::CommandOutput;

// Renders a policy the way `ip xfrm policy` prints its fields (whitespace
// normalised), so the kernel's view through iproute2 can be compared with
// the object we installed.
std::string AsIproutePrints(const XfrmPolicy& p) {
  std::string s =
      absl::StrCat("src ", p.selector.src.ToString(), " dst ",
                   p.selector.dst.ToString(), " dir ", XfrmDirName(p.dir));
  if (p.action == XfrmAction::kBlock) absl::StrAppend(&s, " action block");
  absl::StrAppend(&s, " priority ", p.priority, " ptype main");
  if (p.mark.mask != 0) {
    absl::StrAppend(
        &s, absl::StrFormat(" mark 0x%x/0x%x", p.mark.value, p.mark.mask));
  }
  for (const XfrmTemplate& t : p.templates) {
    absl::StrAppend(&s, " tmpl src ", t.src.ToString(), " dst ",
                    t.dst.ToString(), " proto esp");
    // iproute2 prints the template's SPI only when one is set.
    if (t.spi != 0) absl::StrAppend(&s, absl::StrFormat(" spi 0x%08x", t.spi));
    absl::StrAppend(&s, " reqid ", t.reqid, " mode tunnel");
  }
  return s;
}

std::string Normalise(const std::string& text) {
  std::vector<std::string> words =
      absl::StrSplit(text, absl::ByAnyChar(" \t\n"), absl::SkipEmpty());
  return absl::StrJoin(words, " ");
}

using ::kmesh::testing::kDecrypted;
using ::kmesh::testing::kEncrypt;
using ::kmesh::testing::Policy;
using ::kmesh::testing::Tmpl;

XfrmPolicy OutPolicy() {
  return Policy(XfrmDir::kOut, "0.0.0.0/0", "10.244.2.0/24", kEncrypt, 100,
                {Tmpl("10.0.0.1", "10.0.0.2", 0x6b6d, 1)});
}

XfrmPolicy InPolicy(XfrmDir dir) {
  return Policy(dir, "fd00:2::/64", "fd00:1::/64", kDecrypted, 100,
                {Tmpl("fd00::2", "fd00::1", 0x6b6d)});
}

XfrmPolicy BlockPolicy() {
  return ::kmesh::testing::BlockPolicy(IpFamily::kV4, kEncrypt, 5000);
}

class NetlinkXfrmTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "needs root for a network namespace";
    if (absl::Status s = testing::EnterNewNetworkNamespace(); !s.ok()) {
      GTEST_SKIP() << s;
    }
    auto x = NetlinkXfrm::Open();
    ASSERT_TRUE(x.ok()) << x.status();
    xfrm_ = *std::move(x);
  }
  std::string Ip(const std::string& args) {
    return CommandOutput("ip " + args + " 2>&1");
  }

  std::unique_ptr<NetlinkXfrm> xfrm_;
};

TEST_F(NetlinkXfrmTest, EveryPolicyShapeRoundTripsAndMatchesIproute) {
  const XfrmPolicy shapes[] = {OutPolicy(), InPolicy(XfrmDir::kIn),
                               InPolicy(XfrmDir::kFwd), BlockPolicy()};
  for (const XfrmPolicy& p : shapes) {
    ASSERT_TRUE(xfrm_->AddPolicy(p).ok()) << AsIproutePrints(p);
    const std::string listed = Normalise(Ip("xfrm policy list"));
    EXPECT_EQ(listed, Normalise(AsIproutePrints(p)));
    auto dumped = xfrm_->DumpPolicies();
    ASSERT_TRUE(dumped.ok()) << dumped.status();
    ASSERT_EQ(dumped->size(), 1u);
    const XfrmPolicy& d = (*dumped)[0];
    EXPECT_EQ(d.dir, p.dir);
    EXPECT_TRUE(d.selector == p.selector);
    EXPECT_EQ(d.mark, p.mark);
    EXPECT_EQ(d.priority, p.priority);
    EXPECT_EQ(d.action, p.action);
    ASSERT_EQ(d.templates.size(), p.templates.size());
    for (size_t i = 0; i < p.templates.size(); ++i) {
      EXPECT_EQ(d.templates[i].src, p.templates[i].src);
      EXPECT_EQ(d.templates[i].dst, p.templates[i].dst);
      EXPECT_EQ(d.templates[i].spi, p.templates[i].spi);
      EXPECT_EQ(d.templates[i].reqid, p.templates[i].reqid);
    }
    ASSERT_TRUE(xfrm_->DeletePolicy(p.id()).ok());
    EXPECT_EQ(Normalise(Ip("xfrm policy list")), "");
  }
}

TEST_F(NetlinkXfrmTest, AddOnTakenIdIsAlreadyExistsAndUpdateReplaces) {
  XfrmPolicy p = OutPolicy();
  ASSERT_TRUE(xfrm_->AddPolicy(p).ok());
  XfrmPolicy q = p;
  q.priority = 50;  // Priority is not part of a policy's identity.
  q.templates[0].spi = 2;
  const absl::Status again = xfrm_->AddPolicy(q);
  EXPECT_TRUE(absl::IsAlreadyExists(again)) << again;
  EXPECT_NE(again.message().find("EEXIST"), std::string::npos) << again;
  ASSERT_TRUE(xfrm_->UpdatePolicy(q).ok());
  EXPECT_EQ(Normalise(Ip("xfrm policy list")), Normalise(AsIproutePrints(q)));
  // A different mark is a different policy.
  XfrmPolicy r = p;
  r.mark = XfrmMark{0xe1, 0xffffffff};
  EXPECT_TRUE(xfrm_->AddPolicy(r).ok());
  EXPECT_EQ(xfrm_->DumpPolicies()->size(), 2u);
}

TEST_F(NetlinkXfrmTest, DeletingWhatIsNotThereIsNotFound) {
  const absl::Status s = xfrm_->DeletePolicy(OutPolicy().id());
  EXPECT_TRUE(absl::IsNotFound(s)) << s;
  const absl::Status t = xfrm_->DeleteSa(
      XfrmSaId{*IpAddress::Parse("10.0.0.1"), 7, kIpProtoEsp, XfrmMark{}});
  EXPECT_TRUE(absl::IsNotFound(t)) << t;
}

TEST_F(NetlinkXfrmTest, LargeDumpsArriveWhole) {
  // Enough policies to need several multi-part dump messages.
  for (int i = 0; i < 600; ++i) {
    XfrmPolicy p = OutPolicy();
    p.selector.dst = IpPrefix(IpAddress::V4(0x0af40000 + (i << 8)), 24);
    ASSERT_TRUE(xfrm_->AddPolicy(p).ok()) << i;
  }
  auto dumped = xfrm_->DumpPolicies();
  ASSERT_TRUE(dumped.ok()) << dumped.status();
  EXPECT_EQ(dumped->size(), 600u);
}

TEST_F(NetlinkXfrmTest, EspSaIsAddedOrTheKernelsRefusalIsNamed) {
  XfrmSa sa = ::kmesh::testing::Sa("10.0.0.2", "10.0.0.1", 1);
  sa.reqid = 0x6b6d;
  sa.aead_key = ::kmesh::testing::KeyOfSize(36, 0x42);
  sa.mark = XfrmMark{0x100d0, 0xffff00ff};
  sa.output_mark = XfrmMark{0xd0, 0xffffffff};
  sa.replay_window = 1024;
  sa.esn = true;
  const absl::Status s = xfrm_->AddSa(sa);
  if (s.ok()) {
    auto dumped = xfrm_->DumpSas();
    ASSERT_TRUE(dumped.ok());
    ASSERT_EQ(dumped->size(), 1u);
    EXPECT_TRUE((*dumped)[0].aead_key == sa.aead_key);
    EXPECT_EQ((*dumped)[0].mark, sa.mark);
    EXPECT_TRUE(absl::IsAlreadyExists(xfrm_->AddSa(sa)));
    return;
  }
  // This machine's kernel has no ESP (or no GCM): the refusal must be
  // reported as such, naming the errno and the SA, and never the key.
  EXPECT_TRUE(absl::IsUnimplemented(s)) << s;
  const std::string msg(s.message());
  EXPECT_TRUE(msg.find("EPROTONOSUPPORT") != std::string::npos ||
              msg.find("ENOSYS") != std::string::npos)
      << msg;
  EXPECT_NE(msg.find("10.0.0.2 -> 10.0.0.1 spi 0x00000001"), std::string::npos)
      << msg;
  EXPECT_EQ(msg.find("4242"), std::string::npos) << msg;
}

// NetlinkXfrm reopens its socket when replies get out of step; the new one
// must be in the namespace the first was opened in, whichever thread asks.
TEST_F(NetlinkXfrmTest, SocketsReopenInTheNamespaceTheFirstWasOpenedIn) {
  auto here = NetlinkSocketFactoryHere(NETLINK_XFRM);
  ASSERT_TRUE(here.ok()) << here.status();
  ASSERT_TRUE(testing::EnterNewNetworkNamespace().ok());  // Elsewhere now.
  auto opened_from_elsewhere = NetlinkXfrm::OpenWith(*here);
  ASSERT_TRUE(opened_from_elsewhere.ok()) << opened_from_elsewhere.status();
  ASSERT_TRUE((*opened_from_elsewhere)->AddPolicy(OutPolicy()).ok());
  // The policy is in the first namespace (xfrm_'s), not in this thread's.
  auto there = xfrm_->DumpPolicies();
  ASSERT_TRUE(there.ok()) << there.status();
  EXPECT_EQ(there->size(), 1u);
  EXPECT_EQ(Normalise(Ip("xfrm policy list")), "");
}

TEST_F(NetlinkXfrmTest, ReadStatsListsTheNamespacesXfrmStatCounters) {
  auto stats = xfrm_->ReadStats();
  if (absl::IsNotFound(stats.status())) {
    GTEST_SKIP() << "kernel without CONFIG_XFRM_STATISTICS: " << stats.status();
  }
  ASSERT_TRUE(stats.ok()) << stats.status();
  // 28 counters before Linux 6.10, a few more after; a fresh namespace has
  // dropped nothing yet.
  EXPECT_GE(stats->size(), 28u);
  EXPECT_EQ(stats->front().first, "XfrmInError");
  for (const auto& [name, value] : *stats) {
    EXPECT_TRUE(absl::StartsWith(name, "Xfrm")) << name;
    EXPECT_EQ(value, 0u) << name;
  }
}

TEST_F(NetlinkXfrmTest, ReadStatsWithoutTheFileNamesIt) {
  auto x = NetlinkXfrm::Open("/nonexistent/xfrm_stat");
  ASSERT_TRUE(x.ok()) << x.status();
  auto stats = (*x)->ReadStats();
  EXPECT_TRUE(absl::IsNotFound(stats.status())) << stats.status();
  EXPECT_NE(stats.status().message().find("/nonexistent/xfrm_stat"),
            std::string::npos)
      << stats.status();
}

// An outbound SA and policy 10.0.0.1 -> 10.0.0.2 in the test's namespace,
// with the ESP packets leaving through a veth to a static neighbour (nothing
// answers, nothing comes back): the dump counts what was sent.
TEST_F(NetlinkXfrmTest, DumpedSaCountsTheOutputSequenceAndCurrentLifetime) {
  XfrmSa sa = ::kmesh::testing::Sa("10.0.0.1", "10.0.0.2", 0x10);
  sa.aead_key = ::kmesh::testing::KeyOfSize(36, 0x42);
  if (const absl::Status s = xfrm_->AddSa(sa); !s.ok()) {
    ASSERT_TRUE(absl::IsUnimplemented(s)) << s;
    GTEST_SKIP() << "this kernel has no ESP or no rfc4106(gcm(aes)): " << s;
  }
  auto fresh = xfrm_->DumpSas();
  ASSERT_TRUE(fresh.ok()) << fresh.status();
  ASSERT_EQ(fresh->size(), 1u);
  EXPECT_EQ((*fresh)[0].counters.output_seq, 0u);
  EXPECT_EQ((*fresh)[0].counters.packets, 0u);
  EXPECT_EQ((*fresh)[0].counters.bytes, 0u);

  const std::string setup =
      "ip link add kx0 type veth peer name kx1 && ip link set kx0 up && "
      "ip link set kx1 up && ip addr add 10.0.0.1/24 dev kx0 && "
      "ip neigh add 10.0.0.2 lladdr 02:00:00:00:00:02 dev kx0 nud permanent";
  if (!::kmesh::testing::CommandSucceeds(setup)) {
    GTEST_SKIP() << "could not set up a veth pair: " << setup;
  }
  ASSERT_TRUE(xfrm_
                  ->AddPolicy(Policy(XfrmDir::kOut, "10.0.0.1/32",
                                     "10.0.0.2/32", ::kmesh::testing::kNoMark,
                                     0, {Tmpl("10.0.0.1", "10.0.0.2")}))
                  .ok());
  // This thread is in the test's namespace, so its sockets are too.
  const int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(9);
  inet_pton(AF_INET, "10.0.0.2", &to.sin_addr);
  constexpr int kPackets = 3;
  for (int i = 0; i < kPackets; ++i) {
    const char payload[] = "kmesh";
    EXPECT_EQ(sendto(fd, payload, sizeof(payload), 0,
                     reinterpret_cast<const sockaddr*>(&to), sizeof(to)),
              static_cast<ssize_t>(sizeof(payload)))
        << "errno " << errno;
  }
  close(fd);

  auto dumped = xfrm_->DumpSas();
  ASSERT_TRUE(dumped.ok()) << dumped.status();
  ASSERT_EQ(dumped->size(), 1u);
  const XfrmSaCounters& c = (*dumped)[0].counters;
  EXPECT_EQ(c.output_seq, static_cast<uint64_t>(kPackets));
  EXPECT_EQ(c.packets, static_cast<uint64_t>(kPackets));
  EXPECT_GT(c.bytes, 0u);
  EXPECT_NE(Ip("-s xfrm state").find(absl::StrFormat("oseq 0x%x", kPackets)),
            std::string::npos)
      << Ip("-s xfrm state");
}

}  // namespace
}  // namespace kmesh::linux_backend
