// Minimal TCP segments as real bytes (RFC 9293): the 20-byte header with a
// valid checksum over the pseudo-header, and the MSS option on SYNs, inside
// an IP packet with DF set (Linux sets DF on TCP when it does path MTU
// discovery, its default). No other option (no timestamps, SACK or window
// scaling): enough for a bulk stream whose segment sizes, sequence numbers
// and retransmissions are what the simulator's tests look at. Parsing
// verifies the checksum, so a corrupted segment is rejected.
#ifndef SIM_NET_TCP_SEGMENT_H_
#define SIM_NET_TCP_SEGMENT_H_

#include <cstdint>
#include <optional>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "kmesh/base/ip_address.h"
#include "sim/net/ip_packet.h"

namespace kmesh::sim {

inline constexpr uint8_t kTcpFin = 0x01;
inline constexpr uint8_t kTcpSyn = 0x02;
inline constexpr uint8_t kTcpRst = 0x04;
inline constexpr uint8_t kTcpPsh = 0x08;
inline constexpr uint8_t kTcpAck = 0x10;

struct TcpSegment {
  uint16_t src_port = 0;
  uint16_t dst_port = 0;
  uint32_t seq = 0;
  uint32_t ack = 0;
  uint8_t flags = 0;
  uint16_t window = 65535;
  std::optional<uint16_t> mss;  // The MSS option (SYN and SYN-ACK).
  std::vector<uint8_t> payload;
};

// An IP packet (DF set for IPv4) from src to dst carrying `segment`.
std::vector<uint8_t> BuildTcpPacket(const IpAddress& src, const IpAddress& dst,
                                    const TcpSegment& segment,
                                    uint16_t ip_id = 0);

struct ParsedTcpPacket {
  IpHeader ip;
  TcpSegment segment;
};

// Parses an IP packet carrying TCP and verifies the TCP checksum.
absl::StatusOr<ParsedTcpPacket> ParseTcpPacket(
    absl::Span<const uint8_t> packet);

}  // namespace kmesh::sim

#endif  // SIM_NET_TCP_SEGMENT_H_
