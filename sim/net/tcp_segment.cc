#include "sim/net/tcp_segment.h"

#include "absl/strings/str_cat.h"

namespace kmesh::sim {
namespace {

constexpr size_t kTcpHeaderLength = 20;

void Store16(uint8_t* p, uint16_t v) {
  p[0] = v >> 8;
  p[1] = v & 0xff;
}
void Store32(uint8_t* p, uint32_t v) {
  Store16(p, v >> 16);
  Store16(p + 2, v & 0xffff);
}
uint16_t Load16(const uint8_t* p) { return (p[0] << 8) | p[1]; }
uint32_t Load32(const uint8_t* p) {
  return (uint32_t{Load16(p)} << 16) | Load16(p + 2);
}

uint32_t PseudoHeaderSum(const IpAddress& src, const IpAddress& dst,
                         size_t length) {
  uint32_t sum = 0;
  for (const IpAddress* a : {&src, &dst}) {
    for (int i = 0; i < a->byte_length(); i += 2) {
      sum += (a->bytes()[i] << 8) | a->bytes()[i + 1];
    }
  }
  sum += kIpProtoTcp;
  sum += static_cast<uint32_t>(length >> 16) + (length & 0xffff);
  return sum;
}

}  // namespace

std::vector<uint8_t> BuildTcpPacket(const IpAddress& src, const IpAddress& dst,
                                    const TcpSegment& s, uint16_t ip_id) {
  const size_t options = s.mss ? 4 : 0;
  const size_t header = kTcpHeaderLength + options;
  std::vector<uint8_t> tcp(header + s.payload.size(), 0);
  Store16(&tcp[0], s.src_port);
  Store16(&tcp[2], s.dst_port);
  Store32(&tcp[4], s.seq);
  Store32(&tcp[8], s.ack);
  tcp[12] = static_cast<uint8_t>((header / 4) << 4);
  tcp[13] = s.flags;
  Store16(&tcp[14], s.window);
  if (s.mss) {
    tcp[20] = 2;  // MSS
    tcp[21] = 4;
    Store16(&tcp[22], *s.mss);
  }
  std::copy(s.payload.begin(), s.payload.end(), tcp.begin() + header);
  Store16(&tcp[16],
          InternetChecksum(tcp, PseudoHeaderSum(src, dst, tcp.size())));
  std::vector<uint8_t> packet =
      BuildIpPacket(src, dst, kIpProtoTcp, tcp, ip_id);
  SetDontFragment(packet, true);
  return packet;
}

absl::StatusOr<ParsedTcpPacket> ParseTcpPacket(
    absl::Span<const uint8_t> packet) {
  auto ip = ParseIpHeader(packet);
  if (!ip.ok()) return ip.status();
  if (ip->proto != kIpProtoTcp || ip->is_fragment()) {
    return absl::InvalidArgumentError("not a whole TCP segment");
  }
  auto tcp =
      packet.subspan(ip->header_length, ip->total_length - ip->header_length);
  if (tcp.size() < kTcpHeaderLength) {
    return absl::InvalidArgumentError("truncated TCP header");
  }
  const size_t header = (tcp[12] >> 4) * 4;
  if (header < kTcpHeaderLength || header > tcp.size()) {
    return absl::InvalidArgumentError("bad TCP data offset");
  }
  if (InternetChecksum(tcp, PseudoHeaderSum(ip->src, ip->dst, tcp.size())) !=
      0) {
    return absl::InvalidArgumentError("TCP checksum is wrong");
  }
  ParsedTcpPacket p;
  p.ip = *ip;
  TcpSegment& s = p.segment;
  s.src_port = Load16(&tcp[0]);
  s.dst_port = Load16(&tcp[2]);
  s.seq = Load32(&tcp[4]);
  s.ack = Load32(&tcp[8]);
  s.flags = tcp[13];
  s.window = Load16(&tcp[14]);
  for (size_t i = kTcpHeaderLength; i < header;) {
    const uint8_t kind = tcp[i];
    if (kind == 0) break;  // End of options.
    if (kind == 1) {       // NOP
      ++i;
      continue;
    }
    if (i + 1 >= header || tcp[i + 1] < 2 || i + tcp[i + 1] > header) {
      return absl::InvalidArgumentError("bad TCP option");
    }
    if (kind == 2 && tcp[i + 1] == 4) s.mss = Load16(&tcp[i + 2]);
    i += tcp[i + 1];
  }
  s.payload.assign(tcp.begin() + header, tcp.end());
  return p;
}

}  // namespace kmesh::sim
