// Fields of a Kubernetes object held as JSON, read without exceptions: a
// missing field, or a field looked up in something that is not an object,
// reads as null (At) or "" (StringAt); metadata that is not an object reads
// as an empty one. The object store, its watches and admission look into
// what clients send with these.
#ifndef SIM_KUBE_OBJECT_FIELDS_H_
#define SIM_KUBE_OBJECT_FIELDS_H_

#include <string>

#include "nlohmann/json.hpp"

namespace kmesh::sim::kube {

// object[field], or null.
const nlohmann::json& At(const nlohmann::json& object, const char* field);
// object[field] when it is a string, or "".
std::string StringAt(const nlohmann::json& object, const char* field);

// object.metadata, or an empty object.
const nlohmann::json& MetadataOf(const nlohmann::json& object);
// object.metadata.labels, or null; without copying them.
const nlohmann::json& LabelsOf(const nlohmann::json& object);
// object.metadata, made an object first when it is not one.
nlohmann::json& MutableMetadata(nlohmann::json& object);

}  // namespace kmesh::sim::kube

#endif  // SIM_KUBE_OBJECT_FIELDS_H_
