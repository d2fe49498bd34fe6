// End to end on the simulated cluster: the daemon's life cycle under
// continuous traffic. Three nodes run the production IpsecAgent; managed pods
// on every node talk to each other (request/response, every ordered pair) on
// a background thread while every daemon in turn is stopped and a new one
// started, as a DaemonSet rolling update does (SIGTERM) or as a crash does
// (kill -9). The daemon stays down for a while before its successor starts.
// Invariants over the whole run, from the moment the key has converged:
// nothing lost, no managed packet in clear on the wire, no xfrm_stat error
// counter moved, no XFRM object deleted or added (the successor adopts what
// it finds, without a flap), every node's KmeshNodeInfo present with the same
// SPI at every poll; and afterwards the restarted daemons still work: a
// rotation to spi 2 converges, again losing nothing. Then the faults a node
// heals by itself (SelfRepairE2eTest): its record deleted or altered by
// someone else, its boot ID changed in its Node object, and an SA of the
// product's that the new daemon cannot derive (another version's).
#include <chrono>
#include <filesystem>
#include <functional>
#include <iostream>
#include <map>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "kmesh/api/ipsec_key_codec.h"
#include "kmesh/base/clock.h"
#include "kmesh/base/testing/test_directory.h"
#include "kmesh/crypto/random.h"
#include "kmesh/ipsec/xfrm_layout.h"
#include "kmesh/kube/kube_client.h"
#include "nlohmann/json.hpp"
#include "sim/cluster/daemon_node_agent.h"
#include "sim/cluster/managed_mesh.h"
#include "sim/cluster/sim_cluster.h"
#include "sim/cluster/traffic.h"
#include "sim/kernel/xfrm/xfrm_stat.h"

namespace kmesh::sim {
namespace {

using std::chrono::milliseconds;

// How long a stopped daemon stays down before its successor starts (a
// rolling update pulls and starts the new pod meanwhile).
constexpr milliseconds kDowntime{400};

// The production daemon, starting kDowntime after it is asked to (the gap
// between the old process's exit and the new one's start).
class DelayedStartAgent : public NodeAgent {
 public:
  explicit DelayedStartAgent(std::unique_ptr<NodeAgent> agent)
      : agent_(std::move(agent)) {}
  ~DelayedStartAgent() override { Stop(AgentStop::kKill); }
  absl::Status Start() override {
    std::this_thread::sleep_for(kDowntime);
    return agent_->Start();
  }
  void Stop(AgentStop mode) override { agent_->Stop(mode); }
  uint16_t status_port() const override { return agent_->status_port(); }

 private:
  std::unique_ptr<NodeAgent> agent_;
};

// Every XFRM kernel operation that changes the tables.
uint64_t XfrmChanges(SimXfrm& xfrm) {
  uint64_t n = 0;
  for (XfrmOp op :
       {XfrmOp::kAddSa, XfrmOp::kUpdateSa, XfrmOp::kDeleteSa,
        XfrmOp::kAddPolicy, XfrmOp::kUpdatePolicy, XfrmOp::kDeletePolicy}) {
    n += xfrm.OperationCount(op);
  }
  return n;
}

class LifecycleE2eTest : public ::testing::TestWithParam<AgentStop> {
 protected:
  void SetUp() override {
    dir_ = ::kmesh::testing::NewTestDirectory("kmesh-lifecycle");
    SimClusterOptions options;
    options.state_dir = dir_;
    options.ipsec_grace_period = std::chrono::seconds(2);
    auto daemon = DaemonNodeAgentFactory();
    ASSERT_TRUE(daemon.ok()) << daemon.status();
    // The first start is immediate; every later one (a restart) waits.
    options.agent_factory = [this,
                             factory = *daemon](const NodeAgentContext& context)
        -> absl::StatusOr<std::unique_ptr<NodeAgent>> {
      auto agent = factory(context);
      if (!agent.ok() || !delay_starts_) return agent;
      return std::unique_ptr<NodeAgent>(
          new DelayedStartAgent(*std::move(agent)));
    };
    auto cluster = SimCluster::Start(options);
    ASSERT_TRUE(cluster.ok()) << cluster.status();
    cluster_ = *std::move(cluster);
    traffic_ = std::make_unique<Traffic>(&cluster_->network());
    auto pairs = StartManagedMesh(cluster_.get(), traffic_.get());
    ASSERT_TRUE(pairs.ok()) << pairs.status();
    managed_pairs_ = *std::move(pairs);
  }

