#include "sim/net/icmp_too_big.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "sim/net/ip_packet.h"

namespace kmesh::sim {
namespace {

constexpr size_t kIcmpHeaderLength = 8;
// Linux quotes at most what keeps the error within these (icmp_send,
// icmp6_send).
constexpr size_t kIcmpv4ErrorMax = 576;
constexpr size_t kIcmpv6ErrorMax = 1280;

void Store16(uint8_t* p, uint16_t v) {
  p[0] = v >> 8;
  p[1] = v & 0xff;
}
uint16_t Load16(const uint8_t* p) { return (p[0] << 8) | p[1]; }
uint32_t Load32(const uint8_t* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) |
         (uint32_t{p[2]} << 8) | p[3];
}

uint32_t Icmpv6PseudoHeaderSum(const IpAddress& src, const IpAddress& dst,
                               size_t length) {
  uint32_t sum = 0;
  for (const IpAddress* a : {&src, &dst}) {
    for (int i = 0; i < 16; i += 2) {
      sum += (a->bytes()[i] << 8) | a->bytes()[i + 1];
    }
  }
  sum += static_cast<uint32_t>(length >> 16) + (length & 0xffff);
  sum += kIpProtoIcmpv6;
  return sum;
}

// An ICMP / ICMPv6 error of `type` and `code` with the 32 bits after the
// checksum set to `info`, from `reporter` to the source of `offending`,
// quoting as much of it as Linux does. An ICMPv6 error carries a flow
// label, as Linux's automatic flow labels give one (a hash of the flow).
std::vector<uint8_t> BuildIcmpError(const IpAddress& reporter,
                                    absl::Span<const uint8_t> offending,
                                    uint8_t type, uint8_t code, uint32_t info) {
  const bool v4 = reporter.is_v4();
  const IpAddress to =
      IpAddress::FromBytes(reporter.family(), &offending[v4 ? 12 : 8]);
  const size_t room = (v4 ? kIcmpv4ErrorMax : kIcmpv6ErrorMax) -
                      IpHeaderLength(reporter.family()) - kIcmpHeaderLength;
  const size_t quoted = std::min(room, offending.size());
  std::vector<uint8_t> icmp(kIcmpHeaderLength + quoted, 0);
  icmp[0] = type;
  icmp[1] = code;
  icmp[4] = info >> 24;
  icmp[5] = (info >> 16) & 0xff;
  icmp[6] = (info >> 8) & 0xff;
  icmp[7] = info & 0xff;
  std::copy(offending.begin(), offending.begin() + quoted,
            icmp.begin() + kIcmpHeaderLength);
  const uint16_t sum =
      v4 ? InternetChecksum(icmp)
         : InternetChecksum(icmp,
                            Icmpv6PseudoHeaderSum(reporter, to, icmp.size()));
  Store16(&icmp[2], sum);
  std::vector<uint8_t> packet =
      BuildIpPacket(reporter, to, v4 ? kIpProtoIcmp : kIpProtoIcmpv6, icmp);
  if (v4) {
    // Precedence "internetwork control" with the offending packet's TOS
    // bits (icmp_send: RT_TOS(tos) | IPTOS_PREC_INTERNETCONTROL).
    SetTrafficClass(packet, static_cast<uint8_t>(0xc0 | (offending[1] & 0x1e)));
  } else {
    uint32_t hash = 2166136261u;
    for (const IpAddress* a : {&reporter, &to}) {
      for (uint8_t b : a->bytes()) hash = (hash ^ b) * 16777619u;
    }
    const uint32_t label = (hash & 0xfffff) | 1;  // Never 0: "no label".
    packet[1] = static_cast<uint8_t>((packet[1] & 0xf0) | (label >> 16));
    packet[2] = static_cast<uint8_t>(label >> 8);
    packet[3] = static_cast<uint8_t>(label);
  }
  return packet;
}

}  // namespace

std::vector<uint8_t> BuildIcmpTooBig(const IpAddress& reporter,
                                     absl::Span<const uint8_t> offending,
                                     uint32_t mtu) {
  return reporter.is_v4()
             // Destination Unreachable / Fragmentation Needed: the MTU in
             // the low 16 bits.
             ? BuildIcmpError(reporter, offending, 3, 4, mtu & 0xffff)
             // Packet Too Big.
             : BuildIcmpError(reporter, offending, 2, 0, mtu);
}

std::vector<uint8_t> BuildIcmpTimeExceeded(
    const IpAddress& reporter, absl::Span<const uint8_t> offending) {
  // Time Exceeded / TTL exceeded in transit; ICMPv6 Time Exceeded / hop
  // limit exceeded in transit.
  return BuildIcmpError(reporter, offending, reporter.is_v4() ? 11 : 3, 0, 0);
}

absl::StatusOr<IcmpTooBig> ParseIcmpTooBig(absl::Span<const uint8_t> packet) {
  auto ip = ParseIpHeader(packet);
  if (!ip.ok()) return ip.status();
  const bool v4 = ip->family == IpFamily::kV4;
  if (ip->proto != (v4 ? kIpProtoIcmp : kIpProtoIcmpv6)) {
    return absl::InvalidArgumentError("not ICMP");
  }
  auto icmp =
      packet.subspan(ip->header_length, ip->total_length - ip->header_length);
  const size_t quoted_header = IpHeaderLength(ip->family);
  if (icmp.size() < kIcmpHeaderLength + quoted_header + 8) {
    return absl::InvalidArgumentError("ICMP error too short");
  }
  const uint16_t sum =
      v4 ? InternetChecksum(icmp)
         : InternetChecksum(
               icmp, Icmpv6PseudoHeaderSum(ip->src, ip->dst, icmp.size()));
  if (sum != 0) return absl::InvalidArgumentError("ICMP checksum is wrong");
  IcmpTooBig t;
  if (v4) {
    if (icmp[0] != 3 || icmp[1] != 4) {
      return absl::InvalidArgumentError("not Fragmentation Needed");
    }
    t.mtu = Load16(&icmp[6]);
  } else {
    if (icmp[0] != 2 || icmp[1] != 0) {
      return absl::InvalidArgumentError("not Packet Too Big");
    }
    t.mtu = Load32(&icmp[4]);
  }
  const uint8_t* q = icmp.data() + kIcmpHeaderLength;
  if ((q[0] >> 4) != (v4 ? 4 : 6)) {
    return absl::InvalidArgumentError("quoted packet of another family");
  }
  t.reporter = ip->src;
  t.to = ip->dst;
  t.original_src = IpAddress::FromBytes(ip->family, v4 ? q + 12 : q + 8);
  t.original_dst = IpAddress::FromBytes(ip->family, v4 ? q + 16 : q + 24);
  t.original_proto = v4 ? q[9] : q[6];
  const size_t qhl = v4 ? (q[0] & 0x0f) * 4 : quoted_header;
  if (icmp.size() < kIcmpHeaderLength + qhl + 8) {
    return absl::InvalidArgumentError("ICMP error quotes too little");
  }
  t.original_transport.assign(q + qhl, icmp.data() + icmp.size());
  return t;
}

}  // namespace kmesh::sim
