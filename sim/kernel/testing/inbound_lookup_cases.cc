#include "sim/kernel/testing/inbound_lookup_cases.h"

#include <algorithm>
#include <array>
#include <optional>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "kmesh/kernel/testing/xfrm_objects.h"
#include "sim/kernel/esp_transform.h"
#include "sim/kernel/testing/outbound_lookup_cases.h"
#include "sim/net/ip_fragments.h"
#include "sim/net/ip_packet.h"

namespace kmesh::sim::testing {
namespace {

IpFamily Other(IpFamily family) {
  return family == IpFamily::kV4 ? IpFamily::kV6 : IpFamily::kV4;
}

// Marks that the SAs' and policies' marks overlap with (as in
// outbound_lookup_cases.cc).
constexpr XfrmMark kSaMarks[] = {
    {0, 0},       {0xd0, 0xff},  {0xd0, 0xffffffff}, {0x100d0, 0xffff00ff},
    {0xe0, 0xff}, {0x1d0, 0xfff}};
// TOS / traffic class bytes: Not-ECT, ECT(1), ECT(0), CE, DSCP EF alone
// and with ECT(0) and CE.
constexpr uint8_t kTos[] = {0x00, 0x01, 0x02, 0x03, 0xb8, 0xba, 0xbb};
constexpr uint32_t kArrivalMarks[] = {0,     0xd0,    0xe0,   0x100d0,
                                      0x1d0, 0x200d0, 0xd0d0, 0x40d0};

bool IsInboundStat(const std::string& name) {
  return absl::StartsWith(name, "XfrmIn") || absl::StartsWith(name, "XfrmFwd");
}

}  // namespace

uint64_t PacketDigest(absl::Span<const uint8_t> bytes) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (uint8_t b : bytes) {
    h ^= b;
    h *= 0x100000001b3ull;
  }
  return h;
}

uint64_t StatOf(const XfrmStats& stats, const std::string& name) {
  for (const auto& [n, v] : stats) {
    if (n == name) return v;
  }
  return 0;
}

bool AnyInboundDropRose(const XfrmStats& before, const XfrmStats& after) {
  for (const auto& [name, value] : after) {
    if (IsInboundStat(name) && value != StatOf(before, name)) return true;
  }
  return false;
}

RandomInboundCases::RandomInboundCases(uint32_t seed, InboundTarget target)
    : picks_(seed), pools_(seed * 11 + 3), target_(target) {}

IpAddress RandomInboundCases::Destination(IpFamily family,
                                          const InboundCase& c) {
  return Local(family, target_ == InboundTarget::kPods ? c.pods : c.local);
}

IpAddress RandomInboundCases::Remote(IpFamily family,
                                     const std::vector<IpAddress>& local) {
  for (;;) {
    IpAddress a = pools_.Address(family);
    if (std::find(local.begin(), local.end(), a) == local.end()) return a;
  }
}

IpAddress RandomInboundCases::Local(IpFamily family,
                                    const std::vector<IpAddress>& local) {
  std::vector<IpAddress> of_family;
  for (const IpAddress& a : local) {
    if (a.family() == family) of_family.push_back(a);
  }
  return of_family[picks_.Below(static_cast<int>(of_family.size()))];
}

