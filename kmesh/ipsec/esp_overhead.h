// EspOverhead: what ESP in tunnel mode, as this product programs it
// (rfc4106(gcm(aes)) with a 128-bit ICV, no UDP encapsulation), adds to a
// packet, and the MTU a managed pod's route should therefore have. An ESP
// packet is: outer IP header (20 or 40 bytes) | SPI and sequence number (8) |
// explicit IV (8) | inner packet | padding to a multiple of 4 counting the
// next two bytes | pad length (1) | next header (1) | ICV (16). Linux
// computes the largest inner packet that fits the same way (xfrm_state_mtu):
// ((mtu - header - ICV) & ~3) - 2, that is 1,446 bytes inside an IPv4 outer
// packet and 1,426 inside an IPv6 one on a 1,500-byte device, measured on a
// real kernel (docs/vm-e2e.md). PodRouteMtu() is the value a CNI (or an
// operator) gives a managed pod's interface or routes so that full-size
// packets are never too big for the tunnel.
#ifndef KMESH_IPSEC_ESP_OVERHEAD_H_
#define KMESH_IPSEC_ESP_OVERHEAD_H_

#include <cstddef>

#include "kmesh/base/ip_address.h"

namespace kmesh::ipsec {

inline constexpr size_t kEspHeaderBytes = 8;   // SPI + sequence number.
inline constexpr size_t kEspIvBytes = 8;       // rfc4106 explicit IV.
inline constexpr size_t kEspIcvBytes = 16;     // 128-bit ICV.
inline constexpr size_t kEspTrailerBytes = 2;  // Pad length + next header.
inline constexpr size_t kEspAlignment = 4;     // GCM: a stream, 4-aligned.

// 20 for IPv4, 40 for IPv6 (no options or extension headers).
size_t IpHeaderBytes(IpFamily family);

// Length of the ESP tunnel-mode packet, outer header included, that carries
// an inner packet of `inner_length` bytes between nodes of `outer` family.
size_t EspTunnelPacketLength(IpFamily outer, size_t inner_length);

// The largest inner packet whose ESP packet fits a device of `device_mtu`
// bytes (0 when none does).
size_t LargestEspInnerPacket(IpFamily outer, size_t device_mtu);

// The MTU for a managed pod's routes when nodes talk over `node_family` on
// devices of `node_mtu` bytes: 1,446 (IPv4 nodes) or 1,426 (IPv6 nodes) for
// 1,500. A dual-stack pod whose traffic may take either family's tunnel
// uses the smaller.
size_t PodRouteMtu(IpFamily node_family, size_t node_mtu = 1500);

// The TCP MSS a route MTU gives (no options): MTU - IP header - 20.
size_t TcpMssForMtu(IpFamily family, size_t mtu);

}  // namespace kmesh::ipsec

#endif  // KMESH_IPSEC_ESP_OVERHEAD_H_
