// Request/response flows: every request and response is counted once, losses
// carry the fate that caused them, duplicates and reordering are noticed, and
// the background driver stops on time.
#include "sim/cluster/traffic.h"

#include <chrono>

#include "gtest/gtest.h"

namespace kmesh::sim {
namespace {

class TrafficTest : public ::testing::Test {
 protected:
  void SetUp() override {
    net_ = std::make_unique<SimNetwork>(SimNetworkOptions{.dual_stack = true});
    for (const char* n : {"node0", "node1", "node2"}) {
      ASSERT_TRUE(net_->AddNode(n).ok());
    }
    ASSERT_TRUE(net_->AddPod("default", "a", "node0").ok());
    ASSERT_TRUE(net_->AddPod("default", "b", "node1").ok());
    ASSERT_TRUE(net_->AddPod("other", "c", "node2").ok());
    traffic_ = std::make_unique<Traffic>(net_.get());
  }

  std::unique_ptr<SimNetwork> net_;
  std::unique_ptr<Traffic> traffic_;
};

TEST_F(TrafficTest, EveryRequestGetsItsResponse) {
  auto ab = traffic_->AddFlow({"default", "a", "default", "b"});
  auto ca6 =
      traffic_->AddFlow({"other", "c", "default", "a", IpFamily::kV6, 200});
  ASSERT_TRUE(ab.ok() && ca6.ok());
  for (int i = 0; i < 5; ++i) traffic_->SendRound();
  const auto stats = traffic_->Stats();
  ASSERT_EQ(stats.size(), 2u);
  for (const FlowStats& f : stats) {
    EXPECT_EQ(f.request.sent, 5u);
    EXPECT_EQ(f.request.received, 5u);
    EXPECT_EQ(f.response.sent, 5u);
    EXPECT_EQ(f.response.received, 5u);
    EXPECT_EQ(f.request.lost + f.response.lost, 0u);
  }
  EXPECT_TRUE(stats[1].client_ip.family() == IpFamily::kV6);
  const DirectionStats total = traffic_->Totals();
  EXPECT_EQ(total.sent, 20u);
  EXPECT_EQ(total.received, 20u);
  EXPECT_EQ(traffic_->rounds(), 5u);
  // 4 packets per round crossed the wire in clear (2 flows x 2 directions).
  EXPECT_EQ(net_->wire().PlaintextPackets(), 20u);
}

TEST_F(TrafficTest, ForcedDropsAreCountedWithTheirCause) {
  ASSERT_TRUE(traffic_->AddFlow({"default", "a", "default", "b"}).ok());
  traffic_->SendRound();
  // Requests to node1 are dropped on the wire: no response either.
  net_->SetWireFilter([](const std::string&, const std::string& to,
                         std::vector<uint8_t>&) { return to != "node1"; });
  traffic_->SendRound();
  traffic_->SendRound();
  net_->SetWireFilter(nullptr);
  // A block policy on node0 for everything: the kernel drops the request.
  XfrmPolicy block;
  block.dir = XfrmDir::kFwd;
  block.selector = XfrmSelector{IpPrefix::Any(IpFamily::kV4),
                                IpPrefix::Any(IpFamily::kV4), 0};
  block.action = XfrmAction::kBlock;
  ASSERT_TRUE(net_->kernel("node0")->xfrm().AddPolicy(block).ok());
  traffic_->SendRound();
  const FlowStats f = traffic_->Stats()[0];
  EXPECT_EQ(f.request.sent, 4u);
  EXPECT_EQ(f.request.received, 1u);
  EXPECT_EQ(f.request.lost, 3u);
  EXPECT_EQ(
      f.request.losses_by_cause,
      (std::map<std::string, uint64_t>{{"WireDrop", 2}, {"XfrmInPolBlock", 1}}))
      << FormatDirectionStats(f.request);
  EXPECT_EQ(f.response.sent, 1u);
  EXPECT_EQ(f.response.received, 1u);
}

TEST_F(TrafficTest, DuplicatedPacketsAreCountedOnce) {
  ASSERT_TRUE(traffic_->AddFlow({"default", "a", "default", "b"}).ok());
  // Replay every request that crosses to node1 once more, right behind it.
  std::vector<std::vector<uint8_t>> copies;
  net_->SetWireFilter(
      [&](const std::string&, const std::string& to, std::vector<uint8_t>& p) {
        if (to == "node1") copies.push_back(p);
        return true;
      });
  traffic_->SendRound();
  traffic_->SendRound();
  net_->SetWireFilter(nullptr);
  ASSERT_EQ(copies.size(), 2u);
  // Out of order: seq 2 was seen, now seq 1 again is a duplicate.
  EXPECT_EQ(net_->kernel("node1")->ReceiveFromWire(copies[0]),
            PacketFate::kDelivered);
  const FlowStats f = traffic_->Stats()[0];
  EXPECT_EQ(f.request.received, 2u);
  EXPECT_EQ(f.request.duplicates, 1u);
}

TEST_F(TrafficTest, LongRunsKeepCountingReorderingAndDuplicates) {
  ASSERT_TRUE(traffic_->AddFlow({"default", "a", "default", "b"}).ok());
  std::vector<std::vector<uint8_t>> requests;
  net_->SetWireFilter(
      [&](const std::string&, const std::string& to, std::vector<uint8_t>& p) {
        if (to == "node1") requests.push_back(p);
        return true;
      });
  const int rounds = static_cast<int>(Traffic::kReceiveWindow) + 10;
  for (int i = 0; i < rounds; ++i) traffic_->SendRound();
  net_->SetWireFilter(nullptr);
  auto kernel = net_->kernel("node1");
  // Recent: a duplicate. Beyond the window: counted as late, not as lost.
  kernel->ReceiveFromWire(requests[rounds - 5]);
  kernel->ReceiveFromWire(requests[0]);
  const FlowStats f = traffic_->Stats()[0];
  EXPECT_EQ(f.request.duplicates, 1u);
  EXPECT_EQ(f.request.out_of_order, 1u);
  EXPECT_EQ(f.request.received, static_cast<uint64_t>(rounds) + 1);
}

TEST_F(TrafficTest, UnknownPodsAndMissingFamiliesAreRejected) {
  EXPECT_EQ(
      traffic_->AddFlow({"default", "zz", "default", "b"}).status().code(),
      absl::StatusCode::kNotFound);
  SimNetwork v4_only;
  ASSERT_TRUE(v4_only.AddNode("n").ok());
  ASSERT_TRUE(v4_only.AddPod("default", "p", "n").ok());
  ASSERT_TRUE(v4_only.AddPod("default", "q", "n").ok());
  Traffic t(&v4_only);
  EXPECT_EQ(t.AddFlow({"default", "p", "default", "q", IpFamily::kV6})
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(TrafficTest, BackgroundDriverStopsWhenAsked) {
  ASSERT_TRUE(traffic_->AddFlow({"default", "a", "default", "b"}).ok());
  ASSERT_TRUE(traffic_->Start(1000, std::chrono::minutes(1)).ok());
  EXPECT_FALSE(traffic_->Start(1000, std::chrono::minutes(1)).ok());
  traffic_->Stop();
  EXPECT_FALSE(traffic_->running());
  const uint64_t rounds = traffic_->rounds();
  const DirectionStats total = traffic_->Totals();
  EXPECT_EQ(total.sent, 2 * rounds);
  EXPECT_EQ(total.lost, 0u);
  // A bounded run ends by itself.
  ASSERT_TRUE(traffic_->Start(1000, std::chrono::milliseconds(1)).ok());
  for (int i = 0; i < 2000 && traffic_->running(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  EXPECT_FALSE(traffic_->running());
}

}  // namespace
}  // namespace kmesh::sim
