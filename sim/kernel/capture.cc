#include "sim/kernel/capture.h"

#include <cerrno>
#include <cstring>
#include <ctime>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "sim/kernel/esp_transform.h"
#include "sim/net/ip_packet.h"

namespace kmesh::sim {
namespace {

constexpr uint32_t kLinktypeLinuxSll2 = 276;
constexpr uint8_t kSllHost = 0;      // Addressed to this host ("In").
constexpr uint8_t kSllOutgoing = 4;  // Sent by this host ("Out").

std::string Name(const IpAddress& a, const HostNameResolver& names) {
  if (names) {
    std::string n = names(a);
    if (!n.empty()) return n;
  }
  return a.ToString();
}

uint16_t Load16(const uint8_t* p) { return (p[0] << 8) | p[1]; }

void Put16(std::string& out, uint16_t v) {
  out.push_back(static_cast<char>(v >> 8));
  out.push_back(static_cast<char>(v & 0xff));
}
void Put32(std::string& out, uint32_t v) {
  Put16(out, v >> 16);
  Put16(out, v & 0xffff);
}

}  // namespace

std::string FormatTcpdumpLine(const CapturedPacket& p,
                              const HostNameResolver& names) {
  const auto since_epoch = p.time.time_since_epoch();
  const auto secs =
      std::chrono::duration_cast<std::chrono::seconds>(since_epoch);
  const auto usecs =
      std::chrono::duration_cast<std::chrono::microseconds>(since_epoch - secs);
  const time_t t = secs.count();
  struct tm tm;
  gmtime_r(&t, &tm);
  std::string line =
      absl::StrFormat("%02d:%02d:%02d.%06d ? %s ", tm.tm_hour, tm.tm_min,
                      tm.tm_sec, static_cast<int>(usecs.count()),
                      p.direction == PacketDirection::kOut ? "Out" : "In");

  auto ip = ParseIpHeader(p.packet);
  if (!ip.ok()) {
    absl::StrAppend(&line, "[malformed IP packet: ", ip.status().message(),
                    "]");
    return line;
  }
  const char* family = ip->family == IpFamily::kV4 ? "IP" : "IP6";
  const size_t payload_length = ip->total_length - ip->header_length;
  const uint8_t* payload = p.packet.data() + ip->header_length;
  const std::string src = Name(ip->src, names);
  const std::string dst = Name(ip->dst, names);
  if (ip->fragment_offset > 0) {
    // A later fragment: no transport header to show (as tcpdump).
    absl::StrAppend(
        &line, family, " ", src, " > ", dst, ": ip-proto-", ip->proto,
        absl::StrFormat(" (frag %d:%d@%d%s)", ip->id, payload_length,
                        ip->fragment_offset, ip->more_fragments ? "+" : ""));
  } else if (ip->proto == kIpProtoEspNumber && payload_length >= 8) {
    absl::StrAppend(
        &line, family, " ", src, " > ", dst,
        absl::StrFormat(
            ": ESP(spi=0x%08x,seq=0x%x), length %d",
            (uint32_t{payload[0]} << 24) | (uint32_t{payload[1]} << 16) |
                (uint32_t{payload[2]} << 8) | payload[3],
            (uint32_t{payload[4]} << 24) | (uint32_t{payload[5]} << 16) |
                (uint32_t{payload[6]} << 8) | payload[7],
            payload_length));
  } else if (ip->proto == kIpProtoUdp && payload_length >= 8) {
    absl::StrAppend(&line, family, " ", src, ".", Load16(payload), " > ", dst,
                    ".", Load16(payload + 2), ": UDP, length ",
                    Load16(payload + 4) - 8);
  } else {
    absl::StrAppend(&line, family, " ", src, " > ", dst, ": ip-proto-",
                    ip->proto, " ", payload_length);
  }
  return line;
}

absl::StatusOr<PcapWriter> PcapWriter::Create(const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (f == nullptr) {
    return absl::UnavailableError(
        absl::StrCat("cannot write ", path, ": ", std::strerror(errno)));
  }
  // Global header, little endian: magic, version 2.4, zone, sigfigs,
  // snaplen, link type.
  const uint32_t magic = 0xa1b2c3d4;
  const uint16_t major = 2, minor = 4;
  const int32_t zone = 0;
  const uint32_t sigfigs = 0, snaplen = 262144, link = kLinktypeLinuxSll2;
  std::fwrite(&magic, 4, 1, f);
  std::fwrite(&major, 2, 1, f);
  std::fwrite(&minor, 2, 1, f);
  std::fwrite(&zone, 4, 1, f);
  std::fwrite(&sigfigs, 4, 1, f);
  std::fwrite(&snaplen, 4, 1, f);
  std::fwrite(&link, 4, 1, f);
  return PcapWriter(f);
}

PcapWriter::PcapWriter(PcapWriter&& o) noexcept : file_(o.file_) {
  o.file_ = nullptr;
}
PcapWriter& PcapWriter::operator=(PcapWriter&& o) noexcept {
  if (this != &o) {
    if (file_) std::fclose(file_);
    file_ = o.file_;
    o.file_ = nullptr;
  }
  return *this;
}
PcapWriter::~PcapWriter() {
  if (file_) std::fclose(file_);
}

absl::Status PcapWriter::Write(const CapturedPacket& p) {
  if (file_ == nullptr) return absl::FailedPreconditionError("pcap closed");
  // SLL2 header: protocol, reserved, ifindex, ARPHRD_ETHER, packet type,
  // address length, address (8).
  std::string sll;
  const bool v6 = !p.packet.empty() && (p.packet[0] >> 4) == 6;
  Put16(sll, v6 ? 0x86dd : 0x0800);
  Put16(sll, 0);
  Put32(sll, p.ifindex);
  Put16(sll, 1);
  sll.push_back(static_cast<char>(
      p.direction == PacketDirection::kOut ? kSllOutgoing : kSllHost));
  sll.push_back(6);
  sll.append(8, '\0');

  const auto since_epoch = p.time.time_since_epoch();
  const auto secs =
      std::chrono::duration_cast<std::chrono::seconds>(since_epoch);
  const uint32_t ts_sec = static_cast<uint32_t>(secs.count());
  const uint32_t ts_usec = static_cast<uint32_t>(
      std::chrono::duration_cast<std::chrono::microseconds>(since_epoch - secs)
          .count());
  const uint32_t length = sll.size() + p.packet.size();
  std::fwrite(&ts_sec, 4, 1, file_);
  std::fwrite(&ts_usec, 4, 1, file_);
  std::fwrite(&length, 4, 1, file_);
  std::fwrite(&length, 4, 1, file_);
  std::fwrite(sll.data(), 1, sll.size(), file_);
  if (std::fwrite(p.packet.data(), 1, p.packet.size(), file_) !=
      p.packet.size()) {
    return absl::UnavailableError("pcap write failed");
  }
  return absl::OkStatus();
}

absl::Status PcapWriter::Flush() {
  if (file_ && std::fflush(file_) != 0) {
    return absl::UnavailableError("pcap flush failed");
  }
  return absl::OkStatus();
}

}  // namespace kmesh::sim
