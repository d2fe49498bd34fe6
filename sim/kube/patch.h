// The PATCH flavours the API server accepts, applied to JSON objects: JSON
// merge patch (RFC 7386, application/merge-patch+json), strategic merge
// patch (application/strategic-merge-patch+json), which is merge patch plus
// the `$patch`, `$retainKeys`, `$setElementOrder/...` and
// `$deleteFromPrimitiveList/...` directives kubectl may send, with the pod
// spec's merge-keyed lists (containers and env by name, volumeMounts by
// mountPath, ...) merged element by element and every other list replaced
// whole, and JSON patch (RFC 6902, application/json-patch+json).
// Server-side apply (application/apply-patch+yaml) is not supported.
#ifndef SIM_KUBE_PATCH_H_
#define SIM_KUBE_PATCH_H_

#include <string>

#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"

namespace kmesh::sim::kube {

// Applies `patch` (the request body) of `content_type` to `object`.
// Unsupported types are 415; malformed patches 400; failing JSON patch
// operations 422.
absl::StatusOr<nlohmann::json> ApplyPatch(const nlohmann::json& object,
                                          const std::string& content_type,
                                          const std::string& patch);

}  // namespace kmesh::sim::kube

#endif  // SIM_KUBE_PATCH_H_
