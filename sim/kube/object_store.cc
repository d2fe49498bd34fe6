#include "sim/kube/object_store.h"

#include <time.h>

#include <algorithm>
#include <cctype>
#include <mutex>
#include <random>

#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "sim/kube/api_error.h"
#include "sim/kube/apps_rbac_admission.h"
#include "sim/kube/crd_schema.h"
#include "sim/kube/validation.h"

namespace kmesh::sim::kube {
namespace {

using nlohmann::json;

constexpr char kCrdGroup[] = "apiextensions.k8s.io";
constexpr char kAppsGroup[] = "apps";
constexpr char kRbacGroup[] = "rbac.authorization.k8s.io";
const char* const kUndeletableNamespaces[] = {"default", "kube-system",
                                              "kube-public"};

std::string Rfc3339(std::chrono::system_clock::time_point t) {
  time_t seconds = std::chrono::system_clock::to_time_t(t);
  struct tm utc;
  gmtime_r(&seconds, &utc);
  char text[32];
  strftime(text, sizeof(text), "%Y-%m-%dT%H:%M:%SZ", &utc);
  return text;
}

std::string RandomUid() {
  static std::mutex mu;
  static std::mt19937_64 rng{std::random_device{}()};
  std::lock_guard<std::mutex> lock(mu);
  uint64_t a = rng(), b = rng();
  // Version 4, variant 10.
  a = (a & ~0xf000ULL) | 0x4000ULL;
  b = (b & ~(3ULL << 62)) | (2ULL << 62);
  return absl::StrFormat("%08x-%04x-%04x-%04x-%012x", a >> 32,
                         (a >> 16) & 0xffff, a & 0xffff, b >> 48,
                         b & 0xffffffffffffULL);
}

std::string RandomNameSuffix() {
  // The alphabet apimachinery's rand.String uses: no vowels, no 0/1/3.
  static const char kAlphabet[] = "bcdfghjklmnpqrstvwxz2456789";
  static std::mutex mu;
  static std::mt19937 rng{std::random_device{}()};
  std::lock_guard<std::mutex> lock(mu);
  std::string suffix;
  for (int i = 0; i < 5; ++i) suffix += kAlphabet[rng() % 27];
  return suffix;
}

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

std::string StringField(const json& object, const char* field) {
  auto it = object.find(field);
  return it != object.end() && it->is_string() ? it->get<std::string>() : "";
}

json& Metadata(json& object) {
  json& metadata = object["metadata"];
  if (!metadata.is_object()) metadata = json::object();
  return metadata;
}

const json& MetadataOf(const json& object) {
  static const json* empty = new json(json::object());
  auto it = object.find("metadata");
  return it != object.end() && it->is_object() ? *it : *empty;
}

// metadata.labels, or null; without copying them.
const json& LabelsOf(const json& object) {
  static const json* none = new json();
  const json& metadata = MetadataOf(object);
  auto it = metadata.find("labels");
  return it != metadata.end() ? *it : *none;
}

// Secrets: stringData is write-only and merges into data; data values are
// base64; the type defaults to Opaque.
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
  if (StringField(secret, "type").empty()) secret["type"] = "Opaque";
  return absl::OkStatus();
}

void AdmitNamespace(json& ns) {
  json& metadata = Metadata(ns);
  json& labels = metadata["labels"];
  if (!labels.is_object()) labels = json::object();
  labels["kubernetes.io/metadata.name"] = metadata["name"];
  if (!ns["spec"].is_object()) ns["spec"] = json::object();
  if (!ns["spec"].contains("finalizers")) {
    ns["spec"]["finalizers"] = json::array({"kubernetes"});
  }
  ns["status"] = {{"phase", "Active"}};
}

absl::Status AdmitCrd(json& crd) {
  const std::string name = StringField(MetadataOf(crd), "name");
  const json& spec = crd.value("spec", json::object());
  std::string group = StringField(spec, "group");
  const json& names = spec.value("names", json::object());
  std::string plural = StringField(names, "plural");
  std::string kind = StringField(names, "kind");
  std::string scope = StringField(spec, "scope");
  std::vector<std::string> errors;
  if (group.empty()) errors.push_back("spec.group: Required value");
  if (plural.empty()) errors.push_back("spec.names.plural: Required value");
  if (kind.empty()) errors.push_back("spec.names.kind: Required value");
  if (scope != "Namespaced" && scope != "Cluster") {
    errors.push_back(
        absl::StrCat("spec.scope: Unsupported value: \"", scope,
                     "\": supported values: \"Cluster\", \"Namespaced\""));
  }
  if (name != absl::StrCat(plural, ".", group)) {
    errors.push_back(absl::StrCat("metadata.name: Invalid value: \"", name,
                                  "\": must be spec.names.plural+\".\"+"
                                  "spec.group"));
  }
  const json& versions = spec.value("versions", json::array());
  if (!versions.is_array() || versions.empty()) {
    errors.push_back(
        "spec.versions: Invalid value: must have exactly one "
        "version marked as storage version");
  }
  if (!errors.empty()) {
    return Invalid("CustomResourceDefinition.apiextensions.k8s.io", name,
                   absl::StrJoin(errors, ", "));
  }
  json stored_versions = json::array();
  for (const json& version : versions) {
    if (version.value("storage", false)) {
      stored_versions.push_back(version.value("name", ""));
    }
  }
  json condition_names = names;
  if (!condition_names.contains("singular")) {
    std::string singular = kind;
    std::transform(singular.begin(), singular.end(), singular.begin(),
                   ::tolower);
    condition_names["singular"] = singular;
  }
  crd["status"] = {
      {"acceptedNames", condition_names},
      {"conditions",
       json::array({{{"type", "NamesAccepted"},
                     {"status", "True"},
                     {"reason", "NoConflicts"},
                     {"message", "no conflicts found"}},
                    {{"type", "Established"},
                     {"status", "True"},
                     {"reason", "InitialNamesAccepted"},
                     {"message", "the initial names have been accepted"}}})},
      {"storedVersions", stored_versions},
  };
  return absl::OkStatus();
}

// Everything but metadata.resourceVersion/generation and status, to decide
// whether an update changed anything and whether the generation moves.
json SpecPart(const json& object) {
  json copy = object;
  copy.erase("status");
  copy.erase("metadata");
  return copy;
}

// 422 Invalid with the field errors and causes as the real server sends
// them.
absl::Status InvalidObject(const ResourceType& type, const std::string& name,
                           const std::vector<std::string>& errors) {
  return InvalidWithCauses(type.kind, type.group, name, errors);
}

// What an update may not change, checked against the stored object; also
// keeps server-owned parts (a DaemonSet's status) of `current`.
std::vector<std::string> UpdateRules(const ResourceType& type, json& object,
                                     const json& current) {
  if (type.group == kAppsGroup && type.plural == "daemonsets") {
    DefaultDaemonSet(object, current);
    return ValidateDaemonSetUpdate(object, current);
  }
  if (type.group == kRbacGroup &&
      (type.plural == "rolebindings" || type.plural == "clusterrolebindings")) {
    return ValidateRoleBindingUpdate(object, current);
  }
  return {};
}

}  // namespace

