#include "kmesh/workload/pod_record.h"

#include <string>
#include <utility>

#include "kmesh/workload/managed_pods.h"

namespace kmesh::workload {
namespace {

using Json = nlohmann::json;

const Json* Member(const Json& object, const char* key) {
  if (!object.is_object()) return nullptr;
  auto it = object.find(key);
  return it == object.end() ? nullptr : &*it;
}

std::string StringAt(const Json* object, const char* key) {
  const Json* value = object ? Member(*object, key) : nullptr;
  return value && value->is_string() ? value->get<std::string>() : "";
}

}  // namespace

// What the tracker reads of a pod (workload/managed_pods.h): name,
// namespace, the dataplane-mode label, the node, hostNetwork and the IPs.
// Everything else a Pod carries (containers, conditions, managedFields...)
// is dropped before the reflector stores it: a daemon holds every pod of
// the cluster, and this keeps each one to about a hundred bytes.
Json CompactPod(const Json& pod) {
  Json out = Json::object();
  const Json* metadata = Member(pod, "metadata");
  Json meta = Json::object();
  for (const char* key : {"name", "namespace", "resourceVersion"}) {
    const std::string value = StringAt(metadata, key);
    if (!value.empty()) meta[key] = value;
  }
  const Json* labels = metadata ? Member(*metadata, "labels") : nullptr;
  const std::string mode = labels ? StringAt(labels, kDataplaneModeLabel) : "";
  if (labels && labels->is_object() && labels->contains(kDataplaneModeLabel)) {
    meta["labels"] = {{kDataplaneModeLabel, mode}};
  }
  out["metadata"] = std::move(meta);
  const Json* spec = Member(pod, "spec");
  Json compact_spec = Json::object();
  if (const std::string node = StringAt(spec, "nodeName"); !node.empty()) {
    compact_spec["nodeName"] = node;
  }
  if (const Json* host = spec ? Member(*spec, "hostNetwork") : nullptr;
      host && host->is_boolean() && host->get<bool>()) {
    compact_spec["hostNetwork"] = true;
  }
  out["spec"] = std::move(compact_spec);
  const Json* status = Member(pod, "status");
  Json compact_status = Json::object();
  if (const std::string ip = StringAt(status, "podIP"); !ip.empty()) {
    compact_status["podIP"] = ip;
  }
  if (const Json* ips = status ? Member(*status, "podIPs") : nullptr;
      ips && ips->is_array()) {
    Json list = Json::array();
    for (const Json& entry : *ips) {
      const std::string ip = StringAt(&entry, "ip");
      if (!ip.empty()) list.push_back({{"ip", ip}});
    }
    if (!list.empty()) compact_status["podIPs"] = std::move(list);
  }
  out["status"] = std::move(compact_status);
  return out;
}

// The tracker's api::Pod from a (compact) decoded pod, without a JSON text
// round trip.
api::Pod PodFromJson(const Json& object) {
  api::Pod pod;
  const Json* metadata = Member(object, "metadata");
  pod.mutable_metadata()->set_name(StringAt(metadata, "name"));
  pod.mutable_metadata()->set_namespace_(StringAt(metadata, "namespace"));
  if (const Json* labels = metadata ? Member(*metadata, "labels") : nullptr;
      labels && labels->is_object()) {
    for (const auto& [key, value] : labels->items()) {
      if (value.is_string()) {
        (*pod.mutable_metadata()->mutable_labels())[key] =
            value.get<std::string>();
      }
    }
  }
  const Json* spec = Member(object, "spec");
  pod.mutable_spec()->set_node_name(StringAt(spec, "nodeName"));
  if (const Json* host = spec ? Member(*spec, "hostNetwork") : nullptr;
      host && host->is_boolean()) {
    pod.mutable_spec()->set_host_network(host->get<bool>());
  }
  const Json* status = Member(object, "status");
  pod.mutable_status()->set_pod_ip(StringAt(status, "podIP"));
  if (const Json* ips = status ? Member(*status, "podIPs") : nullptr;
      ips && ips->is_array()) {
    for (const Json& entry : *ips) {
      pod.mutable_status()->add_pod_ips()->set_ip(StringAt(&entry, "ip"));
    }
  }
  return pod;
}

namespace {

std::string KeyOf(const api::Pod& pod) {
  return pod.metadata().namespace_() + "/" + pod.metadata().name();
}

}  // namespace

PodWatchMerger::PodWatchMerger(ManagedPodTracker* tracker,
                               OtherRecord other_record)
    : tracker_(tracker), other_record_(std::move(other_record)) {}

void PodWatchMerger::LocalUpsert(const Json& object) {
  const api::Pod pod = PodFromJson(object);
  if (pod.metadata().name().empty()) return;
  local_.insert(KeyOf(pod));
  tracker_->UpsertPod(pod);
}

void PodWatchMerger::LocalDelete(const Json& object) {
  const api::Pod pod = PodFromJson(object);
  if (pod.metadata().name().empty()) return;
  const std::string key = KeyOf(pod);
  local_.erase(key);
  if (std::optional<Json> other =
          other_record_ ? other_record_(key) : std::nullopt) {
    tracker_->UpsertPod(PodFromJson(*other));
    return;
  }
  tracker_->DeletePod(pod.metadata().namespace_(), pod.metadata().name());
}

void PodWatchMerger::OtherUpsert(const Json& object) {
  const api::Pod pod = PodFromJson(object);
  if (pod.metadata().name().empty() || local_.count(KeyOf(pod)) != 0) return;
  tracker_->UpsertPod(pod);
}

void PodWatchMerger::OtherDelete(const Json& object) {
  const api::Pod pod = PodFromJson(object);
  if (pod.metadata().name().empty() || local_.count(KeyOf(pod)) != 0) return;
  tracker_->DeletePod(pod.metadata().namespace_(), pod.metadata().name());
}

}  // namespace kmesh::workload
