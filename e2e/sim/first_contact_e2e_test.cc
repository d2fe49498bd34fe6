// First contact, end to end on the simulated cluster: the first key created
// while managed traffic already flows between every pair of nodes, and a node
// joining while traffic flows, lose nothing, counted from the first packet of
// every flow (not from convergence). Before a pair has a key its managed
// traffic crosses in clear (expected: nothing can encrypt it yet); once a
// direction between two nodes has carried ESP its managed traffic never
// crosses in clear again; and no XFRM error counter (XfrmInNoStates above
// all: ESP a receiver has no SA for) moves on any node. The production agent
// runs on every node; receivers learn every node from its Node object before
// that node publishes its KmeshNodeInfo (docs/decisions.md, "First
// contact"). Variants break the KmeshNodeInfo watches at the worst moment, so
// that records reach the nodes late and in any order.
#include <chrono>
#include <filesystem>
#include <functional>
#include <iostream>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "gtest/gtest.h"
#include "kmesh/api/ipsec_key_codec.h"
#include "kmesh/base/testing/test_directory.h"
#include "kmesh/crypto/random.h"
#include "kmesh/kube/kube_client.h"
#include "nlohmann/json.hpp"
#include "sim/cluster/daemon_node_agent.h"
#include "sim/cluster/sim_cluster.h"
#include "sim/cluster/traffic.h"
#include "sim/kernel/xfrm/xfrm_stat.h"

namespace kmesh::sim {
namespace {

using std::chrono::milliseconds;

constexpr char kLabel[] = "istio.io/dataplane-mode";
constexpr char kRecordsPath[] =
    "/apis/kmesh.net/v1alpha1/namespaces/kmesh-system/kmeshnodeinfos";

using NodePair = std::pair<std::string, std::string>;

class FirstContactE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = ::kmesh::testing::NewTestDirectory("kmesh-first-contact");
    SimClusterOptions options;
    options.state_dir = dir_;
    options.ipsec_grace_period = std::chrono::seconds(2);
    auto factory = DaemonNodeAgentFactory();
    ASSERT_TRUE(factory.ok()) << factory.status();
    options.agent_factory = *factory;
    // The secret reaches the nodes at different times, as kubelet's
    // projection does.
    for (size_t i = 0; i < options.nodes.size(); ++i) {
      options.key_delays[options.nodes[i]] = milliseconds(150 * i);
    }
    auto cluster = SimCluster::Start(options);
    ASSERT_TRUE(cluster.ok()) << cluster.status();
    cluster_ = *std::move(cluster);
    traffic_ = std::make_unique<Traffic>(&cluster_->network());
    ASSERT_TRUE(cluster_->CreateNamespace("plain", {}).ok());
    ASSERT_TRUE(cluster_->SetNamespaceLabel("default", kLabel, "Kmesh").ok());
    for (const std::string& node : cluster_->node_names()) AddPods(node);
  }

  void TearDown() override {
    traffic_.reset();
    if (cluster_) cluster_->Stop();
    cluster_.reset();
    std::filesystem::remove_all(dir_);
  }

  // A managed and an unmanaged pod on `node`, with flows both ways to the
  // pods of every node that already has them.
  void AddPods(const std::string& node) {
    auto app = cluster_->CreatePod("default", "app-" + node, node, {});
    auto plain = cluster_->CreatePod("plain", "plain-" + node, node, {});
    ASSERT_TRUE(app.ok() && plain.ok());
    for (const auto& [peer_app, peer_plain] : pods_) {
      AddFlow(*app, peer_app, &managed_);
      AddFlow(peer_app, *app, &managed_);
      AddFlow(*plain, peer_plain, &unmanaged_);
      AddFlow(peer_plain, *plain, &unmanaged_);
    }
    pods_.push_back({*app, *plain});
  }

  void AddFlow(const SimPodInfo& client, const SimPodInfo& server,
               std::vector<std::pair<SimPodInfo, SimPodInfo>>* pairs) {
    auto id =
        traffic_->AddFlow({client.ns, client.name, server.ns, server.name});
    ASSERT_TRUE(id.ok()) << id.status();
    pairs->push_back({client, server});
  }