std::string ResourceType::ApiVersion() const {
  return group.empty() ? version : absl::StrCat(group, "/", version);
}
std::string ResourceType::DisplayName() const {
  return group.empty() ? plural : absl::StrCat(plural, ".", group);
}
std::string ResourceType::QualifiedKind() const {
  return group.empty() ? kind : absl::StrCat(kind, ".", group);
}
std::string ResourceType::Key() const {
  return absl::StrCat(group, "/", version, "/", plural);
}

std::vector<ResourceType> BuiltinResourceTypes() {
  return {
      {"",
       "v1",
       "namespaces",
       "namespace",
       "Namespace",
       false,
       {"ns"},
       {"status.phase"}},
      {"",
       "v1",
       "nodes",
       "node",
       "Node",
       false,
       {"no"},
       {"spec.unschedulable"}},
      {"", "v1", "secrets", "secret", "Secret", true, {}, {"type"}},
      {"", "v1", "configmaps", "configmap", "ConfigMap", true, {"cm"}, {}},
      {"",
       "v1",
       "serviceaccounts",
       "serviceaccount",
       "ServiceAccount",
       true,
       {"sa"},
       {}},
      {"",
       "v1",
       "pods",
       "pod",
       "Pod",
       true,
       {"po"},
       {"spec.nodeName", "spec.restartPolicy", "spec.schedulerName",
        "spec.serviceAccountName", "status.phase", "status.podIP",
        "status.nominatedNodeName"}},
      {kCrdGroup,
       "v1",
       "customresourcedefinitions",
       "customresourcedefinition",
       "CustomResourceDefinition",
       false,
       {"crd", "crds"},
       {}},
      {kAppsGroup,
       "v1",
       "daemonsets",
       "daemonset",
       "DaemonSet",
       true,
       {"ds"},
       {}},
      {kRbacGroup, "v1", "roles", "role", "Role", true, {}, {}},
      {kRbacGroup,
       "v1",
       "rolebindings",
       "rolebinding",
       "RoleBinding",
       true,
       {},
       {}},
      {kRbacGroup,
       "v1",
       "clusterroles",
       "clusterrole",
       "ClusterRole",
       false,
       {},
       {}},
      {kRbacGroup,
       "v1",
       "clusterrolebindings",
       "clusterrolebinding",
       "ClusterRoleBinding",
       false,
       {},
       {}},
      {"kmesh.net",
       "v1alpha1",
       "kmeshnodeinfos",
       "kmeshnodeinfo",
       "KmeshNodeInfo",
       true,
       {},
       {}},
  };
}

