// The ICMP errors of path MTU discovery, as Linux sends them from a router
// that cannot forward a packet whole: ICMP Destination Unreachable /
// Fragmentation Needed (type 3 code 4, RFC 1191) with the next-hop MTU for
// IPv4, ICMPv6 Packet Too Big (type 2, RFC 8201) for IPv6. Each quotes as
// much of the offending packet as Linux does (up to 576 bytes of IPv4 error
// in all, 1,280 of IPv6), with valid checksums; ParseIcmpTooBig reads one
// back: who reported it, the MTU, and whom the quoted packet was for. Time
// Exceeded, for a packet whose TTL runs out, is built the same way. An IPv4
// error has TOS 0xc0 with the offending packet's TOS bits, as Linux sends
// it; an ICMPv6 error carries a flow label, as Linux's automatic flow
// labels give one.
#ifndef SIM_NET_ICMP_TOO_BIG_H_
#define SIM_NET_ICMP_TOO_BIG_H_

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "kmesh/base/ip_address.h"

namespace kmesh::sim {

// The error `reporter` sends back to the source of `offending` (an IP
// packet of the same family) for a next hop of `mtu` bytes.
std::vector<uint8_t> BuildIcmpTooBig(const IpAddress& reporter,
                                     absl::Span<const uint8_t> offending,
                                     uint32_t mtu);

// ICMP Time Exceeded (type 11 code 0) / ICMPv6 Time Exceeded (type 3 code
// 0) from `reporter` to the source of `offending`, whose TTL / hop limit
// ran out at this router; quoting as the errors above do.
std::vector<uint8_t> BuildIcmpTimeExceeded(const IpAddress& reporter,
                                           absl::Span<const uint8_t> offending);

struct IcmpTooBig {
  IpAddress reporter;  // The error's source.
  IpAddress to;        // The error's destination (the sender).
  uint32_t mtu = 0;
  IpAddress original_src;  // From the quoted header.
  IpAddress original_dst;
  uint8_t original_proto = 0;
  // The quoted bytes after the original IP header (at least 8: the ports).
  std::vector<uint8_t> original_transport;
};

// InvalidArgument unless `packet` is a valid Fragmentation Needed or Packet
// Too Big message (checksum included).
absl::StatusOr<IcmpTooBig> ParseIcmpTooBig(absl::Span<const uint8_t> packet);

}  // namespace kmesh::sim

#endif  // SIM_NET_ICMP_TOO_BIG_H_
