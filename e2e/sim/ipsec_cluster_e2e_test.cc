// End to end on the simulated cluster: three nodes, each running the
// production IpsecAgent (what kmesh-daemon runs) against its own simulated
// kernel, one simulated API server, kubelet-like key projection with
// per-node delays, and request/response traffic between managed and
// unmanaged pods on real ESP bytes. Each test's name is the invariant it
// checks. Traffic is driven round by round from the test thread; the agents
// run on their own threads, so every wait is a bounded poll.
#include <chrono>
#include <functional>
#include <iostream>
#include <set>
#include <string>
#include <thread>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "kmesh/api/ipsec_key_codec.h"
#include "kmesh/base/clock.h"
#include "kmesh/crypto/random.h"
#include "kmesh/kube/kube_client.h"
#include "nlohmann/json.hpp"
#include "sim/cluster/daemon_node_agent.h"
#include "sim/cluster/sim_cluster.h"
#include "sim/cluster/traffic.h"
#include "sim/datapath/esp_transform.h"

namespace kmesh::sim {
namespace {

using std::chrono::milliseconds;

constexpr char kLabel[] = "istio.io/dataplane-mode";

class IpsecClusterE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char dir[] = "/tmp/kmesh-e2e-XXXXXX";
    ASSERT_NE(mkdtemp(dir), nullptr);
    dir_ = dir;
    SimClusterOptions options;
    options.state_dir = dir_;
    options.ipsec_grace_period = std::chrono::seconds(2);
    auto factory = DaemonNodeAgentFactory();
    ASSERT_TRUE(factory.ok()) << factory.status();
    options.agent_factory = *factory;
    for (size_t i = 0; i < options.nodes.size(); ++i) {
      options.key_delays[options.nodes[i]] = milliseconds(150 * i);
    }
    auto cluster = SimCluster::Start(options);
    ASSERT_TRUE(cluster.ok()) << cluster.status();
    cluster_ = *std::move(cluster);
    traffic_ = std::make_unique<Traffic>(&cluster_->network());
    ASSERT_TRUE(cluster_->CreateNamespace("plain", {}).ok());
    std::vector<SimPodInfo> apps, plains;
    for (const std::string& node : cluster_->node_names()) {
      auto app = cluster_->CreatePod("default", "app-" + node, node, {});
      auto plain = cluster_->CreatePod("plain", "plain-" + node, node, {});
      ASSERT_TRUE(app.ok() && plain.ok());
      apps.push_back(*app);
      plains.push_back(*plain);
    }
    for (size_t i = 0; i < apps.size(); ++i) {
      for (size_t j = 0; j < apps.size(); ++j) {
        if (i == j) continue;
        ASSERT_TRUE(
            traffic_
                ->AddFlow({"default", apps[i].name, "default", apps[j].name})
                .ok());
        managed_pairs_.push_back({apps[i], apps[j]});
        ASSERT_TRUE(
            traffic_
                ->AddFlow({"plain", plains[i].name, "plain", plains[j].name})
                .ok());
        plain_pairs_.push_back({plains[i], plains[j]});
      }
    }
    ASSERT_TRUE(cluster_->SetNamespaceLabel("default", kLabel, "Kmesh").ok());
  }

  void TearDown() override {
    traffic_.reset();
    if (cluster_) cluster_->Stop();
    cluster_.reset();
    std::system(("rm -rf " + dir_).c_str());
  }

