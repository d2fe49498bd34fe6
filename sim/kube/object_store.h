// ObjectStore: the state of a simulated Kubernetes API server, in memory and
// without HTTP. Objects are JSON (so every field a client sends survives),
// keyed by resource type, namespace and name, with the semantics clients rely
// on: one store-wide, monotonically increasing resourceVersion (as etcd's
// revision); create fails with 409 AlreadyExists; update and delete of a
// missing object with 404; an update carrying a stale resourceVersion with
// 409 Conflict; namespaced objects need their Namespace to exist; names,
// labels, kind and apiVersion are validated as the real server validates
// them; custom resources are checked and pruned against their CRD's
// openAPIV3Schema when the CRD is stored; DaemonSets and RBAC objects are
// defaulted and validated as the real server does it (apps_rbac_admission.h),
// including the fields an update may not change. Every change is an event in a
// bounded history, so a watch from resourceVersion N replays what happened
// after N and then follows new changes; a watch from before the retained
// history fails with 410 Gone ("Expired"). Errors carry their HTTP code and
// reason (api_error.h). Deleting a Namespace deletes every object in it at
// once (no Terminating phase). Thread-safe.
#ifndef SIM_KUBE_OBJECT_STORE_H_
#define SIM_KUBE_OBJECT_STORE_H_

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "nlohmann/json.hpp"
#include "sim/kube/selector.h"

namespace kmesh::sim::kube {

// A served resource, e.g. core/v1 secrets or kmesh.net/v1alpha1
// kmeshnodeinfos.
struct ResourceType {
  std::string group;  // "" for the core group.
  std::string version;
  std::string plural;
  std::string singular;
  std::string kind;
  bool namespaced = true;
  std::vector<std::string> short_names;
  // Field selectors it supports besides metadata.name / metadata.namespace.
  std::vector<std::string> extra_field_selectors;

  // "v1" or "kmesh.net/v1alpha1".
  std::string ApiVersion() const;
  // "secrets" or "kmeshnodeinfos.kmesh.net", as in error messages.
  std::string DisplayName() const;
  // "Secret" or "KmeshNodeInfo.kmesh.net", as in 422 Invalid messages.
  std::string QualifiedKind() const;
  // "group/version/plural": the type's identity in the store.
  std::string Key() const;
};

// The types every store serves: core/v1 namespaces, nodes, secrets, pods,
// configmaps, serviceaccounts; apps/v1 daemonsets; rbac.authorization.k8s.io/v1
// roles, rolebindings, clusterroles, clusterrolebindings;
// apiextensions.k8s.io/v1 customresourcedefinitions; kmesh.net/v1alpha1
// kmeshnodeinfos.
std::vector<ResourceType> BuiltinResourceTypes();

enum class EventType { kAdded, kModified, kDeleted };
// "ADDED", "MODIFIED", "DELETED".
const char* EventTypeName(EventType type);

// An object as stored at one resourceVersion: immutable, and shared by the
// store, its watch history and every watch event that carries it, so a change
// is copied once however many watches deliver it, and serialised at most
// once (Serialized()).
class ObjectSnapshot {
 public:
  explicit ObjectSnapshot(nlohmann::json object) : object_(std::move(object)) {}
  ObjectSnapshot(const ObjectSnapshot&) = delete;
  ObjectSnapshot& operator=(const ObjectSnapshot&) = delete;

  const nlohmann::json& json() const { return object_; }
  // json().dump(): made by the first caller, then shared. Thread-safe.
  const std::string& Serialized() const;

 private:
  const nlohmann::json object_;
  mutable absl::Mutex mu_;
  mutable std::unique_ptr<const std::string> serialized_ ABSL_GUARDED_BY(mu_);
};

struct WatchEvent {
  EventType type;
  std::shared_ptr<const ObjectSnapshot> snapshot;  // Never null.

  // The object at that resourceVersion.
  const nlohmann::json& object() const { return snapshot->json(); }
};

struct ListResult {
  std::vector<nlohmann::json> items;  // Sorted by namespace, then name.
  uint64_t resource_version = 0;      // The store's version when listed.
};

// Which objects a list or watch returns.
struct ListFilter {
  std::string label_selector;  // "a=b,!c"; empty = everything.
  std::string field_selector;  // "metadata.name=x"; empty = everything.
};

class ObjectStore {
 private:
  struct TypeChannel;

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

