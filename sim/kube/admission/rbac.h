// Admission of the rbac.authorization.k8s.io/v1 kinds (Role, ClusterRole,
// RoleBinding, ClusterRoleBinding), as the real API server defaults and
// validates them (pkg/apis/rbac in Kubernetes): names are path segments, not
// DNS names (`system:kube-proxy` is valid); a rule needs verbs, API groups
// and resources; a binding's roleRef names a Role or ClusterRole of the RBAC
// group and never changes; a ServiceAccount subject of a ClusterRoleBinding
// needs a namespace. Each check returns the field errors worded as the real
// server words them (field_errors.h), empty when the object is valid.
#ifndef SIM_KUBE_ADMISSION_RBAC_H_
#define SIM_KUBE_ADMISSION_RBAC_H_

#include <string>
#include <vector>

#include "nlohmann/json.hpp"
#include "sim/kube/admission/kind_admission.h"

namespace kmesh::sim::kube {

// "" when `name` is a valid RBAC object name, else the real server's reason.
std::string RbacNameError(const std::string& name);

// Roles and ClusterRoles (`namespaced` for Role).
std::vector<std::string> ValidateRole(const nlohmann::json& role,
                                      bool namespaced);

// Defaults roleRef.apiGroup and User/Group subjects' apiGroup to the RBAC
// group, as SetDefaults_RoleBinding/SetDefaults_Subject do.
void DefaultRoleBinding(nlohmann::json& binding);
// RoleBindings and ClusterRoleBindings (`namespaced` for RoleBinding).
std::vector<std::string> ValidateRoleBinding(const nlohmann::json& binding,
                                             bool namespaced);
std::vector<std::string> ValidateRoleBindingUpdate(
    const nlohmann::json& binding, const nlohmann::json& old);

// Roles and ClusterRoles.
KindAdmission RoleAdmission();
// RoleBindings and ClusterRoleBindings.
KindAdmission RoleBindingAdmission();

}  // namespace kmesh::sim::kube

#endif  // SIM_KUBE_ADMISSION_RBAC_H_
