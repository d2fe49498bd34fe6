#include "sim/kube/object_snapshot.h"

namespace kmesh::sim::kube {

const std::string& ObjectSnapshot::Serialized() const {
  absl::MutexLock lock(&mu_);
  if (serialized_ == nullptr) {
    serialized_ = std::make_unique<const std::string>(
        object_.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
  }
  return *serialized_;
}

}  // namespace kmesh::sim::kube
