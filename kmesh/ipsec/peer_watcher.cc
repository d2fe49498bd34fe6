#include "kmesh/ipsec/peer_watcher.h"

#include <utility>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "glog/logging.h"
#include "kmesh/api/json_codec.h"
#include "kmesh/api/kmesh_node_info.pb.h"
#include "kmesh/ipsec/key_deriver.h"

namespace kmesh::ipsec {
namespace {

// The record as a NodeView usable for key derivation, or why not.
absl::StatusOr<NodeView> PeerViewFromRecord(
    const kmesh::api::KmeshNodeInfo& info) {
  absl::StatusOr<NodeView> view = NodeViewFromKmeshNodeInfo(info);
  if (!view.ok()) return view.status();
  if (view->boot_id.size() < kBootIdPrefixLength) {
    return absl::InvalidArgumentError(absl::StrCat(
        "KmeshNodeInfo ", view->name, ": spec.bootID is ", view->boot_id.size(),
        " characters long; the key derivation needs at "
        "least ",
        kBootIdPrefixLength));
  }
  return view;
}

}  // namespace

PeerRecordHandler::PeerRecordHandler(std::string own_node_name,
                                     IpsecEventSink* sink)
    : own_node_name_(std::move(own_node_name)), sink_(sink) {}

void PeerRecordHandler::OnAdd(const std::string& object) { Upsert(object); }

void PeerRecordHandler::OnUpdate(const std::string& /*old_object*/,
                                 const std::string& new_object) {
  Upsert(new_object);
}

void PeerRecordHandler::Upsert(const std::string& object) {
  absl::StatusOr<kmesh::api::KmeshNodeInfo> info =
      kmesh::api::ParseJson<kmesh::api::KmeshNodeInfo>(object);
  if (!info.ok()) {
    ReportInvalid("", std::string(info.status().message()));
    return;
  }
  const std::string& name = info->metadata().name();
  if (name == own_node_name_) {
    absl::StatusOr<NodeView> own = NodeViewFromKmeshNodeInfo(*info);
    sink_->OnOwnRecord(own.ok() ? std::optional<NodeView>(*std::move(own))
                                : std::nullopt);
    return;
  }
  absl::StatusOr<NodeView> view = PeerViewFromRecord(*info);
  if (!view.ok()) {
    ReportInvalid(name, std::string(view.status().message()));
    return;
  }
  if (reported_.erase(name) > 0) {
    LOG(INFO) << "KmeshNodeInfo " << name << " is valid again";
  }
  auto it = delivered_.find(name);
  if (it != delivered_.end() && it->second == *view) return;
  delivered_[name] = *view;
  sink_->OnPeerUpsert(*view);
}

void PeerRecordHandler::OnDelete(const std::string& last_known) {
  absl::StatusOr<kmesh::api::KmeshNodeInfo> info =
      kmesh::api::ParseJson<kmesh::api::KmeshNodeInfo>(last_known);
  if (!info.ok() || info->metadata().name().empty()) {
    LOG(ERROR) << "Ignoring the deletion of an unreadable KmeshNodeInfo: "
               << (info.ok() ? "no metadata.name" : info.status().message());
    return;
  }
  const std::string& name = info->metadata().name();
  if (name == own_node_name_) {
    sink_->OnOwnRecord(std::nullopt);
    return;
  }
  reported_.erase(name);
  delivered_.erase(name);
  // Delivered even for a peer never seen valid in this run: the controller
  // may hold state adopted from a previous run for it.
  sink_->OnPeerDelete(name);
}

void PeerRecordHandler::OnSynced() { sink_->OnPeersSynced(); }

void PeerRecordHandler::ReportInvalid(const std::string& key,
                                      const std::string& error) {
  auto it = reported_.find(key);
  if (it != reported_.end() && it->second == error) return;
  reported_[key] = error;
  invalid_records_.fetch_add(1);
  LOG(ERROR) << "Ignoring invalid peer record: " << error
             << (delivered_.count(key) > 0
                     ? "; keeping the peer as last validly published"
                     : "");
}

PeerWatcher::PeerWatcher(kube::KubeClient* client, std::string own_node_name,
                         IpsecEventSink* sink, std::string ns,
                         kube::ReflectorOptions options)
    : handler_(std::move(own_node_name), sink),
      reflector_(client, kube::KmeshNodeInfosKind(), std::move(ns), &handler_,
                 std::move(options)) {}

}  // namespace kmesh::ipsec
