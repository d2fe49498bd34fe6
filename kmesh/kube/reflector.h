// Reflector: keeps a consumer's view of one kind of Kubernetes object exact
// over any KubeClient (the REST client or the simulated cluster), like
// client-go's informer. It lists, then watches from the list's
// resourceVersion; when the stream drops it watches again from the last
// resourceVersion it saw, so no event is lost; when the server answers 410
// Gone (that version is too old) it lists again and delivers the difference
// against what the consumer has already seen as synthetic add, update and
// delete events. Lists are paged (ReflectorOptions::page_size, client-go's
// pager: 500), and when a page's continue token has expired (410) it falls
// back to one full list, as client-go's pager does. Watches ask for
// bookmarks; a BOOKMARK only advances the resourceVersion, so a quiet
// collection's watch keeps up with the server and never falls into 410.
// Only a 410 relists; a dropped watch resumes from the last resourceVersion.
// Run() loops until Stop(); failures back off exponentially with jitter
// (client-go's wait.Backoff, jitter 1.0: kmesh/base/backoff.h). Each watch
// event's object is decoded once (by the client when it hands over
// WatchEvent::parsed) and handlers may take it decoded (On*Object) or as
// text. The store keeps each object's JSON text (a decoded
// nlohmann::json takes about 7 times the memory of its text), optionally
// reduced first by ReflectorOptions::transform (client-go's TransformFunc).
//
//   Reflector reflector(&client, KmeshNodeInfosKind(), "kmesh-system",
//                       &handler);
//   std::thread thread([&] { reflector.Run(); });
//   ...
//   reflector.Stop();  // Run() returns.
//   thread.join();
//
// Handler calls come from the thread running Run(), one at a time, in the
// order the server produced the changes.
#ifndef KMESH_KUBE_REFLECTOR_H_
#define KMESH_KUBE_REFLECTOR_H_

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "kmesh/base/backoff.h"
#include "kmesh/base/clock.h"
#include "kmesh/kube/kube_client.h"
#include "nlohmann/json.hpp"

namespace kmesh::kube {

// Receives the changes. The reflector calls the On*Object methods with each
// object both decoded and as its JSON text (the same object); by default
// they call the text methods, so a handler overrides one set or the other
// (one that reads the decoded objects parses nothing again).
class ReflectorHandler {
 public:
  virtual ~ReflectorHandler() = default;
  // Text: each object is its JSON.
  virtual void OnAdd(const std::string& /*object*/) {}
  virtual void OnUpdate(const std::string& /*old_object*/,
                        const std::string& /*new_object*/) {}
  // `last_known` is the object as last seen (a relist has no final state).
  virtual void OnDelete(const std::string& /*last_known*/) {}
  // Decoded, with the text. The old object of an update is text only (the
  // store keeps text).
  virtual void OnAddObject(const nlohmann::json& /*object*/,
                           const std::string& text) {
    OnAdd(text);
  }
  virtual void OnUpdateObject(const std::string& old_text,
                              const nlohmann::json& /*new_object*/,
                              const std::string& new_text) {
    OnUpdate(old_text, new_text);
  }
  virtual void OnDeleteObject(const nlohmann::json& /*last_known*/,
                              const std::string& text) {
    OnDelete(text);
  }
  // After each (re)list has been delivered in full.
  virtual void OnSynced() {}
};

struct ReflectorOptions {
  std::string label_selector;
  // e.g. "spec.nodeName=node-1" (only the fields the server supports).
  std::string field_selector;
  // Items per list page (client-go's pager: 500); 0 = one unpaged list.
  int64_t page_size = 500;
  // Reduces each object before it is stored and delivered (client-go's
  // TransformFunc), e.g. to the few fields a consumer reads; must keep
  // metadata.name, metadata.namespace and metadata.resourceVersion.
  // nullptr = objects as the server sent them.
  std::function<nlohmann::json(const nlohmann::json&)> transform;
  // Server-side timeout of each watch request; the reflector then watches
  // again from where it was.
  std::chrono::seconds watch_timeout{300};
  // Backoff after a failure: initial, doubling, at most max, plus a random
  // [0, backoff_jitter * delay); reset by the next success.
  std::chrono::milliseconds initial_backoff{500};
  std::chrono::milliseconds max_backoff{30000};
  double backoff_jitter = 1.0;
  // The jitter's random source (uniform in [0, 1)); nullptr = random.
  Backoff::Uniform backoff_uniform;
  // Tells how long a watch lasted (a quiet one that lasted is healthy);
  // nullptr = the real clock. Tests simulate time with a ManualClock.
  const Clock* clock = nullptr;
};

class Reflector {
 public:
  // `client` and `handler` must outlive the reflector. `ns` "" = every
  // namespace (or a cluster-scoped kind).
  Reflector(KubeClient* client, ResourceKind kind, std::string ns,
            ReflectorHandler* handler, ReflectorOptions options = {});
  ~Reflector();

