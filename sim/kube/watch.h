// Watches of the simulated API server. WatchHistory is the sequence of
// changes: it gives each change the next store-wide resourceVersion (as
// etcd's revision), keeps the latest of them (a bounded history), and wakes
// the watchers of the changed type and namespace, each on its own, so a
// change wakes only the watchers it concerns and a Cancel() only its
// watcher. A Watcher follows one type (in one namespace or all) from a
// resourceVersion: it replays the changes after it, then waits for new
// ones; once the changes it needs have left the history it fails with 410
// Gone ("Expired"). Selectors run outside the history's lock, on immutable
// snapshots; an object entering or leaving a watcher's selection is
// reported as added or deleted, as the real server reports it.
#ifndef SIM_KUBE_WATCH_H_
#define SIM_KUBE_WATCH_H_

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "nlohmann/json.hpp"
#include "sim/kube/object_snapshot.h"
#include "sim/kube/selector.h"

namespace kmesh::sim::kube {

enum class EventType { kAdded, kModified, kDeleted };
// "ADDED", "MODIFIED", "DELETED".
const char* EventTypeName(EventType type);

struct WatchEvent {
  EventType type;
  std::shared_ptr<const ObjectSnapshot> snapshot;  // Never null.

  // The object at that resourceVersion.
  const nlohmann::json& object() const { return snapshot->json(); }
};

class Watcher;
// The open watchers of one type.
using WatcherSet = std::set<Watcher*>;

class WatchHistory {
 public:
  // Keeps the latest `limit` changes (at least one).
  explicit WatchHistory(size_t limit);
  WatchHistory(const WatchHistory&) = delete;
  WatchHistory& operator=(const WatchHistory&) = delete;

  // Records a change to an object of the type with key `type_key`: stamps
  // the next resourceVersion on `object`, keeps the event, and wakes the
  // watchers of that type and of the object's namespace. Returns the object
  // as recorded (`previous`: what a kModified replaced).
  std::shared_ptr<const ObjectSnapshot> Record(
      const std::string& type_key, EventType type, nlohmann::json& object,
      std::shared_ptr<const ObjectSnapshot> previous);

  // A watcher of `type_key` in `ns` ("" = all) that first reports `initial`
  // (as ADDED, those its selectors pass), then the changes after
  // resourceVersion `from`. Gone when those have left the history.
  absl::StatusOr<std::unique_ptr<Watcher>> Watch(
      const std::string& type_key, std::string ns, LabelSelector labels,
      FieldSelector fields, uint64_t from,
      const std::vector<std::shared_ptr<const ObjectSnapshot>>& initial);

  // The resourceVersion of the latest change.
  uint64_t current_version() const;
  // The oldest resourceVersion a watch can still start from.
  uint64_t oldest_watchable_version() const;
  // Drops every kept change, as etcd's compaction at the current revision
  // (or a restarted API server's fresh watch cache) does: a watch from an
  // older resourceVersion, or one that has not read up to now, gets 410.
  void Compact();

  // Calls `undo` for each change to `type_key` after resourceVersion
  // `version`, newest first: the object as recorded, and what it replaced
  // (null for kAdded; the last stored state for kDeleted). With the current
  // objects this rebuilds the state at `version` (a list at an older
  // resourceVersion). OutOfRange (410) when some of those changes have left
  // the history, as etcd answers a read at a compacted revision.
  absl::Status UndoChangesAfter(
      const std::string& type_key, uint64_t version,
      const std::function<void(
          EventType type, const ObjectSnapshot& object,
          const std::shared_ptr<const ObjectSnapshot>& previous)>& undo) const;

 private:
  friend class Watcher;
  struct Event {
    uint64_t resource_version;
    const WatcherSet* channel;  // The type that changed.
    EventType type;
    std::string ns;
    std::shared_ptr<const ObjectSnapshot> object;
    std::shared_ptr<const ObjectSnapshot> previous;  // kModified: before.
  };

  // One per type that was watched or changed; never removed.
  WatcherSet* ChannelFor(const std::string& type_key)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const size_t limit_;
  mutable absl::Mutex mu_;
  std::map<std::string, WatcherSet> channels_ ABSL_GUARDED_BY(mu_);
  // Consecutive versions, one event each: the event for version v is at
  // v - compacted_ - 1.
  std::deque<Event> events_ ABSL_GUARDED_BY(mu_);
  uint64_t version_ ABSL_GUARDED_BY(mu_) = 0;
  // Every event up to and including this version has left events_.
  uint64_t compacted_ ABSL_GUARDED_BY(mu_) = 0;
};

// One watch: the events after its starting resourceVersion that match its
// namespace and selectors, in order. Must not outlive its history.
class Watcher {
 public:
  ~Watcher();
  Watcher(const Watcher&) = delete;
  Watcher& operator=(const Watcher&) = delete;

  // The next event, waiting until `deadline`. DeadlineExceeded when none
  // came by then (the watcher stays usable); Cancelled after Cancel();
  // OutOfRange (410 Expired) when the events it needs left the history.
  // One caller at a time. Only changes of the watched type (and namespace)
  // wake it.
  absl::StatusOr<WatchEvent> Next(
      std::chrono::steady_clock::time_point deadline);
  // Makes a blocked and every later Next() return Cancelled. Thread-safe.
  void Cancel();
  // The resourceVersion up to which this watch has read the history. Right
  // after Next() returned DeadlineExceeded every event up to it has been
  // delivered: what a BOOKMARK reports.
  uint64_t Progress() const;

 private:
  friend class WatchHistory;
  // A history event of the watched type and namespace, taken under the
  // history's lock; whether the selectors pass is decided after it.
  struct Candidate {
    EventType type;
    std::shared_ptr<const ObjectSnapshot> object;
    std::shared_ptr<const ObjectSnapshot> previous;
  };

  Watcher(WatchHistory* history, WatcherSet* channel, std::string ns,
          LabelSelector labels, FieldSelector fields, uint64_t cursor);
  bool Selects(const nlohmann::json& object) const;
  // Moves the candidates that pass the selectors into ready_, as the
  // events this watch reports.
  void Select(std::vector<Candidate>& candidates);
  // Wakes a Next() waiting for a change in `ns`.
  void Wake(const std::string& ns) ABSL_EXCLUSIVE_LOCKS_REQUIRED(history_->mu_);

  WatchHistory* const history_;
  WatcherSet* const channel_ ABSL_PT_GUARDED_BY(history_->mu_);
  const std::string namespace_;  // "" = every namespace.
  const LabelSelector labels_;
  const FieldSelector fields_;
  const bool selects_all_;  // No label or field selector.
  // The resourceVersion up to which the history has been read.
  uint64_t cursor_ ABSL_GUARDED_BY(history_->mu_);
  std::atomic<bool> cancelled_{false};
  absl::CondVar woken_;
  bool waiting_ ABSL_GUARDED_BY(history_->mu_) = false;  // In woken_.Wait.
  // Events due to the caller (the initial state, then changes), in order;
  // only Next() touches it.
  std::deque<WatchEvent> ready_;
};

}  // namespace kmesh::sim::kube

#endif  // SIM_KUBE_WATCH_H_
