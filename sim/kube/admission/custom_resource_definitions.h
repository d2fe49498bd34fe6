// Admission of apiextensions.k8s.io/v1 CustomResourceDefinitions: a CRD
// needs a group, plural and kind, a scope of Namespaced or Cluster, a name
// that is plural.group and at least one version; a valid one gets the status
// a real server gives an accepted CRD (names accepted, Established, stored
// versions). Custom resources themselves are admitted by
// custom_resources.h.
#ifndef SIM_KUBE_ADMISSION_CUSTOM_RESOURCE_DEFINITIONS_H_
#define SIM_KUBE_ADMISSION_CUSTOM_RESOURCE_DEFINITIONS_H_

#include "absl/status/status.h"
#include "nlohmann/json.hpp"
#include "sim/kube/admission/kind_admission.h"

namespace kmesh::sim::kube {

// 422 Invalid with every problem, or OK with the status filled in.
absl::Status AdmitCustomResourceDefinition(nlohmann::json& crd);

KindAdmission CustomResourceDefinitionAdmission();

}  // namespace kmesh::sim::kube

#endif  // SIM_KUBE_ADMISSION_CUSTOM_RESOURCE_DEFINITIONS_H_
