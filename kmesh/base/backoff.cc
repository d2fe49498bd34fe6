#include "kmesh/base/backoff.h"

#include <algorithm>
#include <utility>

namespace kmesh {

using std::chrono::milliseconds;

Backoff::Backoff(BackoffPolicy policy, Uniform uniform)
    : policy_(policy), uniform_(std::move(uniform)) {
  policy_.initial = std::max(policy_.initial, milliseconds(1));
  policy_.max = std::max(policy_.max, policy_.initial);
  policy_.factor = std::max(policy_.factor, 1.0);
  policy_.jitter = std::max(policy_.jitter, 0.0);
  if (!uniform_) {
    engine_.seed(std::random_device{}());
    uniform_ = [this] {
      return std::uniform_real_distribution<double>(0.0, 1.0)(engine_);
    };
  }
  current_ = policy_.initial;
}

milliseconds Backoff::Next() {
  const milliseconds base = current_;
  const double grown = static_cast<double>(current_.count()) * policy_.factor;
  current_ = grown >= static_cast<double>(policy_.max.count())
                 ? policy_.max
                 : milliseconds(static_cast<int64_t>(grown));
  if (policy_.jitter <= 0) return base;
  const double u = std::clamp(uniform_(), 0.0, 1.0);
  return base + milliseconds(static_cast<int64_t>(
                    u * policy_.jitter * static_cast<double>(base.count())));
}

void Backoff::Reset() { current_ = policy_.initial; }

}  // namespace kmesh
