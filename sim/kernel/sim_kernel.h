// SimKernel: one simulated node's network stack, the part of Linux that
// IPsec traffic crosses. It holds the node's XFRM tables (SimXfrm, which the
// daemon programs through XfrmKernel) and the marker maps (which the daemon
// fills through MarkerMaps), and moves real packet bytes the way Linux does:
//   pod -> host veth (tc ingress: encrypt marker) -> forward (fwd policy
//   check) -> XFRM output (out policy by selector and mark, block policy,
//   SA by template, ESP encapsulation) -> eth0 -> wire
//   wire -> eth0 (tc ingress: decrypt marker) -> XFRM input (SA by dst, SPI,
//   proto and mark; anti-replay; decryption; output mark) -> inner packet
//   re-received on eth0 (decrypt marker again) -> fwd/in policy check
//   against the SAs that decrypted it -> pod.
// Devices have an MTU (1,500 by default) and an oversized packet meets what
// Linux does to it: one too big for the next hop (for ESP, the largest inner
// packet the SA's tunnel fits, Linux's xfrm_state_mtu) is dropped with an
// ICMP Fragmentation Needed / ICMPv6 Packet Too Big carrying that MTU when
// it has DF set or is IPv6, and otherwise encapsulated whole and the outer
// packet fragmented on eth0; the receiving node reassembles ESP fragments
// before decrypting. A forwarded packet whose TTL / hop limit would run out
// is dropped with ICMP Time Exceeded. A pod's own stack (the pod's network
// namespace) keeps the PMTU it learns from those errors per destination, as a
// route exception, for ten minutes. The SNMP counters involved are kept under
// their nstat names.
// Every drop is counted in the /proc/net/xfrm_stat counters Linux would
// bump, and every packet crossing eth0 or a veth is offered to the capture
// sink, as `tcpdump -i any` would see it. Packets are processed
// synchronously on the caller's thread; the tables are thread-safe, so the
// daemon may reprogram them while traffic flows.
#ifndef SIM_KERNEL_SIM_KERNEL_H_
#define SIM_KERNEL_SIM_KERNEL_H_

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/types/span.h"
#include "kmesh/base/ip_address.h"
#include "kmesh/kernel/marker_attachment.h"
#include "kmesh/kernel/node_backends.h"
#include "sim/kernel/capture.h"
#include "sim/kernel/esp_transform.h"
#include "sim/kernel/memory_marker_maps.h"
#include "sim/kernel/xfrm/sim_xfrm.h"
#include "sim/net/ip_fragments.h"

namespace kmesh::sim {

// What happened to a packet, for the caller and the tests.
enum class PacketFate : uint8_t {
  kDelivered,        // Reached a pod (or, from the wire, was forwarded on).
  kTransmitted,      // Left on eth0 towards another node.
  kNoRoute,          // No pod, node address or route for the destination.
  kMalformed,        // Not a valid IP packet.
  kXfrmOutPolBlock,  // Matched a block policy on output.
  kXfrmOutNoStates,  // An out policy matched but no SA for its template.
  kXfrmOutPolError,  // Its template names an SPI whose SA does not fit
                     // (Linux: EEXIST from xfrm_state_find).
  kXfrmOutStateSeqError,   // The SA's sequence numbers are exhausted.
  kXfrmOutStateInvalid,    // The SA picked for it was deleted before it
                           // was encrypted (a concurrent delete).
  kXfrmInNoStates,         // ESP for an SPI/mark this node has no SA for.
  kXfrmInStateSeqError,    // Replayed or too old.
  kXfrmInStateProtoError,  // ICV did not verify, or bad ESP.
  kXfrmInStateMismatch,    // Decrypted, but outside its SA's selector.
  kXfrmInTmplMismatch,     // Policy required ESP it did not arrive with.
  kXfrmInNoPols,           // Decrypted but no policy accepts it.
  kXfrmInPolBlock,         // Matched a block policy on input.
  kFragNeeded,      // Too big for the next hop with DF (or IPv6): dropped,
                    // ICMP Fragmentation Needed / Packet Too Big sent back.
  kMessageTooLong,  // Larger than the pod's path MTU: its own stack
                    // refuses to send it (EMSGSIZE).
  kFragmentQueued,  // A fragment, held until its packet is whole.
  kTtlExceeded,     // Its TTL / hop limit ran out here: dropped, ICMP Time
                    // Exceeded sent back.
};
const char* PacketFateName(PacketFate fate);

class SimKernel : public NodeBackends {
 public:
  // Called with the next hop's address and the packet leaving on eth0.
  using Uplink = std::function<void(const IpAddress& next_hop,
                                    std::vector<uint8_t> packet)>;
  // Called with a packet delivered to a pod.
  using PodReceiver = std::function<void(absl::Span<const uint8_t> packet)>;

