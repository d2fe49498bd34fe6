// XfrmLayout: the XFRM state (SAs and policies) this node should hold, as a
// pure function of what the controller knows: this node's NodeView, a peer's
// NodeView and locally assigned peer index, the pre-shared keys, the SPIs to
// receive with and the SPI to send to that peer with. Nothing here talks to
// the kernel; XfrmProgrammer makes the kernel match what this computes.
//
// The layout (docs/xfrm-layout.md has the full picture and the reasons):
//  - Every object carries reqid kKmeshReqid and a Kmesh mark; that pair is how
//    the daemon recognises what it owns and leaves every other SA and policy
//    on the host alone.
//  - Inbound SAs are unique per peer: they match the mark
//    (peer_index << 16) | 0xd0 under mask 0xffff00ff, which the decrypt eBPF
//    program sets on ESP from that peer's address; the SA's output mark
//    rewrites it to plain 0xd0 ("decrypted") for the policy check.
//  - In and fwd policies are per (peer pod CIDR, local pod CIDR), so no peer
//    overwrites another; out policies are per peer pod CIDR, template pinned
//    to the outbound SA's SPI.
//  - A catch-all block out policy per family for mark 0xe0 at a worse
//    priority: marked traffic without a specific policy is dropped, never
//    sent in clear.
//  - Address pairs: per address family, this node's first address of that
//    family with the peer's first address of that family (the order is the
//    one published in KmeshNodeInfo, so both ends pick the same pair). An SA
//    is identified by (destination, SPI, mark) without its source, so two
//    source addresses of one peer could not both have an inbound SA under one
//    peer index; one pair per family avoids that.
#ifndef KMESH_IPSEC_XFRM_LAYOUT_H_
#define KMESH_IPSEC_XFRM_LAYOUT_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "bpf/marker_decision.h"
#include "kmesh/base/ip_address.h"
#include "kmesh/ipsec/key_ring.h"
#include "kmesh/ipsec/node_view.h"
#include "kmesh/kernel/xfrm.h"

