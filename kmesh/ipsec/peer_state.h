// PeerState: what the IPsec controller holds about one peer node, one record
// per peer (a PeerTable, by node name) shared by the controller's parts: the
// peer's record and peer index (IpsecController), the SPIs used with it
// (decided by SpiRotation), and the addresses the decrypt marker and the
// pod CIDRs the encrypt marker has for it (kept by MarkerSync). SAs adopted
// from the kernel for a peer are not here but in AdoptedKernelState, their one
// owner.
#ifndef KMESH_IPSEC_PEER_STATE_H_
#define KMESH_IPSEC_PEER_STATE_H_

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "kmesh/base/ip_address.h"
#include "kmesh/ipsec/node_view.h"

namespace kmesh::ipsec {

struct PeerState {
  // What the peer is programmed from: its published record when it has one
  // (view.spi is the SPI it advertises), else what its Node object says
  // (spi 0: it advertises nothing, so nothing is sent to it, but it can be
  // received from before it publishes).
  NodeView view;
  // Its KmeshNodeInfo, when it has one.
  std::optional<NodeView> record;
  // What its Node object says (spi 0), when known.
  std::optional<NodeView> node;
  // Its peer index (1..65535); 0 while none is free.
  uint16_t index = 0;
  // The SPI this node sends to it with; 0 = none.
  int32_t outbound_spi = 0;
  // SPIs this node sent to it with before `outbound_spi`, whose outbound SAs
  // stay (without an out policy) until the SPI is reclaimed: a packet that
  // picked the old SA just before the out policy moved to the new one still
  // leaves as ESP instead of being dropped as XfrmOutStateInvalid.
  std::set<int32_t> retiring_outbound_spis;
  // SPIs whose inbound SAs from it are all installed.
  std::set<int32_t> inbound_installed;
  // Addresses currently in the decrypt marker's peer map.
  std::vector<IpAddress> marked_addresses;
  // Its pod CIDRs currently in the encrypt marker's encrypt-CIDR map.
  std::vector<IpPrefix> encrypt_cidrs;
  // OK, or why the peer is not (fully) programmed.
  absl::Status status;
  // No index, or its record cannot be laid out (e.g. a short boot ID): it
  // has no objects and holds back neither advertising nor reclaim.
  bool unprogrammable = false;
};

using PeerTable = std::map<std::string, PeerState>;

}  // namespace kmesh::ipsec

#endif  // KMESH_IPSEC_PEER_STATE_H_