InboundCase RandomInboundCases::Next() {
  ++case_number_;
  InboundCase c;
  for (IpFamily family : {IpFamily::kV4, IpFamily::kV6}) {
    const int n = 1 + picks_.Below(2);
    while (static_cast<int>(std::count_if(c.local.begin(), c.local.end(),
                                          [family](const IpAddress& a) {
                                            return a.family() == family;
                                          })) < n) {
      IpAddress a = pools_.Address(family);
      if (std::find(c.local.begin(), c.local.end(), a) == c.local.end()) {
        c.local.push_back(a);
      }
    }
  }

  if (target_ == InboundTarget::kPods) {
    // One pod of each family behind a veth, addresses from the same pools
    // (so that selectors cover them as often as the host's).
    for (IpFamily family : {IpFamily::kV4, IpFamily::kV6}) {
      c.pods.push_back(Remote(family, c.local));
    }
  }
  // Inner sources are neither the host's addresses nor its pods'.
  std::vector<IpAddress> taken = c.local;
  taken.insert(taken.end(), c.pods.begin(), c.pods.end());

  const int n_sas = 1 + picks_.Below(4);
  for (int i = 0; i < n_sas; ++i) {
    const IpFamily outer = pools_.Family();
    const IpAddress dst = Local(outer, c.local);
    XfrmSa sa = ::kmesh::testing::Sa(Remote(outer, taken).ToString(),
                                     dst.ToString(), 1 + picks_.Below(3));
    sa.reqid = 1 + picks_.Below(3);
    sa.mark = picks_.From(kSaMarks);
    static const uint32_t kWindows[] = {0, 32, 32, 64, 128};
    sa.replay_window = picks_.From(kWindows);
    sa.esn = sa.replay_window > 0 && picks_.Below(3) == 0;
    switch (picks_.Below(5)) {
      case 0:  // A tunnel carrying the other family.
        sa.selector.src = IpPrefix::Any(Other(outer));
        sa.selector.dst = sa.selector.src;
        break;
      case 1:  // Only some inner traffic.
        sa.selector.src = pools_.Prefix(outer);
        sa.selector.dst = pools_.Prefix(outer);
        break;
      default:  // Any of its own family.
        break;
    }
    if (picks_.Below(5) == 0) {
      static const XfrmMark kOutputMarks[] = {{0xe0, 0xff}, {0x1000, 0xf000}};
      sa.output_mark = picks_.From(kOutputMarks);
    }
    c.sas.push_back(sa);
  }

  const int n_policies = picks_.Below(8) == 0 ? 0 : 1 + picks_.Below(3);
  for (int i = 0; i < n_policies; ++i) {
    const XfrmSa& sa = c.sas[picks_.Below(static_cast<int>(c.sas.size()))];
    IpFamily inner = sa.selector.dst.family();
    if (picks_.Below(6) == 0) inner = Other(inner);
    XfrmPolicy p;
    p.dir = target_ == InboundTarget::kPods ? XfrmDir::kFwd : XfrmDir::kIn;
    p.selector.src =
        picks_.Below(2) == 0 ? IpPrefix::Any(inner) : pools_.Prefix(inner);
    if (picks_.Below(2) == 0) {
      p.selector.dst = IpPrefix::Any(inner);
    } else {
      const IpAddress to = Destination(inner, c);
      const int bits = inner == IpFamily::kV4 ? 32 : 128;
      p.selector.dst = IpPrefix(
          to, bits - picks_.Below(3) * (inner == IpFamily::kV4 ? 8 : 32));
    }
    static const uint8_t kProtos[] = {kIpProtoAny, kIpProtoAny, 17, 6};
    p.selector.proto = picks_.From(kProtos);
    // Half of them for any mark, as the packets' marks vary.
    if (picks_.Below(2) == 0) p.mark = pools_.Mark();
    p.priority = pools_.Priority();
    p.action = picks_.Below(4) == 0 ? XfrmAction::kBlock : XfrmAction::kAllow;
    if (picks_.Below(10) < 7) {
      XfrmTemplate t;
      t.src = sa.src;
      t.dst = sa.dst;
      t.reqid = picks_.Below(5) == 0 ? 1 + picks_.Below(3) : sa.reqid;
      t.spi = picks_.Below(3) == 0 ? sa.spi : 0;
      t.optional = picks_.Below(4) == 0;
      p.templates.push_back(t);
    }
    c.policies.push_back(p);
  }

  std::vector<uint64_t> next_seq;
  std::vector<bool> wraps;  // Jumps to just below 2^32 after its first.
  for (const XfrmSa& sa : c.sas) {
    // An ESN SA now and then starts halfway, then jumps to just below 2^32,
    // so that its packets cross into the next 2^32 (the high half inferred
    // on receipt); or starts just below 2^32, where a receiver that has
    // seen nothing takes the high half for -1.
    const int plan = sa.esn ? picks_.Below(3) : 2;
    next_seq.push_back(plan == 0   ? 0x80000000ull
                       : plan == 1 ? 0xfffffffcull
                                   : 1);
    wraps.push_back(plan == 0);
  }
  std::vector<size_t> esp_sent;  // Indexes in c.packets of ESP packets.
  for (int i = 0; i < 8; ++i) {
    InboundPacket packet;
    const int kind = picks_.Below(10);
    const std::string text =
        absl::StrFormat("case %u packet %d", case_number_, i);
    packet.payload.assign(text.begin(), text.end());
    if (kind == 6 && !esp_sent.empty()) {
      packet = c.packets[esp_sent[picks_.Below(esp_sent.size())]];
      packet.description = "replay of " + packet.description;
      c.packets.push_back(packet);
      continue;
    }
    if (kind >= 6) {  // In clear.
      const IpFamily family = pools_.Family();
      packet.inner_src = Remote(family, taken);
      packet.inner_dst = Destination(family, c);
      packet.wire = BuildUdpPacket(packet.inner_src, packet.inner_dst, 5000 + i,
                                   kInboundUdpPort, packet.payload);
      SetTrafficClass(packet.wire, picks_.From(kTos));
      packet.mark = picks_.From(kArrivalMarks);
      packet.description = absl::StrFormat(
          "clear udp %s -> %s mark 0x%x", packet.inner_src.ToString(),
          packet.inner_dst.ToString(), packet.mark);
      c.packets.push_back(std::move(packet));
      continue;
    }
    const size_t k = picks_.Below(static_cast<int>(c.sas.size()));
    const XfrmSa& sa = c.sas[k];
    const uint64_t seq = next_seq[k];
    next_seq[k] += 1 + (picks_.Below(4) == 0 ? picks_.Below(80) : 0);
    if (wraps[k]) {
      next_seq[k] = 0xfffffffdull;
      wraps[k] = false;
    }
    IpFamily inner = sa.selector.dst.family();
    if (picks_.Below(6) == 0) inner = Other(inner);
    packet.inner_src = Remote(inner, taken);
    packet.inner_dst = Destination(inner, c);
    std::vector<uint8_t> datagram =
        BuildUdpPacket(packet.inner_src, packet.inner_dst, 5000 + i,
                       kInboundUdpPort, packet.payload);
    const uint8_t inner_tos = picks_.From(kTos);
    SetTrafficClass(datagram, inner_tos);
    absl::StatusOr<EspTransform> esp = EspTransform::Create(sa);
    absl::StatusOr<std::vector<uint8_t>> wire =
        esp.ok() ? esp->Encapsulate(seq, datagram)
                 : absl::StatusOr<std::vector<uint8_t>>(esp.status());
    if (!wire.ok()) continue;  // Not drawn: the pools make valid SAs.
    packet.wire = *std::move(wire);
    // The outer header as a sender's tunnel would write it, or marked
    // Congestion Experienced on the way.
    const uint8_t outer_tos = picks_.From(kTos);
    SetTrafficClass(packet.wire, outer_tos);
    packet.mark = picks_.From(kArrivalMarks);
    if (picks_.Below(4) != 0) {
      // Aimed at the SA: its mark, other bits as they come.
      packet.mark = sa.mark.value | (packet.mark & ~sa.mark.mask);
    }
    std::string damage;
    const int harm = picks_.Below(12);
    if (harm == 0) {
      packet.wire[packet.wire.size() - 1 - picks_.Below(16)] ^= 0x01;
      damage = ", icv corrupted";
    } else if (harm == 1) {
      packet.wire[packet.wire.size() - 40 + picks_.Below(20)] ^= 0x80;
      damage = ", ciphertext corrupted";
    } else if (harm == 2) {
      const size_t spi_at = IpHeaderLength(sa.dst.family());
      packet.wire[spi_at + 3] ^= 0x40;  // An SPI no SA here has.
      damage = ", spi changed";
    }
    if (sa.dst.is_v4() && picks_.Below(6) == 0) {
      // Fragmented on the way (an IPv4 router with a smaller MTU, the
      // sender's DF clear): 2 to 4 fragments, now and then out of order.
      SetDontFragment(packet.wire, false);
      SetIpv4Id(packet.wire, static_cast<uint16_t>(1 + picks_.Below(65535)));
      const size_t data = packet.wire.size() - 20;
      const size_t pieces = 2 + picks_.Below(3);
      const size_t mtu = 20 + std::max<size_t>(8, (data / pieces + 7) / 8 * 8);
      auto fragments = FragmentIpv4(packet.wire, mtu);
      if (fragments.ok() && fragments->size() > 1) {
        packet.fragments = *std::move(fragments);
        const bool reversed = picks_.Below(3) == 0;
        if (reversed) {
          std::reverse(packet.fragments.begin(), packet.fragments.end());
        }
        absl::StrAppend(&damage, ", in ", packet.fragments.size(), " fragments",
                        reversed ? " last first" : "");
      }
    }
    packet.description = absl::StrFormat(
        "esp %s -> %s spi 0x%x seq 0x%x mark 0x%x tos 0x%x (udp %s -> %s "
        "tos 0x%x)%s",
        sa.src.ToString(), sa.dst.ToString(), sa.spi, seq, packet.mark,
        outer_tos, packet.inner_src.ToString(), packet.inner_dst.ToString(),
        inner_tos, damage);
    esp_sent.push_back(c.packets.size());
    c.packets.push_back(std::move(packet));
  }
  return c;
}

