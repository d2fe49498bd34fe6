// The simulated cluster with agents that program nothing: nodes registered
// as kubelet would register them, every pod reachable from every other pod
// in clear, captures and pcap files a real tcpdump reads, the secret
// projected into every node, labels that change at run time, and node
// reboots, departures, arrivals and agent restarts.
#include "sim/cluster/sim_cluster.h"

#include <stdlib.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "kmesh/base/poll_until.h"
#include "kmesh/base/testing/shell_command.h"
#include "kmesh/base/testing/test_directory.h"
#include "nlohmann/json.hpp"
#include "sim/cluster/traffic.h"

namespace kmesh::sim {
namespace {

using ::kmesh::kube::KmeshNodeInfosKind;
using ::kmesh::kube::NamespacesKind;
using ::kmesh::kube::NodesKind;
using ::kmesh::kube::PodsKind;
using ::kmesh::kube::SecretsKind;
using ::kmesh::testing::CommandOutput;
using ::kmesh::testing::HaveTool;
using nlohmann::json;

constexpr char kSecretValue[] = R"({"spi":1})";

std::string SecretJson() {
  json secret = {
      {"apiVersion", "v1"},
      {"kind", "Secret"},
      {"metadata", {{"name", "kmesh-ipsec"}, {"namespace", "kmesh-system"}}},
      {"type", "Opaque"},
      {"data", {{"ipSec", "eyJzcGkiOjF9"}}},  // kSecretValue in base64.
  };
  return secret.dump();
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return "<absent>";
  return std::string((std::istreambuf_iterator<char>(in)), {});
}

std::string ReadLink(const std::string& path) {
  char buf[4096];
  const ssize_t n = readlink(path.c_str(), buf, sizeof(buf));
  return n < 0 ? "" : std::string(buf, n);
}

class SimClusterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = ::kmesh::testing::NewTestDirectory("sim_cluster_test");
  }
  void TearDown() override {
    cluster_.reset();
    std::filesystem::remove_all(dir_);
  }
  void Start(SimClusterOptions options = {}) {
    options.state_dir = dir_;
    auto cluster = SimCluster::Start(std::move(options));
    ASSERT_TRUE(cluster.ok()) << cluster.status();
    cluster_ = *std::move(cluster);
  }
  json Get(const kmesh::kube::ResourceKind& kind, const std::string& ns,
           const std::string& name) {
    auto text = cluster_->client().Get(kind, ns, name);
    if (!text.ok()) return json();
    return json::parse(*text);
  }
  NoopNodeAgent* Agent(const std::string& node) {
    return dynamic_cast<NoopNodeAgent*>(cluster_->agent(node));
  }

  std::string dir_;
  std::unique_ptr<SimCluster> cluster_;
};

TEST_F(SimClusterTest, NodesAreRegisteredTheWayKubeletRegistersThem) {
  Start({.dual_stack = true});
  EXPECT_EQ(cluster_->node_names(),
            (std::vector<std::string>{"master", "node1", "node2"}));
  const json node = Get(NodesKind(), "", "node1");
  ASSERT_FALSE(node.is_null());
  EXPECT_EQ(node["status"]["addresses"][0],
            json({{"type", "InternalIP"}, {"address", "172.18.0.3"}}));
  EXPECT_EQ(node["status"]["addresses"][1]["address"], "fd00:172:18::3");
  EXPECT_EQ(node["spec"]["podCIDRs"],
            json({"10.244.2.0/24", "fd00:10:244:2::/64"}));
  const std::string boot_id = node["status"]["nodeInfo"]["bootID"];
  EXPECT_EQ(boot_id.size(), 36u);
  EXPECT_EQ(boot_id, cluster_->boot_id("node1"));
  EXPECT_NE(boot_id, cluster_->boot_id("node2"));
  EXPECT_FALSE(Get(NamespacesKind(), "", "kmesh-system").is_null());
  // Each node has its agent, given what a daemon pod would have.
  NoopNodeAgent* agent = Agent("node2");
  ASSERT_NE(agent, nullptr);
  EXPECT_TRUE(agent->running());
  EXPECT_EQ(agent->context().kernel, cluster_->network().kernel("node2"));
  EXPECT_EQ(agent->context().key_file_path,
            dir_ + "/nodes/node2/kmesh-ipsec/ipSec");
  EXPECT_TRUE(std::ifstream(agent->context().kubeconfig_path).good());
}

