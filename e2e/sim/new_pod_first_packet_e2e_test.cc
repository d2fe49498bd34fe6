// A new managed pod's first packet is never in clear (issue 18, the sender
// side): on the simulated cluster with the production agent on every node,
// kubelet runs kmesh-cni's ADD (sim/cluster/kubelet_cni.h, the binary's own
// code) before the pod exists for traffic, so the encrypt marker is on its
// veth before it sends. To show it is kmesh-cni and not the daemon that
// marks the first packet, the daemons are kept from learning about the new
// pods at all (listing and watching pods is forbidden and their watches are
// dropped, after they have seen the old pods); kmesh-cni only needs `get`.
// The same scenario without kmesh-cni is the control: its first packets do
// go in clear. What is counted: requests from each new pod to the old
// managed pods on every other node, all new pods sending at once, from
// their first packet. (Replies towards a pod its peers' daemons do not know
// yet are the receiver side, outside this test.)
#include <chrono>
#include <filesystem>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "kmesh/api/ipsec_key_codec.h"
#include "kmesh/base/testing/test_directory.h"
#include "kmesh/crypto/random.h"
#include "kmesh/kube/kube_client.h"
#include "nlohmann/json.hpp"
#include "sim/cluster/daemon_node_agent.h"
#include "sim/cluster/kubelet_cni.h"
#include "sim/cluster/sim_cluster.h"
#include "sim/cluster/traffic.h"

namespace kmesh::sim {
namespace {

using std::chrono::milliseconds;

constexpr char kLabel[] = "istio.io/dataplane-mode";

class NewPodFirstPacketE2eTest : public ::testing::TestWithParam<bool> {
 protected:
  bool kmesh_cni() const { return GetParam(); }

  void SetUp() override {
    dir_ = ::kmesh::testing::NewTestDirectory("kmesh-first-packet");
    SimClusterOptions options;
    options.state_dir = dir_;
    options.nodes = {"master", "node1", "node2", "node3"};
    options.kmesh_cni = kmesh_cni();
    auto factory = DaemonNodeAgentFactory();
    ASSERT_TRUE(factory.ok()) << factory.status();
    options.agent_factory = *factory;
    auto cluster = SimCluster::Start(options);
    ASSERT_TRUE(cluster.ok()) << cluster.status();
    cluster_ = *std::move(cluster);
    traffic_ = std::make_unique<Traffic>(&cluster_->network());
    ASSERT_TRUE(cluster_->SetNamespaceLabel("default", kLabel, "Kmesh").ok());
    for (const std::string& node : cluster_->node_names()) {
      auto pod = cluster_->CreatePod("default", "old-" + node, node, {});
      ASSERT_TRUE(pod.ok()) << pod.status();
      old_.push_back(*pod);
    }
    // Old pods talk to each other until every pair uses ESP.
    for (const SimPodInfo& a : old_) {
      for (const SimPodInfo& b : old_) {
        if (a.node != b.node) {
          ASSERT_TRUE(traffic_->AddFlow({a.ns, a.name, b.ns, b.name}).ok());
        }
      }
    }
    WriteSecret(1);
    ASSERT_TRUE(DriveUntil([&] {
      return cluster_->AllNodesAdvertise(1) && cluster_->EspBetweenAllNodes(1);
    }));
  }

  void TearDown() override {
    if (cluster_) cluster_->api_server().ClearFaults();
    traffic_.reset();
    if (cluster_) cluster_->Stop();
    cluster_.reset();
    std::filesystem::remove_all(dir_);
  }

  void WriteSecret(int spi) {
    ASSERT_TRUE(cluster_->WriteIpsecSecret(spi).ok());
  }

  bool DriveUntil(const std::function<bool()>& done) {
    const auto deadline =
        std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (std::chrono::steady_clock::now() < deadline) {
      traffic_->SendRound();
      if (done()) return true;
      std::this_thread::sleep_for(milliseconds(20));
    }
    return false;
  }

  // The daemons see no pod change from now on.
  void FreezeDaemonsPodView() {
    kube::ApiServer& server = cluster_->api_server();
    server.Forbid("list", "pods");
    server.Forbid("watch", "pods");
    server.DropWatches();
  }

  std::string dir_;
  std::unique_ptr<SimCluster> cluster_;
  std::unique_ptr<Traffic> traffic_;
  std::vector<SimPodInfo> old_;
};

TEST_P(NewPodFirstPacketE2eTest, NewManagedPodsOnEveryNodeSendingAtOnce) {
  FreezeDaemonsPodView();
  std::vector<SimPodInfo> fresh;
  for (const std::string& node : cluster_->node_names()) {
    auto pod = cluster_->CreatePod("default", "new-" + node, node, {});
    ASSERT_TRUE(pod.ok()) << pod.status();
    fresh.push_back(*pod);
    // When kubelet is done with the sandbox, before any container runs.
    absl::StatusOr<bool> marked =
        cluster_->network().kernel(node)->InterfaceEncryptMarker(
            PodHostInterface(*pod));
    ASSERT_TRUE(marked.ok()) << marked.status();
    EXPECT_EQ(*marked, kmesh_cni()) << pod->key();
  }
  std::vector<int> flows;
  std::vector<std::pair<SimPodInfo, SimPodInfo>> pairs;
  for (const SimPodInfo& a : fresh) {
    for (const SimPodInfo& b : old_) {
      if (a.node == b.node) continue;
      auto id = traffic_->AddFlow({a.ns, a.name, b.ns, b.name});
      ASSERT_TRUE(id.ok()) << id.status();
      flows.push_back(*id);
      pairs.push_back({a, b});
    }
  }
  // Every new pod's first packet leaves in the same round.
  for (int round = 0; round < 10; ++round) traffic_->SendRound();

  const std::vector<FlowStats> stats = traffic_->Stats();
  const WireMonitor& wire = cluster_->network().wire();
  uint64_t sent = 0, in_clear = 0, received = 0;
  for (size_t i = 0; i < flows.size(); ++i) {
    const FlowStats& f = stats[flows[i]];
    sent += f.request.sent;
    received += f.request.received;
    in_clear +=
        wire.PlaintextPackets(pairs[i].first.ips[0], pairs[i].second.ips[0]);
  }
  EXPECT_EQ(sent, 10u * flows.size());
  RecordProperty("requests_sent", static_cast<int>(sent));
  RecordProperty("requests_in_clear", static_cast<int>(in_clear));
  if (kmesh_cni()) {
    EXPECT_EQ(in_clear, 0u) << "of " << sent << " requests";
    EXPECT_EQ(received, sent);  // ESP that every receiver decrypts.
  } else {
    // The control: only the daemon attaches, and it has not seen the pods.
    EXPECT_EQ(in_clear, sent);
  }
}

INSTANTIATE_TEST_SUITE_P(WithAndWithoutKmeshCni, NewPodFirstPacketE2eTest,
                         ::testing::Values(true, false),
                         [](const ::testing::TestParamInfo<bool>& info) {
                           return info.param ? "KmeshCni" : "DaemonOnly";
                         });

}  // namespace
}  // namespace kmesh::sim
