#include "kmesh/ipsec/ipsec_controller.h"

#include <cerrno>
#include <chrono>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "kmesh/ipsec/testing/recording_node_info_publisher.h"
#include "kmesh/ipsec/testing/test_cluster.h"
#include "kmesh/ipsec/testing/test_nodes.h"
#include "kmesh/ipsec/testing/test_psk.h"
#include "kmesh/ipsec/testing/xfrm_objects.h"
#include "kmesh/kernel/kernel_error.h"
#include "kmesh/kernel/testing/mock_xfrm_kernel.h"
#include "sim/kernel/kmesh_original_layout/kmesh_original_layout.h"
#include "sim/kernel/memory_marker_maps.h"
#include "sim/kernel/xfrm/sim_xfrm.h"

namespace kmesh::ipsec {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

constexpr auto kGrace = std::chrono::minutes(5);

std::vector<XfrmSa> OwnedSasOf(const ClusterNode& node) {
  return OwnedSas(DumpedSas(node.sim));
}

IpAddress Address(const ClusterNode& node) {
  return *IpAddress::Parse(node.view.addresses[0]);
}

// (a): every ordered pair has exactly one outbound SA and exactly one
// inbound SA for it with the same derived key.
// The SAs between two addresses, of one direction, in `sas`.
std::vector<XfrmSa> SasBetween(const std::vector<XfrmSa>& sas, bool inbound,
                               const IpAddress& from, const IpAddress& to) {
  std::vector<XfrmSa> out;
  for (const XfrmSa& sa : sas) {
    if (IsInboundSa(sa) == inbound && sa.src == from && sa.dst == to) {
      out.push_back(sa);
    }
  }
  return out;
}

void ExpectOnePairOfSasPerDirection(const TestCluster& cluster) {
  std::vector<std::vector<XfrmSa>> sas;
  for (const auto& node : cluster.nodes) sas.push_back(OwnedSasOf(*node));
  for (const auto& [s, r] : cluster.Pairs()) {
    const IpAddress from = Address(*cluster.nodes[s]);
    const IpAddress to = Address(*cluster.nodes[r]);
    const std::vector<XfrmSa> outbound = SasBetween(sas[s], false, from, to);
    const std::vector<XfrmSa> inbound = SasBetween(sas[r], true, from, to);
    ASSERT_EQ(outbound.size(), 1u) << s << "->" << r;
    ASSERT_EQ(inbound.size(), 1u) << s << "->" << r;
    EXPECT_EQ(inbound[0].spi, outbound[0].spi);
    EXPECT_TRUE(inbound[0].aead_key == outbound[0].aead_key) << s << "->" << r;
  }
}

// Every path is encrypted (with `spi_text` in the outbound SA's description,
// when given).
void ExpectAllPathsEncrypted(const TestCluster& cluster,
                             IpFamily family = IpFamily::kV4,
                             const std::string& spi_text = "",
                             const std::string& step = "") {
  for (const auto& [s, r] : cluster.Pairs()) {
    std::string sa;
    PathResult result = cluster.CheckPath(s, r, family, &sa);
    ASSERT_EQ(result, PathResult::kEncrypted)
        << step << ": " << s << "->" << r << " " << PathResultName(result)
        << " " << sa;
    EXPECT_THAT(sa, HasSubstr(spi_text)) << s << "->" << r;
  }
}

int AlreadyExistsTotal(const TestCluster& cluster) {
  int total = 0;
  for (const auto& node : cluster.nodes) total += node->kernel.already_exists;
  return total;
}

class IpsecControllerTest : public ::testing::Test {
 protected:
  // n nodes, none started yet.
  TestCluster& NewCluster(int n, IpsecControllerOptions options = {},
                          bool dual_stack = false) {
    cluster_ = std::make_unique<TestCluster>(n, options, dual_stack);
    return *cluster_;
  }
  // n started nodes that all hold and advertise SPI 1.
  TestCluster& KeyedCluster(int n, IpsecControllerOptions options = {},
                            bool dual_stack = false) {
    TestCluster& cluster = NewCluster(n, options, dual_stack);
    cluster.StartAll();
    cluster.RollOutKey(1);
    return cluster;
  }

