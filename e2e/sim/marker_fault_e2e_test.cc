// Marker faults heal by themselves (issue 18, point 4): on the simulated
// cluster with the production agent on every node and no kmesh-cni (so the
// daemon is the only one attaching), a managed pod's encrypt-marker attach
// fails several times (injected ENOMEM, as tc under memory pressure), and
// nothing else happens in the cluster: no pod, namespace or key event that
// could trigger a retry. The agent's timer retries with its backoff (0.5 s,
// 1 s, 2 s, ...) until the attach succeeds, and the pod's traffic to a
// managed pod on another node then leaves as ESP.
#include <chrono>
#include <filesystem>
#include <functional>
#include <string>
#include <thread>

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

bool WaitFor(const std::function<bool()>& done, std::chrono::seconds limit) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    if (done()) return true;
    std::this_thread::sleep_for(milliseconds(20));
  }
  return done();
}

TEST(MarkerFaultE2eTest, FailedAttachHealsOnTheTimerInAQuietCluster) {
  const std::string dir =
      ::kmesh::testing::NewTestDirectory("kmesh-marker-fault");
  SimClusterOptions options;
  options.state_dir = dir;
  options.nodes = {"node1", "node2"};
  options.kmesh_cni = false;
  auto factory = DaemonNodeAgentFactory();
  ASSERT_TRUE(factory.ok()) << factory.status();
  options.agent_factory = *factory;
  auto started = SimCluster::Start(options);
  ASSERT_TRUE(started.ok()) << started.status();
  std::unique_ptr<SimCluster> cluster = *std::move(started);
  ASSERT_TRUE(
      cluster->SetNamespaceLabel("default", "istio.io/dataplane-mode", "Kmesh")
          .ok());
  auto server = cluster->CreatePod("default", "server", "node2", {});
  ASSERT_TRUE(server.ok()) << server.status();
  auto warm = cluster->CreatePod("default", "warm", "node1", {});
  ASSERT_TRUE(warm.ok()) << warm.status();
  Traffic traffic(&cluster->network());
  ASSERT_TRUE(traffic.AddFlow({"default", "warm", "default", "server"}).ok());
  ASSERT_TRUE(cluster->WriteIpsecSecret(1).ok());
  // Until both nodes encrypt to each other: after that nothing changes.
  ASSERT_TRUE(WaitFor(
      [&] {
        traffic.SendRound();
        return cluster->AllNodesAdvertise(1) && cluster->EspBetweenAllNodes(1);
      },
      std::chrono::seconds(30)));

  // Three attaches fail; then the cluster stays quiet.
  std::shared_ptr<SimKernel> node1 = cluster->network().kernel("node1");
  node1->FailNextEncryptAttaches(3);
  const auto created_at = std::chrono::steady_clock::now();
  auto client = cluster->CreatePod("default", "client", "node1", {});
  ASSERT_TRUE(client.ok()) << client.status();
  auto marked = [&] {
    absl::StatusOr<bool> m =
        node1->InterfaceEncryptMarker(PodHostInterface(*client));
    return m.ok() && *m;
  };
  // The first attempt (on the pod event) and two timed retries fail; the
  // third timed retry (after 0.5 + 1 + 2 s of backoff) succeeds. (Before
  // timed retries, nothing would ever retry here.)
  ASSERT_TRUE(WaitFor(marked, std::chrono::seconds(20)))
      << "the marker was never attached";
  const auto healed_after = std::chrono::steady_clock::now() - created_at;
  EXPECT_GE(healed_after, milliseconds(3500 - 100));
  RecordProperty(
      "healed_after_ms",
      static_cast<int>(
          std::chrono::duration_cast<milliseconds>(healed_after).count()));

  // And it marks: the client's traffic to the server is ESP.
  auto flow = traffic.AddFlow({"default", "client", "default", "server"});
  ASSERT_TRUE(flow.ok());
  for (int i = 0; i < 5; ++i) traffic.SendRound();
  EXPECT_EQ(traffic.Stats()[*flow].request.received, 5u);
  EXPECT_EQ(cluster->network().wire().PlaintextPackets(client->ips[0],
                                                       server->ips[0]),
            0u);
  cluster->Stop();
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace kmesh::sim