  // `ifindex_base` keeps interface indexes unique across simulated nodes.
  SimKernel(std::string node_name, uint32_t ifindex_base);
  SimKernel(const SimKernel&) = delete;
  SimKernel& operator=(const SimKernel&) = delete;

  const std::string& node_name() const { return node_name_; }

  // --- NodeBackends: what the node's IPsec agent programs ------------------
  SimXfrm& xfrm() override { return xfrm_; }
  MemoryMarkerMaps& marker_maps() override { return marker_maps_; }
  // Attaches the encrypt hook to the veth of a local pod, found by its IPs
  // as Linux routes them; NotFound (ENODEV) when no IP of the pod is behind
  // a veth here, and detaching from a pod whose veth is gone succeeds.
  EncryptMarkerAttachment& encrypt_marker_attachment() override {
    return pod_veths_;
  }
  // The decrypt hook on eth0, which carries the node addresses; attaching
  // when none of `node_addresses` is one of them is NotFound, as on Linux.
  absl::Status SetDecryptMarker(
      bool attach, const std::vector<IpAddress>& node_addresses) override;
  // Uninstall: every veth's encrypt hook off; then the decrypt hook off and
  // the marker maps (the node's "pinned" maps) emptied.
  absl::Status DetachEncryptMarkerEverywhere() override;
  absl::Status RemoveMarkers() override;
  // Whether any marker hook (encrypt on a veth, decrypt on eth0) is on.
  bool AnyMarkerAttached() const ABSL_LOCKS_EXCLUDED(mu_);

  // --- Topology ----------------------------------------------------------
  void AddNodeAddress(const IpAddress& address);
  std::vector<IpAddress> node_addresses() const;
  void SetUplink(Uplink uplink);
  // A pod behind a veth whose host side is named "veth-<pod>".
  void AddPod(const std::string& pod, const IpAddress& ip,
              PodReceiver receiver);
  void RemovePod(const IpAddress& ip);
  // Traffic to `prefix` leaves on eth0 towards `via` (a peer's node address).
  void SetRoute(const IpPrefix& prefix, const IpAddress& via);
  void RemoveRoute(const IpPrefix& prefix);

  // --- MTU ---------------------------------------------------------------
  static constexpr size_t kDefaultMtu = 1500;
  // How long a learnt path MTU holds (Linux's net.ipv4.route.mtu_expires).
  static constexpr std::chrono::seconds kPmtuExpiry{600};
  // eth0's MTU.
  void SetUplinkMtu(size_t mtu);
  size_t uplink_mtu() const;
  // The MTU of a pod's veth pair, both ends (what the CNI configured).
  void SetPodMtu(const IpAddress& pod_ip, size_t mtu);
  // What `ip route get <dst>` in the pod's namespace gives as MTU: its
  // veth's, or less when a Fragmentation Needed / Packet Too Big for `dst`
  // reached the pod in the last kPmtuExpiry. 0 for an unknown pod.
  size_t PodPathMtu(const IpAddress& pod_ip, const IpAddress& dst) const;
  // Linux's SNMP counters by nstat name (IpFragFails, IpFragOKs,
  // IpFragCreates, IpReasmReqds, IpReasmOKs, IpReasmFails, IpInHdrErrors,
  // IcmpOutDestUnreachs, IcmpOutTimeExcds, Ip6FragFails, Ip6InTooBigErrors,
  // Ip6InHdrErrors, Icmp6OutPktTooBigs, Icmp6OutTimeExcds); 0 for one never
  // bumped.
  uint64_t SnmpCounter(const std::string& name) const;
  std::map<std::string, uint64_t> SnmpCounters() const;