  void TearDown() override {
    traffic_.reset();
    if (cluster_) cluster_->Stop();
    cluster_.reset();
    std::filesystem::remove_all(dir_);
  }

  void WriteSecret(int spi) {
    ASSERT_TRUE(cluster_->WriteIpsecSecret(spi).ok());
  }

  // Polls `done` for up to 30 s while the background traffic runs.
  bool WaitFor(const std::function<bool()>& done) {
    const auto deadline =
        std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (std::chrono::steady_clock::now() < deadline) {
      if (done()) return true;
      std::this_thread::sleep_for(milliseconds(20));
    }
    return false;
  }

  // Waits until the background traffic has sent `rounds` more rounds.
  void LetTrafficRun(uint64_t rounds) {
    const uint64_t until = traffic_->rounds() + rounds;
    ASSERT_TRUE(WaitFor([&] { return traffic_->rounds() >= until; }));
  }

  uint64_t ManagedPlaintext() {
    uint64_t n = 0;
    for (const auto& [a, b] : managed_pairs_) {
      n += cluster_->network().wire().PlaintextPackets(a.ips[0], b.ips[0]);
    }
    return n;
  }

  std::map<std::string, std::vector<uint64_t>> XfrmStats() {
    return cluster_->XfrmStats();
  }

  std::map<std::string, uint64_t> KernelChanges() {
    std::map<std::string, uint64_t> out;
    for (const std::string& node : cluster_->node_names()) {
      out[node] = XfrmChanges(cluster_->network().kernel(node)->xfrm());
    }
    return out;
  }

  // Every node advertises `spi` in its KmeshNodeInfo.
  bool EveryRecordAt(int spi) { return cluster_->AllNodesAdvertise(spi); }

  bool delay_starts_ = false;
  std::string dir_;
  std::unique_ptr<SimCluster> cluster_;
  std::unique_ptr<Traffic> traffic_;
  std::vector<std::pair<SimPodInfo, SimPodInfo>> managed_pairs_;
};

TEST_P(LifecycleE2eTest,
       RestartingEveryDaemonUnderTrafficLosesNothingSendsNothingInClear) {
  WriteSecret(1);
  ASSERT_TRUE(WaitFor([&] {
    traffic_->SendRound();
    return EveryRecordAt(1) && cluster_->EspBetweenAllNodes(1);
  }));
  // Converged: every pair talks ESP. From here on nothing may be lost.
  for (int i = 0; i < 10; ++i) traffic_->SendRound();
  const DirectionStats before = traffic_->Totals();
  ASSERT_EQ(before.sent, before.received) << FormatDirectionStats(before);
  const uint64_t plain_before = ManagedPlaintext();
  const auto stats_before = XfrmStats();
  const auto changes_before = KernelChanges();

  delay_starts_ = true;
  ASSERT_TRUE(traffic_->Start(200, std::chrono::minutes(2)).ok());
  uint64_t record_missing = 0;
  for (const std::string& node : cluster_->node_names()) {
    std::thread restart([&, node] {
      EXPECT_TRUE(cluster_->RestartAgent(node, GetParam()).ok()) << node;
    });
    // While it is down and while its successor starts: every record stays.
    const auto until = std::chrono::steady_clock::now() + kDowntime * 2;
    while (std::chrono::steady_clock::now() < until) {
      if (!EveryRecordAt(1)) ++record_missing;
      std::this_thread::sleep_for(milliseconds(10));
    }
    restart.join();
    // The successor runs its first ticks (adoption, peers, key) under
    // traffic before the next node's daemon goes.
    LetTrafficRun(100);
  }
  traffic_->Stop();
  for (int i = 0; i < 5; ++i) traffic_->SendRound();

  const DirectionStats after = traffic_->Totals();
  EXPECT_GT(after.sent - before.sent, 300u * managed_pairs_.size());
  EXPECT_EQ(after.lost, before.lost) << FormatDirectionStats(after);
  EXPECT_EQ(after.sent - before.sent, after.received - before.received);
  EXPECT_EQ(ManagedPlaintext(), plain_before)
      << "managed traffic left a node in clear";
  EXPECT_EQ(record_missing, 0u)
      << "a KmeshNodeInfo went missing or changed its SPI";
  const auto stats_after = XfrmStats();
  for (const auto& [node, counters] : stats_before) {
    for (size_t i = 0; i < counters.size(); ++i) {
      EXPECT_EQ(stats_after.at(node)[i], counters[i])
          << node << " " << XfrmStatName(static_cast<XfrmStat>(i));
    }
  }
  EXPECT_EQ(KernelChanges(), changes_before)
      << "a restarted daemon changed the XFRM tables (a flap)";

  // The successors hold the key and the peers: a rotation still converges
  // and loses nothing.
  WriteSecret(2);
  ASSERT_TRUE(WaitFor([&] {
    traffic_->SendRound();
    return EveryRecordAt(2) && cluster_->EspBetweenAllNodes(2);
  }));
  for (int i = 0; i < 10; ++i) traffic_->SendRound();
  const DirectionStats rotated = traffic_->Totals();
  EXPECT_EQ(rotated.lost, before.lost) << FormatDirectionStats(rotated);
  EXPECT_EQ(rotated.sent - before.sent, rotated.received - before.received);
  EXPECT_EQ(ManagedPlaintext(), plain_before);
}

INSTANTIATE_TEST_SUITE_P(StopModes, LifecycleE2eTest,
                         ::testing::Values(AgentStop::kGraceful,
                                           AgentStop::kKill),
                         [](const ::testing::TestParamInfo<AgentStop>& info) {
                           return info.param == AgentStop::kGraceful
                                      ? std::string("RollingSigterm")
                                      : std::string("Kill9");
                         });

// Faults the node heals by itself, with traffic driven round by round.
class SelfRepairE2eTest : public LifecycleE2eTest {
 protected:
  void Converge() {
    WriteSecret(1);
    ASSERT_TRUE(WaitFor([&] {
      traffic_->SendRound();
      return EveryRecordAt(1) && cluster_->EspBetweenAllNodes(1);
    }));
  }

