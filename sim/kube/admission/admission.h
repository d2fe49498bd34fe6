// Admission: what the simulated API server does to an object a client sends
// before it is stored, as the real server does it. Every object is checked
// and completed the same way first: a JSON object whose kind and apiVersion
// (filled in when absent) are the resource's, whose namespace is the
// request's (none for cluster-scoped kinds), with a valid name and labels.
// Then the kind's own rules apply, from a table keyed by resource type (one
// file beside this one per admitted kind or family: secrets, namespaces,
// custom resource definitions, daemon sets, RBAC), and a custom resource is
// checked against its CRD's schema. Field errors are 422 Invalid (with
// causes, as kubectl prints them), an unreadable body 400 BadRequest (see
// api_error.h).
#ifndef SIM_KUBE_ADMISSION_ADMISSION_H_
#define SIM_KUBE_ADMISSION_ADMISSION_H_

#include <string>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "nlohmann/json.hpp"
#include "sim/kube/resource_types.h"

namespace kmesh::sim::kube {

// The stored CustomResourceDefinition with this name, or nullptr.
using FindCrd = absl::FunctionRef<const nlohmann::json*(const std::string&)>;

// Checks and completes `object`, sent for type `type` in namespace `ns`
// (the URL's; "" for cluster-scoped types), on create and on update.
absl::Status Admit(const ResourceType& type, const std::string& ns,
                   nlohmann::json& object, FindCrd find_crd);

// The rules only an update must also pass, against the stored `current`
// object (an immutable selector, a fixed roleRef); may keep server-owned
// parts of `current` (a DaemonSet's status) in `object`. 422 Invalid.
absl::Status AdmitUpdate(const ResourceType& type, const std::string& name,
                         nlohmann::json& object, const nlohmann::json& current);

}  // namespace kmesh::sim::kube

#endif  // SIM_KUBE_ADMISSION_ADMISSION_H_
