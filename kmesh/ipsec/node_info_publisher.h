// NodeInfoPublisher: publishes this node's KmeshNodeInfo (its SPI, addresses,
// boot ID and pod CIDRs) so that peers can derive keys and program SAs towards
// it, and withdraws it on shutdown. An interface so the controller can be
// tested without an API server; KubeNodeInfoPublisher (node_record.h) is the
// implementation over the Kubernetes API.
#ifndef KMESH_IPSEC_NODE_INFO_PUBLISHER_H_
#define KMESH_IPSEC_NODE_INFO_PUBLISHER_H_

#include <string>

#include "absl/status/status.h"
#include "kmesh/ipsec/node_view.h"

namespace kmesh::ipsec {

class NodeInfoPublisher {
 public:
  virtual ~NodeInfoPublisher() = default;
  // Creates or updates the KmeshNodeInfo named self.name. Unavailable means
  // "try again later"; other errors are not transient.
  virtual absl::Status Publish(const NodeView& self) = 0;
  // Deletes the KmeshNodeInfo named `node_name`; absent already is success.
  virtual absl::Status Withdraw(const std::string& node_name) = 0;
};

}  // namespace kmesh::ipsec

#endif  // KMESH_IPSEC_NODE_INFO_PUBLISHER_H_
