// Fuzz target: packets arriving on a simulated link (sim/net): the IP
// header parser, the TCP and ICMP "too big" parsers on top of it, and IPv4
// reassembly. Input: byte 0 picks what runs and the MTU, the rest is
// either one packet (parsed by every parser, then fragmented for that MTU
// and reassembled, which must give the packet's bytes back) or a series of
// fragments, each preceded by its 2-byte length, fed to one reassembler
// with the clock advancing a second per fragment.
#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "sim/net/icmp_too_big.h"
#include "sim/net/ip_fragments.h"
#include "sim/net/ip_packet.h"
#include "sim/net/tcp_segment.h"

namespace {

using kmesh::sim::Ipv4Reassembler;

void OnePacket(absl::Span<const uint8_t> packet, size_t mtu) {
  absl::StatusOr<kmesh::sim::IpHeader> header =
      kmesh::sim::ParseIpHeader(packet);
  static_cast<void>(kmesh::sim::ParseTcpPacket(packet).ok());
  static_cast<void>(kmesh::sim::ParseIcmpTooBig(packet).ok());
  if (!header.ok()) return;
  absl::StatusOr<std::vector<std::vector<uint8_t>>> fragments =
      kmesh::sim::FragmentIpv4(packet, mtu);
  if (!fragments.ok() || fragments->size() < 2) return;
  Ipv4Reassembler reassembler;
  const auto now = Ipv4Reassembler::Clock::now();
  std::vector<uint8_t> whole;
  for (const std::vector<uint8_t>& fragment : *fragments) {
    if (fragment.size() > mtu) std::abort();
    absl::StatusOr<Ipv4Reassembler::Result> result =
        reassembler.Add(fragment, now);
    if (!result.ok()) std::abort();  // Our own fragments are valid.
    if (result->packet.has_value()) whole = *result->packet;
  }
  // The fragments of a packet without IP options reassemble to its bytes
  // (its payload and what its header says, checksum included).
  if (header->header_length == 20 && !header->is_fragment()) {
    const std::vector<uint8_t> original(packet.begin(),
                                        packet.begin() + header->total_length);
    absl::StatusOr<kmesh::sim::IpHeader> back =
        kmesh::sim::ParseIpHeader(whole);
    if (!back.ok() || whole.size() != original.size() ||
        back->total_length != header->total_length ||
        !std::equal(whole.begin() + 20, whole.end(), original.begin() + 20)) {
      std::abort();
    }
  }
}

void Fragments(absl::Span<const uint8_t> rest) {
  Ipv4Reassembler reassembler;
  auto now = Ipv4Reassembler::Clock::time_point();
  while (rest.size() >= 2) {
    const size_t n =
        std::min<size_t>((rest[0] << 8 | rest[1]), rest.size() - 2);
    const absl::Span<const uint8_t> fragment = rest.subspan(2, n);
    rest.remove_prefix(2 + n);
    absl::StatusOr<Ipv4Reassembler::Result> result =
        reassembler.Add(fragment, now);
    if (result.ok() && result->packet.has_value()) {
      static_cast<void>(kmesh::sim::ParseIpHeader(*result->packet).ok());
    }
    now += std::chrono::seconds(1);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const size_t mtu = 68 + (data[0] >> 1) * 12;  // 68 .. 1592.
  const absl::Span<const uint8_t> rest(data + 1, size - 1);
  if (data[0] & 1) {
    Fragments(rest);
  } else {
    const std::vector<uint8_t> packet(rest.begin(), rest.end());
    OnePacket(packet, mtu);
  }
  return 0;
}
