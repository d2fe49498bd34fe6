#include "sim/kernel/xfrm/xfrm_policy_index.h"

#include <cstdint>
#include <iterator>
#include <map>
#include <utility>

#include "gtest/gtest.h"
#include "kmesh/base/ip_address.h"
#include "kmesh/kernel/testing/xfrm_objects.h"
#include "kmesh/kernel/xfrm.h"
#include "sim/kernel/testing/random_xfrm.h"

namespace kmesh {
namespace sim {
namespace {

using Order = XfrmPolicyIndex::Order;
using ::kmesh::testing::Ip;
using ::kmesh::testing::Policy;

TEST(XfrmPolicyIndexTest, LookupEqualsLinearFirstMatchUnderRandomChanges) {
  testing::RandomPolicies random(20261126);
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
      const testing::RandomPolicies::Packet pkt = random.NextPacket();
      const XfrmPolicy* want = testing::FirstMatch(policies, pkt);
      const XfrmPolicy* got =
          index.Lookup(pkt.dir, pkt.src, pkt.dst, pkt.proto, pkt.mark);
      ASSERT_EQ(got, want) << "step " << step << ": " << pkt.src.ToString()
                           << " -> " << pkt.dst.ToString() << " want "
                           << testing::Describe(want) << ", got "
                           << testing::Describe(got);
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
  index.Remove(Order(1000, 3), block);
  EXPECT_EQ(index.bin_count(XfrmDir::kOut), 0u);
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

}  // namespace
}  // namespace sim
}  // namespace kmesh
