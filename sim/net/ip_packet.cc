#include "sim/net/ip_packet.h"

#include <algorithm>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace kmesh::sim {
namespace {

constexpr size_t kIpv4HeaderLength = 20;
constexpr size_t kIpv6HeaderLength = 40;

uint16_t Load16(const uint8_t* p) { return (p[0] << 8) | p[1]; }
void Store16(uint8_t* p, uint16_t v) {
  p[0] = v >> 8;
  p[1] = v & 0xff;
}

// Sum of the pseudo-header for UDP/TCP checksums.
uint32_t PseudoHeaderSum(const IpAddress& src, const IpAddress& dst,
                         uint8_t proto, size_t length) {
  uint32_t sum = 0;
  for (const IpAddress* a : {&src, &dst}) {
    for (int i = 0; i < a->byte_length(); i += 2) {
      sum += (a->bytes()[i] << 8) | a->bytes()[i + 1];
    }
  }
  sum += proto;
  sum += static_cast<uint32_t>(length >> 16) + (length & 0xffff);
  return sum;
}

}  // namespace

uint16_t InternetChecksum(absl::Span<const uint8_t> data, uint32_t initial) {
  uint64_t sum = initial;
  size_t i = 0;
  for (; i + 1 < data.size(); i += 2) sum += (data[i] << 8) | data[i + 1];
  if (i < data.size()) sum += data[i] << 8;
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<uint16_t>(~sum & 0xffff);
}

absl::StatusOr<IpHeader> ParseIpHeader(absl::Span<const uint8_t> p) {
  if (p.empty()) return absl::InvalidArgumentError("empty packet");
  IpHeader h;
  const int version = p[0] >> 4;
  if (version == 4) {
    if (p.size() < kIpv4HeaderLength) {
      return absl::InvalidArgumentError("truncated IPv4 header");
    }
    h.header_length = (p[0] & 0x0f) * 4;
    h.total_length = Load16(&p[2]);
    if (h.header_length < kIpv4HeaderLength || h.header_length > p.size() ||
        h.total_length < h.header_length || h.total_length > p.size()) {
      return absl::InvalidArgumentError(
          absl::StrCat("IPv4 lengths do not add up: header ", h.header_length,
                       ", total ", h.total_length, ", have ", p.size()));
    }
    if (InternetChecksum(p.subspan(0, h.header_length)) != 0) {
      return absl::InvalidArgumentError("IPv4 header checksum is wrong");
    }
    h.family = IpFamily::kV4;
    h.id = Load16(&p[4]);
    const uint16_t flags_offset = Load16(&p[6]);
    h.dont_fragment = (flags_offset & 0x4000) != 0;
    h.more_fragments = (flags_offset & 0x2000) != 0;
    h.fragment_offset = size_t{flags_offset & 0x1fffu} * 8;
    h.ttl = p[8];
    h.tos = p[1];
    h.proto = p[9];
    h.src = IpAddress::FromBytes(IpFamily::kV4, &p[12]);
    h.dst = IpAddress::FromBytes(IpFamily::kV4, &p[16]);
    return h;
  }
  if (version == 6) {
    if (p.size() < kIpv6HeaderLength) {
      return absl::InvalidArgumentError("truncated IPv6 header");
    }
    h.header_length = kIpv6HeaderLength;
    h.total_length = kIpv6HeaderLength + Load16(&p[4]);
    if (h.total_length > p.size()) {
      return absl::InvalidArgumentError(
          absl::StrCat("IPv6 payload length ", h.total_length - 40,
                       " exceeds the ", p.size() - 40, " bytes present"));
    }
    h.family = IpFamily::kV6;
    h.proto = p[6];
    h.ttl = p[7];
    h.tos = static_cast<uint8_t>(((p[0] & 0x0f) << 4) | (p[1] >> 4));
    h.src = IpAddress::FromBytes(IpFamily::kV6, &p[8]);
    h.dst = IpAddress::FromBytes(IpFamily::kV6, &p[24]);
    return h;
  }
  return absl::InvalidArgumentError(absl::StrCat("IP version ", version));
}

size_t IpHeaderLength(IpFamily family) {
  return family == IpFamily::kV4 ? kIpv4HeaderLength : kIpv6HeaderLength;
}

void WriteIpHeader(const IpAddress& src, const IpAddress& dst, uint8_t proto,
                   size_t payload_length, uint8_t* out, uint16_t id,
                   uint8_t ttl) {
  if (src.is_v4()) {
    std::memset(out, 0, kIpv4HeaderLength);
    out[0] = 0x45;
    Store16(&out[2], static_cast<uint16_t>(kIpv4HeaderLength + payload_length));
    Store16(&out[4], id);
    out[8] = ttl;
    out[9] = proto;
    std::memcpy(&out[12], src.bytes().data(), 4);
    std::memcpy(&out[16], dst.bytes().data(), 4);
    Store16(&out[10], InternetChecksum(absl::MakeConstSpan(out, 20)));
  } else {
    std::memset(out, 0, kIpv6HeaderLength);
    out[0] = 0x60;
    Store16(&out[4], static_cast<uint16_t>(payload_length));
    out[6] = proto;
    out[7] = ttl;
    std::memcpy(&out[8], src.bytes().data(), 16);
    std::memcpy(&out[24], dst.bytes().data(), 16);
  }
}