TEST_F(SimClusterTest, PlaintextFlowsBetweenEveryPairOfPods) {
  Start();
  ASSERT_TRUE(
      cluster_
          ->CreateNamespace("default", {{"istio.io/dataplane-mode", "Kmesh"}})
          .ok());
  std::vector<std::string> pods;
  for (const std::string& node : cluster_->node_names()) {
    for (int i = 0; i < 2; ++i) {
      const std::string name = absl::StrCat("app-", node, "-", i);
      auto pod = cluster_->CreatePod("default", name, node, {{"app", "echo"}});
      ASSERT_TRUE(pod.ok()) << pod.status();
      pods.push_back(name);
      const json object = Get(PodsKind(), "default", name);
      EXPECT_EQ(object["spec"]["nodeName"], node);
      EXPECT_EQ(object["status"]["podIP"], pod->ips[0].ToString());
    }
  }
  Traffic traffic(&cluster_->network());
  for (const std::string& a : pods) {
    for (const std::string& b : pods) {
      if (a == b) continue;
      ASSERT_TRUE(traffic.AddFlow({"default", a, "default", b}).ok());
    }
  }
  traffic.SendRound();
  traffic.SendRound();
  const DirectionStats total = traffic.Totals();
  EXPECT_EQ(total.sent, 2u * 2 * 30);
  EXPECT_EQ(total.received, total.sent);
  EXPECT_EQ(total.lost, 0u);
  // 24 of the 30 pairs cross nodes; the agents program nothing: all clear.
  EXPECT_EQ(cluster_->network().wire().PlaintextPackets(), 2u * 2 * 24);
  EXPECT_EQ(cluster_->network().wire().EspPackets(), 0u);
  const auto lines = cluster_->network().CaptureLines("node1");
  ASSERT_FALSE(lines.empty());
  EXPECT_TRUE(absl::StrContains(lines[0], ": UDP, length 64")) << lines[0];
}

TEST_F(SimClusterTest, PcapFilesOpenWithTcpdump) {
  if (!HaveTool("tcpdump")) {
    GTEST_SKIP() << "tcpdump is not installed";
  }
  Start({.write_pcap = true});
  ASSERT_TRUE(cluster_->CreatePod("default", "a", "master", {}).ok());
  ASSERT_TRUE(cluster_->CreatePod("default", "b", "node2", {}).ok());
  Traffic traffic(&cluster_->network());
  ASSERT_TRUE(traffic.AddFlow({"default", "a", "default", "b"}).ok());
  traffic.SendRound();
  ASSERT_TRUE(cluster_->network().FlushCaptures().ok());
  // tcpdump pads the direction column ("In  IP"); squeeze the blanks.
  const std::string out = CommandOutput("TZ=UTC tcpdump -n -r " +
                                        cluster_->network().PcapPath("master") +
                                        " 2>&1 | tr -s ' '");
  EXPECT_TRUE(absl::StrContains(
      out, "Out IP 10.244.1.2.40000 > 10.244.3.2.7: UDP, length 64"))
      << out;
  EXPECT_TRUE(absl::StrContains(
      out, "In IP 10.244.3.2.7 > 10.244.1.2.40000: UDP, length 64"))
      << out;
}

TEST_F(SimClusterTest, TheSecretIsProjectedIntoEveryNode) {
  Start();
  ASSERT_TRUE(cluster_->client()
                  .Create(SecretsKind(), "kmesh-system", SecretJson())
                  .ok());
  for (const std::string& node : cluster_->node_names()) {
    EXPECT_TRUE(PollUntil(
        [&] { return ReadFile(cluster_->key_file_path(node)) == kSecretValue; },
        std::chrono::seconds(10)))
        << node;
  }
}

// The in-process kmeshctl: Kmesh's JSON with the SPI asked for, created the
// first time and replaced the next (one Secret, a new key each time).
TEST_F(SimClusterTest, WriteIpsecSecretCreatesThenReplacesTheSecret) {
  Start();
  ASSERT_TRUE(cluster_->WriteIpsecSecret(1).ok());
  const json first = Get(SecretsKind(), "kmesh-system", "kmesh-ipsec");
  ASSERT_TRUE(first.is_object());
  ASSERT_TRUE(cluster_->WriteIpsecSecret(2).ok());
  const json second = Get(SecretsKind(), "kmesh-system", "kmesh-ipsec");
  ASSERT_TRUE(second.is_object());
  EXPECT_NE(first["metadata"]["resourceVersion"],
            second["metadata"]["resourceVersion"]);
  EXPECT_NE(first["data"]["ipSec"], second["data"]["ipSec"]);
  ASSERT_TRUE(PollUntil(
      [&] {
        return ReadFile(cluster_->key_file_path("master")).find("\"spi\":2") !=
               std::string::npos;
      },
      std::chrono::seconds(10)))
      << ReadFile(cluster_->key_file_path("master"));
}

