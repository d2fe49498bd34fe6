// Admission of apps/v1 DaemonSets, as the real API server defaults and
// validates them (pkg/apis/apps in Kubernetes): SetDefaults_DaemonSet and
// the pod template defaults that matter to validation and to readers; a
// non-empty selector that matches the pod template's labels; restartPolicy
// Always; named containers with images; volume mounts that name a volume;
// and a selector that never changes. Each check returns the field errors
// worded as the real server words them (field_errors.h), empty when the
// object is valid.
#ifndef SIM_KUBE_ADMISSION_DAEMON_SETS_H_
#define SIM_KUBE_ADMISSION_DAEMON_SETS_H_

#include <string>
#include <vector>

#include "nlohmann/json.hpp"
#include "sim/kube/admission/kind_admission.h"

namespace kmesh::sim::kube {

// The defaults (restartPolicy, dnsPolicy, updateStrategy, ...), and an
// empty status on create (`old` null) or the old status on update.
void DefaultDaemonSet(nlohmann::json& daemon_set, const nlohmann::json& old);
std::vector<std::string> ValidateDaemonSet(const nlohmann::json& daemon_set);
// The update-only rules (the selector is immutable); `old` is the stored one.
std::vector<std::string> ValidateDaemonSetUpdate(
    const nlohmann::json& daemon_set, const nlohmann::json& old);

KindAdmission DaemonSetAdmission();

}  // namespace kmesh::sim::kube

#endif  // SIM_KUBE_ADMISSION_DAEMON_SETS_H_