const std::string& ObjectSnapshot::Serialized() const {
  absl::MutexLock lock(&mu_);
  if (serialized_ == nullptr) {
    serialized_ = std::make_unique<const std::string>(object_.dump());
  }
  return *serialized_;
}

const char* EventTypeName(EventType type) {
  switch (type) {
    case EventType::kAdded:
      return "ADDED";
    case EventType::kModified:
      return "MODIFIED";
    case EventType::kDeleted:
      return "DELETED";
  }
  return "";
}

ObjectStore::ObjectStore(Options options) : options_(std::move(options)) {
  absl::MutexLock lock(&mu_);
  for (ResourceType& type : BuiltinResourceTypes()) {
    types_[type.Key()] = type;
  }
  const ResourceType* namespaces = FindTypeLocked("/v1/namespaces");
  for (const std::string& name : options_.initial_namespaces) {
    json ns = {{"metadata", {{"name", name}}}};
    absl::StatusOr<json> created = CreateLocked(*namespaces, "", ns);
    (void)created;
  }
}

const ResourceType* ObjectStore::FindTypeLocked(const std::string& key) const {
  auto it = types_.find(key);
  return it == types_.end() ? nullptr : &it->second;
}

const ResourceType* ObjectStore::FindType(const std::string& group,
                                          const std::string& version,
                                          const std::string& plural) const {
  absl::MutexLock lock(&mu_);
  // Types are never removed, so the pointer stays valid.
  return FindTypeLocked(absl::StrCat(group, "/", version, "/", plural));
}

std::vector<ResourceType> ObjectStore::Types() const {
  absl::MutexLock lock(&mu_);
  std::vector<ResourceType> types;
  for (const auto& [key, type] : types_) types.push_back(type);
  return types;
}

const json* ObjectStore::FindObject(const ResourceType& type,
                                    const std::string& ns,
                                    const std::string& name) const {
  auto objects = objects_.find(type.Key());
  if (objects == objects_.end()) return nullptr;
  auto it = objects->second.find({type.namespaced ? ns : "", name});
  return it == objects->second.end() ? nullptr : &it->second->json();
}

