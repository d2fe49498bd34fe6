#include "kmesh/ipsec/node_watcher.h"

#include <utility>

#include "absl/status/statusor.h"
#include "glog/logging.h"
#include "kmesh/api/json_codec.h"
#include "kmesh/api/kube.pb.h"
#include "kmesh/ipsec/node_record.h"

namespace kmesh::ipsec {

NodeObjectHandler::NodeObjectHandler(std::string own_node_name,
                                     IpsecEventSink* sink)
    : own_node_name_(std::move(own_node_name)), sink_(sink) {}

void NodeObjectHandler::OnAdd(const std::string& object) { Upsert(object); }

void NodeObjectHandler::OnUpdate(const std::string& /*old_object*/,
                                 const std::string& new_object) {
  Upsert(new_object);
}

void NodeObjectHandler::Upsert(const std::string& object) {
  absl::StatusOr<kmesh::api::Node> node =
      kmesh::api::ParseJson<kmesh::api::Node>(object);
  if (!node.ok()) {
    ReportUnusable("", std::string(node.status().message()));
    return;
  }
  const std::string& name = node->metadata().name();
  if (name == own_node_name_) return;
  absl::StatusOr<NodeView> view = NodeViewFromNode(*node, /*spi=*/0);
  if (!view.ok()) {
    if (absl::IsFailedPrecondition(view.status())) {
      // Kubelet has not reported the address or boot ID yet: not an error.
      VLOG(1) << view.status().message();
      return;
    }
    ReportUnusable(name, std::string(view.status().message()));
    return;
  }
  if (reported_.erase(name) > 0) {
    LOG(INFO) << "Node " << name << " is usable again";
  }
  auto it = delivered_.find(name);
  if (it != delivered_.end() && it->second == *view) return;
  delivered_[name] = *view;
  sink_->OnNodeUpsert(*view);
}

void NodeObjectHandler::OnDelete(const std::string& last_known) {
  absl::StatusOr<kmesh::api::Node> node =
      kmesh::api::ParseJson<kmesh::api::Node>(last_known);
  if (!node.ok() || node->metadata().name().empty()) {
    LOG(ERROR) << "Ignoring the deletion of an unreadable Node: "
               << (node.ok() ? "no metadata.name" : node.status().message());
    return;
  }
  const std::string& name = node->metadata().name();
  if (name == own_node_name_) return;
  reported_.erase(name);
  if (delivered_.erase(name) == 0) return;  // Never delivered.
  sink_->OnNodeDelete(name);
}

void NodeObjectHandler::OnSynced() { sink_->OnNodesSynced(); }

void NodeObjectHandler::ReportUnusable(const std::string& key,
                                       const std::string& error) {
  auto it = reported_.find(key);
  if (it != reported_.end() && it->second == error) return;
  reported_[key] = error;
  unusable_nodes_.fetch_add(1);
  LOG(ERROR) << "Ignoring a Node IPsec cannot use: " << error
             << (delivered_.count(key) > 0 ? "; keeping it as last delivered"
                                           : "");
}

NodeWatcher::NodeWatcher(kube::KubeClient* client, std::string own_node_name,
                         IpsecEventSink* sink, kube::ReflectorOptions options)
    : handler_(std::move(own_node_name), sink),
      reflector_(client, kube::NodesKind(), "", &handler_, std::move(options)) {
}

}  // namespace kmesh::ipsec
