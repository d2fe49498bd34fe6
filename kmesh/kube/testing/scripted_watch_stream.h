// ScriptedWatchStream: a WatchStream for tests that plays a script of
// events and, optionally, how the stream ends. Next() returns the script's
// events in order; an end status (any non-OK entry) is returned again on
// every later call; past the script, Next() waits for its timeout and
// returns DeadlineExceeded. After Close() -- also while waiting -- Next()
// returns Cancelled. Thread-safe. Test-only.
#ifndef KMESH_KUBE_TESTING_SCRIPTED_WATCH_STREAM_H_
#define KMESH_KUBE_TESTING_SCRIPTED_WATCH_STREAM_H_

#include <chrono>
#include <deque>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "kmesh/kube/kube_client.h"

namespace kmesh::kube::testing {

class ScriptedWatchStream : public WatchStream {
 public:
  using Script = std::deque<absl::StatusOr<WatchEvent>>;

  explicit ScriptedWatchStream(Script script = {});

  absl::StatusOr<WatchEvent> Next(std::chrono::milliseconds timeout) override;
  void Close() override;

 private:
  absl::Mutex mu_;
  Script script_ ABSL_GUARDED_BY(mu_);
  bool closed_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace kmesh::kube::testing

#endif  // KMESH_KUBE_TESTING_SCRIPTED_WATCH_STREAM_H_
