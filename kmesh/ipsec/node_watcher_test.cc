#include "kmesh/ipsec/node_watcher.h"

#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "kmesh/ipsec/testing/recording_event_sink.h"
#include "kmesh/ipsec/testing/test_nodes.h"
#include "kmesh/kube/kubeconfig.h"
#include "kmesh/kube/rest_kube_client.h"
#include "nlohmann/json.hpp"
#include "sim/kube/api_server.h"

namespace kmesh::ipsec {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;
using ::testing::SizeIs;

// A Node as kubelet registers it: a Hostname and InternalIPs, the boot ID in
// status.nodeInfo, a heartbeat-like condition; `ready` = false leaves out
// the addresses and the boot ID (kubelet has not reported them yet).
nlohmann::json NodeObject(const std::string& name,
                          const std::vector<std::string>& internal_ips,
                          const std::string& boot_id,
                          const std::string& heartbeat = "t0") {
  nlohmann::json addresses = nlohmann::json::array();
  addresses.push_back({{"type", "Hostname"}, {"address", name}});
  for (const std::string& ip : internal_ips) {
    addresses.push_back({{"type", "InternalIP"}, {"address", ip}});
  }
  nlohmann::json status = {
      {"addresses", addresses},
      {"conditions",
       nlohmann::json::array({{{"type", "Ready"},
                               {"status", "True"},
                               {"lastHeartbeatTime", heartbeat}}})}};
  if (!boot_id.empty()) status["nodeInfo"] = {{"bootID", boot_id}};
  return {{"apiVersion", "v1"},
          {"kind", "Node"},
          {"metadata", {{"name", name}}},
          {"spec", {{"podCIDRs", {"10.244.2.0/24", "fd00:2::/64"}}}},
          {"status", status}};
}

std::string NodeJson(const std::string& name,
                     const std::vector<std::string>& internal_ips,
                     const std::string& boot_id,
                     const std::string& heartbeat = "t0") {
  return NodeObject(name, internal_ips, boot_id, heartbeat).dump();
}

class NodeObjectHandlerTest : public ::testing::Test {
 protected:
  RecordingEventSink sink_;
  NodeObjectHandler handler_{"self", &sink_};
};

TEST_F(NodeObjectHandlerTest, DeliversWhatTheKeyDerivationNeeds) {
  handler_.OnAdd(NodeJson("node2", {"10.0.0.2", "fd00::2"}, TestBootId(2)));
  ASSERT_THAT(sink_.node_upserts(), SizeIs(1));
  const NodeView node = sink_.node_upserts()[0];
  EXPECT_EQ(node.name, "node2");
  EXPECT_EQ(node.spi, 0);
  // InternalIPs only, in the order the Node lists them (the order the
  // node's own record will publish).
  EXPECT_THAT(node.addresses, ElementsAre("10.0.0.2", "fd00::2"));
  EXPECT_EQ(node.boot_id, TestBootId(2));
  EXPECT_THAT(node.pod_cidrs, ElementsAre(*IpPrefix::Parse("10.244.2.0/24"),
                                          *IpPrefix::Parse("fd00:2::/64")));
}

TEST_F(NodeObjectHandlerTest, SkipsTheOwnNode) {
  handler_.OnAdd(NodeJson("self", {"10.0.0.1"}, TestBootId(1)));
  handler_.OnDelete(NodeJson("self", {"10.0.0.1"}, TestBootId(1)));
  EXPECT_THAT(sink_.log(), IsEmpty());
}

TEST_F(NodeObjectHandlerTest, ANodeIsDeliveredOnceKubeletHasReportedIt) {
  handler_.OnAdd(NodeJson("node2", {}, ""));
  handler_.OnUpdate("", NodeJson("node2", {"10.0.0.2"}, ""));
  EXPECT_THAT(sink_.log(), IsEmpty());
  EXPECT_EQ(handler_.unusable_node_count(), 0) << "not ready is no error";
  handler_.OnUpdate("", NodeJson("node2", {"10.0.0.2"}, TestBootId(2)));
  EXPECT_THAT(sink_.log(), ElementsAre("node node2"));
}

TEST_F(NodeObjectHandlerTest, HeartbeatsAreNotDeliveredIdentityChangesAre) {
  handler_.OnAdd(NodeJson("node2", {"10.0.0.2"}, TestBootId(2), "t0"));
  handler_.OnUpdate("", NodeJson("node2", {"10.0.0.2"}, TestBootId(2), "t1"));
  handler_.OnUpdate("", NodeJson("node2", {"10.0.0.2"}, TestBootId(3), "t2"));
  EXPECT_THAT(sink_.log(), ElementsAre("node node2", "node node2"));
  EXPECT_EQ(sink_.node_upserts()[1].boot_id, TestBootId(3));
}

TEST_F(NodeObjectHandlerTest, AnUnusableNodeIsReportedOnceAndTheLastGoodKept) {
  handler_.OnAdd(NodeJson("node2", {"10.0.0.2"}, TestBootId(2)));
  handler_.OnUpdate("", NodeJson("node2", {"10.0.0.2"}, "short-boot-id"));
  handler_.OnUpdate("", NodeJson("node2", {"10.0.0.2"}, "short-boot-id", "t1"));
  handler_.OnUpdate("", NodeJson("node2", {"not-an-ip"}, TestBootId(2)));
  handler_.OnAdd("{not json");
  EXPECT_EQ(handler_.unusable_node_count(), 3);
  EXPECT_THAT(sink_.log(), ElementsAre("node node2"));
  // Usable again, unchanged from what was delivered: nothing to deliver.
  handler_.OnUpdate("", NodeJson("node2", {"10.0.0.2"}, TestBootId(2)));
  EXPECT_THAT(sink_.log(), ElementsAre("node node2"));
}

TEST_F(NodeObjectHandlerTest, DeletesOnlyWhatWasDelivered) {
  handler_.OnAdd(NodeJson("node2", {"10.0.0.2"}, TestBootId(2)));
  handler_.OnDelete(NodeJson("node2", {"10.0.0.2"}, TestBootId(2)));
  handler_.OnDelete(NodeJson("node3", {}, ""));  // Never delivered.
  handler_.OnDelete("{not json");
  handler_.OnSynced();
  EXPECT_THAT(sink_.log(),
              ElementsAre("node node2", "node delete node2", "nodes synced"));
}

// Through the simulated API server and the real REST client: the Node
// objects a cluster registers (status.addresses, status.nodeInfo.bootID)
// reach the watcher as listed, then as watched.
TEST(NodeWatcherTest, SeesNodesThroughTheApiServer) {
  absl::StatusOr<std::unique_ptr<sim::kube::ApiServer>> server =
      sim::kube::ApiServer::Start({});
  ASSERT_TRUE(server.ok()) << server.status();
  kube::ClusterAccess access;
  access.server = (*server)->url();
  absl::StatusOr<std::unique_ptr<kube::RestKubeClient>> client =
      kube::RestKubeClient::ForCluster(access);
  ASSERT_TRUE(client.ok()) << client.status();
  ASSERT_TRUE((*client)
                  ->Create(kube::NodesKind(), "",
                           NodeJson("self", {"172.18.0.2"}, TestBootId(1)))
                  .ok());
  ASSERT_TRUE((*client)
                  ->Create(kube::NodesKind(), "",
                           NodeJson("node-a", {"172.18.0.3"}, TestBootId(2)))
                  .ok());

  RecordingEventSink recorder;
  NodeWatcher watcher(client->get(), "self", &recorder);
  std::thread runner([&watcher] { watcher.Run(); });
  ASSERT_TRUE(recorder.WaitForEvents(2));
  ASSERT_TRUE((*server)->WaitForOpenWatches(1, std::chrono::seconds(20)));
  // A node joins: kubelet registers it with its status (addresses, node
  // info) in the create, as a real kubelet does.
  ASSERT_TRUE((*client)
                  ->Create(kube::NodesKind(), "",
                           NodeJson("node-b", {"172.18.0.4"}, TestBootId(3)))
                  .ok());
  ASSERT_TRUE((*client)->Delete(kube::NodesKind(), "", "node-a").ok());
  ASSERT_TRUE(recorder.WaitForEvents(4));
  const std::vector<std::string> events = recorder.log();
  watcher.Stop();
  runner.join();

  EXPECT_THAT(events, ElementsAre("node node-a", "nodes synced", "node node-b",
                                  "node delete node-a"));
  const std::vector<NodeView> nodes = recorder.node_upserts();
  ASSERT_THAT(nodes, SizeIs(2));
  EXPECT_THAT(nodes[1].addresses, ElementsAre("172.18.0.4"));
  EXPECT_EQ(nodes[1].boot_id, TestBootId(3));
  EXPECT_EQ(watcher.unusable_node_count(), 0);
}

}  // namespace
}  // namespace kmesh::ipsec
