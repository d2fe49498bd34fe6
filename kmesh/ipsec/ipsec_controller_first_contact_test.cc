// First contact (docs/decisions.md): with the nodes known from their Node
// objects (IpsecControllerOptions::learn_nodes), every path a sender uses is
// decryptable by its receiver at every step of the first key's rollout and of
// a node's join, in every order of key arrival and with any node's watch
// lagging; without them, the same schedules send ESP a receiver has no SA
// for (XfrmInNoStates), which shows that the check can fail.
#include <algorithm>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "kmesh/ipsec/ipsec_controller.h"
#include "kmesh/ipsec/testing/test_cluster.h"
#include "kmesh/ipsec/testing/test_nodes.h"
#include "kmesh/ipsec/testing/test_psk.h"
#include "kmesh/ipsec/testing/xfrm_objects.h"

namespace kmesh::ipsec {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

IpsecControllerOptions LearnNodes(bool learn) {
  IpsecControllerOptions options;
  options.learn_nodes = learn;
  return options;
}

// The paths a sender uses (it has an outbound SA to the receiver: the agent
// marks traffic to exactly those peers) that do not arrive encrypted,
// decrypted and accepted, as "s->r <result>".
std::vector<std::string> BrokenSentPaths(const TestCluster& cluster) {
  std::vector<std::string> broken;
  for (const auto& [s, r] : cluster.Pairs()) {
    const IpsecController* sender = cluster.nodes[s]->controller.get();
    if (sender == nullptr || cluster.nodes[r]->controller == nullptr) continue;
    if (sender->outbound_spi(cluster.nodes[r]->view.name) == 0) continue;
    const PathResult result = cluster.CheckPath(s, r);
    if (result != PathResult::kEncrypted) {
      broken.push_back(absl::StrCat(s, "->", r, " ", PathResultName(result)));
    }
  }
  return broken;
}

// Starts node i knowing the Node objects of `registered` (when the cluster
// learns nodes) and the records published so far.
void StartKnowing(TestCluster& cluster, int i,
                  const std::vector<int>& registered, bool learn) {
  cluster.RestartController(i);
  if (learn) cluster.DeliverNodeObjects(i, registered);
  cluster.DeliverRecords(i);
  cluster.nodes[i]->controller->OnPeersSynced();
}

// The first key reaches three nodes in `order`; records to `slow` (-1:
// none) are held until the end. Returns every broken path seen at any step.
std::vector<std::string> FirstKeyRollout(bool learn,
                                         const std::vector<int>& order,
                                         int slow) {
  TestCluster cluster(3, LearnNodes(learn));
  for (int i = 0; i < 3; ++i) StartKnowing(cluster, i, {0, 1, 2}, learn);
  if (slow >= 0) cluster.held.insert(slow);
  std::vector<std::string> broken;
  auto check = [&] {
    for (std::string& path : BrokenSentPaths(cluster)) {
      broken.push_back(std::move(path));
    }
  };
  for (int i : order) {
    cluster.GiveKey(i, 1, TestPsk(1));
    check();
    cluster.PumpAll(check);
  }
  cluster.held.clear();
  cluster.PumpAll(check);
  for (const auto& [s, r] : cluster.Pairs()) {
    EXPECT_EQ(cluster.CheckPath(s, r), PathResult::kEncrypted)
        << s << "->" << r << " after the rollout";
  }
  return broken;
}

std::vector<std::vector<int>> Orders() {
  std::vector<int> order = {0, 1, 2};
  std::vector<std::vector<int>> all;
  do {
    all.push_back(order);
  } while (std::next_permutation(order.begin(), order.end()));
  return all;
}

TEST(FirstContactTest, FirstKeyEveryPathUsedDecryptsInEveryOrder) {
  for (const std::vector<int>& order : Orders()) {
    for (int slow = -1; slow < 3; ++slow) {
      SCOPED_TRACE(absl::StrCat("order ", order[0], order[1], order[2],
                                " slow watcher ", slow));
      EXPECT_THAT(FirstKeyRollout(/*learn=*/true, order, slow), IsEmpty());
    }
  }
}

TEST(FirstContactTest, WithoutNodeObjectsTheFirstKeyLosesPackets) {
  int schedules_with_loss = 0;
  for (const std::vector<int>& order : Orders()) {
    for (int slow = -1; slow < 3; ++slow) {
      std::vector<std::string> broken =
          FirstKeyRollout(/*learn=*/false, order, slow);
      for (const std::string& path : broken) {
        EXPECT_THAT(path, ::testing::HasSubstr("undecryptable"));
      }
      if (!broken.empty()) ++schedules_with_loss;
    }
  }
  EXPECT_GT(schedules_with_loss, 0);
}

// Three nodes on SPI 1; node 3 registers (its Node object reaches the
// others), then its daemon starts, gets the key, publishes and sends at
// once, while the others have not seen its record yet.
std::vector<std::string> Join(bool learn) {
  TestCluster cluster(4, LearnNodes(learn));
  for (int i = 0; i < 3; ++i) StartKnowing(cluster, i, {0, 1, 2}, learn);
  for (int i = 0; i < 3; ++i) cluster.GiveKey(i, 1, TestPsk(1));
  cluster.PumpAll();
  if (learn) {
    for (int i = 0; i < 3; ++i) {
      cluster.nodes[i]->controller->OnNodeUpsert(cluster.nodes[3]->view);
    }
  }
  StartKnowing(cluster, 3, {0, 1, 2, 3}, learn);
  cluster.held = {0, 1, 2};
  cluster.GiveKey(3, 1, TestPsk(1));
  cluster.PumpAll();
  for (int r = 0; r < 3; ++r) {
    EXPECT_EQ(
        cluster.nodes[3]->controller->outbound_spi(cluster.nodes[r]->view.name),
        1)
        << "node 3 sends to node " << r << " at once";
  }
  std::vector<std::string> broken = BrokenSentPaths(cluster);
  cluster.held.clear();
  cluster.PumpAll([&] {
    for (std::string& path : BrokenSentPaths(cluster)) {
      broken.push_back(std::move(path));
    }
  });
  for (const auto& [s, r] : cluster.Pairs()) {
    EXPECT_EQ(cluster.CheckPath(s, r), PathResult::kEncrypted)
        << s << "->" << r << " after the join";
  }
  return broken;
}

TEST(FirstContactTest, AJoiningNodeIsReceivedFromBeforeItsRecordArrives) {
  EXPECT_THAT(Join(/*learn=*/true), IsEmpty());
}

TEST(FirstContactTest, WithoutNodeObjectsAJoiningNodeLosesPackets) {
  // Each peer in turn, until its record reaches it.
  const std::vector<std::string> broken = Join(/*learn=*/false);
  EXPECT_THAT(broken, ::testing::IsSupersetOf({"3->0 undecryptable",
                                               "3->1 undecryptable",
                                               "3->2 undecryptable"}));
  EXPECT_THAT(broken, ::testing::Each(::testing::HasSubstr("undecryptable")));
}

TEST(FirstContactTest, RotationWithNodesKnownStaysDecryptableInEveryOrder) {
  for (const std::vector<int>& order : Orders()) {
    for (int slow = 0; slow < 3; ++slow) {
      SCOPED_TRACE(absl::StrCat("order ", order[0], order[1], order[2],
                                " slow watcher ", slow));
      TestCluster cluster(3, LearnNodes(true));
      for (int i = 0; i < 3; ++i) StartKnowing(cluster, i, {0, 1, 2}, true);
      cluster.RollOutKey(1);
      cluster.held.insert(slow);
      auto check = [&] {
        EXPECT_THAT(BrokenSentPaths(cluster), IsEmpty());
        for (const auto& [s, r] : cluster.Pairs()) {
          EXPECT_EQ(cluster.CheckPath(s, r), PathResult::kEncrypted)
              << s << "->" << r;
        }
      };
      for (int i : order) {
        cluster.GiveKey(i, 2, TestPsk(2));
        check();
        cluster.PumpAll(check);
      }
      cluster.held.clear();
      cluster.PumpAll(check);
      for (int i = 0; i < 3; ++i) EXPECT_EQ(cluster.PublishedSpi(i), 2);
    }
  }
}

TEST(FirstContactTest, AdvertisingWaitsForTheNodeList) {
  TestCluster cluster(3, LearnNodes(true));
  for (int i = 1; i < 3; ++i) StartKnowing(cluster, i, {0, 1, 2}, true);
  IpsecController& c = cluster.RestartController(0);
  c.OnPeersSynced();  // No records yet, and no Node list either.
  c.OnKeyChanged(1, TestPsk(1));
  EXPECT_EQ(c.advertised_spi(), 0) << "the nodes are not all known yet";
  c.OnNodeUpsert(cluster.nodes[1]->view);
  c.OnNodeUpsert(cluster.nodes[2]->view);
  EXPECT_EQ(c.advertised_spi(), 0);
  c.OnNodesSynced();
  EXPECT_EQ(c.advertised_spi(), 1);
  // Both are received from, neither is sent to: they advertise nothing.
  for (int r = 1; r < 3; ++r) {
    const std::string& name = cluster.nodes[r]->view.name;
    EXPECT_THAT(c.inbound_spis(name), ElementsAre(1)) << name;
    EXPECT_EQ(c.outbound_spi(name), 0) << name;
  }
  EXPECT_THAT(c.PeersWithOutboundSa(), IsEmpty());
}

TEST(FirstContactTest, ANodeWithoutRecordIsReceivedFromButNotSentTo) {
  TestCluster cluster(3, LearnNodes(true));
  for (int i = 0; i < 3; ++i) StartKnowing(cluster, i, {0, 1, 2}, true);
  cluster.RollOutKey(1);
  IpsecController& c = *cluster.nodes[0]->controller;
  const std::string node1 = cluster.nodes[1]->view.name;
  std::vector<std::string> changes;
  c.SetOutboundPeerListener([&](const std::string& peer, bool has) {
    changes.push_back(absl::StrCat(peer, has ? " +" : " -"));
  });
  ASSERT_EQ(c.outbound_spi(node1), 1);

  // node1 withdraws its record (uninstall); its Node stays.
  c.OnPeerDelete(node1);
  EXPECT_EQ(c.outbound_spi(node1), 0);
  EXPECT_THAT(c.inbound_spis(node1), ElementsAre(1));
  EXPECT_TRUE(c.peer_index(node1).has_value());
  EXPECT_THAT(changes, ElementsAre(node1 + " -"));
  EXPECT_EQ(cluster.CheckPath(1, 0), PathResult::kEncrypted)
      << "node1 -> node0 still decrypts";
  EXPECT_EQ(cluster.CheckPath(0, 1), PathResult::kBlocked)
      << "marked traffic to node1 is dropped, never sent in clear";

  // It publishes again: sent to at once.
  c.OnPeerUpsert(cluster.records().at(node1));
  EXPECT_EQ(c.outbound_spi(node1), 1);

  // Record and Node both gone: nothing is left of it.
  c.OnPeerDelete(node1);
  c.OnNodeDelete(node1);
  EXPECT_FALSE(c.peer_index(node1).has_value());
  const IpAddress gone = *IpAddress::Parse(cluster.nodes[1]->view.addresses[0]);
  for (const XfrmSa& sa : OwnedSas(DumpedSas(cluster.nodes[0]->sim))) {
    EXPECT_NE(sa.src, gone);
    EXPECT_NE(sa.dst, gone);
  }
}

// A restart sees a peer's Node before its record: what the previous run
// left for it stays as it is until the record list is complete, so a
// restart cuts nothing and changes nothing.
TEST(FirstContactTest, RestartKeepsSendingToPeersSeenFirstFromTheirNode) {
  TestCluster cluster(3, LearnNodes(true));
  for (int i = 0; i < 3; ++i) StartKnowing(cluster, i, {0, 1, 2}, true);
  cluster.RollOutKey(1);
  IpsecController& c = cluster.RestartController(0);
  c.OnNodeUpsert(cluster.nodes[1]->view);
  c.OnNodeUpsert(cluster.nodes[2]->view);
  c.OnNodesSynced();
  for (int r = 1; r < 3; ++r) {
    EXPECT_EQ(cluster.CheckPath(0, r), PathResult::kEncrypted) << r;
    EXPECT_EQ(cluster.CheckPath(r, 0), PathResult::kEncrypted) << r;
  }
  const XfrmOpCounts before = c.xfrm_op_counts();
  cluster.DeliverRecords(0);
  c.OnPeersSynced();
  for (const auto& [s, r] : cluster.Pairs()) {
    EXPECT_EQ(cluster.CheckPath(s, r), PathResult::kEncrypted)
        << s << "->" << r;
  }
  EXPECT_EQ(c.stats().xfrm_errors, 0u);
  EXPECT_EQ(c.xfrm_op_counts().changes(), before.changes())
      << "a restart changes nothing in the kernel";
}

// After a restart, a peer known only from its Node (it withdrew its record
// while this daemon was down) stops being sent to once the record list is
// complete.
TEST(FirstContactTest, RestartStopsSendingToANodeWhoseRecordIsGone) {
  TestCluster cluster(3, LearnNodes(true));
  for (int i = 0; i < 3; ++i) StartKnowing(cluster, i, {0, 1, 2}, true);
  cluster.RollOutKey(1);
  IpsecController& c = cluster.RestartController(0);
  const std::string node2 = cluster.nodes[2]->view.name;
  c.OnNodeUpsert(cluster.nodes[1]->view);
  c.OnNodeUpsert(cluster.nodes[2]->view);
  c.OnNodesSynced();
  EXPECT_EQ(cluster.CheckPath(0, 2), PathResult::kEncrypted)
      << "what the previous run left stays until the record list is complete";
  c.OnPeerUpsert(cluster.records().at(cluster.nodes[1]->view.name));
  c.OnPeersSynced();  // node2 has no record.
  EXPECT_EQ(c.outbound_spi(node2), 0);
  EXPECT_THAT(c.inbound_spis(node2), ElementsAre(1));
  EXPECT_EQ(cluster.CheckPath(0, 2), PathResult::kBlocked);
  EXPECT_EQ(cluster.CheckPath(2, 0), PathResult::kEncrypted);
}

}  // namespace
}  // namespace kmesh::ipsec
