#include "sim/kube/admission/custom_resource_definitions.h"

#include <algorithm>
#include <cctype>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "sim/kube/api_error.h"
#include "sim/kube/object_fields.h"

namespace kmesh::sim::kube {

using nlohmann::json;

absl::Status AdmitCustomResourceDefinition(json& crd) {
  const std::string name = StringAt(MetadataOf(crd), "name");
  const json& spec = crd.value("spec", json::object());
  std::string group = StringAt(spec, "group");
  const json& names = spec.value("names", json::object());
  std::string plural = StringAt(names, "plural");
  std::string kind = StringAt(names, "kind");
  std::string scope = StringAt(spec, "scope");
  std::vector<std::string> errors;
  if (group.empty()) errors.push_back("spec.group: Required value");
  if (plural.empty()) errors.push_back("spec.names.plural: Required value");
  if (kind.empty()) errors.push_back("spec.names.kind: Required value");
  if (scope != "Namespaced" && scope != "Cluster") {
    errors.push_back(
        absl::StrCat("spec.scope: Unsupported value: \"", scope,
                     "\": supported values: \"Cluster\", \"Namespaced\""));
  }
  if (name != absl::StrCat(plural, ".", group)) {
    errors.push_back(absl::StrCat("metadata.name: Invalid value: \"", name,
                                  "\": must be spec.names.plural+\".\"+"
                                  "spec.group"));
  }
  const json& versions = spec.value("versions", json::array());
  if (!versions.is_array() || versions.empty()) {
    errors.push_back(
        "spec.versions: Invalid value: must have exactly one "
        "version marked as storage version");
  }
  if (!errors.empty()) {
    return Invalid("CustomResourceDefinition.apiextensions.k8s.io", name,
                   absl::StrJoin(errors, ", "));
  }
  json stored_versions = json::array();
  for (const json& version : versions) {
    if (version.value("storage", false)) {
      stored_versions.push_back(version.value("name", ""));
    }
  }
  json condition_names = names;
  if (!condition_names.contains("singular")) {
    std::string singular = kind;
    std::transform(singular.begin(), singular.end(), singular.begin(),
                   ::tolower);
    condition_names["singular"] = singular;
  }
  crd["status"] = {
      {"acceptedNames", condition_names},
      {"conditions",
       json::array({{{"type", "NamesAccepted"},
                     {"status", "True"},
                     {"reason", "NoConflicts"},
                     {"message", "no conflicts found"}},
                    {{"type", "Established"},
                     {"status", "True"},
                     {"reason", "InitialNamesAccepted"},
                     {"message", "the initial names have been accepted"}}})},
      {"storedVersions", stored_versions},
  };
  return absl::OkStatus();
}

KindAdmission CustomResourceDefinitionAdmission() {
  KindAdmission admission;
  admission.admit = [](const ResourceType&, json& crd,
                       std::vector<std::string>& errors) {
    // Only a CRD whose name and labels are valid is checked further.
    return errors.empty() ? AdmitCustomResourceDefinition(crd)
                          : absl::OkStatus();
  };
  return admission;
}

}  // namespace kmesh::sim::kube
