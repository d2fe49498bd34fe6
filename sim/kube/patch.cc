#include "sim/kube/patch.h"

#include <algorithm>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "sim/kube/api_error.h"

namespace kmesh::sim::kube {
namespace {

using nlohmann::json;

// The merge key of the pod-spec lists that have one in Kubernetes' types
// (patchStrategy:"merge"); other lists are replaced whole. Containers are
// matched by name, volume mounts by mount path, and so on.
const char* MergeKey(const std::string& field) {
  static const std::pair<const char*, const char*> kKeys[] = {
      {"containers", "name"},
      {"initContainers", "name"},
      {"ephemeralContainers", "name"},
      {"env", "name"},
      {"volumes", "name"},
      {"volumeMounts", "mountPath"},
      {"volumeDevices", "devicePath"},
      {"imagePullSecrets", "name"},
      {"hostAliases", "ip"},
  };
  for (const auto& [name, key] : kKeys) {
    if (field == name) return key;
  }
  return nullptr;
}

void StrategicMerge(json& target, const json& patch);

// A merge-keyed list: patch elements update the element with the same key,
// or are appended; {"$patch": "delete", key: k} removes it; a
// `$setElementOrder/<field>` list orders the result.
void MergeKeyedList(json& target, const json& patch, const char* key,
                    const json* order) {
  if (!target.is_array()) target = json::array();
  for (const json& element : patch) {
    if (element.is_object() && element.value("$patch", "") == "replace") {
      target = json::array();
      continue;
    }
    if (!element.is_object() || !element.contains(key)) {
      target.push_back(element);
      continue;
    }
    auto existing =
        std::find_if(target.begin(), target.end(), [&](const json& item) {
          return item.is_object() && item.contains(key) &&
                 item[key] == element[key];
        });
    if (element.value("$patch", "") == "delete") {
      if (existing != target.end()) target.erase(existing);
      continue;
    }
    if (existing == target.end()) {
      json added;
      StrategicMerge(added, element);
      target.push_back(added);
    } else {
      StrategicMerge(*existing, element);
    }
  }
  if (order != nullptr && order->is_array()) {
    auto rank = [&](const json& item) {
      for (size_t i = 0; i < order->size(); ++i) {
        if (item.is_object() && (*order)[i].is_object() &&
            (*order)[i].contains(key) && item.contains(key) &&
            (*order)[i][key] == item[key]) {
          return i;
        }
      }
      return order->size();
    };
    std::stable_sort(
        target.begin(), target.end(),
        [&](const json& a, const json& b) { return rank(a) < rank(b); });
  }
}

// Strategic merge patch: RFC 7386 with the directives honoured; lists are
// replaced whole except the merge-keyed ones above.
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
    if (const char* merge_key = MergeKey(key);
        merge_key != nullptr && it->is_array()) {
      auto order = patch.find("$setElementOrder/" + key);
      MergeKeyedList(target[key], *it, merge_key,
                     order == patch.end() ? nullptr : &*order);
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
