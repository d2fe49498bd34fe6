#include "kmesh/ipsec/reclaim_hold.h"

#include <algorithm>
#include <chrono>

namespace kmesh::ipsec {

Duration ReclaimHold::DefaultQuiet(Duration grace_period) {
  // At most half the grace period, so that the half-way sample is old
  // enough to compare with when the grace period ends.
  return std::min<Duration>(
      std::clamp<Duration>(grace_period / 10, std::chrono::seconds(1),
                           std::chrono::seconds(30)),
      grace_period / 2);
}

ReclaimHold::ReclaimHold(Duration grace_period)
    : ReclaimHold(grace_period, DefaultQuiet(grace_period), grace_period) {}

ReclaimHold::ReclaimHold(Duration grace_period, Duration quiet, Duration limit)
    : grace_(grace_period), quiet_(quiet), limit_(limit) {}

const ReclaimHold::State* ReclaimHold::Find(int32_t spi,
                                            TimePoint since) const {
  auto it = states_.find(spi);
  if (it == states_.end() || it->second.since != since) return nullptr;
  return &it->second;
}

bool ReclaimHold::NeedsSample(int32_t spi, TimePoint since,
                              TimePoint now) const {
  if (grace_ <= Duration::zero()) return false;
  const State* s = Find(spi, since);
  if (s == nullptr || !s->baseline.has_value()) return true;
  if (now < HalfWay(since)) return false;
  if (now < Due(since)) return s->baseline->at < HalfWay(since);
  // The first comparison after the grace period is made at once (against
  // the half-way sample, or the latest one before the end); after one that
  // saw packets, the next waits `quiet`.
  const bool first = !s->compared && s->baseline->at < Due(since);
  return !s->quiet_confirmed && (first || now - s->baseline->at >= quiet_);
}

void ReclaimHold::Track(int32_t spi, TimePoint since) {
  State& s = states_[spi];
  if (s.since != since) s = State{since};
}

bool ReclaimHold::AddSample(int32_t spi, TimePoint since, TimePoint now,
                            const Counts& counts) {
  if (grace_ <= Duration::zero()) return false;
  State& s = states_[spi];
  if (s.since != since) s = State{since};
  if (!s.baseline.has_value() || now < Due(since)) {
    s.baseline = Sample{now, counts};
    return false;
  }
  // (A baseline taken only after the end, because no sample could be taken
  // before, always waits `quiet`.)
  const bool first = !s.compared && s.baseline->at < Due(since);
  s.compared = true;
  // After the grace period: did any peer's counter move since the baseline?
  // An SA missing from either sample counts as 0 packets (a replaced SA
  // starts again from 0, which differs from what it had: one more wait).
  std::set<uint16_t> moved;
  auto packets = [](const Counts& c, uint16_t index) -> uint64_t {
    auto it = c.find(index);
    return it == c.end() ? 0 : it->second;
  };
  const Counts& base = s.baseline->counts;
  for (const Counts* c : {&counts, &base}) {
    for (const auto& [index, unused] : *c) {
      if (packets(counts, index) != packets(base, index)) {
        moved.insert(index);
      }
    }
  }
  if (!moved.empty()) {
    s.senders = std::move(moved);
    s.baseline = Sample{now, counts};
    return true;
  }
  if (first || now - s.baseline->at >= quiet_) s.quiet_confirmed = true;
  return false;
}

ReclaimHold::Verdict ReclaimHold::Decide(int32_t spi, TimePoint since,
                                         TimePoint now) const {
  Verdict v;
  v.deadline = Due(since) + (grace_ > Duration::zero() ? limit_ : Duration{});
  if (now < Due(since)) return v;
  if (grace_ <= Duration::zero()) {
    v.reclaim = true;
    return v;
  }
  const State* s = Find(spi, since);
  if (s != nullptr) v.senders = s->senders;
  if (s != nullptr && s->quiet_confirmed) {
    v.reclaim = true;
  } else if (now >= v.deadline) {
    v.reclaim = true;
    v.forced = true;
  }
  return v;
}

void ReclaimHold::Retain(const std::map<int32_t, TimePoint>& timers) {
  for (auto it = states_.begin(); it != states_.end();) {
    auto timer = timers.find(it->first);
    const bool keep =
        timer != timers.end() && timer->second == it->second.since;
    it = keep ? std::next(it) : states_.erase(it);
  }
}

}  // namespace kmesh::ipsec
