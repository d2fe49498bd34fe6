// Admission of custom resources: an object of a type that a stored
// CustomResourceDefinition serves is checked against, and pruned to, the
// openAPIV3Schema the CRD gives the object's version (crd_schema.h), when it
// gives one.
#ifndef SIM_KUBE_ADMISSION_CUSTOM_RESOURCES_H_
#define SIM_KUBE_ADMISSION_CUSTOM_RESOURCES_H_

#include <string>
#include <vector>

#include "nlohmann/json.hpp"
#include "sim/kube/resource_types.h"

namespace kmesh::sim::kube {

// The name of the CRD that would serve `type` ("plural.group"), or "" for a
// type of the core or apiextensions.k8s.io group, which no CRD serves.
std::string CrdNameFor(const ResourceType& type);

// Adds the schema's field errors to `errors`; `crd` is the stored CRD that
// serves `type`.
void AdmitCustomResource(const ResourceType& type, const nlohmann::json& crd,
                         nlohmann::json& object,
                         std::vector<std::string>& errors);

}  // namespace kmesh::sim::kube

#endif  // SIM_KUBE_ADMISSION_CUSTOM_RESOURCES_H_
