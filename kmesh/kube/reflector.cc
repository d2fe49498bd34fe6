#include "kmesh/kube/reflector.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "glog/logging.h"
#include "kmesh/base/json_depth.h"
#include "kmesh/kube/kube_status.h"
#include "kmesh/kube/pager.h"
#include "nlohmann/json.hpp"

namespace kmesh::kube {
namespace {

using Json = nlohmann::json;
using std::chrono::milliseconds;

// How long one Next() waits; Stop() closes the stream, so this only bounds
// how often an idle loop turns.
constexpr milliseconds kNextTimeout{60000};
// A watch that ran this long before ending without events was healthy (a
// quiet collection and the server's timeout), not a failure to back off from.
constexpr std::chrono::seconds kQuietWatchIsHealthy{5};

// Members read without exceptions: a field of an unexpected type reads as
// absent (nlohmann's value() would throw).
std::string StringMember(const Json& object, const char* key) {
  if (!object.is_object()) return "";
  auto it = object.find(key);
  return it != object.end() && it->is_string() ? it->get<std::string>() : "";
}

int IntMember(const Json& object, const char* key) {
  if (!object.is_object()) return 0;
  auto it = object.find(key);
  return it != object.end() && it->is_number_integer() ? it->get<int>() : 0;
}

struct ObjectIdentity {
  std::string key;
  std::string resource_version;
};

absl::StatusOr<ObjectIdentity> Identify(const Json& object) {
  if (!object.is_object()) {
    return absl::InvalidArgumentError("object is not a JSON object");
  }
  auto metadata = object.find("metadata");
  if (metadata == object.end() || !metadata->is_object()) {
    return absl::InvalidArgumentError("object has no metadata");
  }
  ObjectIdentity id;
  const std::string name = StringMember(*metadata, "name");
  const std::string ns = StringMember(*metadata, "namespace");
  if (name.empty()) return absl::InvalidArgumentError("object has no name");
  id.key = ns.empty() ? name : absl::StrCat(ns, "/", name);
  id.resource_version = StringMember(*metadata, "resourceVersion");
  return id;
}

// metadata.resourceVersion, or "".
std::string ResourceVersionOf(const Json& object) {
  if (!object.is_object()) return "";
  auto metadata = object.find("metadata");
  if (metadata == object.end()) return "";
  return StringMember(*metadata, "resourceVersion");
}

}  // namespace

Reflector::Reflector(KubeClient* client, ResourceKind kind, std::string ns,
                     ReflectorHandler* handler, ReflectorOptions options)
    : client_(client),
      kind_(std::move(kind)),
      ns_(std::move(ns)),
      handler_(handler),
      options_(std::move(options)),
      clock_(options_.clock != nullptr ? options_.clock : RealClock::Get()) {}

Reflector::~Reflector() { Stop(); }

void Reflector::Stop() {
  absl::MutexLock lock(&mu_);
  stopped_ = true;
  if (active_stream_ != nullptr) active_stream_->Close();
}

bool Reflector::WaitOrStop(milliseconds delay) {
  absl::MutexLock lock(&mu_);
  mu_.AwaitWithTimeout(absl::Condition(&stopped_), absl::FromChrono(delay));
  return !stopped_;
}

bool Reflector::stopped() const {
  absl::MutexLock lock(&mu_);
  return stopped_;
}

std::map<std::string, std::string> Reflector::Snapshot() const {
  absl::MutexLock lock(&mu_);
  std::map<std::string, std::string> snapshot;
  for (const auto& [key, entry] : store_) snapshot[key] = entry.json;
  return snapshot;
}

std::optional<std::string> Reflector::Get(const std::string& key) const {
  absl::MutexLock lock(&mu_);
  auto it = store_.find(key);
  if (it == store_.end()) return std::nullopt;
  return it->second.json;
}

std::string Reflector::LastResourceVersion() const {
  absl::MutexLock lock(&mu_);
  return resource_version_;
}

void Reflector::SetResourceVersion(const std::string& rv) {
  if (rv.empty()) return;
  absl::MutexLock lock(&mu_);
  resource_version_ = rv;
}

void Reflector::Run() {
  Backoff backoff({options_.initial_backoff, options_.max_backoff, 2.0,
                   options_.backoff_jitter},
                  options_.backoff_uniform);
  auto fail = [&](const absl::Status& status, const char* what) {
    const milliseconds delay = backoff.Next();
    LOG(WARNING) << what << " " << kind_.DisplayName() << ": " << status
                 << " (retrying in " << delay.count() << " ms)";
    return WaitOrStop(delay);
  };
  bool need_list = true;
  for (;;) {
    if (stopped()) return;
    if (need_list) {
      absl::Status listed = ListAndDeliver();
      if (!listed.ok()) {
        if (!fail(listed, "listing")) return;
        continue;
      }
      need_list = false;
      backoff.Reset();
    }
    const std::string before = LastResourceVersion();
    const TimePoint watch_start = clock_->Now();
    watch_count_.fetch_add(1);
    absl::Status watched = WatchOnce();
    const bool lasted = clock_->Now() - watch_start >= kQuietWatchIsHealthy;
    if (absl::IsCancelled(watched) && stopped()) return;
    if (IsGone(watched)) {
      // The server no longer has history from our version: relist now.
      LOG(INFO) << "watch of " << kind_.DisplayName()
                << " expired (410 Gone); listing again";
      need_list = true;
      continue;
    }
    if (LastResourceVersion() != before || lasted) {
      // It made progress, or ran quietly until the server ended it (the
      // watch timeout): resume at once from where it was.
      VLOG(1) << "watch of " << kind_.DisplayName() << " ended: " << watched;
      backoff.Reset();
      continue;
    }
    if (!fail(watched, "watching")) return;
  }
}

absl::StatusOr<ObjectList> Reflector::ListAllPages() {
  ListOptions list_options;
  list_options.label_selector = options_.label_selector;
  list_options.field_selector = options_.field_selector;
  PagerStats stats;
  absl::StatusOr<ObjectList> list = ListAll(
      *client_, kind_, ns_, list_options, options_.page_size,
      [this] { return stopped(); }, &stats);
  list_requests_.fetch_add(stats.requests);
  return list;
}

absl::Status Reflector::ListAndDeliver() {
  absl::StatusOr<ObjectList> list = ListAllPages();
  if (!list.ok()) return list.status();

  // Decoded once here; kept decoded only until delivered.
  struct Listed {
    Json object;
    Entry entry;
  };
  std::map<std::string, Listed> fresh;
  for (std::string& item : list->items) {
    Json parsed = ParseJsonWithinDepth(item);
    absl::StatusOr<ObjectIdentity> id = Identify(parsed);
    if (!id.ok()) {
      LOG(WARNING) << "skipping a listed " << kind_.kind << ": "
                   << id.status().message();
      continue;
    }
    if (options_.transform) {
      parsed = options_.transform(parsed);
      item = parsed.dump();
    }
    fresh[id->key] =
        Listed{std::move(parsed), Entry{id->resource_version, std::move(item)}};
  }
  std::vector<std::string> deleted;
  std::vector<const Listed*> added;
  std::vector<std::pair<std::string, const Listed*>> updated;
  {
    absl::MutexLock lock(&mu_);
    for (auto& [key, entry] : store_) {
      if (fresh.count(key) == 0) deleted.push_back(std::move(entry.json));
    }
    std::map<std::string, Entry> store;
    for (const auto& [key, listed] : fresh) {
      auto old = store_.find(key);
      if (old == store_.end()) {
        added.push_back(&listed);
      } else if (old->second.resource_version !=
                 listed.entry.resource_version) {
        updated.emplace_back(std::move(old->second.json), &listed);
      }
      store.emplace_hint(store.end(), key, listed.entry);
    }
    store_ = std::move(store);
    if (!list->resource_version.empty()) {
      resource_version_ = list->resource_version;
    }
  }
  for (const std::string& text : deleted) {
    // The last known state, decoded again (relists only).
    handler_->OnDeleteObject(ParseJsonWithinDepth(text), text);
  }
  for (const Listed* listed : added) {
    handler_->OnAddObject(listed->object, listed->entry.json);
  }
  for (const auto& [old_text, listed] : updated) {
    handler_->OnUpdateObject(old_text, listed->object, listed->entry.json);
  }
  list_count_.fetch_add(1);
  synced_.store(true);
  handler_->OnSynced();
  return absl::OkStatus();
}

absl::Status Reflector::WatchOnce() {
  ListOptions watch_options;
  watch_options.label_selector = options_.label_selector;
  watch_options.field_selector = options_.field_selector;
  watch_options.resource_version = LastResourceVersion();
  watch_options.timeout = options_.watch_timeout;
  absl::StatusOr<std::unique_ptr<WatchStream>> stream =
      client_->Watch(kind_, ns_, watch_options);
  if (!stream.ok()) return stream.status();
  {
    absl::MutexLock lock(&mu_);
    if (stopped_) return absl::CancelledError("stopped");
    active_stream_ = stream->get();
  }
  absl::Status result;
  for (;;) {
    absl::StatusOr<WatchEvent> event = (*stream)->Next(kNextTimeout);
    if (absl::IsDeadlineExceeded(event.status())) continue;
    if (!event.ok()) {
      result = event.status();
      break;
    }
    result = Apply(*event);
    if (!result.ok()) break;
  }
  absl::MutexLock lock(&mu_);
  active_stream_ = nullptr;
  return result;
}

absl::Status Reflector::Apply(const WatchEvent& event) {
  // The client's decoded object when it has one (no second parse).
  Json text_parsed;
  const Json* object = event.parsed.get();
  if (object == nullptr) {
    text_parsed = ParseJsonWithinDepth(event.object);
    object = &text_parsed;
  }
  if (event.type == WatchEventType::kError) {
    const int code = IntMember(*object, "code");
    const std::string message = StringMember(*object, "message");
    if (code == 410) return absl::OutOfRangeError(message);
    return absl::UnavailableError(
        absl::StrCat("watch error ", code, ": ", message));
  }
  if (event.type == WatchEventType::kBookmark) {
    // A real BOOKMARK carries only kind, apiVersion and
    // metadata.resourceVersion: it names no object and changes none.
    const std::string rv = ResourceVersionOf(*object);
    if (rv.empty()) {
      LOG(WARNING) << "ignoring a " << kind_.kind
                   << " bookmark without a resourceVersion";
    }
    SetResourceVersion(rv);
    return absl::OkStatus();
  }
  absl::StatusOr<ObjectIdentity> id = Identify(*object);
  if (!id.ok()) {
    return absl::UnavailableError(absl::StrCat(
        "unusable watch event for ", kind_.kind, ": ", id.status().message()));
  }
  // What is stored and delivered: the object (or its transform) and its
  // text (the client's text when it sent text and nothing was changed).
  Json transformed;
  if (options_.transform) {
    transformed = options_.transform(*object);
    object = &transformed;
  }
  std::string text = !options_.transform && !event.object.empty()
                         ? event.object
                         : object->dump();
  std::optional<std::string> old_text;
  {
    absl::MutexLock lock(&mu_);
    auto it = store_.find(id->key);
    if (it != store_.end()) old_text = std::move(it->second.json);
    if (event.type == WatchEventType::kDeleted) {
      if (it != store_.end()) store_.erase(it);
    } else if (it != store_.end()) {
      it->second = Entry{id->resource_version, text};
    } else {
      store_.emplace(id->key, Entry{id->resource_version, text});
    }
    if (!id->resource_version.empty()) {
      resource_version_ = id->resource_version;
    }
  }
  if (event.type == WatchEventType::kDeleted) {
    if (old_text.has_value()) handler_->OnDeleteObject(*object, text);
  } else if (old_text.has_value()) {
    handler_->OnUpdateObject(*old_text, *object, text);
  } else {
    handler_->OnAddObject(*object, text);
  }
  return absl::OkStatus();
}

}  // namespace kmesh::kube
