#include "kmesh/ipsec/xfrm_programmer.h"

#include <algorithm>
#include <map>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "kmesh/ipsec/mock_xfrm_kernel.h"
#include "kmesh/ipsec/recording_xfrm_kernel.h"
#include "sim/kernel/xfrm/sim_xfrm.h"

namespace kmesh::ipsec {
namespace {

// Dumps by value (a range-for over *StatusOr-temporary would dangle).
std::vector<XfrmSa> DumpedSas(const XfrmKernel& kernel) {
  return *const_cast<XfrmKernel&>(kernel).DumpSas();
}
std::vector<XfrmPolicy> DumpedPolicies(const XfrmKernel& kernel) {
  return *const_cast<XfrmKernel&>(kernel).DumpPolicies();
}

using ::testing::_;
using ::testing::HasSubstr;
using ::testing::Invoke;
using ::testing::Return;

const char kBootA[] = "aaaaaaaa-1111-2222-3333-444444444444";
const char kBootB[] = "bbbbbbbb-1111-2222-3333-444444444444";
const char kBootC[] = "cccccccc-1111-2222-3333-444444444444";

XfrmKey Psk(uint8_t fill) {
  uint8_t bytes[36];
  for (int i = 0; i < 36; ++i) bytes[i] = static_cast<uint8_t>(fill * 7 + i);
  return XfrmKey(bytes, sizeof(bytes));
}

NodeView Node(const std::string& name, const std::string& address,
              const std::string& boot, const std::string& cidr) {
  NodeView v;
  v.name = name;
  v.addresses = {address};
  v.boot_id = boot;
  v.pod_cidrs = {*IpPrefix::Parse(cidr)};
  return v;
}

// Index of the first log line containing `needle`, or -1.
int IndexOf(const std::vector<std::string>& log, const std::string& needle) {
  for (size_t i = 0; i < log.size(); ++i) {
    if (log[i].find(needle) != std::string::npos) return static_cast<int>(i);
  }
  return -1;
}

class XfrmProgrammerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    keys_.Install(1, Psk(1));
    keys_.Install(2, Psk(2));
  }
  XfrmObjects Peer(const NodeView& peer, uint16_t index,
                   std::vector<int32_t> inbound, int32_t outbound) {
    PeerLayoutInput in;
    in.self = &self_;
    in.peer = &peer;
    in.peer_index = index;
    in.keys = &keys_;
    in.inbound_spis = std::move(inbound);
    in.outbound_spi = outbound;
    auto layout = LayoutPeer(in);
    EXPECT_TRUE(layout.ok()) << layout.status();
    return layout->objects;
  }
  static XfrmSa ForeignSa() {
    XfrmSa sa;
    sa.src = *IpAddress::Parse("192.168.7.1");
    // Same destination as ours; an unmarked SA with our SPI would block
    // ours on Linux (the mark lookup is asymmetric), so another SPI.
    sa.dst = *IpAddress::Parse("10.0.0.1");
    sa.spi = 0x1000;
    sa.reqid = 1;
    uint8_t key[36] = {9};
    sa.aead_key = XfrmKey(key, sizeof(key));
    return sa;
  }
  static XfrmPolicy ForeignPolicy() {
    XfrmPolicy p;
    p.dir = XfrmDir::kOut;
    p.selector.src = *IpPrefix::Parse("0.0.0.0/0");
    p.selector.dst = *IpPrefix::Parse("10.244.1.0/24");  // Same as ours.
    XfrmTemplate t;
    t.src = *IpAddress::Parse("10.0.0.1");
    t.dst = *IpAddress::Parse("192.168.7.1");
    t.reqid = 1;
    p.templates.push_back(t);
    return p;
  }

  KeyRing keys_;
  NodeView self_ = Node("node-a", "10.0.0.1", kBootA, "10.244.0.0/24");
  NodeView b_ = Node("node-b", "10.0.0.2", kBootB, "10.244.1.0/24");
  NodeView c_ = Node("node-c", "10.0.0.3", kBootC, "10.244.2.0/24");
  sim::SimXfrm sim_;
  RecordingXfrmKernel kernel_{&sim_};
  XfrmProgrammer programmer_{&kernel_};
};

