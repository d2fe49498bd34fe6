#include "kmesh/kube/reflector.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "glog/logging.h"
#include "kmesh/kube/kube_status.h"
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

absl::StatusOr<ObjectIdentity> Identify(const std::string& json) {
  Json object = Json::parse(json, nullptr, /*allow_exceptions=*/false);
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

}  // namespace

Reflector::Reflector(KubeClient* client, ResourceKind kind, std::string ns,
                     ReflectorHandler* handler, ReflectorOptions options)
    : client_(client),
      kind_(std::move(kind)),
      ns_(std::move(ns)),
      handler_(handler),
      options_(std::move(options)) {}

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
  milliseconds backoff = options_.initial_backoff;
  auto fail = [&](const absl::Status& status, const char* what) {
    LOG(WARNING) << what << " " << kind_.DisplayName() << ": " << status;
    const bool running = WaitOrStop(backoff);
    backoff = std::min(options_.max_backoff, backoff * 2);
    return running;
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
      backoff = options_.initial_backoff;
    }
    const std::string before = LastResourceVersion();
    const auto watch_start = std::chrono::steady_clock::now();
    watch_count_.fetch_add(1);
    absl::Status watched = WatchOnce();
    const bool lasted =
        std::chrono::steady_clock::now() - watch_start >= kQuietWatchIsHealthy;
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
      backoff = options_.initial_backoff;
      continue;
    }
    if (!fail(watched, "watching")) return;
  }
}

absl::Status Reflector::ListAndDeliver() {
  ListOptions list_options;
  list_options.label_selector = options_.label_selector;
  absl::StatusOr<ObjectList> list = client_->List(kind_, ns_, list_options);
  if (!list.ok()) return list.status();

  std::map<std::string, Entry> fresh;
  for (const std::string& item : list->items) {
    absl::StatusOr<ObjectIdentity> id = Identify(item);
    if (!id.ok()) {
      LOG(WARNING) << "skipping a listed " << kind_.kind << ": "
                   << id.status().message();
      continue;
    }
    fresh[id->key] = Entry{id->resource_version, item};
  }
  std::vector<std::string> deleted;
  std::vector<std::string> added;
  std::vector<std::pair<std::string, std::string>> updated;
  {
    absl::MutexLock lock(&mu_);
    for (const auto& [key, entry] : store_) {
      if (fresh.count(key) == 0) deleted.push_back(entry.json);
    }
    for (const auto& [key, entry] : fresh) {
      auto old = store_.find(key);
      if (old == store_.end()) {
        added.push_back(entry.json);
      } else if (old->second.resource_version != entry.resource_version) {
        updated.emplace_back(old->second.json, entry.json);
      }
    }
    store_ = std::move(fresh);
    if (!list->resource_version.empty()) {
      resource_version_ = list->resource_version;
    }
  }
  for (const std::string& object : deleted) handler_->OnDelete(object);
  for (const std::string& object : added) handler_->OnAdd(object);
  for (const auto& [old_object, new_object] : updated) {
    handler_->OnUpdate(old_object, new_object);
  }
  list_count_.fetch_add(1);
  synced_.store(true);
  handler_->OnSynced();
  return absl::OkStatus();
}

absl::Status Reflector::WatchOnce() {
  ListOptions watch_options;
  watch_options.label_selector = options_.label_selector;
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
  if (event.type == WatchEventType::kError) {
    Json status = Json::parse(event.object, nullptr, false);
    const int code = IntMember(status, "code");
    const std::string message = StringMember(status, "message");
    if (code == 410) return absl::OutOfRangeError(message);
    return absl::UnavailableError(
        absl::StrCat("watch error ", code, ": ", message));
  }
  absl::StatusOr<ObjectIdentity> id = Identify(event.object);
  if (!id.ok()) {
    return absl::UnavailableError(absl::StrCat(
        "unusable watch event for ", kind_.kind, ": ", id.status().message()));
  }
  if (event.type == WatchEventType::kBookmark) {
    SetResourceVersion(id->resource_version);
    return absl::OkStatus();
  }
  std::string old_json;
  bool existed = false;
  {
    absl::MutexLock lock(&mu_);
    auto it = store_.find(id->key);
    existed = it != store_.end();
    if (existed) old_json = std::move(it->second.json);
    if (event.type == WatchEventType::kDeleted) {
      if (existed) store_.erase(it);
    } else {
      store_[id->key] = Entry{id->resource_version, event.object};
    }
    if (!id->resource_version.empty()) {
      resource_version_ = id->resource_version;
    }
  }
  if (event.type == WatchEventType::kDeleted) {
    if (existed) handler_->OnDelete(event.object);
  } else if (existed) {
    handler_->OnUpdate(old_json, event.object);
  } else {
    handler_->OnAdd(event.object);
  }
  return absl::OkStatus();
}

}  // namespace kmesh::kube
