#include "sim/kube/object_fields.h"

namespace kmesh::sim::kube {

using nlohmann::json;

const json& At(const json& object, const char* field) {
  static const json* null = new json();
  if (!object.is_object()) return *null;
  auto it = object.find(field);
  return it == object.end() ? *null : *it;
}

std::string StringAt(const json& object, const char* field) {
  const json& value = At(object, field);
  return value.is_string() ? value.get<std::string>() : "";
}

const json& MetadataOf(const json& object) {
  static const json* empty = new json(json::object());
  const json& metadata = At(object, "metadata");
  return metadata.is_object() ? metadata : *empty;
}

const json& LabelsOf(const json& object) {
  return At(MetadataOf(object), "labels");
}

json& MutableMetadata(json& object) {
  json& metadata = object["metadata"];
  if (!metadata.is_object()) metadata = json::object();
  return metadata;
}

}  // namespace kmesh::sim::kube
