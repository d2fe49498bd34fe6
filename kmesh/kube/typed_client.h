// Typed access on top of KubeClient: the same calls with the protobuf
// messages of kmesh/api (Secret, Node, KmeshNodeInfo, ...) instead of JSON
// text, converted with kmesh/api/json_codec.h (unknown fields ignored). A
// read-modify-write through these keeps only the fields the messages model,
// so use UpdateObject only on objects this product owns.
//
//   absl::StatusOr<api::Secret> secret =
//       GetObject<api::Secret>(client, SecretsKind(), "kmesh-system",
//                              "kmesh-ipsec");
#ifndef KMESH_KUBE_TYPED_CLIENT_H_
#define KMESH_KUBE_TYPED_CLIENT_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "kmesh/api/json_codec.h"
#include "kmesh/kube/kube_client.h"

namespace kmesh::kube {

// Parses a server's answer; a parse failure names what was read.
template <typename T>
absl::StatusOr<T> ParseObject(const ResourceKind& kind,
                              const std::string& json) {
  absl::StatusOr<T> object = api::ParseJson<T>(json);
  if (!object.ok()) {
    return absl::InternalError(
        absl::StrCat("unreadable ", kind.kind,
                     " from the API server: ", object.status().message()));
  }
  return object;
}

template <typename T>
absl::StatusOr<T> GetObject(KubeClient& client, const ResourceKind& kind,
                            const std::string& ns, const std::string& name) {
  absl::StatusOr<std::string> json = client.Get(kind, ns, name);
  if (!json.ok()) return json.status();
  return ParseObject<T>(kind, *json);
}

// Returns the stored object (resourceVersion, uid, creationTimestamp set).
template <typename T>
absl::StatusOr<T> CreateObject(KubeClient& client, const ResourceKind& kind,
                               const std::string& ns, const T& object) {
  absl::StatusOr<std::string> json =
      client.Create(kind, ns, api::ToJson(object));
  if (!json.ok()) return json.status();
  return ParseObject<T>(kind, *json);
}

// Replaces the object named by object.metadata().name(); Aborted when its
// resourceVersion is stale.
template <typename T>
absl::StatusOr<T> UpdateObject(KubeClient& client, const ResourceKind& kind,
                               const std::string& ns, const T& object) {
  absl::StatusOr<std::string> json =
      client.Update(kind, ns, object.metadata().name(), api::ToJson(object));
  if (!json.ok()) return json.status();
  return ParseObject<T>(kind, *json);
}

// TList is a list message (SecretList, ...): items plus
// metadata.resourceVersion.
template <typename TList>
absl::StatusOr<TList> ListObjects(KubeClient& client, const ResourceKind& kind,
                                  const std::string& ns,
                                  const ListOptions& options = {}) {
  absl::StatusOr<ObjectList> list = client.List(kind, ns, options);
  if (!list.ok()) return list.status();
  TList result;
  result.mutable_metadata()->set_resource_version(list->resource_version);
  for (const std::string& item : list->items) {
    absl::Status parsed = api::ParseJsonInto(item, result.add_items());
    if (!parsed.ok()) {
      return absl::InternalError(absl::StrCat("unreadable ", kind.kind,
                                              " in a list from the API "
                                              "server: ",
                                              parsed.message()));
    }
  }
  return result;
}

}  // namespace kmesh::kube

#endif  // KMESH_KUBE_TYPED_CLIENT_H_
