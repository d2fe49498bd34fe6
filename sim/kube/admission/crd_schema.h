// Structural-schema checks for custom resources, as the API server applies a
// CRD's openAPIV3Schema: fields of the wrong type and missing required fields
// are errors (422 Invalid), as are arrays longer than their maxItems, and
// fields the schema does not declare are pruned
// silently unless x-kubernetes-preserve-unknown-fields says otherwise. So a
// client writing `podCIDRs` where the CRD says `podCIDRS` loses the field, as
// it would on a real cluster.
#ifndef SIM_KUBE_ADMISSION_CRD_SCHEMA_H_
#define SIM_KUBE_ADMISSION_CRD_SCHEMA_H_

#include <string>
#include <vector>

#include "nlohmann/json.hpp"

namespace kmesh::sim::kube {

// Checks `object` (a whole custom resource) against `schema` (the version's
// openAPIV3Schema) and prunes unknown fields in place; apiVersion, kind and
// metadata are left alone. Returns the field errors, worded as the real
// server words them (`spec.spi: Invalid value: "string": spec.spi in body
// must be of type integer: "string"`); empty when valid.
std::vector<std::string> ValidateAndPrune(const nlohmann::json& schema,
                                          nlohmann::json& object);

}  // namespace kmesh::sim::kube

#endif  // SIM_KUBE_ADMISSION_CRD_SCHEMA_H_
