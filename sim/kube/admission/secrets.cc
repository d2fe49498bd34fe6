#include "sim/kube/admission/secrets.h"

#include <cctype>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "sim/kube/api_error.h"
#include "sim/kube/object_fields.h"

namespace kmesh::sim::kube {
namespace {

using nlohmann::json;

// Go's base64.StdEncoding: padded, standard alphabet.
bool IsStdBase64(const std::string& s) {
  if (s.size() % 4 != 0) return false;
  size_t padding = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (c == '=') {
      ++padding;
      if (i < s.size() - 2) return false;
    } else if (padding > 0 || !(std::isalnum(static_cast<unsigned char>(c)) ||
                                c == '+' || c == '/')) {
      return false;
    }
  }
  return padding <= 2;
}

}  // namespace

absl::Status AdmitSecret(json& secret) {
  auto string_data = secret.find("stringData");
  if (string_data != secret.end()) {
    if (!string_data->is_object() && !string_data->is_null()) {
      return BadRequest(
          "Secret in version \"v1\" cannot be handled as a "
          "Secret: stringData must be an object of strings");
    }
    if (string_data->is_object()) {
      json& data = secret["data"];
      if (!data.is_object()) data = json::object();
      for (auto it = string_data->begin(); it != string_data->end(); ++it) {
        if (!it->is_string()) {
          return BadRequest(
              "Secret in version \"v1\" cannot be handled as a "
              "Secret: stringData values must be strings");
        }
        data[it.key()] = absl::Base64Escape(it->get<std::string>());
      }
    }
    secret.erase("stringData");
  }
  auto data = secret.find("data");
  if (data != secret.end() && !data->is_null()) {
    if (!data->is_object()) {
      return BadRequest(
          "Secret in version \"v1\" cannot be handled as a "
          "Secret: data must be an object");
    }
    for (auto it = data->begin(); it != data->end(); ++it) {
      if (!it->is_string() || !IsStdBase64(it->get<std::string>())) {
        return BadRequest(absl::StrCat(
            "Secret in version \"v1\" cannot be handled as a Secret: illegal "
            "base64 data in data[\"",
            it.key(), "\"]"));
      }
    }
  }
  if (StringAt(secret, "type").empty()) secret["type"] = "Opaque";
  return absl::OkStatus();
}

KindAdmission SecretAdmission() {
  KindAdmission admission;
  admission.admit = [](const ResourceType&, json& secret,
                       std::vector<std::string>&) {
    return AdmitSecret(secret);
  };
  return admission;
}

}  // namespace kmesh::sim::kube
