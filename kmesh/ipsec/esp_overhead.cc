#include "kmesh/ipsec/esp_overhead.h"

namespace kmesh::ipsec {
namespace {

constexpr size_t kTcpHeaderBytes = 20;

// Header and IV, and the ICV: what surrounds the padded payload.
size_t FixedBytes(IpFamily outer) {
  return IpHeaderBytes(outer) + kEspHeaderBytes + kEspIvBytes + kEspIcvBytes;
}

}  // namespace

size_t IpHeaderBytes(IpFamily family) {
  return family == IpFamily::kV4 ? 20 : 40;
}

size_t EspTunnelPacketLength(IpFamily outer, size_t inner_length) {
  const size_t padded = (inner_length + kEspTrailerBytes + kEspAlignment - 1) /
                        kEspAlignment * kEspAlignment;
  return FixedBytes(outer) + padded;
}

size_t LargestEspInnerPacket(IpFamily outer, size_t device_mtu) {
  const size_t fixed = FixedBytes(outer);
  if (device_mtu < fixed + kEspAlignment) return 0;
  const size_t padded = (device_mtu - fixed) / kEspAlignment * kEspAlignment;
  return padded - kEspTrailerBytes;
}

size_t PodRouteMtu(IpFamily node_family, size_t node_mtu) {
  return LargestEspInnerPacket(node_family, node_mtu);
}

size_t TcpMssForMtu(IpFamily family, size_t mtu) {
  const size_t headers = IpHeaderBytes(family) + kTcpHeaderBytes;
  return mtu > headers ? mtu - headers : 0;
}

}  // namespace kmesh::ipsec