  // --- tc hooks ------------------------------------------------------------
  // The encrypt marker on the host side of a pod's veth, and the decrypt
  // marker on eth0; the same decisions the eBPF programs make
  // (bpf/marker_decision.h), on the marker maps above.
  void SetEncryptMarker(const IpAddress& pod_ip, bool attached);
  // The encrypt hook on a veth named by its host side ("veth-<pod>"), as a
  // CNI plugin attaches it (kmesh/cni): attaching to a missing interface is
  // NotFound (ENODEV), detaching from one succeeds, as with tc on Linux.
  absl::Status SetInterfaceEncryptMarker(const std::string& ifname,
                                         bool attached);
  absl::StatusOr<bool> InterfaceEncryptMarker(const std::string& ifname) const;
  // Fault injection: the next `count` attaches of the encrypt marker through
  // encrypt_marker_attachment() fail with ENOMEM, as a tc attach under
  // memory pressure does.
  void FailNextEncryptAttaches(int count);
  void SetDecryptMarker(bool attached);
  // The mark each hook leaves on `packet` arriving with `mark`: exactly what
  // the data path applies (exposed so tests can run the eBPF decision table
  // through this kernel's hooks).
  uint32_t RunEncryptHook(absl::Span<const uint8_t> packet, uint32_t mark);
  uint32_t RunDecryptHook(absl::Span<const uint8_t> packet, uint32_t mark);

  // --- Data path -----------------------------------------------------------
  // A pod sends `packet` (an IP packet; its source is the pod's address).
  PacketFate SendFromPod(const IpAddress& pod_ip, std::vector<uint8_t> packet);
  // A packet arrives on eth0 from the wire, carrying `mark` as its skb mark
  // (0 from a real wire; a test that injects marked packets into Linux
  // through a packet socket with SO_MARK passes that mark). The decrypt
  // marker, when attached, starts from it.
  PacketFate ReceiveFromWire(std::vector<uint8_t> packet, uint32_t mark = 0);

  // --- Capture ---------------------------------------------------------------
  using CaptureSink = std::function<void(const CapturedPacket&)>;
  void SetCaptureSink(CaptureSink sink);

 private:
  class PodVethAttachment : public EncryptMarkerAttachment {
   public:
    explicit PodVethAttachment(SimKernel* kernel) : kernel_(kernel) {}
    absl::Status Attach(const LocalPod& pod) override;
    absl::Status Detach(const LocalPod& pod) override;

   private:
    SimKernel* const kernel_;
  };
  // Sets the encrypt hook on the veth behind any of `pod`'s IPs; false when
  // there is none.
  bool SetVethEncryptMarker(const LocalPod& pod, bool attached)
      ABSL_LOCKS_EXCLUDED(mu_);

  struct Pod {
    std::string name;
    std::string ifname;
    uint32_t ifindex = 0;
    bool encrypt_marker = false;
    size_t mtu = kDefaultMtu;
    PodReceiver receiver;
  };

  // Drops `packet`, too big for `mtu`, with the ICMP error back to its
  // source; kFragNeeded. `at_forward`: refused by ip6_forward's own check
  // (counted as Ip6InTooBigErrors too), not by the tunnel's output.
  PacketFate RefuseTooBig(const std::vector<uint8_t>& packet, size_t mtu,
                          bool at_forward) ABSL_LOCKS_EXCLUDED(mu_);
  // Drops `packet`, whose TTL / hop limit runs out here, with ICMP Time
  // Exceeded back to its source; kTtlExceeded.
  PacketFate RefuseExpired(const std::vector<uint8_t>& packet)
      ABSL_LOCKS_EXCLUDED(mu_);
  // The address this node sends ICMP errors of `family` from.
  std::optional<IpAddress> ErrorSource(IpFamily family) const
      ABSL_LOCKS_EXCLUDED(mu_);
  // The next IPv4 identification (never 0).
  uint16_t NextIpId() ABSL_LOCKS_EXCLUDED(mu_);
  // A packet this node originates (an ICMP error): to a local pod, or out.
  PacketFate LocalOutput(std::vector<uint8_t> packet) ABSL_LOCKS_EXCLUDED(mu_);
  // Puts a packet on eth0, fragmenting an IPv4 packet without DF that is
  // larger than eth0's MTU.
  PacketFate Transmit(std::vector<uint8_t> packet, const IpAddress& next_hop)
      ABSL_LOCKS_EXCLUDED(mu_);
  void Count(const char* counter, uint64_t n = 1) ABSL_LOCKS_EXCLUDED(mu_);