  // Writes the Secret as kmeshctl does (Kmesh's JSON) with `spi`.
  void WriteSecret(int spi) {
    ASSERT_TRUE(cluster_->WriteIpsecSecret(spi).ok());
  }

  // The KmeshNodeInfo watches break and their next re-watches and re-lists
  // fail, so records reach the nodes late, each node at its own time.
  void BreakRecordWatches(int failures) {
    cluster_->api_server().FailNext(failures, 500, {"GET", kRecordsPath});
    cluster_->api_server().DropWatches();
  }

  // One traffic round, then the clear-after-ESP check: per direction
  // between two nodes, once ESP has crossed, no managed packet of that
  // direction may cross in clear again.
  void Round() {
    traffic_->SendRound();
    std::set<NodePair> esp;
    for (const auto& [key, counts] : cluster_->network().wire().Snapshot()) {
      if (key.esp) esp.insert({key.from_node, key.to_node});
    }
    std::map<NodePair, uint64_t> plain;
    for (const auto& [a, b] : managed_) {
      plain[{a.node, b.node}] +=
          cluster_->network().wire().PlaintextPackets(a.ips[0], b.ips[0]);
    }
    for (const auto& [direction, count] : plain) {
      auto it = plain_at_esp_.find(direction);
      if (it != plain_at_esp_.end()) {
        if (count > it->second) {
          clear_after_esp_ += count - it->second;
          std::cerr << "managed traffic " << direction.first << " -> "
                    << direction.second << " in clear after ESP\n";
        }
        it->second = count;
      } else if (esp.count(direction)) {
        plain_at_esp_[direction] = count;
      }
    }
  }

  // Rounds until `done` holds for 20 rounds in a row (30 s at most).
  bool DriveUntilSteady(const std::function<bool()>& done) {
    const auto deadline =
        std::chrono::steady_clock::now() + std::chrono::seconds(30);
    int steady = 0;
    while (std::chrono::steady_clock::now() < deadline) {
      Round();
      steady = done() ? steady + 1 : 0;
      if (steady >= 20) return true;
      std::this_thread::sleep_for(milliseconds(20));
    }
    if (auto spis = cluster_->AdvertisedSpis(); spis.ok()) {
      for (const auto& [node, spi] : *spis) {
        std::cerr << node << " advertises spi " << spi << "\n";
      }
    }
    return false;
  }

  bool Converged(int spi) {
    return cluster_->AllNodesAdvertise(spi) &&
           cluster_->EspBetweenAllNodes(spi) && ManagedPairsAllEsp();
  }

  // Every managed pair's last round crossed as ESP: no plaintext packet of
  // a managed pair in the round just sent.
  bool ManagedPairsAllEsp() {
    uint64_t plain = 0;
    for (const auto& [a, b] : managed_) {
      plain += cluster_->network().wire().PlaintextPackets(a.ips[0], b.ips[0]);
    }
    const bool quiet = plain == last_managed_plain_;
    last_managed_plain_ = plain;
    return quiet;
  }

  // Every XFRM error counter of every node, by node and name.
  std::map<std::string, std::map<std::string, uint64_t>> ErrorCounters() {
    std::map<std::string, std::map<std::string, uint64_t>> counters;
    for (const std::string& node : cluster_->node_names()) {
      auto kernel = cluster_->network().kernel(node);
      for (size_t i = 0; i < kXfrmStatCount; ++i) {
        const XfrmStat stat = static_cast<XfrmStat>(i);
        counters[node][XfrmStatName(stat)] = kernel->xfrm().Stat(stat);
      }
    }
    return counters;
  }

