// Peer records checked against their Node objects (issue 21; docs/
// reliability.md, "Peer records"): with IpsecControllerOptions::learn_nodes,
// a KmeshNodeInfo whose addresses are not its Node's InternalIPs, whose pod
// CIDRs are not within its Node's spec.podCIDRs or overlap another node's, or
// that has no Node, is not programmed; what an earlier valid record made this
// node program is withdrawn as for a deleted record; the rejection is
// reported; and the record is used again once it or the Nodes agree. Also:
// a peer left without a peer index is not retried on every Tick.
#include <string>
#include <vector>

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
using ::testing::Field;
using ::testing::IsEmpty;
using ::testing::SizeIs;

IpsecControllerOptions LearnNodes() {
  IpsecControllerOptions options;
  options.learn_nodes = true;
  return options;
}

// Node i started knowing the Node objects of `registered` and the records
// published so far.
void StartKnowing(TestCluster& cluster, int i,
                  const std::vector<int>& registered) {
  cluster.RestartController(i);
  cluster.DeliverNodeObjects(i, registered);
  cluster.DeliverRecords(i);
  cluster.nodes[i]->controller->OnPeersSynced();
}

// Three nodes that know each other, with key 1 rolled out.
void StartThree(TestCluster& cluster) {
  for (int i = 0; i < 3; ++i) StartKnowing(cluster, i, {0, 1, 2});
  cluster.RollOutKey(1);
}

// Whether any SA or policy in node i's kernel involves `address` or
// `prefix`.
bool KernelMentions(const TestCluster& cluster, int i,
                    const std::string& address, const std::string& prefix) {
  const IpAddress a = *IpAddress::Parse(address);
  for (const XfrmSa& sa : OwnedSas(DumpedSas(cluster.nodes[i]->sim))) {
    if (sa.src == a || sa.dst == a) return true;
  }
  for (const XfrmPolicy& p :
       OwnedPolicies(DumpedPolicies(cluster.nodes[i]->sim))) {
    if (p.selector.dst.ToString() == prefix) return true;
    for (const XfrmTemplate& t : p.templates) {
      if (t.src == a || t.dst == a) return true;
    }
  }
  return false;
}

TEST(PeerRecordValidationTest, RecordClaimingAnotherNodesPodCidrIsRejected) {
  TestCluster cluster(3, LearnNodes());
  StartThree(cluster);
  IpsecController& c = *cluster.nodes[0]->controller;
  const std::string node2 = cluster.nodes[2]->view.name;
  const NodeView honest = cluster.records().at(node2);
  ASSERT_EQ(c.outbound_spi(node2), 1);

  // node-2's daemon claims node-1's pods as its own.
  NodeView hostile = honest;
  const IpPrefix stolen = cluster.nodes[1]->view.pod_cidrs[0];
  hostile.pod_cidrs.push_back(stolen);
  c.OnPeerUpsert(hostile);

  EXPECT_EQ(c.outbound_spi(node2), 0) << "treated as a deleted record";
  for (const XfrmPolicy& p :
       OwnedPolicies(DumpedPolicies(cluster.nodes[0]->sim))) {
    if (p.dir != XfrmDir::kOut || p.selector.dst != stolen) continue;
    for (const XfrmTemplate& t : p.templates) {
      EXPECT_NE(t.dst, *IpAddress::Parse(cluster.nodes[2]->view.addresses[0]))
          << "node-1's pods' traffic would go to node-2";
    }
  }
  EXPECT_EQ(cluster.CheckPath(0, 1), PathResult::kEncrypted)
      << "node-1 is still reached as node-1";
  EXPECT_EQ(cluster.CheckPath(2, 0), PathResult::kEncrypted)
      << "node-2 is still received from, as its Node says";
  const IpsecControllerSnapshot snapshot = c.Snapshot();
  ASSERT_THAT(snapshot.rejected_records, SizeIs(1));
  EXPECT_EQ(snapshot.rejected_records[0].name, node2);
  EXPECT_EQ(snapshot.rejected_records[0].reason, "pod_cidr_not_on_node");
  EXPECT_THAT(snapshot.rejected_records[0].detail,
              ::testing::HasSubstr(stolen.ToString()));
  EXPECT_EQ(snapshot.stats.records_rejected, 1u);
  c.OnPeerUpsert(hostile);  // Again: reported once.
  EXPECT_EQ(c.stats().records_rejected, 1u);

  // The honest record again: used at once.
  c.OnPeerUpsert(honest);
  EXPECT_EQ(c.outbound_spi(node2), 1);
  EXPECT_THAT(c.Snapshot().rejected_records, IsEmpty());
  EXPECT_EQ(cluster.CheckPath(0, 2), PathResult::kEncrypted);
}