std::string InboundVerdict(const std::vector<XfrmSa>& sas_before,
                           const XfrmStats& stats_before,
                           const std::vector<XfrmSa>& sas_after,
                           const XfrmStats& stats_after,
                           const std::optional<Delivery>& delivered) {
  std::vector<std::string> parts;
  std::map<std::string, uint64_t> before;
  for (const XfrmSa& sa : sas_before) {
    before[SaIdentity(sa)] = sa.counters.packets;
  }
  for (const XfrmSa& sa : sas_after) {
    const std::string id = SaIdentity(sa);
    if (sa.counters.packets != before[id]) parts.push_back(id);
  }
  for (const auto& [name, value] : stats_after) {
    if (!IsInboundStat(name)) continue;
    if (value != StatOf(stats_before, name)) parts.push_back(name.substr(4));
  }
  if (delivered) {
    std::string part = absl::StrFormat("delivered tos 0x%02x ttl %u",
                                       delivered->tos, delivered->ttl);
    if (!delivered->packet.empty()) {
      absl::StrAppend(&part, absl::StrFormat(" bytes %u digest %016x",
                                             delivered->packet.size(),
                                             PacketDigest(delivered->packet)));
    }
    parts.push_back(part);
  }
  if (parts.empty()) return "nothing";
  std::string verdict;
  for (const std::string& part : parts) {
    absl::StrAppend(&verdict, verdict.empty() ? "" : ", ", part);
  }
  return verdict;
}