absl::Status ObjectStore::Admit(const ResourceType& type, const std::string& ns,
                                json& object) const {
  if (!object.is_object()) {
    return BadRequest(
        absl::StrCat("the body of the request was in an unknown "
                     "format - expected a ",
                     type.kind, " object"));
  }
  std::string api_version = StringField(object, "apiVersion");
  std::string kind = StringField(object, "kind");
  if (!api_version.empty() && api_version != type.ApiVersion()) {
    return BadRequest(absl::StrCat("the API version in the data (", api_version,
                                   ") does not match the expected API "
                                   "version (",
                                   type.ApiVersion(), ")"));
  }
  if (!kind.empty() && kind != type.kind) {
    return BadRequest(absl::StrCat(
        type.DisplayName(), " in version \"", type.version,
        "\" cannot be handled as a ", type.kind, ": the kind in the data (",
        kind, ") does not match the expected kind (", type.kind, ")"));
  }
  object["apiVersion"] = type.ApiVersion();
  object["kind"] = type.kind;
  json& metadata = Metadata(object);
  std::string body_ns = StringField(metadata, "namespace");
  if (type.namespaced) {
    if (!body_ns.empty() && body_ns != ns) {
      return BadRequest(
          "the namespace of the provided object does not match the namespace "
          "sent on the request");
    }
    metadata["namespace"] = ns;
  } else {
    metadata.erase("namespace");
  }
  std::string name = StringField(metadata, "name");
  std::vector<std::string> errors;
  if (name.empty()) {
    errors.push_back(
        "metadata.name: Required value: name or generateName is required");
  } else {
    std::string why = type.plural == "namespaces" ? Dns1123LabelError(name)
                      : type.group == kRbacGroup  ? RbacNameError(name)
                                                  : Dns1123SubdomainError(name);
    if (!why.empty()) {
      errors.push_back(
          absl::StrCat("metadata.name: Invalid value: \"", name, "\": ", why));
    }
  }
  auto labels = metadata.find("labels");
  if (labels != metadata.end() && !labels->is_null()) {
    if (!labels->is_object()) {
      return BadRequest("metadata.labels must be an object of strings");
    }
    for (auto it = labels->begin(); it != labels->end(); ++it) {
      if (std::string why = LabelKeyError(it.key()); !why.empty()) {
        errors.push_back(absl::StrCat("metadata.labels: Invalid value: \"",
                                      it.key(), "\": ", why));
      }
      if (!it->is_string()) {
        return BadRequest(absl::StrCat("metadata.labels[\"", it.key(),
                                       "\"] must be a string"));
      }
      if (std::string why = LabelValueError(it->get<std::string>());
          !why.empty()) {
        errors.push_back(absl::StrCat("metadata.labels: Invalid value: \"",
                                      it->get<std::string>(), "\": ", why));
      }
    }
  }
  if (type.group == kCrdGroup && type.plural == "customresourcedefinitions" &&
      errors.empty()) {
    absl::Status crd = AdmitCrd(object);
    if (!crd.ok()) return crd;
  }
  if (type.group.empty() && type.plural == "secrets") {
    absl::Status secret = AdmitSecret(object);
    if (!secret.ok()) return secret;
  }
  if (type.group.empty() && type.plural == "namespaces" && errors.empty()) {
    AdmitNamespace(object);
  }
  if (type.group == kAppsGroup && type.plural == "daemonsets") {
    DefaultDaemonSet(object, nullptr);
    std::vector<std::string> more = ValidateDaemonSet(object);
    errors.insert(errors.end(), more.begin(), more.end());
  }
  if (type.group == kRbacGroup) {
    std::vector<std::string> more;
    if (type.plural == "roles" || type.plural == "clusterroles") {
      more = ValidateRole(object, type.namespaced);
    } else {
      DefaultRoleBinding(object);
      more = ValidateRoleBinding(object, type.namespaced);
    }
    errors.insert(errors.end(), more.begin(), more.end());
  }
  // Custom resources: the stored CRD's schema for this version.
  const json* crd = nullptr;
  if (!type.group.empty() && type.group != kCrdGroup) {
    crd = FindObject(*FindTypeLocked(absl::StrCat(
                         kCrdGroup, "/v1/customresourcedefinitions")),
                     "", absl::StrCat(type.plural, ".", type.group));
  }
  if (crd != nullptr) {
    const json& spec = crd->value("spec", json::object());
    for (const json& version : spec.value("versions", json::array())) {
      if (version.value("name", "") != type.version) continue;
      auto schema = version.find("schema");
      if (schema != version.end() && schema->contains("openAPIV3Schema")) {
        std::vector<std::string> schema_errors =
            ValidateAndPrune((*schema)["openAPIV3Schema"], object);
        errors.insert(errors.end(), schema_errors.begin(), schema_errors.end());
      }
    }
  }
  if (!errors.empty()) return InvalidObject(type, name, errors);
  return absl::OkStatus();
}

std::shared_ptr<const ObjectSnapshot> ObjectStore::Record(
    const ResourceType& type, EventType event_type, json& object,
    std::shared_ptr<const ObjectSnapshot> previous) {
  ++resource_version_;
  Metadata(object)["resourceVersion"] = absl::StrCat(resource_version_);
  auto stored = std::make_shared<const ObjectSnapshot>(object);
  TypeChannel* channel = Channel(type.Key());
  std::string ns = StringField(MetadataOf(object), "namespace");
  for (Watcher* watcher : channel->watchers) {
    if (watcher->waiting_ &&
        (watcher->namespace_.empty() || watcher->namespace_ == ns)) {
      watcher->woken_.Signal();
    }
  }
  history_.push_back(Event{resource_version_, channel, event_type,
                           std::move(ns), stored, std::move(previous)});
  while (history_.size() > std::max<size_t>(options_.history_limit, 1)) {
    compacted_ = history_.front().resource_version;
    history_.pop_front();
  }
  return stored;
}

