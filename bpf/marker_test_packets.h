// Crafted frames for marker tests: Ethernet frames carrying an IPv4 or IPv6
// header with given addresses and protocol, as tc ingress sees them on a
// veth. Only what the markers read is meaningful (ethertype, version, IHL,
// protocol / next header, addresses); checksums are not computed.
#ifndef KMESH_BPF_MARKER_TEST_PACKETS_H_
#define KMESH_BPF_MARKER_TEST_PACKETS_H_

#include <cstddef>
#include <cstdint>
#include <vector>

#include "kmesh/base/ip_address.h"
#include "kmesh/base/testing/ip_literals.h"  // Ip(), for the tables.

namespace kmesh::testing {

inline constexpr uint8_t kProtoUdp = 17;
inline constexpr uint8_t kProtoEsp = 50;
inline constexpr uint8_t kProtoIpv6HopByHop = 0;

inline constexpr uint16_t kEthertypeIpv4 = 0x0800;
inline constexpr uint16_t kEthertypeIpv6 = 0x86dd;
inline constexpr uint16_t kEthertypeArp = 0x0806;
inline constexpr uint16_t kEthertypeVlan = 0x8100;

// A bare IP packet: IPv4 (20-byte header) or IPv6 (40-byte header) per the
// addresses' family (which must match), then `payload_length` zero bytes.
std::vector<uint8_t> IpPacket(const IpAddress& src, const IpAddress& dst,
                              uint8_t proto, size_t payload_length = 32);

// `payload` behind a 14-byte Ethernet header with `ethertype`.
std::vector<uint8_t> EthernetFrame(uint16_t ethertype,
                                   const std::vector<uint8_t>& payload);

// IpPacket in an Ethernet frame with the matching ethertype.
std::vector<uint8_t> IpFrame(const IpAddress& src, const IpAddress& dst,
                             uint8_t proto, size_t payload_length = 32);

// The first `length` bytes of `bytes`.
std::vector<uint8_t> Truncated(std::vector<uint8_t> bytes, size_t length);

}  // namespace kmesh::testing

#endif  // KMESH_BPF_MARKER_TEST_PACKETS_H_
