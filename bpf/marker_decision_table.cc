#include "bpf/marker_decision_table.h"

#include "bpf/marker_test_packets.h"

namespace kmesh::testing {
namespace {

// Not in any map (this node's pod CIDR is 10.244.0.0/24).
const char kLocalPod[] = "10.244.0.7";
const char kUnknownNode[] = "192.168.1.77";
// In the unmanaged-pod map, inside the peer CIDR 10.244.1.0/24.
const char kUnmanagedPod[] = "10.244.1.6";

std::vector<uint8_t> WithByte(std::vector<uint8_t> frame, size_t offset,
                              uint8_t value) {
  frame[offset] = value;
  return frame;
}

}  // namespace

absl::Status FillTableMaps(MarkerMaps& maps) {
  for (const char* cidr : {"10.244.1.0/24", "fd00:244:1::/64", "10.250.0.64/26",
                           "fd00:250::1:0/112"}) {
    if (absl::Status s = maps.UpsertEncryptCidr(*IpPrefix::Parse(cidr));
        !s.ok()) {
      return s;
    }
  }
  for (const char* pod : {kUnmanagedPod, "fd00:244:1::6", "10.96.0.9"}) {
    if (absl::Status s = maps.UpsertUnmanagedPod(Ip(pod)); !s.ok()) return s;
  }
  const struct {
    const char* address;
    uint16_t index;
  } peers[] = {{"192.168.1.2", 1},
               {"192.168.1.3", 7},
               {"fd00:1::3", 7},
               {"192.168.1.9", 65535}};
  for (const auto& peer : peers) {
    if (absl::Status s = maps.UpsertPeer(Ip(peer.address), peer.index);
        !s.ok()) {
      return s;
    }
  }
  return absl::OkStatus();
}

std::vector<MarkerCase> MarkerDecisionTable() {
  const Marker E = Marker::kEncrypt;
  const Marker D = Marker::kDecrypt;
  const auto v4 = [](const char* src, const char* dst, uint8_t proto) {
    return IpFrame(Ip(src), Ip(dst), proto);
  };
  const std::vector<uint8_t> to_managed = v4(kLocalPod, "10.244.1.5", 6);
  const std::vector<uint8_t> to_managed6 =
      IpFrame(Ip("fd00:244::7"), Ip("fd00:244:1::5"), 6);
  const std::vector<uint8_t> esp_peer1 =
      v4("192.168.1.2", "192.168.1.1", kProtoEsp);
  const std::vector<uint8_t> esp_peer7_v6 =
      IpFrame(Ip("fd00:1::3"), Ip("fd00:1::1"), kProtoEsp);
  const std::vector<uint8_t> udp_peer1 =
      v4("192.168.1.2", "192.168.1.1", kProtoUdp);
  const std::vector<uint8_t> udp_v6 =
      IpFrame(Ip("fd00:1::3"), Ip("fd00:1::1"), kProtoUdp);

  return {
      // ---- Encrypt marker ----
      {"v4 to managed remote pod", E, to_managed, 0, 0xe0},
      {"v4 to managed remote pod overrides other mark", E, to_managed, 0x1234,
       0xe0},
      {"v4 to a pod not known yet in a peer CIDR (fail-closed)", E,
       v4(kLocalPod, "10.244.1.77", 6), 0, 0xe0},
      {"v4 to a peer CIDR's first address", E, v4(kLocalPod, "10.244.1.0", 6),
       0, 0xe0},
      {"v4 to a peer CIDR's last address", E, v4(kLocalPod, "10.244.1.255", 6),
       0, 0xe0},
      {"v4 just past a peer CIDR", E, v4(kLocalPod, "10.244.2.0", 6), 0, 0},
      {"v4 to known unmanaged pod", E, v4(kLocalPod, kUnmanagedPod, 6), 0, 0},
      {"v4 to known unmanaged pod keeps other mark", E,
       v4(kLocalPod, kUnmanagedPod, 6), 0x1234, 0x1234},
      {"v4 to this node's pod CIDR", E, v4("10.244.1.5", kLocalPod, 6), 0, 0},
      {"v4 to a service address outside every CIDR", E,
       v4(kLocalPod, "10.96.0.1", 6), 0x1234, 0x1234},
      {"v4 unmanaged pod outside every CIDR", E, v4(kLocalPod, "10.96.0.9", 6),
       0, 0},
      {"v4 in a /26 peer CIDR (second length)", E,
       v4(kLocalPod, "10.250.0.70", 6), 0, 0xe0},
      {"v4 in the /24 around a /26 peer CIDR", E,
       v4(kLocalPod, "10.250.0.10", 6), 0, 0},
      {"v4 ESP to managed pod is marked too", E,
       v4(kLocalPod, "10.244.1.5", kProtoEsp), 0, 0xe0},
      {"v6 to managed remote pod", E, to_managed6, 0, 0xe0},
      {"v6 to a pod not known yet in a peer CIDR (fail-closed)", E,
       IpFrame(Ip("fd00:244::7"), Ip("fd00:244:1::abcd:1"), 6), 0, 0xe0},
      {"v6 to known unmanaged pod", E,
       IpFrame(Ip("fd00:244::7"), Ip("fd00:244:1::6"), 6), 0x1234, 0x1234},
      {"v6 just past a peer CIDR", E,
       IpFrame(Ip("fd00:244::7"), Ip("fd00:244:2::5"), 6), 0, 0},
      {"v6 in a /112 peer CIDR (second length)", E,
       IpFrame(Ip("fd00:244::7"), Ip("fd00:250::1:5"), 6), 0, 0xe0},
      {"v6 next to a /112 peer CIDR", E,
       IpFrame(Ip("fd00:244::7"), Ip("fd00:250::2:5"), 6), 0, 0},
      {"v6 whose address starts with a v4 CIDR's bytes", E,
       IpFrame(Ip("fd00:244::7"), Ip("af4:100::"), 6), 0, 0},
      {"v4 IHL below 5", E, WithByte(to_managed, 14, 0x44), 0, 0},
      {"v4 ethertype carrying version 6", E, WithByte(to_managed, 14, 0x65), 0,
       0},
      {"v6 ethertype carrying an IPv4 header", E,
       EthernetFrame(kEthertypeIpv6,
                     IpPacket(Ip(kLocalPod), Ip("10.244.1.5"), 6, 40)),
       0, 0},
      {"v4 truncated inside the IP header", E, Truncated(to_managed, 14 + 19),
       0, 0},
      {"v4 IP header with nothing behind it", E, Truncated(to_managed, 14 + 20),
       0, 0xe0},
      {"v6 truncated inside the IP header", E, Truncated(to_managed6, 14 + 39),
       0x1234, 0x1234},
      {"Ethernet header only", E, Truncated(to_managed, 14), 0, 0},
      {"runt frame (host only: the kernel refuses < 14 bytes)", E,
       Truncated(to_managed, 10), 0, 0},
      {"ARP", E, EthernetFrame(kEthertypeArp, std::vector<uint8_t>(28, 0)), 0,
       0},
      {"VLAN-tagged IPv4 is not parsed", E,
       EthernetFrame(kEthertypeVlan,
                     [&] {
                       std::vector<uint8_t> tag = {0x00, 0x05, 0x08, 0x00};
                       std::vector<uint8_t> ip =
                           IpPacket(Ip(kLocalPod), Ip("10.244.1.5"), 6);
                       tag.insert(tag.end(), ip.begin(), ip.end());
                       return tag;
                     }()),
       0, 0},

      // ---- Decrypt marker ----
      {"v4 ESP from peer 1", D, esp_peer1, 0, 0x000100d0},
      {"v4 ESP from peer 7 overrides other mark", D,
       v4("192.168.1.3", "192.168.1.1", kProtoEsp), 0x1234, 0x000700d0},
      {"v4 ESP from peer 65535", D, v4("192.168.1.9", "192.168.1.1", kProtoEsp),
       0, 0xffff00d0},
      {"v4 ESP from peer with forged decrypted mark", D, esp_peer1, 0xd0,
       0x000100d0},
      {"v6 ESP from peer 7", D, esp_peer7_v6, 0, 0x000700d0},
      {"v4 ESP from unknown node", D,
       v4(kUnknownNode, "192.168.1.1", kProtoEsp), 0, 0},
      {"v4 ESP from unknown node keeps other mark", D,
       v4(kUnknownNode, "192.168.1.1", kProtoEsp), 0x1234, 0x1234},
      {"v4 ESP from unknown node loses decrypted mark", D,
       v4(kUnknownNode, "192.168.1.1", kProtoEsp), 0xd0, 0},
      {"v4 ESP to a peer (destination is not looked up)", D,
       v4("192.168.1.1", "192.168.1.2", kProtoEsp), 0, 0},
      {"v6 ESP from unknown node", D,
       IpFrame(Ip("fd00:1::77"), Ip("fd00:1::1"), kProtoEsp), 0xe0, 0xe0},
      {"v6 ESP behind a hop-by-hop header is not seen", D,
       IpFrame(Ip("fd00:1::3"), Ip("fd00:1::1"), kProtoIpv6HopByHop), 0, 0},
      {"v4 UDP from peer", D, udp_peer1, 0, 0},
      {"decrypted v4 keeps its mark", D, udp_peer1, 0xd0, 0xd0},
      {"decrypted v6 keeps its mark", D, udp_v6, 0xd0, 0xd0},
      {"v4 non-ESP with a peer-indexed mark loses it", D, udp_peer1, 0x000100d0,
       0},
      {"v4 non-ESP with 0x12d0 loses it", D, udp_peer1, 0x12d0, 0},
      {"v6 non-ESP with a peer-indexed mark loses it", D, udp_v6, 0x000700d0,
       0},
      {"v4 non-ESP keeps the encrypt mark", D, udp_peer1, 0xe0, 0xe0},
      {"v4 non-ESP keeps other mark", D, udp_peer1, 0x1234, 0x1234},
      {"v4 ESP truncated in the IP header from peer", D,
       Truncated(esp_peer1, 14 + 19), 0, 0},
      {"v4 ESP truncated, peer-indexed mark cleared", D,
       Truncated(esp_peer1, 14 + 19), 0x000100d0, 0},
      {"v6 ESP truncated in the IP header from peer", D,
       Truncated(esp_peer7_v6, 14 + 39), 0, 0},
      {"v4 ESP with nothing behind the IP header", D,
       Truncated(esp_peer1, 14 + 20), 0, 0x000100d0},
      {"v6 ESP with nothing behind the IP header", D,
       Truncated(esp_peer7_v6, 14 + 40), 0, 0x000700d0},
      {"ARP keeps decrypted mark", D,
       EthernetFrame(kEthertypeArp, std::vector<uint8_t>(28, 0)), 0xd0, 0xd0},
      {"ARP loses peer-indexed mark", D,
       EthernetFrame(kEthertypeArp, std::vector<uint8_t>(28, 0)), 0x000700d0,
       0},
      {"Ethernet header only loses forged mark", D, Truncated(esp_peer1, 14),
       0x000100d0, 0},
  };
}

}  // namespace kmesh::testing