 private:
  std::unique_ptr<TestCluster> cluster_;
};

class ClusterSizeTest : public IpsecControllerTest,
                        public ::testing::WithParamInterface<int> {};

TEST_P(ClusterSizeTest, EveryPairHasOneMatchingSaPairAndNoEexist) {
  TestCluster& cluster = KeyedCluster(GetParam());
  ExpectOnePairOfSasPerDirection(cluster);
  ExpectAllPathsEncrypted(cluster);
  EXPECT_EQ(AlreadyExistsTotal(cluster), 0);
  for (const auto& node : cluster.nodes) {
    EXPECT_EQ(node->controller->advertised_spi(), 1);
    EXPECT_EQ(node->controller->stats().xfrm_errors, 0u);
  }
}

INSTANTIATE_TEST_SUITE_P(Sizes, ClusterSizeTest, ::testing::Values(3, 5, 50));

TEST_F(IpsecControllerTest, DualStackClusterEncryptsBothFamilies) {
  TestCluster& cluster = KeyedCluster(3, {}, /*dual_stack=*/true);
  ExpectAllPathsEncrypted(cluster, IpFamily::kV4);
  ExpectAllPathsEncrypted(cluster, IpFamily::kV6);
  EXPECT_EQ(AlreadyExistsTotal(cluster), 0);
}

TEST_F(IpsecControllerTest, UnmarkedTrafficAndNodesWithoutKeysNeverLeak) {
  TestCluster& cluster = NewCluster(3);
  cluster.StartAll();
  // Before any key: marked traffic is blocked, not sent in clear.
  EXPECT_EQ(cluster.CheckPath(0, 1), PathResult::kBlocked);
  cluster.GiveKey(0, 1, TestPsk(1));
  cluster.PumpAll();
  // Node 1 has no key and advertises nothing: node 0 cannot send to it.
  EXPECT_EQ(cluster.CheckPath(0, 1), PathResult::kBlocked);
  EXPECT_EQ(cluster.CheckPath(1, 0), PathResult::kBlocked);
}

// (b) Invariants checked after every single step of a rotation.
void CheckRotationInvariants(const TestCluster& cluster,
                             const std::string& step) {
  const int n = static_cast<int>(cluster.nodes.size());
  for (int i = 0; i < n; ++i) {
    const ClusterNode& node = *cluster.nodes[i];
    const int32_t spi = cluster.PublishedSpi(i);
    if (spi == 0) continue;
    // Never advertise an SPI without inbound SAs for it from every peer.
    for (int p = 0; p < n; ++p) {
      if (p == i) continue;
      const IpAddress peer = Address(*cluster.nodes[p]);
      auto index = node.markers.LookupPeer(peer);
      ASSERT_TRUE(index.has_value()) << step << ": node " << i << " peer " << p;
      auto sa = node.sim.LookupInboundSa(Address(node), spi, kIpProtoEsp,
                                         InboundSaMark(*index).value);
      ASSERT_TRUE(sa.has_value())
          << step << ": node " << i << " advertises SPI " << spi
          << " without an inbound SA from node " << p;
    }
  }
  // No sender uses an SPI its receiver cannot decrypt, nothing leaks, and
  // nothing is lost (everybody already had SPI 1).
  ExpectAllPathsEncrypted(cluster, IpFamily::kV4, "", step);
}

TEST_F(IpsecControllerTest, RotationNeverAdvertisesEarlyNorSendsUndecryptable) {
  TestCluster& cluster = KeyedCluster(5);
  CheckRotationInvariants(cluster, "initial");

  // Nodes learn key 2 at different times; nodes 3 and 4 see peer records
  // late (their watchers lag).
  int step = 0;
  auto check = [&] {
    CheckRotationInvariants(cluster, absl::StrCat("step ", ++step));
  };
  cluster.held = {3, 4};
  cluster.GiveKey(0, 2, TestPsk(2));
  check();
  cluster.PumpAll(check);
  cluster.GiveKey(2, 2, TestPsk(2));
  check();
  cluster.PumpAll(check);
  cluster.held = {4};
  cluster.PumpAll(check);
  cluster.GiveKey(4, 2, TestPsk(2));
  check();
  cluster.GiveKey(1, 2, TestPsk(2));
  check();
  cluster.PumpAll(check);
  cluster.held.clear();
  cluster.PumpAll(check);
  cluster.GiveKey(3, 2, TestPsk(2));
  check();
  cluster.PumpAll(check);

  // Everybody moved: SPI 2 in both directions on every pair.
  for (int s = 0; s < 5; ++s) EXPECT_EQ(cluster.PublishedSpi(s), 2);
  ExpectAllPathsEncrypted(cluster, IpFamily::kV4, "spi 0x00000002");
  EXPECT_EQ(AlreadyExistsTotal(cluster), 0);
  EXPECT_GT(step, 20);
}

TEST_F(IpsecControllerTest, NothingIsAdvertisedBeforeThePeerListIsComplete) {
  TestCluster& cluster = KeyedCluster(3);
  ClusterNode& node = *cluster.nodes[0];
  // Restart with a key learnt while down; peers arrive after the key.
  node.publisher.published.clear();
  cluster.RestartController(0).OnKeyChanged(2, TestPsk(2));
  EXPECT_EQ(node.controller->advertised_spi(), 0);
  cluster.DeliverRecords(0);
  EXPECT_TRUE(node.publisher.published.empty());
  node.controller->OnPeersSynced();
  EXPECT_EQ(node.controller->advertised_spi(), 2);
  CheckRotationInvariants(cluster, "after sync");
}

TEST_F(IpsecControllerTest, InboundFailureDelaysAdvertisingUntilRetried) {
  TestCluster& cluster = KeyedCluster(3);
  ClusterNode& node = *cluster.nodes[0];
  node.sim.FailNext(XfrmOp::kAddSa, 1, KernelError(ENOBUFS, "XFRM add SA"));
  cluster.GiveKey(0, 2, TestPsk(2));
  EXPECT_EQ(node.controller->advertised_spi(), 1)
      << "an inbound SA for SPI 2 is missing: SPI 2 must not be advertised";
  EXPECT_GT(node.controller->stats().xfrm_errors, 0u);
  // The status endpoint and metrics count it by operation and errno.
  const IpsecControllerSnapshot failed = node.controller->Snapshot();
  EXPECT_EQ(failed.xfrm_errors_by_op.size(), 1u);
  EXPECT_EQ(failed.xfrm_errors_by_op.count({XfrmOp::kAddSa, ENOBUFS}), 1u);
  EXPECT_EQ(failed.target_spi, 2);
  EXPECT_EQ(failed.advertised_spi, 1);
  cluster.clock.Advance(std::chrono::seconds(10));
  node.controller->Tick();
  EXPECT_EQ(node.controller->advertised_spi(), 2);
  cluster.PumpAll();
  CheckRotationInvariants(cluster, "after retry");
}

// (c) Reclaim of the old SPI.
int CountInbound(const ClusterNode& node, uint32_t spi) {
  int count = 0;
  for (const XfrmSa& sa : OwnedSasOf(node)) {
    count += IsInboundSa(sa) && sa.spi == spi;
  }
  return count;
}

TEST_F(IpsecControllerTest,
       OldSpiStaysThroughGraceAndWhileAnyPeerAdvertisesIt) {
  IpsecControllerOptions options;
  options.grace_period = kGrace;
  TestCluster& cluster = KeyedCluster(3, options);
  // Nodes 0 and 1 rotate; node 2 is still on SPI 1.
  cluster.GiveKey(0, 2, TestPsk(2));
  cluster.GiveKey(1, 2, TestPsk(2));
  cluster.PumpAll();
  cluster.clock.Advance(std::chrono::hours(1));
  cluster.TickAll();
  EXPECT_EQ(CountInbound(*cluster.nodes[0], 1), 2)
      << "node 2 still advertises SPI 1: keep it however long it takes";
  ExpectAllPathsEncrypted(cluster);

  cluster.GiveKey(2, 2, TestPsk(2));
  cluster.PumpAll();
  cluster.clock.Advance(kGrace - std::chrono::seconds(1));
  cluster.TickAll();
  for (const auto& node : cluster.nodes) {
    EXPECT_EQ(CountInbound(*node, 1), 2) << node->view.name << " too early";
  }
  ExpectAllPathsEncrypted(cluster);
  cluster.clock.Advance(std::chrono::seconds(2));
  cluster.TickAll();
  for (const auto& node : cluster.nodes) {
    EXPECT_EQ(CountInbound(*node, 1), 0) << node->view.name;
    EXPECT_EQ(CountInbound(*node, 2), 2) << node->view.name;
    EXPECT_EQ(node->controller->inbound_spis(), std::vector<int32_t>{2});
    EXPECT_EQ(node->controller->stats().spis_reclaimed, 1u);
  }
  ExpectAllPathsEncrypted(cluster);
  ExpectOnePairOfSasPerDirection(cluster);
}

// The out policy moving to the new SPI is atomic, but a packet that picked
// the old SA just before it moved still needs that SA when it is encrypted
// (Linux drops it as XfrmOutStateInvalid otherwise): the old outbound SA
// stays, without a policy, until its SPI is reclaimed.
int CountOutbound(const ClusterNode& node, uint32_t spi) {
  int count = 0;
  for (const XfrmSa& sa : OwnedSasOf(node)) {
    count += !IsInboundSa(sa) && sa.spi == spi;
  }
  return count;
}

TEST_F(IpsecControllerTest, OldOutboundSaOutlivesItsPolicyUntilReclaim) {
  IpsecControllerOptions options;
  options.grace_period = kGrace;
  TestCluster& cluster = KeyedCluster(3, options);
  cluster.RollOutKey(2);
  for (const auto& node : cluster.nodes) {
    EXPECT_EQ(CountOutbound(*node, 1), 2) << node->view.name;
    EXPECT_EQ(CountOutbound(*node, 2), 2) << node->view.name;
    for (const XfrmPolicy& p : OwnedPolicies(DumpedPolicies(node->sim))) {
      if (p.dir != XfrmDir::kOut || p.action != XfrmAction::kAllow) continue;
      ASSERT_EQ(p.templates.size(), 1u);
      EXPECT_EQ(p.templates[0].spi, 2u) << node->view.name;
    }
    if (node->view.name != "node-0") {
      EXPECT_THAT(node->controller->retiring_outbound_spis("node-0"),
                  ElementsAre(1));
    }
  }
  ExpectAllPathsEncrypted(cluster, IpFamily::kV4, "spi 0x00000002");

  cluster.clock.Advance(kGrace + std::chrono::seconds(1));
  cluster.TickAll();
  for (const auto& node : cluster.nodes) {
    EXPECT_EQ(CountOutbound(*node, 1), 0) << node->view.name;
    EXPECT_EQ(CountOutbound(*node, 2), 2) << node->view.name;
    EXPECT_THAT(node->controller->retiring_outbound_spis("node-1"), IsEmpty());
  }
  ExpectOnePairOfSasPerDirection(cluster);
}

// What the status endpoint shows of a rotation: the new SPI advertised, the
// old one held for its grace period with its reclaim time, every peer sent to
// with the new SPI and the old outbound SA retiring; then only the new SPI.
TEST_F(IpsecControllerTest, SnapshotShowsARotationAndItsReclaim) {
  IpsecControllerOptions options;
  options.grace_period = kGrace;
  TestCluster& cluster = KeyedCluster(3, options);
  const TimePoint learnt = cluster.clock.Now();
  cluster.RollOutKey(2);
  const IpsecControllerSnapshot during =
      cluster.nodes[1]->controller->Snapshot();
  EXPECT_TRUE(during.started);
  EXPECT_TRUE(during.peers_synced);
  EXPECT_EQ(during.target_spi, 2);
  EXPECT_EQ(during.advertised_spi, 2);
  EXPECT_EQ(during.target_learnt_at, learnt);
  EXPECT_THAT(during.held_spis, ElementsAre(1, 2));
  EXPECT_THAT(during.inbound_spis, ElementsAre(1, 2));
  ASSERT_EQ(during.pending_reclaims.size(), 1u);
  EXPECT_EQ(during.pending_reclaims[0].spi, 1);
  EXPECT_EQ(during.pending_reclaims[0].due,
            during.pending_reclaims[0].releasable_since + kGrace);
  ASSERT_EQ(during.peers.size(), 2u);
  for (const IpsecControllerSnapshot::Peer& peer : during.peers) {
    EXPECT_TRUE(peer.has_record) << peer.name;
    EXPECT_EQ(peer.advertised_spi, 2) << peer.name;
    EXPECT_EQ(peer.outbound_spi, 2) << peer.name;
    EXPECT_THAT(peer.retiring_outbound_spis, ElementsAre(1)) << peer.name;
    EXPECT_THAT(peer.inbound_installed, ElementsAre(1, 2)) << peer.name;
    EXPECT_NE(peer.index, 0) << peer.name;
    EXPECT_EQ(peer.problem, "") << peer.name;
  }
  EXPECT_EQ(during.peers[0].name, "node-0");
  EXPECT_TRUE(during.xfrm_errors_by_op.empty());

  cluster.clock.Advance(kGrace + std::chrono::seconds(1));
  cluster.TickAll();
  const IpsecControllerSnapshot after =
      cluster.nodes[1]->controller->Snapshot();
  EXPECT_THAT(after.held_spis, ElementsAre(2));
  EXPECT_THAT(after.inbound_spis, ElementsAre(2));
  EXPECT_TRUE(after.pending_reclaims.empty());
  EXPECT_EQ(after.stats.spis_reclaimed, 1u);
  for (const IpsecControllerSnapshot::Peer& peer : after.peers) {
    EXPECT_THAT(peer.retiring_outbound_spis, IsEmpty()) << peer.name;
  }
}

TEST_F(IpsecControllerTest, GraceRestartsWhenAPeerFallsBackToTheOldSpi) {
  TestCluster& cluster = KeyedCluster(3);
  cluster.RollOutKey(2);
  cluster.clock.Advance(std::chrono::minutes(4));
  cluster.TickAll();
  // Node 2 restarts with an old key file and advertises SPI 1 again.
  NodeView stale = cluster.records().at("node-2");
  stale.spi = 1;
  cluster.nodes[0]->controller->OnPeerUpsert(stale);
  cluster.clock.Advance(std::chrono::minutes(2));
  cluster.nodes[0]->controller->Tick();
  EXPECT_EQ(CountInbound(*cluster.nodes[0], 1), 2);
  stale.spi = 2;
  cluster.nodes[0]->controller->OnPeerUpsert(stale);
  cluster.clock.Advance(std::chrono::minutes(4));
  cluster.nodes[0]->controller->Tick();
  EXPECT_EQ(CountInbound(*cluster.nodes[0], 1), 2) << "grace restarted";
  cluster.clock.Advance(std::chrono::minutes(2));
  cluster.nodes[0]->controller->Tick();
  EXPECT_EQ(CountInbound(*cluster.nodes[0], 1), 0);
}

// Finding 5 of docs/reliability.md (the one-hour chaos soak): node 1's watch
// of node 0's record stalls for longer than the grace period, so node 1
// still sends to node 0 with SPI 1 although it advertises SPI 2 itself.
// Node 0 keeps SPI 1 while its packets arrive, says who still sends with it,
// and removes it once they stop.
TEST_F(IpsecControllerTest, AnOldSpiStillReceivedWithIsKeptUntilItsPeerStops) {
  IpsecControllerOptions options;
  options.grace_period = kGrace;
  TestCluster& cluster = KeyedCluster(3, options);
  cluster.held = {1};  // Node 1 sees no record from now on.
  cluster.RollOutKey(2);
  ASSERT_EQ(cluster.nodes[1]->controller->outbound_spi("node-0"), 1);
  ASSERT_EQ(cluster.PublishedSpi(1), 2);
  constexpr auto kStep = std::chrono::seconds(10);
  // One grace period and a bit of traffic from node 1 to node 0 (and back).
  for (auto t = kStep; t <= kGrace + 3 * kStep; t += kStep) {
    cluster.clock.Advance(kStep);
    cluster.TickAll();
    ASSERT_EQ(cluster.SendPacket(1, 0), PathResult::kEncrypted)
        << "lost after " << t.count() << " s";
    ASSERT_EQ(cluster.SendPacket(0, 1), PathResult::kEncrypted);
  }
  EXPECT_THAT(cluster.nodes[0]->controller->inbound_spis("node-1"),
              ElementsAre(1, 2));
  const IpsecControllerSnapshot held = cluster.nodes[0]->controller->Snapshot();
  ASSERT_EQ(held.pending_reclaims.size(), 1u);
  EXPECT_TRUE(held.pending_reclaims[0].held);
  EXPECT_THAT(held.pending_reclaims[0].still_sent_by, ElementsAre("node-1"));
  EXPECT_EQ(held.pending_reclaims[0].deadline,
            held.pending_reclaims[0].due + kGrace);
  EXPECT_GT(held.stats.reclaim_holds, 0u);
  // Node 2 sends with SPI 2 only: node 2's view is current, so nothing of
  // it keeps SPI 1 on node 2's side for long.
  EXPECT_THAT(cluster.nodes[2]->controller->inbound_spis(), ElementsAre(2));

  // Node 1 catches up and moves to SPI 2; node 0 removes SPI 1 once its
  // counters have stood still for a quiet interval (30 s), so within two
  // of the last packet with it.
  cluster.held.clear();
  cluster.PumpAll();
  ASSERT_EQ(cluster.nodes[1]->controller->outbound_spi("node-0"), 2);
  auto since_last_old = std::chrono::seconds(0);
  while (cluster.nodes[0]->controller->inbound_spis().size() > 1) {
    ASSERT_LE(since_last_old, std::chrono::seconds(60)) << "never removed";
    cluster.clock.Advance(kStep);
    since_last_old += kStep;
    cluster.TickAll();
    ASSERT_EQ(cluster.SendPacket(1, 0), PathResult::kEncrypted);
    ASSERT_EQ(cluster.SendPacket(0, 1), PathResult::kEncrypted);
  }
  EXPECT_GE(since_last_old, std::chrono::seconds(30)) << "removed too early";
  EXPECT_THAT(cluster.nodes[0]->controller->inbound_spis(), ElementsAre(2));
  const IpsecControllerSnapshot after =
      cluster.nodes[0]->controller->Snapshot();
  EXPECT_TRUE(after.pending_reclaims.empty());
  EXPECT_EQ(after.stats.reclaims_forced, 0u);
  EXPECT_EQ(after.stats.spis_reclaimed, 1u);
}

// A peer that never catches up does not keep an old key for ever: one more
// grace period, then the SPI goes (and its packets with it: the loss the
// docs name), counted as forced.
TEST_F(IpsecControllerTest, AnOldSpiIsRemovedAtTheHoldLimitWhateverArrives) {
  IpsecControllerOptions options;
  options.grace_period = kGrace;
  TestCluster& cluster = KeyedCluster(2, options);
  cluster.held = {1};
  cluster.RollOutKey(2);
  ASSERT_EQ(cluster.nodes[1]->controller->outbound_spi("node-0"), 1);
  constexpr auto kStep = std::chrono::seconds(10);
  auto t = kStep;
  for (; t < 2 * kGrace; t += kStep) {
    cluster.clock.Advance(kStep);
    cluster.TickAll();
    ASSERT_EQ(cluster.SendPacket(1, 0), PathResult::kEncrypted)
        << "lost after " << t.count() << " s";
  }
  cluster.clock.Advance(kStep);
  cluster.TickAll();
  EXPECT_THAT(cluster.nodes[0]->controller->inbound_spis(), ElementsAre(2));
  EXPECT_EQ(cluster.SendPacket(1, 0), PathResult::kUndecryptable);
  EXPECT_EQ(cluster.nodes[0]->controller->stats().reclaims_forced, 1u);
}

// Without traffic the hold costs nothing: the reclaim comes when the grace
// period ends, after two dumps of the SA table (when the timer starts and
// when it ends) besides what the rotation itself does.
TEST_F(IpsecControllerTest, AQuietOldSpiGoesWhenTheGracePeriodEnds) {
  IpsecControllerOptions options;
  options.grace_period = kGrace;
  TestCluster& cluster = KeyedCluster(2, options);
  cluster.RollOutKey(2);
  const uint64_t dumps = cluster.nodes[0]->controller->xfrm_op_counts().dumps;
  cluster.clock.Advance(kGrace - std::chrono::seconds(1));
  cluster.TickAll();
  EXPECT_THAT(cluster.nodes[0]->controller->inbound_spis(), ElementsAre(1, 2));
  cluster.clock.Advance(std::chrono::seconds(1));
  cluster.TickAll();
  EXPECT_THAT(cluster.nodes[0]->controller->inbound_spis(), ElementsAre(2));
  EXPECT_LE(cluster.nodes[0]->controller->xfrm_op_counts().dumps, dumps + 2);
}

// Deciding whether an old SPI is still needed walks every peer; through a
// grace period nothing it reads changes, so ticks must not repeat the walk
// (ten ticks a second times a thousand peers, on every node). A change to a
// peer does, and the reclaim still comes exactly when the grace period ends.
TEST_F(IpsecControllerTest, TicksThroughTheGracePeriodDoNotWalkThePeers) {
  IpsecControllerOptions options;
  options.grace_period = kGrace;
  TestCluster& cluster = KeyedCluster(3, options);
  cluster.RollOutKey(2);
  IpsecController& node0 = *cluster.nodes[0]->controller;
  const uint64_t walks = node0.stats().reclaim_walks;
  EXPECT_GT(walks, 0u);
  for (int i = 0; i < 50; ++i) {
    cluster.clock.Advance(std::chrono::seconds(1));
    node0.Tick();
  }
  EXPECT_EQ(node0.stats().reclaim_walks, walks) << "ticks walked the peers";
  EXPECT_EQ(CountInbound(*cluster.nodes[0], 1), 2);

  // The same record again is still an input change: one walk, same verdict,
  // and the grace period keeps its start.
  node0.OnPeerUpsert(cluster.records().at("node-1"));
  EXPECT_EQ(node0.stats().reclaim_walks, walks + 1);
  cluster.clock.Advance(kGrace - std::chrono::seconds(51));
  node0.Tick();
  EXPECT_EQ(CountInbound(*cluster.nodes[0], 1), 2) << "too early";
  cluster.clock.Advance(std::chrono::seconds(2));
  node0.Tick();
  EXPECT_EQ(CountInbound(*cluster.nodes[0], 1), 0);
  EXPECT_EQ(node0.stats().spis_reclaimed, 1u);
}

TEST_F(IpsecControllerTest,
       RecreatedSecretRestartingAtSpiOneIsNewerAndReclaims) {
  TestCluster& cluster = KeyedCluster(3);
  cluster.RollOutKey(2);
  cluster.clock.Advance(kGrace + std::chrono::seconds(1));
  cluster.TickAll();
  // delete + create: SPI 1 again, another key.
  cluster.RollOutKey(1, 3);
  ExpectAllPathsEncrypted(cluster);
  for (const auto& node : cluster.nodes) {
    EXPECT_EQ(node->controller->advertised_spi(), 1);
    EXPECT_EQ(node->controller->stats().key_epoch_resets, 0u)
        << "SPI 1 had been reclaimed already";
  }
  cluster.clock.Advance(kGrace + std::chrono::seconds(1));
  cluster.TickAll();
  for (const auto& node : cluster.nodes) {
    EXPECT_EQ(node->controller->inbound_spis(), std::vector<int32_t>{1})
        << "SPI 2 is older than the new SPI 1 and goes";
  }
  ExpectAllPathsEncrypted(cluster);
}

TEST_F(IpsecControllerTest, SameSpiWithAnotherKeyReplacesKeysInPlace) {
  TestCluster& cluster = KeyedCluster(3);
  cluster.RollOutKey(1, 9);
  ExpectOnePairOfSasPerDirection(cluster);
  ExpectAllPathsEncrypted(cluster);
  for (const auto& node : cluster.nodes) {
    EXPECT_EQ(node->controller->stats().key_epoch_resets, 1u);
  }
  EXPECT_EQ(AlreadyExistsTotal(cluster), 0);
}

TEST_F(IpsecControllerTest, PeerChangesTouchOnlyThatPeersObjects) {
  TestCluster& cluster = KeyedCluster(5);
  ClusterNode& node = *cluster.nodes[0];
  const int before = node.kernel.changes;
  NodeView peer = cluster.records().at("node-3");
  peer.boot_id = TestBootId(3, 1);  // Rebooted.
  node.controller->OnPeerUpsert(peer);
  // One inbound and one outbound SA, each replaced (delete + add).
  EXPECT_EQ(node.kernel.changes - before, 4);
  // New pod CIDR and new address: the stale ones go away.
  peer.pod_cidrs = {*IpPrefix::Parse("10.200.3.0/24")};
  peer.addresses = {"10.9.9.9"};
  node.controller->OnPeerUpsert(peer);
  bool stale = false;
  for (const XfrmPolicy& p : DumpedPolicies(node.sim)) {
    stale |= p.selector.src.ToString() == "10.103.3.0/24" ||
             p.selector.dst.ToString() == "10.103.3.0/24";
  }
  EXPECT_FALSE(stale);
  for (const XfrmSa& sa : OwnedSasOf(node)) {
    EXPECT_NE(sa.src.ToString(), "10.0.0.4");
    EXPECT_NE(sa.dst.ToString(), "10.0.0.4");
  }
  EXPECT_FALSE(node.markers.LookupPeer(*IpAddress::Parse("10.0.0.4")));
  EXPECT_TRUE(node.markers.LookupPeer(*IpAddress::Parse("10.9.9.9")));
  // Deleting the peer removes exactly its objects.
  const size_t sas = node.sim.sa_count();
  const size_t policies = node.sim.policy_count();
  node.controller->OnPeerDelete("node-3");
  EXPECT_EQ(node.sim.sa_count(), sas - 2);
  EXPECT_EQ(node.sim.policy_count(), policies - 3);
  EXPECT_FALSE(node.markers.LookupPeer(*IpAddress::Parse("10.9.9.9")));
  EXPECT_FALSE(node.controller->peer_index("node-3").has_value());
}

TEST_F(IpsecControllerTest, RestartAdoptsKernelStateWithoutAnyChange) {
  TestCluster& cluster = KeyedCluster(3);
  ClusterNode& node = *cluster.nodes[0];
  const int before = node.kernel.changes;
  const uint16_t index = *node.controller->peer_index("node-2");
  // Crash: no Shutdown. The new process starts, reads its key, hears peers.
  cluster.RestartController(0);
  ExpectAllPathsEncrypted(cluster);
  node.controller->OnKeyChanged(1, TestPsk(1));
  ExpectAllPathsEncrypted(cluster);
  for (const auto& [name, view] : cluster.records()) {
    if (name != node.view.name) node.controller->OnPeerUpsert(view);
    ExpectAllPathsEncrypted(cluster);
  }
  node.controller->OnPeersSynced();
  ExpectAllPathsEncrypted(cluster);
  EXPECT_EQ(node.kernel.changes, before) << "no delete, no re-add";
  EXPECT_EQ(node.controller->peer_index("node-2"), index);
}

TEST_F(IpsecControllerTest, RestartMidRotationKeepsOldSpiItCanNoLongerDerive) {
  TestCluster& cluster = KeyedCluster(3);
  cluster.GiveKey(0, 2, TestPsk(2));
  cluster.PumpAll();
  // Node 0 restarts; its key file now holds only SPI 2. Peers still on 1.
  ClusterNode& node = *cluster.nodes[0];
  const int before = node.kernel.changes;
  cluster.RestartController(0).OnKeyChanged(2, TestPsk(2));
  cluster.DeliverRecords(0);
  node.controller->OnPeersSynced();
  cluster.PumpAll();
  EXPECT_EQ(node.kernel.changes, before);
  ExpectAllPathsEncrypted(cluster);
  EXPECT_EQ(node.controller->inbound_spis(), (std::vector<int32_t>{1, 2}));
  // Peers move to 2; after the grace period SPI 1 goes, though the new
  // process never held its key.
  cluster.GiveKey(1, 2, TestPsk(2));
  cluster.GiveKey(2, 2, TestPsk(2));
  cluster.PumpAll();
  ExpectAllPathsEncrypted(cluster);
  cluster.clock.Advance(kGrace + std::chrono::seconds(1));
  cluster.TickAll();
  EXPECT_EQ(node.controller->inbound_spis(), std::vector<int32_t>{2});
  EXPECT_EQ(CountInbound(node, 1), 0);
  ExpectAllPathsEncrypted(cluster);
}

// A restarted node whose key file holds only the new SPI still has the
// previous run's outbound SAs under the old one, which it cannot derive. When
// its out policies move to the new SPI, a packet that picked an old SA just
// before still needs it (Linux drops it as XfrmOutStateInvalid otherwise, as
// the chaos soak saw after a kill -9 during a rotation): the adopted SA
// retires like a derived one, and goes when its SPI is reclaimed.
TEST_F(IpsecControllerTest, AdoptedOldOutboundSaRetiresUntilReclaim) {
  IpsecControllerOptions options;
  options.grace_period = kGrace;
  TestCluster& cluster = KeyedCluster(3, options);
  ClusterNode& node = *cluster.nodes[0];
  cluster.RestartController(0).OnKeyChanged(2, TestPsk(2));
  cluster.DeliverRecords(0);
  node.controller->OnPeersSynced();
  cluster.PumpAll();
  EXPECT_EQ(CountOutbound(node, 1), 2) << "peers still advertise SPI 1";
  // The peers move to SPI 2: node 0's out policies follow them.
  cluster.GiveKey(1, 2, TestPsk(2));
  cluster.GiveKey(2, 2, TestPsk(2));
  cluster.PumpAll();
  ExpectAllPathsEncrypted(cluster, IpFamily::kV4, "spi 0x00000002");
  EXPECT_EQ(CountOutbound(node, 2), 2);
  EXPECT_EQ(CountOutbound(node, 1), 2)
      << "the adopted SPI 1 SAs went with their policies";
  EXPECT_THAT(node.controller->retiring_outbound_spis("node-1"),
              ElementsAre(1));
  cluster.clock.Advance(kGrace + std::chrono::seconds(1));
  cluster.TickAll();
  EXPECT_EQ(CountOutbound(node, 1), 0) << "leaked after the reclaim";
  EXPECT_EQ(CountOutbound(node, 2), 2);
  EXPECT_THAT(node.controller->retiring_outbound_spis("node-1"), IsEmpty());
  ExpectAllPathsEncrypted(cluster, IpFamily::kV4, "spi 0x00000002");
  ExpectOnePairOfSasPerDirection(cluster);
}

// A restarted daemon whose first reads of the XFRM tables fail (an
// interrupted dump) hears its key and its peers before it has adopted what
// the previous run left: the events arrive, the start is retried on Tick.
// Once it starts, the previous run's SAs are taken over as after any
// restart: the ones still in use stay, the rest go, here with the old SPI
// once the grace period is over (the chaos soak found them left for the 10
// minutes of a periodic resync, under SPIs nothing used any more).
TEST_F(IpsecControllerTest, EventsBeforeALateStartStillAdoptAndReclaim) {
  IpsecControllerOptions options;
  options.grace_period = kGrace;
  TestCluster& cluster = KeyedCluster(3, options);
  cluster.GiveKey(1, 2, TestPsk(2));
  cluster.GiveKey(2, 2, TestPsk(2));
  cluster.PumpAll();
  ClusterNode& node = *cluster.nodes[0];
  EXPECT_EQ(CountOutbound(node, 1), 2);
  // Crash; the new process's dumps fail for a while.
  node.controller.reset();
  node.kernel.failing_dumps = 1000;
  node.controller = std::make_unique<IpsecController>(
      node.view, &node.kernel, &node.publisher, &node.markers, &cluster.clock,
      options);
  EXPECT_FALSE(node.controller->Start().ok());
  const int before = node.kernel.changes;
  node.controller->OnKeyChanged(2, TestPsk(2));
  cluster.DeliverRecords(0);
  node.controller->OnPeersSynced();
  node.controller->Tick();
  EXPECT_EQ(node.kernel.changes, before)
      << "programmed before the kernel was read";
  ExpectAllPathsEncrypted(cluster, IpFamily::kV4, "", "before the start");
  node.kernel.failing_dumps = 0;
  node.controller->Tick();  // Starts now.
  cluster.PumpAll();
  ExpectAllPathsEncrypted(cluster, IpFamily::kV4, "spi 0x00000002");
  cluster.clock.Advance(kGrace + std::chrono::seconds(1));
  cluster.TickAll();
  EXPECT_EQ(CountOutbound(node, 1), 0) << "left behind";
  EXPECT_EQ(CountInbound(node, 1), 0) << "left behind";
  ExpectAllPathsEncrypted(cluster, IpFamily::kV4, "spi 0x00000002");
  ExpectOnePairOfSasPerDirection(cluster);
}

TEST_F(IpsecControllerTest, ObjectsOfPeersGoneDuringRestartGoAfterSync) {
  TestCluster& cluster = KeyedCluster(4);
  ClusterNode& node = *cluster.nodes[0];
  cluster.RestartController(0).OnKeyChanged(1, TestPsk(1));
  // node-3 left while node 0 was down.
  node.controller->OnPeerUpsert(cluster.records().at("node-1"));
  node.controller->OnPeerUpsert(cluster.records().at("node-2"));
  EXPECT_EQ(node.sim.sa_count(), 6u) << "nothing deleted before the sync";
  node.controller->OnPeersSynced();
  EXPECT_EQ(node.sim.sa_count(), 4u);
  EXPECT_FALSE(node.markers.LookupPeer(*IpAddress::Parse("10.0.0.4")));
}

TEST_F(IpsecControllerTest, ShutdownRemovesOnlyOwnObjectsAndWithdraws) {
  TestCluster& cluster = NewCluster(3);
  ClusterNode& node = *cluster.nodes[0];
  XfrmSa foreign = ForeignSa("192.168.5.1", "10.0.0.1", 0x4242, /*reqid=*/5);
  foreign.replay_window = 32;
  ASSERT_TRUE(node.sim.AddSa(foreign).ok());
  ASSERT_TRUE(node.sim
                  .AddPolicy(ForeignPolicy(XfrmDir::kOut, "192.168.99.0/24",
                                           "10.0.0.1", "192.168.5.1", 5))
                  .ok());

  cluster.StartAll();
  cluster.RollOutKey(1);
  ASSERT_TRUE(node.controller->Shutdown().ok());
  EXPECT_EQ(node.publisher.withdrawn, std::vector<std::string>{"node-0"});
  auto sas = *node.sim.DumpSas();
  ASSERT_EQ(sas.size(), 1u);
  EXPECT_EQ(sas[0].reqid, 5u);
  auto policies = *node.sim.DumpPolicies();
  ASSERT_EQ(policies.size(), 1u);
  EXPECT_EQ(policies[0].selector.dst.ToString(), "192.168.99.0/24");
  EXPECT_TRUE(node.markers.DumpPeers()->empty());
  // The others remove node 0 when its record goes.
  cluster.PumpAll();
  EXPECT_EQ(cluster.CheckPath(1, 0), PathResult::kBlocked);
  EXPECT_EQ(cluster.CheckPath(1, 2), PathResult::kEncrypted);
}

TEST_F(IpsecControllerTest,
       KmeshOriginalObjectsAreForeignAndBlockUntilRemoved) {
  TestCluster& cluster = NewCluster(3);
  ClusterNode& node = *cluster.nodes[0];
  // Kmesh's Go daemon ran on node 0 before (reqid 1, unmarked inbound SA).
  auto original = [&](int i) {
    const NodeView& v = cluster.nodes[i]->view;
    return sim::KmeshOriginalNode{v.name, *IpAddress::Parse(v.addresses[0]),
                                  v.pod_cidrs, 1};
  };
  sim::ProgramKmeshOriginalLayout(node.sim, original(0),
                                  {original(1), original(2)});
  const std::vector<XfrmSa> kmesh_sas = DumpedSas(node.sim);
  const std::vector<XfrmPolicy> kmesh_policies = DumpedPolicies(node.sim);

  cluster.StartAll();
  cluster.RollOutKey(1);
  // Linux: an unmarked SA with our (dst, SPI) blocks our marked one: the
  // conflict is reported per peer, and nothing leaks meanwhile.
  EXPECT_GT(node.kernel.already_exists, 0);
  EXPECT_EQ(node.controller->peer_status("node-1").code(),
            absl::StatusCode::kAlreadyExists);
  for (const auto& [s, r] : cluster.Pairs()) {
    EXPECT_NE(cluster.CheckPath(s, r), PathResult::kPlaintext);
  }
  // Kmesh's objects are not ours: all still there, unchanged.
  ExpectEachOnce(DumpedSas(node.sim), kmesh_sas);
  ExpectEachOnce(DumpedPolicies(node.sim), kmesh_policies);
  // The operator removes the old daemon's objects; the next Tick converges.
  for (const XfrmSa& old : kmesh_sas) {
    ASSERT_TRUE(node.sim.DeleteSa(old.id()).ok());
  }
  for (const XfrmPolicy& old : kmesh_policies) {
    ASSERT_TRUE(node.sim.DeletePolicy(old.id()).ok());
  }
  cluster.clock.Advance(std::chrono::seconds(5));
  node.controller->Tick();
  cluster.PumpAll();
  EXPECT_EQ(node.controller->advertised_spi(), 1);
  ExpectAllPathsEncrypted(cluster);
  ExpectOnePairOfSasPerDirection(cluster);
}

// (e) Bad inputs.
TEST_F(IpsecControllerTest, ShortBootIdIsAnErrorForThatPeerOnly) {
  TestCluster& cluster = KeyedCluster(3);
  ClusterNode& node = *cluster.nodes[0];
  NodeView bad = cluster.records().at("node-2");
  bad.boot_id = "1234";
  node.controller->OnPeerUpsert(bad);
  absl::Status status = node.controller->peer_status("node-2");
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(status.message()), HasSubstr("node-2"));
  EXPECT_THAT(std::string(status.message()), HasSubstr("boot ID"));
  EXPECT_TRUE(node.controller->peer_status("node-1").ok());
  EXPECT_EQ(cluster.CheckPath(0, 1), PathResult::kEncrypted);
  EXPECT_EQ(cluster.CheckPath(0, 2), PathResult::kBlocked)
      << "old keys for node-2 are gone, nothing leaks";
  // A rotation still completes: the broken peer does not block it.
  node.controller->OnKeyChanged(2, TestPsk(2));
  EXPECT_EQ(node.controller->advertised_spi(), 2);
  // Fixed record: programmed again.
  node.controller->OnPeerUpsert(cluster.records().at("node-2"));
  EXPECT_TRUE(node.controller->peer_status("node-2").ok());
}