TEST_F(XfrmProgrammerTest, ProgramsGroupOnceAndThenCostsNothing) {
  XfrmObjects desired = Peer(b_, 1, {1}, 1);
  const size_t objects = desired.sas.size() + desired.policies.size();
  ApplyResult first = programmer_.ApplyGroup("node-b", desired);
  ASSERT_TRUE(first.ok()) << first.ToStatus();
  EXPECT_EQ(programmer_.counts().changes(), objects);
  EXPECT_EQ(sim_.sa_count(), desired.sas.size());
  EXPECT_EQ(sim_.policy_count(), desired.policies.size());

  ApplyResult again = programmer_.ApplyGroup("node-b", desired);
  EXPECT_TRUE(again.ok());
  EXPECT_EQ(programmer_.counts().changes(), objects);
  for (const XfrmSa& sa : desired.sas) EXPECT_TRUE(programmer_.IsInstalled(sa));
}

TEST_F(XfrmProgrammerTest, ChangedKeyReplacesSaBecauseLinuxUpdateKeepsKeys) {
  ASSERT_TRUE(programmer_.ApplyGroup("node-b", Peer(b_, 1, {1}, 0)).ok());
  kernel_.log.clear();
  NodeView rebooted = b_;
  rebooted.boot_id = "dddddddd-1111-2222-3333-444444444444";
  XfrmObjects desired = Peer(rebooted, 1, {1}, 0);
  ASSERT_TRUE(programmer_.ApplyGroup("node-b", desired).ok());
  ASSERT_EQ(kernel_.log.size(), 2u);
  EXPECT_THAT(kernel_.log[0], HasSubstr("delete-sa 10.0.0.1 spi=1"));
  EXPECT_THAT(kernel_.log[1], HasSubstr("add-sa 10.0.0.1 spi=1"));
  auto sas = *sim_.DumpSas();
  ASSERT_EQ(sas.size(), 1u);
  EXPECT_TRUE(SameSa(sas[0], desired.sas[0])) << "the kernel has the new key";
  // A second pass sees nothing to do.
  ASSERT_TRUE(programmer_.ApplyGroup("node-b", desired).ok());
  EXPECT_EQ(kernel_.log.size(), 2u);
}

TEST_F(XfrmProgrammerTest, OutputMarkChangeIsAnInPlaceUpdate) {
  XfrmObjects desired = Peer(b_, 1, {1}, 0);
  ASSERT_TRUE(programmer_.ApplyGroup("node-b", desired).ok());
  kernel_.log.clear();
  desired.sas[0].output_mark = XfrmMark{0xd0, 0xffffffff};
  ASSERT_TRUE(programmer_.ApplyGroup("node-b", desired).ok());
  ASSERT_EQ(kernel_.log.size(), 1u);
  EXPECT_THAT(kernel_.log[0], HasSubstr("update-sa"));
  EXPECT_EQ((*sim_.DumpSas())[0].output_mark.mask, 0xffffffffu);
}

TEST_F(XfrmProgrammerTest, SpiMoveAddsSaThenRepointsPolicyThenDeletesOldSa) {
  ASSERT_TRUE(programmer_.ApplyGroup("node-b", Peer(b_, 1, {1, 2}, 1)).ok());
  kernel_.log.clear();
  ASSERT_TRUE(programmer_.ApplyGroup("node-b", Peer(b_, 1, {1, 2}, 2)).ok());
  const int add_sa = IndexOf(kernel_.log, "add-sa 10.0.0.2 spi=2");
  const int repoint =
      IndexOf(kernel_.log, "update-policy out 10.244.1.0/24 spi=2");
  const int delete_sa = IndexOf(kernel_.log, "delete-sa 10.0.0.2 spi=1");
  ASSERT_GE(add_sa, 0);
  ASSERT_GE(repoint, 0);
  ASSERT_GE(delete_sa, 0);
  EXPECT_LT(add_sa, repoint);
  EXPECT_LT(repoint, delete_sa);
  EXPECT_EQ(kernel_.log.size(), 3u);
}

