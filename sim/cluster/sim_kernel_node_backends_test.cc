// A simulated node's kernel as the IPsec agent sees it (NodeBackends), in a
// simulated network: attaching the encrypt marker to a pod's veth makes the
// node mark that pod's traffic to encrypt targets (seen here as the block
// policy catching it) on every address of the veth; detaching stops it; pods
// without a veth on the node are refused, as tc would refuse them; the
// decrypt marker attaches only where an interface carries the node's
// addresses.
#include "gtest/gtest.h"
#include "kmesh/kernel/kernel_error.h"
#include "kmesh/kernel/node_backends.h"
#include "sim/cluster/sim_network.h"
#include "sim/net/ip_packet.h"

namespace kmesh::sim {
namespace {

class SimKernelNodeBackendsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(net_.AddNode("node0").ok());
    ASSERT_TRUE(net_.AddNode("node1").ok());
    a_ = *net_.AddPod("default", "a", "node0");
    b_ = *net_.AddPod("default", "b", "node1");
    node0_ = net_.kernel("node0");
    for (const IpAddress& target : b_.ips) {
      const IpFamily family = target.family();
      XfrmPolicy block;
      block.dir = XfrmDir::kOut;
      block.selector =
          XfrmSelector{IpPrefix::Any(family), IpPrefix::Any(family), 0};
      block.mark = XfrmMark{0xe0, 0xffffffff};
      block.action = XfrmAction::kBlock;
      ASSERT_TRUE(backends().xfrm().AddPolicy(block).ok());
      ASSERT_TRUE(backends()
                      .marker_maps()
                      .UpsertEncryptCidr(IpPrefix::Host(target))
                      .ok());
    }
  }
  NodeBackends& backends() { return *node0_; }
  // Whether a's packet to b's address of `family` is marked.
  bool Marked(size_t address = 0) {
    const uint8_t payload[] = {1};
    const SendResult r = net_.SendFromPod(
        "default", "a",
        BuildUdpPacket(a_.ips[address], b_.ips[address], 1, 2, payload));
    return r.sender_fate == PacketFate::kXfrmOutPolBlock;
  }

  SimNetwork net_;
  SimPodInfo a_, b_;
  std::shared_ptr<SimKernel> node0_;
};

TEST_F(SimKernelNodeBackendsTest, AttachAndDetachToggleTheMarkerOnTheVeth) {
  EncryptMarkerAttachment& attachment = backends().encrypt_marker_attachment();
  EXPECT_FALSE(Marked());
  // Found by its first IP; the hook covers every address behind the veth.
  ASSERT_TRUE(attachment.Attach({"default", "a", {a_.ips[0]}}).ok());
  for (size_t i = 0; i < a_.ips.size(); ++i) EXPECT_TRUE(Marked(i)) << i;
  ASSERT_TRUE(attachment.Detach({"default", "a", a_.ips}).ok());
  for (size_t i = 0; i < a_.ips.size(); ++i) EXPECT_FALSE(Marked(i)) << i;
}

TEST_F(SimKernelNodeBackendsTest, PodsWithoutAVethHereAreRefused) {
  EncryptMarkerAttachment& attachment = backends().encrypt_marker_attachment();
  const absl::Status remote = attachment.Attach({"default", "b", b_.ips});
  EXPECT_EQ(remote.code(), absl::StatusCode::kNotFound) << remote;
  EXPECT_EQ(KernelErrno(remote), ENODEV) << remote;
  EXPECT_EQ(attachment.Attach({"default", "zz", {}}).code(),
            absl::StatusCode::kNotFound);
  // Detaching from a pod that is gone is done already.
  EXPECT_TRUE(attachment.Detach({"default", "zz", {}}).ok());
}

TEST_F(SimKernelNodeBackendsTest, DecryptMarkerNeedsAnInterfaceWithTheAddress) {
  const absl::Status elsewhere =
      backends().SetDecryptMarker(true, {*IpAddress::Parse("192.0.2.99")});
  EXPECT_EQ(elsewhere.code(), absl::StatusCode::kNotFound) << elsewhere;
  EXPECT_TRUE(backends().SetDecryptMarker(false, {}).ok());
  EXPECT_TRUE(backends().SetDecryptMarker(true, node0_->node_addresses()).ok());
  EXPECT_TRUE(
      backends().SetDecryptMarker(false, node0_->node_addresses()).ok());
}

}  // namespace
}  // namespace kmesh::sim
