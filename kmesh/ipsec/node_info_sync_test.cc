// KmeshNodeInfo end to end through the simulated API server, with Kmesh's CRD
// installed (so its schema, including the four required spec fields, is
// enforced) and the real REST client: one node's KubeNodeInfoPublisher
// writes, another node's PeerWatcher sees it.
#include <chrono>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "kmesh/ipsec/node_record.h"
#include "kmesh/ipsec/peer_watcher.h"
#include "kmesh/ipsec/testing/recording_event_sink.h"
#include "kmesh/ipsec/testing/test_nodes.h"
#include "kmesh/kube/kubeconfig.h"
#include "kmesh/kube/rest_kube_client.h"
#include "nlohmann/json.hpp"
#include "sim/kube/api_server.h"
#include "yaml-cpp/yaml.h"

namespace kmesh::ipsec {
namespace {

using ::testing::ElementsAre;

constexpr char kCrdPath[] = "kmesh/daemon/crd/kmeshnodeinfo_crd.yaml";

// YAML as JSON: plain scalars that read as booleans or integers become
// those; quoted and block scalars stay strings.
nlohmann::json YamlToJson(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Map: {
      nlohmann::json object = nlohmann::json::object();
      for (const auto& entry : node) {
        object[entry.first.as<std::string>()] = YamlToJson(entry.second);
      }
      return object;
    }
    case YAML::NodeType::Sequence: {
      nlohmann::json array = nlohmann::json::array();
      for (const auto& item : node) array.push_back(YamlToJson(item));
      return array;
    }
    case YAML::NodeType::Scalar: {
      const std::string text = node.Scalar();
      if (node.Tag() == "?") {
        if (text == "true") return true;
        if (text == "false") return false;
        if (!text.empty() &&
            text.find_first_not_of("-0123456789") == std::string::npos) {
          return std::stoll(text);
        }
      }
      return text;
    }
    default:
      return nullptr;
  }
}

NodeView NodeA(int32_t spi) {
  // No pod CIDRs: "podCIDRS" must still be sent.
  NodeView view = MakeNodeView("node-a", {"172.18.0.2"}, TestBootId(1), {});
  view.spi = spi;
  return view;
}

TEST(NodeInfoSyncTest, PublishedRecordsReachPeersThroughTheApiServer) {
  sim::kube::ApiServer::Options server_options;
  server_options.store.initial_namespaces.push_back("kmesh-system");
  absl::StatusOr<std::unique_ptr<sim::kube::ApiServer>> server =
      sim::kube::ApiServer::Start(server_options);
  ASSERT_TRUE(server.ok()) << server.status();

  std::ifstream crd_file(kCrdPath);
  ASSERT_TRUE(crd_file.good()) << kCrdPath;
  std::stringstream crd_text;
  crd_text << crd_file.rdbuf();
  for (const sim::kube::ResourceType& type : (*server)->store().Types()) {
    if (type.plural != "customresourcedefinitions") continue;
    absl::StatusOr<nlohmann::json> stored = (*server)->store().Create(
        type, "", YamlToJson(YAML::Load(crd_text.str())));
    ASSERT_TRUE(stored.ok()) << stored.status();
  }

  kube::ClusterAccess access;
  access.server = (*server)->url();
  absl::StatusOr<std::unique_ptr<kube::RestKubeClient>> client_a =
      kube::RestKubeClient::ForCluster(access);
  absl::StatusOr<std::unique_ptr<kube::RestKubeClient>> client_b =
      kube::RestKubeClient::ForCluster(access);
  ASSERT_TRUE(client_a.ok() && client_b.ok());

  // The CRD's schema is enforced: a record without podCIDRS is refused, as
  // protobuf's printer would write one with no pod CIDRs.
  absl::StatusOr<std::string> refused = (*client_a)->Create(
      kube::KmeshNodeInfosKind(), "kmesh-system",
      R"({"apiVersion":"kmesh.net/v1alpha1","kind":"KmeshNodeInfo",)"
      R"("metadata":{"name":"node-x"},"spec":{"spi":1,)"
      R"("addresses":["172.18.0.9"],"bootID":"0b1b5f2a-6d3c-4e8f-9a7b-)"
      R"(1c2d3e4f5a6b"}})");
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kInvalidArgument)
      << refused.status();

  KubeNodeInfoPublisher publisher_a(client_a->get());
  KubeNodeInfoPublisher publisher_b(client_b->get());
  NodeView node_b = NodeA(0);
  node_b.name = "node-b";
  node_b.addresses = {"172.18.0.3"};
  // Its own: reported as "own", never as a peer.
  ASSERT_TRUE(publisher_b.Publish(node_b).ok());
  ASSERT_TRUE(publisher_a.Publish(NodeA(0)).ok()) << "keyless record";

  RecordingEventSink recorder;
  PeerWatcher watcher(client_b->get(), "node-b", &recorder);
  std::thread runner([&watcher] { watcher.Run(); });
  recorder.WaitForEvents(3);
  ASSERT_TRUE((*server)->WaitForOpenWatches(1, std::chrono::seconds(20)));

  ASSERT_TRUE(publisher_a.Publish(NodeA(1)).ok());
  ASSERT_TRUE(publisher_a.Publish(NodeA(1)).ok());  // Unchanged: no event.
  ASSERT_TRUE(publisher_a.Publish(NodeA(2)).ok());
  ASSERT_TRUE(publisher_a.Withdraw("node-a").ok());
  ASSERT_TRUE(publisher_a.Withdraw("node-a").ok());  // Already gone: fine.
  recorder.WaitForEvents(6);
  const std::vector<std::string> events = recorder.log();
  watcher.Stop();
  runner.join();

  EXPECT_THAT(events, ElementsAre("upsert node-a spi 0", "own spi 0", "synced",
                                  "upsert node-a spi 1", "upsert node-a spi 2",
                                  "delete node-a"));
  EXPECT_EQ(watcher.invalid_record_count(), 0);
}

}  // namespace
}  // namespace kmesh::ipsec
