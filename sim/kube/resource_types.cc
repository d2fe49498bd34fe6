#include "sim/kube/resource_types.h"

#include <algorithm>
#include <cctype>

#include "absl/strings/str_cat.h"
#include "sim/kube/object_fields.h"

namespace kmesh::sim::kube {

using nlohmann::json;

std::string ResourceType::ApiVersion() const {
  return group.empty() ? version : absl::StrCat(group, "/", version);
}
std::string ResourceType::DisplayName() const {
  return group.empty() ? plural : absl::StrCat(plural, ".", group);
}
std::string ResourceType::Key() const {
  return absl::StrCat(group, "/", version, "/", plural);
}

std::vector<ResourceType> BuiltinResourceTypes() {
  return {
      {"",
       "v1",
       "namespaces",
       "namespace",
       "Namespace",
       false,
       {"ns"},
       {"status.phase"}},
      {"",
       "v1",
       "nodes",
       "node",
       "Node",
       false,
       {"no"},
       {"spec.unschedulable"}},
      {"", "v1", "secrets", "secret", "Secret", true, {}, {"type"}},
      {"", "v1", "configmaps", "configmap", "ConfigMap", true, {"cm"}, {}},
      {"",
       "v1",
       "serviceaccounts",
       "serviceaccount",
       "ServiceAccount",
       true,
       {"sa"},
       {}},
      {"",
       "v1",
       "pods",
       "pod",
       "Pod",
       true,
       {"po"},
       {"spec.nodeName", "spec.restartPolicy", "spec.schedulerName",
        "spec.serviceAccountName", "status.phase", "status.podIP",
        "status.nominatedNodeName"}},
      {kApiExtensionsGroup,
       "v1",
       "customresourcedefinitions",
       "customresourcedefinition",
       "CustomResourceDefinition",
       false,
       {"crd", "crds"},
       {}},
      {kAppsGroup,
       "v1",
       "daemonsets",
       "daemonset",
       "DaemonSet",
       true,
       {"ds"},
       {}},
      {kRbacGroup, "v1", "roles", "role", "Role", true, {}, {}},
      {kRbacGroup,
       "v1",
       "rolebindings",
       "rolebinding",
       "RoleBinding",
       true,
       {},
       {}},
      {kRbacGroup,
       "v1",
       "clusterroles",
       "clusterrole",
       "ClusterRole",
       false,
       {},
       {}},
      {kRbacGroup,
       "v1",
       "clusterrolebindings",
       "clusterrolebinding",
       "ClusterRoleBinding",
       false,
       {},
       {}},
      {"kmesh.net",
       "v1alpha1",
       "kmeshnodeinfos",
       "kmeshnodeinfo",
       "KmeshNodeInfo",
       true,
       {},
       {}},
  };
}

std::vector<ResourceType> ResourceTypesServedBy(const json& crd) {
  std::vector<ResourceType> types;
  const json& spec = crd.value("spec", json::object());
  const json& names = spec.value("names", json::object());
  for (const json& version : spec.value("versions", json::array())) {
    if (!version.value("served", true)) continue;
    ResourceType type;
    type.group = StringAt(spec, "group");
    type.version = version.value("name", "");
    type.plural = StringAt(names, "plural");
    type.kind = StringAt(names, "kind");
    type.singular = StringAt(names, "singular");
    if (type.singular.empty()) {
      type.singular = type.kind;
      std::transform(type.singular.begin(), type.singular.end(),
                     type.singular.begin(), ::tolower);
    }
    type.namespaced = StringAt(spec, "scope") != "Cluster";
    for (const json& short_name : names.value("shortNames", json::array())) {
      if (short_name.is_string()) type.short_names.push_back(short_name);
    }
    // selectableFields: jsonPath ".spec.x" is the field label "spec.x".
    for (const json& field : version.value("selectableFields", json::array())) {
      std::string path = StringAt(field, "jsonPath");
      if (!path.empty() && path[0] == '.') path.erase(0, 1);
      if (!path.empty()) type.extra_field_selectors.push_back(path);
    }
    if (type.version.empty()) continue;
    types.push_back(std::move(type));
  }
  return types;
}

ResourceTypeRegistry::ResourceTypeRegistry() {
  for (const ResourceType& type : BuiltinResourceTypes()) Add(type);
}

void ResourceTypeRegistry::Add(const ResourceType& type) {
  types_.emplace(type.Key(), type);
}

const ResourceType* ResourceTypeRegistry::Find(const std::string& key) const {
  auto it = types_.find(key);
  return it == types_.end() ? nullptr : &it->second;
}

const ResourceType* ResourceTypeRegistry::Find(
    const std::string& group, const std::string& version,
    const std::string& plural) const {
  return Find(absl::StrCat(group, "/", version, "/", plural));
}

std::vector<ResourceType> ResourceTypeRegistry::All() const {
  std::vector<ResourceType> types;
  for (const auto& [key, type] : types_) types.push_back(type);
  return types;
}

}  // namespace kmesh::sim::kube
