#include "sim/kube/patch.h"

#include <algorithm>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "sim/kube/api_error.h"

namespace kmesh::sim::kube {
namespace {

using nlohmann::json;

// Strategic merge patch for objects without merge-keyed lists: RFC 7386 with
// the directives honoured (lists are replaced whole).
void StrategicMerge(json& target, const json& patch) {
  if (!patch.is_object()) {
    target = patch;
    return;
  }
  auto directive = patch.find("$patch");
  if (directive != patch.end() && *directive == "replace") {
    target = json::object();
  } else if (directive != patch.end() && *directive == "delete") {
    target = nullptr;
    return;
  }
  if (!target.is_object()) target = json::object();
  for (auto it = patch.begin(); it != patch.end(); ++it) {
    const std::string& key = it.key();
    if (key == "$patch" || key == "$retainKeys" ||
        absl::StartsWith(key, "$setElementOrder/")) {
      continue;
    }
    if (absl::StartsWith(key, "$deleteFromPrimitiveList/")) {
      std::string field =
          key.substr(std::string("$deleteFromPrimitiveList/").size());
      auto list = target.find(field);
      if (list != target.end() && list->is_array() && it->is_array()) {
        list->erase(std::remove_if(list->begin(), list->end(),
                                   [&](const json& v) {
                                     return std::find(it->begin(), it->end(),
                                                      v) != it->end();
                                   }),
                    list->end());
      }
      continue;
    }
    if (it->is_null()) {
      target.erase(key);
      continue;
    }
    StrategicMerge(target[key], *it);
    if (target[key].is_null()) target.erase(key);
  }
  auto retain = patch.find("$retainKeys");
  if (retain != patch.end() && retain->is_array()) {
    for (auto it = target.begin(); it != target.end();) {
      if (std::find(retain->begin(), retain->end(), it.key()) ==
          retain->end()) {
        it = target.erase(it);
      } else {
        ++it;
      }
    }
  }
}

}  // namespace

absl::StatusOr<json> ApplyPatch(const json& object,
                                const std::string& content_type,
                                const std::string& patch_text) {
  std::string type = content_type.substr(0, content_type.find(';'));
  if (type == "application/apply-patch+yaml") {
    return ApiError(415, "UnsupportedMediaType",
                    "the simulated API server does not implement server-side "
                    "apply (application/apply-patch+yaml)");
  }
  if (type != "application/merge-patch+json" &&
      type != "application/strategic-merge-patch+json" &&
      type != "application/json-patch+json") {
    return ApiError(415, "UnsupportedMediaType",
                    absl::StrCat("the body of the request was in an unknown "
                                 "format - accepted media types include: "
                                 "application/json-patch+json, "
                                 "application/merge-patch+json, "
                                 "application/strategic-merge-patch+json; "
                                 "got \"",
                                 content_type, "\""));
  }
  json patch = json::parse(patch_text, nullptr, /*allow_exceptions=*/false);
  if (patch.is_discarded()) {
    return BadRequest("the patch is not valid JSON");
  }
  if (type == "application/json-patch+json") {
    if (!patch.is_array()) {
      return BadRequest("json patch must be an array of operations");
    }
    try {
      return object.patch(patch);
    } catch (const json::exception& e) {
      return ApiError(
          422, "Invalid",
          absl::StrCat("the json patch could not be applied: ", e.what()));
    }
  }
  if (!patch.is_object()) {
    return BadRequest("a merge patch for an object must be a JSON object");
  }
  json result = object;
  if (type == "application/merge-patch+json") {
    result.merge_patch(patch);
  } else {
    StrategicMerge(result, patch);
  }
  return result;
}

}  // namespace kmesh::sim::kube
