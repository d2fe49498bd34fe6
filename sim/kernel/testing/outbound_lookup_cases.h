// Random outbound XFRM tables and packets, for comparing which policy and SA
// Linux's output path picks with what SimXfrm::ResolveOutbound picks. A case
// is a few out policies (allow with one tunnel template, allow without, or
// block; overlapping prefixes, marks and priorities), SAs made to fit those
// templates more often than not (marks that overlap, a reqid or SPI that
// does not fit now and then, tunnels that change family), and packets
// between addresses of the same pools. A verdict is a line: "clear",
// "block", "nostates", or "sa <identity>" for the SA that encrypted it.
#ifndef SIM_KERNEL_TESTING_OUTBOUND_LOOKUP_CASES_H_
#define SIM_KERNEL_TESTING_OUTBOUND_LOOKUP_CASES_H_

#include <cstdint>
#include <string>
#include <vector>

#include "kmesh/base/ip_address.h"
#include "kmesh/kernel/xfrm.h"
#include "sim/kernel/testing/random_xfrm.h"
#include "sim/kernel/xfrm/sim_xfrm.h"

namespace kmesh::sim::testing {

struct OutboundPacket {
  IpAddress src;
  IpAddress dst;
  uint8_t proto = 17;
  uint32_t mark = 0;

  std::string ToString() const;
};

struct OutboundCase {
  std::vector<XfrmPolicy> policies;
  std::vector<XfrmSa> sas;
  std::vector<OutboundPacket> packets;
};

class RandomOutboundCases {
 public:
  explicit RandomOutboundCases(uint32_t seed);
  OutboundCase Next();

 private:
  // An address inside `prefix`.
  IpAddress AddressIn(const IpPrefix& prefix);

  RandomPicks picks_;
  RandomPolicies policies_;
  RandomSas sas_;
};

// "sa 10.0.0.1 -> 10.0.0.2 spi 0x1 reqid 2 mark 0xd0/0xff": what tells the
// SAs of one table apart.
std::string SaIdentity(const XfrmSa& sa);

// SimXfrm's verdict for `packet` (ResolveOutbound).
std::string SimOutboundVerdict(const SimXfrm& xfrm,
                               const OutboundPacket& packet);

}  // namespace kmesh::sim::testing

#endif  // SIM_KERNEL_TESTING_OUTBOUND_LOOKUP_CASES_H_