// The Node objects themselves overlap (node-2's Node was also given
// node-1's pod CIDR): a record within its own Node's CIDRs that overlaps
// another node's is still rejected, and accepted once the Nodes agree.
TEST(PeerRecordValidationTest, RecordOverlappingAnotherNodeIsRejected) {
  TestCluster cluster(3, LearnNodes());
  StartThree(cluster);
  IpsecController& c = *cluster.nodes[0]->controller;
  const std::string node2 = cluster.nodes[2]->view.name;
  const IpPrefix node1_cidr = cluster.nodes[1]->view.pod_cidrs[0];
  NodeView node_object = cluster.nodes[2]->view;
  node_object.pod_cidrs.push_back(node1_cidr);
  c.OnNodeUpsert(node_object);
  NodeView record = cluster.records().at(node2);
  record.pod_cidrs.push_back(node1_cidr);
  c.OnPeerUpsert(record);

  // Which of the two is right cannot be told: neither record is used, and
  // marked traffic to either is dropped, not sent in clear nor to the
  // other.
  EXPECT_EQ(c.outbound_spi(node2), 0);
  EXPECT_EQ(c.outbound_spi(cluster.nodes[1]->view.name), 0);
  EXPECT_THAT(
      c.Snapshot().rejected_records,
      ElementsAre(Field(&IpsecControllerSnapshot::RejectedRecord::reason,
                        "pod_cidr_overlap"),
                  Field(&IpsecControllerSnapshot::RejectedRecord::reason,
                        "pod_cidr_overlap")));
  EXPECT_EQ(cluster.CheckPath(0, 1), PathResult::kBlocked);
  EXPECT_EQ(cluster.CheckPath(0, 2), PathResult::kBlocked);

  // node-1's Node goes (the node left): nothing overlaps any more.
  c.OnPeerDelete(cluster.nodes[1]->view.name);
  c.OnNodeDelete(cluster.nodes[1]->view.name);
  EXPECT_THAT(c.Snapshot().rejected_records, IsEmpty());
  EXPECT_EQ(c.outbound_spi(node2), 1);
}

TEST(PeerRecordValidationTest, AddressNotOnTheNodeIsRejected) {
  TestCluster cluster(3, LearnNodes());
  StartThree(cluster);
  IpsecController& c = *cluster.nodes[0]->controller;
  const std::string node2 = cluster.nodes[2]->view.name;
  const NodeView honest = cluster.records().at(node2);
  // node-2 claims node-1's address (and so its decrypt-marker entry and
  // its traffic).
  NodeView hostile = honest;
  hostile.addresses = {cluster.nodes[1]->view.addresses[0]};
  c.OnPeerUpsert(hostile);

  EXPECT_EQ(c.outbound_spi(node2), 0);
  ASSERT_THAT(c.Snapshot().rejected_records, SizeIs(1));
  EXPECT_EQ(c.Snapshot().rejected_records[0].reason, "address_not_on_node");
  // Programmed from its Node only: received from at its own address.
  EXPECT_THAT(c.inbound_spis(node2), ElementsAre(1));
  EXPECT_EQ(cluster.CheckPath(0, 1), PathResult::kEncrypted);
  EXPECT_EQ(cluster.CheckPath(1, 0), PathResult::kEncrypted);
  EXPECT_EQ(cluster.CheckPath(2, 0), PathResult::kEncrypted);

  // An address on no Node at all.
  hostile.addresses = {"10.99.99.99"};
  c.OnPeerUpsert(hostile);
  EXPECT_FALSE(KernelMentions(cluster, 0, "10.99.99.99", "none"));
  EXPECT_EQ(c.stats().records_rejected, 2u) << "a new problem, reported";
}

