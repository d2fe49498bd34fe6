#include "sim/kernel/replay_window.h"

#include <cstdint>

#include "gtest/gtest.h"

namespace kmesh {
namespace sim {
namespace {

TEST(ReplayWindowTest, InOrderPacketsPassAndCarryTheirNumber) {
  ReplayWindow w(64, /*esn=*/false);
  for (uint32_t seq = 1; seq <= 100; ++seq) {
    const ReplayCheck c = w.CheckAndAdvance(seq);
    ASSERT_EQ(c.verdict, ReplayVerdict::kOk) << seq;
    EXPECT_EQ(c.seq, seq);
  }
  EXPECT_EQ(w.top(), 100u);
}

TEST(ReplayWindowTest, DuplicateIsReplayed) {
  ReplayWindow w(64, false);
  ASSERT_EQ(w.CheckAndAdvance(1).verdict, ReplayVerdict::kOk);
  ASSERT_EQ(w.CheckAndAdvance(2).verdict, ReplayVerdict::kOk);
  EXPECT_EQ(w.CheckAndAdvance(2).verdict, ReplayVerdict::kReplayed);
  EXPECT_EQ(w.CheckAndAdvance(1).verdict, ReplayVerdict::kReplayed);
}

TEST(ReplayWindowTest, OutOfOrderInsideWindowPassesOnce) {
  ReplayWindow w(64, false);
  ASSERT_EQ(w.CheckAndAdvance(10).verdict, ReplayVerdict::kOk);
  EXPECT_EQ(w.CheckAndAdvance(5).verdict, ReplayVerdict::kOk);
  EXPECT_EQ(w.CheckAndAdvance(5).verdict, ReplayVerdict::kReplayed);
  EXPECT_EQ(w.top(), 10u);
}

TEST(ReplayWindowTest, NumberBelowWindowIsTooOld) {
  ReplayWindow w(32, false);
  ASSERT_EQ(w.CheckAndAdvance(100).verdict, ReplayVerdict::kOk);
  // Window is 69..100.
  EXPECT_EQ(w.Check(69).verdict, ReplayVerdict::kOk);
  EXPECT_EQ(w.Check(68).verdict, ReplayVerdict::kTooOld);
  EXPECT_EQ(w.Check(1).verdict, ReplayVerdict::kTooOld);
}

TEST(ReplayWindowTest, SlidingForgetsOldBitsAndKeepsRecentOnes) {
  ReplayWindow w(64, false);
  for (uint32_t seq = 1; seq <= 74; ++seq) w.CheckAndAdvance(seq);
  EXPECT_EQ(w.Check(5).verdict, ReplayVerdict::kTooOld);
  EXPECT_EQ(w.Check(11).verdict, ReplayVerdict::kReplayed);
  EXPECT_EQ(w.Check(70).verdict, ReplayVerdict::kReplayed);
  // A jump clears the slots of the numbers it skips.
  w.Advance(100);
  EXPECT_EQ(w.Check(80).verdict, ReplayVerdict::kOk);
  EXPECT_EQ(w.Check(74).verdict, ReplayVerdict::kReplayed);
  w.Advance(1000);
  EXPECT_EQ(w.Check(999).verdict, ReplayVerdict::kOk);
  EXPECT_EQ(w.Check(100).verdict, ReplayVerdict::kTooOld);
}

TEST(ReplayWindowTest, CheckDoesNotMoveTheWindow) {
  ReplayWindow w(64, false);
  EXPECT_EQ(w.Check(7).verdict, ReplayVerdict::kOk);
  EXPECT_EQ(w.Check(7).verdict, ReplayVerdict::kOk);
  EXPECT_EQ(w.top(), 0u);
  w.Advance(7);
  EXPECT_EQ(w.Check(7).verdict, ReplayVerdict::kReplayed);
}

TEST(ReplayWindowTest, SequenceZeroIsNeverValid) {
  ReplayWindow w(64, false);
  EXPECT_EQ(w.Check(0).verdict, ReplayVerdict::kTooOld);
  ReplayWindow esn(64, true);
  EXPECT_EQ(esn.Check(0).verdict, ReplayVerdict::kTooOld);
}

TEST(ReplayWindowTest, SizeZeroTurnsAntiReplayOff) {
  ReplayWindow w(0, false);
  EXPECT_EQ(w.CheckAndAdvance(5).verdict, ReplayVerdict::kOk);
  EXPECT_EQ(w.CheckAndAdvance(5).verdict, ReplayVerdict::kOk);
  EXPECT_EQ(w.CheckAndAdvance(1).verdict, ReplayVerdict::kOk);
}

TEST(ReplayWindowTest, EsnFollowsTheSenderAcrossTwoToThe32) {
  ReplayWindow w(64, /*esn=*/true);
  w.Advance(0xfffffffeull);
  ReplayCheck c = w.CheckAndAdvance(0xffffffffu);
  ASSERT_EQ(c.verdict, ReplayVerdict::kOk);
  EXPECT_EQ(c.seq, 0xffffffffull);
  // Low half 0 is valid once the high half is 1: sequence 2^32.
  c = w.CheckAndAdvance(0);
  ASSERT_EQ(c.verdict, ReplayVerdict::kOk);
  EXPECT_EQ(c.seq, 0x100000000ull);
  c = w.CheckAndAdvance(1);
  ASSERT_EQ(c.verdict, ReplayVerdict::kOk);
  EXPECT_EQ(c.seq, 0x100000001ull);
  EXPECT_EQ(w.top(), 0x100000001ull);
  // A late packet from the old subspace is placed there, not 2^32 ahead.
  c = w.Check(0xfffffff0u);
  EXPECT_EQ(c.verdict, ReplayVerdict::kOk);
  EXPECT_EQ(c.seq, 0xfffffff0ull);
  c = w.Check(0xfffffffeu);
  EXPECT_EQ(c.verdict, ReplayVerdict::kReplayed);
  EXPECT_EQ(c.seq, 0xfffffffeull);
}

TEST(ReplayWindowTest, EsnWrapSkipsWhenWholeWindowHasPassed) {
  ReplayWindow w(64, true);
  w.Advance(0xffffff00ull);
  // Far below the window's low half: the next subspace.
  const ReplayCheck c = w.Check(5);
  EXPECT_EQ(c.verdict, ReplayVerdict::kOk);
  EXPECT_EQ(c.seq, 0x100000005ull);
}

TEST(ReplayWindowTest, WithoutEsnTheLowHalfIsTheWholeNumber) {
  ReplayWindow w(64, false);
  w.Advance(0xffffffffull);
  const ReplayCheck c = w.Check(1);
  EXPECT_EQ(c.verdict, ReplayVerdict::kTooOld);
  EXPECT_EQ(c.seq, 1u);
}

TEST(ReplayWindowTest, EsnNumbersBeforeTheFirstPacketAreTooOld) {
  ReplayWindow w(1024, true);
  // With nothing received the window's bottom reaches back below 0; such a
  // number would need a high half of -1.
  EXPECT_EQ(w.Check(0xfffffff0u).verdict, ReplayVerdict::kTooOld);
  EXPECT_EQ(w.Check(3).verdict, ReplayVerdict::kOk);
}

TEST(ReplayWindowTest, BitmapUsesLinuxLayout) {
  ReplayWindow w(64, true);
  w.CheckAndAdvance(1);
  w.CheckAndAdvance(3);
  ASSERT_EQ(w.bitmap_words().size(), 2u);
  EXPECT_EQ(w.bitmap_words()[0], 0b101u);
  EXPECT_TRUE(w.WasReceived(3));
  EXPECT_FALSE(w.WasReceived(2));
}

TEST(ReplayWindowTest, SizeIsClampedToLinuxMaximum) {
  ReplayWindow w(100000, true);
  EXPECT_EQ(w.size(), ReplayWindow::kMaxSize);
}

}  // namespace
}  // namespace sim
}  // namespace kmesh
