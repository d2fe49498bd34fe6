// Reflector: keeps a consumer's view of one kind of Kubernetes object exact
// over any KubeClient (the REST client or the simulated cluster), like
// client-go's informer. It lists, then watches from the list's
// resourceVersion; when the stream drops it watches again from the last
// resourceVersion it saw, so no event is lost; when the server answers 410
// Gone (that version is too old) it lists again and delivers the difference
// against what the consumer has already seen as synthetic add, update and
// delete events. Run() loops until Stop(); failures back off exponentially.
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
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "kmesh/kube/kube_client.h"

namespace kmesh::kube {

// Receives the changes; each object is its JSON text.
class ReflectorHandler {
 public:
  virtual ~ReflectorHandler() = default;
  virtual void OnAdd(const std::string& object) = 0;
  virtual void OnUpdate(const std::string& old_object,
                        const std::string& new_object) = 0;
  // `last_known` is the object as last seen (a relist has no final state).
  virtual void OnDelete(const std::string& last_known) = 0;
  // After each (re)list has been delivered in full.
  virtual void OnSynced() {}
};

struct ReflectorOptions {
  std::string label_selector;
  // Server-side timeout of each watch request; the reflector then watches
  // again from where it was.
  std::chrono::seconds watch_timeout{300};
  // Backoff after a failure: initial, doubling, at most max; reset by the
  // next success.
  std::chrono::milliseconds initial_backoff{500};
  std::chrono::milliseconds max_backoff{30000};
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
  // The last resourceVersion seen (list or event).
  std::string LastResourceVersion() const;
  // How many times it has listed (1 + relists); for tests and metrics.
  int ListCount() const { return list_count_.load(); }
  // How many watches it has opened (each restart after a watch ended is one
  // more); for metrics.
  int WatchCount() const { return watch_count_.load(); }

 private:
  struct Entry {
    std::string resource_version;
    std::string json;
  };

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
