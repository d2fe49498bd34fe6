#include "sim/kube/admission/namespaces.h"

#include "sim/kube/object_fields.h"
#include "sim/kube/validation.h"

namespace kmesh::sim::kube {

using nlohmann::json;

void DefaultNamespace(json& ns) {
  json& metadata = MutableMetadata(ns);
  json& labels = metadata["labels"];
  if (!labels.is_object()) labels = json::object();
  labels["kubernetes.io/metadata.name"] = metadata["name"];
  if (!ns["spec"].is_object()) ns["spec"] = json::object();
  if (!ns["spec"].contains("finalizers")) {
    ns["spec"]["finalizers"] = json::array({"kubernetes"});
  }
  ns["status"] = {{"phase", "Active"}};
}

KindAdmission NamespaceAdmission() {
  KindAdmission admission;
  admission.name_error = Dns1123LabelError;
  admission.admit = [](const ResourceType&, json& ns,
                       std::vector<std::string>& errors) {
    // Only a Namespace whose name and labels are valid is completed.
    if (errors.empty()) DefaultNamespace(ns);
    return absl::OkStatus();
  };
  return admission;
}

}  // namespace kmesh::sim::kube
