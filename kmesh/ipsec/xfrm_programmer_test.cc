#include "kmesh/ipsec/xfrm_programmer.h"

#include <algorithm>
#include <map>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "kmesh/ipsec/testing/peer_layout.h"
#include "kmesh/ipsec/testing/test_nodes.h"
#include "kmesh/ipsec/testing/test_psk.h"
#include "kmesh/ipsec/testing/xfrm_objects.h"
#include "kmesh/kernel/testing/mock_xfrm_kernel.h"
#include "kmesh/kernel/testing/recording_xfrm_kernel.h"
#include "sim/kernel/xfrm/sim_xfrm.h"

namespace kmesh::ipsec {
namespace {

using ::testing::_;
using ::testing::HasSubstr;
using ::testing::Return;

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
    keys_.Install(1, TestPsk(1));
    keys_.Install(2, TestPsk(2));
  }
  XfrmObjects Peer(const NodeView& peer, uint16_t index,
                   std::vector<int32_t> inbound, int32_t outbound) {
    return PeerObjects(self_, peer, index, keys_, std::move(inbound), outbound);
  }
  // Same destination as ours; an unmarked SA with our SPI would block ours
  // on Linux (the mark lookup is asymmetric), so another SPI.
  const XfrmSa foreign_sa_ =
      ForeignSa("192.168.7.1", "10.0.0.1", /*spi=*/0x1000, /*reqid=*/1);
  // The same selector as our out policy to node-b.
  const XfrmPolicy foreign_policy_ = ForeignPolicy(
      XfrmDir::kOut, "10.244.1.0/24", "10.0.0.1", "192.168.7.1", /*reqid=*/1);

  KeyRing keys_;
  NodeView self_ =
      MakeNodeView("node-a", {"10.0.0.1"}, TestBootId(1), {"10.244.0.0/24"});
  NodeView b_ =
      MakeNodeView("node-b", {"10.0.0.2"}, TestBootId(2), {"10.244.1.0/24"});
  NodeView c_ =
      MakeNodeView("node-c", {"10.0.0.3"}, TestBootId(3), {"10.244.2.0/24"});
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
  rebooted.boot_id = TestBootId(2, 1);
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
  ASSERT_TRUE(sim_.AddSa(foreign_sa_).ok());
  ASSERT_TRUE(sim_.AddPolicy(foreign_policy_).ok());
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
  EXPECT_TRUE(SameSa(sas[0], foreign_sa_));
  EXPECT_TRUE(SamePolicy((*kernel_.DumpPolicies())[0], foreign_policy_));
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
    mock_.DelegateTo(&kernel_);
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
      .WillRepeatedly(::testing::Invoke(&kernel_, &RecordingXfrmKernel::AddSa));
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
  rebooted.boot_id = TestBootId(2, 1);
  ApplyResult result = faulty_.ApplyGroup("node-b", Peer(rebooted, 1, {1}, 0));
  EXPECT_TRUE(result.ok()) << result.ToStatus();
  EXPECT_EQ(sim_.sa_count(), 1u);
}

}  // namespace
}  // namespace kmesh::ipsec
