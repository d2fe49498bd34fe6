// Attaching the encrypt marker to a pod's veth makes the node mark that pod's
// traffic to encrypt targets (seen here as the block policy catching it);
// detaching stops it; pods without a veth on the node are refused.
#include "sim/cluster/sim_encrypt_marker_attachment.h"

#include "gtest/gtest.h"
#include "sim/net/ip_packet.h"

namespace kmesh::sim {
namespace {

class SimEncryptMarkerAttachmentTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(net_.AddNode("node0").ok());
    ASSERT_TRUE(net_.AddNode("node1").ok());
    a_ = *net_.AddPod("default", "a", "node0");
    b_ = *net_.AddPod("default", "b", "node1");
    auto kernel = net_.kernel("node0");
    XfrmPolicy block;
    block.dir = XfrmDir::kOut;
    block.selector = XfrmSelector{IpPrefix::Any(IpFamily::kV4),
                                  IpPrefix::Any(IpFamily::kV4), 0};
    block.mark = XfrmMark{0xe0, 0xffffffff};
    block.action = XfrmAction::kBlock;
    ASSERT_TRUE(kernel->xfrm().AddPolicy(block).ok());
    ASSERT_TRUE(kernel->marker_maps().UpsertEncryptTarget(b_.ips[0]).ok());
  }
  bool Marked() {
    const uint8_t payload[] = {1};
    const SendResult r = net_.SendFromPod(
        "default", "a", BuildUdpPacket(a_.ips[0], b_.ips[0], 1, 2, payload));
    return r.sender_fate == PacketFate::kXfrmOutPolBlock;
  }

  SimNetwork net_;
  SimPodInfo a_, b_;
};

TEST_F(SimEncryptMarkerAttachmentTest, AttachAndDetachToggleTheMarker) {
  SimEncryptMarkerAttachment attachment(&net_, "node0");
  EXPECT_FALSE(Marked());
  ASSERT_TRUE(attachment.Attach({"default", "a", a_.ips}).ok());
  EXPECT_TRUE(Marked());
  ASSERT_TRUE(attachment.Detach({"default", "a", a_.ips}).ok());
  EXPECT_FALSE(Marked());
}

TEST_F(SimEncryptMarkerAttachmentTest, PodsWithoutAVethHereAreRefused) {
  SimEncryptMarkerAttachment attachment(&net_, "node0");
  EXPECT_EQ(attachment.Attach({"default", "b", b_.ips}).code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(attachment.Attach({"default", "zz", {}}).code(),
            absl::StatusCode::kNotFound);
  // Detaching from a pod that is gone is done already.
  EXPECT_TRUE(attachment.Detach({"default", "zz", {}}).ok());
}

}  // namespace
}  // namespace kmesh::sim
