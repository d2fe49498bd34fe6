// Clock: the only way production code reads the time or waits. The daemon
// uses the real clock; tests and the simulated cluster inject a ManualClock so
// that grace periods of minutes pass instantly and deterministically.
#ifndef KMESH_BASE_CLOCK_H_
#define KMESH_BASE_CLOCK_H_

#include <chrono>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace kmesh {

using TimePoint = std::chrono::steady_clock::time_point;
using Duration = std::chrono::steady_clock::duration;

class Clock {
 public:
  virtual ~Clock() = default;
  virtual TimePoint Now() const = 0;
};

// The process's monotonic clock.
class RealClock : public Clock {
 public:
  TimePoint Now() const override { return std::chrono::steady_clock::now(); }
  // A process-wide instance.
  static RealClock* Get() {
    static RealClock clock;
    return &clock;
  }
};

// A clock that moves only when told to; thread-safe.
class ManualClock : public Clock {
 public:
  TimePoint Now() const override {
    absl::MutexLock lock(&mu_);
    return now_;
  }
  void Advance(Duration d) {
    absl::MutexLock lock(&mu_);
    now_ += d;
  }

 private:
  mutable absl::Mutex mu_;
  TimePoint now_ ABSL_GUARDED_BY(mu_){std::chrono::hours(1)};
};

}  // namespace kmesh

#endif  // KMESH_BASE_CLOCK_H_