TEST_F(SimClusterTest, LabelsChangeAtRunTime) {
  Start();
  ASSERT_TRUE(cluster_->CreateNamespace("shop", {}).ok());
  ASSERT_TRUE(
      cluster_->CreatePod("shop", "cart", "node1", {{"app", "cart"}}).ok());
  ASSERT_TRUE(
      cluster_->SetNamespaceLabel("shop", "istio.io/dataplane-mode", "Kmesh")
          .ok());
  EXPECT_EQ(Get(NamespacesKind(), "",
                "shop")["metadata"]["labels"]["istio.io/dataplane-mode"],
            "Kmesh");
  ASSERT_TRUE(
      cluster_->SetPodLabel("shop", "cart", "istio.io/dataplane-mode", "none")
          .ok());
  ASSERT_TRUE(
      cluster_
          ->SetNamespaceLabel("shop", "istio.io/dataplane-mode", std::nullopt)
          .ok());
  const json pod = Get(PodsKind(), "shop", "cart");
  EXPECT_EQ(pod["metadata"]["labels"],
            json({{"app", "cart"}, {"istio.io/dataplane-mode", "none"}}));
  EXPECT_FALSE(
      Get(NamespacesKind(), "", "shop")["metadata"].contains("labels") &&
      Get(NamespacesKind(), "", "shop")["metadata"]["labels"].contains(
          "istio.io/dataplane-mode"));
  EXPECT_FALSE(cluster_->SetPodLabel("shop", "nope", "a", "b").ok());
}

TEST_F(SimClusterTest, RebootWipesTheKernelAndChangesTheBootId) {
  Start();
  ASSERT_TRUE(cluster_->CreatePod("default", "a", "master", {}).ok());
  ASSERT_TRUE(cluster_->CreatePod("default", "b", "node1", {}).ok());
  auto kernel = cluster_->network().kernel("node1");
  XfrmPolicy block;
  block.dir = XfrmDir::kOut;
  block.selector = XfrmSelector{IpPrefix::Any(IpFamily::kV4),
                                IpPrefix::Any(IpFamily::kV4), 0};
  block.mark = XfrmMark{0xe0, 0xffffffff};
  block.action = XfrmAction::kBlock;
  ASSERT_TRUE(kernel->xfrm().AddPolicy(block).ok());
  const std::string old_boot = cluster_->boot_id("node1");
  NoopNodeAgent* old_agent = Agent("node1");
  ASSERT_NE(old_agent, nullptr);
  const auto old_kernel_in_agent = old_agent->context().kernel;
  EXPECT_EQ(old_kernel_in_agent, kernel);

  // The key is in node1's secret volume before the reboot...
  ASSERT_TRUE(cluster_->client()
                  .Create(SecretsKind(), "kmesh-system", SecretJson())
                  .ok());
  const std::string key_file = cluster_->key_file_path("node1");
  ASSERT_TRUE(PollUntil([&] { return ReadFile(key_file) == kSecretValue; },
                        std::chrono::seconds(10)));
  const std::string data_dir =
      ReadLink(cluster_->node_dir("node1") + "/kmesh-ipsec/..data");

  ASSERT_TRUE(cluster_->RebootNode("node1").ok());
  // ...and is projected again into the emptied tmpfs as the node comes up.
  EXPECT_EQ(ReadFile(key_file), kSecretValue);
  EXPECT_NE(ReadLink(cluster_->node_dir("node1") + "/kmesh-ipsec/..data"),
            data_dir);
  const std::string new_boot = cluster_->boot_id("node1");
  EXPECT_NE(new_boot, old_boot);
  EXPECT_EQ(new_boot.size(), 36u);
  EXPECT_EQ(Get(NodesKind(), "", "node1")["status"]["nodeInfo"]["bootID"],
            new_boot);
  auto fresh = cluster_->network().kernel("node1");
  EXPECT_NE(fresh, kernel);
  EXPECT_EQ(fresh->xfrm().policy_count(), 0u);
  NoopNodeAgent* agent = Agent("node1");
  ASSERT_NE(agent, nullptr);
  EXPECT_TRUE(agent->running());
  EXPECT_EQ(agent->context().kernel, fresh);
  // Pods on the rebooted node are reachable again.
  Traffic traffic(&cluster_->network());
  ASSERT_TRUE(traffic.AddFlow({"default", "a", "default", "b"}).ok());
  traffic.SendRound();
  EXPECT_EQ(traffic.Totals().received, 2u);
}