  // One watch: the events after its starting resourceVersion that match its
  // namespace and selectors, in order. Must not outlive its store.
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

   private:
    friend class ObjectStore;
    // A history event of the watched type and namespace, taken under the
    // store's lock; whether the selectors pass is decided after it.
    struct Candidate {
      EventType type;
      std::shared_ptr<const ObjectSnapshot> object;
      std::shared_ptr<const ObjectSnapshot> previous;
    };
    Watcher(ObjectStore* store, TypeChannel* channel, std::string ns,
            LabelSelector labels, FieldSelector fields, uint64_t cursor);
    bool Selects(const nlohmann::json& object) const;
    // Moves the candidates that pass the selectors into ready_, as the
    // events this watch reports.
    void Select(std::vector<Candidate>& candidates);

    ObjectStore* const store_;
    TypeChannel* const channel_;
    const std::string namespace_;
    const LabelSelector labels_;
    const FieldSelector fields_;
    const bool selects_all_;  // No label or field selector.
    uint64_t cursor_;         // Guarded by store_->mu_.
    std::atomic<bool> cancelled_{false};
    absl::CondVar woken_;   // Signalled under store_->mu_.
    bool waiting_ = false;  // In woken_.Wait; guarded by store_->mu_.
    // Events due to the caller (the initial state, then changes), in order.
    // Only Next() touches it.
    std::deque<WatchEvent> ready_;
  };

  explicit ObjectStore(Options options);
  ObjectStore() : ObjectStore(Options()) {}
  ObjectStore(const ObjectStore&) = delete;
  ObjectStore& operator=(const ObjectStore&) = delete;

  // The served type with this group, version and plural, or nullptr.
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
                                  const ListFilter& filter) const;

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

 private:
  // Where changes of one resource type are announced: its open watchers,
  // each woken on its own, so a change wakes only the watchers of its type
  // (and namespace), and a Cancel() only its watcher.
  struct TypeChannel {
    std::set<Watcher*> watchers;  // Guarded by mu_.
  };
  struct Event {
    uint64_t resource_version;
    const TypeChannel* channel;  // The type that changed.
    EventType type;
    std::string ns;
    std::shared_ptr<const ObjectSnapshot> object;
    std::shared_ptr<const ObjectSnapshot> previous;  // kModified: before.
  };
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
  // Checks and completes an incoming object (kind, apiVersion, namespace,
  // name, labels, type-specific rules).
  absl::Status Admit(const ResourceType& type, const std::string& ns,
                     nlohmann::json& object) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  const nlohmann::json* FindObject(const ResourceType& type,
                                   const std::string& ns,
                                   const std::string& name) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void DeleteLocked(const std::string& type_key, const ObjectKey& key)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Bumps the resourceVersion, stamps it on `object`, records the event and
  // wakes the watchers of its type and namespace. Returns the object as
  // stored.
  std::shared_ptr<const ObjectSnapshot> Record(
      const ResourceType& type, EventType event_type, nlohmann::json& object,
      std::shared_ptr<const ObjectSnapshot> previous)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  TypeChannel* Channel(const std::string& type_key)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void RegisterCrdTypes(const nlohmann::json& crd)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  const ResourceType* FindTypeLocked(const std::string& key) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const Options options_;
  mutable absl::Mutex mu_;
  // One per type that was watched or changed; never removed.
  std::map<std::string, std::unique_ptr<TypeChannel>> channels_
      ABSL_GUARDED_BY(mu_);
  std::map<std::string, ResourceType> types_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, Objects> objects_ ABSL_GUARDED_BY(mu_);
  uint64_t resource_version_ ABSL_GUARDED_BY(mu_) = 0;
  std::deque<Event> history_ ABSL_GUARDED_BY(mu_);
  // Every event up to and including this version has left history_.
  uint64_t compacted_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace kmesh::sim::kube

#endif  // SIM_KUBE_OBJECT_STORE_H_