  // Drives rounds until 20 in a row lose nothing and send nothing managed
  // in clear, with every record at `spi` and ESP between every pair.
  bool ConvergesCleanly(int spi) {
    int clean = 0;
    return WaitFor([&] {
      const DirectionStats before = traffic_->Totals();
      const uint64_t plain = ManagedPlaintext();
      traffic_->SendRound();
      const DirectionStats after = traffic_->Totals();
      const bool ok =
          EveryRecordAt(spi) && cluster_->EspBetweenAllNodes(spi) &&
          after.lost == before.lost &&
          after.received - before.received == after.sent - before.sent &&
          ManagedPlaintext() == plain;
      clean = ok ? clean + 1 : 0;
      return clean >= 20;
    });
  }

  nlohmann::json Record(const std::string& node) {
    auto text = cluster_->client().Get(::kmesh::kube::KmeshNodeInfosKind(),
                                       "kmesh-system", node);
    return text.ok() ? nlohmann::json::parse(*text) : nlohmann::json();
  }
};

// Someone deletes, then alters, node1's KmeshNodeInfo: node1 publishes it
// again as it was. Peers react to the deletion before the repair (they
// drop node1 as a peer and send to it in clear meanwhile, as for a node
// that left); once repaired, everything is ESP again and nothing is lost.
TEST_F(SelfRepairE2eTest, OwnRecordDeletedOrAlteredIsRepublished) {
  Converge();
  const nlohmann::json original = Record("node1");
  ASSERT_TRUE(original.is_object());
  const DirectionStats before = traffic_->Totals();
  const uint64_t plain_before = ManagedPlaintext();

  ASSERT_TRUE(
      cluster_->client()
          .Delete(::kmesh::kube::KmeshNodeInfosKind(), "kmesh-system", "node1")
          .ok());
  ASSERT_TRUE(WaitFor([&] {
    traffic_->SendRound();
    return Record("node1").is_object();
  })) << "node1 did not publish its deleted record again";
  EXPECT_EQ(Record("node1")["spec"], original["spec"]);
  ASSERT_TRUE(ConvergesCleanly(1));
  const DirectionStats deleted = traffic_->Totals();
  std::cout << "record deleted by hand: " << deleted.lost - before.lost
            << " lost, " << ManagedPlaintext() - plain_before
            << " managed packets in clear until repaired and re-converged\n";

  nlohmann::json altered = Record("node1");
  altered["spec"]["spi"] = 7;
  ASSERT_TRUE(cluster_->client()
                  .Update(::kmesh::kube::KmeshNodeInfosKind(), "kmesh-system",
                          "node1", altered.dump())
                  .ok());
  ASSERT_TRUE(WaitFor([&] {
    traffic_->SendRound();
    return Record("node1")["spec"] == original["spec"];
  })) << "node1 did not repair its altered record: "
      << Record("node1");
  ASSERT_TRUE(ConvergesCleanly(1));
  const DirectionStats settled = traffic_->Totals();
  const uint64_t plain_settled = ManagedPlaintext();
  for (int i = 0; i < 20; ++i) traffic_->SendRound();
  EXPECT_EQ(traffic_->Totals().lost, settled.lost);
  EXPECT_EQ(ManagedPlaintext(), plain_settled);
}

// node1's Node object reports a new boot ID (and kubelet would do the same
// for new addresses): its daemon, still running, re-derives its keys and
// re-publishes its record with the new boot ID; the peers follow, and the
// cluster converges to ESP with nothing lost.
TEST_F(SelfRepairE2eTest, OwnBootIdChangeIsFollowedWithoutARestart) {
  Converge();
  const std::string new_boot = RandomBootId();
  ::kmesh::kube::KubeClient& client = cluster_->client();
  for (int attempt = 0; attempt < 5; ++attempt) {
    auto text = client.Get(::kmesh::kube::NodesKind(), "", "node1");
    ASSERT_TRUE(text.ok()) << text.status();
    nlohmann::json node = nlohmann::json::parse(*text);
    node["status"]["nodeInfo"]["bootID"] = new_boot;
    if (client.Update(::kmesh::kube::NodesKind(), "", "node1", node.dump())
            .ok()) {
      break;
    }
  }
  ASSERT_TRUE(WaitFor([&] {
    traffic_->SendRound();
    return Record("node1")["spec"].value("bootID", "") == new_boot;
  })) << "node1's record kept its old boot ID: "
      << Record("node1");
  ASSERT_TRUE(ConvergesCleanly(1));
  const DirectionStats settled = traffic_->Totals();
  for (int i = 0; i < 20; ++i) traffic_->SendRound();
  EXPECT_EQ(traffic_->Totals().lost, settled.lost);
}

// A previous daemon (another version, mid-rotation) left an inbound SA under
// an SPI this daemon has no key for: the new daemon adopts it as it is (it
// is the product's own: reqid and mark) instead of flushing it at start,
// keeps it while it may be needed, and reclaims it once no peer is behind
// it; the traffic meanwhile loses nothing and nothing moves in xfrm_stat.
TEST_F(SelfRepairE2eTest, AnotherVersionsSaIsAdoptedNotFlushed) {
  Converge();
  for (int i = 0; i < 10; ++i) traffic_->SendRound();
  auto node1 = cluster_->network().kernel("node1");
  const IpAddress master =
      cluster_->network().kernel("master")->node_addresses()[0];
  std::optional<XfrmSa> left;
  const auto dumped = node1->xfrm().DumpSas();
  ASSERT_TRUE(dumped.ok());
  for (const XfrmSa& sa : *dumped) {
    if (ipsec::IsInboundSa(sa) && sa.src == master) left = sa;
  }
  ASSERT_TRUE(left.has_value());
  left->spi = 9;  // A key this daemon never had.
  const uint8_t other_key[36] = {9, 9, 9};
  left->aead_key = XfrmKey(other_key, sizeof(other_key));
  const absl::Status added = node1->xfrm().AddSa(*left);
  ASSERT_TRUE(added.ok()) << added;
  auto has_spi9 = [&] {
    const auto sas = node1->xfrm().DumpSas();
    for (const XfrmSa& sa : sas.value()) {
      if (sa.spi == 9) return true;
    }
    return false;
  };
  const DirectionStats before = traffic_->Totals();
  const uint64_t plain_before = ManagedPlaintext();
  const auto stats_before = XfrmStats();

  delay_starts_ = true;
  ASSERT_TRUE(traffic_->Start(200, std::chrono::minutes(1)).ok());
  ASSERT_TRUE(cluster_->RestartAgent("node1", AgentStop::kKill).ok());
  LetTrafficRun(20);
  EXPECT_TRUE(has_spi9()) << "the new daemon flushed an SA of the product's";
  EXPECT_TRUE(WaitFor([&] { return !has_spi9(); }))
      << "the adopted SA was never reclaimed";
  traffic_->Stop();
  for (int i = 0; i < 5; ++i) traffic_->SendRound();
  const DirectionStats after = traffic_->Totals();
  EXPECT_EQ(after.lost, before.lost) << FormatDirectionStats(after);
  EXPECT_EQ(after.sent - before.sent, after.received - before.received);
  EXPECT_EQ(ManagedPlaintext(), plain_before);
  EXPECT_EQ(XfrmStats(), stats_before);
}

}  // namespace
}  // namespace kmesh::sim
