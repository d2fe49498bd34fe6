// Fuzz target: JSON from the API server decoded into the product's protobuf
// messages (json_codec.h): Secrets (the ipSec key's carrier), Nodes,
// Namespaces, Pods, KmeshNodeInfos and lists of them, and metav1.Status.
// The first byte picks the message type, the rest is the JSON. Whatever
// parses is printed back and must parse again.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "google/protobuf/message.h"
#include "kmesh/api/ipsec_key.pb.h"
#include "kmesh/api/json_codec.h"
#include "kmesh/api/kmesh_node_info.pb.h"
#include "kmesh/api/kube.pb.h"

namespace {

std::unique_ptr<google::protobuf::Message> NewMessage(uint8_t selector) {
  switch (selector % 10) {
    case 0:
      return std::make_unique<kmesh::api::Secret>();
    case 1:
      return std::make_unique<kmesh::api::SecretList>();
    case 2:
      return std::make_unique<kmesh::api::Node>();
    case 3:
      return std::make_unique<kmesh::api::NodeList>();
    case 4:
      return std::make_unique<kmesh::api::KmeshNodeInfo>();
    case 5:
      return std::make_unique<kmesh::api::KmeshNodeInfoList>();
    case 6:
      return std::make_unique<kmesh::api::Pod>();
    case 7:
      return std::make_unique<kmesh::api::Namespace>();
    case 8:
      return std::make_unique<kmesh::api::Status>();
    default:
      return std::make_unique<kmesh::api::IpSecKey>();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  std::unique_ptr<google::protobuf::Message> message = NewMessage(data[0]);
  const absl::string_view json(reinterpret_cast<const char*>(data + 1),
                               size - 1);
  if (!kmesh::api::ParseJsonInto(json, message.get()).ok()) return 0;
  const std::string printed = kmesh::api::ToJson(*message);
  std::unique_ptr<google::protobuf::Message> again = NewMessage(data[0]);
  if (!kmesh::api::ParseJsonInto(printed, again.get()).ok()) std::abort();
  return 0;
}
