// UninstallNode on a simulated kernel (SimKernel: XFRM tables, marker hooks
// and maps as Linux has them) with a scripted API client: it removes the
// product's SAs, policies (block policies last), markers, maps and the
// node's KmeshNodeInfo, and nothing of another IPsec user; a second run
// finds nothing and succeeds; each failing step keeps what protects
// traffic (above all the block policy while a marker may still mark).
#include "kmesh/agent/node_uninstall.h"

#include <memory>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "kmesh/ipsec/key_ring.h"
#include "kmesh/ipsec/testing/peer_layout.h"
#include "kmesh/ipsec/testing/test_nodes.h"
#include "kmesh/ipsec/testing/test_psk.h"
#include "kmesh/ipsec/testing/xfrm_objects.h"
#include "kmesh/ipsec/xfrm_layout.h"
#include "kmesh/kube/testing/mock_kube_client.h"
#include "sim/kernel/sim_kernel.h"

namespace kmesh::agent {
namespace {

using ::kmesh::ipsec::DumpedPolicies;
using ::kmesh::ipsec::DumpedSas;
using ::kmesh::ipsec::OwnedPolicies;
using ::kmesh::ipsec::OwnedSas;
using ::testing::_;
using ::testing::Eq;
using ::testing::HasSubstr;
using ::testing::Return;

// A node's kernel as a running daemon leaves it: block policies, a peer's
// SAs and policies, both markers attached, map entries; plus another IPsec
// user's SA and policy.
class NodeUninstallTest : public ::testing::Test {
 protected:
  void SetUp() override {
    self_ = ipsec::TestNodeView(0);
    peer_ = ipsec::TestNodeView(1);
    const IpAddress self_address = *IpAddress::Parse(self_.addresses[0]);
    const IpAddress peer_address = *IpAddress::Parse(peer_.addresses[0]);
    kernel_.AddNodeAddress(self_address);
    pod_ip_ = ipsec::PodIp(self_, IpFamily::kV4);
    kernel_.AddPod("app", pod_ip_, [](absl::Span<const uint8_t>) {});

    ipsec::KeyRing keys;
    keys.Install(1, ipsec::TestPsk(1));
    ipsec::XfrmObjects objects =
        ipsec::PeerObjects(self_, peer_, 1, keys, {1}, 1);
    ASSERT_FALSE(objects.sas.empty());
    for (const XfrmPolicy& p : ipsec::LayoutCatchAll().policies) {
      ASSERT_TRUE(kernel_.xfrm().AddPolicy(p).ok());
    }
    for (const XfrmSa& sa : objects.sas) {
      ASSERT_TRUE(kernel_.xfrm().AddSa(sa).ok());
    }
    for (const XfrmPolicy& p : objects.policies) {
      ASSERT_TRUE(kernel_.xfrm().AddPolicy(p).ok());
    }
    foreign_sa_ = ipsec::ForeignSa("192.168.9.1", "192.168.9.2", 0x100, 7);
    foreign_policy_ = ipsec::ForeignPolicy(XfrmDir::kOut, "192.168.10.0/24",
                                           "192.168.9.1", "192.168.9.2", 7);
    ASSERT_TRUE(kernel_.xfrm().AddSa(foreign_sa_).ok());
    ASSERT_TRUE(kernel_.xfrm().AddPolicy(foreign_policy_).ok());

    ASSERT_TRUE(kernel_.encrypt_marker_attachment()
                    .Attach(LocalPod{"default", "app", {pod_ip_}})
                    .ok());
    ASSERT_TRUE(kernel_.SetDecryptMarker(true, {self_address}).ok());
    ASSERT_TRUE(kernel_.marker_maps().UpsertPeer(peer_address, 1).ok());
    ASSERT_TRUE(kernel_.marker_maps()
                    .UpsertEncryptCidr(*IpPrefix::Parse("10.244.2.0/24"))
                    .ok());
    ASSERT_TRUE(kernel_.marker_maps()
                    .UpsertUnmanagedPod(*IpAddress::Parse("10.244.2.9"))
                    .ok());
    owned_sas_ = OwnedSas(DumpedSas(kernel_.xfrm())).size();
    owned_policies_ = OwnedPolicies(DumpedPolicies(kernel_.xfrm())).size();
    ASSERT_GT(owned_sas_, 0u);
    ASSERT_GT(owned_policies_, 2u);
  }

  size_t BlockPolicies() {
    size_t n = 0;
    for (const XfrmPolicy& p : DumpedPolicies(kernel_.xfrm())) {
      n += ipsec::IsOwnedPolicy(p) && ipsec::IsBlockPolicy(p);
    }
    return n;
  }

  void ExpectForeignKept() {
    ipsec::ExpectEachOnce(DumpedSas(kernel_.xfrm()), {foreign_sa_});
    ipsec::ExpectEachOnce(DumpedPolicies(kernel_.xfrm()), {foreign_policy_});
  }