  // The packet path never holds mu_ while it calls out (capture sink,
  // uplink, pod receiver), so those may call back into this kernel.
  void Capture(const std::string& ifname, uint32_t ifindex,
               PacketDirection direction, absl::Span<const uint8_t> packet)
      ABSL_LOCKS_EXCLUDED(mu_);
  // Policy check on input/forward (Linux __xfrm_policy_check) against the
  // SAs that decrypted the packet (its "sec_path").
  PacketFate PolicyCheck(XfrmDir dir, const IpAddress& src,
                         const IpAddress& dst, uint8_t proto, uint32_t mark,
                         const std::vector<XfrmSa>& sec_path);
  // Routes a packet that is not for this node: to a local pod, or out eth0.
  PacketFate Forward(std::vector<uint8_t> packet, uint32_t mark,
                     const std::vector<XfrmSa>& sec_path)
      ABSL_LOCKS_EXCLUDED(mu_);
  // XFRM output and eth0 for a packet leaving towards `next_hop`;
  // `forwarded` when it came from a pod or the wire (its TTL is decremented
  // here, after the MTU check), not from this node.
  PacketFate Output(std::vector<uint8_t> packet, uint32_t mark,
                    const IpAddress& next_hop, bool forwarded)
      ABSL_LOCKS_EXCLUDED(mu_);
  PacketFate XfrmInput(std::vector<uint8_t> packet, uint32_t mark)
      ABSL_LOCKS_EXCLUDED(mu_);
  PacketFate Deliver(const Pod& pod, absl::Span<const uint8_t> packet)
      ABSL_LOCKS_EXCLUDED(mu_);
  bool IsNodeAddress(const IpAddress& a) const ABSL_LOCKS_EXCLUDED(mu_);
  bool decrypt_marker() const ABSL_LOCKS_EXCLUDED(mu_);
  std::optional<IpAddress> RouteVia(const IpAddress& dst) const
      ABSL_LOCKS_EXCLUDED(mu_);
  // The ESP transform of an SA, built once per SA.
  std::shared_ptr<const EspTransform> TransformFor(const SaRef& sa)
      ABSL_LOCKS_EXCLUDED(mu_);

  const std::string node_name_;
  const uint32_t eth0_ifindex_;
  SimXfrm xfrm_;                  // Thread-safe on its own.
  MemoryMarkerMaps marker_maps_;  // Thread-safe on its own.

  mutable absl::Mutex mu_;  // Topology, hooks, sink, transform cache.
  uint32_t next_ifindex_ ABSL_GUARDED_BY(mu_);
  std::vector<IpAddress> node_addresses_ ABSL_GUARDED_BY(mu_);
  std::map<IpAddress, Pod> pods_ ABSL_GUARDED_BY(mu_);
  // Routes by prefix length, longest first: network address -> next hop.
  // (Keys carry the family, so IPv4 and IPv6 prefixes of one length share a
  // table without matching each other.)
  std::map<int, std::unordered_map<IpAddress, IpAddress>, std::greater<int>>
      routes_ ABSL_GUARDED_BY(mu_);
  bool decrypt_marker_ ABSL_GUARDED_BY(mu_) = false;
  Uplink uplink_ ABSL_GUARDED_BY(mu_);
  CaptureSink capture_sink_ ABSL_GUARDED_BY(mu_);
  std::unordered_map<uint64_t, std::shared_ptr<const EspTransform>> transforms_
      ABSL_GUARDED_BY(mu_);
  size_t uplink_mtu_ ABSL_GUARDED_BY(mu_) = kDefaultMtu;
  uint16_t next_ip_id_ ABSL_GUARDED_BY(mu_) = 1;
  Ipv4Reassembler reassembler_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, uint64_t> snmp_ ABSL_GUARDED_BY(mu_);
  // The pods' route exceptions: (pod, destination) -> PMTU, learnt when.
  std::map<std::pair<IpAddress, IpAddress>,
           std::pair<size_t, std::chrono::steady_clock::time_point>>
      pod_pmtu_ ABSL_GUARDED_BY(mu_);
  PodVethAttachment pod_veths_{this};
  std::atomic<int> failing_attaches_{0};
};

}  // namespace kmesh::sim

#endif  // SIM_KERNEL_SIM_KERNEL_H_