  // Writes the Secret as kmeshctl does (Kmesh's JSON), spi `spi`.
  void WriteSecret(int spi) {
    auto key = crypto::RandomSecretBytes(36);
    auto config = api::MakeIpsecKeyConfig(spi, std::move(key));
    ASSERT_TRUE(config.ok());
    auto json = api::SerializeIpsecKeyJson(*config);
    ASSERT_TRUE(json.ok());
    nlohmann::json secret = {
        {"apiVersion", "v1"},
        {"kind", "Secret"},
        {"metadata", {{"name", "kmesh-ipsec"}, {"namespace", "kmesh-system"}}},
        {"type", "Opaque"},
        {"stringData", {{"ipSec", *json}}}};
    ::kmesh::kube::KubeClient& client = cluster_->client();
    auto existing =
        client.Get(::kmesh::kube::SecretsKind(), "kmesh-system", "kmesh-ipsec");
    if (existing.ok()) {
      auto old = nlohmann::json::parse(*existing);
      secret["metadata"]["resourceVersion"] =
          old["metadata"]["resourceVersion"];
      ASSERT_TRUE(client
                      .Update(::kmesh::kube::SecretsKind(), "kmesh-system",
                              "kmesh-ipsec", secret.dump())
                      .ok());
    } else {
      ASSERT_TRUE(client
                      .Create(::kmesh::kube::SecretsKind(), "kmesh-system",
                              secret.dump())
                      .ok());
    }
  }

  // Sends traffic rounds until `done` or 30 s pass.
  bool DriveUntil(const std::function<bool()>& done) {
    const auto deadline =
        std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (std::chrono::steady_clock::now() < deadline) {
      traffic_->SendRound();
      if (done()) return true;
      std::this_thread::sleep_for(milliseconds(20));
    }
    // Say where it stands, for the failure message.
    for (const auto& [node, version] :
         cluster_->secret_projector().ProjectedVersions()) {
      std::cerr << "projected to " << node << ": " << version << "\n";
    }
    if (auto spis = cluster_->AdvertisedSpis(); spis.ok()) {
      for (const auto& [node, spi] : *spis) {
        std::cerr << node << " advertises spi " << spi << "\n";
      }
    }
    return false;
  }

  uint64_t Plaintext(
      const std::vector<std::pair<SimPodInfo, SimPodInfo>>& pairs) {
    uint64_t n = 0;
    for (const auto& [a, b] : pairs) {
      n += cluster_->network().wire().PlaintextPackets(a.ips[0], b.ips[0]);
    }
    return n;
  }

  bool NoSaWithSpi(uint32_t spi) {
    for (const std::string& node : cluster_->node_names()) {
      auto sas = cluster_->network().kernel(node)->xfrm().DumpSas();
      if (!sas.ok()) return false;
      for (const XfrmSa& sa : *sas) {
        if (sa.spi == spi) return false;
      }
    }
    return true;
  }

  std::string dir_;
  std::unique_ptr<SimCluster> cluster_;
  std::unique_ptr<Traffic> traffic_;
  std::vector<std::pair<SimPodInfo, SimPodInfo>> managed_pairs_, plain_pairs_;
};

TEST_F(IpsecClusterE2eTest,
       ManagedTrafficIsEspSpi1ThenSpi2WithNoLossNoPlaintextAndOldSasReclaimed) {
  WriteSecret(1);
  ASSERT_TRUE(DriveUntil([&] {
    return cluster_->AllNodesAdvertise(1) && cluster_->EspBetweenAllNodes(1);
  }));
  const DirectionStats before = traffic_->Totals();
  const uint64_t managed_plain_before = Plaintext(managed_pairs_);
  const uint64_t plain_before = Plaintext(plain_pairs_);

  WriteSecret(2);
  ASSERT_TRUE(DriveUntil([&] {
    return cluster_->AllNodesAdvertise(2) && cluster_->EspBetweenAllNodes(2);
  }));
  for (int i = 0; i < 20; ++i) traffic_->SendRound();

  const DirectionStats after = traffic_->Totals();
  EXPECT_GT(after.sent, before.sent);
  EXPECT_EQ(after.lost, before.lost) << "packets lost during the rotation";
  EXPECT_EQ(after.sent - before.sent, after.received - before.received);
  EXPECT_EQ(Plaintext(managed_pairs_), managed_plain_before)
      << "managed traffic left a node in clear";
  EXPECT_GT(Plaintext(plain_pairs_), plain_before)
      << "unmanaged traffic must stay plaintext";
  for (const std::string& node : cluster_->node_names()) {
    auto kernel = cluster_->network().kernel(node);
    EXPECT_EQ(kernel->xfrm().Stat(XfrmStat::kInNoStates), 0u) << node;
    EXPECT_EQ(kernel->xfrm().Stat(XfrmStat::kInStateProtoError), 0u) << node;
    EXPECT_EQ(kernel->xfrm().Stat(XfrmStat::kOutNoStates), 0u) << node;
  }

  // Old SAs stay during the grace period (2 s here), and go after it.
  EXPECT_FALSE(NoSaWithSpi(1));
  ASSERT_TRUE(DriveUntil([&] { return NoSaWithSpi(1); }));
  for (int i = 0; i < 10; ++i) traffic_->SendRound();
  EXPECT_EQ(traffic_->Totals().sent - before.sent,
            traffic_->Totals().received - before.received);
}