TEST_F(SimClusterTest, NodesLeaveAndJoin) {
  Start();
  ASSERT_TRUE(cluster_->CreatePod("default", "c", "node2", {}).ok());
  json info = {
      {"apiVersion", "kmesh.net/v1alpha1"},
      {"kind", "KmeshNodeInfo"},
      {"metadata", {{"name", "node2"}, {"namespace", "kmesh-system"}}},
      {"spec", {{"spi", 1}}},
  };
  ASSERT_TRUE(cluster_->client()
                  .Create(KmeshNodeInfosKind(), "kmesh-system", info.dump())
                  .ok());
  auto spis = cluster_->AdvertisedSpis();
  ASSERT_TRUE(spis.ok()) << spis.status();
  EXPECT_EQ(*spis, (std::map<std::string, int>{{"node2", 1}}));

  ASSERT_TRUE(cluster_->RemoveNode("node2").ok());
  EXPECT_TRUE(Get(NodesKind(), "", "node2").is_null());
  EXPECT_TRUE(Get(PodsKind(), "default", "c").is_null());
  EXPECT_TRUE(cluster_->AdvertisedSpis()->empty());
  EXPECT_EQ(cluster_->agent("node2"), nullptr);
  EXPECT_EQ(cluster_->node_names(),
            (std::vector<std::string>{"master", "node1"}));

  ASSERT_TRUE(cluster_->AddNode("node3").ok());
  const json node = Get(NodesKind(), "", "node3");
  EXPECT_EQ(node["spec"]["podCIDRs"], json({"10.244.4.0/24"}));
  ASSERT_NE(Agent("node3"), nullptr);
  EXPECT_TRUE(Agent("node3")->running());
  EXPECT_FALSE(cluster_->RemoveNode("node2").ok());
}

// A state directory reused from an earlier run still holds that run's
// node directories; a node that joins now must not start with the key file
// projected there then (same SPI, another key).
TEST_F(SimClusterTest, ANewNodeDoesNotInheritAnEarlierRunsFiles) {
  const std::string old_dir = dir_ + "/nodes/node3/kmesh-ipsec";
  std::filesystem::create_directories(old_dir);
  std::ofstream(old_dir + "/ipSec") << kSecretValue;
  std::ofstream(dir_ + "/nodes/node3/leftover") << "x";
  Start();
  ASSERT_TRUE(cluster_->AddNode("node3").ok());
  EXPECT_EQ(ReadFile(cluster_->key_file_path("node3")), "<absent>");
  EXPECT_FALSE(std::filesystem::exists(dir_ + "/nodes/node3/leftover"));
  EXPECT_TRUE(std::filesystem::is_directory(cluster_->node_dir("node3")));
}

TEST_F(SimClusterTest, AgentRestartKeepsTheKernelState) {
  int created = 0;
  SimClusterOptions options;
  options.agent_factory = [&created](const NodeAgentContext& context)
      -> absl::StatusOr<std::unique_ptr<NodeAgent>> {
    ++created;
    return std::make_unique<NoopNodeAgent>(context);
  };
  Start(options);
  EXPECT_EQ(created, 3);
  auto kernel = cluster_->network().kernel("master");
  ASSERT_TRUE(kernel->marker_maps()
                  .UpsertUnmanagedPod(*IpAddress::Parse("10.244.2.9"))
                  .ok());
  ASSERT_TRUE(cluster_->RestartAgent("master").ok());
  EXPECT_EQ(created, 4);  // A new agent: a new daemon process.
  ASSERT_NE(Agent("master"), nullptr);
  EXPECT_TRUE(Agent("master")->running());
  EXPECT_EQ(cluster_->network().kernel("master"), kernel);
  EXPECT_TRUE(
      kernel->marker_maps().IsUnmanagedPod(*IpAddress::Parse("10.244.2.9")));
}

TEST_F(SimClusterTest, AnAgentThatCannotStartFailsTheBringUp) {
  SimClusterOptions options;
  options.state_dir = dir_;
  options.agent_factory = [](const NodeAgentContext&)
      -> absl::StatusOr<std::unique_ptr<NodeAgent>> {
    return absl::FailedPreconditionError("no IPsec agent wired: test");
  };
  auto cluster = SimCluster::Start(options);
  ASSERT_FALSE(cluster.ok());
  EXPECT_TRUE(
      absl::StrContains(cluster.status().message(), "no IPsec agent wired"));
}

}  // namespace
}  // namespace kmesh::sim
