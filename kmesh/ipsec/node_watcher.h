// The controller's view of the cluster's Node objects: every Node but this
// node's own, turned into the NodeView its InternalIPs, boot ID and pod CIDRs
// give (NodeViewFromNode, spi 0) and delivered to an IpsecEventSink as
// OnNodeUpsert / OnNodeDelete / OnNodesSynced. Kubelet reports those fields
// when it registers the node, before the node's daemon runs, so a receiver
// can install its inbound SAs for a node before that node publishes its
// KmeshNodeInfo and starts sending ESP ("first contact" in
// docs/decisions.md).
//
// NodeObjectHandler is the translation layer, fed with object JSON by a
// kube::Reflector. A Node not ready yet (no InternalIP or boot ID) is not
// delivered; one that is invalid (an address that does not parse, a boot ID
// shorter than the 36 characters the key derivation hashes) is logged once
// per distinct problem and counted. Either way a node delivered earlier stays
// as it was delivered. An update that changes nothing the controller uses
// (status heartbeats, conditions, labels) is not delivered.
//
// NodeWatcher wires the handler to a reflector over a KubeClient (list and
// watch nodes: the daemon's ClusterRole grants get, list and watch); Run() on
// a thread of its own until Stop().
#ifndef KMESH_IPSEC_NODE_WATCHER_H_
#define KMESH_IPSEC_NODE_WATCHER_H_

#include <atomic>
#include <cstdint>
#include <map>
#include <string>

#include "kmesh/ipsec/ipsec_events.h"
#include "kmesh/ipsec/node_view.h"
#include "kmesh/kube/kube_client.h"
#include "kmesh/kube/reflector.h"

namespace kmesh::ipsec {

class NodeObjectHandler : public kube::ReflectorHandler {
 public:
  // `sink` must outlive the handler. The Node named `own_node_name` is
  // skipped.
  NodeObjectHandler(std::string own_node_name, IpsecEventSink* sink);

  // kube::ReflectorHandler; called from one thread at a time.
  void OnAdd(const std::string& object) override;
  void OnUpdate(const std::string& old_object,
                const std::string& new_object) override;
  void OnDelete(const std::string& last_known) override;
  // Forwards to IpsecEventSink::OnNodesSynced().
  void OnSynced() override;

  // How many unusable Nodes have been reported (each distinct problem of a
  // node once). Thread-safe.
  int64_t unusable_node_count() const { return unusable_nodes_.load(); }

 private:
  void Upsert(const std::string& object);
  void ReportUnusable(const std::string& key, const std::string& error);

  const std::string own_node_name_;
  IpsecEventSink* const sink_;
  // Nodes delivered to the sink, as last delivered.
  std::map<std::string, NodeView> delivered_;
  // Node (name, or "" when unreadable) -> the problem last reported.
  std::map<std::string, std::string> reported_;
  std::atomic<int64_t> unusable_nodes_{0};
};

class NodeWatcher {
 public:
  // `client` and `sink` must outlive the watcher.
  NodeWatcher(kube::KubeClient* client, std::string own_node_name,
              IpsecEventSink* sink, kube::ReflectorOptions options = {});

  // Lists and watches Nodes until Stop().
  void Run() { reflector_.Run(); }
  // Makes Run() return soon; thread-safe.
  void Stop() { reflector_.Stop(); }
  // Its lists and watches, for metrics.
  const kube::Reflector& reflector() const { return reflector_; }
  // True once the first list has been delivered.
  bool HasSynced() const { return reflector_.HasSynced(); }
  int64_t unusable_node_count() const { return handler_.unusable_node_count(); }

 private:
  NodeObjectHandler handler_;
  kube::Reflector reflector_;
};

}  // namespace kmesh::ipsec

#endif  // KMESH_IPSEC_NODE_WATCHER_H_