TEST_F(IpsecControllerTest, PeerWithoutAddressesIsAnErrorForThatPeerOnly) {
  TestCluster& cluster = KeyedCluster(3);
  ClusterNode& node = *cluster.nodes[0];
  NodeView bad = cluster.records().at("node-2");
  bad.addresses.clear();
  node.controller->OnPeerUpsert(bad);
  absl::Status status = node.controller->peer_status("node-2");
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(status.message()), HasSubstr("no addresses"));
  EXPECT_EQ(cluster.CheckPath(0, 1), PathResult::kEncrypted);
}

TEST_F(IpsecControllerTest, OwnRecordIsIgnoredAsAPeer) {
  TestCluster& cluster = KeyedCluster(2);
  const size_t sas = cluster.nodes[0]->sim.sa_count();
  cluster.nodes[0]->controller->OnPeerUpsert(cluster.records().at("node-0"));
  EXPECT_EQ(cluster.nodes[0]->sim.sa_count(), sas);
}

// Someone else deletes or alters this node's record: it is published again,
// as it was; the record as published (the watcher's echo) changes nothing.
TEST_F(IpsecControllerTest, OwnRecordDeletedOrAlteredIsPublishedAgain) {
  TestCluster& cluster = KeyedCluster(2);
  ClusterNode& node = *cluster.nodes[0];
  IpsecController& controller = *node.controller;
  ASSERT_EQ(controller.advertised_spi(), 1);
  ASSERT_FALSE(node.publisher.published.empty());
  const NodeView published = node.publisher.published.back();
  const size_t publications = node.publisher.published.size();

  controller.OnOwnRecord(published);
  EXPECT_EQ(node.publisher.published.size(), publications);
  EXPECT_EQ(controller.stats().own_record_repairs, 0u);

  controller.OnOwnRecord(std::nullopt);
  ASSERT_EQ(node.publisher.published.size(), publications + 1);
  EXPECT_EQ(node.publisher.published.back(), published);

  NodeView altered = published;
  altered.addresses = {"10.9.9.9"};
  controller.OnOwnRecord(altered);
  ASSERT_EQ(node.publisher.published.size(), publications + 2);
  EXPECT_EQ(node.publisher.published.back(), published);
  EXPECT_EQ(controller.stats().own_record_repairs, 2u);

  // A failed re-publication is retried by Tick.
  node.publisher.fail_with = absl::UnavailableError("API server down");
  controller.OnOwnRecord(std::nullopt);
  node.publisher.fail_with = absl::OkStatus();
  controller.Tick();
  ASSERT_EQ(node.publisher.published.size(), publications + 3);
  EXPECT_EQ(node.publisher.published.back(), published);
}

