// Kubernetes API errors as absl::Status values that remember the HTTP code
// and metav1.Status reason the real API server would answer with, so the
// object store can say "409 Conflict" (not just "aborted") and the HTTP layer
// can send the exact Status body, e.g. 404 NotFound `secrets "x" not found`.
// The absl code follows kmesh/kube/kube_status.h (404 NotFound, 409
// AlreadyExists / Conflict -> Aborted, 410 -> OutOfRange, ...).
#ifndef SIM_KUBE_API_ERROR_H_
#define SIM_KUBE_API_ERROR_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "nlohmann/json.hpp"

namespace kmesh::sim::kube {

// An error with an HTTP code and reason, e.g. (409, "AlreadyExists", ...).
absl::Status ApiError(int http_code, const std::string& reason,
                      const std::string& message);

// Common errors, worded as the real server words them. `resource` is the
// plural with its group, e.g. "secrets" or "kmeshnodeinfos.kmesh.net".
absl::Status NotFound(const std::string& resource, const std::string& name);
absl::Status AlreadyExists(const std::string& resource,
                           const std::string& name);
absl::Status Conflict(const std::string& resource, const std::string& name,
                      const std::string& why);
absl::Status BadRequest(const std::string& message);
// 422: `Secret "X" is invalid: metadata.name: Invalid value: ...`.
absl::Status Invalid(const std::string& kind, const std::string& name,
                     const std::string& field_errors);
// 422 as apierrors.NewInvalid builds it: the message lists `field_errors`
// (one alone, several in brackets) and the Status carries details (kind,
// group, name, one cause per error), from which kubectl prints
// `The DaemonSet "x" is invalid: spec.selector: ...`. Each field error reads
// "<field>: <Invalid value|Required value|Unsupported value|Not found|
// Duplicate value|Forbidden>...". `kind` is the plain kind, `group` "" for
// the core group.
absl::Status InvalidWithCauses(const std::string& kind,
                               const std::string& group,
                               const std::string& name,
                               const std::vector<std::string>& field_errors);
absl::Status Gone(const std::string& message);
// 504 Timeout "Too large resource version: N, current: M" with the cause
// ResourceVersionTooLarge and retryAfterSeconds 1, as
// storage.NewTooLargeResourceVersionError builds it.
absl::Status TooLargeResourceVersion(uint64_t requested, uint64_t current);
// 410 Expired whose Status carries metadata.continue = `continue_token`
// (etcd3's answer to a continue token at a compacted revision).
absl::Status ExpiredWithContinue(const std::string& message,
                                 const std::string& continue_token);

// The HTTP code and reason of `status` (200/"" for OK; statuses made
// elsewhere map by absl code).
int HttpCode(const absl::Status& status);
std::string HttpReason(const absl::Status& status);

// The metav1.Status object for `status`, as sent in an error response body.
nlohmann::json StatusObject(const absl::Status& status);

}  // namespace kmesh::sim::kube

#endif  // SIM_KUBE_API_ERROR_H_
