// UninstallNode: what `kmesh-daemon uninstall` does on one node, the one
// explicit way to remove the product (stopping the daemon removes nothing:
// ipsec_agent.h). It removes exactly what the product owns, in an order that
// never lets a marked packet leave in clear:
//   1. the encrypt marker, from every interface: nothing is marked any more.
//      If that fails, nothing else is touched (the block policy stays, so a
//      marker still attached cannot send in clear) and the error says so;
//   2. the node's own KmeshNodeInfo: peers stop encrypting to it. If that
//      fails, the kernel keeps its state (peers still send ESP to it);
//   3. the owned XFRM objects (reqid kKmeshReqid and the Kmesh marks: see
//      kmesh/ipsec/xfrm_layout.h): SAs and policies, the block policies last
//      and only once everything else is gone;
//   4. the decrypt marker and the markers' pinned maps.
// Foreign SAs, policies, tc filters and records are never touched. Running
// it again finds nothing to remove and succeeds (idempotent). A failure is
// one error naming the step and what was kept; running it again retries.
#ifndef KMESH_AGENT_NODE_UNINSTALL_H_
#define KMESH_AGENT_NODE_UNINSTALL_H_

#include <cstddef>
#include <string>

#include "absl/status/statusor.h"
#include "kmesh/kernel/node_backends.h"
#include "kmesh/kube/kube_client.h"

namespace kmesh::agent {

struct UninstallReport {
  size_t sas_removed = 0;
  size_t policies_removed = 0;  // The block policies included.
};

absl::StatusOr<UninstallReport> UninstallNode(const std::string& node_name,
                                              kube::KubeClient* client,
                                              NodeBackends* node);

}  // namespace kmesh::agent

#endif  // KMESH_AGENT_NODE_UNINSTALL_H_