TEST_F(XfrmProgrammerTest, BlockPolicyGoesInFirstAndInboundBeforeOutbound) {
  std::map<std::string, XfrmObjects> desired;
  desired["node-b"] = Peer(b_, 1, {1}, 1);
  desired["zz-catch-all"] = LayoutCatchAll();
  ApplyResult result = programmer_.Reconcile(desired, true);
  ASSERT_TRUE(result.ok()) << result.ToStatus();
  ASSERT_GE(kernel_.log.size(), 4u);
  EXPECT_THAT(kernel_.log[0], HasSubstr("block"));
  EXPECT_THAT(kernel_.log[1], HasSubstr("block"));
  const int inbound = IndexOf(kernel_.log, "add-sa 10.0.0.1");
  const int outbound = IndexOf(kernel_.log, "add-sa 10.0.0.2");
  const int out_policy = IndexOf(kernel_.log, "add-policy out 10.244.1.0/24");
  EXPECT_LT(inbound, outbound);
  EXPECT_LT(outbound, out_policy);
}

TEST_F(XfrmProgrammerTest, RemovingGroupDeletesOutPolicyBeforeItsSa) {
  ASSERT_TRUE(programmer_.ApplyGroup("node-b", Peer(b_, 1, {1}, 1)).ok());
  kernel_.log.clear();
  ASSERT_TRUE(programmer_.RemoveGroup("node-b").ok());
  EXPECT_LT(IndexOf(kernel_.log, "delete-policy out"),
            IndexOf(kernel_.log, "delete-sa 10.0.0.2"));
  EXPECT_EQ(sim_.sa_count(), 0u);
  EXPECT_EQ(sim_.policy_count(), 0u);
  EXPECT_FALSE(programmer_.HasObjects("node-b"));
}

TEST_F(XfrmProgrammerTest, ForeignObjectsSurviveReconcileAndAreNeverTouched) {
  ASSERT_TRUE(sim_.AddSa(ForeignSa()).ok());
  ASSERT_TRUE(sim_.AddPolicy(ForeignPolicy()).ok());
  kernel_.log.clear();
  std::map<std::string, XfrmObjects> desired;
  desired["node-b"] = Peer(b_, 1, {1}, 1);
  ApplyResult result = programmer_.Reconcile(desired, true);
  ASSERT_TRUE(result.ok()) << result.ToStatus();
  result = programmer_.Reconcile({}, /*delete_unclaimed=*/true);
  ASSERT_TRUE(result.ok()) << result.ToStatus();
  EXPECT_EQ(sim_.sa_count(), 1u);
  EXPECT_EQ(sim_.policy_count(), 1u);
  auto sas = *sim_.DumpSas();
  EXPECT_TRUE(SameSa(sas[0], ForeignSa()));
  EXPECT_TRUE(SamePolicy((*kernel_.DumpPolicies())[0], ForeignPolicy()));
  for (const std::string& line : kernel_.log) {
    EXPECT_THAT(line, ::testing::Not(HasSubstr("192.168.7.1"))) << line;
  }
  EXPECT_EQ(kernel_.already_exists, 0);
}

TEST_F(XfrmProgrammerTest, RestartAdoptsIdenticalStateWithoutKernelChanges) {
  std::map<std::string, XfrmObjects> desired;
  desired["node-b"] = Peer(b_, 1, {1}, 1);
  desired["node-c"] = Peer(c_, 2, {1}, 1);
  desired["zz-catch-all"] = LayoutCatchAll();
  ASSERT_TRUE(programmer_.Reconcile(desired, true).ok());
  const int ops = kernel_.changes;

  XfrmProgrammer restarted(&kernel_);
  ASSERT_TRUE(restarted.Reconcile({}, /*delete_unclaimed=*/false).ok());
  EXPECT_EQ(restarted.Unclaimed().sas.size(), sim_.sa_count());
  ASSERT_TRUE(restarted.ApplyGroup("node-b", desired["node-b"]).ok());
  ASSERT_TRUE(restarted.ApplyGroup("node-c", desired["node-c"]).ok());
  ASSERT_TRUE(
      restarted.ApplyGroup("zz-catch-all", desired["zz-catch-all"]).ok());
  EXPECT_EQ(kernel_.changes, ops) << "adoption costs no kernel operation";
  EXPECT_TRUE(restarted.Unclaimed().sas.empty());
  EXPECT_TRUE(restarted.Unclaimed().policies.empty());
}