TEST(PeerRecordValidationTest, RecordWithoutANodeIsNotUsed) {
  TestCluster cluster(3, LearnNodes());
  for (int i = 1; i < 3; ++i) StartKnowing(cluster, i, {0, 1, 2});
  cluster.RestartController(0);
  // node-0 knows node-1's Node only; node-2's record comes all the same.
  cluster.DeliverNodeObjects(0, {1});
  cluster.DeliverRecords(0);
  IpsecController& c = *cluster.nodes[0]->controller;
  c.OnPeersSynced();
  cluster.RollOutKey(1);
  const NodeView& node2 = cluster.nodes[2]->view;
  EXPECT_FALSE(c.peer_index(node2.name).has_value());
  EXPECT_EQ(c.outbound_spi(node2.name), 0);
  EXPECT_FALSE(KernelMentions(cluster, 0, node2.addresses[0],
                              node2.pod_cidrs[0].ToString()));
  EXPECT_THAT(
      c.Snapshot().rejected_records,
      ElementsAre(
          Field(&IpsecControllerSnapshot::RejectedRecord::reason, "no_node")));
  EXPECT_EQ(c.outbound_spi(cluster.nodes[1]->view.name), 1);

  // Its Node appears: the record set aside is used.
  c.OnNodeUpsert(node2);
  EXPECT_EQ(c.outbound_spi(node2.name), 1);
  EXPECT_THAT(c.Snapshot().rejected_records, IsEmpty());
  EXPECT_EQ(cluster.CheckPath(0, 2), PathResult::kEncrypted);
  EXPECT_EQ(cluster.CheckPath(2, 0), PathResult::kEncrypted);

  // And goes again: the record is set aside, nothing is left of node-2.
  c.OnNodeDelete(node2.name);
  EXPECT_FALSE(c.peer_index(node2.name).has_value());
  EXPECT_THAT(c.Snapshot().rejected_records, SizeIs(1));
}

// Records that arrive before the Node list are not reported as rejected:
// they are used when their Nodes come.
TEST(PeerRecordValidationTest, RecordsBeforeTheNodeListAreNotReported) {
  TestCluster cluster(3, LearnNodes());
  for (int i = 1; i < 3; ++i) {
    StartKnowing(cluster, i, {0, 1, 2});
    cluster.GiveKey(i, 1, TestPsk(1));
  }
  IpsecController& c = cluster.RestartController(0);
  cluster.DeliverRecords(0);
  c.OnPeersSynced();
  EXPECT_THAT(c.Snapshot().rejected_records, IsEmpty());
  cluster.DeliverNodeObjects(0, {1, 2});
  EXPECT_EQ(c.stats().records_rejected, 0u);
  EXPECT_THAT(c.Snapshot().rejected_records, IsEmpty());
  c.OnKeyChanged(1, TestPsk(1));
  cluster.PumpAll();
  for (const auto& [s, r] : cluster.Pairs()) {
    EXPECT_EQ(cluster.CheckPath(s, r), PathResult::kEncrypted)
        << s << "->" << r;
  }
}

// Index exhaustion: a peer that found no free index waits; Ticks do not
// retry it (nor walk the peers) until an index is freed, and then it gets
// one.
TEST(PeerIndexExhaustionTest, WaitingPeerIsRetriedOnlyWhenAnIndexIsFreed) {
  IpsecControllerOptions options = LearnNodes();
  options.max_peer_index = 1;
  TestCluster cluster(3, options);
  StartThree(cluster);
  IpsecController& c = *cluster.nodes[0]->controller;
  const std::string node1 = cluster.nodes[1]->view.name;
  const std::string node2 = cluster.nodes[2]->view.name;
  ASSERT_TRUE(c.peer_index(node1).has_value());
  ASSERT_FALSE(c.peer_index(node2).has_value());
  const uint64_t exhaustions = c.stats().index_exhaustions;
  EXPECT_GE(exhaustions, 1u);
  EXPECT_EQ(c.Snapshot().peers_without_index, 1u);
  for (int t = 0; t < 100; ++t) {
    cluster.clock.Advance(std::chrono::milliseconds(500));
    c.Tick();
  }
  EXPECT_EQ(c.stats().index_exhaustions, exhaustions)
      << "a Tick retried the waiting peer with every index taken";

  // node-1 leaves: once its SAs are gone its index is free, and node-2
  // gets it.
  c.OnPeerDelete(node1);
  c.OnNodeDelete(node1);
  c.Tick();
  EXPECT_EQ(c.peer_index(node2), 1);
  EXPECT_EQ(c.Snapshot().peers_without_index, 0u);
  EXPECT_EQ(c.outbound_spi(node2), 1);
  EXPECT_EQ(cluster.CheckPath(0, 2), PathResult::kEncrypted);
}

}  // namespace
}  // namespace kmesh::ipsec
