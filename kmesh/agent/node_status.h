// NodeStatus: what one node's daemon reports about its IPsec, as served on
// its status endpoint (`GET /v1/ipsec/status`, read by `kmeshctl secret
// status` through the API server's pod proxy) and as Prometheus metrics
// (node_metrics.h). It joins three views taken at one moment: the
// controller's state (IpsecControllerSnapshot: SPIs, peers, pending
// reclaims, error counts), the agent's (managed pods, marker errors, watch
// restarts), and the kernel's (the SAs and policies this daemon owns, grouped
// by SPI and direction, the output sequence number of every outbound SA, and
// /proc/net/xfrm_stat with what changed since the daemon started). A kernel
// read that fails is reported in `kernel_error`, never hidden. No key
// material is ever part of it.
#ifndef KMESH_AGENT_NODE_STATUS_H_
#define KMESH_AGENT_NODE_STATUS_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "kmesh/base/clock.h"
#include "kmesh/ipsec/ipsec_controller.h"
#include "kmesh/kernel/xfrm.h"

namespace kmesh::agent {

// The ESP sequence number space of an SA without ESN: 32 bits. The kernel
// refuses to send once oseq would wrap (XfrmOutStateSeqError).
inline constexpr uint64_t kSeqSpace32 = 0xffffffffull;

struct NodeStatus {
  // Owned objects of one SPI.
  struct SpiObjects {
    int32_t spi = 0;
    int inbound_sas = 0;
    int outbound_sas = 0;
    // Out policies whose template uses this SPI.
    int out_policies = 0;
  };
  // One outbound SA and how far its sequence numbers went.
  struct OutboundSa {
    std::string peer;  // The peer whose address is its destination.
    std::string src;
    std::string dst;
    int32_t spi = 0;
    bool esn = false;
    uint64_t output_seq = 0;
    uint64_t packets = 0;
    uint64_t bytes = 0;
    // output_seq over the sequence space (0..1); 1 means it cannot send.
    double seq_used = 0;
  };
  struct XfrmStat {
    std::string name;
    uint64_t value = 0;
    // value minus the value at daemon start; 0 when there is no baseline.
    uint64_t since_start = 0;
  };
  struct Watch {
    std::string resource;  // "kmeshnodeinfos", "nodes", "pods", ...
    int lists = 0;         // 1 + relists.
    int watches = 0;       // Watches opened (restarts included).
  };

  std::string node;
  TimePoint now{};
  TimePoint daemon_started{};
  Duration grace_period{};
  ipsec::IpsecControllerSnapshot controller;

  // The kernel (owned objects only).
  std::vector<SpiObjects> spis;  // Ascending SPI.
  int in_policies = 0;           // Owned in/fwd policies (all SPIs).
  int fwd_policies = 0;
  int block_policies = 0;
  std::vector<OutboundSa> outbound_sas;
  std::vector<XfrmStat> xfrm_stats;  // Kernel order; empty if unreadable.
  std::string kernel_error;          // Why a kernel read failed, if one did.

  // The agent.
  size_t managed_local_pods = 0;  // Pods with the encrypt marker attached.
  size_t unmanaged_pods = 0;      // Known-unmanaged pod IPs left in clear.
  uint64_t marker_errors = 0;     // Failed marker operations so far.
  size_t marker_pending_retries = 0;
  std::vector<Watch> watches;
};

// Fills the kernel part of `status` from `kernel` (owned SAs and policies,
// xfrm_stat against `stats_at_start`), naming each outbound SA's peer from
// the addresses of status->controller's peers.
void ReadKernelStatus(XfrmKernel& kernel, const XfrmStats& stats_at_start,
                      NodeStatus* status);

// The status as JSON (the body of GET /v1/ipsec/status). Times are given as
// ages or delays in seconds relative to `now` (the daemon's clock is
// monotonic), e.g. "keyAgeSeconds", "dueInSeconds". The schema is documented
// in docs/kmeshctl.md.
std::string NodeStatusJson(const NodeStatus& status);

}  // namespace kmesh::agent

#endif  // KMESH_AGENT_NODE_STATUS_H_