TEST_F(IpsecControllerTest, OwnRecordBeforeTheFirstPublicationIsLeftAlone) {
  TestCluster cluster(2);
  cluster.StartAll();
  cluster.PumpAll();
  ClusterNode& node = *cluster.nodes[0];
  const size_t publications = node.publisher.published.size();
  node.controller->OnOwnRecord(std::nullopt);
  EXPECT_EQ(node.publisher.published.size(), publications);
}

// The node's own addresses change (its Node object says so): the record is
// re-published with them, and the peers' objects use them.
TEST_F(IpsecControllerTest, UpdateSelfRepublishesAndRelaysOutTheNewAddress) {
  TestCluster& cluster = KeyedCluster(2);
  ClusterNode& node = *cluster.nodes[0];
  NodeView moved = node.view;
  moved.addresses = {"10.0.9.1"};
  node.controller->UpdateSelf(moved);
  ASSERT_FALSE(node.publisher.published.empty());
  EXPECT_EQ(node.publisher.published.back().addresses,
            std::vector<std::string>{"10.0.9.1"});
  bool uses_new = false;
  for (const XfrmSa& sa : OwnedSasOf(node)) {
    uses_new |= sa.src == *IpAddress::Parse("10.0.9.1") ||
                sa.dst == *IpAddress::Parse("10.0.9.1");
    EXPECT_TRUE(sa.src != Address(node) && sa.dst != Address(node))
        << "an SA still uses the old address";
  }
  EXPECT_TRUE(uses_new);
}

