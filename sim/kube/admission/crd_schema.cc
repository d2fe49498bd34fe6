#include "sim/kube/admission/crd_schema.h"

#include "absl/strings/str_cat.h"

namespace kmesh::sim::kube {
namespace {

using nlohmann::json;

std::string JsonTypeName(const json& value) {
  if (value.is_object()) return "object";
  if (value.is_array()) return "array";
  if (value.is_string()) return "string";
  if (value.is_boolean()) return "boolean";
  if (value.is_number_integer()) return "integer";
  if (value.is_number()) return "number";
  return "null";
}

bool HasType(const json& value, const std::string& type) {
  if (type == "object") return value.is_object();
  if (type == "array") return value.is_array();
  if (type == "string") return value.is_string();
  if (type == "boolean") return value.is_boolean();
  if (type == "integer") {
    return value.is_number_integer() ||
           (value.is_number_float() &&
            value.get<double>() == static_cast<int64_t>(value.get<double>()));
  }
  if (type == "number") return value.is_number();
  return true;  // No or unknown type: anything goes.
}

bool BoolField(const json& schema, const char* field) {
  auto it = schema.find(field);
  return it != schema.end() && it->is_boolean() && it->get<bool>();
}

void Check(const json& schema, json& value, const std::string& path,
           std::vector<std::string>& errors) {
  if (!schema.is_object()) return;
  if (value.is_null()) {
    if (!BoolField(schema, "nullable")) {
      auto type = schema.find("type");
      if (type != schema.end() && type->is_string()) {
        errors.push_back(absl::StrCat(path, ": Invalid value: \"null\": ", path,
                                      " in body must be of type ",
                                      type->get<std::string>(), ": \"null\""));
      }
    }
    return;
  }
  auto type = schema.find("type");
  if (type != schema.end() && type->is_string() &&
      !HasType(value, type->get<std::string>())) {
    std::string have = JsonTypeName(value);
    errors.push_back(absl::StrCat(path, ": Invalid value: \"", have,
                                  "\": ", path, " in body must be of type ",
                                  type->get<std::string>(), ": \"", have,
                                  "\""));
    return;
  }
  if (value.is_object()) {
    auto properties = schema.find("properties");
    auto additional = schema.find("additionalProperties");
    bool preserve = BoolField(schema, "x-kubernetes-preserve-unknown-fields");
    for (auto it = value.begin(); it != value.end();) {
      std::string field_path =
          path.empty() ? it.key() : absl::StrCat(path, ".", it.key());
      if (properties != schema.end() && properties->contains(it.key())) {
        Check((*properties)[it.key()], it.value(), field_path, errors);
        ++it;
      } else if (additional != schema.end() && additional->is_object()) {
        Check(*additional, it.value(), field_path, errors);
        ++it;
      } else if (preserve ||
                 (additional != schema.end() && additional->is_boolean() &&
                  additional->get<bool>())) {
        ++it;
      } else {
        it = value.erase(it);
      }
    }
    auto required = schema.find("required");
    if (required != schema.end() && required->is_array()) {
      for (const json& field : *required) {
        if (field.is_string() && !value.contains(field.get<std::string>())) {
          std::string field_path =
              path.empty() ? field.get<std::string>()
                           : absl::StrCat(path, ".", field.get<std::string>());
          errors.push_back(absl::StrCat(field_path, ": Required value"));
        }
      }
    }
  } else if (value.is_array()) {
    // maxItems, as the real server words it (field.TooMany).
    auto max_items = schema.find("maxItems");
    if (max_items != schema.end() && max_items->is_number_unsigned() &&
        value.size() > max_items->get<uint64_t>()) {
      errors.push_back(absl::StrCat(path, ": Too many: ", value.size(),
                                    ": must have at most ",
                                    max_items->get<uint64_t>(), " items"));
      return;
    }
    auto items = schema.find("items");
    if (items != schema.end()) {
      for (size_t i = 0; i < value.size(); ++i) {
        Check(*items, value[i], absl::StrCat(path, "[", i, "]"), errors);
      }
    }
  }
}

}  // namespace

std::vector<std::string> ValidateAndPrune(const json& schema, json& object) {
  std::vector<std::string> errors;
  if (!object.is_object()) return errors;
  // apiVersion, kind and metadata are the server's own business.
  json envelope = json::object();
  for (const char* field : {"apiVersion", "kind", "metadata"}) {
    if (object.contains(field)) {
      envelope[field] = std::move(object[field]);
      object.erase(field);
    }
  }
  json root_schema = schema;
  if (root_schema.is_object()) {
    // The root is an object whose own fields besides those are checked.
    root_schema.erase("required");
    json required = schema.value("required", json::array());
    Check(root_schema, object, "", errors);
    if (required.is_array()) {
      for (const json& field : required) {
        if (field.is_string() && !envelope.contains(field.get<std::string>()) &&
            !object.contains(field.get<std::string>())) {
          errors.push_back(
              absl::StrCat(field.get<std::string>(), ": Required value"));
        }
      }
    }
  }
  for (auto& [field, value] : envelope.items()) object[field] = value;
  return errors;
}

}  // namespace kmesh::sim::kube
