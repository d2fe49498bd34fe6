#include "sim/kube/protobuf_codec.h"

#include <time.h>

#include <cstdint>
#include <map>
#include <memory>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "sim/kube/api_error.h"

namespace kmesh::sim::kube {
namespace {

using nlohmann::json;

// How a field's bytes become JSON.
enum class FieldKind {
  kString,
  kBytes,  // base64 in JSON
  kInt,
  kBool,
  kRepeatedString,
  kStringMap,
  kBytesMap,  // values base64 in JSON
  kTime,      // metav1.Time: {seconds, nanos} -> RFC 3339
  kMessage,
};

struct Schema;
struct Field {
  const char* name;
  FieldKind kind;
  const Schema* message = nullptr;
};
struct Schema {
  std::map<uint32_t, Field> fields;
};

// A protobuf wire-format reader over one message's bytes.
class Reader {
 public:
  Reader(const uint8_t* data, size_t size) : p_(data), end_(data + size) {}
  bool AtEnd() const { return p_ >= end_; }
  bool Varint(uint64_t* value) {
    *value = 0;
    for (int shift = 0; shift < 64 && p_ < end_; shift += 7) {
      uint8_t byte = *p_++;
      *value |= static_cast<uint64_t>(byte & 0x7f) << shift;
      if (!(byte & 0x80)) return true;
    }
    return false;
  }
  bool Bytes(std::string* out) {
    uint64_t length;
    if (!Varint(&length) || length > static_cast<uint64_t>(end_ - p_)) {
      return false;
    }
    out->assign(reinterpret_cast<const char*>(p_), length);
    p_ += length;
    return true;
  }
  bool Skip(uint32_t wire_type) {
    uint64_t ignored;
    std::string bytes;
    switch (wire_type) {
      case 0:
        return Varint(&ignored);
      case 1:
        return Advance(8);
      case 2:
        return Bytes(&bytes);
      case 5:
        return Advance(4);
      default:
        return false;
    }
  }