  // Lists and watches until Stop(). Call from one thread at a time.
  void Run();
  // Makes Run() return: at once from a watch or a backoff, after the
  // request in flight otherwise (at most the client's request timeout).
  // Thread-safe, also before Run().
  void Stop();

  // True once the first list has been delivered.
  bool HasSynced() const { return synced_.load(); }

  // What the reflector has seen: key ("ns/name" or "name") -> object JSON.
  std::map<std::string, std::string> Snapshot() const;
  // The stored object's JSON under `key` ("ns/name" or "name"), or nullopt
  // (client-go's GetByKey). Thread-safe; no handler call holds the lock.
  std::optional<std::string> Get(const std::string& key) const;
  // The last resourceVersion seen (list or event).
  std::string LastResourceVersion() const;
  // How many times it has listed (1 + relists); for tests and metrics.
  int ListCount() const { return list_count_.load(); }
  // How many list requests it has sent (pages included); for tests.
  int ListRequestCount() const { return list_requests_.load(); }
  // How many watches it has opened (each restart after a watch ended is one
  // more); for metrics.
  int WatchCount() const { return watch_count_.load(); }

 private:
  struct Entry {
    std::string resource_version;
    std::string json;
  };

  // Every page of one list: its items and resourceVersion.
  absl::StatusOr<ObjectList> ListAllPages() ABSL_LOCKS_EXCLUDED(mu_);

  absl::Status ListAndDeliver() ABSL_LOCKS_EXCLUDED(mu_);
  // Watches until the stream ends; returns why (OutOfRange = relist).
  absl::Status WatchOnce() ABSL_LOCKS_EXCLUDED(mu_);
  absl::Status Apply(const WatchEvent& event) ABSL_LOCKS_EXCLUDED(mu_);
  // Waits for `delay` or until Stop(); false when stopped.
  bool WaitOrStop(std::chrono::milliseconds delay) ABSL_LOCKS_EXCLUDED(mu_);
  void SetResourceVersion(const std::string& rv) ABSL_LOCKS_EXCLUDED(mu_);
  bool stopped() const ABSL_LOCKS_EXCLUDED(mu_);

  KubeClient* const client_;
  const ResourceKind kind_;
  const std::string ns_;
  ReflectorHandler* const handler_;
  const ReflectorOptions options_;

  std::atomic<bool> synced_{false};
  std::atomic<int> list_count_{0};
  std::atomic<int> list_requests_{0};
  const Clock* const clock_;
  std::atomic<int> watch_count_{0};

  mutable absl::Mutex mu_;
  bool stopped_ ABSL_GUARDED_BY(mu_) = false;
  WatchStream* active_stream_ ABSL_GUARDED_BY(mu_) =
      nullptr;  // Stop() closes it.
  std::map<std::string, Entry> store_ ABSL_GUARDED_BY(mu_);
  std::string resource_version_ ABSL_GUARDED_BY(mu_);
};

}  // namespace kmesh::kube

#endif  // KMESH_KUBE_REFLECTOR_H_
