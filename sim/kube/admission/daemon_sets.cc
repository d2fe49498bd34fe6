#include "sim/kube/admission/daemon_sets.h"

#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "sim/kube/admission/field_errors.h"
#include "sim/kube/object_fields.h"
#include "sim/kube/selector.h"
#include "sim/kube/validation.h"

namespace kmesh::sim::kube {
namespace {

using nlohmann::json;

// Go's %#v of a map[string]string: keys sorted, `(nil)` when absent.
std::string GoStringMap(const json& map) {
  if (!map.is_object()) return "map[string]string(nil)";
  std::vector<std::string> pairs;
  for (auto it = map.begin(); it != map.end(); ++it) {  // json sorts keys.
    pairs.push_back(absl::StrCat(
        Quote(it.key()), ":",
        Quote(it->is_string() ? it->get<std::string>() : it->dump())));
  }
  return absl::StrCat("map[string]string{", absl::StrJoin(pairs, ", "), "}");
}

// Go's %#v of a metav1.LabelSelector.
std::string GoLabelSelector(const json& selector) {
  std::string expressions = "[]v1.LabelSelectorRequirement(nil)";
  const json& exprs = At(selector, "matchExpressions");
  if (exprs.is_array()) {
    std::vector<std::string> items;
    for (const json& e : exprs) {
      items.push_back(absl::StrCat(
          "v1.LabelSelectorRequirement{Key:", Quote(StringAt(e, "key")),
          ", Operator:", Quote(StringAt(e, "operator")),
          ", Values:", GoStringList(At(e, "values")), "}"));
    }
    expressions = absl::StrCat("[]v1.LabelSelectorRequirement{",
                               absl::StrJoin(items, ", "), "}");
  }
  return absl::StrCat(
      "v1.LabelSelector{MatchLabels:", GoStringMap(At(selector, "matchLabels")),
      ", MatchExpressions:", expressions, "}");
}

// ValidateLabelSelector; returns the selector in label-selector syntax when
// it is well formed (so it can be matched), or nothing.
bool ValidateSelector(const json& selector, const std::string& path,
                      FieldErrors& errors, std::string* text) {
  std::vector<std::string> requirements;
  bool well_formed = true;
  const json& labels = At(selector, "matchLabels");
  if (labels.is_object()) {
    for (auto it = labels.begin(); it != labels.end(); ++it) {
      std::string value = it->is_string() ? it->get<std::string>() : "";
      if (std::string why = LabelKeyError(it.key()); !why.empty()) {
        errors.Invalid(path + ".matchLabels", Quote(it.key()), why);
        well_formed = false;
      }
      if (std::string why = LabelValueError(value); !why.empty()) {
        errors.Invalid(path + ".matchLabels", Quote(value), why);
        well_formed = false;
      }
      requirements.push_back(absl::StrCat(it.key(), "=", value));
    }
  }
  const json& expressions = At(selector, "matchExpressions");
  if (expressions.is_array()) {
    for (size_t i = 0; i < expressions.size(); ++i) {
      const json& e = expressions[i];
      std::string at = Index(path + ".matchExpressions", i);
      std::string key = StringAt(e, "key");
      std::string op = StringAt(e, "operator");
      const json& values = At(e, "values");
      size_t count = values.is_array() ? values.size() : 0;
      std::vector<std::string> value_texts;
      for (size_t v = 0; v < count; ++v) {
        value_texts.push_back(
            values[v].is_string() ? values[v].get<std::string>() : "");
      }
      if (op == "In" || op == "NotIn") {
        if (count == 0) {
          errors.Required(at + ".values",
                          "must be specified when `operator` is 'In' or "
                          "'NotIn'");
          well_formed = false;
        }
        requirements.push_back(
            absl::StrCat(key, op == "In" ? " in (" : " notin (",
                         absl::StrJoin(value_texts, ","), ")"));
      } else if (op == "Exists" || op == "DoesNotExist") {
        if (count > 0) {
          errors.Forbidden(at + ".values",
                           "may not be specified when `operator` is 'Exists' "
                           "or 'DoesNotExist'");
          well_formed = false;
        }
        requirements.push_back(op == "Exists" ? key : "!" + key);
      } else {
        errors.Invalid(at + ".operator", Quote(op),
                       "not a valid selector operator");
        well_formed = false;
      }
      if (std::string why = LabelKeyError(key); !why.empty()) {
        errors.Invalid(at + ".key", Quote(key), why);
        well_formed = false;
      }
    }
  }
  *text = absl::StrJoin(requirements, ",");
  return well_formed;
}

bool IsSelectorEmpty(const json& selector) {
  const json& labels = At(selector, "matchLabels");
  const json& expressions = At(selector, "matchExpressions");
  return (!labels.is_object() || labels.empty()) &&
         (!expressions.is_array() || expressions.empty());
}

void ValidateContainers(const json& containers,
                        const std::set<std::string>& volumes,
                        const std::string& path, bool required,
                        FieldErrors& errors) {
  if (!containers.is_array() || containers.empty()) {
    if (required) errors.Required(path);
    return;
  }
  std::set<std::string> names;
  for (size_t i = 0; i < containers.size(); ++i) {
    const json& c = containers[i];
    std::string at = Index(path, i);
    std::string name = StringAt(c, "name");
    if (name.empty()) {
      errors.Required(at + ".name");
    } else if (std::string why = Dns1123LabelError(name); !why.empty()) {
      errors.Invalid(at + ".name", Quote(name), why);
    } else if (!names.insert(name).second) {
      errors.Duplicate(at + ".name", name);
    }
    if (StringAt(c, "image").empty()) errors.Required(at + ".image");
    const json& env = At(c, "env");
    if (env.is_array()) {
      for (size_t e = 0; e < env.size(); ++e) {
        std::string env_at = Index(at + ".env", e);
        if (StringAt(env[e], "name").empty()) errors.Required(env_at + ".name");
        const json& field_ref = At(At(env[e], "valueFrom"), "fieldRef");
        if (field_ref.is_object() && StringAt(field_ref, "fieldPath").empty()) {
          errors.Required(env_at + ".valueFrom.fieldRef.fieldPath");
        }
      }
    }
    const json& mounts = At(c, "volumeMounts");
    if (mounts.is_array()) {
      std::set<std::string> paths;
      for (size_t m = 0; m < mounts.size(); ++m) {
        std::string mount_at = Index(at + ".volumeMounts", m);
        std::string volume = StringAt(mounts[m], "name");
        std::string mount_path = StringAt(mounts[m], "mountPath");
        if (volume.empty()) {
          errors.Required(mount_at + ".name");
        } else if (!volumes.count(volume)) {
          errors.NotFound(mount_at + ".name", volume);
        }
        if (mount_path.empty()) {
          errors.Required(mount_at + ".mountPath");
        } else if (!paths.insert(mount_path).second) {
          errors.Invalid(mount_at + ".mountPath", Quote(mount_path),
                         "must be unique");
        }
      }
    }
  }
}

// ValidatePodTemplateSpec, for what a DaemonSet's template carries.
void ValidatePodTemplate(const json& tmpl, const std::string& path,
                         FieldErrors& errors) {
  const json& spec = At(tmpl, "spec");
  const std::string spec_path = path + ".spec";
  std::set<std::string> volumes;
  const json& volume_list = At(spec, "volumes");
  if (volume_list.is_array()) {
    for (size_t i = 0; i < volume_list.size(); ++i) {
      const json& v = volume_list[i];
      std::string at = Index(spec_path + ".volumes", i);
      std::string name = StringAt(v, "name");
      if (name.empty()) {
        errors.Required(at + ".name");
      } else if (std::string why = Dns1123LabelError(name); !why.empty()) {
        errors.Invalid(at + ".name", Quote(name), why);
      } else if (!volumes.insert(name).second) {
        errors.Duplicate(at + ".name", name);
      }
      const json& secret = At(v, "secret");
      if (secret.is_object() && StringAt(secret, "secretName").empty()) {
        errors.Required(at + ".secret.secretName");
      }
      const json& host_path = At(v, "hostPath");
      if (host_path.is_object() && StringAt(host_path, "path").empty()) {
        errors.Required(at + ".hostPath.path");
      }
    }
  }
  ValidateContainers(At(spec, "initContainers"), volumes,
                     spec_path + ".initContainers", false, errors);
  ValidateContainers(At(spec, "containers"), volumes, spec_path + ".containers",
                     true, errors);
  std::string account = StringAt(spec, "serviceAccountName");
  if (!account.empty()) {
    if (std::string why = Dns1123SubdomainError(account); !why.empty()) {
      errors.Invalid(spec_path + ".serviceAccountName", Quote(account), why);
    }
  }
  const json& labels = At(At(tmpl, "metadata"), "labels");
  if (labels.is_object()) {
    for (auto it = labels.begin(); it != labels.end(); ++it) {
      if (std::string why = LabelKeyError(it.key()); !why.empty()) {
        errors.Invalid(path + ".metadata.labels", Quote(it.key()), why);
      }
    }
  }
}

void DefaultContainers(json& containers) {
  if (!containers.is_array()) return;
  for (json& c : containers) {
    if (!c.is_object()) continue;
    if (!c.contains("terminationMessagePath")) {
      c["terminationMessagePath"] = "/dev/termination-log";
    }
    if (!c.contains("terminationMessagePolicy")) {
      c["terminationMessagePolicy"] = "File";
    }
    if (!c.contains("imagePullPolicy")) {
      // Always for `:latest` or an untagged image, else IfNotPresent.
      std::string image = StringAt(c, "image");
      std::string last = image.substr(
          image.rfind('/') == std::string::npos ? 0 : image.rfind('/') + 1);
      bool latest = last.find(':') == std::string::npos ||
                    last.substr(last.find(':')) == ":latest";
      if (image.find('@') != std::string::npos) latest = false;
      c["imagePullPolicy"] = latest ? "Always" : "IfNotPresent";
    }
    if (c.contains("env") && c["env"].is_array()) {
      for (json& env : c["env"]) {
        json* field_ref = nullptr;
        if (env.is_object() && env.contains("valueFrom") &&
            env["valueFrom"].is_object() &&
            env["valueFrom"].contains("fieldRef") &&
            env["valueFrom"]["fieldRef"].is_object()) {
          field_ref = &env["valueFrom"]["fieldRef"];
        }
        if (field_ref && !field_ref->contains("apiVersion")) {
          (*field_ref)["apiVersion"] = "v1";
        }
      }
    }
  }
}

}  // namespace

void DefaultDaemonSet(json& ds, const json& old) {
  json& spec = ds["spec"];
  if (!spec.is_object()) spec = json::object();
  if (!spec.contains("revisionHistoryLimit")) spec["revisionHistoryLimit"] = 10;
  json& strategy = spec["updateStrategy"];
  if (!strategy.is_object()) strategy = json::object();
  if (!strategy.contains("type")) strategy["type"] = "RollingUpdate";
  if (strategy["type"] == "RollingUpdate") {
    json& rolling = strategy["rollingUpdate"];
    if (!rolling.is_object()) rolling = json::object();
    if (!rolling.contains("maxUnavailable")) rolling["maxUnavailable"] = 1;
    if (!rolling.contains("maxSurge")) rolling["maxSurge"] = 0;
  }
  json& tmpl = spec["template"];
  if (!tmpl.is_object()) tmpl = json::object();
  json& pod = tmpl["spec"];
  if (!pod.is_object()) pod = json::object();
  if (!pod.contains("restartPolicy")) pod["restartPolicy"] = "Always";
  if (!pod.contains("dnsPolicy")) pod["dnsPolicy"] = "ClusterFirst";
  if (!pod.contains("schedulerName"))
    pod["schedulerName"] = "default-scheduler";
  if (!pod.contains("terminationGracePeriodSeconds")) {
    pod["terminationGracePeriodSeconds"] = 30;
  }
  if (!pod.contains("securityContext")) pod["securityContext"] = json::object();
  if (pod.contains("serviceAccountName") && !pod.contains("serviceAccount")) {
    pod["serviceAccount"] = pod["serviceAccountName"];  // The deprecated alias.
  }
  if (pod.contains("containers")) DefaultContainers(pod["containers"]);
  if (pod.contains("initContainers")) DefaultContainers(pod["initContainers"]);
  if (pod.contains("volumes") && pod["volumes"].is_array()) {
    for (json& v : pod["volumes"]) {
      if (v.is_object() && v.contains("secret") && v["secret"].is_object() &&
          !v["secret"].contains("defaultMode")) {
        v["secret"]["defaultMode"] = 420;  // 0644
      }
    }
  }
  // Status belongs to the controller: zero on create, kept on update.
  if (old.is_object() && old.contains("status")) {
    ds["status"] = old["status"];
  } else {
    ds["status"] = {{"currentNumberScheduled", 0},
                    {"numberMisscheduled", 0},
                    {"desiredNumberScheduled", 0},
                    {"numberReady", 0}};
  }
}

std::vector<std::string> ValidateDaemonSet(const json& ds) {
  FieldErrors errors;
  const json& spec = At(ds, "spec");
  const json& selector = At(spec, "selector");
  const json& tmpl = At(spec, "template");
  const json& labels = At(At(tmpl, "metadata"), "labels");
  std::string selector_text;
  bool well_formed =
      ValidateSelector(selector, "spec.selector", errors, &selector_text);
  // A missing selector selects nothing (metav1.LabelSelectorAsSelector).
  if (well_formed) {
    bool matches = false;
    if (selector.is_object()) {
      absl::StatusOr<LabelSelector> parsed =
          LabelSelector::Parse(selector_text);
      matches = parsed.ok() && parsed->Matches(labels);
    }
    if (!matches) {
      errors.Invalid("spec.template.metadata.labels", GoStringMap(labels),
                     "`selector` does not match template `labels`");
    }
  }
  if (selector.is_object() && IsSelectorEmpty(selector)) {
    errors.Invalid("spec.selector", GoLabelSelector(selector),
                   "empty selector is invalid for daemonset");
  }
  ValidatePodTemplate(tmpl, "spec.template", errors);
  std::string restart = StringAt(At(tmpl, "spec"), "restartPolicy");
  if (restart != "Always") {
    errors.NotSupported("spec.template.spec.restartPolicy", restart,
                        {"Always"});
  }
  const json& strategy = At(spec, "updateStrategy");
  std::string type = StringAt(strategy, "type");
  if (type != "RollingUpdate" && type != "OnDelete") {
    errors.NotSupported("spec.updateStrategy.type", type,
                        {"OnDelete", "RollingUpdate"});
  }
  return errors.Take();
}

std::vector<std::string> ValidateDaemonSetUpdate(const json& ds,
                                                 const json& old) {
  FieldErrors errors;
  const json& selector = At(At(ds, "spec"), "selector");
  if (selector != At(At(old, "spec"), "selector")) {
    errors.Invalid("spec.selector", GoLabelSelector(selector),
                   "field is immutable");
  }
  return errors.Take();
}

KindAdmission DaemonSetAdmission() {
  KindAdmission admission;
  admission.admit = [](const ResourceType&, json& ds,
                       std::vector<std::string>& errors) {
    DefaultDaemonSet(ds, nullptr);
    std::vector<std::string> more = ValidateDaemonSet(ds);
    errors.insert(errors.end(), more.begin(), more.end());
    return absl::OkStatus();
  };
  admission.admit_update = [](json& ds, const json& current) {
    DefaultDaemonSet(ds, current);
    return ValidateDaemonSetUpdate(ds, current);
  };
  return admission;
}

}  // namespace kmesh::sim::kube
