// JSON <-> protobuf for the Kubernetes and Kmesh objects in kmesh/api, in the
// shape Kubernetes and Go's encoding/json use: lowerCamel field names from
// json_name, bytes as standard base64, maps with sorted keys, compact output
// with no whitespace. Parsing ignores fields the messages do not model
// (managedFields, status conditions, ...), so objects written by newer API
// servers still parse. Printing omits fields at their default value, like
// `omitempty`. Errors name the message type and carry protobuf's reason,
// minus the input excerpts protobuf adds (they could be key material).
#ifndef KMESH_API_JSON_CODEC_H_
#define KMESH_API_JSON_CODEC_H_

#include <string>
#include <type_traits>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "google/protobuf/message.h"

namespace kmesh::api {

// Parses `json` into `*message` (cleared first). InvalidArgument on error, in
// which case *message may hold part of the input.
absl::Status ParseJsonInto(absl::string_view json,
                           google::protobuf::Message* message);

// Parses `json` as a T, e.g. ParseJson<Secret>(body).
template <typename T>
absl::StatusOr<T> ParseJson(absl::string_view json) {
  static_assert(std::is_base_of_v<google::protobuf::Message, T>,
                "ParseJson<T> needs a generated protobuf message type");
  T message;
  if (absl::Status status = ParseJsonInto(json, &message); !status.ok()) {
    return status;
  }
  return message;
}

// Compact JSON, field order as in the .proto (field numbers), map keys
// sorted. The serialized copy of the message made on the way is wiped, since
// messages may carry keys (IpSecKey, Secret data); protobuf's own scratch
// buffers are out of reach.
std::string ToJson(const google::protobuf::Message& message);

}  // namespace kmesh::api

#endif  // KMESH_API_JSON_CODEC_H_
