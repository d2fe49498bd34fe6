// Reads request bodies in Kubernetes' protobuf encoding
// (application/vnd.kubernetes.protobuf), which kubectl's typed clients send
// for built-in objects (`kubectl create namespace`, `kubectl create secret`):
// the "k8s\0" magic, a runtime.Unknown envelope naming apiVersion and kind,
// and the object in k8s.io/api's generated.proto layout. The result is the
// object's JSON form, as if the client had sent JSON. Covers Namespace,
// Secret, ConfigMap and DeleteOptions; other kinds are 415, so a client
// learns plainly that it must send JSON.
#ifndef SIM_KUBE_PROTOBUF_CODEC_H_
#define SIM_KUBE_PROTOBUF_CODEC_H_

#include <string>

#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"

namespace kmesh::sim::kube {

inline constexpr char kProtobufContentType[] =
    "application/vnd.kubernetes.protobuf";

absl::StatusOr<nlohmann::json> DecodeKubernetesProtobuf(
    const std::string& body);

}  // namespace kmesh::sim::kube

#endif  // SIM_KUBE_PROTOBUF_CODEC_H_