ObjectStore::TypeChannel* ObjectStore::Channel(const std::string& type_key) {
  std::unique_ptr<TypeChannel>& channel = channels_[type_key];
  if (channel == nullptr) channel = std::make_unique<TypeChannel>();
  return channel.get();
}

absl::StatusOr<json> ObjectStore::Create(const ResourceType& type,
                                         const std::string& ns, json object) {
  absl::MutexLock lock(&mu_);
  return CreateLocked(type, ns, std::move(object));
}

absl::StatusOr<json> ObjectStore::CreateLocked(const ResourceType& type,
                                               const std::string& ns,
                                               json object) {
  if (object.is_object()) {
    json& metadata = Metadata(object);
    std::string generate_name = StringField(metadata, "generateName");
    if (StringField(metadata, "name").empty() && !generate_name.empty()) {
      metadata["name"] = generate_name + RandomNameSuffix();
    }
  }
  if (absl::Status admitted = Admit(type, ns, object); !admitted.ok()) {
    return admitted;
  }
  json& metadata = Metadata(object);
  const std::string name = StringField(metadata, "name");
  if (!StringField(metadata, "resourceVersion").empty()) {
    // What etcd3's store answers (as a 500) when a client creates an object
    // it copied from another one.
    return ApiError(500, "",
                    "resourceVersion should not be set on objects to be "
                    "created");
  }
  if (type.namespaced &&
      FindObject(*FindTypeLocked("/v1/namespaces"), "", ns) == nullptr) {
    return NotFound("namespaces", ns);
  }
  if (FindObject(type, ns, name) != nullptr) {
    return AlreadyExists(type.DisplayName(), name);
  }
  metadata["uid"] = RandomUid();
  metadata["creationTimestamp"] =
      Rfc3339(options_.now ? options_.now() : std::chrono::system_clock::now());
  metadata.erase("deletionTimestamp");
  metadata.erase("generation");
  if (object.contains("spec")) metadata["generation"] = 1;
  objects_[type.Key()][{type.namespaced ? ns : "", name}] =
      Record(type, EventType::kAdded, object, nullptr);
  if (type.group == kCrdGroup) RegisterCrdTypes(object);
  return object;
}

absl::StatusOr<json> ObjectStore::Get(const ResourceType& type,
                                      const std::string& ns,
                                      const std::string& name) const {
  absl::MutexLock lock(&mu_);
  const json* object = FindObject(type, ns, name);
  if (object == nullptr) return NotFound(type.DisplayName(), name);
  return *object;
}

absl::StatusOr<json> ObjectStore::Update(const ResourceType& type,
                                         const std::string& ns,
                                         const std::string& name, json object) {
  absl::MutexLock lock(&mu_);
  return UpdateLocked(type, ns, name, std::move(object));
}

absl::StatusOr<json> ObjectStore::UpdateLocked(const ResourceType& type,
                                               const std::string& ns,
                                               const std::string& name,
                                               json object) {
  if (object.is_object()) {
    std::string body_name = StringField(MetadataOf(object), "name");
    if (body_name.empty()) {
      Metadata(object)["name"] = name;
    } else if (body_name != name) {
      return BadRequest(absl::StrCat("the name of the object (", body_name,
                                     ") does not match the name on the URL (",
                                     name, ")"));
    }
  }
  if (absl::Status admitted = Admit(type, ns, object); !admitted.ok()) {
    return admitted;
  }
  auto objects = objects_.find(type.Key());
  const ObjectKey key{type.namespaced ? ns : "", name};
  if (objects == objects_.end() || !objects->second.count(key)) {
    return NotFound(type.DisplayName(), name);
  }
  std::shared_ptr<const ObjectSnapshot>& stored = objects->second[key];
  const json& current = stored->json();
  const json& current_meta = MetadataOf(current);
  json& metadata = Metadata(object);
  std::string wanted = StringField(metadata, "resourceVersion");
  std::string have = StringField(current_meta, "resourceVersion");
  if (!wanted.empty() && wanted != have) {
    return Conflict(type.DisplayName(), name,
                    "the object has been modified; please apply your changes "
                    "to the latest version and try again");
  }
  if (std::vector<std::string> errors = UpdateRules(type, object, current);
      !errors.empty()) {
    return InvalidObject(type, name, errors);
  }
  // Server-owned fields keep their values.
  for (const char* field : {"uid", "creationTimestamp", "generation"}) {
    if (current_meta.contains(field)) {
      metadata[field] = current_meta[field];
    } else {
      metadata.erase(field);
    }
  }
  metadata["resourceVersion"] = have;
  if (object == current) return current;  // A no-op update.
  if (SpecPart(object) != SpecPart(current) &&
      current_meta.contains("generation")) {
    metadata["generation"] = current_meta["generation"].get<int64_t>() + 1;
  }
  // The snapshot `current` refers to lives on in the history.
  stored = Record(type, EventType::kModified, object, stored);
  if (type.group == kCrdGroup) RegisterCrdTypes(object);
  return object;
}

