#include "kmesh/kube/kube_client.h"
#include "nlohmann/json.hpp"

namespace kmesh::kube {

const ResourceKind& SecretsKind() {
  static const ResourceKind* k =
      new ResourceKind{"", "v1", "secrets", "Secret", true};
  return *k;
}
const ResourceKind& NodesKind() {
  static const ResourceKind* k =
      new ResourceKind{"", "v1", "nodes", "Node", false};
  return *k;
}
const ResourceKind& NamespacesKind() {
  static const ResourceKind* k =
      new ResourceKind{"", "v1", "namespaces", "Namespace", false};
  return *k;
}
const ResourceKind& PodsKind() {
  static const ResourceKind* k =
      new ResourceKind{"", "v1", "pods", "Pod", true};
  return *k;
}
const ResourceKind& KmeshNodeInfosKind() {
  static const ResourceKind* k = new ResourceKind{
      "kmesh.net", "v1alpha1", "kmeshnodeinfos", "KmeshNodeInfo", true};
  return *k;
}

std::string WatchEvent::ObjectText() const {
  if (!object.empty() || parsed == nullptr) return object;
  return parsed->dump();
}

}  // namespace kmesh::kube