  ipsec::NodeView self_, peer_;
  IpAddress pod_ip_;
  sim::SimKernel kernel_{"node-0", 10};
  kube::MockKubeClient client_;
  XfrmSa foreign_sa_;
  XfrmPolicy foreign_policy_;
  size_t owned_sas_ = 0, owned_policies_ = 0;
};

TEST_F(NodeUninstallTest, RemovesExactlyWhatTheProductOwnsThenFindsNothing) {
  // Its own record, and only that one.
  EXPECT_CALL(client_, Delete(_, Eq("kmesh-system"), Eq("node-0")))
      .WillOnce(Return(absl::OkStatus()))
      .WillOnce(Return(absl::NotFoundError("kmeshnodeinfos \"node-0\"")));
  auto report = UninstallNode("node-0", &client_, &kernel_);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(report->sas_removed, owned_sas_);
  EXPECT_EQ(report->policies_removed, owned_policies_);
  EXPECT_TRUE(OwnedSas(DumpedSas(kernel_.xfrm())).empty());
  EXPECT_TRUE(OwnedPolicies(DumpedPolicies(kernel_.xfrm())).empty());
  ExpectForeignKept();
  EXPECT_FALSE(kernel_.AnyMarkerAttached());
  EXPECT_TRUE(kernel_.marker_maps().DumpPeers()->empty());
  EXPECT_TRUE(kernel_.marker_maps().DumpEncryptCidrs()->empty());
  EXPECT_TRUE(kernel_.marker_maps().DumpUnmanagedPods()->empty());

  // Again: nothing left to remove, and that is success.
  auto again = UninstallNode("node-0", &client_, &kernel_);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->sas_removed, 0u);
  EXPECT_EQ(again->policies_removed, 0u);
  ExpectForeignKept();
}

// A NodeBackends whose encrypt marker cannot be detached.
class StuckEncryptMarker : public NodeBackends {
 public:
  explicit StuckEncryptMarker(sim::SimKernel* kernel) : kernel_(kernel) {}
  XfrmKernel& xfrm() override { return kernel_->xfrm(); }
  MarkerMaps& marker_maps() override { return kernel_->marker_maps(); }
  EncryptMarkerAttachment& encrypt_marker_attachment() override {
    return kernel_->encrypt_marker_attachment();
  }
  absl::Status SetDecryptMarker(bool attach,
                                const std::vector<IpAddress>& a) override {
    return kernel_->SetDecryptMarker(attach, a);
  }
  absl::Status DetachEncryptMarkerEverywhere() override {
    return absl::PermissionDeniedError("detach encrypt marker from veth-app");
  }
  absl::Status RemoveMarkers() override { return kernel_->RemoveMarkers(); }

 private:
  sim::SimKernel* const kernel_;
};

TEST_F(NodeUninstallTest, EncryptMarkerDetachFailureKeepsTheBlockPolicy) {
  StuckEncryptMarker node(&kernel_);
  EXPECT_CALL(client_, Delete(_, _, _)).Times(0);
  auto report = UninstallNode("node-0", &client_, &node);
  ASSERT_FALSE(report.ok());
  EXPECT_EQ(report.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(report.status().message(), HasSubstr("block policy"));
  EXPECT_THAT(report.status().message(), HasSubstr("again"));
  EXPECT_EQ(BlockPolicies(), 2u);
  EXPECT_EQ(OwnedSas(DumpedSas(kernel_.xfrm())).size(), owned_sas_);
  EXPECT_EQ(OwnedPolicies(DumpedPolicies(kernel_.xfrm())).size(),
            owned_policies_);
  EXPECT_TRUE(kernel_.AnyMarkerAttached());
}

TEST_F(NodeUninstallTest, RecordDeleteFailureKeepsTheKernelState) {
  EXPECT_CALL(client_, Delete(_, _, _))
      .WillOnce(Return(absl::PermissionDeniedError(
          "kmeshnodeinfos is forbidden: cannot delete")));
  auto report = UninstallNode("node-0", &client_, &kernel_);
  ASSERT_FALSE(report.ok());
  EXPECT_THAT(report.status().message(), HasSubstr("KmeshNodeInfo node-0"));
  EXPECT_THAT(report.status().message(), HasSubstr("forbidden"));
  EXPECT_EQ(OwnedSas(DumpedSas(kernel_.xfrm())).size(), owned_sas_);
  EXPECT_EQ(BlockPolicies(), 2u);
}

TEST_F(NodeUninstallTest, XfrmDeleteFailureKeepsTheBlockPolicyAndRetries) {
  EXPECT_CALL(client_, Delete(_, _, _))
      .WillRepeatedly(Return(absl::OkStatus()));
  kernel_.xfrm().FailNext(XfrmOp::kDeleteSa, 1,
                          absl::PermissionDeniedError("EPERM"));
  auto report = UninstallNode("node-0", &client_, &kernel_);
  ASSERT_FALSE(report.ok());
  EXPECT_THAT(report.status().message(), HasSubstr("EPERM"));
  EXPECT_THAT(report.status().message(), HasSubstr("block polic"));
  EXPECT_EQ(BlockPolicies(), 2u);
  EXPECT_EQ(OwnedSas(DumpedSas(kernel_.xfrm())).size(), 1u);
  // The next run finishes the job.
  auto again = UninstallNode("node-0", &client_, &kernel_);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->sas_removed, 1u);
  EXPECT_TRUE(OwnedPolicies(DumpedPolicies(kernel_.xfrm())).empty());
  ExpectForeignKept();
}

TEST_F(NodeUninstallTest, NeedsTheNodeName) {
  auto report = UninstallNode("", &client_, &kernel_);
  EXPECT_EQ(report.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(BlockPolicies(), 2u);
}

}  // namespace
}  // namespace kmesh::agent