TEST_F(IpsecControllerTest, PeerIndexLimitIsAClearErrorPerPeer) {
  IpsecControllerOptions options;
  options.max_peer_index = 2;
  TestCluster& cluster = KeyedCluster(4, options);
  int exhausted = 0;
  for (const char* peer : {"node-1", "node-2", "node-3"}) {
    exhausted += cluster.nodes[0]->controller->peer_status(peer).code() ==
                 absl::StatusCode::kResourceExhausted;
  }
  EXPECT_EQ(exhausted, 1);
  EXPECT_EQ(cluster.nodes[0]->controller->advertised_spi(), 1);
  // A peer leaves; once its SAs are gone its index serves the waiting one.
  IpsecController& controller = *cluster.nodes[0]->controller;
  std::string waiting;
  for (const char* peer : {"node-1", "node-2", "node-3"}) {
    if (!controller.peer_index(peer)) waiting = peer;
  }
  controller.OnPeerDelete(waiting == "node-1" ? "node-2" : "node-1");
  controller.Tick();
  EXPECT_TRUE(controller.peer_index(waiting).has_value());
  EXPECT_TRUE(controller.peer_status(waiting).ok())
      << controller.peer_status(waiting);
}

TEST_F(IpsecControllerTest, KernelErrorsAreReportedAndRetriedOnTick) {
  TestCluster& cluster = NewCluster(3);
  cluster.StartAll();
  cluster.GiveKeyToAll(1, TestPsk(1));
  ClusterNode& node = *cluster.nodes[0];
  node.sim.FailNext(XfrmOp::kAddPolicy, 2,
                    absl::ResourceExhaustedError("ENOBUFS: no buffer space"));
  cluster.PumpAll();
  EXPECT_GT(node.controller->stats().xfrm_errors, 0u);
  cluster.clock.Advance(std::chrono::seconds(10));
  node.controller->Tick();
  cluster.PumpAll();
  ExpectAllPathsEncrypted(cluster);
  ExpectOnePairOfSasPerDirection(cluster);
}