TEST_F(XfrmProgrammerTest, UnclaimedObjectsAreKeptUntilDeletionIsAllowed) {
  std::map<std::string, XfrmObjects> desired;
  desired["node-b"] = Peer(b_, 1, {1}, 1);
  desired["node-c"] = Peer(c_, 2, {1}, 1);
  ASSERT_TRUE(programmer_.Reconcile(desired, true).ok());
  const size_t all = sim_.sa_count();
  desired.erase("node-c");
  XfrmProgrammer restarted(&kernel_);
  ASSERT_TRUE(restarted.Reconcile(desired, /*delete_unclaimed=*/false).ok());
  EXPECT_EQ(sim_.sa_count(), all);
  EXPECT_FALSE(restarted.Unclaimed().sas.empty());
  ASSERT_TRUE(restarted.Reconcile(desired, /*delete_unclaimed=*/true).ok());
  EXPECT_EQ(sim_.sa_count(), desired["node-b"].sas.size());
  EXPECT_TRUE(restarted.Unclaimed().sas.empty());
}

TEST_F(XfrmProgrammerTest, TwoGroupsWantingOnePolicyIsAConflictNotAnOverwrite) {
  NodeView impostor = c_;
  impostor.pod_cidrs = b_.pod_cidrs;  // Overlapping pod CIDR.
  ASSERT_TRUE(programmer_.ApplyGroup("node-b", Peer(b_, 1, {1}, 1)).ok());
  ApplyResult result =
      programmer_.ApplyGroup("node-c", Peer(impostor, 2, {1}, 1));
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.ToStatus().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(result.ToStatus().message()), HasSubstr("node-b"));
  // node-b's out policy still points at node-b.
  for (const XfrmPolicy& p : DumpedPolicies(kernel_)) {
    if (p.dir == XfrmDir::kOut && !p.templates.empty()) {
      EXPECT_EQ(p.templates[0].dst, *IpAddress::Parse("10.0.0.2"));
    }
  }
  EXPECT_EQ(kernel_.already_exists, 0);
}

TEST_F(XfrmProgrammerTest, ForeignObjectWithOurIdentityIsReportedNotReplaced) {
  XfrmObjects desired = Peer(b_, 1, {1}, 1);
  XfrmSa squatter = desired.sas[0];  // Same id, foreign reqid.
  squatter.reqid = 77;
  ASSERT_TRUE(sim_.AddSa(squatter).ok());
  ApplyResult result = programmer_.ApplyGroup("node-b", desired);
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.errors[0].status.code(), absl::StatusCode::kAlreadyExists);
  EXPECT_TRUE(programmer_.needs_resync());
  bool squatter_intact = false;
  for (const XfrmSa& sa : DumpedSas(kernel_)) {
    squatter_intact |= sa.reqid == 77;
  }
  EXPECT_TRUE(squatter_intact);
}

class XfrmProgrammerFaultTest : public XfrmProgrammerTest {
 protected:
  void SetUp() override {
    XfrmProgrammerTest::SetUp();
    ON_CALL(mock_, AddSa(_))
        .WillByDefault(Invoke(&kernel_, &RecordingXfrmKernel::AddSa));
    ON_CALL(mock_, UpdateSa(_))
        .WillByDefault(Invoke(&kernel_, &RecordingXfrmKernel::UpdateSa));
    ON_CALL(mock_, DeleteSa(_))
        .WillByDefault(Invoke(&kernel_, &RecordingXfrmKernel::DeleteSa));
    ON_CALL(mock_, DumpSas())
        .WillByDefault(Invoke(&kernel_, &RecordingXfrmKernel::DumpSas));
    ON_CALL(mock_, AddPolicy(_))
        .WillByDefault(Invoke(&kernel_, &RecordingXfrmKernel::AddPolicy));
    ON_CALL(mock_, UpdatePolicy(_))
        .WillByDefault(Invoke(&kernel_, &RecordingXfrmKernel::UpdatePolicy));
    ON_CALL(mock_, DeletePolicy(_))
        .WillByDefault(Invoke(&kernel_, &RecordingXfrmKernel::DeletePolicy));
    ON_CALL(mock_, DumpPolicies())
        .WillByDefault(Invoke(&kernel_, &RecordingXfrmKernel::DumpPolicies));
  }
  static absl::Status NoBufs() {
    return absl::ResourceExhaustedError(
        "XFRM_MSG_NEWSA: No buffer space available (ENOBUFS)");
  }
  ::testing::NiceMock<MockXfrmKernel> mock_;
  XfrmProgrammer faulty_{&mock_};
};