// A rebooted node comes back with an empty kernel and a new boot ID. Until
// its daemon has programmed it, its pods' traffic is not marked (as before
// any key existed); once programmed, every pair talks ESP again with keys
// derived from the new boot ID, nothing is lost and nothing managed is sent
// in clear.
TEST_F(IpsecClusterE2eTest, NodeRebootConvergesToEspWithNothingLostAfter) {
  WriteSecret(1);
  ASSERT_TRUE(DriveUntil([&] {
    return cluster_->AllNodesAdvertise(1) && cluster_->EspBetweenAllNodes(1);
  }));
  const std::string old_boot = cluster_->boot_id("node1");
  ASSERT_TRUE(cluster_->RebootNode("node1").ok());
  EXPECT_NE(cluster_->boot_id("node1"), old_boot);
  uint64_t converged_rounds = 0;
  ASSERT_TRUE(DriveUntil([&] {
    const DirectionStats before = traffic_->Totals();
    const uint64_t plain_before = Plaintext(managed_pairs_);
    traffic_->SendRound();
    const DirectionStats after = traffic_->Totals();
    const bool clean =
        cluster_->AllNodesAdvertise(1) && after.lost == before.lost &&
        after.received - before.received == after.sent - before.sent &&
        Plaintext(managed_pairs_) == plain_before;
    converged_rounds = clean ? converged_rounds + 1 : 0;
    return converged_rounds >= 20;
  }));
  const DirectionStats before = traffic_->Totals();
  const uint64_t plain_before = Plaintext(managed_pairs_);
  for (int i = 0; i < 20; ++i) traffic_->SendRound();
  EXPECT_EQ(traffic_->Totals().lost, before.lost);
  EXPECT_EQ(Plaintext(managed_pairs_), plain_before);
}

TEST_F(IpsecClusterE2eTest, TamperedAndReplayedEspAreDroppedAndCounted) {
  WriteSecret(1);
  ASSERT_TRUE(DriveUntil([&] {
    return cluster_->AllNodesAdvertise(1) && cluster_->EspBetweenAllNodes(1);
  }));
  std::vector<uint8_t> captured;
  cluster_->network().SetWireFilter([&](const std::string& from,
                                        const std::string&,
                                        std::vector<uint8_t>& packet) {
    if (from == "master" && captured.empty() && ParseEspHeader(packet).ok()) {
      captured = packet;
    }
    return true;
  });
  traffic_->SendRound();
  ASSERT_FALSE(captured.empty());
  cluster_->network().SetWireFilter(nullptr);
  auto header = ParseEspHeader(captured);
  ASSERT_TRUE(header.ok());
  std::string to;
  for (const std::string& node : cluster_->node_names()) {
    for (const IpAddress& a :
         cluster_->network().kernel(node)->node_addresses()) {
      if (a == header->outer_dst) to = node;
    }
  }
  ASSERT_FALSE(to.empty());
  auto receiver = cluster_->network().kernel(to);
  // The same packet again: a replay.
  EXPECT_EQ(receiver->ReceiveFromWire(captured),
            PacketFate::kXfrmInStateSeqError);
  EXPECT_GE(receiver->xfrm().Stat(XfrmStat::kInStateSeqError), 1u);
  // A fresh sequence number with a flipped ciphertext bit: the ICV fails.
  auto tampered = captured;
  tampered[header->esp_offset + 7] += 100;  // Sequence number, low byte.
  tampered[tampered.size() - 20] ^= 0x01;
  EXPECT_EQ(receiver->ReceiveFromWire(tampered),
            PacketFate::kXfrmInStateProtoError);
  EXPECT_GE(receiver->xfrm().Stat(XfrmStat::kInStateProtoError), 1u);
}