TEST_F(IpsecControllerTest, MockedKernelFailuresNeverCrashAndAreRetried) {
  sim::SimXfrm sim;
  ::testing::NiceMock<MockXfrmKernel> mock;
  mock.DelegateTo(&sim);
  const absl::Status enobufs =
      absl::ResourceExhaustedError("ENOBUFS: No buffer space available");

  ManualClock clock;
  RecordingNodeInfoPublisher publisher;
  MemoryMarkerMaps markers;
  // The first dump fails: Start reports it, Tick retries.
  EXPECT_CALL(mock, DumpSas())
      .WillOnce(
          ::testing::Return(absl::UnavailableError("EINTR: dump interrupted")))
      .WillRepeatedly(::testing::Invoke(&sim, &sim::SimXfrm::DumpSas));
  IpsecController controller(TestNodeView(0), &mock, &publisher, &markers,
                             &clock);
  EXPECT_EQ(controller.Start().code(), absl::StatusCode::kUnavailable);
  controller.Tick();
  EXPECT_EQ(sim.policy_count(), 2u) << "block policies after the retry";

  // Every SA add fails for a while.
  EXPECT_CALL(mock, AddSa(::testing::_))
      .WillRepeatedly(::testing::Return(enobufs));
  NodeView peer = TestNodeView(1);
  peer.spi = 1;
  controller.OnPeerUpsert(peer);
  controller.OnPeersSynced();
  controller.OnKeyChanged(1, TestPsk(1));
  EXPECT_EQ(controller.advertised_spi(), 0);
  EXPECT_THAT(std::string(controller.peer_status("node-1").message()),
              HasSubstr("ENOBUFS"));
  EXPECT_TRUE(publisher.published.empty());

  // The kernel recovers.
  EXPECT_CALL(mock, AddSa(::testing::_))
      .WillRepeatedly(::testing::Invoke(&sim, &sim::SimXfrm::AddSa));
  clock.Advance(std::chrono::seconds(5));
  controller.Tick();
  EXPECT_EQ(controller.advertised_spi(), 1);
  EXPECT_TRUE(controller.peer_status("node-1").ok());
  EXPECT_EQ(sim.sa_count(), 2u);
}

