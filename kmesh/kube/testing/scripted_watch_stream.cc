#include "kmesh/kube/testing/scripted_watch_stream.h"

#include <utility>

#include "absl/time/time.h"

namespace kmesh::kube::testing {

ScriptedWatchStream::ScriptedWatchStream(Script script)
    : script_(std::move(script)) {}

absl::StatusOr<WatchEvent> ScriptedWatchStream::Next(
    std::chrono::milliseconds timeout) {
  absl::MutexLock lock(&mu_);
  auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return closed_ || !script_.empty();
  };
  mu_.AwaitWithTimeout(absl::Condition(&ready), absl::FromChrono(timeout));
  if (closed_) return absl::CancelledError("closed");
  if (script_.empty()) return absl::DeadlineExceededError("timeout");
  absl::StatusOr<WatchEvent> next = script_.front();
  if (next.ok()) script_.pop_front();  // An end status repeats.
  return next;
}

void ScriptedWatchStream::Close() {
  absl::MutexLock lock(&mu_);
  closed_ = true;
}

}  // namespace kmesh::kube::testing