  // Nothing lost on any flow since its first packet, and every unmanaged
  // packet crossed in clear.
  void ExpectNothingLostSinceTheFirstPacket() {
    const DirectionStats totals = traffic_->Totals();
    EXPECT_GT(totals.sent, 0u);
    EXPECT_EQ(totals.lost, 0u) << FormatDirectionStats(totals);
    EXPECT_EQ(totals.received, totals.sent);
    EXPECT_EQ(totals.duplicates, 0u);
    EXPECT_EQ(clear_after_esp_, 0u)
        << "managed traffic crossed in clear after its direction used ESP";
    uint64_t unmanaged_sent = 0;
    for (const FlowStats& f : traffic_->Stats()) {
      if (f.spec.client_ns == "plain") {
        unmanaged_sent += f.request.sent + f.response.sent;
      }
    }
    uint64_t unmanaged_plain = 0;
    for (const auto& [a, b] : unmanaged_) {
      unmanaged_plain +=
          cluster_->network().wire().PlaintextPackets(a.ips[0], b.ips[0]);
    }
    EXPECT_EQ(unmanaged_plain, unmanaged_sent);
  }

  // Every node's XFRM error counters are where they were in `before`
  // (a node missing there started at zero).
  void ExpectErrorCountersUnchanged(
      const std::map<std::string, std::map<std::string, uint64_t>>& before) {
    for (const auto& [node, counters] : ErrorCounters()) {
      for (const auto& [name, value] : counters) {
        uint64_t expected = 0;
        if (auto n = before.find(node); n != before.end()) {
          expected = n->second.at(name);
        }
        EXPECT_EQ(value, expected) << node << " " << name;
      }
    }
  }

  void KeyUnderTraffic() {
    const auto counters = ErrorCounters();
    // Traffic first: plaintext, since no key exists yet.
    for (int i = 0; i < 20; ++i) Round();
    EXPECT_EQ(cluster_->network().wire().EspPackets(), 0u);
    WriteSecret(1);
    ASSERT_TRUE(DriveUntilSteady([&] { return Converged(1); }));
    ExpectNothingLostSinceTheFirstPacket();
    ExpectErrorCountersUnchanged(counters);
  }

  void JoinUnderTraffic() {
    const auto counters = ErrorCounters();
    ASSERT_TRUE(cluster_->AddNode("node3").ok());
    AddPods("node3");
    ASSERT_TRUE(DriveUntilSteady([&] { return Converged(1); }));
    auto spis = cluster_->AdvertisedSpis();
    ASSERT_TRUE(spis.ok());
    EXPECT_EQ((*spis)["node3"], 1);
    ExpectNothingLostSinceTheFirstPacket();
    ExpectErrorCountersUnchanged(counters);
  }

  std::string dir_;
  std::unique_ptr<SimCluster> cluster_;
  std::unique_ptr<Traffic> traffic_;
  // Per node: its managed and unmanaged pod.
  std::vector<std::pair<SimPodInfo, SimPodInfo>> pods_;
  std::vector<std::pair<SimPodInfo, SimPodInfo>> managed_, unmanaged_;
  std::map<NodePair, uint64_t> plain_at_esp_;
  uint64_t clear_after_esp_ = 0;
  uint64_t last_managed_plain_ = 0;
};

TEST_F(FirstContactE2eTest, FirstKeyUnderTrafficLosesNothingFromFirstPacket) {
  KeyUnderTraffic();
}

TEST_F(FirstContactE2eTest,
       FirstKeyWhileRecordWatchesLagLosesNothingFromFirstPacket) {
  for (int i = 0; i < 5; ++i) Round();
  BreakRecordWatches(4);
  KeyUnderTraffic();
}

TEST_F(FirstContactE2eTest,
       NodeJoiningUnderTrafficLosesNothingFromFirstPacket) {
  KeyUnderTraffic();
  JoinUnderTraffic();
}

TEST_F(FirstContactE2eTest,
       NodeJoiningWhileRecordWatchesLagLosesNothingFromFirstPacket) {
  KeyUnderTraffic();
  BreakRecordWatches(4);
  JoinUnderTraffic();
}

}  // namespace
}  // namespace kmesh::sim