TEST_F(IpsecControllerTest, PublishFailureIsRetriedOnTick) {
  TestCluster& cluster = NewCluster(2);
  cluster.StartAll();
  ClusterNode& node = *cluster.nodes[0];
  node.publisher.fail_with = absl::UnavailableError("API server down");
  cluster.GiveKey(0, 1, TestPsk(1));
  EXPECT_EQ(node.controller->advertised_spi(), 0);
  EXPECT_EQ(node.controller->stats().publish_errors, 1u);
  node.publisher.fail_with = absl::OkStatus();
  node.controller->Tick();
  EXPECT_EQ(node.controller->advertised_spi(), 1);
}

TEST_F(IpsecControllerTest, MalformedKeysAreCountedAndIgnored) {
  TestCluster& cluster = NewCluster(2);
  cluster.StartAll();
  IpsecController& controller = *cluster.nodes[0]->controller;
  controller.OnKeyFileError(absl::InvalidArgumentError("invalid JSON"));
  uint8_t short_key[8] = {1};
  controller.OnKeyChanged(1, XfrmKey(short_key, sizeof(short_key)));
  controller.OnKeyChanged(0, TestPsk(1));
  EXPECT_EQ(controller.stats().key_file_errors, 3u);
  EXPECT_EQ(controller.advertised_spi(), 0);
  controller.OnKeyChanged(1, TestPsk(1));
  EXPECT_EQ(controller.advertised_spi(), 1);
}