SimInboundHost MakeSimInboundHost(const InboundCase& c) {
  SimInboundHost host;
  host.kernel = std::make_unique<SimKernel>("inbound", 100);
  host.to_pods = std::make_shared<std::vector<std::vector<uint8_t>>>();
  for (const IpAddress& a : c.local) host.kernel->AddNodeAddress(a);
  for (const IpAddress& pod : c.pods) {
    auto to_pods = host.to_pods;
    host.kernel->AddPod(absl::StrCat("pod-", pod.ToString()), pod,
                        [to_pods](absl::Span<const uint8_t> packet) {
                          to_pods->emplace_back(packet.begin(), packet.end());
                        });
  }
  for (const XfrmSa& sa : c.sas) {
    host.added.push_back(host.kernel->xfrm().AddSa(sa));
  }
  for (const XfrmPolicy& p : c.policies) {
    host.added.push_back(host.kernel->xfrm().AddPolicy(p));
  }
  return host;
}

std::string SimInboundVerdict(SimInboundHost& host,
                              const InboundPacket& packet) {
  SimKernel& kernel = *host.kernel;
  host.to_pods->clear();
  auto sas_before = kernel.xfrm().DumpSas();
  auto stats_before = kernel.xfrm().ReadStats();
  // The packet as the stack above XFRM receives it: the last one eth0
  // takes in (the inner packet, after a decapsulation).
  std::vector<uint8_t> received;
  kernel.SetCaptureSink([&received](const CapturedPacket& captured) {
    if (captured.interface == "eth0" &&
        captured.direction == PacketDirection::kIn) {
      received = captured.packet;
    }
  });
  PacketFate fate = PacketFate::kMalformed;
  if (packet.fragments.empty()) {
    fate = kernel.ReceiveFromWire(packet.wire, packet.mark);
  } else {
    for (const std::vector<uint8_t>& fragment : packet.fragments) {
      fate = kernel.ReceiveFromWire(fragment, packet.mark);
    }
  }
  kernel.SetCaptureSink(nullptr);
  auto sas_after = kernel.xfrm().DumpSas();
  auto stats_after = kernel.xfrm().ReadStats();
  if (!sas_before.ok() || !stats_before.ok() || !sas_after.ok() ||
      !stats_after.ok()) {
    return "simulator could not be read";
  }
  std::optional<Delivery> delivered;
  if (fate == PacketFate::kDelivered) {
    // To a pod: as it left on the pod's veth (forwarded, its TTL one less),
    // every byte.
    const bool to_pod = !host.to_pods->empty();
    if (to_pod) received = host.to_pods->back();
    absl::StatusOr<IpHeader> ip = ParseIpHeader(received);
    delivered = Delivery{ip.ok() ? ip->tos : uint8_t{0xff},
                         ip.ok() ? ip->ttl : uint8_t{0},
                         to_pod ? received : std::vector<uint8_t>()};
  }
  return InboundVerdict(*sas_before, *stats_before, *sas_after, *stats_after,
                        delivered);
}

}  // namespace kmesh::sim::testing
