#include "bpf/marker_test_packets.h"

#include <algorithm>
#include <cstring>
#include <iterator>

namespace kmesh::testing {

std::vector<uint8_t> IpPacket(const IpAddress& src, const IpAddress& dst,
                              uint8_t proto, size_t payload_length) {
  std::vector<uint8_t> packet;
  if (src.is_v4()) {
    const size_t total = 20 + payload_length;
    packet.assign(total, 0);
    packet[0] = 0x45;  // Version 4, IHL 5.
    packet[2] = static_cast<uint8_t>(total >> 8);
    packet[3] = static_cast<uint8_t>(total);
    packet[8] = 64;  // TTL.
    packet[9] = proto;
    std::memcpy(&packet[12], src.bytes().data(), 4);
    std::memcpy(&packet[16], dst.bytes().data(), 4);
  } else {
    packet.assign(40 + payload_length, 0);
    packet[0] = 0x60;  // Version 6.
    packet[4] = static_cast<uint8_t>(payload_length >> 8);
    packet[5] = static_cast<uint8_t>(payload_length);
    packet[6] = proto;
    packet[7] = 64;  // Hop limit.
    std::memcpy(&packet[8], src.bytes().data(), 16);
    std::memcpy(&packet[24], dst.bytes().data(), 16);
  }
  return packet;
}

std::vector<uint8_t> EthernetFrame(uint16_t ethertype,
                                   const std::vector<uint8_t>& payload) {
  const uint8_t header[14] = {0x02,
                              0x00,
                              0x00,
                              0x00,
                              0x00,
                              0x02,  // Destination MAC.
                              0x02,
                              0x00,
                              0x00,
                              0x00,
                              0x00,
                              0x01,  // Source MAC.
                              static_cast<uint8_t>(ethertype >> 8),
                              static_cast<uint8_t>(ethertype)};
  // Sized once and filled: GCC 12's -Warray-bounds misreads an insert at the
  // end of a 14-byte initializer-list vector under -O2.
  std::vector<uint8_t> frame(sizeof(header) + payload.size());
  std::copy(std::begin(header), std::end(header), frame.begin());
  std::copy(payload.begin(), payload.end(), frame.begin() + sizeof(header));
  return frame;
}

std::vector<uint8_t> IpFrame(const IpAddress& src, const IpAddress& dst,
                             uint8_t proto, size_t payload_length) {
  return EthernetFrame(src.is_v4() ? kEthertypeIpv4 : kEthertypeIpv6,
                       IpPacket(src, dst, proto, payload_length));
}

std::vector<uint8_t> Truncated(std::vector<uint8_t> bytes, size_t length) {
  if (bytes.size() > length) bytes.resize(length);
  return bytes;
}

}  // namespace kmesh::testing
