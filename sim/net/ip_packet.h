// IP packets as real bytes for the simulated datapath: building IPv4 (with a
// header checksum) and IPv6 packets, UDP datagrams (with checksum) inside
// them, and parsing/validating what arrives. Parsing rejects what Linux's IP
// input would drop (bad version, lengths that do not add up, a wrong IPv4
// header checksum), so malformed packets cannot slip through the simulator.
#ifndef SIM_NET_IP_PACKET_H_
#define SIM_NET_IP_PACKET_H_

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "kmesh/base/ip_address.h"

namespace kmesh::sim {

inline constexpr uint8_t kIpProtoIcmp = 1;
inline constexpr uint8_t kIpProtoTcp = 6;
inline constexpr uint8_t kIpProtoIcmpv6 = 58;
inline constexpr uint8_t kIpProtoUdp = 17;
inline constexpr uint8_t kIpProtoIpv6 = 41;  // IPv6 inside (ESP next header).
inline constexpr uint8_t kIpProtoIpip = 4;   // IPv4 inside (ESP next header).
inline constexpr uint8_t kIpProtoEspNumber = 50;

// What the IP header of a packet says.
struct IpHeader {
  IpFamily family = IpFamily::kV4;
  IpAddress src;
  IpAddress dst;
  uint8_t proto = 0;         // IPv4 protocol / IPv6 next header.
  uint8_t ttl = 0;           // TTL / hop limit.
  uint8_t tos = 0;           // TOS / traffic class: DSCP << 2 | ECN.
  size_t header_length = 0;  // Bytes before the payload.
  size_t total_length = 0;   // Header + payload.
  // IPv4 only (IPv6 packets are never fragmented on the path, and the
  // simulator sends none with a fragment header):
  uint16_t id = 0;
  bool dont_fragment = false;
  bool more_fragments = false;
  size_t fragment_offset = 0;  // Bytes.
  bool is_fragment() const { return more_fragments || fragment_offset > 0; }
};

// Parses and validates the IP header at the start of `packet`.
absl::StatusOr<IpHeader> ParseIpHeader(absl::Span<const uint8_t> packet);

// The RFC 1071 Internet checksum of `data`, starting from `initial` (a
// partial sum, e.g. of a pseudo-header).
uint16_t InternetChecksum(absl::Span<const uint8_t> data, uint32_t initial = 0);

// An IP packet from src to dst (same family) carrying `payload`.
std::vector<uint8_t> BuildIpPacket(const IpAddress& src, const IpAddress& dst,
                                   uint8_t proto,
                                   absl::Span<const uint8_t> payload,
                                   uint16_t id = 0, uint8_t ttl = 64);

// The header of the same packet for a payload of `payload_length` bytes,
// with room reserved for them: the caller appends exactly that many (ESP
// appends its header, the inner packet and its trailer, then encrypts in
// place), so no payload byte is written twice. The header, checksum
// included, does not depend on the payload's bytes.
std::vector<uint8_t> StartIpPacket(const IpAddress& src, const IpAddress& dst,
                                   uint8_t proto, size_t payload_length,
                                   uint16_t id = 0, uint8_t ttl = 64);

// Writes that header (IpHeaderLength(src.family()) bytes) at `out`, for
// building a packet in a buffer the caller already has.
void WriteIpHeader(const IpAddress& src, const IpAddress& dst, uint8_t proto,
                   size_t payload_length, uint8_t* out, uint16_t id = 0,
                   uint8_t ttl = 64);

// 20 for IPv4, 40 for IPv6 (no options, no extension headers).
size_t IpHeaderLength(IpFamily family);

// A UDP datagram inside an IP packet, with a valid UDP checksum.
std::vector<uint8_t> BuildUdpPacket(const IpAddress& src, const IpAddress& dst,
                                    uint16_t src_port, uint16_t dst_port,
                                    absl::Span<const uint8_t> payload,
                                    uint16_t id = 0);

struct UdpDatagram {
  IpHeader ip;
  uint16_t src_port = 0;
  uint16_t dst_port = 0;
  absl::Span<const uint8_t> payload;  // Points into the parsed packet.
};

// Parses an IP packet carrying UDP and verifies the UDP checksum.
absl::StatusOr<UdpDatagram> ParseUdpPacket(absl::Span<const uint8_t> packet);

// Sets or clears the IPv4 Don't Fragment bit (fixing the checksum); IPv6
// packets are left alone (they are never fragmented on the path).
void SetDontFragment(std::vector<uint8_t>& packet, bool dont_fragment);

// Sets the IPv4 TOS byte or the IPv6 traffic class (DSCP << 2 | ECN),
// fixing the IPv4 checksum.
void SetTrafficClass(std::vector<uint8_t>& packet, uint8_t tos);

// Tunnel decapsulation's ECN rule (RFC 6040 as Linux applies it to XFRM
// tunnels, ipip_ecn_decapsulate / ipip6_ecn_decapsulate): when the outer
// header says Congestion Experienced and the inner packet is ECN-capable,
// the inner packet is marked CE too; a Not-ECT inner packet is left alone.
void DecapsulateEcn(uint8_t outer_tos, std::vector<uint8_t>& inner);

// Sets the IPv4 identification field (fixing the checksum).
void SetIpv4Id(std::vector<uint8_t>& packet, uint16_t id);

// Decrements the TTL / hop limit in place (fixing the IPv4 checksum); false
// when it reached zero and the packet must be dropped.
bool DecrementTtl(std::vector<uint8_t>& packet);

}  // namespace kmesh::sim

#endif  // SIM_NET_IP_PACKET_H_
