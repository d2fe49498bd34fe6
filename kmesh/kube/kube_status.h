// How Kubernetes API outcomes map onto absl::Status, in one place, so callers
// can act on them without knowing HTTP: 404 NotFound -> kNotFound; 409 with
// reason AlreadyExists -> kAlreadyExists; 409 Conflict (stale
// resourceVersion) -> kAborted; 403 -> kPermissionDenied; 401 ->
// kUnauthenticated; 410 Gone (watch too old) -> kOutOfRange; 400/422 ->
// kInvalidArgument; connection refused, timeouts, 5xx and 429 ->
// kUnavailable (retryable). Every error message names the server and, where
// the server said one, its message.
#ifndef KMESH_KUBE_KUBE_STATUS_H_
#define KMESH_KUBE_KUBE_STATUS_H_

#include <string>

#include "absl/status/status.h"

namespace kmesh::kube {

// `reason` is metav1.Status.reason (may be empty); `message` is the text to
// carry (the server's message or a description).
absl::Status StatusFromHttp(int http_code, const std::string& reason,
                            const std::string& message);

inline bool IsNotFound(const absl::Status& s) { return absl::IsNotFound(s); }
inline bool IsConflict(const absl::Status& s) { return absl::IsAborted(s); }
inline bool IsAlreadyExists(const absl::Status& s) {
  return absl::IsAlreadyExists(s);
}
inline bool IsForbidden(const absl::Status& s) {
  return absl::IsPermissionDenied(s);
}
inline bool IsGone(const absl::Status& s) { return absl::IsOutOfRange(s); }
inline bool IsRetryable(const absl::Status& s) {
  return absl::IsUnavailable(s) || absl::IsDeadlineExceeded(s);
}

}  // namespace kmesh::kube

#endif  // KMESH_KUBE_KUBE_STATUS_H_
