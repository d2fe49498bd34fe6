// Field selectors per resource type, as the real API server has them: which
// labels each type's field label conversion accepts (pkg/apis/core/v1
// conversion.go for pods, nodes, namespaces and secrets; the default
// metadata.name/metadata.namespace conversion for other built-in types; the
// custom resource converter, with a CRD's selectableFields, for custom
// resources) and the value each label has for an object (the registry's
// ToSelectableFields: pods' spec.hostNetwork is "false" when unset,
// status.podIP is the first of status.podIPs, nodes' spec.unschedulable is
// "true" or "false"). An unsupported label is the real 400 text.
#ifndef SIM_KUBE_SELECTABLE_FIELDS_H_
#define SIM_KUBE_SELECTABLE_FIELDS_H_

#include <string>

#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"
#include "sim/kube/resource_types.h"
#include "sim/kube/selector.h"

namespace kmesh::sim::kube {

// The label `type` selects on for `label` (pods' "spec.host" is
// "spec.nodeName"), or InvalidArgument with the real server's message:
// "field label not supported: X", or for types with the default conversion
// `"X" is not a known field selector: only "metadata.name",
// "metadata.namespace"`.
absl::StatusOr<std::string> ConvertFieldLabel(const ResourceType& type,
                                              const std::string& label);

// The value of the (converted) `label` for `object` of `type`; "" when it
// has none.
std::string SelectableFieldValue(const ResourceType& type,
                                 const nlohmann::json& object,
                                 const std::string& label);

// A field selector for `type`.
absl::StatusOr<FieldSelector> ParseFieldSelector(const ResourceType& type,
                                                 const std::string& text);

}  // namespace kmesh::sim::kube

#endif  // SIM_KUBE_SELECTABLE_FIELDS_H_
