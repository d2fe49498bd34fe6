// ReclaimHold: an old SPI goes when its grace period is over only if no peer
// still sends with it, and at the latest one hold limit later.
#include "kmesh/ipsec/reclaim_hold.h"

#include <chrono>

#include "gtest/gtest.h"

namespace kmesh::ipsec {
namespace {

using std::chrono::seconds;

constexpr Duration kGrace = seconds(10);
constexpr int32_t kSpi = 7;
const TimePoint kSince = TimePoint{} + std::chrono::hours(1);

// Samples `spi` when it asks, as the controller's Tick does.
void Tick(ReclaimHold& hold, TimePoint now, const ReclaimHold::Counts& c) {
  if (hold.NeedsSample(kSpi, kSince, now)) hold.AddSample(kSpi, kSince, now, c);
}

TEST(ReclaimHoldTest, QuietDefaultsToATenthOfGraceWithinBounds) {
  EXPECT_EQ(ReclaimHold::DefaultQuiet(seconds(10)), seconds(1));
  EXPECT_EQ(ReclaimHold::DefaultQuiet(std::chrono::minutes(5)), seconds(30));
  EXPECT_EQ(ReclaimHold::DefaultQuiet(std::chrono::hours(1)), seconds(30));
  // Never more than half the grace period.
  EXPECT_EQ(ReclaimHold::DefaultQuiet(seconds(1)),
            std::chrono::milliseconds(500));
  ReclaimHold hold(kGrace);
  EXPECT_EQ(hold.limit(), kGrace);
}

TEST(ReclaimHoldTest, QuietSpiGoesExactlyWhenTheGracePeriodEnds) {
  ReclaimHold hold(kGrace);
  const ReclaimHold::Counts counts{{1, 40}, {2, 9}};
  EXPECT_TRUE(hold.NeedsSample(kSpi, kSince, kSince));
  Tick(hold, kSince, counts);
  EXPECT_FALSE(hold.NeedsSample(kSpi, kSince, kSince + seconds(4)));
  // The half-way sample, then nothing until the end.
  EXPECT_TRUE(hold.NeedsSample(kSpi, kSince, kSince + seconds(5)));
  Tick(hold, kSince + seconds(5), counts);
  EXPECT_FALSE(hold.NeedsSample(kSpi, kSince, kSince + seconds(9)));
  EXPECT_FALSE(hold.Decide(kSpi, kSince, kSince + seconds(9)).reclaim);
  Tick(hold, kSince + kGrace, counts);
  ReclaimHold::Verdict v = hold.Decide(kSpi, kSince, kSince + kGrace);
  EXPECT_TRUE(v.reclaim);
  EXPECT_FALSE(v.forced);
  EXPECT_TRUE(v.senders.empty());
}

TEST(ReclaimHoldTest, TheFirstComparisonAfterTheEndIsMadeAtOnce) {
  // Ticks were far apart: the last sample before the end is a second old.
  ReclaimHold hold(kGrace);
  Tick(hold, kSince, {{1, 40}});
  Tick(hold, kSince + kGrace - std::chrono::milliseconds(500), {{1, 41}});
  Tick(hold, kSince + kGrace, {{1, 41}});
  EXPECT_TRUE(hold.Decide(kSpi, kSince, kSince + kGrace).reclaim);
}

TEST(ReclaimHoldTest, PacketsEarlyInTheGracePeriodDoNotHoldIt) {
  // In-flight packets just after the last peer moved on are normal.
  ReclaimHold hold(kGrace);
  Tick(hold, kSince, {{1, 40}});
  Tick(hold, kSince + seconds(1), {{1, 45}});  // Not asked for: ignored.
  Tick(hold, kSince + seconds(5), {{1, 50}});
  Tick(hold, kSince + kGrace, {{1, 50}});
  EXPECT_TRUE(hold.Decide(kSpi, kSince, kSince + kGrace).reclaim);
}

TEST(ReclaimHoldTest, APeerStillSendingHoldsTheSpiUntilItStops) {
  // Finding 5 of docs/reliability.md: peer 3's view of this node is stale
  // beyond the grace period and it still sends with the old SPI.
  ReclaimHold hold(kGrace);
  Tick(hold, kSince, {{1, 40}, {3, 10}});
  Tick(hold, kSince + seconds(5), {{1, 40}, {3, 60}});
  EXPECT_TRUE(
      hold.AddSample(kSpi, kSince, kSince + kGrace, {{1, 40}, {3, 110}}));
  ReclaimHold::Verdict v = hold.Decide(kSpi, kSince, kSince + kGrace);
  EXPECT_FALSE(v.reclaim);
  EXPECT_EQ(v.senders, (std::set<uint16_t>{3}));
  EXPECT_EQ(v.deadline, kSince + 2 * kGrace);
  // Not sampled again before `quiet`.
  EXPECT_FALSE(hold.NeedsSample(kSpi, kSince, kSince + kGrace + seconds(0)));
  // It catches up during the next second: still moved, held.
  Tick(hold, kSince + kGrace + seconds(1), {{1, 40}, {3, 115}});
  EXPECT_FALSE(hold.Decide(kSpi, kSince, kSince + kGrace + seconds(1)).reclaim);
  // A quiet second: released.
  Tick(hold, kSince + kGrace + seconds(2), {{1, 40}, {3, 115}});
  ReclaimHold::Verdict after =
      hold.Decide(kSpi, kSince, kSince + kGrace + seconds(2));
  EXPECT_TRUE(after.reclaim);
  EXPECT_FALSE(after.forced);
}

TEST(ReclaimHoldTest, APeerThatNeverStopsIsCutOffAtTheLimit) {
  ReclaimHold hold(kGrace);
  uint64_t packets = 0;
  TimePoint now = kSince;
  for (; now < kSince + 2 * kGrace; now += std::chrono::milliseconds(500)) {
    Tick(hold, now, {{3, packets += 10}});
    ASSERT_FALSE(hold.Decide(kSpi, kSince, now).reclaim);
  }
  Tick(hold, now, {{3, packets += 10}});
  ReclaimHold::Verdict v = hold.Decide(kSpi, kSince, now);
  EXPECT_TRUE(v.reclaim);
  EXPECT_TRUE(v.forced);
  EXPECT_EQ(v.senders, (std::set<uint16_t>{3}));
}

TEST(ReclaimHoldTest, UnknownCountersHoldUntilTheyAreKnownOrTheLimit) {
  // Every dump failed: nothing says whether a peer still sends.
  ReclaimHold hold(kGrace);
  EXPECT_FALSE(hold.Tracks(kSpi, kSince));
  hold.Track(kSpi, kSince);
  EXPECT_TRUE(hold.Tracks(kSpi, kSince));
  EXPECT_TRUE(hold.NeedsSample(kSpi, kSince, kSince + kGrace));
  EXPECT_FALSE(hold.Decide(kSpi, kSince, kSince + kGrace).reclaim);
  // The first sample after the end is a baseline, not a verdict.
  Tick(hold, kSince + kGrace, {{1, 5}});
  EXPECT_FALSE(hold.Decide(kSpi, kSince, kSince + kGrace).reclaim);
  Tick(hold, kSince + kGrace + std::chrono::milliseconds(500), {{1, 5}});
  EXPECT_FALSE(hold.Decide(kSpi, kSince, kSince + kGrace + seconds(0)).reclaim);
  Tick(hold, kSince + kGrace + seconds(1), {{1, 5}});
  EXPECT_TRUE(hold.Decide(kSpi, kSince, kSince + kGrace + seconds(1)).reclaim);

  ReclaimHold never(kGrace);
  ReclaimHold::Verdict v = never.Decide(kSpi, kSince, kSince + 2 * kGrace);
  EXPECT_TRUE(v.reclaim);
  EXPECT_TRUE(v.forced);
}

TEST(ReclaimHoldTest, AnSaMissingFromOneSampleCountsAsZero) {
  ReclaimHold hold(kGrace);
  Tick(hold, kSince + seconds(5), {{1, 40}});
  // Peer 2's SA appeared with no packets; peer 1's is unchanged.
  Tick(hold, kSince + kGrace, {{1, 40}, {2, 0}});
  EXPECT_TRUE(hold.Decide(kSpi, kSince, kSince + kGrace).reclaim);
  // Peer 1's SA was replaced (its counter starts again): one more wait.
  ReclaimHold replaced(kGrace);
  replaced.AddSample(kSpi, kSince, kSince + seconds(5), {{1, 40}});
  replaced.AddSample(kSpi, kSince, kSince + kGrace, {{1, 0}});
  EXPECT_FALSE(replaced.Decide(kSpi, kSince, kSince + kGrace).reclaim);
}

TEST(ReclaimHoldTest, ATimerThatStartsAgainSamplesAfresh) {
  ReclaimHold hold(kGrace);
  Tick(hold, kSince, {{1, 40}});
  Tick(hold, kSince + seconds(5), {{1, 40}});
  // A peer needed the SPI again; its timer stopped and later restarts.
  hold.Retain({});
  const TimePoint again = kSince + seconds(7);
  EXPECT_TRUE(hold.NeedsSample(kSpi, again, again));
  // A state from another start is not used for this one.
  hold.AddSample(kSpi, kSince, kSince + seconds(6), {{1, 40}});
  EXPECT_TRUE(hold.NeedsSample(kSpi, again, again));
  hold.Retain({{kSpi, again}});
  EXPECT_TRUE(hold.NeedsSample(kSpi, again, again));
}

TEST(ReclaimHoldTest, ZeroGraceReclaimsAtOnceWithoutSampling) {
  ReclaimHold hold(Duration::zero());
  EXPECT_FALSE(hold.NeedsSample(kSpi, kSince, kSince));
  EXPECT_TRUE(hold.Decide(kSpi, kSince, kSince).reclaim);
}

}  // namespace
}  // namespace kmesh::ipsec
