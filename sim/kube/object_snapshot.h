// ObjectSnapshot: an object as the simulated API server stored it at one
// resourceVersion. Immutable, and shared by the store, its watch history and
// every watch event that carries it, so a change is copied once however many
// watches deliver it, and serialised at most once (Serialized()).
#ifndef SIM_KUBE_OBJECT_SNAPSHOT_H_
#define SIM_KUBE_OBJECT_SNAPSHOT_H_

#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "nlohmann/json.hpp"

namespace kmesh::sim::kube {

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

}  // namespace kmesh::sim::kube

#endif  // SIM_KUBE_OBJECT_SNAPSHOT_H_
