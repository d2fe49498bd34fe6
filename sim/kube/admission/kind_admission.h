// KindAdmission: what admission does for one kind beyond the checks every
// object gets (admission.h), as an entry of the table admission keeps by
// resource type: how the kind's names are checked, and how its objects are
// defaulted and validated on create and update and on update alone. Each
// admitted kind or family has a file beside this one that fills an entry.
#ifndef SIM_KUBE_ADMISSION_KIND_ADMISSION_H_
#define SIM_KUBE_ADMISSION_KIND_ADMISSION_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "nlohmann/json.hpp"
#include "sim/kube/resource_types.h"
#include "sim/kube/validation.h"

namespace kmesh::sim::kube {

struct KindAdmission {
  // Why `name` is not a valid metadata.name for the kind, "" when it is.
  std::string (*name_error)(const std::string& name) = Dns1123SubdomainError;
  // Defaults and validates `object` (create and update) after the common
  // checks, adding field errors to `errors` (which holds those found so
  // far); a non-OK result rejects the object at once. nullptr: nothing.
  absl::Status (*admit)(const ResourceType& type, nlohmann::json& object,
                        std::vector<std::string>& errors) = nullptr;
  // The update-only rules against the stored `current` object: the field
  // errors, empty when the update is allowed. May keep server-owned parts
  // of `current` in `object`. nullptr: none.
  std::vector<std::string> (*admit_update)(
      nlohmann::json& object, const nlohmann::json& current) = nullptr;
};

}  // namespace kmesh::sim::kube

#endif  // SIM_KUBE_ADMISSION_KIND_ADMISSION_H_
