// SecretStatus: `kmeshctl secret status`, the state of the IPsec key across
// the cluster, from the cluster alone. From the API server: the stored SPI
// (Secret kmesh-ipsec), the SPI each node advertises (its KmeshNodeInfo) and
// every node (Node objects). From each node's daemon, reached through the API
// server's pod proxy (GET /api/v1/namespaces/kmesh-system/pods/<pod>:<port>/
// proxy/v1/ipsec/status; RBAC: `get` on `pods/proxy` in kmesh-system): the
// keys it holds, its SAs and policies per SPI, its peers and why any is not
// programmed, old SPIs awaiting reclaim and when, the highest ESP sequence
// number of each outbound SA, and the xfrm_stat counters that changed since
// the daemon started.
//
// It decides whether a rotation is in progress (some node does not advertise
// the stored SPI), since when (the Secret's last write, from its
// managedFields; else the longest any daemon has held the stored key), and
// which nodes lag (a node that joined since is measured from its own
// creation); a KmeshNodeInfo whose Node is gone is reported as stale; and
// whether something is wrong: a node lagging past the threshold, a daemon that
// cannot be reached, a daemon that cannot use its key file, a peer in error, a
// kernel read failing, xfrm_stat error counters that rose, an outbound SA near
// the end of its sequence numbers. Exit codes: 0 all well (a rotation within
// the threshold included), 1 the status could not be read (no secret, API
// server unreachable), 2 something is wrong (each problem is named). Output
// is a table for people or JSON (-o json) for scripts. Nothing it prints is
// key material.
#ifndef KMESH_KMESHCTL_SECRET_STATUS_H_
#define KMESH_KMESHCTL_SECRET_STATUS_H_

#include <string>

#include "absl/time/time.h"
#include "kmesh/kmeshctl/secret_command.h"
#include "kmesh/kube/kube_client.h"

namespace kmesh::kmeshctl {

inline constexpr int kStatusExitProblems = 2;

struct SecretStatusOptions {
  SecretCommandOptions secret;  // For reading the secret (messages).
  SecretOutputFormat output = SecretOutputFormat::kText;
  // Where the daemons run and how they are found.
  std::string daemon_namespace = "kmesh-system";
  std::string daemon_selector = "app=kmesh";
  // The status port when the daemon Pod names none ("status" container
  // port); kmesh-daemon's --status-address default.
  int default_status_port = 15200;
  // A node still not advertising the stored SPI this long after the first
  // daemon got the key is a problem.
  absl::Duration lag_threshold = absl::Minutes(5);
  // An outbound SA that used this fraction of its sequence numbers is a
  // problem (at 1 it can no longer send).
  double seq_used_threshold = 0.9;
  // The time now, for the Secret's and the Nodes' timestamps.
  absl::Time now = absl::Now();
};

CommandResult SecretStatus(kube::KubeClient& client,
                           const SecretStatusOptions& options);

}  // namespace kmesh::kmeshctl

#endif  // KMESH_KMESHCTL_SECRET_STATUS_H_