absl::StatusOr<json> ObjectStore::Mutate(
    const ResourceType& type, const std::string& ns, const std::string& name,
    const std::function<absl::StatusOr<json>(const json& current)>& mutate) {
  absl::MutexLock lock(&mu_);
  const json* current = FindObject(type, ns, name);
  if (current == nullptr) return NotFound(type.DisplayName(), name);
  absl::StatusOr<json> next = mutate(*current);
  if (!next.ok()) return next.status();
  return UpdateLocked(type, ns, name, *std::move(next));
}

void ObjectStore::DeleteLocked(const std::string& type_key,
                               const ObjectKey& key) {
  Objects& objects = objects_[type_key];
  auto it = objects.find(key);
  if (it == objects.end()) return;
  json object = it->second->json();
  objects.erase(it);
  Record(*FindTypeLocked(type_key), EventType::kDeleted, object, nullptr);
}

absl::StatusOr<json> ObjectStore::Delete(const ResourceType& type,
                                         const std::string& ns,
                                         const std::string& name,
                                         const Preconditions& preconditions) {
  absl::MutexLock lock(&mu_);
  const ObjectKey key{type.namespaced ? ns : "", name};
  const json* existing = FindObject(type, ns, name);
  if (existing == nullptr) return NotFound(type.DisplayName(), name);
  const json& existing_meta = MetadataOf(*existing);
  if (!preconditions.uid.empty() &&
      preconditions.uid != StringField(existing_meta, "uid")) {
    return Conflict(
        type.DisplayName(), name,
        absl::StrCat(
            "Precondition failed: UID in precondition: ", preconditions.uid,
            ", UID in object meta: ", StringField(existing_meta, "uid")));
  }
  if (!preconditions.resource_version.empty() &&
      preconditions.resource_version !=
          StringField(existing_meta, "resourceVersion")) {
    return Conflict(
        type.DisplayName(), name,
        absl::StrCat("Precondition failed: ResourceVersion in precondition: ",
                     preconditions.resource_version,
                     ", ResourceVersion in object meta: ",
                     StringField(existing_meta, "resourceVersion")));
  }
  if (type.group.empty() && type.plural == "namespaces") {
    for (const char* protected_ns : kUndeletableNamespaces) {
      if (name == protected_ns) {
        return ApiError(403, "Forbidden",
                        absl::StrCat("namespaces \"", name,
                                     "\" is forbidden: this namespace may "
                                     "not be deleted"));
      }
    }
    // Everything in the namespace goes first, as the namespace controller
    // does it (here at once, without a Terminating phase).
    for (auto& [type_key, objects] : objects_) {
      std::vector<ObjectKey> doomed;
      for (const auto& [object_key, object] : objects) {
        if (object_key.first == name) doomed.push_back(object_key);
      }
      for (const ObjectKey& doomed_key : doomed) {
        DeleteLocked(type_key, doomed_key);
      }
    }
  }
  if (type.group == kCrdGroup) {
    // Deleting a CRD deletes its custom resources.
    const json* crd = FindObject(type, ns, name);
    const json& spec = crd->value("spec", json::object());
    std::string group = StringField(spec, "group");
    std::string plural =
        StringField(spec.value("names", json::object()), "plural");
    for (auto& [type_key, objects] : objects_) {
      const ResourceType* cr_type = FindTypeLocked(type_key);
      if (cr_type->group != group || cr_type->plural != plural) continue;
      std::vector<ObjectKey> doomed;
      for (const auto& [object_key, object] : objects) {
        doomed.push_back(object_key);
      }
      for (const ObjectKey& doomed_key : doomed) {
        DeleteLocked(type_key, doomed_key);
      }
    }
  }
  Objects& objects = objects_[type.Key()];
  json object = objects[key]->json();
  objects.erase(key);
  Record(type, EventType::kDeleted, object, nullptr);
  return object;
}

