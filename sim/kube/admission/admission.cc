#include "sim/kube/admission/admission.h"

#include <map>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "sim/kube/admission/custom_resource_definitions.h"
#include "sim/kube/admission/custom_resources.h"
#include "sim/kube/admission/daemon_sets.h"
#include "sim/kube/admission/kind_admission.h"
#include "sim/kube/admission/namespaces.h"
#include "sim/kube/admission/rbac.h"
#include "sim/kube/admission/secrets.h"
#include "sim/kube/api_error.h"
#include "sim/kube/object_fields.h"
#include "sim/kube/validation.h"

namespace kmesh::sim::kube {
namespace {

using nlohmann::json;

// The kinds with rules of their own, by (group, plural).
const KindAdmission& AdmissionOf(const ResourceType& type) {
  using Key = std::pair<std::string, std::string>;
  static const auto* table = new std::map<Key, KindAdmission>{
      {{"", "namespaces"}, NamespaceAdmission()},
      {{"", "secrets"}, SecretAdmission()},
      {{kApiExtensionsGroup, "customresourcedefinitions"},
       CustomResourceDefinitionAdmission()},
      {{kAppsGroup, "daemonsets"}, DaemonSetAdmission()},
      {{kRbacGroup, "roles"}, RoleAdmission()},
      {{kRbacGroup, "clusterroles"}, RoleAdmission()},
      {{kRbacGroup, "rolebindings"}, RoleBindingAdmission()},
      {{kRbacGroup, "clusterrolebindings"}, RoleBindingAdmission()},
  };
  static const KindAdmission* common = new KindAdmission();
  auto it = table->find({type.group, type.plural});
  return it == table->end() ? *common : it->second;
}

// 422 Invalid with the field errors and causes as the real server sends
// them.
absl::Status InvalidObject(const ResourceType& type, const std::string& name,
                           const std::vector<std::string>& errors) {
  return InvalidWithCauses(type.kind, type.group, name, errors);
}

// Kind, apiVersion and namespace as the request says; 400 when the body
// says otherwise.
absl::Status AdmitTypeAndNamespace(const ResourceType& type,
                                   const std::string& ns, json& object) {
  std::string api_version = StringAt(object, "apiVersion");
  std::string kind = StringAt(object, "kind");
  if (!api_version.empty() && api_version != type.ApiVersion()) {
    return BadRequest(absl::StrCat("the API version in the data (", api_version,
                                   ") does not match the expected API "
                                   "version (",
                                   type.ApiVersion(), ")"));
  }
  if (!kind.empty() && kind != type.kind) {
    return BadRequest(absl::StrCat(
        type.DisplayName(), " in version \"", type.version,
        "\" cannot be handled as a ", type.kind, ": the kind in the data (",
        kind, ") does not match the expected kind (", type.kind, ")"));
  }
  object["apiVersion"] = type.ApiVersion();
  object["kind"] = type.kind;
  json& metadata = MutableMetadata(object);
  std::string body_ns = StringAt(metadata, "namespace");
  if (type.namespaced) {
    if (!body_ns.empty() && body_ns != ns) {
      return BadRequest(
          "the namespace of the provided object does not match the namespace "
          "sent on the request");
    }
    metadata["namespace"] = ns;
  } else {
    metadata.erase("namespace");
  }
  return absl::OkStatus();
}

// Field errors for the labels; 400 when they are not an object of strings.
absl::Status AdmitLabels(const json& metadata,
                         std::vector<std::string>& errors) {
  auto labels = metadata.find("labels");
  if (labels == metadata.end() || labels->is_null()) return absl::OkStatus();
  if (!labels->is_object()) {
    return BadRequest("metadata.labels must be an object of strings");
  }
  for (auto it = labels->begin(); it != labels->end(); ++it) {
    if (std::string why = LabelKeyError(it.key()); !why.empty()) {
      errors.push_back(absl::StrCat("metadata.labels: Invalid value: \"",
                                    it.key(), "\": ", why));
    }
    if (!it->is_string()) {
      return BadRequest(
          absl::StrCat("metadata.labels[\"", it.key(), "\"] must be a string"));
    }
    if (std::string why = LabelValueError(it->get<std::string>());
        !why.empty()) {
      errors.push_back(absl::StrCat("metadata.labels: Invalid value: \"",
                                    it->get<std::string>(), "\": ", why));
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status Admit(const ResourceType& type, const std::string& ns,
                   json& object, FindCrd find_crd) {
  if (!object.is_object()) {
    return BadRequest(
        absl::StrCat("the body of the request was in an unknown "
                     "format - expected a ",
                     type.kind, " object"));
  }
  if (absl::Status s = AdmitTypeAndNamespace(type, ns, object); !s.ok()) {
    return s;
  }
  const KindAdmission& kind = AdmissionOf(type);
  const std::string name = StringAt(MetadataOf(object), "name");
  std::vector<std::string> errors;
  if (name.empty()) {
    errors.push_back(
        "metadata.name: Required value: name or generateName is required");
  } else if (std::string why = kind.name_error(name); !why.empty()) {
    errors.push_back(
        absl::StrCat("metadata.name: Invalid value: \"", name, "\": ", why));
  }
  if (absl::Status s = AdmitLabels(MetadataOf(object), errors); !s.ok()) {
    return s;
  }
  if (kind.admit != nullptr) {
    if (absl::Status s = kind.admit(type, object, errors); !s.ok()) return s;
  }
  if (const std::string crd_name = CrdNameFor(type); !crd_name.empty()) {
    if (const json* crd = find_crd(crd_name); crd != nullptr) {
      AdmitCustomResource(type, *crd, object, errors);
    }
  }
  if (!errors.empty()) return InvalidObject(type, name, errors);
  return absl::OkStatus();
}

absl::Status AdmitUpdate(const ResourceType& type, const std::string& name,
                         json& object, const json& current) {
  const KindAdmission& kind = AdmissionOf(type);
  if (kind.admit_update == nullptr) return absl::OkStatus();
  std::vector<std::string> errors = kind.admit_update(object, current);
  if (!errors.empty()) return InvalidObject(type, name, errors);
  return absl::OkStatus();
}

}  // namespace kmesh::sim::kube
