// Admission for the apps/v1 DaemonSet and the rbac.authorization.k8s.io/v1
// kinds (Role, ClusterRole, RoleBinding, ClusterRoleBinding), as the real API
// server defaults and validates them (pkg/apis/apps and pkg/apis/rbac in
// Kubernetes): a DaemonSet needs a non-empty selector that matches its pod
// template's labels, restartPolicy Always, named containers with images,
// volume mounts that name a volume; its selector never changes. A rule needs
// verbs, API groups and resources; a binding's roleRef names a Role or
// ClusterRole of the RBAC group and never changes; a ServiceAccount subject
// of a ClusterRoleBinding needs a namespace. Each check returns the field
// errors worded as the real server words them (`spec.selector: Invalid
// value: ...: field is immutable`), empty when the object is valid; the
// object store turns them into 422 Invalid. Pure functions over JSON.
#ifndef SIM_KUBE_APPS_RBAC_ADMISSION_H_
#define SIM_KUBE_APPS_RBAC_ADMISSION_H_

#include <string>
#include <vector>

#include "nlohmann/json.hpp"

namespace kmesh::sim::kube {

// SetDefaults_DaemonSet and the pod template defaults that matter to
// validation and to readers (restartPolicy, dnsPolicy, updateStrategy, ...),
// and an empty status on create (`old` null) or the old status on update.
void DefaultDaemonSet(nlohmann::json& daemon_set, const nlohmann::json& old);
std::vector<std::string> ValidateDaemonSet(const nlohmann::json& daemon_set);
// The update-only rules (the selector is immutable); `old` is the stored one.
std::vector<std::string> ValidateDaemonSetUpdate(
    const nlohmann::json& daemon_set, const nlohmann::json& old);

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

// RBAC object names are path segments, not DNS names (`system:kube-proxy`
// is valid): "" when `name` is one, else the real server's reason.
std::string RbacNameError(const std::string& name);

}  // namespace kmesh::sim::kube

#endif  // SIM_KUBE_APPS_RBAC_ADMISSION_H_
