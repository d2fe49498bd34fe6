#include "kmesh/kube/kube_status.h"

#include "absl/strings/str_cat.h"

namespace kmesh::kube {

absl::Status StatusFromHttp(int http_code, const std::string& reason,
                            const std::string& message) {
  const std::string text = absl::StrCat(
      "HTTP ", http_code, reason.empty() ? "" : " ", reason, ": ", message);
  switch (http_code) {
    case 400:
    case 422:
      return absl::InvalidArgumentError(text);
    case 401:
      return absl::UnauthenticatedError(text);
    case 403:
      return absl::PermissionDeniedError(text);
    case 404:
      return absl::NotFoundError(text);
    case 409:
      if (reason == "AlreadyExists") return absl::AlreadyExistsError(text);
      return absl::AbortedError(text);
    case 410:
      return absl::OutOfRangeError(text);
    case 429:
      return absl::UnavailableError(text);
    default:
      break;
  }
  if (http_code >= 500) return absl::UnavailableError(text);
  if (http_code >= 200 && http_code < 300) return absl::OkStatus();
  return absl::UnknownError(text);
}

}  // namespace kmesh::kube
