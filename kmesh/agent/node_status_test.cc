#include "kmesh/agent/node_status.h"

#include <chrono>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "kmesh/ipsec/testing/test_cluster.h"
#include "kmesh/ipsec/testing/test_psk.h"
#include "nlohmann/json.hpp"
#include "sim/kernel/xfrm/xfrm_stat.h"

namespace kmesh::agent {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr Duration kGrace = std::chrono::minutes(5);

// Three nodes rotated from SPI 1 to SPI 2, within the grace period: what
// node-1's status says about its kernel.
class NodeStatusTest : public ::testing::Test {
 protected:
  NodeStatusTest() : cluster_(3, Options()) {
    cluster_.StartAll();
    cluster_.RollOutKey(1);
    cluster_.RollOutKey(2);
  }
  static ipsec::IpsecControllerOptions Options() {
    ipsec::IpsecControllerOptions options;
    options.grace_period = kGrace;
    return options;
  }
  NodeStatus StatusOf(int i, const XfrmStats& at_start = {}) {
    ipsec::ClusterNode& node = *cluster_.nodes[i];
    NodeStatus status;
    status.node = node.view.name;
    status.now = cluster_.clock.Now();
    status.daemon_started = status.now - std::chrono::seconds(30);
    status.grace_period = kGrace;
    status.controller = node.controller->Snapshot();
    ReadKernelStatus(node.kernel, at_start, &status);
    return status;
  }
  ipsec::TestCluster cluster_;
};

TEST_F(NodeStatusTest, GroupsOwnedObjectsBySpiAndDirection) {
  const NodeStatus status = StatusOf(1);
  EXPECT_EQ(status.kernel_error, "");
  ASSERT_EQ(status.spis.size(), 2u);
  // SPI 1: inbound SAs from both peers kept for the grace period, the
  // retiring outbound SAs without a policy.
  EXPECT_EQ(status.spis[0].spi, 1);
  EXPECT_EQ(status.spis[0].inbound_sas, 2);
  EXPECT_EQ(status.spis[0].outbound_sas, 2);
  EXPECT_EQ(status.spis[0].out_policies, 0);
  EXPECT_EQ(status.spis[1].spi, 2);
  EXPECT_EQ(status.spis[1].inbound_sas, 2);
  EXPECT_EQ(status.spis[1].outbound_sas, 2);
  EXPECT_GE(status.spis[1].out_policies, 2);
  EXPECT_GT(status.block_policies, 0);
  EXPECT_GT(status.in_policies + status.fwd_policies, 0);
  ASSERT_EQ(status.outbound_sas.size(), 4u);
  EXPECT_EQ(status.outbound_sas[0].peer, "node-0");
  EXPECT_EQ(status.outbound_sas[0].spi, 1);
  EXPECT_EQ(status.outbound_sas[1].peer, "node-0");
  EXPECT_EQ(status.outbound_sas[1].spi, 2);
  EXPECT_EQ(status.outbound_sas[3].peer, "node-2");
  for (const auto& sa : status.outbound_sas) {
    EXPECT_EQ(sa.output_seq, 0u) << "no packet was sent";
    EXPECT_EQ(sa.seq_used, 0.0);
  }
}

TEST_F(NodeStatusTest, XfrmStatChangesAreCountedFromTheDaemonsStart) {
  const NodeStatus now = StatusOf(1);
  ASSERT_FALSE(now.xfrm_stats.empty());
  XfrmStats at_start;
  for (const auto& s : now.xfrm_stats) at_start.emplace_back(s.name, s.value);
  // Pretend XfrmInNoStates was 3 lower when the daemon started.
  for (auto& [name, value] : at_start) {
    if (name == "XfrmInNoStates") value = value >= 3 ? value - 3 : 0;
  }
  const NodeStatus later = StatusOf(1, at_start);
  for (const auto& s : later.xfrm_stats) {
    if (s.name == "XfrmInNoStates") {
      EXPECT_EQ(s.since_start, s.value >= 3 ? 3u : s.value);
    } else {
      EXPECT_EQ(s.since_start, 0u) << s.name;
    }
  }
}

// Without a baseline (xfrm_stat unreadable at start) nothing counts as
// risen: an empty baseline must not report every error since boot.
TEST_F(NodeStatusTest, NoBaselineMeansNothingRose) {
  cluster_.nodes[1]->sim.IncrementStat(sim::XfrmStat::kInNoStates, 7);
  const NodeStatus status = StatusOf(1, /*at_start=*/{});
  bool saw = false;
  for (const auto& s : status.xfrm_stats) {
    EXPECT_EQ(s.since_start, 0u) << s.name;
    if (s.name == "XfrmInNoStates") saw = s.value >= 7;
  }
  EXPECT_TRUE(saw);
}

TEST_F(NodeStatusTest, JsonCarriesTheRotationAndNoKeyMaterial) {
  const std::string text = NodeStatusJson(StatusOf(1));
  const nlohmann::json j = nlohmann::json::parse(text);
  EXPECT_EQ(j["kind"], "KmeshIpsecNodeStatus");
  EXPECT_EQ(j["node"], "node-1");
  EXPECT_EQ(j["advertisedSpi"], 2);
  EXPECT_EQ(j["targetSpi"], 2);
  EXPECT_EQ(j["uptimeSeconds"], 30.0);
  EXPECT_EQ(j["gracePeriodSeconds"], 300.0);
  ASSERT_EQ(j["pendingReclaims"].size(), 1u);
  EXPECT_EQ(j["pendingReclaims"][0]["spi"], 1);
  EXPECT_LE(j["pendingReclaims"][0]["dueInSeconds"].get<double>(), 300.0);
  ASSERT_EQ(j["peers"].size(), 2u);
  for (const auto& p : j["peers"]) {
    EXPECT_EQ(p["state"], "programmed");
    EXPECT_EQ(p["outboundSpi"], 2);
    EXPECT_EQ(p["retiringOutboundSpis"], nlohmann::json::array({1}));
  }
  EXPECT_EQ(j["kernel"]["spis"].size(), 2u);
  EXPECT_EQ(j["kernel"]["outboundSas"].size(), 4u);
  EXPECT_TRUE(j["kernel"]["xfrmStatChangedSinceStart"].empty());
  EXPECT_TRUE(j["kernel"]["xfrmStat"].contains("XfrmInNoStates"));
  // No key bytes: neither the pre-shared keys nor any SA's key appear.
  std::vector<XfrmKey> keys = {ipsec::TestPsk(1), ipsec::TestPsk(2)};
  absl::StatusOr<std::vector<XfrmSa>> sas = cluster_.nodes[1]->sim.DumpSas();
  ASSERT_TRUE(sas.ok());
  for (const XfrmSa& sa : *sas) keys.push_back(sa.aead_key);
  for (const XfrmKey& key : keys) {
    std::string hex;
    for (size_t i = 0; i < 8 && i < key.size(); ++i) {
      static const char* digits = "0123456789abcdef";
      hex += digits[key.data()[i] >> 4];
      hex += digits[key.data()[i] & 15];
    }
    EXPECT_EQ(text.find(hex), std::string::npos);
  }
}

TEST_F(NodeStatusTest, AFailingKernelReadIsReportedNotHidden) {
  ipsec::ClusterNode& node = *cluster_.nodes[1];
  node.sim.FailNext(XfrmOp::kDumpSas, 1,
                    absl::UnavailableError("netlink socket closed"));
  const NodeStatus status = StatusOf(1);
  EXPECT_THAT(status.kernel_error,
              HasSubstr("dump SAs: netlink socket closed"));
  EXPECT_TRUE(status.outbound_sas.empty());
  const nlohmann::json j = nlohmann::json::parse(NodeStatusJson(status));
  EXPECT_THAT(j["kernel"]["error"].get<std::string>(),
              HasSubstr("netlink socket closed"));
}

// An error text with bytes that are not UTF-8 (a kernel or library message)
// must not make the status unserializable.
TEST(NodeStatusJsonTest, InvalidUtf8IsReplacedNotThrown) {
  NodeStatus status;
  status.node = "node-x";
  ipsec::IpsecControllerSnapshot::Peer peer;
  peer.name = "node-y";
  peer.problem = "add SA: \xff\xfe garbage";
  status.controller.peers.push_back(peer);
  status.kernel_error = "dump: \xc3";
  std::string text;
  ASSERT_NO_THROW(text = NodeStatusJson(status));
  const nlohmann::json j = nlohmann::json::parse(text);
  EXPECT_THAT(j["peers"][0]["problem"].get<std::string>(),
              HasSubstr("garbage"));
  EXPECT_EQ(j["peers"][0]["state"], "error");
}

}  // namespace
}  // namespace kmesh::agent