std::vector<uint8_t> StartIpPacket(const IpAddress& src, const IpAddress& dst,
                                   uint8_t proto, size_t payload_length,
                                   uint16_t id, uint8_t ttl) {
  const size_t header_length = IpHeaderLength(src.family());
  std::vector<uint8_t> p;
  p.reserve(header_length + payload_length);  // The one allocation.
  p.resize(header_length);
  WriteIpHeader(src, dst, proto, payload_length, p.data(), id, ttl);
  return p;
}

std::vector<uint8_t> BuildIpPacket(const IpAddress& src, const IpAddress& dst,
                                   uint8_t proto,
                                   absl::Span<const uint8_t> payload,
                                   uint16_t id, uint8_t ttl) {
  std::vector<uint8_t> p =
      StartIpPacket(src, dst, proto, payload.size(), id, ttl);
  p.insert(p.end(), payload.begin(), payload.end());
  return p;
}

std::vector<uint8_t> BuildUdpPacket(const IpAddress& src, const IpAddress& dst,
                                    uint16_t src_port, uint16_t dst_port,
                                    absl::Span<const uint8_t> payload,
                                    uint16_t id) {
  std::vector<uint8_t> udp(8 + payload.size(), 0);
  Store16(&udp[0], src_port);
  Store16(&udp[2], dst_port);
  Store16(&udp[4], static_cast<uint16_t>(udp.size()));
  // No memcpy from an empty span: its data() may be null (UB even for 0).
  std::copy(payload.begin(), payload.end(), udp.begin() + 8);
  uint16_t sum =
      InternetChecksum(udp, PseudoHeaderSum(src, dst, kIpProtoUdp, udp.size()));
  if (sum == 0) sum = 0xffff;
  Store16(&udp[6], sum);
  return BuildIpPacket(src, dst, kIpProtoUdp, udp, id);
}

absl::StatusOr<UdpDatagram> ParseUdpPacket(absl::Span<const uint8_t> packet) {
  auto ip = ParseIpHeader(packet);
  if (!ip.ok()) return ip.status();
  if (ip->proto != kIpProtoUdp) {
    return absl::InvalidArgumentError(
        absl::StrCat("not UDP: protocol ", ip->proto));
  }
  auto udp =
      packet.subspan(ip->header_length, ip->total_length - ip->header_length);
  if (udp.size() < 8 || Load16(&udp[4]) != udp.size()) {
    return absl::InvalidArgumentError("UDP length does not match the packet");
  }
  if (Load16(&udp[6]) != 0 &&
      InternetChecksum(udp, PseudoHeaderSum(ip->src, ip->dst, kIpProtoUdp,
                                            udp.size())) != 0) {
    return absl::InvalidArgumentError("UDP checksum is wrong");
  }
  UdpDatagram d;
  d.ip = *ip;
  d.src_port = Load16(&udp[0]);
  d.dst_port = Load16(&udp[2]);
  d.payload = udp.subspan(8);
  return d;
}

namespace {
void FixIpv4Checksum(std::vector<uint8_t>& p) {
  const size_t hl = (p[0] & 0x0f) * 4;
  Store16(&p[10], 0);
  Store16(&p[10], InternetChecksum(absl::MakeConstSpan(p.data(), hl)));
}
}  // namespace

void SetDontFragment(std::vector<uint8_t>& p, bool dont_fragment) {
  if (p.size() < kIpv4HeaderLength || (p[0] >> 4) != 4) return;
  if (dont_fragment) {
    p[6] |= 0x40;
  } else {
    p[6] &= ~0x40;
  }
  FixIpv4Checksum(p);
}

void SetTrafficClass(std::vector<uint8_t>& p, uint8_t tos) {
  if (p.empty()) return;
  if ((p[0] >> 4) == 4 && p.size() >= kIpv4HeaderLength) {
    p[1] = tos;
    FixIpv4Checksum(p);
  } else if ((p[0] >> 4) == 6 && p.size() >= kIpv6HeaderLength) {
    p[0] = static_cast<uint8_t>(0x60 | (tos >> 4));
    p[1] = static_cast<uint8_t>((tos << 4) | (p[1] & 0x0f));
  }
}

void DecapsulateEcn(uint8_t outer_tos, std::vector<uint8_t>& inner) {
  constexpr uint8_t kEcnMask = 0x03;
  constexpr uint8_t kCe = 0x03;
  if ((outer_tos & kEcnMask) != kCe) return;
  absl::StatusOr<IpHeader> ip = ParseIpHeader(inner);
  if (!ip.ok() || (ip->tos & kEcnMask) == 0) return;  // Not-ECT stays.
  SetTrafficClass(inner, static_cast<uint8_t>(ip->tos | kCe));
}

void SetIpv4Id(std::vector<uint8_t>& p, uint16_t id) {
  if (p.size() < kIpv4HeaderLength || (p[0] >> 4) != 4) return;
  Store16(&p[4], id);
  FixIpv4Checksum(p);
}

bool DecrementTtl(std::vector<uint8_t>& p) {
  if (p.empty()) return false;
  if ((p[0] >> 4) == 4) {
    if (p.size() < kIpv4HeaderLength || p[8] <= 1) return false;
    p[8]--;
    const size_t hl = (p[0] & 0x0f) * 4;
    Store16(&p[10], 0);
    Store16(&p[10], InternetChecksum(absl::MakeConstSpan(p.data(), hl)));
    return true;
  }
  if (p.size() < kIpv6HeaderLength || p[7] <= 1) return false;
  p[7]--;
  return true;
}

}  // namespace kmesh::sim
