#include "kmesh/base/json_depth.h"

#include "absl/strings/str_cat.h"

namespace kmesh {

absl::Status CheckJsonDepth(absl::string_view json, int max_depth) {
  int depth = 0;
  bool in_string = false;
  bool escaped = false;
  for (const char c : json) {
    if (in_string) {
      if (escaped) {
        escaped = false;
      } else if (c == '\\') {
        escaped = true;
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    switch (c) {
      case '"':
        in_string = true;
        break;
      case '[':
      case '{':
        if (++depth > max_depth) {
          return absl::InvalidArgumentError(
              absl::StrCat("JSON nested more than ", max_depth,
                           " levels deep (arrays and objects)"));
        }
        break;
      case ']':
      case '}':
        if (depth > 0) --depth;
        break;
      default:
        break;
    }
  }
  return absl::OkStatus();
}

nlohmann::json ParseJsonWithinDepth(absl::string_view json) {
  if (!CheckJsonDepth(json).ok()) {
    return nlohmann::json(nlohmann::json::value_t::discarded);
  }
  return nlohmann::json::parse(json.begin(), json.end(), nullptr,
                               /*allow_exceptions=*/false);
}

}  // namespace kmesh