absl::StatusOr<ListResult> ObjectStore::List(const ResourceType& type,
                                             const std::string& ns,
                                             const ListFilter& filter) const {
  absl::StatusOr<LabelSelector> labels =
      LabelSelector::Parse(filter.label_selector);
  if (!labels.ok()) return BadRequest(std::string(labels.status().message()));
  std::vector<std::string> fields = {"metadata.name", "metadata.namespace"};
  fields.insert(fields.end(), type.extra_field_selectors.begin(),
                type.extra_field_selectors.end());
  absl::StatusOr<FieldSelector> field_selector =
      FieldSelector::Parse(filter.field_selector, fields);
  if (!field_selector.ok()) {
    return BadRequest(std::string(field_selector.status().message()));
  }
  absl::MutexLock lock(&mu_);
  ListResult result;
  result.resource_version = resource_version_;
  auto objects = objects_.find(type.Key());
  if (objects == objects_.end()) return result;
  for (const auto& [key, stored] : objects->second) {
    if (!ns.empty() && type.namespaced && key.first != ns) continue;
    const json& object = stored->json();
    if (!labels->Matches(LabelsOf(object))) continue;
    if (!field_selector->Matches(object)) continue;
    result.items.push_back(object);
  }
  return result;
}

absl::StatusOr<std::unique_ptr<ObjectStore::Watcher>> ObjectStore::Watch(
    const ResourceType& type, const std::string& ns, const ListFilter& filter,
    const std::string& resource_version) {
  absl::StatusOr<LabelSelector> labels =
      LabelSelector::Parse(filter.label_selector);
  if (!labels.ok()) return BadRequest(std::string(labels.status().message()));
  std::vector<std::string> fields = {"metadata.name", "metadata.namespace"};
  fields.insert(fields.end(), type.extra_field_selectors.begin(),
                type.extra_field_selectors.end());
  absl::StatusOr<FieldSelector> field_selector =
      FieldSelector::Parse(filter.field_selector, fields);
  if (!field_selector.ok()) {
    return BadRequest(std::string(field_selector.status().message()));
  }
  uint64_t from = 0;
  bool initial_state = resource_version.empty() || resource_version == "0";
  if (!initial_state && !absl::SimpleAtoi(resource_version, &from)) {
    return BadRequest(
        absl::StrCat("invalid resource version \"", resource_version, "\""));
  }
  absl::MutexLock lock(&mu_);
  if (initial_state) from = resource_version_;
  if (from < compacted_) {
    return Gone(absl::StrCat("too old resource version: ", from, " (",
                             compacted_, ")"));
  }
  std::unique_ptr<Watcher> watcher(
      new Watcher(this, Channel(type.Key()), type.namespaced ? ns : "",
                  *std::move(labels), *std::move(field_selector), from));
  watcher->channel_->watchers.insert(watcher.get());
  if (initial_state) {
    auto objects = objects_.find(type.Key());
    if (objects != objects_.end()) {
      for (const auto& [key, stored] : objects->second) {
        if (!watcher->namespace_.empty() && key.first != watcher->namespace_) {
          continue;
        }
        if (watcher->Selects(stored->json())) {
          watcher->ready_.push_back({EventType::kAdded, stored});
        }
      }
    }
  }
  return watcher;
}

uint64_t ObjectStore::CurrentResourceVersion() const {
  absl::MutexLock lock(&mu_);
  return resource_version_;
}

uint64_t ObjectStore::OldestWatchableResourceVersion() const {
  absl::MutexLock lock(&mu_);
  return compacted_;
}

