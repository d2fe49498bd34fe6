// The simulator is strict enough to fail Kmesh's own layout: three nodes
// programmed exactly as Kmesh's ipsec_handler.go programs them (unmarked
// inbound SAs with the same destination and SPI, one shared in/fwd selector)
// cannot carry encrypted traffic from every node to every other. The second
// inbound SA on each node is refused with EEXIST, so ESP from the third node
// is checked against the wrong SA and dropped (XfrmInStateProtoError), as on
// Linux (e2e/vm runs the same layout on a real kernel).
#include <filesystem>

#include "gtest/gtest.h"
#include "kmesh/base/testing/test_directory.h"
#include "sim/cluster/sim_cluster.h"
#include "sim/cluster/traffic.h"
#include "sim/kernel/kmesh_original_layout/kmesh_original_layout.h"

namespace kmesh::sim {
namespace {

TEST(KmeshOriginalLayoutE2eTest, ThreeNodesCannotAllTalkWithKmeshsLayout) {
  const std::string dir = ::kmesh::testing::NewTestDirectory("kmesh-orig");
  SimClusterOptions options;
  options.state_dir = dir;
  auto cluster = SimCluster::Start(options);  // No agents: we program.
  ASSERT_TRUE(cluster.ok()) << cluster.status();
  const std::vector<std::string> nodes = (*cluster)->node_names();
  ASSERT_EQ(nodes.size(), 3u);

  std::vector<KmeshOriginalNode> layout_nodes;
  for (const std::string& name : nodes) {
    auto info = (*cluster)->network().node(name);
    ASSERT_TRUE(info.has_value());
    layout_nodes.push_back(
        KmeshOriginalNode{name, info->addresses[0], {info->pod_cidrs[0]}, 1});
  }
  int refused = 0;
  for (size_t i = 0; i < nodes.size(); ++i) {
    std::vector<KmeshOriginalNode> peers;
    for (size_t j = 0; j < nodes.size(); ++j) {
      if (j != i) peers.push_back(layout_nodes[j]);
    }
    auto kernel = (*cluster)->network().kernel(nodes[i]);
    KmeshLayoutReport report =
        ProgramKmeshOriginalLayout(kernel->xfrm(), layout_nodes[i], peers);
    for (const absl::Status& add : report.inbound_sa_adds) {
      if (absl::IsAlreadyExists(add)) ++refused;
    }
  }
  // Each node's second inbound SA collides with its first.
  EXPECT_EQ(refused, 3);

  // Managed pods everywhere; every node marks traffic to the others.
  Traffic traffic(&(*cluster)->network());
  std::vector<SimPodInfo> pods;
  for (const std::string& name : nodes) {
    auto pod = (*cluster)->CreatePod("default", "app-" + name, name, {});
    ASSERT_TRUE(pod.ok());
    pods.push_back(*pod);
  }
  for (size_t i = 0; i < pods.size(); ++i) {
    auto kernel = (*cluster)->network().kernel(nodes[i]);
    kernel->SetEncryptMarker(pods[i].ips[0], true);
    for (size_t j = 0; j < pods.size(); ++j) {
      if (j == i) continue;
      ASSERT_TRUE(kernel->marker_maps()
                      .UpsertEncryptCidr(IpPrefix::Host(pods[j].ips[0]))
                      .ok());
      ASSERT_TRUE(
          traffic.AddFlow({"default", pods[i].name, "default", pods[j].name})
              .ok());
    }
  }
  for (int round = 0; round < 10; ++round) traffic.SendRound();
  const DirectionStats totals = traffic.Totals();
  EXPECT_GT(totals.lost, 0u) << "Kmesh's layout must not carry every pair";
  uint64_t integrity_drops = 0;
  for (const std::string& name : nodes) {
    integrity_drops += (*cluster)->network().kernel(name)->xfrm().Stat(
        XfrmStat::kInStateProtoError);
  }
  EXPECT_GT(integrity_drops, 0u);
  (*cluster)->Stop();
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace kmesh::sim
