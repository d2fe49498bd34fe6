#include "kmesh/workload/managed_pods.h"

#include <algorithm>

#include "glog/logging.h"

namespace kmesh::workload {
namespace {

std::string Key(const std::string& ns, const std::string& name) {
  return ns + "/" + name;
}

std::vector<IpAddress> PodIps(const api::Pod& pod) {
  std::vector<IpAddress> ips;
  for (const auto& p : pod.status().pod_ips()) {
    if (auto ip = IpAddress::Parse(p.ip()); ip.ok()) ips.push_back(*ip);
  }
  if (ips.empty() && !pod.status().pod_ip().empty()) {
    if (auto ip = IpAddress::Parse(pod.status().pod_ip()); ip.ok()) {
      ips.push_back(*ip);
    }
  }
  return ips;
}

}  // namespace

bool IsManaged(const google::protobuf::Map<std::string, std::string>& pod,
               const google::protobuf::Map<std::string, std::string>* ns) {
  auto it = pod.find(kDataplaneModeLabel);
  if (it != pod.end()) return it->second == kDataplaneModeKmesh;
  if (ns == nullptr) return false;
  auto n = ns->find(kDataplaneModeLabel);
  return n != ns->end() && n->second == kDataplaneModeKmesh;
}

ManagedPodTracker::ManagedPodTracker(std::string local_node, MarkerMaps* maps,
                                     EncryptMarkerAttachment* attachment,
                                     const Clock* clock, RetryBackoff backoff)
    : local_node_(std::move(local_node)),
      maps_(maps),
      attachment_(attachment),
      clock_(clock != nullptr ? clock : RealClock::Get()),
      backoff_(backoff),
      retry_wait_(backoff.initial) {}

void ManagedPodTracker::RetryFailed() {
  if (!next_retry_ || clock_->Now() < *next_retry_) return;
  // Doubled first: a retry that fails again schedules the next one (in
  // ScheduleRetry) after the longer wait; one that succeeds resets it.
  retry_wait_ = std::min<Duration>(retry_wait_ * 2, backoff_.max);
  next_retry_.reset();
  LOG(INFO) << "retrying " << pending_retries()
            << " failed encrypt-marker operation(s)";
  Reconcile({});
}

void ManagedPodTracker::ScheduleRetry() {
  if (failed_unmanaged_.empty() && failed_pods_.empty()) {
    retry_wait_ = backoff_.initial;
    next_retry_.reset();
  } else if (!next_retry_) {
    next_retry_ = clock_->Now() + retry_wait_;
  }
}

bool ManagedPodTracker::Managed(const std::string& ns,
                                const PodState& pod) const {
  auto it = namespaces_.find(ns);
  return IsManaged(pod.labels, it == namespaces_.end() ? nullptr : &it->second);
}

bool ManagedPodTracker::KnownUnmanaged(const std::string& ns,
                                       const PodState& pod) const {
  if (pod.labels.count(kDataplaneModeLabel) == 0 && !namespaces_.count(ns)) {
    return false;
  }
  return !Managed(ns, pod);
}

void ManagedPodTracker::UpsertPod(const api::Pod& pod) {
  const std::string key =
      Key(pod.metadata().namespace_(), pod.metadata().name());
  PodState& state = pods_[key];
  state.node = pod.spec().node_name();
  state.ips = PodIps(pod);
  state.labels = pod.metadata().labels();
  // Host-network pods share the node's address, which is in no pod CIDR.
  if (pod.spec().host_network()) state.ips.clear();
  Reconcile({key});
}

void ManagedPodTracker::DeletePod(const std::string& ns,
                                  const std::string& name) {
  const std::string key = Key(ns, name);
  if (pods_.erase(key) == 0) return;
  Reconcile({key});
}

void ManagedPodTracker::UpsertNamespace(const api::Namespace& ns) {
  namespaces_[ns.metadata().name()] = ns.metadata().labels();
  ReconcileNamespace(ns.metadata().name());
}

void ManagedPodTracker::DeleteNamespace(const std::string& name) {
  // Its pods are unknown again (not unmanaged) until they are deleted too.
  namespaces_.erase(name);
  ReconcileNamespace(name);
}

void ManagedPodTracker::ReconcileNamespace(const std::string& name) {
  std::vector<std::string> keys;
  const std::string prefix = name + "/";
  for (auto it = pods_.lower_bound(prefix);
       it != pods_.end() && it->first.compare(0, prefix.size(), prefix) == 0;
       ++it) {
    keys.push_back(it->first);
  }
  Reconcile(keys);
}

absl::Status ManagedPodTracker::DetachAll() {
  absl::Status first;
  for (auto it = attached_.begin(); it != attached_.end();) {
    absl::Status s = attachment_->Detach(it->second);
    if (s.ok() || absl::IsNotFound(s)) {
      it = attached_.erase(it);
    } else {
      if (first.ok()) first = s;
      failed_pods_.insert(it->first);
      ++it;
    }
  }
  return first;
}

std::set<std::string> ManagedPodTracker::attached_pods() const {
  std::set<std::string> out;
  for (const auto& [key, _] : attached_) out.insert(key);
  return out;
}

void ManagedPodTracker::Reconcile(const std::vector<std::string>& changed) {
  std::vector<IpAddress> upserts, deletes;
  // Retry what failed before: map entries still (un)wanted, attachments.
  for (const IpAddress& ip : failed_unmanaged_) {
    if (unmanaged_refs_.count(ip)) {
      if (!applied_unmanaged_.count(ip)) upserts.push_back(ip);
    } else if (applied_unmanaged_.count(ip)) {
      deletes.push_back(ip);
    }
  }
  failed_unmanaged_.clear();
  std::vector<std::string> keys = changed;
  keys.insert(keys.end(), failed_pods_.begin(), failed_pods_.end());
  failed_pods_.clear();
  for (const std::string& key : keys) {
    auto it = pods_.find(key);
    const bool exists = it != pods_.end();
    const std::string ns = key.substr(0, key.find('/'));
    const bool managed = exists && Managed(ns, it->second);
    const bool local = exists && it->second.node == local_node_;

    // Unmanaged-pod entries: pods on other nodes known to be unmanaged
    // (any other destination in a peer's pod CIDR is encrypted to).
    std::vector<IpAddress> want;
    if (exists && !local && KnownUnmanaged(ns, it->second)) {
      want = it->second.ips;
    }
    std::vector<IpAddress>& have = pod_unmanaged_ips_[key];
    if (have != want) {
      for (const IpAddress& ip : want) {
        if (unmanaged_refs_[ip]++ == 0) upserts.push_back(ip);
      }
      for (const IpAddress& ip : have) {
        if (--unmanaged_refs_[ip] == 0) {
          unmanaged_refs_.erase(ip);
          deletes.push_back(ip);
        }
      }
      have = want;
    }
    if (have.empty()) pod_unmanaged_ips_.erase(key);

    // Attachment: managed local pods.
    const bool attach = managed && local && !it->second.ips.empty();
    auto att = attached_.find(key);
    if (attach && att == attached_.end()) {
      LocalPod pod{ns, key.substr(ns.size() + 1), it->second.ips};
      if (auto s = attachment_->Attach(pod); s.ok()) {
        attached_[key] = pod;
      } else {
        ++errors_;
        failed_pods_.insert(key);
        LOG(ERROR) << "attach encrypt marker to pod " << key << ": " << s;
      }
    } else if (!attach && att != attached_.end()) {
      if (auto s = attachment_->Detach(att->second);
          s.ok() || absl::IsNotFound(s)) {
        attached_.erase(att);
      } else {
        ++errors_;
        failed_pods_.insert(key);
        LOG(ERROR) << "detach encrypt marker from pod " << key << ": " << s;
      }
    }
  }
  // Deletes first, then upserts: an address moving between pods is
  // re-added.
  for (const IpAddress& ip : deletes) {
    if (auto s = maps_->DeleteUnmanagedPod(ip); s.ok() || absl::IsNotFound(s)) {
      applied_unmanaged_.erase(ip);
    } else {
      ++errors_;
      failed_unmanaged_.insert(ip);
      LOG(ERROR) << "remove unmanaged pod " << ip.ToString() << ": " << s;
    }
  }
  for (const IpAddress& ip : upserts) {
    if (auto s = maps_->UpsertUnmanagedPod(ip); s.ok()) {
      applied_unmanaged_.insert(ip);
    } else {
      ++errors_;
      failed_unmanaged_.insert(ip);
      LOG(ERROR) << "add unmanaged pod " << ip.ToString() << ": " << s;
    }
  }
  ScheduleRetry();
}

}  // namespace kmesh::workload
