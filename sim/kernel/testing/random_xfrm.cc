#include "sim/kernel/testing/random_xfrm.h"

#include "absl/strings/str_cat.h"
#include "kmesh/kernel/testing/xfrm_objects.h"

namespace kmesh::sim::testing {

XfrmSa RandomSas::NextSa(uint32_t tag) {
  static const char* const kDsts[][2] = {{"10.0.0.2", "10.0.0.1"},
                                         {"10.0.0.3", "10.0.0.2"},
                                         {"fd00::2", "fd00::1"}};
  const auto& pair = kDsts[Below(3)];
  XfrmSa sa = ::kmesh::testing::Sa(pair[0], pair[1], Spi(), Mark());
  sa.reqid = tag;
  sa.proto = Proto();
  static const XfrmMark kOutputMarks[] = {
      {0, 0}, {0xd0, 0xffff00ff}, {0x7, 0xff}, {0xe0, 0xffffffff}};
  sa.output_mark = From(kOutputMarks);
  return sa;
}

uint32_t RandomSas::Spi() {
  static const uint32_t kSpis[] = {1, 2, 0x1000, 1, 2, 0x1000, 0};
  return From(kSpis);
}

uint8_t RandomSas::Proto() { return Below(8) == 0 ? uint8_t{51} : kIpProtoEsp; }

XfrmMark RandomSas::Mark() {
  // Mask 0 (unmarked) is rarer: it collides with every later SA of its
  // (dst, SPI).
  static const uint32_t kMasks[] = {0xffffffff, 0xffff00ff, 0xff,
                                    0xffff,     0xffff0000, 0xffff00ff,
                                    0xffffffff, 0xff,       0};
  return XfrmMark{PacketMark(), From(kMasks)};
}

uint32_t RandomSas::PacketMark() {
  static const uint32_t kMarks[] = {0,       0xd0,       0x100d0, 0x200d0,
                                    0x1d0,   0x100e0,    0x10000, 0x2ff00d0,
                                    0x20000, 0xffffffff, 0xe0,    0x300d0};
  return From(kMarks);
}

IpAddress RandomPolicies::Address(IpFamily family) {
  if (family == IpFamily::kV4) {
    return IpAddress::V4((10u << 24) | (Below(2) << 23) | (Below(3) << 16) |
                         (Below(2) << 12) | (Below(3) << 8) | Below(4));
  }
  uint8_t b[16] = {0xfd, 0x00};
  b[2] = Below(2) << 7;
  b[3] = Below(3);
  b[8] = Below(2) << 4;
  b[9] = Below(3);
  b[15] = Below(4);
  return IpAddress::FromBytes(IpFamily::kV6, b);
}

IpFamily RandomPolicies::Family() {
  return Below(2) == 0 ? IpFamily::kV4 : IpFamily::kV6;
}

IpPrefix RandomPolicies::Prefix(IpFamily family) {
  const int bits = family == IpFamily::kV4 ? 32 : 128;
  // Every length 0..bits, with /0 and the full length more often.
  const int pick = Below(bits + 5);
  const int length = pick > bits ? (pick % 2 == 0 ? 0 : bits) : pick;
  return IpPrefix(Address(family), length);
}

XfrmDir RandomPolicies::Dir() { return static_cast<XfrmDir>(Below(3)); }

XfrmMark RandomPolicies::Mark() {
  static const XfrmMark kMarks[] = {{0, 0},
                                    {0xe0, 0xff},
                                    {0xd0, 0xff},
                                    {0x100d0, 0xffff00ff},
                                    {0xe0, 0xffffffff}};
  return From(kMarks);
}

uint32_t RandomPolicies::PacketMark() {
  static const uint32_t kMarks[] = {0, 0xe0, 0xd0, 0x100d0, 0x1e0, 0x40e0};
  return From(kMarks);
}

uint8_t RandomPolicies::Proto() {
  static const uint8_t kProtos[] = {kIpProtoAny, 6, 17, kIpProtoEsp};
  return From(kProtos);
}

uint32_t RandomPolicies::Priority() {
  static const uint32_t kPriorities[] = {0, 1, 5, 100, 100, 1000};
  return From(kPriorities);
}

XfrmPolicy RandomPolicies::Policy() {
  XfrmPolicy p;
  p.dir = Dir();
  const IpFamily family = Family();
  p.selector.src = Prefix(family);
  p.selector.dst = Prefix(family);
  p.selector.proto = Proto();
  p.mark = Mark();
  p.priority = Priority();
  p.action = Below(4) == 0 ? XfrmAction::kBlock : XfrmAction::kAllow;
  return p;
}

RandomPolicies::Packet RandomPolicies::NextPacket() {
  const IpFamily family = Family();
  const uint8_t proto = Proto();
  return Packet{Dir(), Address(family), Address(family),
                proto == kIpProtoAny ? uint8_t{1} : proto, PacketMark()};
}

const XfrmPolicy* FirstMatch(
    const std::map<XfrmPolicyIndex::Order, XfrmPolicy>& policies,
    const RandomPolicies::Packet& packet) {
  for (const auto& [order, p] : policies) {
    if (p.dir == packet.dir && p.mark.Matches(packet.mark) &&
        p.selector.Matches(packet.src, packet.dst, packet.proto)) {
      return &p;
    }
  }
  return nullptr;
}

std::string Describe(const XfrmPolicy* policy) {
  if (policy == nullptr) return "none";
  return absl::StrCat(XfrmDirName(policy->dir), " ",
                      policy->selector.src.ToString(), " -> ",
                      policy->selector.dst.ToString(), " proto ",
                      policy->selector.proto, " mark ", policy->mark.value, "/",
                      policy->mark.mask, " prio ", policy->priority);
}

}  // namespace kmesh::sim::testing
