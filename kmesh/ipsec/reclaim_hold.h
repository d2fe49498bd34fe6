// ReclaimHold: keeps an old SPI past its grace period while a peer still
// sends with it. SpiRotation starts an old SPI's grace timer once every peer
// advertises a newer SPI, but a peer's advertisement says what it receives
// with, not what it sends with: a peer whose view of this node's record is
// stale (its watch stalled for longer than the grace period) still encrypts
// with the old SPI, and removing the inbound SAs then drops its packets. So
// the packet counters of each such SPI's inbound SAs are sampled (one kernel
// dump serves every SPI): when its timer starts, half-way through (or at the
// first tick after), and when it ends. The SPI is released when they did not
// move between the last sample before the end and the first after it. Else
// it is held, the peers whose counters moved are named, and it is released
// once they have stood still for `quiet`, or `limit` after the grace period
// at the latest (a peer that never catches up must not keep an old key alive
// for ever). A grace period of zero asks for no grace: nothing is sampled or
// held. Pure logic: the caller dumps the kernel and owns the clock.
#ifndef KMESH_IPSEC_RECLAIM_HOLD_H_
#define KMESH_IPSEC_RECLAIM_HOLD_H_

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <vector>

#include "kmesh/base/clock.h"

namespace kmesh::ipsec {

class ReclaimHold {
 public:
  // Inbound packets of one SPI's SAs, by peer index.
  using Counts = std::map<uint16_t, uint64_t>;

  // `quiet` is clamp(grace / 10, 1 s, 30 s), at most grace / 2 (DefaultQuiet),
  // and `limit` is one more grace period.
  explicit ReclaimHold(Duration grace_period);
  ReclaimHold(Duration grace_period, Duration quiet, Duration limit);
  static Duration DefaultQuiet(Duration grace_period);

  // Whether `spi`, whose grace timer started at `since`, wants a sample of
  // its counters at `now`.
  bool NeedsSample(int32_t spi, TimePoint since, TimePoint now) const;
  // A sample of `spi`'s counters taken at `now`. True when it shows a peer
  // still sending after the grace period (the SPI is held; Decide() names
  // the peers).
  bool AddSample(int32_t spi, TimePoint since, TimePoint now,
                 const Counts& counts);
  // A sample was wanted but could not be taken: later calls of NeedsSample()
  // still want one, but Tracks() is true.
  void Track(int32_t spi, TimePoint since);
  // Whether a sample was taken or tried since `spi`'s timer started.
  bool Tracks(int32_t spi, TimePoint since) const {
    return Find(spi, since) != nullptr;
  }

  struct Verdict {
    bool reclaim = false;
    // Reclaimed because the hold limit was reached while counters moved.
    bool forced = false;
    // The peer indices whose counters moved at the last comparison after
    // the grace period (empty when none did or none was made).
    std::set<uint16_t> senders;
    // When the SPI is released at the latest.
    TimePoint deadline{};
  };
  // What to do with `spi` at `now`: wait (grace not over, or held), or
  // reclaim.
  Verdict Decide(int32_t spi, TimePoint since, TimePoint now) const;

  // Forgets the SPIs whose timers no longer run (reclaimed, or needed again:
  // a timer that starts again samples afresh).
  void Retain(const std::map<int32_t, TimePoint>& timers);

  Duration quiet() const { return quiet_; }
  Duration limit() const { return limit_; }

 private:
  struct Sample {
    TimePoint at{};
    Counts counts;
  };
  struct State {
    TimePoint since{};  // The timer this state belongs to.
    std::optional<Sample> baseline;
    std::set<uint16_t> senders;  // Moved at the last comparison.
    bool compared = false;       // A comparison after the grace period.
    bool quiet_confirmed = false;
  };
  const State* Find(int32_t spi, TimePoint since) const;
  TimePoint Due(TimePoint since) const { return since + grace_; }
  TimePoint HalfWay(TimePoint since) const { return since + grace_ / 2; }

  const Duration grace_;
  const Duration quiet_;
  const Duration limit_;
  std::map<int32_t, State> states_;
};

}  // namespace kmesh::ipsec

#endif  // KMESH_IPSEC_RECLAIM_HOLD_H_