// Labelling is read at run time: unlabelling the namespace turns its pods'
// traffic back to plaintext (nothing lost), labelling it again encrypts it.
TEST_F(IpsecClusterE2eTest, NamespaceRelabelTakesEffectWithoutRestart) {
  WriteSecret(1);
  ASSERT_TRUE(DriveUntil([&] {
    return cluster_->AllNodesAdvertise(1) && cluster_->EspBetweenAllNodes(1);
  }));
  ASSERT_TRUE(
      cluster_->SetNamespaceLabel("default", kLabel, std::nullopt).ok());
  const uint64_t plain_at_unlabel = Plaintext(managed_pairs_);
  ASSERT_TRUE(DriveUntil(
      [&] { return Plaintext(managed_pairs_) > plain_at_unlabel + 20; }));
  ASSERT_TRUE(cluster_->SetNamespaceLabel("default", kLabel, "Kmesh").ok());
  // Once every node has marked them again, no more plaintext.
  uint64_t quiet_rounds = 0;
  ASSERT_TRUE(DriveUntil([&] {
    const uint64_t before = Plaintext(managed_pairs_);
    traffic_->SendRound();
    quiet_rounds = Plaintext(managed_pairs_) == before ? quiet_rounds + 1 : 0;
    return quiet_rounds >= 20;
  }));
  EXPECT_EQ(traffic_->Totals().lost, 0u);
}

// The daemon on one node dies in the middle of a rotation (its kernel keeps
// everything) and a new one starts: the cluster converges on spi 2, managed
// traffic never leaves in clear, and nothing is lost once converged.
TEST_F(IpsecClusterE2eTest, DaemonRestartMidRotationConvergesWithoutPlaintext) {
  WriteSecret(1);
  ASSERT_TRUE(DriveUntil([&] {
    return cluster_->AllNodesAdvertise(1) && cluster_->EspBetweenAllNodes(1);
  }));
  const uint64_t plain_before = Plaintext(managed_pairs_);
  WriteSecret(2);
  ASSERT_TRUE(cluster_->RestartAgent("node1", AgentStop::kKill).ok());
  ASSERT_TRUE(DriveUntil([&] {
    return cluster_->AllNodesAdvertise(2) && cluster_->EspBetweenAllNodes(2);
  }));
  const DirectionStats converged = traffic_->Totals();
  for (int i = 0; i < 20; ++i) traffic_->SendRound();
  EXPECT_EQ(traffic_->Totals().lost, converged.lost);
  EXPECT_EQ(Plaintext(managed_pairs_), plain_before);
}

// A node leaves the cluster: the others remove every SA and policy towards
// it, and keep talking ESP among themselves.
TEST_F(IpsecClusterE2eTest, NodeLeavingIsRemovedFromEveryPeer) {
  WriteSecret(1);
  ASSERT_TRUE(DriveUntil([&] {
    return cluster_->AllNodesAdvertise(1) && cluster_->EspBetweenAllNodes(1);
  }));
  const std::vector<IpAddress> gone =
      cluster_->network().kernel("node2")->node_addresses();
  ASSERT_TRUE(cluster_->RemoveNode("node2").ok());
  auto refers_to_gone = [&] {
    for (const char* node : {"master", "node1"}) {
      auto sas = cluster_->network().kernel(node)->xfrm().DumpSas();
      if (!sas.ok()) return true;
      for (const XfrmSa& sa : *sas) {
        for (const IpAddress& a : gone) {
          if (sa.src == a || sa.dst == a) return true;
        }
      }
    }
    return false;
  };
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (refers_to_gone() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(milliseconds(50));
  }
  EXPECT_FALSE(refers_to_gone());
  auto spis = cluster_->AdvertisedSpis();
  ASSERT_TRUE(spis.ok());
  EXPECT_EQ(spis->count("node2"), 0u);
}

}  // namespace
}  // namespace kmesh::sim
