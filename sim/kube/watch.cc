#include "sim/kube/watch.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "sim/kube/api_error.h"
#include "sim/kube/object_fields.h"

namespace kmesh::sim::kube {

using nlohmann::json;

const char* EventTypeName(EventType type) {
  switch (type) {
    case EventType::kAdded:
      return "ADDED";
    case EventType::kModified:
      return "MODIFIED";
    case EventType::kDeleted:
      return "DELETED";
  }
  return "";
}

WatchHistory::WatchHistory(size_t limit) : limit_(std::max<size_t>(limit, 1)) {}

WatcherSet* WatchHistory::ChannelFor(const std::string& type_key) {
  return &channels_[type_key];
}

std::shared_ptr<const ObjectSnapshot> WatchHistory::Record(
    const std::string& type_key, EventType type, json& object,
    std::shared_ptr<const ObjectSnapshot> previous) {
  absl::MutexLock lock(&mu_);
  ++version_;
  MutableMetadata(object)["resourceVersion"] = absl::StrCat(version_);
  auto recorded = std::make_shared<const ObjectSnapshot>(object);
  WatcherSet* channel = ChannelFor(type_key);
  std::string ns = StringAt(MetadataOf(object), "namespace");
  for (Watcher* watcher : *channel) {
    watcher->history_->mu_.AssertHeld();  // It is this history's.
    watcher->Wake(ns);
  }
  events_.push_back(Event{version_, channel, type, std::move(ns), recorded,
                          std::move(previous)});
  while (events_.size() > limit_) {
    compacted_ = events_.front().resource_version;
    events_.pop_front();
  }
  return recorded;
}

absl::StatusOr<std::unique_ptr<Watcher>> WatchHistory::Watch(
    const std::string& type_key, std::string ns, LabelSelector labels,
    FieldSelector fields, uint64_t from,
    const std::vector<std::shared_ptr<const ObjectSnapshot>>& initial) {
  absl::MutexLock lock(&mu_);
  if (from < compacted_) {
    return Gone(absl::StrCat("too old resource version: ", from, " (",
                             compacted_, ")"));
  }
  WatcherSet* channel = ChannelFor(type_key);
  std::unique_ptr<Watcher> watcher(new Watcher(this, channel, std::move(ns),
                                               std::move(labels),
                                               std::move(fields), from));
  channel->insert(watcher.get());
  for (const std::shared_ptr<const ObjectSnapshot>& object : initial) {
    if (watcher->Selects(object->json())) {
      watcher->ready_.push_back({EventType::kAdded, object});
    }
  }
  return watcher;
}

uint64_t WatchHistory::current_version() const {
  absl::MutexLock lock(&mu_);
  return version_;
}

uint64_t WatchHistory::oldest_watchable_version() const {
  absl::MutexLock lock(&mu_);
  return compacted_;
}

void WatchHistory::Compact() {
  absl::MutexLock lock(&mu_);
  events_.clear();
  compacted_ = version_;
}

absl::Status WatchHistory::UndoChangesAfter(
    const std::string& type_key, uint64_t version,
    const std::function<void(EventType, const ObjectSnapshot&,
                             const std::shared_ptr<const ObjectSnapshot>&)>&
        undo) const {
  absl::MutexLock lock(&mu_);
  if (version < compacted_) {
    return Gone(absl::StrCat("too old resource version: ", version, " (",
                             compacted_, ")"));
  }
  auto channel = channels_.find(type_key);
  if (channel == channels_.end()) return absl::OkStatus();
  for (uint64_t v = version_; v > version; --v) {
    const Event& event = events_[v - compacted_ - 1];
    if (event.channel != &channel->second) continue;
    undo(event.type, *event.object, event.previous);
  }
  return absl::OkStatus();
}

Watcher::Watcher(WatchHistory* history, WatcherSet* channel, std::string ns,
                 LabelSelector labels, FieldSelector fields, uint64_t cursor)
    : history_(history),
      channel_(channel),
      namespace_(std::move(ns)),
      labels_(std::move(labels)),
      fields_(std::move(fields)),
      selects_all_(labels_.empty() && fields_.empty()),
      cursor_(cursor) {}

Watcher::~Watcher() {
  absl::MutexLock lock(&history_->mu_);
  channel_->erase(this);
}

bool Watcher::Selects(const json& object) const {
  return selects_all_ ||
         (labels_.Matches(LabelsOf(object)) && fields_.Matches(object));
}

void Watcher::Wake(const std::string& ns) {
  if (waiting_ && (namespace_.empty() || namespace_ == ns)) woken_.Signal();
}

void Watcher::Cancel() {
  cancelled_ = true;
  // Under the lock, so a Next() between its check and its wait still wakes.
  absl::MutexLock lock(&history_->mu_);
  woken_.Signal();
}

uint64_t Watcher::Progress() const {
  absl::MutexLock lock(&history_->mu_);
  return cursor_;
}

void Watcher::Select(std::vector<Candidate>& candidates) {
  for (Candidate& candidate : candidates) {
    bool now_selected = Selects(candidate.object->json());
    if (candidate.type != EventType::kModified) {
      if (now_selected) {
        ready_.push_back({candidate.type, std::move(candidate.object)});
      }
      continue;
    }
    // An object entering or leaving the selection is added or deleted from
    // this watcher's point of view, as the real server reports it.
    bool was_selected = Selects(candidate.previous->json());
    EventType type = EventType::kModified;
    if (now_selected && !was_selected) type = EventType::kAdded;
    if (!now_selected && was_selected) type = EventType::kDeleted;
    if (now_selected || was_selected) {
      ready_.push_back({type, std::move(candidate.object)});
    }
  }
  candidates.clear();
}

absl::StatusOr<WatchEvent> Watcher::Next(
    std::chrono::steady_clock::time_point deadline) {
  // At most this many history events are taken per hold of the lock.
  constexpr size_t kMaxCandidates = 256;
  const absl::Time absl_deadline =
      absl::Now() +
      absl::FromChrono(deadline - std::chrono::steady_clock::now());
  std::vector<Candidate> candidates;
  while (true) {
    if (cancelled_) return absl::CancelledError("watch cancelled");
    if (!ready_.empty()) {
      WatchEvent event = std::move(ready_.front());
      ready_.pop_front();
      return event;
    }
    {
      absl::MutexLock lock(&history_->mu_);
      while (candidates.empty()) {
        if (cancelled_) return absl::CancelledError("watch cancelled");
        if (cursor_ < history_->compacted_) {
          return Gone(absl::StrCat("too old resource version: ", cursor_, " (",
                                   history_->compacted_, ")"));
        }
        while (cursor_ < history_->version_ &&
               candidates.size() < kMaxCandidates) {
          const WatchHistory::Event& event =
              history_->events_[cursor_ - history_->compacted_];
          ++cursor_;
          if (event.channel != channel_) continue;
          if (!namespace_.empty() && event.ns != namespace_) continue;
          candidates.push_back({event.type, event.object, event.previous});
        }
        if (!candidates.empty()) break;
        if (absl::Now() >= absl_deadline) {
          return absl::DeadlineExceededError(
              "no watch event before the deadline");
        }
        waiting_ = true;
        woken_.WaitWithDeadline(&history_->mu_, absl_deadline);
        waiting_ = false;
      }
    }
    // Selectors run outside the history's lock, on immutable snapshots.
    Select(candidates);
  }
}

}  // namespace kmesh::sim::kube
