// Random inbound XFRM tables and packets arriving from the wire, for
// comparing what Linux's input path does with them with what SimKernel does
// (ReceiveFromWire). A case is this host's addresses, inbound tunnel-mode ESP
// SAs to them (marks that overlap, replay windows with and without ESN,
// selectors of either family, output marks) and in policies (allow with a
// tunnel template, optional or not, allow without one, block), then packets
// sent in order: ESP through one of the SAs with the next sequence number or
// a jump, a replay of an earlier packet, a corrupted ICV, an SPI nobody has,
// an ESN sequence number crossing 2^32, an inner packet of the other family,
// an IPv4 ESP packet arriving in fragments (in order or not); and packets in
// clear. Each carries a UDP datagram to a host address. The
// verdict (InboundVerdict) is read from what moved: the SA whose packet
// counter rose, the XfrmIn* counters that rose, and whether the datagram
// was delivered.
#ifndef SIM_KERNEL_TESTING_INBOUND_LOOKUP_CASES_H_
#define SIM_KERNEL_TESTING_INBOUND_LOOKUP_CASES_H_

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/types/span.h"
#include "kmesh/base/ip_address.h"
#include "kmesh/kernel/xfrm.h"
#include "sim/kernel/sim_kernel.h"
#include "sim/kernel/testing/random_xfrm.h"

namespace kmesh::sim::testing {

// The UDP port every inner datagram is sent to.
inline constexpr uint16_t kInboundUdpPort = 7777;

struct InboundPacket {
  std::vector<uint8_t> wire;  // The IP packet as it arrives (ESP or clear).
  // When not empty: `wire` arrives as these IPv4 fragments, in this order.
  std::vector<std::vector<uint8_t>> fragments;
  uint32_t mark = 0;    // The skb mark it arrives with.
  IpAddress inner_src;  // The UDP datagram inside (or the packet).
  IpAddress inner_dst;
  std::vector<uint8_t> payload;
  std::string description;  // "esp spi 0x2 seq 3 ..., icv corrupted".
};

struct InboundCase {
  std::vector<IpAddress> local;  // This host's addresses.
  std::vector<IpAddress> pods;   // Its pods' (InboundTarget::kPods).
  std::vector<XfrmPolicy> policies;
  std::vector<XfrmSa> sas;
  std::vector<InboundPacket> packets;  // In the order they are sent.
};

// Where the inner packets go: to the host itself (delivered locally, the in
// policy check), or to a pod of each family behind a veth (forwarded after
// decryption, the fwd policy check; the policies are fwd policies).
enum class InboundTarget { kHost, kPods };

class RandomInboundCases {
 public:
  explicit RandomInboundCases(uint32_t seed,
                              InboundTarget target = InboundTarget::kHost);
  InboundCase Next();

 private:
  // An address of `c`'s host or pods, as the target says.
  IpAddress Destination(IpFamily family, const InboundCase& c);
  IpAddress Remote(IpFamily family, const std::vector<IpAddress>& local);
  IpAddress Local(IpFamily family, const std::vector<IpAddress>& local);

  RandomPicks picks_;
  RandomPolicies pools_;
  InboundTarget target_;
  uint32_t case_number_ = 0;
};

// What the datagram that reached its socket carried in its IP header.
struct Delivery {
  uint8_t tos = 0;  // TOS / traffic class (after decapsulation).
  uint8_t ttl = 0;  // TTL / hop limit.
  // Every byte of the packet, where it is seen whole (forwarded to a pod);
  // empty for a datagram read from a socket.
  std::vector<uint8_t> packet;
};

// A short fingerprint of a packet's bytes (FNV-1a, 64 bits), for verdicts.
uint64_t PacketDigest(absl::Span<const uint8_t> bytes);

// The verdict for one packet from what moved between two readings of a
// kernel: "sa <identity>" for each SA whose packet counter rose, the
// XfrmIn* (and XfrmFwd*) counters that rose, without "Xfrm", and
// "delivered tos 0x.. ttl N" when the datagram reached its socket (or its
// pod, then with " bytes N digest ..." of the whole packet); joined
// with ", ", or "nothing".
std::string InboundVerdict(const std::vector<XfrmSa>& sas_before,
                           const XfrmStats& stats_before,
                           const std::vector<XfrmSa>& sas_after,
                           const XfrmStats& stats_after,
                           const std::optional<Delivery>& delivered);

// The value of the xfrm_stat counter `name` in `stats`; 0 when it is not
// listed.
uint64_t StatOf(const XfrmStats& stats, const std::string& name);

// Whether an input-side counter (XfrmIn*, XfrmFwd*) differs between two
// readings: the packet from the wire was dropped by XFRM.
bool AnyInboundDropRose(const XfrmStats& before, const XfrmStats& after);

// A SimKernel holding `c`'s addresses as node addresses, its pods, and its
// SAs and policies; the answers to adding them (OK or the error), in
// order; what reached the pods.
struct SimInboundHost {
  std::unique_ptr<SimKernel> kernel;
  std::vector<absl::Status> added;
  std::shared_ptr<std::vector<std::vector<uint8_t>>> to_pods;
};
SimInboundHost MakeSimInboundHost(const InboundCase& c);

// SimKernel's verdict for `packet` (ReceiveFromWire), as InboundVerdict.
std::string SimInboundVerdict(SimInboundHost& host,
                              const InboundPacket& packet);

}  // namespace kmesh::sim::testing

#endif  // SIM_KERNEL_TESTING_INBOUND_LOOKUP_CASES_H_
