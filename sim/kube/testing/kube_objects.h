// Objects as clients send them, for tests of (and against) the simulated API
// server: a Namespace, a KmeshNodeInfo as the daemon writes it, and the
// Namespace a test's objects live in, created in a store.
#ifndef SIM_KUBE_TESTING_KUBE_OBJECTS_H_
#define SIM_KUBE_TESTING_KUBE_OBJECTS_H_

#include <string>

#include "absl/status/status.h"
#include "nlohmann/json.hpp"
#include "sim/kube/object_store.h"

namespace kmesh::sim::kube {

nlohmann::json NamespaceObject(const std::string& name);

// spec: `spi`, one address (10.0.0.1), a boot ID and one pod CIDR
// (10.244.1.0/24, under the CRD's spelling podCIDRS).
nlohmann::json KmeshNodeInfoObject(const std::string& name, int spi = 1);

// Creates the Namespace `name` in `store`.
absl::Status CreateNamespace(ObjectStore& store, const std::string& name);

}  // namespace kmesh::sim::kube

#endif  // SIM_KUBE_TESTING_KUBE_OBJECTS_H_
