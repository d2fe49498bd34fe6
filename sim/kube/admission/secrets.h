// Admission of core/v1 Secrets: stringData is write-only and merges into
// data, base64-encoded; data values must be Go's standard padded base64; the
// type defaults to Opaque. A body that cannot be read as a Secret is 400
// BadRequest, worded as the real server words it.
#ifndef SIM_KUBE_ADMISSION_SECRETS_H_
#define SIM_KUBE_ADMISSION_SECRETS_H_

#include "absl/status/status.h"
#include "nlohmann/json.hpp"
#include "sim/kube/admission/kind_admission.h"

namespace kmesh::sim::kube {

absl::Status AdmitSecret(nlohmann::json& secret);

KindAdmission SecretAdmission();

}  // namespace kmesh::sim::kube

#endif  // SIM_KUBE_ADMISSION_SECRETS_H_
