#include "sim/kube/admission/rbac.h"

#include "absl/strings/str_cat.h"
#include "sim/kube/admission/field_errors.h"
#include "sim/kube/object_fields.h"
#include "sim/kube/resource_types.h"
#include "sim/kube/validation.h"

namespace kmesh::sim::kube {

using nlohmann::json;

std::string RbacNameError(const std::string& name) {
  if (name == ".") return "may not be '.'";
  if (name == "..") return "may not be '..'";
  if (name.find('/') != std::string::npos) return "may not contain '/'";
  if (name.find('%') != std::string::npos) return "may not contain '%'";
  return "";
}

std::vector<std::string> ValidateRole(const json& role, bool namespaced) {
  FieldErrors errors;
  const json& rules = At(role, "rules");
  if (!rules.is_array()) return errors.Take();
  for (size_t i = 0; i < rules.size(); ++i) {
    const json& rule = rules[i];
    std::string at = Index("rules", i);
    auto count = [&](const char* field) {
      const json& list = At(rule, field);
      return list.is_array() ? list.size() : 0;
    };
    if (count("verbs") == 0) {
      errors.Required(at + ".verbs", "verbs must contain at least one value");
    }
    if (count("nonResourceURLs") > 0) {
      std::string urls = GoStringList(At(rule, "nonResourceURLs"));
      if (namespaced) {
        errors.Invalid(at + ".nonResourceURLs", urls,
                       "namespaced rules cannot apply to non-resource URLs");
      }
      if (count("apiGroups") > 0 || count("resources") > 0 ||
          count("resourceNames") > 0) {
        errors.Invalid(at + ".nonResourceURLs", urls,
                       "rules cannot apply to both regular resources and "
                       "non-resource URLs");
      }
      continue;
    }
    if (count("apiGroups") == 0) {
      errors.Required(at + ".apiGroups",
                      "resource rules must supply at least one api group");
    }
    if (count("resources") == 0) {
      errors.Required(at + ".resources",
                      "resource rules must supply at least one resource");
    }
  }
  return errors.Take();
}

void DefaultRoleBinding(json& binding) {
  json& role_ref = binding["roleRef"];
  if (!role_ref.is_object()) role_ref = json::object();
  if (StringAt(role_ref, "apiGroup").empty()) role_ref["apiGroup"] = kRbacGroup;
  json& subjects = binding["subjects"];
  if (!subjects.is_array()) {
    binding.erase("subjects");
    return;
  }
  for (json& subject : subjects) {
    if (!subject.is_object()) continue;
    std::string kind = StringAt(subject, "kind");
    if ((kind == "User" || kind == "Group") && !subject.contains("apiGroup")) {
      subject["apiGroup"] = kRbacGroup;
    }
  }
}

std::vector<std::string> ValidateRoleBinding(const json& binding,
                                             bool namespaced) {
  FieldErrors errors;
  const json& role_ref = At(binding, "roleRef");
  std::string group = StringAt(role_ref, "apiGroup");
  if (group != kRbacGroup) {
    errors.NotSupported("roleRef.apiGroup", group, {kRbacGroup});
  }
  std::string kind = StringAt(role_ref, "kind");
  if (namespaced && kind != "Role" && kind != "ClusterRole") {
    errors.NotSupported("roleRef.kind", kind, {"Role", "ClusterRole"});
  } else if (!namespaced && kind != "ClusterRole") {
    errors.NotSupported("roleRef.kind", kind, {"ClusterRole"});
  }
  std::string name = StringAt(role_ref, "name");
  if (name.empty()) {
    errors.Required("roleRef.name");
  } else if (std::string why = RbacNameError(name); !why.empty()) {
    errors.Invalid("roleRef.name", Quote(name), why);
  }
  const json& subjects = At(binding, "subjects");
  if (subjects.is_array()) {
    for (size_t i = 0; i < subjects.size(); ++i) {
      const json& subject = subjects[i];
      std::string at = Index("subjects", i);
      std::string subject_name = StringAt(subject, "name");
      std::string subject_kind = StringAt(subject, "kind");
      std::string subject_group = StringAt(subject, "apiGroup");
      if (subject_name.empty()) errors.Required(at + ".name");
      if (subject_kind == "ServiceAccount") {
        if (!subject_name.empty()) {
          if (std::string why = Dns1123SubdomainError(subject_name);
              !why.empty()) {
            errors.Invalid(at + ".name", Quote(subject_name), why);
          }
        }
        if (!subject_group.empty()) {
          errors.NotSupported(at + ".apiGroup", subject_group, {""});
        }
        if (!namespaced && StringAt(subject, "namespace").empty()) {
          errors.Required(at + ".namespace");
        }
      } else if (subject_kind == "User" || subject_kind == "Group") {
        if (subject_group != kRbacGroup) {
          errors.NotSupported(at + ".apiGroup", subject_group, {kRbacGroup});
        }
      } else {
        errors.NotSupported(at + ".kind", subject_kind,
                            {"ServiceAccount", "User", "Group"});
      }
    }
  }
  return errors.Take();
}

std::vector<std::string> ValidateRoleBindingUpdate(const json& binding,
                                                   const json& old) {
  FieldErrors errors;
  const json& role_ref = At(binding, "roleRef");
  const json& old_ref = At(old, "roleRef");
  auto field = [](const json& ref, const char* name) {
    return StringAt(ref, name);
  };
  if (field(role_ref, "apiGroup") != field(old_ref, "apiGroup") ||
      field(role_ref, "kind") != field(old_ref, "kind") ||
      field(role_ref, "name") != field(old_ref, "name")) {
    errors.Invalid("roleRef",
                   absl::StrCat("rbac.RoleRef{APIGroup:",
                                Quote(field(role_ref, "apiGroup")),
                                ", Kind:", Quote(field(role_ref, "kind")),
                                ", Name:", Quote(field(role_ref, "name")), "}"),
                   "cannot change roleRef");
  }
  return errors.Take();
}

KindAdmission RoleAdmission() {
  KindAdmission admission;
  admission.name_error = RbacNameError;
  admission.admit = [](const ResourceType& type, json& role,
                       std::vector<std::string>& errors) {
    std::vector<std::string> more = ValidateRole(role, type.namespaced);
    errors.insert(errors.end(), more.begin(), more.end());
    return absl::OkStatus();
  };
  return admission;
}

KindAdmission RoleBindingAdmission() {
  KindAdmission admission;
  admission.name_error = RbacNameError;
  admission.admit = [](const ResourceType& type, json& binding,
                       std::vector<std::string>& errors) {
    DefaultRoleBinding(binding);
    std::vector<std::string> more =
        ValidateRoleBinding(binding, type.namespaced);
    errors.insert(errors.end(), more.begin(), more.end());
    return absl::OkStatus();
  };
  admission.admit_update = [](json& binding, const json& current) {
    return ValidateRoleBindingUpdate(binding, current);
  };
  return admission;
}

}  // namespace kmesh::sim::kube
