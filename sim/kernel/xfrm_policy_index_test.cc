#include "sim/kernel/xfrm_policy_index.h"

#include <cstdint>
#include <iterator>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "kmesh/base/ip_address.h"
#include "kmesh/kernel/xfrm.h"
#include "sim/kernel/sim_xfrm.h"

namespace kmesh {
namespace sim {
namespace {

using Order = XfrmPolicyIndex::Order;

IpAddress Ip(const std::string& text) { return IpAddress::Parse(text).value(); }
IpPrefix Cidr(const std::string& text) { return IpPrefix::Parse(text).value(); }

XfrmPolicy Policy(XfrmDir dir, const std::string& src, const std::string& dst,
                  XfrmMark mark, uint32_t priority = 0) {
  XfrmPolicy p;
  p.dir = dir;
  p.selector.src = Cidr(src);
  p.selector.dst = Cidr(dst);
  p.mark = mark;
  p.priority = priority;
  return p;
}

// Random policies and packets drawn from small pools, so that prefixes of
// every length overlap, priorities tie and marks collide often.
class RandomPolicies {
 public:
  explicit RandomPolicies(uint32_t seed) : rng_(seed) {}

  int Below(int n) {
    return std::uniform_int_distribution<int>(0, n - 1)(rng_);
  }

