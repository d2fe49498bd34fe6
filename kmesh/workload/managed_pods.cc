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
  if (failed_targets_.empty() && failed_pods_.empty()) {
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

void ManagedPodTracker::UpsertPod(const api::Pod& pod) {
  const std::string key =
      Key(pod.metadata().namespace_(), pod.metadata().name());
  PodState& state = pods_[key];
  state.node = pod.spec().node_name();
  state.ips = PodIps(pod);
  state.labels = pod.metadata().labels();
  // Host-network pods share the node's address: never encrypt targets.
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
  std::vector<std::string> keys;
  const std::string prefix = ns.metadata().name() + "/";
  for (auto it = pods_.lower_bound(prefix);
       it != pods_.end() && it->first.compare(0, prefix.size(), prefix) == 0;
       ++it) {
    keys.push_back(it->first);
  }
  Reconcile(keys);
}

void ManagedPodTracker::DeleteNamespace(const std::string& name) {
  namespaces_.erase(name);
  api::Namespace empty;
  empty.mutable_metadata()->set_name(name);
  UpsertNamespace(empty);
  namespaces_.erase(name);
}

void ManagedPodTracker::SetIpsecNodes(const std::set<std::string>& nodes) {
  std::vector<std::pair<std::string, bool>> changes;
  for (const std::string& node : nodes) {
    if (!ipsec_nodes_.count(node)) changes.emplace_back(node, true);
  }
  for (const std::string& node : ipsec_nodes_) {
    if (!nodes.count(node)) changes.emplace_back(node, false);
  }
  UpdateIpsecNodes(changes);
}

void ManagedPodTracker::UpdateIpsecNodes(
    const std::vector<std::pair<std::string, bool>>& changes) {
  // Only pods on nodes that joined or left change: while a key spreads
  // through a large cluster the set changes on most ticks, and reconciling
  // every pod each time was most of an agent's work.
  std::set<std::string> changed;
  for (const auto& [node, runs_ipsec] : changes) {
    const bool was = ipsec_nodes_.count(node) > 0;
    if (runs_ipsec) {
      ipsec_nodes_.insert(node);
    } else {
      ipsec_nodes_.erase(node);
    }
    if (was != runs_ipsec) changed.insert(node);
  }
  if (changed.empty()) return;
  std::vector<std::string> keys;
  for (const auto& [key, pod] : pods_) {
    if (changed.count(pod.node)) keys.push_back(key);
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
  for (const IpAddress& ip : failed_targets_) {
    if (target_refs_.count(ip)) {
      if (!applied_targets_.count(ip)) upserts.push_back(ip);
    } else if (applied_targets_.count(ip)) {
      deletes.push_back(ip);
    }
  }
  failed_targets_.clear();
  std::vector<std::string> keys = changed;
  keys.insert(keys.end(), failed_pods_.begin(), failed_pods_.end());
  failed_pods_.clear();
  for (const std::string& key : keys) {
    auto it = pods_.find(key);
    const bool exists = it != pods_.end();
    const std::string ns = key.substr(0, key.find('/'));
    const bool managed = exists && Managed(ns, it->second);
    const bool local = exists && it->second.node == local_node_;

    // Encrypt targets: managed pods on other nodes that run IPsec.
    std::vector<IpAddress> want;
    if (managed && !local && ipsec_nodes_.count(it->second.node)) {
      want = it->second.ips;
    }
    std::vector<IpAddress>& have = pod_targets_[key];
    if (have != want) {
      for (const IpAddress& ip : want) {
        if (target_refs_[ip]++ == 0) upserts.push_back(ip);
      }
      for (const IpAddress& ip : have) {
        if (--target_refs_[ip] == 0) {
          target_refs_.erase(ip);
          deletes.push_back(ip);
        }
      }
      have = want;
    }
    if (have.empty()) pod_targets_.erase(key);

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
    if (auto s = maps_->DeleteEncryptTarget(ip);
        s.ok() || absl::IsNotFound(s)) {
      applied_targets_.erase(ip);
    } else {
      ++errors_;
      failed_targets_.insert(ip);
      LOG(ERROR) << "remove encrypt target " << ip.ToString() << ": " << s;
    }
  }
  for (const IpAddress& ip : upserts) {
    if (auto s = maps_->UpsertEncryptTarget(ip); s.ok()) {
      applied_targets_.insert(ip);
    } else {
      ++errors_;
      failed_targets_.insert(ip);
      LOG(ERROR) << "add encrypt target " << ip.ToString() << ": " << s;
    }
  }
  ScheduleRetry();
}

}  // namespace kmesh::workload
