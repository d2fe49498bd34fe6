// Packet capture for simulated nodes, the way an operator looks at a real
// one: each captured packet can be printed as the line `tcpdump -i any`
// prints for it (e.g. "14:19:24.143654 ? Out IP master > node1:
// ESP(spi=0x00000001,seq=0x3da88), length 80", node addresses shown by node
// name as tcpdump shows resolvable hosts) and written to a pcap file with
// Linux "cooked v2" headers (LINKTYPE_LINUX_SLL2), which is what
// `tcpdump -i any -w` writes, so real tcpdump and tshark open it.
#ifndef SIM_KERNEL_CAPTURE_H_
#define SIM_KERNEL_CAPTURE_H_

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "kmesh/base/ip_address.h"

namespace kmesh::sim {

enum class PacketDirection : uint8_t { kIn, kOut };

struct CapturedPacket {
  std::chrono::system_clock::time_point time;
  std::string interface;  // e.g. "eth0", "veth-pod-a"
  uint32_t ifindex = 0;
  PacketDirection direction = PacketDirection::kIn;
  std::vector<uint8_t> packet;  // Starts with the IP header.
};

// Maps an address to the host name tcpdump would print, or "" to print the
// address itself.
using HostNameResolver = std::function<std::string(const IpAddress&)>;

// The line tcpdump 4.99 prints for `packet` with -i any (times in UTC).
std::string FormatTcpdumpLine(const CapturedPacket& packet,
                              const HostNameResolver& names);

// Writes a pcap file (microsecond timestamps, LINKTYPE_LINUX_SLL2).
class PcapWriter {
 public:
  static absl::StatusOr<PcapWriter> Create(const std::string& path);
  PcapWriter(PcapWriter&& other) noexcept;
  PcapWriter& operator=(PcapWriter&& other) noexcept;
  ~PcapWriter();

  absl::Status Write(const CapturedPacket& packet);
  absl::Status Flush();

 private:
  explicit PcapWriter(std::FILE* file) : file_(file) {}
  std::FILE* file_ = nullptr;
};

}  // namespace kmesh::sim

#endif  // SIM_KERNEL_CAPTURE_H_