void ObjectStore::RegisterCrdTypes(const json& crd) {
  const json& spec = crd.value("spec", json::object());
  const json& names = spec.value("names", json::object());
  for (const json& version : spec.value("versions", json::array())) {
    if (!version.value("served", true)) continue;
    ResourceType type;
    type.group = StringField(spec, "group");
    type.version = version.value("name", "");
    type.plural = StringField(names, "plural");
    type.kind = StringField(names, "kind");
    type.singular = StringField(names, "singular");
    if (type.singular.empty()) {
      type.singular = type.kind;
      std::transform(type.singular.begin(), type.singular.end(),
                     type.singular.begin(), ::tolower);
    }
    type.namespaced = StringField(spec, "scope") != "Cluster";
    for (const json& short_name : names.value("shortNames", json::array())) {
      if (short_name.is_string()) type.short_names.push_back(short_name);
    }
    if (type.version.empty() || types_.count(type.Key())) continue;
    types_[type.Key()] = type;
  }
}

ObjectStore::Watcher::Watcher(ObjectStore* store, TypeChannel* channel,
                              std::string ns, LabelSelector labels,
                              FieldSelector fields, uint64_t cursor)
    : store_(store),
      channel_(channel),
      namespace_(std::move(ns)),
      labels_(std::move(labels)),
      fields_(std::move(fields)),
      selects_all_(labels_.empty() && fields_.empty()),
      cursor_(cursor) {}

ObjectStore::Watcher::~Watcher() {
  absl::MutexLock lock(&store_->mu_);
  channel_->watchers.erase(this);
}

bool ObjectStore::Watcher::Selects(const json& object) const {
  return selects_all_ ||
         (labels_.Matches(LabelsOf(object)) && fields_.Matches(object));
}

void ObjectStore::Watcher::Cancel() {
  cancelled_ = true;
  // Under the lock, so a Next() between its check and its wait still wakes.
  absl::MutexLock lock(&store_->mu_);
  woken_.Signal();
}

void ObjectStore::Watcher::Select(std::vector<Candidate>& candidates) {
  for (Candidate& candidate : candidates) {
    bool now_selected = Selects(candidate.object->json());
    if (candidate.type != EventType::kModified) {
      if (now_selected) {
        ready_.push_back({candidate.type, std::move(candidate.object)});
      }
      continue;
    }
    // An object entering or leaving the selection is added or deleted from
    // this watcher's point of view, as the real server reports it.
    bool was_selected = Selects(candidate.previous->json());
    EventType type = EventType::kModified;
    if (now_selected && !was_selected) type = EventType::kAdded;
    if (!now_selected && was_selected) type = EventType::kDeleted;
    if (now_selected || was_selected) {
      ready_.push_back({type, std::move(candidate.object)});
    }
  }
  candidates.clear();
}

absl::StatusOr<WatchEvent> ObjectStore::Watcher::Next(
    std::chrono::steady_clock::time_point deadline) {
  // At most this many history events are taken per hold of the store's lock.
  constexpr size_t kMaxCandidates = 256;
  const absl::Time absl_deadline =
      absl::Now() +
      absl::FromChrono(deadline - std::chrono::steady_clock::now());
  std::vector<Candidate> candidates;
  while (true) {
    if (cancelled_) return absl::CancelledError("watch cancelled");
    if (!ready_.empty()) {
      WatchEvent event = std::move(ready_.front());
      ready_.pop_front();
      return event;
    }
    {
      absl::MutexLock lock(&store_->mu_);
      while (candidates.empty()) {
        if (cancelled_) return absl::CancelledError("watch cancelled");
        if (cursor_ < store_->compacted_) {
          return Gone(absl::StrCat("too old resource version: ", cursor_, " (",
                                   store_->compacted_, ")"));
        }
        while (cursor_ < store_->resource_version_ &&
               candidates.size() < kMaxCandidates) {
          // Versions are consecutive, one event each: the event for version
          // v sits at v - compacted_ - 1.
          const Event& event = store_->history_[cursor_ - store_->compacted_];
          ++cursor_;
          if (event.channel != channel_) continue;
          if (!namespace_.empty() && event.ns != namespace_) continue;
          candidates.push_back({event.type, event.object, event.previous});
        }
        if (!candidates.empty()) break;
        if (absl::Now() >= absl_deadline) {
          return absl::DeadlineExceededError(
              "no watch event before the deadline");
        }
        waiting_ = true;
        woken_.WaitWithDeadline(&store_->mu_, absl_deadline);
        waiting_ = false;
      }
    }
    // Selectors run outside the store's lock, on immutable snapshots.
    Select(candidates);
  }
}

}  // namespace kmesh::sim::kube