namespace kmesh::ipsec {

// The reqid on every SA and policy template the daemon owns: ASCII "KMSH".
// IKE daemons allocate reqids upwards from 1, so this never collides with
// theirs in practice.
inline constexpr uint32_t kKmeshReqid = 0x4b4d5348;

// Mark values (low byte) and the masks they are matched under; defined once,
// in the header the eBPF markers compile (bpf/marker_decision.h).
inline constexpr uint32_t kEncryptMarkValue = KMESH_MARK_ENCRYPT;
inline constexpr uint32_t kDecryptMarkValue = KMESH_MARK_DECRYPT;
inline constexpr uint32_t kMarkTypeMask = KMESH_MARK_KIND_MASK;
inline constexpr int kPeerIndexShift = KMESH_MARK_PEER_INDEX_SHIFT;
inline constexpr uint32_t kInboundSaMarkMask =
    KMESH_MARK_PEER_INDEX_MASK | KMESH_MARK_KIND_MASK;
// Peer indices are 16 bits; 0 is never assigned, so at most 65535 peers.
inline constexpr uint32_t kMaxPeerIndex = KMESH_PEER_INDEX_MAX;

// Policy priorities: lower numbers win. The block policies sit under the
// specific ones.
inline constexpr uint32_t kPolicyPriority = 100;
inline constexpr uint32_t kBlockPolicyPriority = 1000;

// Anti-replay window (packets) and extended sequence numbers on every SA.
inline constexpr uint32_t kReplayWindow = 1024;

// "Encrypt this": set by the encrypt eBPF program; matched by out policies,
// the block policies and outbound SAs.
inline constexpr XfrmMark kEncryptMark{kEncryptMarkValue, kMarkTypeMask};
// "This was decrypted": set by inbound SAs' output mark; matched by in/fwd
// policies.
inline constexpr XfrmMark kDecryptedMark{kDecryptMarkValue, kMarkTypeMask};
// What an inbound SA's output mark writes: 0xd0, clearing the peer index.
inline constexpr XfrmMark kInboundOutputMark{kDecryptMarkValue,
                                             kInboundSaMarkMask};

// The mark an inbound SA for the peer with `peer_index` matches; the decrypt
// program sets exactly this value on ESP from that peer's addresses.
XfrmMark InboundSaMark(uint16_t peer_index);
// The peer index carried by an inbound SA's mark (0 when it is none of ours).
uint16_t PeerIndexFromInboundMark(const XfrmMark& mark);

// Whether an object is one this daemon owns (reqid + marks). Everything else
// is foreign and never modified or deleted.
bool IsOwnedSa(const XfrmSa& sa);
bool IsOwnedPolicy(const XfrmPolicy& policy);
// Owned SAs are inbound (decrypt mark) or outbound (encrypt mark).
bool IsInboundSa(const XfrmSa& sa);
// The catch-all block policies.
bool IsBlockPolicy(const XfrmPolicy& policy);

// A set of SAs and policies.
struct XfrmObjects {
  std::vector<XfrmSa> sas;
  std::vector<XfrmPolicy> policies;
};

// The address pair one family's traffic to/from a peer uses: the textual
// forms (for the key derivation) and the parsed ones.
struct AddressPair {
  std::string local_text;
  std::string peer_text;
  IpAddress local;
  IpAddress peer;
};

// The same-family address pairs between `self` and `peer` (at most one per
// family, IPv4 first). InvalidArgument when the peer has no addresses or an
// address does not parse; FailedPrecondition when they share no family.
absl::StatusOr<std::vector<AddressPair>> ChooseAddressPairs(
    const NodeView& self, const NodeView& peer);

struct PeerLayoutInput {
  const NodeView* self = nullptr;
  const NodeView* peer = nullptr;
  uint16_t peer_index = 0;  // 1..65535
  const KeyRing* keys = nullptr;
  // SPIs this node receives with (current and not yet reclaimed ones): one
  // inbound SA per SPI and address pair.
  std::vector<int32_t> inbound_spis;
  // The SPI to send to this peer with; 0 = send nothing (marked traffic to
  // the peer then hits the block policy).
  int32_t outbound_spi = 0;
  // SPIs this node sent to the peer with before `outbound_spi` and not yet
  // reclaimed: their outbound SAs stay, without an out policy, so a packet
  // that picked one just before the policy moved still leaves as ESP. Left
  // out when the key is gone and no adopted SA has it.
  std::vector<int32_t> retiring_outbound_spis;
  // The peer's adopted SAs (adopted_kernel_state.h): SAs in the kernel
  // whose pre-shared key is not in `keys` (left by a previous run, or kept
  // while a peer still uses an old SPI); may be null. An SA the layout
  // cannot derive is taken from here when one with the same (source,
  // destination, SPI, mark) exists, and left out otherwise. The one input
  // that comes from the kernel rather than from the node records and keys.
  const std::vector<XfrmSa>* adopted_sas = nullptr;
};

struct PeerLayout {
  XfrmObjects objects;
  // Things the operator should know that do not stop the peer from working,
  // e.g. a pod CIDR of a family the two nodes share no addresses in.
  std::vector<std::string> warnings;
};

// The objects this node holds for one peer: inbound SAs, in/fwd policies,
// outbound SA and out policies. Errors (InvalidArgument/FailedPrecondition)
// name the peer and the cause: a boot ID shorter than 36 characters (either
// side), a peer without addresses, no shared address family.
absl::StatusOr<PeerLayout> LayoutPeer(const PeerLayoutInput& input);

// The catch-all block out policies (IPv4 and IPv6) for the encrypt mark.
XfrmObjects LayoutCatchAll();

// Field-by-field equality (keys compared in constant time).
bool SameSa(const XfrmSa& a, const XfrmSa& b);
bool SamePolicy(const XfrmPolicy& a, const XfrmPolicy& b);

// One line per object in the style of `ip xfrm state` / `ip xfrm policy`,
// keys elided; for logs, errors and docs.
std::string DescribeSa(const XfrmSa& sa);
std::string DescribePolicy(const XfrmPolicy& policy);

}  // namespace kmesh::ipsec

#endif  // KMESH_IPSEC_XFRM_LAYOUT_H_
