#include "sim/kube/admission/custom_resources.h"

#include "absl/strings/str_cat.h"
#include "sim/kube/admission/crd_schema.h"

namespace kmesh::sim::kube {

using nlohmann::json;

std::string CrdNameFor(const ResourceType& type) {
  if (type.group.empty() || type.group == kApiExtensionsGroup) return "";
  return absl::StrCat(type.plural, ".", type.group);
}

void AdmitCustomResource(const ResourceType& type, const json& crd,
                         json& object, std::vector<std::string>& errors) {
  const json& spec = crd.value("spec", json::object());
  for (const json& version : spec.value("versions", json::array())) {
    if (version.value("name", "") != type.version) continue;
    auto schema = version.find("schema");
    if (schema != version.end() && schema->contains("openAPIV3Schema")) {
      std::vector<std::string> schema_errors =
          ValidateAndPrune((*schema)["openAPIV3Schema"], object);
      errors.insert(errors.end(), schema_errors.begin(), schema_errors.end());
    }
  }
}

}  // namespace kmesh::sim::kube
