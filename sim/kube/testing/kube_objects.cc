#include "sim/kube/testing/kube_objects.h"

namespace kmesh::sim::kube {

using nlohmann::json;

json NamespaceObject(const std::string& name) {
  return {{"apiVersion", "v1"},
          {"kind", "Namespace"},
          {"metadata", {{"name", name}}}};
}

json KmeshNodeInfoObject(const std::string& name, int spi) {
  return {{"apiVersion", "kmesh.net/v1alpha1"},
          {"kind", "KmeshNodeInfo"},
          {"metadata", {{"name", name}}},
          {"spec",
           {{"spi", spi},
            {"addresses", {"10.0.0.1"}},
            {"bootID", "3c1f5b9e-1111-2222-3333-444455556666"},
            {"podCIDRS", {"10.244.1.0/24"}}}}};
}

absl::Status CreateNamespace(ObjectStore& store, const std::string& name) {
  const ResourceType* namespaces = store.FindType("", "v1", "namespaces");
  return store.Create(*namespaces, "", NamespaceObject(name)).status();
}

}  // namespace kmesh::sim::kube
