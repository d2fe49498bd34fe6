#include "sim/kube/admission/field_errors.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace kmesh::sim::kube {

using nlohmann::json;

void FieldErrors::Required(const std::string& path, const std::string& detail) {
  Add(absl::StrCat(path, ": Required value",
                   detail.empty() ? "" : ": " + detail));
}

void FieldErrors::Invalid(const std::string& path, const std::string& value,
                          const std::string& detail) {
  Add(absl::StrCat(path, ": Invalid value: ", value, ": ", detail));
}

void FieldErrors::NotSupported(const std::string& path,
                               const std::string& value,
                               const std::vector<std::string>& supported) {
  std::vector<std::string> quoted;
  for (const std::string& s : supported) quoted.push_back(Quote(s));
  Add(absl::StrCat(path, ": Unsupported value: ", Quote(value),
                   ": supported values: ", absl::StrJoin(quoted, ", ")));
}

void FieldErrors::NotFound(const std::string& path, const std::string& value) {
  Add(absl::StrCat(path, ": Not found: ", Quote(value)));
}

void FieldErrors::Duplicate(const std::string& path, const std::string& value) {
  Add(absl::StrCat(path, ": Duplicate value: ", Quote(value)));
}

void FieldErrors::Forbidden(const std::string& path,
                            const std::string& detail) {
  Add(absl::StrCat(path, ": Forbidden: ", detail));
}

void FieldErrors::Add(std::string error) {
  errors_.push_back(std::move(error));
}

std::vector<std::string> FieldErrors::Take() { return std::move(errors_); }

std::string Index(const std::string& path, size_t i) {
  return absl::StrCat(path, "[", i, "]");
}

std::string Quote(const std::string& s) { return json(s).dump(); }

std::string GoStringList(const json& list) {
  if (!list.is_array()) return "[]string(nil)";
  std::vector<std::string> items;
  for (const json& item : list) {
    items.push_back(Quote(item.is_string() ? item.get<std::string>() : ""));
  }
  return absl::StrCat("[]string{", absl::StrJoin(items, ", "), "}");
}

}  // namespace kmesh::sim::kube
