#include "sim/kube/selectable_fields.h"

#include <algorithm>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "sim/kube/object_fields.h"

namespace kmesh::sim::kube {
namespace {

using nlohmann::json;

enum class Kind { kPod, kNode, kNamespace, kSecret, kCustom, kOther };

Kind KindOf(const ResourceType& type) {
  if (type.group.empty()) {
    if (type.plural == "pods") return Kind::kPod;
    if (type.plural == "nodes") return Kind::kNode;
    if (type.plural == "namespaces") return Kind::kNamespace;
    if (type.plural == "secrets") return Kind::kSecret;
    return Kind::kOther;
  }
  if (type.group == kAppsGroup || type.group == kRbacGroup ||
      type.group == kApiExtensionsGroup) {
    return Kind::kOther;
  }
  return Kind::kCustom;  // Served by a CRD (kmesh.net among them).
}

bool Contains(const std::vector<std::string>& list, const std::string& item) {
  return std::find(list.begin(), list.end(), item) != list.end();
}

absl::Status NotSupported(const std::string& label) {
  return absl::InvalidArgumentError(
      absl::StrCat("field label not supported: ", label));
}

// A JSON scalar as Go formats it for a field set.
std::string Scalar(const json& value) {
  if (value.is_string()) return value.get<std::string>();
  if (value.is_null()) return "";
  if (value.is_boolean()) return value.get<bool>() ? "true" : "false";
  return value.dump();
}

const json& AtPath(const json& object, const std::string& path) {
  static const json* const kNull = new json();
  const json* node = &object;
  for (absl::string_view part : absl::StrSplit(path, '.')) {
    if (!node->is_object()) return *kNull;
    auto it = node->find(std::string(part));
    if (it == node->end()) return *kNull;
    node = &*it;
  }
  return *node;
}

}  // namespace

absl::StatusOr<std::string> ConvertFieldLabel(const ResourceType& type,
                                              const std::string& label) {
  switch (KindOf(type)) {
    case Kind::kPod:
      if (label == "spec.host") return std::string("spec.nodeName");
      if (Contains(
              {"metadata.name", "metadata.namespace", "spec.nodeName",
               "spec.restartPolicy", "spec.schedulerName",
               "spec.serviceAccountName", "spec.hostNetwork", "status.phase",
               "status.podIP", "status.podIPs", "status.nominatedNodeName"},
              label)) {
        return label;
      }
      return NotSupported(label);
    case Kind::kNode:
      if (label == "metadata.name" || label == "spec.unschedulable") {
        return label;
      }
      return NotSupported(label);
    case Kind::kNamespace:
      if (label == "status.phase" || label == "metadata.name") return label;
      return NotSupported(label);
    case Kind::kSecret:
      if (label == "type" || label == "metadata.namespace" ||
          label == "metadata.name") {
        return label;
      }
      return NotSupported(label);
    case Kind::kCustom:
      if (label == "metadata.name" ||
          (type.namespaced && label == "metadata.namespace") ||
          Contains(type.extra_field_selectors, label)) {
        return label;
      }
      return NotSupported(label);
    case Kind::kOther:
      if (label == "metadata.name" || label == "metadata.namespace") {
        return label;
      }
      return absl::InvalidArgumentError(
          absl::StrCat("\"", label,
                       "\" is not a known field selector: only "
                       "\"metadata.name\", \"metadata.namespace\""));
  }
  return NotSupported(label);
}

std::string SelectableFieldValue(const ResourceType& type, const json& object,
                                 const std::string& label) {
  const json& metadata = MetadataOf(object);
  if (label == "metadata.name") return StringAt(metadata, "name");
  if (label == "metadata.namespace") {
    return type.namespaced ? StringAt(metadata, "namespace") : "";
  }
  const json& spec = At(object, "spec");
  const json& status = At(object, "status");
  switch (KindOf(type)) {
    case Kind::kPod:
      if (label == "spec.hostNetwork") {
        const json& host_network = At(spec, "hostNetwork");
        return host_network.is_boolean() && host_network.get<bool>() ? "true"
                                                                     : "false";
      }
      if (label == "status.podIP") {
        // The first of podIPs (v1 conversion fills podIPs from podIP).
        const json& ips = At(status, "podIPs");
        if (ips.is_array() && !ips.empty()) return StringAt(ips[0], "ip");
        return StringAt(status, "podIP");
      }
      if (label == "spec.nodeName" || label == "spec.restartPolicy" ||
          label == "spec.schedulerName" || label == "spec.serviceAccountName") {
        return StringAt(spec, label.substr(5).c_str());
      }
      if (label == "status.phase" || label == "status.nominatedNodeName") {
        return StringAt(status, label.substr(7).c_str());
      }
      return "";  // status.podIPs: accepted, but not a selectable field.
    case Kind::kNode:
      if (label == "spec.unschedulable") {
        const json& unschedulable = At(spec, "unschedulable");
        return unschedulable.is_boolean() && unschedulable.get<bool>()
                   ? "true"
                   : "false";
      }
      return "";
    case Kind::kNamespace:
      return label == "status.phase" ? StringAt(status, "phase") : "";
    case Kind::kSecret:
      return label == "type" ? StringAt(object, "type") : "";
    case Kind::kCustom:
      return Scalar(AtPath(object, label));
    case Kind::kOther:
      return "";
  }
  return "";
}

absl::StatusOr<FieldSelector> ParseFieldSelector(const ResourceType& type,
                                                 const std::string& text) {
  return FieldSelector::Parse(
      text,
      [&type](const std::string& label) {
        return ConvertFieldLabel(type, label);
      },
      [type](const json& object, const std::string& label) {
        return SelectableFieldValue(type, object, label);
      });
}

}  // namespace kmesh::sim::kube
