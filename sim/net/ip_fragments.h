// IPv4 fragmentation and reassembly as Linux does them (ip_fragment,
// ip_defrag): FragmentIpv4 splits a packet into fragments no longer than the
// MTU, every fragment's data but the last a multiple of 8 bytes, the header
// (id, addresses, protocol) copied into each; Ipv4Reassembler collects the
// fragments of each (source, destination, protocol, id) and returns the
// whole packet once every byte has arrived, dropping incomplete ones after
// a timeout (Linux's ipfrag_time, 30 s). IPv6 is not fragmented on the path
// (a router answers Packet Too Big), so only IPv4 is here.
#ifndef SIM_NET_IP_FRAGMENTS_H_
#define SIM_NET_IP_FRAGMENTS_H_

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <tuple>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "kmesh/base/ip_address.h"

namespace kmesh::sim {

// The fragments of the IPv4 packet `packet` for a link of `mtu` bytes.
// FailedPrecondition when it has DF set or the MTU leaves no room for 8
// bytes of data; InvalidArgument for a malformed packet. A packet that fits
// comes back as the only element.
absl::StatusOr<std::vector<std::vector<uint8_t>>> FragmentIpv4(
    absl::Span<const uint8_t> packet, size_t mtu);

class Ipv4Reassembler {
 public:
  using Clock = std::chrono::steady_clock;
  static constexpr std::chrono::seconds kTimeout{30};

  struct Result {
    // The reassembled packet, once complete.
    std::optional<std::vector<uint8_t>> packet;
    // Incomplete packets dropped by this call (timed out or inconsistent):
    // what Linux counts as ReasmFails.
    uint64_t failed = 0;
  };

  // Takes one fragment (a packet with MF set or a nonzero offset).
  // InvalidArgument for something that is not a valid fragment.
  absl::StatusOr<Result> Add(absl::Span<const uint8_t> fragment,
                             Clock::time_point now = Clock::now());
  size_t pending() const { return queues_.size(); }

 private:
  using Key = std::tuple<IpAddress, IpAddress, uint8_t, uint16_t>;
  struct Queue {
    Clock::time_point first_seen;
    std::vector<uint8_t> header;  // Of the fragment at offset 0.
    std::map<size_t, std::vector<uint8_t>> data;  // Offset -> bytes.
    std::optional<size_t> total_data;             // Known from the last one.
  };
  static std::optional<std::vector<uint8_t>> Complete(const Queue& q);

  std::map<Key, Queue> queues_;
};

}  // namespace kmesh::sim

#endif  // SIM_NET_IP_FRAGMENTS_H_
