#include "sim/kernel/testing/outbound_datapath_cases.h"

#include <algorithm>
#include <array>
#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "kmesh/kernel/testing/xfrm_objects.h"
#include "sim/kernel/esp_transform.h"
#include "sim/kernel/testing/inbound_lookup_cases.h"
#include "sim/net/ip_fragments.h"
#include "sim/net/ip_packet.h"

namespace kmesh::sim::testing {
namespace {

// TOS / traffic class bytes: Not-ECT, ECT(1), ECT(0), CE, DSCP EF alone
// and with ECT(0) and CE, a precedence with ECT(1).
constexpr uint8_t kTos[] = {0x00, 0x01, 0x02, 0x03, 0xb8,
                            0xba, 0xbb, 0x10, 0xe1};

uint16_t Load16(const uint8_t* p) { return (p[0] << 8) | p[1]; }

void FixIpv4Checksum(std::vector<uint8_t>& p) {
  p[10] = p[11] = 0;
  const uint16_t sum = InternetChecksum(absl::MakeConstSpan(p.data(), 20));
  p[10] = sum >> 8;
  p[11] = sum & 0xff;
}

// The header fields of an IP packet (or of the start of one, as an ICMP
// error quotes it), read from the bytes without requiring it whole.
// `hashed_flow`: an IPv6 flow label Linux derives from a hash with a key
// drawn at boot (ip6_make_flowlabel) is reported as set or not.
std::string DescribeHeader(absl::Span<const uint8_t> p,
                           bool hashed_flow = false) {
  if (p.empty()) return "empty";
  if ((p[0] >> 4) == 4 && p.size() >= 20) {
    const uint16_t frag = Load16(&p[6]);
    const uint16_t id = Load16(&p[4]);
    const bool df = (frag & 0x4000) != 0;
    const size_t hl = (p[0] & 0x0f) * 4;
    const bool checksum_ok =
        hl >= 20 && p.size() >= hl &&
        InternetChecksum(absl::MakeConstSpan(p.data(), hl)) == 0;
    return absl::StrFormat(
        "ip4 %s > %s tos 0x%02x len %u id %s%s%s off %u ttl %u proto %u%s",
        IpAddress::FromBytes(IpFamily::kV4, &p[12]).ToString(),
        IpAddress::FromBytes(IpFamily::kV4, &p[16]).ToString(), p[1],
        Load16(&p[2]),
        // Without DF the ID comes from a hash on Linux: whether it is set.
        df ? absl::StrCat(id) : (id == 0 ? "0" : "set"), df ? " DF" : "",
        (frag & 0x2000) != 0 ? " MF" : "", (frag & 0x1fff) * 8, p[8], p[9],
        checksum_ok ? "" : " BAD-CHECKSUM");
  }
  if ((p[0] >> 4) == 6 && p.size() >= 40) {
    const uint8_t tc = static_cast<uint8_t>((p[0] << 4) | (p[1] >> 4));
    const uint32_t flow = ((p[1] & 0x0fu) << 16) | Load16(&p[2]);
    return absl::StrFormat(
        "ip6 %s > %s tc 0x%02x flow %s plen %u hlim %u nh %u",
        IpAddress::FromBytes(IpFamily::kV6, &p[8]).ToString(),
        IpAddress::FromBytes(IpFamily::kV6, &p[24]).ToString(), tc,
        hashed_flow ? (flow == 0 ? "0" : "set")
                    : absl::StrFormat("0x%05x", flow),
        Load16(&p[4]), p[7], p[6]);
  }
  return absl::StrFormat("not an IP header (%u bytes)", p.size());
}

// A decrypted ESP packet: what the SA, the sequence number and every byte
// of the inner packet are.
std::string DescribeEsp(const XfrmSa& sa, absl::Span<const uint8_t> packet) {
  absl::StatusOr<EspHeader> esp = ParseEspHeader(packet);
  if (!esp.ok()) return absl::StrCat("bad esp: ", esp.status().message());
  std::string text =
      absl::StrFormat("esp spi 0x%x seq %u", esp->spi, esp->seq_low);
  absl::StatusOr<EspTransform> transform = EspTransform::Create(sa);
  if (!transform.ok() || esp->spi != sa.spi) {
    return text + " (not the case's SA)";
  }
  absl::StatusOr<std::vector<uint8_t>> inner =
      transform->Decapsulate(esp->seq_low, packet);
  if (!inner.ok()) {
    return absl::StrCat(text, " undecryptable: ", inner.status().message());
  }
  return absl::StrFormat("%s inner [%s] %u bytes digest %016x", text,
                         DescribeHeader(*inner), inner->size(),
                         PacketDigest(*inner));
}

// An ICMP error: its type, code and the 32 bits after the checksum (the
// MTU), and what it quotes.
std::string DescribeIcmp(absl::Span<const uint8_t> packet) {
  absl::StatusOr<IpHeader> ip = ParseIpHeader(packet);
  if (!ip.ok()) return absl::StrCat("malformed: ", ip.status().message());
  absl::Span<const uint8_t> icmp =
      packet.subspan(ip->header_length, ip->total_length - ip->header_length);
  if (icmp.size() < 8) return "icmp too short";
  const uint32_t info = (uint32_t{icmp[4]} << 24) | (uint32_t{icmp[5]} << 16) |
                        (uint32_t{icmp[6]} << 8) | icmp[7];
  absl::Span<const uint8_t> quoted = icmp.subspan(8);
  return absl::StrFormat(
      "icmp type %u code %u info 0x%08x quoting %u bytes digest %016x [%s]",
      icmp[0], icmp[1], info, quoted.size(), PacketDigest(quoted),
      DescribeHeader(quoted));
}

}  // namespace

RandomDatapathCases::RandomDatapathCases(uint32_t seed) : picks_(seed) {}

DatapathCase RandomDatapathCases::Next() {
  DatapathCase c;
  // The tunnel's family, and the pods': the same, or now and then the
  // other (a tunnel that changes family).
  const bool v4 = picks_.Below(2) == 0;
  const bool pods_v4 = picks_.Below(4) == 0 ? !v4 : v4;
  if (v4) {
    c.node = *IpAddress::Parse(absl::StrCat("192.168.7.", 1 + picks_.Below(9)));
    c.peer =
        *IpAddress::Parse(absl::StrCat("192.168.7.", 10 + picks_.Below(9)));
  } else {
    c.node =
        *IpAddress::Parse(absl::StrFormat("fd00:7::%x", 1 + picks_.Below(9)));
    c.peer =
        *IpAddress::Parse(absl::StrFormat("fd00:7::%x", 16 + picks_.Below(9)));
  }
  if (pods_v4) {
    c.pod = *IpAddress::Parse(absl::StrCat("10.244.1.", 2 + picks_.Below(250)));
    c.remote = *IpPrefix::Parse("10.244.2.0/24");
  } else {
    c.pod = *IpAddress::Parse(
        absl::StrFormat("fd00:10:244:1::%x", 2 + picks_.Below(250)));
    c.remote = *IpPrefix::Parse("fd00:10:244:2::/64");
  }
  c.node_addresses.push_back(c.node);
  if (v4 != pods_v4) {
    c.node_addresses.push_back(*IpAddress::Parse(
        pods_v4 ? absl::StrCat("192.168.8.", 1 + picks_.Below(9))
                : absl::StrFormat("fd00:8::%x", 1 + picks_.Below(9))));
  }
  if (v4 && pods_v4) {
    static const size_t kMtus[] = {1500, 1500, 1500, 1400, 1280, 1000, 576};
    c.mtu = picks_.From(kMtus);
  } else {
    // IPv6 needs 1,280 on the link, and the tunnel's limit is kept above it.
    static const size_t kMtus[] = {1500, 1500, 1420, 1400};
    c.mtu = picks_.From(kMtus);
  }
  const uint32_t spi = 1 + picks_.Below(3);
  c.sa = ::kmesh::testing::Sa(c.node.ToString(), c.peer.ToString(), spi);
  c.sa.esn = picks_.Below(4) == 0;
  c.sa.replay_window = c.sa.esn ? 128 : 0;
  // The layout's policy: the pod's prefix (the pod alone, or its node's
  // pod range) to the peer's pods, through the tunnel.
  const IpPrefix from = picks_.Below(2) == 0
                            ? IpPrefix(c.pod, pods_v4 ? 32 : 128)
                            : IpPrefix(c.pod, pods_v4 ? 24 : 64);
  if (v4 != pods_v4) {
    // An SA carries the other family only with a selector of that family
    // that is not /0 (an unset or /0 one is the SA's own family).
    c.sa.selector.src = IpPrefix(c.pod, pods_v4 ? 24 : 64);
    c.sa.selector.dst = c.remote;
  }
  c.policy = ::kmesh::testing::Policy(
      XfrmDir::kOut, from.ToString(), c.remote.ToString(),
      ::kmesh::testing::kNoMark, 0,
      {::kmesh::testing::Tmpl(c.node.ToString(), c.peer.ToString(), 1)});
  for (int i = 0; i < 8; ++i) c.packets.push_back(Packet(c));
  return c;
}

DatapathPacket RandomDatapathCases::Packet(const DatapathCase& c) {
  const IpFamily family = c.pod.family();
  const size_t header = IpHeaderLength(family) + 8;  // IP + UDP.
  const size_t tunnel =
      EspTransform::LargestInnerPacket(c.node.family(), c.mtu);
  // The inner packet's length: most near the tunnel's limit or the link's
  // MTU (where encapsulated packets start to be fragmented), some anywhere,
  // some tiny.
  size_t length = 0;
  switch (picks_.Below(6)) {
    case 0:
    case 1:
      length = tunnel - 3 + picks_.Below(7);
      break;
    case 2:
      length = c.mtu - 3 + picks_.Below(7);
      break;
    case 3:
      length = header + picks_.Below(8);
      break;
    default:
      length = header + picks_.Below(static_cast<int>(c.mtu + 200 - header));
      break;
  }
  bool df = picks_.Below(2) == 0;
  // Not drawn: an IPv4 packet without DF too big for an IPv6 tunnel, which
  // Linux encapsulates and sends as IPv6 fragments (the simulator does not
  // fragment IPv6; docs/sim-fidelity.md).
  if (family == IpFamily::kV4 && c.node.family() == IpFamily::kV6 &&
      length > tunnel) {
    df = true;
  }
  const uint8_t tos = picks_.From(kTos);
  static const uint8_t kTtls[] = {1, 2, 9, 63, 64, 64, 128, 255};
  const uint8_t ttl = picks_.From(kTtls);
  const uint16_t id = static_cast<uint16_t>(picks_.Below(65536));
  const uint32_t flow = picks_.Below(4) == 0 ? 0 : picks_.Below(1 << 20);

  std::vector<uint8_t> payload(length - header);
  for (uint8_t& b : payload) b = static_cast<uint8_t>(picks_.Below(256));
  const IpAddress dst = IpPrefix(c.remote.address(), c.remote.length())
                            .address();  // The network's address ...
  std::array<uint8_t, 16> dst_bytes = dst.bytes();
  dst_bytes[family == IpFamily::kV4 ? 3 : 15] =
      static_cast<uint8_t>(2 + picks_.Below(250));  // ... and a host in it.
  DatapathPacket p;
  p.inner = BuildUdpPacket(
      c.pod, IpAddress::FromBytes(family, dst_bytes.data()),
      static_cast<uint16_t>(30000 + picks_.Below(1000)), 7777, payload, id);
  SetTrafficClass(p.inner, tos);
  if (family == IpFamily::kV4) {
    p.inner[8] = ttl;
    if (df) p.inner[6] |= 0x40;
    FixIpv4Checksum(p.inner);
  } else {
    p.inner[7] = ttl;
    p.inner[1] = static_cast<uint8_t>((p.inner[1] & 0xf0) | (flow >> 16));
    p.inner[2] = static_cast<uint8_t>(flow >> 8);
    p.inner[3] = static_cast<uint8_t>(flow);
  }
  p.description = absl::StrFormat(
      "udp %s > %s, %u bytes (tunnel limit %u, mtu %u)%s, tos 0x%02x, ttl %u%s",
      c.pod.ToString(),
      IpAddress::FromBytes(family, dst_bytes.data()).ToString(), p.inner.size(),
      tunnel, c.mtu, family == IpFamily::kV4 ? (df ? ", DF" : ", no DF") : "",
      tos, ttl,
      family == IpFamily::kV4 ? absl::StrFormat(", id %u", id)
                              : absl::StrFormat(", flow 0x%05x", flow));
  return p;
}

const std::vector<std::string>& DatapathSnmpCounters() {
  static const std::vector<std::string> kNames = {
      "IpFragOKs",           "IpFragFails",       "IpFragCreates",
      "IcmpOutDestUnreachs", "IcmpOutTimeExcds",  "Ip6FragOKs",
      "Ip6FragFails",        "Ip6FragCreates",    "Ip6InTooBigErrors",
      "Icmp6OutPktTooBigs",  "Icmp6OutTimeExcds", "IpInHdrErrors",
      "Ip6InHdrErrors"};
  return kNames;
}

std::map<std::string, uint64_t> CountersRisen(
    const std::map<std::string, uint64_t>& before,
    const std::map<std::string, uint64_t>& after) {
  const std::vector<std::string>& snmp = DatapathSnmpCounters();
  std::map<std::string, uint64_t> risen;
  for (const auto& [name, value] : after) {
    if (name.rfind("Xfrm", 0) != 0 &&
        std::find(snmp.begin(), snmp.end(), name) == snmp.end()) {
      continue;
    }
    auto it = before.find(name);
    const uint64_t was = it == before.end() ? 0 : it->second;
    if (value > was) risen[name] = value - was;
  }
  return risen;
}

std::map<std::string, uint64_t> StatMap(const XfrmStats& stats) {
  return std::map<std::string, uint64_t>(stats.begin(), stats.end());
}

std::string DatapathVerdict(const DatapathCase& c, const DatapathOutput& out) {
  std::vector<std::string> lines;
  Ipv4Reassembler reassembler;
  for (const std::vector<uint8_t>& frame : out.wire) {
    std::string line = absl::StrCat("wire: ", DescribeHeader(frame));
    absl::StatusOr<IpHeader> ip = ParseIpHeader(frame);
    if (!ip.ok()) {
      absl::StrAppend(&line, " malformed: ", ip.status().message());
    } else if (ip->is_fragment()) {
      absl::StatusOr<Ipv4Reassembler::Result> whole = reassembler.Add(frame);
      if (whole.ok() && whole->packet) {
        absl::StrAppend(&line,
                        "\n  reassembled: ", DescribeHeader(*whole->packet),
                        "\n  ", DescribeEsp(c.sa, *whole->packet));
      }
    } else if (ip->proto == kIpProtoEspNumber) {
      absl::StrAppend(&line, "\n  ", DescribeEsp(c.sa, frame));
    } else {
      absl::StrAppend(&line, " in clear, digest ",
                      absl::StrFormat("%016x", PacketDigest(frame)));
    }
    lines.push_back(line);
  }
  if (reassembler.pending() != 0) lines.push_back("wire: fragments missing");
  for (const std::vector<uint8_t>& packet : out.to_pod) {
    lines.push_back(absl::StrCat("to pod: ", DescribeHeader(packet, true),
                                 "\n  ", DescribeIcmp(packet)));
  }
  std::string counters;
  for (const auto& [name, n] : out.risen) {
    absl::StrAppend(&counters, counters.empty() ? "" : ", ", name, " +", n);
  }
  lines.push_back(
      absl::StrCat("counters: ", counters.empty() ? "none" : counters));
  std::string verdict;
  for (const std::string& line : lines) {
    absl::StrAppend(&verdict, "\n", line);
  }
  return verdict;
}

SimDatapathHost MakeSimDatapathHost(const DatapathCase& c) {
  SimDatapathHost host;
  host.kernel = std::make_unique<SimKernel>("datapath", 200);
  host.pod = c.pod;
  host.to_pod = std::make_shared<std::vector<std::vector<uint8_t>>>();
  for (const IpAddress& a : c.node_addresses) host.kernel->AddNodeAddress(a);
  auto to_pod = host.to_pod;
  host.kernel->AddPod("sender", c.pod,
                      [to_pod](absl::Span<const uint8_t> packet) {
                        to_pod->emplace_back(packet.begin(), packet.end());
                      });
  host.kernel->SetPodMtu(c.pod, 9000);
  host.kernel->SetUplinkMtu(c.mtu);
  host.kernel->SetRoute(c.remote, c.peer);
  host.kernel->SetUplink([](const IpAddress&, std::vector<uint8_t>) {});
  host.added = host.kernel->xfrm().AddSa(c.sa);
  if (host.added.ok()) host.added = host.kernel->xfrm().AddPolicy(c.policy);
  return host;
}

DatapathOutput SimDatapathOutput(SimDatapathHost& host,
                                 const DatapathPacket& packet) {
  SimKernel& kernel = *host.kernel;
  auto read = [&kernel] {
    std::map<std::string, uint64_t> counters = kernel.SnmpCounters();
    absl::StatusOr<XfrmStats> stats = kernel.xfrm().ReadStats();
    if (stats.ok()) counters.merge(StatMap(*stats));
    return counters;
  };
  DatapathOutput out;
  const std::map<std::string, uint64_t> before = read();
  host.to_pod->clear();
  kernel.SetCaptureSink([&out](const CapturedPacket& captured) {
    if (captured.interface == "eth0" &&
        captured.direction == PacketDirection::kOut) {
      out.wire.push_back(captured.packet);
    }
  });
  (void)kernel.SendFromPod(host.pod, packet.inner);
  kernel.SetCaptureSink(nullptr);
  out.to_pod = *host.to_pod;
  out.risen = CountersRisen(before, read());
  return out;
}

}  // namespace kmesh::sim::testing
