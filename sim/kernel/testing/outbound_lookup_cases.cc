#include "sim/kernel/testing/outbound_lookup_cases.h"

#include <algorithm>
#include <array>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "kmesh/kernel/testing/xfrm_objects.h"

namespace kmesh::sim::testing {

std::string OutboundPacket::ToString() const {
  return absl::StrFormat("%s -> %s proto %u mark 0x%x", src.ToString(),
                         dst.ToString(), proto, mark);
}

RandomOutboundCases::RandomOutboundCases(uint32_t seed)
    : picks_(seed), policies_(seed * 7 + 1), sas_(seed * 13 + 2) {}

OutboundCase RandomOutboundCases::Next() {
  OutboundCase c;
  const int n_policies = 1 + picks_.Below(5);
  for (int i = 0; i < n_policies; ++i) {
    XfrmPolicy p = policies_.Policy();
    p.dir = XfrmDir::kOut;
    static const uint8_t kProtos[] = {kIpProtoAny, kIpProtoAny, 6, 17};
    p.selector.proto = picks_.From(kProtos);
    p.action = picks_.Below(5) == 0 ? XfrmAction::kBlock : XfrmAction::kAllow;
    if (picks_.Below(10) < 7) {
      IpFamily family = p.selector.dst.family();
      if (picks_.Below(10) == 0) {
        family = family == IpFamily::kV4 ? IpFamily::kV6 : IpFamily::kV4;
      }
      XfrmTemplate t;
      t.src = policies_.Address(family);
      t.dst = policies_.Address(family);
      t.reqid = 1 + picks_.Below(3);
      static const uint32_t kSpis[] = {0, 0, 0, 0, 1, 2};
      t.spi = picks_.From(kSpis);
      p.templates.push_back(t);
    }
    c.policies.push_back(p);
  }
  const int n_sas = picks_.Below(7);
  for (int i = 0; i < n_sas; ++i) {
    const XfrmPolicy& p = c.policies[picks_.Below(c.policies.size())];
    XfrmSa sa;
    if (!p.templates.empty() && picks_.Below(4) != 0) {
      const XfrmTemplate& t = p.templates[0];
      sa = ::kmesh::testing::Sa(t.src.ToString(), t.dst.ToString(),
                                t.spi != 0 ? t.spi : 1 + picks_.Below(2));
      sa.reqid = picks_.Below(6) == 0 ? 1 + picks_.Below(3) : t.reqid;
    } else {
      const IpFamily family = policies_.Family();
      sa = ::kmesh::testing::Sa(policies_.Address(family).ToString(),
                                policies_.Address(family).ToString(),
                                1 + picks_.Below(2));
      sa.reqid = 1 + picks_.Below(3);
    }
    // Marks the policies' marks and packets' marks overlap with.
    static const XfrmMark kMarks[] = {{0, 0},
                                      {0xe0, 0xff},
                                      {0xe0, 0xffffffff},
                                      {0x100e0, 0xffff00ff},
                                      {0xd0, 0xff},
                                      {0x40e0, 0xffffffff},
                                      {0x1e0, 0xfff}};
    sa.mark = picks_.From(kMarks);
    if (picks_.Below(3) == 0) {
      // The policy's own mark, as a layout would give its SAs.
      sa.mark = XfrmMark{p.mark.value & p.mark.mask, p.mark.mask};
    }
    sa.selector.src = IpPrefix::Any(sa.dst.family());
    sa.selector.dst = sa.selector.src;
    c.sas.push_back(sa);
  }
  for (int i = 0; i < 8; ++i) {
    const XfrmPolicy& p = c.policies[picks_.Below(c.policies.size())];
    OutboundPacket packet;
    static const uint32_t kPacketMarks[] = {
        0, 0xe0, 0xd0, 0x100e0, 0x1e0, 0x40e0, 0x100d0, 0xe0e0, 0x200e0};
    packet.mark = picks_.From(kPacketMarks);
    packet.proto = picks_.Below(2) == 0 ? 6 : 17;
    if (picks_.Below(4) != 0) {
      // Aimed at policy p: inside its prefixes, of its protocol, with a mark
      // it matches (other bits as they come), so that what follows (which
      // policy wins, which SA its template finds) is exercised.
      packet.src = AddressIn(p.selector.src);
      packet.dst = AddressIn(p.selector.dst);
      if (p.selector.proto != kIpProtoAny) packet.proto = p.selector.proto;
      packet.mark = p.mark.value | (packet.mark & ~p.mark.mask);
    } else {
      const IpFamily family =
          picks_.Below(8) == 0 ? policies_.Family() : p.selector.dst.family();
      packet.src = policies_.Address(family);
      packet.dst = policies_.Address(family);
    }
    c.packets.push_back(packet);
  }
  return c;
}

IpAddress RandomOutboundCases::AddressIn(const IpPrefix& prefix) {
  std::array<uint8_t, 16> bytes = prefix.address().bytes();
  const int total = prefix.family() == IpFamily::kV4 ? 32 : 128;
  // The host part: mostly the prefix's own address with one of its low bits
  // set, now and then any bits.
  if (picks_.Below(3) == 0) {
    for (int bit = prefix.length(); bit < total; ++bit) {
      if (picks_.Below(2) == 0) bytes[bit / 8] ^= uint8_t(0x80 >> (bit % 8));
    }
  } else if (prefix.length() < total) {
    const int bit =
        total - 1 - picks_.Below(std::min(8, total - prefix.length()));
    bytes[bit / 8] |= uint8_t(0x80 >> (bit % 8));
  }
  return IpAddress::FromBytes(prefix.family(), bytes.data());
}

std::string SaIdentity(const XfrmSa& sa) {
  return absl::StrFormat("sa %s -> %s spi 0x%x reqid %u mark 0x%x/0x%x",
                         sa.src.ToString(), sa.dst.ToString(), sa.spi, sa.reqid,
                         sa.mark.value, sa.mark.mask);
}

std::string SimOutboundVerdict(const SimXfrm& xfrm,
                               const OutboundPacket& packet) {
  using Verdict = SimXfrm::OutboundDecision::Verdict;
  const SimXfrm::OutboundDecision d =
      xfrm.ResolveOutbound(packet.src, packet.dst, packet.proto, packet.mark);
  switch (d.verdict) {
    case Verdict::kClear:
      return "clear";
    case Verdict::kBlock:
      return "block";
    case Verdict::kNoStates:
      return "nostates";
    case Verdict::kPolError:
      return "polerror";
    case Verdict::kTransform:
      break;
  }
  std::string text;
  for (const SaRef& ref : d.bundle) {
    absl::StrAppend(&text, text.empty() ? "" : " + ", SaIdentity(ref.sa));
  }
  return text;
}

}  // namespace kmesh::sim::testing
