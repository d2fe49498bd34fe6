#include "sim/kernel/xfrm/replay_window.h"

#include <cstdint>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace kmesh {
namespace sim {
namespace {

// One step of a scenario: a packet received (checked, and recorded when it
// passes, as the data path does once its ICV verified), a packet only
// checked, an authenticated number recorded directly, or the window's top.
struct Step {
  enum class Op { kReceive, kCheck, kAdvance, kTop } op;
  uint64_t seq;  // The wire's low 32 bits; the full number for kAdvance/kTop.
  ReplayVerdict want = ReplayVerdict::kOk;
  // The full sequence number a kReceive or kCheck must come back with
  // (-1: not checked).
  int64_t want_seq = -1;
};

Step Receive(uint32_t seq, ReplayVerdict want = ReplayVerdict::kOk,
             int64_t want_seq = -1) {
  return Step{Step::Op::kReceive, seq, want, want_seq};
}
Step Check(uint32_t seq, ReplayVerdict want, int64_t want_seq = -1) {
  return Step{Step::Op::kCheck, seq, want, want_seq};
}
Step Advance(uint64_t seq) { return Step{Step::Op::kAdvance, seq}; }
Step Top(uint64_t seq) { return Step{Step::Op::kTop, seq}; }

// Packets first .. last in order, each passing with its own number, then
// `more`.
std::vector<Step> ReceiveEach(uint32_t first, uint32_t last,
                              std::vector<Step> more = {}) {
  std::vector<Step> steps;
  for (uint32_t seq = first; seq <= last; ++seq) {
    steps.push_back(Receive(seq, ReplayVerdict::kOk, seq));
  }
  steps.insert(steps.end(), more.begin(), more.end());
  return steps;
}

struct Scenario {
  std::string name;
  uint32_t size;
  bool esn;
  std::vector<Step> steps;
};

constexpr ReplayVerdict kOk = ReplayVerdict::kOk;
constexpr ReplayVerdict kReplayed = ReplayVerdict::kReplayed;
constexpr ReplayVerdict kTooOld = ReplayVerdict::kTooOld;

const Scenario kScenarios[] = {
    {"InOrderPacketsPassAndCarryTheirNumber", 64, false,
     ReceiveEach(1, 100, {Top(100)})},
    {"DuplicateIsReplayed",
     64,
     false,
     {Receive(1), Receive(2), Receive(2, kReplayed), Receive(1, kReplayed)}},
    {"OutOfOrderInsideWindowPassesOnce",
     64,
     false,
     {Receive(10), Receive(5), Receive(5, kReplayed), Top(10)}},
    {"NumberBelowWindowIsTooOld",
     32,
     false,
     // The window is 69..100.
     {Receive(100), Check(69, kOk), Check(68, kTooOld), Check(1, kTooOld)}},
    {"SlidingForgetsOldBitsAndKeepsRecentOnes", 64, false,
     ReceiveEach(1, 74,
                 {Check(5, kTooOld), Check(11, kReplayed), Check(70, kReplayed),
                  // A jump clears the slots of the numbers it skips.
                  Advance(100), Check(80, kOk), Check(74, kReplayed),
                  Advance(1000), Check(999, kOk), Check(100, kTooOld)})},
    {"CheckDoesNotMoveTheWindow",
     64,
     false,
     {Check(7, kOk), Check(7, kOk), Top(0), Advance(7), Check(7, kReplayed)}},
    {"SequenceZeroIsNeverValid", 64, false, {Check(0, kTooOld)}},
    {"SequenceZeroIsNeverValidWithEsn", 64, true, {Check(0, kTooOld)}},
    {"SizeZeroTurnsAntiReplayOff",
     0,
     false,
     {Receive(5), Receive(5), Receive(1)}},
    {"EsnFollowsTheSenderAcrossTwoToThe32",
     64,
     true,
     {Advance(0xfffffffe), Receive(0xffffffff, kOk, 0xffffffff),
      // Low half 0 is valid once the high half is 1: sequence 2^32.
      Receive(0, kOk, 0x100000000), Receive(1, kOk, 0x100000001),
      Top(0x100000001),
      // A late packet from the old subspace is placed there, not 2^32
      // ahead.
      Check(0xfffffff0, kOk, 0xfffffff0),
      Check(0xfffffffe, kReplayed, 0xfffffffe)}},
    {"EsnWrapSkipsWhenWholeWindowHasPassed",
     64,
     true,
     // Far below the window's low half: the next subspace.
     {Advance(0xffffff00), Check(5, kOk, 0x100000005)}},
    {"WithoutEsnTheLowHalfIsTheWholeNumber",
     64,
     false,
     {Advance(0xffffffff), Check(1, kTooOld, 1)}},
    {"EsnNumbersBelowZeroGetTheHighHalfLinuxGives",
     1024,
     true,
     // With nothing received the window's bottom reaches back below 0. Linux
     // (xfrm_replay_seqhi) gives such a number the high half 0xffffffff and
     // lets it through the window; its ICV, computed by a sender that used
     // high half 0, then fails (found against Linux: XfrmInStateProtoError).
     {Check(0xfffffff0, kOk, 0xfffffffffffffff0ull), Check(3, kOk)}},
};

class ReplayWindowScenarioTest : public ::testing::TestWithParam<Scenario> {};

TEST_P(ReplayWindowScenarioTest, GivesEachPacketItsVerdict) {
  const Scenario& scenario = GetParam();
  ReplayWindow w(scenario.size, scenario.esn);
  for (size_t i = 0; i < scenario.steps.size(); ++i) {
    const Step& step = scenario.steps[i];
    SCOPED_TRACE(::testing::Message()
                 << "step " << i << ", seq 0x" << std::hex << step.seq);
    switch (step.op) {
      case Step::Op::kAdvance:
        w.Advance(step.seq);
        continue;
      case Step::Op::kTop:
        EXPECT_EQ(w.top(), step.seq);
        continue;
      case Step::Op::kReceive:
      case Step::Op::kCheck:
        break;
    }
    const ReplayCheck c = w.Check(static_cast<uint32_t>(step.seq));
    EXPECT_EQ(c.verdict, step.want);
    if (step.want_seq >= 0) {
      EXPECT_EQ(c.seq, static_cast<uint64_t>(step.want_seq));
    }
    if (step.op == Step::Op::kReceive && c.verdict == ReplayVerdict::kOk) {
      w.Advance(c.seq);
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Scenarios, ReplayWindowScenarioTest,
                         ::testing::ValuesIn(kScenarios),
                         [](const ::testing::TestParamInfo<Scenario>& info) {
                           return info.param.name;
                         });

TEST(ReplayWindowTest, BitmapUsesLinuxLayout) {
  ReplayWindow w(64, true);
  w.Advance(1);
  w.Advance(3);
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
