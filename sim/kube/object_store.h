// ObjectStore: the state of a simulated Kubernetes API server, in memory and
// without HTTP. Objects are JSON (so every field a client sends survives),
// keyed by resource type (resource_types.h), namespace and name, with the
// semantics clients rely on: one store-wide, increasing resourceVersion;
// create of an existing object is 409 AlreadyExists, update or delete of a
// missing one 404, an update carrying a stale resourceVersion 409 Conflict;
// namespaced objects need their Namespace; every object passes admission
// (admission/admission.h) first; a stored CRD serves its types; deleting a
// Namespace deletes everything in it at once (no Terminating phase), and
// deleting a CRD its custom resources. Every change is recorded in a bounded
// history that watches replay and follow (watch.h), and from which a list at
// an older resourceVersion (continued, or Exact) is rebuilt. Errors carry their
// HTTP code and reason (api_error.h). Thread-safe.
#ifndef SIM_KUBE_OBJECT_STORE_H_
#define SIM_KUBE_OBJECT_STORE_H_

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "nlohmann/json.hpp"
#include "sim/kube/object_snapshot.h"
#include "sim/kube/resource_types.h"
#include "sim/kube/watch.h"

namespace kmesh::sim::kube {

struct ListResult {
  // Sorted by their storage key (ListPage::start_key).
  std::vector<nlohmann::json> items;
  // The store's version when listed, or the version listed at.
  uint64_t resource_version = 0;
  // When a limit left objects out: the storage key to continue at (the last
  // returned one's followed by "\0", as etcd3's continue token has it).
  std::string next_key;
  // With next_key and no selectors: how many objects are left (etcd3's
  // remainingItemCount); -1 when not known.
  int64_t remaining_item_count = -1;
};

// Which part of a list, and as of when: the etcd read behind a paginated or
// exact list. Storage keys are relative to the list's prefix: "name" in a
// namespace or for cluster-scoped types, "namespace/name" across all
// namespaces; they order as bytes.
struct ListPage {
  uint64_t at_version = 0;  // 0: the latest; else the state at it.
  int64_t limit = 0;        // <= 0: no limit.
  std::string start_key;    // The first key to include; "" = the start.
};

// Which objects a list or watch returns.
struct ListFilter {
  std::string label_selector;  // "a=b,!c"; empty = everything.
  std::string field_selector;  // "metadata.name=x"; empty = everything.
};

class ObjectStore {
 public:
  struct Options {
    // How many events the watch history keeps; a watch from an older
    // resourceVersion gets 410 Gone.
    size_t history_limit = 1000;
    // The wall clock for creationTimestamp; the system clock when unset.
    std::function<std::chrono::system_clock::time_point()> now;
    // Namespaces that exist from the start, as in a fresh cluster.
    std::vector<std::string> initial_namespaces = {
        "default", "kube-system", "kube-public", "kube-node-lease"};
  };
  // One watch (watch.h); must not outlive its store.
  using Watcher = kube::Watcher;

  explicit ObjectStore(Options options);
  ObjectStore() : ObjectStore(Options()) {}
  ObjectStore(const ObjectStore&) = delete;
  ObjectStore& operator=(const ObjectStore&) = delete;

  // The served type with this group, version and plural, or nullptr. Types
  // are never removed, so the pointer stays valid.
  const ResourceType* FindType(const std::string& group,
                               const std::string& version,
                               const std::string& plural) const;
  // Every served type (built-in ones and those from stored CRDs).
  std::vector<ResourceType> Types() const;