 private:
  bool Advance(size_t n) {
    if (static_cast<size_t>(end_ - p_) < n) return false;
    p_ += n;
    return true;
  }
  const uint8_t* p_;
  const uint8_t* end_;
};

Reader ReaderOf(const std::string& bytes) {
  return Reader(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
}

bool DecodeMapEntry(const std::string& bytes, std::string* key,
                    std::string* value) {
  Reader reader = ReaderOf(bytes);
  while (!reader.AtEnd()) {
    uint64_t tag;
    if (!reader.Varint(&tag)) return false;
    uint32_t number = tag >> 3, wire_type = tag & 7;
    if (wire_type == 2 && (number == 1 || number == 2)) {
      if (!reader.Bytes(number == 1 ? key : value)) return false;
    } else if (!reader.Skip(wire_type)) {
      return false;
    }
  }
  return true;
}

std::string TimeText(const std::string& bytes) {
  Reader reader = ReaderOf(bytes);
  uint64_t seconds = 0;
  while (!reader.AtEnd()) {
    uint64_t tag, value;
    if (!reader.Varint(&tag)) break;
    if ((tag & 7) != 0) {
      if (!reader.Skip(tag & 7)) break;
      continue;
    }
    if (!reader.Varint(&value)) break;
    if ((tag >> 3) == 1) seconds = value;
  }
  time_t t = static_cast<time_t>(seconds);
  struct tm utc;
  gmtime_r(&t, &utc);
  char text[32];
  strftime(text, sizeof(text), "%Y-%m-%dT%H:%M:%SZ", &utc);
  return text;
}

bool Decode(const Schema& schema, const std::string& bytes, json* out) {
  *out = json::object();
  Reader reader = ReaderOf(bytes);
  while (!reader.AtEnd()) {
    uint64_t tag;
    if (!reader.Varint(&tag)) return false;
    uint32_t number = tag >> 3, wire_type = tag & 7;
    auto it = schema.fields.find(number);
    if (it == schema.fields.end()) {
      if (!reader.Skip(wire_type)) return false;
      continue;
    }
    const Field& field = it->second;
    if (field.kind == FieldKind::kInt || field.kind == FieldKind::kBool) {
      uint64_t value;
      if (wire_type != 0 || !reader.Varint(&value)) return false;
      if (field.kind == FieldKind::kBool) {
        (*out)[field.name] = value != 0;
      } else if (value != 0) {  // As JSON's omitempty.
        (*out)[field.name] = static_cast<int64_t>(value);
      }
      continue;
    }
    std::string data;
    if (wire_type != 2 || !reader.Bytes(&data)) return false;
    switch (field.kind) {
      case FieldKind::kString:
        if (!data.empty()) (*out)[field.name] = data;
        break;
      case FieldKind::kBytes:
        (*out)[field.name] = absl::Base64Escape(data);
        break;
      case FieldKind::kRepeatedString:
        (*out)[field.name].push_back(data);
        break;
      case FieldKind::kStringMap:
      case FieldKind::kBytesMap: {
        std::string key, value;
        if (!DecodeMapEntry(data, &key, &value)) return false;
        (*out)[field.name][key] = field.kind == FieldKind::kBytesMap
                                      ? absl::Base64Escape(value)
                                      : value;
        break;
      }
      case FieldKind::kTime:
        (*out)[field.name] = TimeText(data);
        break;
      case FieldKind::kMessage: {
        json message;
        if (!Decode(*field.message, data, &message)) return false;
        if (!message.empty()) (*out)[field.name] = message;
        break;
      }
      default:
        return false;
    }
  }
  return true;
}

// k8s.io/apimachinery/pkg/apis/meta/v1/generated.proto, ObjectMeta.
const Schema& ObjectMetaSchema() {
  static const Schema* schema = new Schema{{
      {1, {"name", FieldKind::kString}},
      {2, {"generateName", FieldKind::kString}},
      {3, {"namespace", FieldKind::kString}},
      {5, {"uid", FieldKind::kString}},
      {6, {"resourceVersion", FieldKind::kString}},
      {7, {"generation", FieldKind::kInt}},
      {8, {"creationTimestamp", FieldKind::kTime}},
      {11, {"labels", FieldKind::kStringMap}},
      {12, {"annotations", FieldKind::kStringMap}},
      {14, {"finalizers", FieldKind::kRepeatedString}},
  }};
  return *schema;
}

// k8s.io/api/core/v1/generated.proto.
const Schema& NamespaceSchema() {
  static const Schema* spec =
      new Schema{{{1, {"finalizers", FieldKind::kRepeatedString}}}};
  static const Schema* status =
      new Schema{{{1, {"phase", FieldKind::kString}}}};
  static const Schema* schema = new Schema{{
      {1, {"metadata", FieldKind::kMessage, &ObjectMetaSchema()}},
      {2, {"spec", FieldKind::kMessage, spec}},
      {3, {"status", FieldKind::kMessage, status}},
  }};
  return *schema;
}

const Schema& SecretSchema() {
  static const Schema* schema = new Schema{{
      {1, {"metadata", FieldKind::kMessage, &ObjectMetaSchema()}},
      {2, {"data", FieldKind::kBytesMap}},
      {3, {"type", FieldKind::kString}},
      {4, {"stringData", FieldKind::kStringMap}},
      {5, {"immutable", FieldKind::kBool}},
  }};
  return *schema;
}

const Schema& ConfigMapSchema() {
  static const Schema* schema = new Schema{{
      {1, {"metadata", FieldKind::kMessage, &ObjectMetaSchema()}},
      {2, {"data", FieldKind::kStringMap}},
      {3, {"binaryData", FieldKind::kBytesMap}},
      {4, {"immutable", FieldKind::kBool}},
  }};
  return *schema;
}

// k8s.io/apimachinery/pkg/apis/meta/v1/generated.proto, DeleteOptions.
const Schema& DeleteOptionsSchema() {
  static const Schema* preconditions = new Schema{{
      {1, {"uid", FieldKind::kString}},
      {2, {"resourceVersion", FieldKind::kString}},
  }};
  static const Schema* schema = new Schema{{
      {1, {"gracePeriodSeconds", FieldKind::kInt}},
      {2, {"preconditions", FieldKind::kMessage, preconditions}},
      {3, {"orphanDependents", FieldKind::kBool}},
      {4, {"propagationPolicy", FieldKind::kString}},
      {5, {"dryRun", FieldKind::kRepeatedString}},
  }};
  return *schema;
}

}  // namespace

absl::StatusOr<json> DecodeKubernetesProtobuf(const std::string& body) {
  static const std::string kMagic("k8s\0", 4);
  if (body.compare(0, 4, kMagic) != 0) {
    return BadRequest("protobuf body without the \"k8s\\0\" prefix");
  }
  // runtime.Unknown: typeMeta = 1 {apiVersion = 1, kind = 2}, raw = 2.
  static const Schema* type_meta = new Schema{{
      {1, {"apiVersion", FieldKind::kString}},
      {2, {"kind", FieldKind::kString}},
  }};
  static const Schema* unknown = new Schema{{
      {1, {"typeMeta", FieldKind::kMessage, type_meta}},
      {2, {"raw", FieldKind::kBytes}},
  }};
  json envelope;
  if (!Decode(*unknown, body.substr(4), &envelope)) {
    return BadRequest("malformed protobuf envelope");
  }
  json meta = envelope.value("typeMeta", json::object());
  std::string api_version = meta.value("apiVersion", "");
  std::string kind = meta.value("kind", "");
  std::string raw;
  if (!absl::Base64Unescape(envelope.value("raw", ""), &raw)) {
    return BadRequest("malformed protobuf envelope");
  }
  const Schema* schema = nullptr;
  if (kind == "Namespace") schema = &NamespaceSchema();
  if (kind == "Secret") schema = &SecretSchema();
  if (kind == "ConfigMap") schema = &ConfigMapSchema();
  if (kind == "DeleteOptions") schema = &DeleteOptionsSchema();
  if (schema == nullptr) {
    return ApiError(415, "UnsupportedMediaType",
                    absl::StrCat("the simulated API server reads protobuf "
                                 "only for Namespace, Secret, ConfigMap and "
                                 "DeleteOptions, not ",
                                 kind, "; send application/json"));
  }
  json object;
  if (!Decode(*schema, raw, &object)) {
    return BadRequest(absl::StrCat("malformed protobuf ", kind));
  }
  object["apiVersion"] = api_version;
  object["kind"] = kind;
  return object;
}

}  // namespace kmesh::sim::kube
