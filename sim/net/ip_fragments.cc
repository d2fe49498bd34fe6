#include "sim/net/ip_fragments.h"

#include <cstring>

#include "absl/strings/str_cat.h"
#include "sim/net/ip_packet.h"

namespace kmesh::sim {
namespace {

void Store16(uint8_t* p, uint16_t v) {
  p[0] = v >> 8;
  p[1] = v & 0xff;
}

// A copy of `header` as the header of a fragment with `data_length` bytes at
// `offset`, MF as given, checksum recomputed.
std::vector<uint8_t> FragmentHeader(absl::Span<const uint8_t> header,
                                    size_t data_length, size_t offset,
                                    bool more) {
  std::vector<uint8_t> h(header.begin(), header.end());
  Store16(&h[2], static_cast<uint16_t>(h.size() + data_length));
  Store16(&h[6], static_cast<uint16_t>((more ? 0x2000 : 0) | (offset / 8)));
  Store16(&h[10], 0);
  Store16(&h[10], InternetChecksum(h));
  return h;
}

}  // namespace

absl::StatusOr<std::vector<std::vector<uint8_t>>> FragmentIpv4(
    absl::Span<const uint8_t> packet, size_t mtu) {
  auto ip = ParseIpHeader(packet);
  if (!ip.ok()) return ip.status();
  if (ip->family != IpFamily::kV4) {
    return absl::InvalidArgumentError("only IPv4 is fragmented on the path");
  }
  std::vector<std::vector<uint8_t>> out;
  if (ip->total_length <= mtu) {
    out.emplace_back(packet.begin(), packet.begin() + ip->total_length);
    return out;
  }
  if (ip->dont_fragment) {
    return absl::FailedPreconditionError(
        absl::StrCat("packet of ", ip->total_length, " bytes with DF set ",
                     "exceeds the MTU ", mtu));
  }
  if (mtu < ip->header_length + 8) {
    return absl::FailedPreconditionError(
        absl::StrCat("MTU ", mtu, " leaves no room for a fragment"));
  }
  const auto header = packet.subspan(0, ip->header_length);
  const auto data =
      packet.subspan(ip->header_length, ip->total_length - ip->header_length);
  // Fragmenting a fragment keeps its place: offsets add, and the last piece
  // keeps the original MF.
  const size_t max_data = (mtu - ip->header_length) / 8 * 8;
  for (size_t at = 0; at < data.size(); at += max_data) {
    const size_t n = std::min(max_data, data.size() - at);
    const bool last = at + n == data.size();
    std::vector<uint8_t> f = FragmentHeader(header, n, ip->fragment_offset + at,
                                            !last || ip->more_fragments);
    f.insert(f.end(), data.begin() + at, data.begin() + at + n);
    out.push_back(std::move(f));
  }
  return out;
}

absl::StatusOr<Ipv4Reassembler::Result> Ipv4Reassembler::Add(
    absl::Span<const uint8_t> fragment, Clock::time_point now) {
  Result result;
  for (auto it = queues_.begin(); it != queues_.end();) {
    if (now - it->second.first_seen > kTimeout) {
      it = queues_.erase(it);
      ++result.failed;
    } else {
      ++it;
    }
  }
  auto ip = ParseIpHeader(fragment);
  if (!ip.ok()) return ip.status();
  if (ip->family != IpFamily::kV4 || !ip->is_fragment()) {
    return absl::InvalidArgumentError("not an IPv4 fragment");
  }
  const size_t length = ip->total_length - ip->header_length;
  // Every fragment but the last carries a multiple of 8 bytes (ip_frag_queue
  // drops the queue otherwise), and the whole stays under 64 KiB.
  if ((ip->more_fragments && length % 8 != 0) ||
      ip->fragment_offset + length + ip->header_length > 0xffff) {
    return absl::InvalidArgumentError("bad IPv4 fragment length");
  }
  const Key key{ip->src, ip->dst, ip->proto, ip->id};
  auto [it, inserted] = queues_.try_emplace(key);
  Queue& q = it->second;
  if (inserted) q.first_seen = now;
  if (!ip->more_fragments) {
    const size_t total = ip->fragment_offset + length;
    if (q.total_data && *q.total_data != total) {
      queues_.erase(it);
      ++result.failed;
      return result;
    }
    q.total_data = total;
  }
  if (ip->fragment_offset == 0) {
    q.header.assign(fragment.begin(), fragment.begin() + ip->header_length);
  }
  // A duplicate replaces the bytes at its offset (no overlap handling
  // beyond that: the simulator's own fragments never overlap).
  q.data[ip->fragment_offset].assign(
      fragment.begin() + ip->header_length,
      fragment.begin() + ip->header_length + length);
  auto whole = Complete(q);
  if (whole) {
    queues_.erase(it);
    result.packet = std::move(whole);
  }
  return result;
}

std::optional<std::vector<uint8_t>> Ipv4Reassembler::Complete(const Queue& q) {
  if (!q.total_data || q.header.empty()) return std::nullopt;
  size_t next = 0;
  for (const auto& [offset, bytes] : q.data) {
    if (offset > next) return std::nullopt;  // A hole.
    next = std::max(next, offset + bytes.size());
  }
  if (next != *q.total_data) return std::nullopt;
  std::vector<uint8_t> packet = FragmentHeader(q.header, *q.total_data, 0,
                                               /*more=*/false);
  packet.resize(q.header.size() + *q.total_data);
  for (const auto& [offset, bytes] : q.data) {
    std::memcpy(&packet[q.header.size() + offset], bytes.data(), bytes.size());
  }
  return packet;
}

}  // namespace kmesh::sim