  // `ns` is the namespace from the URL ("" for cluster-scoped types). Each
  // returns the stored object: with uid, creationTimestamp, resourceVersion.
  absl::StatusOr<nlohmann::json> Create(const ResourceType& type,
                                        const std::string& ns,
                                        nlohmann::json object);
  absl::StatusOr<nlohmann::json> Get(const ResourceType& type,
                                     const std::string& ns,
                                     const std::string& name) const;
  // Replaces the object (PUT). 409 Conflict when `object` carries a
  // metadata.resourceVersion that is not the current one. An update that
  // changes nothing keeps the resourceVersion and sends no event.
  absl::StatusOr<nlohmann::json> Update(const ResourceType& type,
                                        const std::string& ns,
                                        const std::string& name,
                                        nlohmann::json object);
  // Read-modify-write as one step (PATCH): `mutate` gets the current object
  // and returns the new one, which is then stored as by Update (so a
  // resourceVersion the patch sets is a precondition).
  absl::StatusOr<nlohmann::json> Mutate(
      const ResourceType& type, const std::string& ns, const std::string& name,
      const std::function<absl::StatusOr<nlohmann::json>(
          const nlohmann::json& current)>& mutate);
  // DeleteOptions.preconditions: a delete fails with 409 Conflict when the
  // object's resourceVersion or uid is not the one given.
  struct Preconditions {
    std::string resource_version;  // "" = any.
    std::string uid;               // "" = any.
  };
  // Returns the deleted object, carrying the resourceVersion of the delete.
  absl::StatusOr<nlohmann::json> Delete(const ResourceType& type,
                                        const std::string& ns,
                                        const std::string& name,
                                        const Preconditions& preconditions);
  absl::StatusOr<nlohmann::json> Delete(const ResourceType& type,
                                        const std::string& ns,
                                        const std::string& name) {
    return Delete(type, ns, name, Preconditions());
  }
  // `ns` "" lists every namespace.
  absl::StatusOr<ListResult> List(const ResourceType& type,
                                  const std::string& ns,
                                  const ListFilter& filter) const {
    return List(type, ns, filter, ListPage());
  }
  // A page of the list at `page.at_version`: rebuilt from the watch history,
  // 410 Gone (OutOfRange) when the changes since have left it (a compacted
  // revision), 504 "Too large resource version" when it is in the future.
  absl::StatusOr<ListResult> List(const ResourceType& type,
                                  const std::string& ns,
                                  const ListFilter& filter,
                                  const ListPage& page) const;

  // Watches `type` in `ns` ("" = all namespaces). `resource_version` ""
  // or "0" first delivers an ADDED event for each existing object (as the
  // real server does), then changes; "N" delivers the changes after N.
  absl::StatusOr<std::unique_ptr<Watcher>> Watch(
      const ResourceType& type, const std::string& ns, const ListFilter& filter,
      const std::string& resource_version);

  // The resourceVersion of the latest change.
  uint64_t CurrentResourceVersion() const;
  // The oldest resourceVersion a watch can still start from.
  uint64_t OldestWatchableResourceVersion() const;
  // Forgets the watch history (WatchHistory::Compact): later watches and
  // lists from an older resourceVersion get 410 Gone.
  void CompactHistory();

 private:
  using ObjectKey = std::pair<std::string, std::string>;  // (namespace, name)
  using Objects = std::map<ObjectKey, std::shared_ptr<const ObjectSnapshot>>;

  absl::StatusOr<nlohmann::json> CreateLocked(const ResourceType& type,
                                              const std::string& ns,
                                              nlohmann::json object)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::StatusOr<nlohmann::json> UpdateLocked(const ResourceType& type,
                                              const std::string& ns,
                                              const std::string& name,
                                              nlohmann::json object)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Admission (admission/admission.h), with the CRDs stored here.
  absl::Status Admit(const ResourceType& type, const std::string& ns,
                     nlohmann::json& object) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  const nlohmann::json* FindObject(const ResourceType& type,
                                   const std::string& ns,
                                   const std::string& name) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void DeleteLocked(const std::string& type_key, const ObjectKey& key)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Deletes every object of `type_key` that `doomed` picks.
  void DeleteWhere(const std::string& type_key,
                   const std::function<bool(const ObjectKey&)>& doomed)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const Options options_;
  mutable absl::Mutex mu_;
  ResourceTypeRegistry types_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, Objects> objects_ ABSL_GUARDED_BY(mu_);
  // Changes are recorded while mu_ is held, so the history and objects_
  // agree for anyone holding mu_. Thread-safe on its own.
  WatchHistory history_;
};

}  // namespace kmesh::sim::kube

#endif  // SIM_KUBE_OBJECT_STORE_H_