TEST_F(XfrmProgrammerFaultTest,
       FailedOperationIsReportedRestAppliedAndRetried) {
  XfrmObjects desired = Peer(b_, 1, {1, 2}, 1);
  EXPECT_CALL(mock_, AddSa(_))
      .WillOnce(Return(NoBufs()))
      .WillRepeatedly(Invoke(&kernel_, &RecordingXfrmKernel::AddSa));
  ApplyResult result = faulty_.ApplyGroup("node-b", desired);
  ASSERT_EQ(result.errors.size(), 1u);
  EXPECT_EQ(result.errors[0].group, "node-b");
  EXPECT_EQ(result.errors[0].op, XfrmOp::kAddSa);
  EXPECT_THAT(result.errors[0].object, HasSubstr("spi 0x00000001"));
  EXPECT_THAT(std::string(result.ToStatus().message()), HasSubstr("ENOBUFS"));
  EXPECT_TRUE(faulty_.needs_resync());
  EXPECT_EQ(sim_.sa_count(), desired.sas.size() - 1);
  EXPECT_EQ(sim_.policy_count(), desired.policies.size());

  std::map<std::string, XfrmObjects> all{{"node-b", desired}};
  ApplyResult retry = faulty_.Reconcile(all, true);
  EXPECT_TRUE(retry.ok()) << retry.ToStatus();
  EXPECT_FALSE(faulty_.needs_resync());
  EXPECT_EQ(sim_.sa_count(), desired.sas.size());
}

TEST_F(XfrmProgrammerFaultTest, OutPolicyWaitsForItsSaAndOldSaStaysInUse) {
  ASSERT_TRUE(faulty_.ApplyGroup("node-b", Peer(b_, 1, {1, 2}, 1)).ok());
  // Moving to SPI 2: the new outbound SA cannot be added.
  EXPECT_CALL(mock_, AddSa(_)).WillOnce(Return(NoBufs()));
  EXPECT_CALL(mock_, UpdatePolicy(_)).Times(0);
  EXPECT_CALL(mock_, DeleteSa(_)).Times(0);
  ApplyResult result = faulty_.ApplyGroup("node-b", Peer(b_, 1, {1, 2}, 2));
  EXPECT_EQ(result.errors.size(),
            3u);  // add SA, deferred policy, deferred delete
  // Traffic keeps flowing with SPI 1.
  bool old_sa = false;
  for (const XfrmSa& sa : DumpedSas(kernel_)) {
    old_sa |= !IsInboundSa(sa) && sa.spi == 1;
  }
  EXPECT_TRUE(old_sa);
  for (const XfrmPolicy& p : DumpedPolicies(kernel_)) {
    if (p.dir == XfrmDir::kOut) {
      EXPECT_EQ(p.templates.at(0).spi, 1u);
    }
  }
}

TEST_F(XfrmProgrammerFaultTest, DumpFailureIsReportedAndLeavesKernelAlone) {
  EXPECT_CALL(mock_, DumpSas())
      .WillOnce(Return(absl::UnavailableError("netlink dump: EINTR")));
  EXPECT_CALL(mock_, AddSa(_)).Times(0);
  std::map<std::string, XfrmObjects> all{{"node-b", Peer(b_, 1, {1}, 1)}};
  ApplyResult result = faulty_.Reconcile(all, true);
  ASSERT_FALSE(result.ok());
  EXPECT_THAT(std::string(result.ToStatus().message()), HasSubstr("EINTR"));
  EXPECT_TRUE(faulty_.needs_resync());
}

TEST_F(XfrmProgrammerFaultTest, SaDeletedBehindOurBackIsAddedOnUpdate) {
  XfrmObjects desired = Peer(b_, 1, {1}, 0);
  ASSERT_TRUE(faulty_.ApplyGroup("node-b", desired).ok());
  ASSERT_TRUE(sim_.DeleteSa(desired.sas[0].id()).ok());
  NodeView rebooted = b_;
  rebooted.boot_id = "dddddddd-1111-2222-3333-444444444444";
  ApplyResult result = faulty_.ApplyGroup("node-b", Peer(rebooted, 1, {1}, 0));
  EXPECT_TRUE(result.ok()) << result.ToStatus();
  EXPECT_EQ(sim_.sa_count(), 1u);
}

}  // namespace
}  // namespace kmesh::ipsec
