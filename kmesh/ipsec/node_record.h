// This node's own KmeshNodeInfo record: how the daemon builds the NodeView it
// advertises from the Kubernetes Node object (InternalIP addresses in the
// order the Node lists them, the boot ID from status.nodeInfo, the pod CIDRs
// from spec.podCIDRs or, on clusters that only set it, spec.podCIDR) plus the
// SPI it currently receives with, and KubeNodeInfoPublisher, which writes
// that record to the API server as the custom resource KmeshNodeInfo
// (kmesh.net/v1alpha1, namespace kmesh-system, name = node name): create it,
// or update it with the resourceVersion just read, re-reading and retrying a
// bounded number of times when another writer got there first.
#ifndef KMESH_IPSEC_NODE_RECORD_H_
#define KMESH_IPSEC_NODE_RECORD_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "kmesh/api/kube.pb.h"
#include "kmesh/ipsec/node_info_publisher.h"
#include "kmesh/ipsec/node_view.h"
#include "kmesh/kube/kube_client.h"

namespace kmesh::ipsec {

// Where KmeshNodeInfo objects live.
inline constexpr char kKmeshNamespace[] = "kmesh-system";

// The NodeView this node advertises. FailedPrecondition when the Node has no
// InternalIP or no boot ID yet (kubelet has not reported them); InvalidArgument
// when an address or CIDR does not parse or the boot ID is shorter than the
// 36 characters the key derivation uses. Errors name the node and the field.
absl::StatusOr<NodeView> NodeViewFromNode(const kmesh::api::Node& node,
                                          int32_t spi);

// Reads the Node `node_name` and returns NodeViewFromNode(node, spi). API
// errors are returned as they are (Unavailable: try again later).
absl::StatusOr<NodeView> LoadOwnNodeView(kube::KubeClient* client,
                                         const std::string& node_name,
                                         int32_t spi);

// NodeInfoPublisher over the Kubernetes API.
class KubeNodeInfoPublisher : public NodeInfoPublisher {
 public:
  struct Options {
    std::string ns = kKmeshNamespace;
    // Read-modify-write rounds before giving up on repeated conflicts.
    int max_attempts = 5;
  };

  // `client` must outlive the publisher.
  explicit KubeNodeInfoPublisher(kube::KubeClient* client);
  KubeNodeInfoPublisher(kube::KubeClient* client, Options options);

  // Creates the record or updates its spec (keeping labels, annotations and
  // other metadata); no write when the stored spec already matches. Returns
  // the API error as it is for anything but a conflict (Aborted) or a create
  // race (AlreadyExists), which are retried after re-reading; Aborted when
  // every attempt conflicted.
  absl::Status Publish(const NodeView& self) override;
  // Deletes the record; NotFound counts as success.
  absl::Status Withdraw(const std::string& node_name) override;

 private:
  kube::KubeClient* const client_;
  const Options options_;
};

}  // namespace kmesh::ipsec

#endif  // KMESH_IPSEC_NODE_RECORD_H_