// The agent learns which peers to encrypt to from the listener: it must be
// told when a peer joins or leaves the set of peers with an outbound SA, in
// order, and nothing else, including through a rotation (in a 1,000-node
// cluster every agent would otherwise rebuild a 999-peer set while the
// rotation spreads).
TEST_F(IpsecControllerTest, OutboundPeerListenerHearsExactlyTheSetChanges) {
  TestCluster& cluster = NewCluster(3);
  cluster.StartAll();
  IpsecController& controller = *cluster.nodes[0]->controller;
  // No key yet, so no outbound SA: nothing to have missed.
  ASSERT_TRUE(controller.PeersWithOutboundSa().empty());
  std::vector<std::pair<std::string, bool>> heard;
  controller.SetOutboundPeerListener([&](const std::string& peer, bool has) {
    heard.emplace_back(peer, has);
  });

  cluster.RollOutKey(1);
  EXPECT_EQ(controller.PeersWithOutboundSa(),
            (std::set<std::string>{"node-1", "node-2"}));
  EXPECT_THAT(heard,
              ::testing::UnorderedElementsAre(std::make_pair("node-1", true),
                                              std::make_pair("node-2", true)));
  heard.clear();

  controller.Tick();
  cluster.PumpAll();
  EXPECT_THAT(heard, IsEmpty());

  // Node 1 and this node move to SPI 2: the outbound SA to node 1 changes,
  // the set does not.
  cluster.GiveKey(1, 2, TestPsk(2));
  cluster.GiveKey(0, 2, TestPsk(2));
  cluster.PumpAll();
  ASSERT_EQ(controller.outbound_spi("node-1"), 2);
  EXPECT_THAT(heard, IsEmpty());

  controller.OnPeerDelete("node-2");
  EXPECT_EQ(controller.PeersWithOutboundSa(),
            (std::set<std::string>{"node-1"}));
  EXPECT_THAT(heard, ElementsAre(std::make_pair("node-2", false)));
  heard.clear();

  ASSERT_TRUE(controller.Shutdown().ok());
  EXPECT_THAT(heard, ElementsAre(std::make_pair("node-1", false)));
}

// A publisher whose Publish() blocks, once armed, until released: an API
// server that takes its time (the REST publisher retries for minutes).
class BlockingPublisher : public NodeInfoPublisher {
 public:
  absl::Status Publish(const NodeView& self) override {
    bool block = false;
    {
      absl::MutexLock lock(&mu_);
      published_.push_back(self);
      block = armed_;
      armed_ = false;
    }
    if (block) {
      entered.Notify();
      release.WaitForNotification();
    }
    return absl::OkStatus();
  }
  absl::Status Withdraw(const std::string& node_name) override {
    absl::MutexLock lock(&mu_);
    withdrawn_ = true;
    return absl::OkStatus();
  }
  void Arm() {
    absl::MutexLock lock(&mu_);
    armed_ = true;
  }
  std::vector<NodeView> published() {
    absl::MutexLock lock(&mu_);
    return published_;
  }

  absl::Notification entered;
  absl::Notification release;

 private:
  absl::Mutex mu_;
  bool armed_ = false;
  std::vector<NodeView> published_;
  bool withdrawn_ = false;
};

// No HTTP under the controller lock: while a publication is on its way,
// every other call runs at once; what they decide is published after it, in
// order, the newest record last; outbound SAs move when it has returned.
TEST_F(IpsecControllerTest, SlowPublicationBlocksNoOtherCall) {
  sim::SimXfrm sim;
  ManualClock clock;
  BlockingPublisher publisher;
  MemoryMarkerMaps markers;
  IpsecController controller(TestNodeView(0), &sim, &publisher, &markers,
                             &clock);
  ASSERT_TRUE(controller.Start().ok());
  NodeView peer1 = TestNodeView(1);
  peer1.spi = 1;
  controller.OnPeerUpsert(peer1);
  controller.OnPeersSynced();

  publisher.Arm();
  std::thread keying([&] { controller.OnKeyChanged(1, TestPsk(1)); });
  ASSERT_TRUE(
      publisher.entered.WaitForNotificationWithTimeout(absl::Seconds(30)));

  // Another thread's calls while the publication of SPI 1 blocks.
  NodeView moved = TestNodeView(0);
  moved.addresses = {"192.0.2.200"};
  NodeView moved_again = TestNodeView(0);
  moved_again.addresses = {"192.0.2.201"};
  NodeView peer2 = TestNodeView(2);
  peer2.spi = 1;
  IpsecControllerSnapshot during;
  absl::Notification others_done;
  std::thread others([&] {
    controller.OnPeerUpsert(peer2);
    controller.Tick();
    during = controller.Snapshot();
    controller.UpdateSelf(moved);        // Queued...
    controller.UpdateSelf(moved_again);  // ...and replaced by this one.
    others_done.Notify();
  });
  const bool finished =
      others_done.WaitForNotificationWithTimeout(absl::Seconds(10));
  publisher.release.Notify();
  keying.join();
  others.join();
  ASSERT_TRUE(finished) << "a call waited for the publication";

  // While it was on its way: nothing advertised yet, outbound not yet moved
  // to the peer that advertised SPI 1 before the key came; the new peer
  // programmed, with its inbound SAs for SPI 1.
  EXPECT_EQ(during.advertised_spi, 0);
  ASSERT_EQ(during.peers.size(), 2u);
  EXPECT_EQ(during.peers[0].name, "node-1");
  EXPECT_EQ(during.peers[0].outbound_spi, 0);
  EXPECT_EQ(during.peers[1].name, "node-2");
  EXPECT_THAT(during.peers[1].inbound_installed, ElementsAre(1));

  // The first record, then only the newest one queued after it.
  const std::vector<NodeView> published = publisher.published();
  ASSERT_EQ(published.size(), 2u);
  EXPECT_EQ(published[0].addresses, TestNodeView(0).addresses);
  EXPECT_EQ(published[1].addresses, moved_again.addresses);
  EXPECT_EQ(published[0].spi, 1);
  EXPECT_EQ(published[1].spi, 1);
  EXPECT_EQ(controller.advertised_spi(), 1);
  EXPECT_EQ(controller.outbound_spi("node-1"), 1);
  EXPECT_EQ(controller.outbound_spi("node-2"), 1);
  // Nothing left to publish.
  controller.Tick();
  EXPECT_EQ(publisher.published().size(), 2u);
  EXPECT_EQ(controller.stats().own_record_repairs, 0u);
}

// Shutdown waits for a publication on its way: a withdrawal it overtook
// would be undone by it.
TEST_F(IpsecControllerTest, ShutdownWithdrawsAfterAPublicationOnItsWay) {
  sim::SimXfrm sim;
  ManualClock clock;
  BlockingPublisher publisher;
  MemoryMarkerMaps markers;
  IpsecController controller(TestNodeView(0), &sim, &publisher, &markers,
                             &clock);
  ASSERT_TRUE(controller.Start().ok());
  controller.OnPeersSynced();
  publisher.Arm();
  std::thread keying([&] { controller.OnKeyChanged(1, TestPsk(1)); });
  ASSERT_TRUE(
      publisher.entered.WaitForNotificationWithTimeout(absl::Seconds(30)));
  absl::Notification shut_down;
  std::thread stopping([&] {
    EXPECT_TRUE(controller.Shutdown().ok());
    shut_down.Notify();
  });
  EXPECT_FALSE(shut_down.WaitForNotificationWithTimeout(absl::Seconds(1)))
      << "withdrawn while the publication was still on its way";
  publisher.release.Notify();
  keying.join();
  stopping.join();
  EXPECT_EQ(controller.advertised_spi(), 0);
}

}  // namespace
}  // namespace kmesh::ipsec
