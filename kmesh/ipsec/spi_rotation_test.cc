#include "kmesh/ipsec/spi_rotation.h"

#include <chrono>
#include <set>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "kmesh/ipsec/testing/test_psk.h"

namespace kmesh::ipsec {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;
using KeyChange = SpiRotation::KeyChange;

constexpr Duration kGrace = std::chrono::minutes(5);
const TimePoint kT0 = TimePoint() + std::chrono::hours(1);

PeerState Peer(int32_t advertised, std::set<int32_t> receivable = {}) {
  PeerState peer;
  peer.view.spi = advertised;
  peer.inbound_installed = std::move(receivable);
  return peer;
}

// A rotation that learnt `spis` in this order and advertises the last.
SpiRotation Advertising(const std::vector<int32_t>& spis) {
  SpiRotation rotation(kGrace);
  for (int32_t spi : spis) rotation.LearnKey(spi, TestPsk(spi));
  EXPECT_TRUE(rotation.ReadyToAdvertise({}, /*peers_synced=*/true));
  rotation.Advertised(/*published=*/true);
  return rotation;
}

TEST(SpiRotationTest, AKeyIsNewUnchangedOrANewEpoch) {
  SpiRotation rotation(kGrace);
  EXPECT_EQ(rotation.target_spi(), 0);
  EXPECT_EQ(rotation.LearnKey(1, TestPsk(1)), KeyChange::kNewKey);
  EXPECT_EQ(rotation.LearnKey(1, TestPsk(1)), KeyChange::kUnchanged);
  EXPECT_EQ(rotation.LearnKey(2, TestPsk(2)), KeyChange::kNewKey);
  EXPECT_EQ(rotation.target_spi(), 2);
  // Held, same key, but not the target: it becomes the target again.
  EXPECT_EQ(rotation.LearnKey(1, TestPsk(1)), KeyChange::kNewKey);
  EXPECT_EQ(rotation.target_spi(), 1);
  // The secret was deleted and re-created under SPI 1.
  EXPECT_EQ(rotation.LearnKey(1, TestPsk(9)), KeyChange::kNewEpoch);
  ASSERT_NE(rotation.keys().Find(1), nullptr);
  EXPECT_EQ(*rotation.keys().Find(1), TestPsk(9));
  EXPECT_THAT(rotation.keys().Spis(), ElementsAre(1, 2));
}

TEST(SpiRotationTest, NewerMeansLearntLaterNotAHigherNumber) {
  SpiRotation rotation(kGrace);
  rotation.LearnKey(7, TestPsk(7));
  rotation.LearnKey(1, TestPsk(1));  // delete + create restarts at SPI 1.
  EXPECT_TRUE(rotation.IsOlder(7, 1));
  EXPECT_FALSE(rotation.IsOlder(1, 7));
  EXPECT_FALSE(rotation.IsOlder(3, 1)) << "SPI 3 was never learnt";
}

// What a previous run left is older than any key this run learns, before
// its start (a start retried after the key file was read) or after it.
TEST(SpiRotationTest, AdoptedSpisAreOlderThanEveryLearntKey) {
  SpiRotation rotation(kGrace);
  rotation.LearnKey(2, TestPsk(2));
  rotation.LearnAdoptedSpis({2, 4, 5});
  rotation.LearnKey(1, TestPsk(1));
  EXPECT_TRUE(rotation.IsOlder(5, 1));
  EXPECT_TRUE(rotation.IsOlder(5, 2)) << "adopted after key 2, still older";
  EXPECT_TRUE(rotation.IsOlder(4, 5)) << "among themselves by number";
  EXPECT_TRUE(rotation.IsOlder(2, 1)) << "a known SPI keeps its place";
}

TEST(SpiRotationTest, AdvertisesAfterTheSyncOnceEveryPeerThatCountsReceives) {
  SpiRotation rotation(kGrace);
  PeerTable peers = {{"a", Peer(0)}, {"b", Peer(0, {1})}};
  EXPECT_FALSE(rotation.ReadyToAdvertise(peers, true)) << "no key yet";
  rotation.LearnKey(1, TestPsk(1));
  EXPECT_FALSE(rotation.ReadyToAdvertise(peers, false)) << "peers not synced";
  EXPECT_FALSE(rotation.ReadyToAdvertise(peers, true)) << "a lacks SPI 1";
  peers["a"].unprogrammable = true;
  EXPECT_TRUE(rotation.ReadyToAdvertise(peers, true))
      << "a peer that cannot be programmed does not hold it back";
  peers["a"] = Peer(0, {1});
  EXPECT_TRUE(rotation.ReadyToAdvertise(peers, true));

  rotation.Advertised(/*published=*/true);
  EXPECT_EQ(rotation.advertised_spi(), 1);
  EXPECT_EQ(rotation.keys().current_spi(), 1);
  EXPECT_FALSE(rotation.ReadyToAdvertise(peers, true)) << "already done";
}

TEST(SpiRotationTest, AFailedOrAskedForPublicationIsRepeated) {
  SpiRotation rotation(kGrace);
  rotation.LearnKey(1, TestPsk(1));
  rotation.Advertised(/*published=*/false);
  EXPECT_EQ(rotation.advertised_spi(), 0);
  EXPECT_TRUE(rotation.ReadyToAdvertise({}, true));
  rotation.Advertised(/*published=*/true);
  EXPECT_FALSE(rotation.ReadyToAdvertise({}, true));
  rotation.Republish();
  EXPECT_TRUE(rotation.ReadyToAdvertise({}, true));
  rotation.Withdrawn();
  EXPECT_EQ(rotation.advertised_spi(), 0);
}

TEST(SpiRotationTest, SendsWithThePeersSpiWhenHeldElseKeepsTheCurrentOne) {
  SpiRotation rotation(kGrace);
  rotation.LearnAdoptedSpis({5, 6});
  rotation.LearnKey(1, TestPsk(1));
  rotation.LearnKey(2, TestPsk(2));
  PeerState peer = Peer(2);
  EXPECT_EQ(rotation.OutboundSpiFor(peer, {}), 2);
  peer.view.spi = 3;  // Not held: keep the current SA while it can be made.
  peer.outbound_spi = 1;
  EXPECT_EQ(rotation.OutboundSpiFor(peer, {}), 1) << "its key is held";
  peer.outbound_spi = 4;
  EXPECT_EQ(rotation.OutboundSpiFor(peer, {4}), 4) << "its SA is adopted";
  EXPECT_EQ(rotation.OutboundSpiFor(peer, {}), 0) << "neither: send nothing";
  // After a restart: the newest adopted outbound SA.
  peer.outbound_spi = 0;
  EXPECT_EQ(rotation.OutboundSpiFor(peer, {6, 5}), 6);
  EXPECT_EQ(rotation.OutboundSpiFor(peer, {5, 6}), 6);
}

TEST(SpiRotationTest, OldSpiGoesAGracePeriodAfterNoPeerNeedsIt) {
  SpiRotation rotation = Advertising({1, 2});
  PeerTable peers = {{"a", Peer(1)}, {"b", Peer(2)}};
  rotation.UpdateReclaimTimers(kT0, peers, true, {1, 2});
  EXPECT_THAT(rotation.DueForReclaim(kT0 + std::chrono::hours(1)), IsEmpty())
      << "a still advertises SPI 1";

  peers["a"].view.spi = 2;
  rotation.PeersChanged();
  rotation.UpdateReclaimTimers(kT0, peers, true, {1, 2});
  EXPECT_THAT(rotation.DueForReclaim(kT0 + kGrace - std::chrono::seconds(1)),
              IsEmpty());
  EXPECT_THAT(rotation.DueForReclaim(kT0 + kGrace), ElementsAre(1));
  rotation.Reclaim(1);
  EXPECT_FALSE(rotation.keys().Has(1));
  EXPECT_THAT(rotation.DueForReclaim(kT0 + kGrace), IsEmpty());
}

TEST(SpiRotationTest, APeerOnAnOlderSpiHoldsBackEveryNewerOldSpi) {
  SpiRotation rotation = Advertising({1, 2, 3});
  PeerTable peers = {{"a", Peer(1)}};
  rotation.UpdateReclaimTimers(kT0, peers, true, {1, 2, 3});
  EXPECT_THAT(rotation.DueForReclaim(kT0 + std::chrono::hours(1)), IsEmpty());
  // A peer whose record cannot be programmed holds nothing back.
  peers["a"].unprogrammable = true;
  rotation.PeersChanged();
  rotation.UpdateReclaimTimers(kT0, peers, true, {1, 2, 3});
  EXPECT_THAT(rotation.DueForReclaim(kT0 + kGrace), ElementsAre(1, 2));
}

TEST(SpiRotationTest, NoTimerRunsBeforeTheSyncAndAnAdvertisedSpi) {
  SpiRotation rotation(kGrace);
  rotation.LearnKey(1, TestPsk(1));
  rotation.LearnKey(2, TestPsk(2));
  rotation.UpdateReclaimTimers(kT0, {}, true, {1, 2});
  EXPECT_THAT(rotation.DueForReclaim(kT0 + kGrace), IsEmpty())
      << "nothing advertised";
  rotation.Advertised(true);
  rotation.UpdateReclaimTimers(kT0, {}, false, {1, 2});
  EXPECT_THAT(rotation.DueForReclaim(kT0 + kGrace), IsEmpty())
      << "peers not synced";
  rotation.UpdateReclaimTimers(kT0, {}, true, {1, 2});
  EXPECT_THAT(rotation.DueForReclaim(kT0 + kGrace), ElementsAre(1));
}

TEST(SpiRotationTest, GraceStartsAfreshWhenAPeerFallsBackToTheOldSpi) {
  SpiRotation rotation = Advertising({1, 2});
  PeerTable peers = {{"a", Peer(2)}};
  rotation.UpdateReclaimTimers(kT0, peers, true, {1, 2});
  const TimePoint t4 = kT0 + std::chrono::minutes(4);
  peers["a"].view.spi = 1;
  rotation.PeersChanged();
  rotation.UpdateReclaimTimers(t4, peers, true, {1, 2});
  peers["a"].view.spi = 2;
  rotation.PeersChanged();
  rotation.UpdateReclaimTimers(t4, peers, true, {1, 2});
  EXPECT_THAT(rotation.DueForReclaim(kT0 + kGrace), IsEmpty());
  EXPECT_THAT(rotation.DueForReclaim(t4 + kGrace), ElementsAre(1));
}

TEST(SpiRotationTest, PeersAreWalkedOnlyWhenWhatTheVerdictReadsChanged) {
  SpiRotation rotation = Advertising({1, 2});
  PeerTable peers = {{"a", Peer(2)}};
  rotation.UpdateReclaimTimers(kT0, peers, true, {1, 2});
  EXPECT_EQ(rotation.reclaim_walks(), 1u);
  for (int tick = 1; tick <= 10; ++tick) {
    rotation.UpdateReclaimTimers(kT0 + std::chrono::seconds(tick), peers, true,
                                 {1, 2});
  }
  EXPECT_EQ(rotation.reclaim_walks(), 1u) << "ticks walked the peers";
  rotation.PeersChanged();
  rotation.UpdateReclaimTimers(kT0, peers, true, {1, 2});
  EXPECT_EQ(rotation.reclaim_walks(), 2u);
  rotation.UpdateReclaimTimers(kT0, peers, true, {1, 2, 7});
  EXPECT_EQ(rotation.reclaim_walks(), 3u) << "another old SPI";
  EXPECT_THAT(rotation.DueForReclaim(kT0 + kGrace), ElementsAre(1, 7));
  // SPI 7's key is now learnt, the newest: the target, no candidate.
  rotation.LearnKey(7, TestPsk(7));
  rotation.UpdateReclaimTimers(kT0, peers, true, {1, 2, 7});
  EXPECT_EQ(rotation.reclaim_walks(), 4u) << "the SPI order moved";
  // The walk kept the start of SPI 1's grace period.
  EXPECT_THAT(rotation.DueForReclaim(kT0 + kGrace), ElementsAre(1));
}

}  // namespace
}  // namespace kmesh::ipsec