  IpAddress Address(IpFamily family) {
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
  IpFamily Family() { return Below(2) == 0 ? IpFamily::kV4 : IpFamily::kV6; }
  IpPrefix Prefix(IpFamily family) {
    const int bits = family == IpFamily::kV4 ? 32 : 128;
    // Every length 0..bits, with /0 and the full length more often.
    const int pick = Below(bits + 5);
    const int length = pick > bits ? (pick % 2 == 0 ? 0 : bits) : pick;
    return IpPrefix(Address(family), length);
  }
  XfrmDir Dir() { return static_cast<XfrmDir>(Below(3)); }
  XfrmMark Mark() {
    static const XfrmMark kMarks[] = {{0, 0},
                                      {0xe0, 0xff},
                                      {0xd0, 0xff},
                                      {0x100d0, 0xffff00ff},
                                      {0xe0, 0xffffffff}};
    return kMarks[Below(5)];
  }
  uint32_t PacketMark() {
    static const uint32_t kMarks[] = {0, 0xe0, 0xd0, 0x100d0, 0x1e0, 0x40e0};
    return kMarks[Below(6)];
  }
  uint8_t Proto() {
    static const uint8_t kProtos[] = {kIpProtoAny, 6, 17, kIpProtoEsp};
    return kProtos[Below(4)];
  }
  uint32_t Priority() {
    static const uint32_t kPriorities[] = {0, 1, 5, 100, 100, 1000};
    return kPriorities[Below(6)];
  }
  XfrmPolicy Policy() {
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
  struct Packet {
    XfrmDir dir;
    IpAddress src;
    IpAddress dst;
    uint8_t proto;
    uint32_t mark;
  };
  Packet NextPacket() {
    const IpFamily family = Family();
    const uint8_t proto = Proto();
    return Packet{Dir(), Address(family), Address(family),
                  proto == kIpProtoAny ? uint8_t{1} : proto, PacketMark()};
  }

 private:
  std::mt19937 rng_;
};

// The linear first match the index replaces.
const XfrmPolicy* FirstMatch(const std::map<Order, XfrmPolicy>& policies,
                             const RandomPolicies::Packet& pkt) {
  for (const auto& [order, p] : policies) {
    if (p.dir == pkt.dir && p.mark.Matches(pkt.mark) &&
        p.selector.Matches(pkt.src, pkt.dst, pkt.proto)) {
      return &p;
    }
  }
  return nullptr;
}

std::string Describe(const XfrmPolicy* p) {
  if (p == nullptr) return "none";
  return absl::StrCat(XfrmDirName(p->dir), " ", p->selector.src.ToString(),
                      " -> ", p->selector.dst.ToString(), " proto ",
                      p->selector.proto, " mark ", p->mark.value, "/",
                      p->mark.mask, " prio ", p->priority);
}

TEST(XfrmPolicyIndexTest, LookupEqualsLinearFirstMatchUnderRandomChanges) {
  RandomPolicies random(20261126);
  std::map<Order, XfrmPolicy> policies;  // The reference, in lookup order.
  XfrmPolicyIndex index;
  uint64_t seq = 0;
  int hits = 0;
  for (int step = 0; step < 2000; ++step) {
    if (policies.empty() || random.Below(3) != 0) {
      XfrmPolicy p = random.Policy();
      const Order order(p.priority, ++seq);
      auto it = policies.emplace(order, std::move(p)).first;
      index.Insert(order, &it->second);
    } else {
      auto it = policies.begin();
      std::advance(it, random.Below(policies.size()));
      index.Remove(it->first, it->second);
      policies.erase(it);
    }
    ASSERT_EQ(index.size(), policies.size());
    if (step % 40 != 0) continue;
    for (int i = 0; i < 100; ++i) {
      const RandomPolicies::Packet pkt = random.NextPacket();
      const XfrmPolicy* want = FirstMatch(policies, pkt);
      const XfrmPolicy* got =
          index.Lookup(pkt.dir, pkt.src, pkt.dst, pkt.proto, pkt.mark);
      ASSERT_EQ(got, want) << "step " << step << ": " << pkt.src.ToString()
                           << " -> " << pkt.dst.ToString() << " want "
                           << Describe(want) << ", got " << Describe(got);
      if (want != nullptr) ++hits;
    }
  }
  // The pools are small enough that lookups do find policies.
  EXPECT_GT(hits, 500);
}

TEST(XfrmPolicyIndexTest, RemovingTheLastPolicyOfAShapeDropsItsBin) {
  XfrmPolicyIndex index;
  const XfrmPolicy a =
      Policy(XfrmDir::kOut, "0.0.0.0/0", "10.244.1.0/24", {0xe0, 0xff}, 100);
  const XfrmPolicy b =
      Policy(XfrmDir::kOut, "0.0.0.0/0", "10.244.2.0/24", {0xe0, 0xff}, 100);
  const XfrmPolicy block =
      Policy(XfrmDir::kOut, "0.0.0.0/0", "0.0.0.0/0", {0xe0, 0xff}, 1000);
  index.Insert(Order(100, 1), &a);
  index.Insert(Order(100, 2), &b);
  index.Insert(Order(1000, 3), &block);
  EXPECT_EQ(index.bin_count(XfrmDir::kOut), 2u);
  EXPECT_EQ(index.bin_count(XfrmDir::kIn), 0u);
  index.Remove(Order(100, 1), a);
  EXPECT_EQ(index.bin_count(XfrmDir::kOut), 2u);
  EXPECT_EQ(
      index.Lookup(XfrmDir::kOut, Ip("10.244.0.5"), Ip("10.244.1.5"), 6, 0xe0),
      &block);
  index.Remove(Order(100, 2), b);
  EXPECT_EQ(index.bin_count(XfrmDir::kOut), 1u);
  EXPECT_EQ(index.size(), 1u);
  // Removing what is not there changes nothing.
  index.Remove(Order(100, 2), b);
  EXPECT_EQ(index.size(), 1u);
  index.Clear();
  EXPECT_EQ(
      index.Lookup(XfrmDir::kOut, Ip("10.244.0.5"), Ip("10.244.1.5"), 6, 0xe0),
      nullptr);
}

TEST(XfrmPolicyIndexTest, AnyPrefixMatchesOnlyItsOwnFamily) {
  XfrmPolicyIndex index;
  const XfrmPolicy v4 =
      Policy(XfrmDir::kOut, "0.0.0.0/0", "0.0.0.0/0", {0xe0, 0xff});
  index.Insert(Order(0, 1), &v4);
  EXPECT_EQ(
      index.Lookup(XfrmDir::kOut, Ip("10.0.0.1"), Ip("10.0.0.2"), 6, 0xe0),
      &v4);
  EXPECT_EQ(index.Lookup(XfrmDir::kOut, Ip("fd00::1"), Ip("fd00::2"), 6, 0xe0),
            nullptr);
  const XfrmPolicy v6 = Policy(XfrmDir::kOut, "::/0", "::/0", {0xe0, 0xff});
  index.Insert(Order(0, 2), &v6);
  EXPECT_EQ(index.Lookup(XfrmDir::kOut, Ip("fd00::1"), Ip("fd00::2"), 6, 0xe0),
            &v6);
}

// The same cross-check through SimXfrm's netlink-like API: Add, Update
// (which keeps a policy's place among equal priorities unless its priority
// changes) and Delete, against a model of Linux's ordering and a linear scan.
TEST(SimXfrmPolicyLookupTest, EqualsLinearFirstMatchUnderRandomNetlinkChanges) {
  RandomPolicies random(7);
  SimXfrm x;
  using IdKey = std::tuple<int, IpPrefix, IpPrefix, int, uint32_t, uint32_t>;
  auto key = [](const XfrmPolicy& p) {
    return IdKey(static_cast<int>(p.dir), p.selector.src, p.selector.dst,
                 p.selector.proto, p.mark.value, p.mark.mask);
  };
  std::map<IdKey, Order> orders;
  std::map<Order, XfrmPolicy> model;
  uint64_t seq = 0;
  std::vector<XfrmPolicy> seen;  // Identities to update or delete again.
  int hits = 0;
  for (int step = 0; step < 3000; ++step) {
    const int op = random.Below(4);
    XfrmPolicy p = (seen.empty() || random.Below(2) == 0)
                       ? random.Policy()
                       : seen[random.Below(seen.size())];
    if (op != 3) p.priority = random.Priority();
    auto known = orders.find(key(p));
    if (op == 0) {  // Add.
      const absl::Status s = x.AddPolicy(p);
      if (known != orders.end()) {
        ASSERT_TRUE(absl::IsAlreadyExists(s)) << s;
        continue;
      }
      ASSERT_TRUE(s.ok()) << s;
      const Order order(p.priority, ++seq);
      orders[key(p)] = order;
      model[order] = p;
    } else if (op != 3) {  // Update.
      ASSERT_TRUE(x.UpdatePolicy(p).ok());
      Order order(p.priority, ++seq);
      if (known != orders.end()) {
        if (known->second.first == p.priority) order = known->second;
        model.erase(known->second);
      }
      orders[key(p)] = order;
      model[order] = p;
    } else {  // Delete.
      const absl::Status s = x.DeletePolicy(p.id());
      if (known == orders.end()) {
        ASSERT_TRUE(absl::IsNotFound(s)) << s;
        continue;
      }
      ASSERT_TRUE(s.ok()) << s;
      model.erase(known->second);
      orders.erase(known);
    }
    seen.push_back(p);
    ASSERT_EQ(x.policy_count(), model.size());
    if (step % 25 != 0) continue;
    for (int i = 0; i < 100; ++i) {
      const RandomPolicies::Packet pkt = random.NextPacket();
      const XfrmPolicy* want = FirstMatch(model, pkt);
      const std::optional<XfrmPolicy> got =
          x.LookupPolicy(pkt.dir, pkt.src, pkt.dst, pkt.proto, pkt.mark);
      ASSERT_EQ(got.has_value(), want != nullptr)
          << "step " << step << " want " << Describe(want);
      if (want == nullptr) continue;
      ++hits;
      EXPECT_EQ(Describe(&*got), Describe(want)) << "step " << step;
      EXPECT_EQ(got->action, want->action);
    }
  }
  EXPECT_GT(hits, 500);
}

}  // namespace
}  // namespace sim
}  // namespace kmesh
