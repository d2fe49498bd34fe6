// Random packets forwarded from a local pod through this node's XFRM output,
// for comparing what leaves Linux's datapath with what leaves SimKernel's.
// A case is one tunnel (this node to a peer, IPv4 or IPv6), the out policy
// and SA a node-pair layout gives it (the pod's prefix to the peer's pods,
// of the tunnel's family or, one case in four, of the other), eth0's MTU,
// and UDP datagrams from the pod: inner sizes
// from an empty datagram to past the MTU, most near the tunnel's limit;
// DF set or not; every TOS / ECN codepoint; TTLs from 1; IPv4 IDs and IPv6
// flow labels. The verdict (DatapathVerdict) describes what came out, in
// order: every frame on the wire with its outer header fields (fragments
// included), the ESP inside once reassembled and decrypted (SPI, sequence
// number, every byte of the inner packet), every ICMP error sent back to
// the pod with what it quotes, and the SNMP and xfrm_stat counters that
// rose.
#ifndef SIM_KERNEL_TESTING_OUTBOUND_DATAPATH_CASES_H_
#define SIM_KERNEL_TESTING_OUTBOUND_DATAPATH_CASES_H_

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "kmesh/base/ip_address.h"
#include "kmesh/kernel/xfrm.h"
#include "sim/kernel/sim_kernel.h"
#include "sim/kernel/testing/random_xfrm.h"

namespace kmesh::sim::testing {

struct DatapathPacket {
  std::vector<uint8_t> inner;  // The IP packet as the pod sends it.
  std::string description;     // "udp 1419 bytes, DF, tos 0xbb, ttl 9".
};

struct DatapathCase {
  IpAddress node;  // This node's address: the tunnel's source.
  // Its addresses: `node`, and one of the pods' family when the tunnel is
  // of the other (a node of a dual-stack cluster; it sends the ICMP errors
  // of that family).
  std::vector<IpAddress> node_addresses;
  IpAddress peer;   // The peer node's: the tunnel's destination.
  IpAddress pod;    // The local pod that sends.
  IpPrefix remote;  // The peer's pods, routed through the peer.
  size_t mtu = 0;   // eth0's MTU.
  XfrmPolicy policy;
  XfrmSa sa;
  std::vector<DatapathPacket> packets;  // In the order they are sent.
};

class RandomDatapathCases {
 public:
  explicit RandomDatapathCases(uint32_t seed);
  DatapathCase Next();

 private:
  DatapathPacket Packet(const DatapathCase& c);

  RandomPicks picks_;
};

// The counters a verdict reports when they rise: Linux's SNMP counters by
// nstat name (the ones SimKernel keeps) and every xfrm_stat counter.
const std::vector<std::string>& DatapathSnmpCounters();

// What left the node for one packet.
struct DatapathOutput {
  std::vector<std::vector<uint8_t>> wire;    // IP packets out of eth0.
  std::vector<std::vector<uint8_t>> to_pod;  // IP packets sent to the pod.
  std::map<std::string, uint64_t> risen;     // Counter -> how much it rose.
};

// The rise of every counter between two readings, for DatapathOutput: of
// DatapathSnmpCounters() and the xfrm_stat counters (names "Xfrm..."), the
// others left out.
std::map<std::string, uint64_t> CountersRisen(
    const std::map<std::string, uint64_t>& before,
    const std::map<std::string, uint64_t>& after);

// The xfrm_stat counters as a map, to read alongside the SNMP ones.
std::map<std::string, uint64_t> StatMap(const XfrmStats& stats);

// What came out, one line per frame, decrypted ESP packet and ICMP error,
// then the counters: equal text for equal behaviour. Fields Linux fills
// from a hash or a random source (the IPv4 ID of a packet without DF, the
// ESP IV) are reported as whether they are set and equal across fragments,
// not by value.
std::string DatapathVerdict(const DatapathCase& c, const DatapathOutput& out);

// A SimKernel set up as the case's node: its address, the pod (veth MTU
// large enough for any packet of the case), the route to the peer's pods,
// eth0's MTU, and the policy and SA (`added` is the first error adding
// them, or OK).
struct SimDatapathHost {
  std::unique_ptr<SimKernel> kernel;
  IpAddress pod;
  std::shared_ptr<std::vector<std::vector<uint8_t>>> to_pod;
  absl::Status added;
};
SimDatapathHost MakeSimDatapathHost(const DatapathCase& c);

// What SimKernel sends out for `packet` (SendFromPod).
DatapathOutput SimDatapathOutput(SimDatapathHost& host,
                                 const DatapathPacket& packet);

}  // namespace kmesh::sim::testing

#endif  // SIM_KERNEL_TESTING_OUTBOUND_DATAPATH_CASES_H_
