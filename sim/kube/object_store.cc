#include "sim/kube/object_store.h"

#include <time.h>

#include <algorithm>
#include <random>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "sim/kube/admission/admission.h"
#include "sim/kube/api_error.h"
#include "sim/kube/object_fields.h"
#include "sim/kube/selectable_fields.h"
#include "sim/kube/selector.h"

namespace kmesh::sim::kube {
namespace {

using nlohmann::json;

const char* const kUndeletableNamespaces[] = {"default", "kube-system",
                                              "kube-public"};
constexpr char kNamespacesKey[] = "/v1/namespaces";
constexpr char kCrdsKey[] = "apiextensions.k8s.io/v1/customresourcedefinitions";

std::string Rfc3339(std::chrono::system_clock::time_point t) {
  time_t seconds = std::chrono::system_clock::to_time_t(t);
  struct tm utc;
  gmtime_r(&seconds, &utc);
  char text[32];
  strftime(text, sizeof(text), "%Y-%m-%dT%H:%M:%SZ", &utc);
  return text;
}

std::string RandomUid() {
  static absl::Mutex mu(absl::kConstInit);
  static std::mt19937_64* rng ABSL_GUARDED_BY(mu) =
      new std::mt19937_64(std::random_device{}());
  absl::MutexLock lock(&mu);
  uint64_t a = (*rng)(), b = (*rng)();
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
  static absl::Mutex mu(absl::kConstInit);
  static std::mt19937* rng ABSL_GUARDED_BY(mu) =
      new std::mt19937(std::random_device{}());
  absl::MutexLock lock(&mu);
  std::string suffix;
  for (int i = 0; i < 5; ++i) suffix += kAlphabet[(*rng)() % 27];
  return suffix;
}

// Everything but metadata.resourceVersion/generation and status, to decide
// whether an update changed anything and whether the generation moves.
json SpecPart(const json& object) {
  json copy = object;
  copy.erase("status");
  copy.erase("metadata");
  return copy;
}

bool IsCrdType(const ResourceType& type) {
  return type.group == kApiExtensionsGroup;
}

struct Selectors {
  LabelSelector labels;
  FieldSelector fields;
};

// The filter's selectors, with the fields `type` allows; 400 when malformed.
absl::StatusOr<Selectors> ParseFilter(const ResourceType& type,
                                      const ListFilter& filter) {
  absl::StatusOr<LabelSelector> labels =
      LabelSelector::Parse(filter.label_selector);
  if (!labels.ok()) return BadRequest(std::string(labels.status().message()));
  absl::StatusOr<FieldSelector> field_selector =
      ParseFieldSelector(type, filter.field_selector);
  if (!field_selector.ok()) {
    return BadRequest(std::string(field_selector.status().message()));
  }
  return Selectors{*std::move(labels), *std::move(field_selector)};
}

}  // namespace

ObjectStore::ObjectStore(Options options)
    : options_(std::move(options)), history_(options_.history_limit) {
  absl::MutexLock lock(&mu_);
  const ResourceType* namespaces = types_.Find(kNamespacesKey);
  for (const std::string& name : options_.initial_namespaces) {
    json ns = {{"metadata", {{"name", name}}}};
    absl::StatusOr<json> created = CreateLocked(*namespaces, "", ns);
    (void)created;
  }
}

const ResourceType* ObjectStore::FindType(const std::string& group,
                                          const std::string& version,
                                          const std::string& plural) const {
  absl::MutexLock lock(&mu_);
  return types_.Find(group, version, plural);
}

std::vector<ResourceType> ObjectStore::Types() const {
  absl::MutexLock lock(&mu_);
  return types_.All();
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
  return kube::Admit(type, ns, object, [this](const std::string& crd_name) {
    mu_.AssertHeld();  // Admission runs within Admit.
    return FindObject(*types_.Find(kCrdsKey), "", crd_name);
  });
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
    json& metadata = MutableMetadata(object);
    std::string generate_name = StringAt(metadata, "generateName");
    if (StringAt(metadata, "name").empty() && !generate_name.empty()) {
      metadata["name"] = generate_name + RandomNameSuffix();
    }
  }
  if (absl::Status admitted = Admit(type, ns, object); !admitted.ok()) {
    return admitted;
  }
  json& metadata = MutableMetadata(object);
  const std::string name = StringAt(metadata, "name");
  if (!StringAt(metadata, "resourceVersion").empty()) {
    // What etcd3's store answers (as a 500) when a client creates an object
    // it copied from another one.
    return ApiError(500, "",
                    "resourceVersion should not be set on objects to be "
                    "created");
  }
  if (type.namespaced &&
      FindObject(*types_.Find(kNamespacesKey), "", ns) == nullptr) {
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
      history_.Record(type.Key(), EventType::kAdded, object, nullptr);
  if (IsCrdType(type)) {
    for (const ResourceType& served : ResourceTypesServedBy(object)) {
      types_.Add(served);
    }
  }
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
    std::string body_name = StringAt(MetadataOf(object), "name");
    if (body_name.empty()) {
      MutableMetadata(object)["name"] = name;
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
  json& metadata = MutableMetadata(object);
  std::string wanted = StringAt(metadata, "resourceVersion");
  std::string have = StringAt(current_meta, "resourceVersion");
  if (!wanted.empty() && wanted != have) {
    return Conflict(type.DisplayName(), name,
                    "the object has been modified; please apply your changes "
                    "to the latest version and try again");
  }
  if (absl::Status allowed = AdmitUpdate(type, name, object, current);
      !allowed.ok()) {
    return allowed;
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
  stored = history_.Record(type.Key(), EventType::kModified, object, stored);
  if (IsCrdType(type)) {
    for (const ResourceType& served : ResourceTypesServedBy(object)) {
      types_.Add(served);
    }
  }
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
  std::shared_ptr<const ObjectSnapshot> previous = it->second;
  json object = previous->json();
  objects.erase(it);
  history_.Record(type_key, EventType::kDeleted, object, std::move(previous));
}

void ObjectStore::DeleteWhere(
    const std::string& type_key,
    const std::function<bool(const ObjectKey&)>& doomed) {
  std::vector<ObjectKey> keys;
  for (const auto& [key, object] : objects_[type_key]) {
    if (doomed(key)) keys.push_back(key);
  }
  for (const ObjectKey& key : keys) DeleteLocked(type_key, key);
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
      preconditions.uid != StringAt(existing_meta, "uid")) {
    return Conflict(
        type.DisplayName(), name,
        absl::StrCat(
            "Precondition failed: UID in precondition: ", preconditions.uid,
            ", UID in object meta: ", StringAt(existing_meta, "uid")));
  }
  if (!preconditions.resource_version.empty() &&
      preconditions.resource_version !=
          StringAt(existing_meta, "resourceVersion")) {
    return Conflict(
        type.DisplayName(), name,
        absl::StrCat("Precondition failed: ResourceVersion in precondition: ",
                     preconditions.resource_version,
                     ", ResourceVersion in object meta: ",
                     StringAt(existing_meta, "resourceVersion")));
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
      DeleteWhere(type_key, [&](const ObjectKey& object_key) {
        return object_key.first == name;
      });
    }
  }
  if (IsCrdType(type)) {
    // Deleting a CRD deletes its custom resources.
    const json& spec = existing->value("spec", json::object());
    const std::string group = StringAt(spec, "group");
    const std::string plural =
        StringAt(spec.value("names", json::object()), "plural");
    for (auto& [type_key, objects] : objects_) {
      const ResourceType* served = types_.Find(type_key);
      if (served->group != group || served->plural != plural) continue;
      DeleteWhere(type_key, [](const ObjectKey&) { return true; });
    }
  }
  Objects& objects = objects_[type.Key()];
  std::shared_ptr<const ObjectSnapshot> previous = objects[key];
  json object = previous->json();
  objects.erase(key);
  history_.Record(type.Key(), EventType::kDeleted, object, std::move(previous));
  return object;
}

absl::StatusOr<ListResult> ObjectStore::List(const ResourceType& type,
                                             const std::string& ns,
                                             const ListFilter& filter,
                                             const ListPage& page) const {
  absl::StatusOr<Selectors> selectors = ParseFilter(type, filter);
  if (!selectors.ok()) return selectors.status();
  const bool one_namespace = type.namespaced && !ns.empty();
  // The object's storage key relative to the list's prefix, or "" when the
  // object is outside the list.
  auto key_of = [&](const json& object) -> std::string {
    const json& metadata = MetadataOf(object);
    const std::string name = StringAt(metadata, "name");
    if (!type.namespaced) return name;
    const std::string object_ns = StringAt(metadata, "namespace");
    if (one_namespace) return object_ns == ns ? name : "";
    return absl::StrCat(object_ns, "/", name);
  };
  absl::MutexLock lock(&mu_);
  const uint64_t current = history_.current_version();
  if (page.at_version > current) {
    return TooLargeResourceVersion(page.at_version, current);
  }
  ListResult result;
  result.resource_version = page.at_version != 0 ? page.at_version : current;
  const bool selects_all =
      selectors->labels.empty() && selectors->fields.empty();
  // Takes the entries in key order until the limit; then only counts them.
  int64_t in_range = 0;
  bool full = false;
  std::string last_key;  // Of the last item taken, once full.
  auto take = [&](const std::string& key,
                  const std::shared_ptr<const ObjectSnapshot>& stored) {
    if (full) {
      if (result.next_key.empty()) result.next_key = last_key;
      ++in_range;
      return selects_all;  // Counting goes on only for remainingItemCount.
    }
    ++in_range;
    const json& object = stored->json();
    if (!selectors->labels.Matches(LabelsOf(object)) ||
        !selectors->fields.Matches(object)) {
      return true;
    }
    result.items.push_back(object);
    if (page.limit > 0 &&
        static_cast<int64_t>(result.items.size()) == page.limit) {
      full = true;
      last_key = key + std::string(1, '\0');
    }
    return true;
  };
  static const Objects* const kNoObjects = new Objects();
  auto found = objects_.find(type.Key());
  const Objects& objects =
      found == objects_.end() ? *kNoObjects : found->second;
  // At an older version: the state then of each object changed since (null:
  // it did not exist), overlaid on the current objects. Walking the changes
  // newest first, the oldest change of a key is the last written.
  std::map<std::string, std::shared_ptr<const ObjectSnapshot>> then;
  if (page.at_version != 0 && page.at_version < current) {
    absl::Status rewound = history_.UndoChangesAfter(
        type.Key(), page.at_version,
        [&](EventType event, const ObjectSnapshot& object,
            const std::shared_ptr<const ObjectSnapshot>& previous) {
          std::string key = key_of(object.json());
          if (key.empty() || key < page.start_key) return;
          then[key] = event == EventType::kAdded ? nullptr : previous;
        });
    if (!rewound.ok()) return rewound;
  }
  auto overlay = then.begin();
  // Takes the overlay's objects with keys before `key` (all for nullptr).
  auto take_then_before = [&](const std::string* key) {
    for (; overlay != then.end() && (key == nullptr || overlay->first < *key);
         ++overlay) {
      if (overlay->second != nullptr &&
          !take(overlay->first, overlay->second)) {
        return false;
      }
    }
    return true;
  };
  auto visit = [&](const std::string& key,
                   const std::shared_ptr<const ObjectSnapshot>& stored) {
    if (!take_then_before(&key)) return false;
    if (overlay != then.end() && overlay->first == key) {
      std::shared_ptr<const ObjectSnapshot> old = (overlay++)->second;
      return old == nullptr || take(key, old);
    }
    return take(key, stored);
  };
  // The current objects, walked in key order without copying them: by name
  // within a namespace; across namespaces by "namespace/" first.
  auto walk_namespace = [&](const std::string& object_ns,
                            const std::string& from_name,
                            const std::string& key_prefix) {
    for (auto it = objects.lower_bound({object_ns, from_name});
         it != objects.end() && it->first.first == object_ns; ++it) {
      if (!visit(key_prefix + it->first.second, it->second)) return false;
    }
    return true;
  };
  bool walked = true;
  if (!type.namespaced || one_namespace) {
    walked = walk_namespace(type.namespaced ? ns : "", page.start_key, "");
  } else {
    std::vector<std::string> namespaces;
    for (auto it = objects.begin(); it != objects.end();
         it = objects.lower_bound(
             {it->first.first + std::string(1, '\0'), std::string()})) {
      namespaces.push_back(it->first.first + "/");
    }
    std::sort(namespaces.begin(), namespaces.end());
    for (const std::string& prefix : namespaces) {
      const std::string object_ns = prefix.substr(0, prefix.size() - 1);
      std::string from_name;
      if (absl::StartsWith(page.start_key, prefix)) {
        from_name = page.start_key.substr(prefix.size());
      } else if (prefix < page.start_key) {
        continue;  // Every key of it sorts before the start.
      }
      if (!walk_namespace(object_ns, from_name, prefix)) {
        walked = false;
        break;
      }
    }
  }
  if (walked) take_then_before(nullptr);
  if (!result.next_key.empty() && selects_all) {
    result.remaining_item_count = in_range - page.limit;
  }
  return result;
}

absl::StatusOr<std::unique_ptr<ObjectStore::Watcher>> ObjectStore::Watch(
    const ResourceType& type, const std::string& ns, const ListFilter& filter,
    const std::string& resource_version) {
  absl::StatusOr<Selectors> selectors = ParseFilter(type, filter);
  if (!selectors.ok()) return selectors.status();
  uint64_t from = 0;
  bool initial_state = resource_version.empty() || resource_version == "0";
  if (!initial_state && !absl::SimpleAtoi(resource_version, &from)) {
    return BadRequest(
        absl::StrCat("invalid resource version \"", resource_version, "\""));
  }
  const std::string watched_ns = type.namespaced ? ns : "";
  absl::MutexLock lock(&mu_);
  std::vector<std::shared_ptr<const ObjectSnapshot>> initial;
  if (initial_state) {
    from = history_.current_version();
    auto objects = objects_.find(type.Key());
    if (objects != objects_.end()) {
      for (const auto& [key, stored] : objects->second) {
        if (watched_ns.empty() || key.first == watched_ns) {
          initial.push_back(stored);
        }
      }
    }
  }
  return history_.Watch(type.Key(), watched_ns, std::move(selectors->labels),
                        std::move(selectors->fields), from, initial);
}

uint64_t ObjectStore::CurrentResourceVersion() const {
  absl::MutexLock lock(&mu_);
  return history_.current_version();
}

uint64_t ObjectStore::OldestWatchableResourceVersion() const {
  absl::MutexLock lock(&mu_);
  return history_.oldest_watchable_version();
}

void ObjectStore::CompactHistory() {
  absl::MutexLock lock(&mu_);
  history_.Compact();
}

}  // namespace kmesh::sim::kube
