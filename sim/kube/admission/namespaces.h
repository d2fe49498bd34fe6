// Admission of core/v1 Namespaces: names are DNS-1123 labels; a valid
// Namespace gets the kubernetes.io/metadata.name label, the kubernetes
// finalizer and phase Active, as a fresh one on a real cluster has.
#ifndef SIM_KUBE_ADMISSION_NAMESPACES_H_
#define SIM_KUBE_ADMISSION_NAMESPACES_H_

#include "nlohmann/json.hpp"
#include "sim/kube/admission/kind_admission.h"

namespace kmesh::sim::kube {

void DefaultNamespace(nlohmann::json& ns);

KindAdmission NamespaceAdmission();

}  // namespace kmesh::sim::kube

#endif  // SIM_KUBE_ADMISSION_NAMESPACES_H_
