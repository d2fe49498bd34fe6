// The resource types a simulated API server serves (core/v1 secrets,
// kmesh.net/v1alpha1 kmeshnodeinfos, ...): what each is called in paths,
// kinds and messages, whether it is namespaced, and which field selectors
// it supports. The registry starts with the built-in types and grows with
// the types each stored CustomResourceDefinition serves; a type is never
// removed or replaced, so pointers into the registry stay valid. Not
// thread-safe: its owner (the object store) guards it.
#ifndef SIM_KUBE_RESOURCE_TYPES_H_
#define SIM_KUBE_RESOURCE_TYPES_H_

#include <map>
#include <string>
#include <vector>

#include "nlohmann/json.hpp"

namespace kmesh::sim::kube {

inline constexpr char kApiExtensionsGroup[] = "apiextensions.k8s.io";
inline constexpr char kAppsGroup[] = "apps";
inline constexpr char kRbacGroup[] = "rbac.authorization.k8s.io";

// A served resource, e.g. core/v1 secrets or kmesh.net/v1alpha1
// kmeshnodeinfos.
struct ResourceType {
  std::string group;  // "" for the core group.
  std::string version;
  std::string plural;
  std::string singular;
  std::string kind;
  bool namespaced = true;
  std::vector<std::string> short_names;
  // For custom resources: the CRD version's selectableFields ("spec.x"),
  // which field selectors accept besides metadata.name/namespace. Built-in
  // types' fields are in selectable_fields.cc.
  std::vector<std::string> extra_field_selectors;

  // "v1" or "kmesh.net/v1alpha1".
  std::string ApiVersion() const;
  // "secrets" or "kmeshnodeinfos.kmesh.net", as in error messages.
  std::string DisplayName() const;
  // "group/version/plural": the type's identity in the store.
  std::string Key() const;
};

// The types every store serves: core/v1 namespaces, nodes, secrets, pods,
// configmaps, serviceaccounts; apps/v1 daemonsets; rbac.authorization.k8s.io/v1
// roles, rolebindings, clusterroles, clusterrolebindings;
// apiextensions.k8s.io/v1 customresourcedefinitions; kmesh.net/v1alpha1
// kmeshnodeinfos.
std::vector<ResourceType> BuiltinResourceTypes();

// The types a CustomResourceDefinition serves: one per served version.
std::vector<ResourceType> ResourceTypesServedBy(const nlohmann::json& crd);

class ResourceTypeRegistry {
 public:
  // Serves BuiltinResourceTypes().
  ResourceTypeRegistry();

  // Serves `type` too, unless a type with its key is served already.
  void Add(const ResourceType& type);
  // The served type with this key (ResourceType::Key()), or nullptr.
  const ResourceType* Find(const std::string& key) const;
  const ResourceType* Find(const std::string& group, const std::string& version,
                           const std::string& plural) const;
  // Every served type, ordered by key.
  std::vector<ResourceType> All() const;

 private:
  std::map<std::string, ResourceType> types_;
};

}  // namespace kmesh::sim::kube

#endif  // SIM_KUBE_RESOURCE_TYPES_H_
