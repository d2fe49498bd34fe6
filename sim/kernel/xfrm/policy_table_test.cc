#include "sim/kernel/xfrm/policy_table.h"

#include <cerrno>
#include <cstdint>
#include <iterator>
#include <map>
#include <tuple>
#include <vector>

#include "absl/status/status.h"
#include "gtest/gtest.h"
#include "kmesh/base/ip_address.h"
#include "kmesh/kernel/testing/xfrm_objects.h"
#include "kmesh/kernel/xfrm.h"
#include "sim/kernel/testing/kernel_error_assertions.h"
#include "sim/kernel/testing/random_xfrm.h"

namespace kmesh::sim {
namespace {

using ::kmesh::testing::Ip;
using ::kmesh::testing::kDecrypted;
using ::kmesh::testing::Policy;
using ::kmesh::testing::Tmpl;

constexpr XfrmMark kEncrypt{0xe0, 0xffffffff};

// An in policy for the pods 10.244.0.0/24 that accepts what `peer`
// decrypted, at `priority`.
XfrmPolicy InFrom(const std::string& peer, uint32_t priority) {
  return Policy(XfrmDir::kIn, "0.0.0.0/0", "10.244.0.0/24", kDecrypted,
                priority, {Tmpl(peer, "10.0.0.1")});
}

// The destination of the template of the policy a packet from 10.1.1.1 to
// `dst` with the encrypt mark hits.
std::string OutTunnelTo(const PolicyTable& t, const std::string& dst) {
  const XfrmPolicy* p =
      t.Lookup(XfrmDir::kOut, Ip("10.1.1.1"), Ip(dst), 6, 0xe0);
  return p == nullptr ? "none" : p->templates[0].dst.ToString();
}

TEST(PolicyTableTest, IdentityIgnoresPriority) {
  PolicyTable t;
  ASSERT_TRUE(t.Add(InFrom("10.0.0.2", 0)).ok());
  EXPECT_TRUE(testing::IsKernelError(t.Add(InFrom("10.0.0.3", 5)), EEXIST));
  EXPECT_EQ(t.size(), 1u);
}

TEST(PolicyTableTest, UpdateReplacesThePolicyWithTheSameIdentity) {
  PolicyTable t;
  ASSERT_TRUE(t.Add(InFrom("10.0.0.2", 0)).ok());
  t.Update(InFrom("10.0.0.3", 7));
  const std::vector<const XfrmPolicy*> listed = t.NewestFirst();
  ASSERT_EQ(listed.size(), 1u);
  EXPECT_EQ(listed[0]->priority, 7u);
  ASSERT_EQ(listed[0]->templates.size(), 1u);
  EXPECT_EQ(listed[0]->templates[0].src, Ip("10.0.0.3"));
}

TEST(PolicyTableTest, UpdateOfAbsentPolicyAddsIt) {
  PolicyTable t;
  t.Update(Policy(XfrmDir::kOut, "0.0.0.0/0", "10.244.1.0/24", kEncrypt));
  EXPECT_EQ(t.size(), 1u);
}

TEST(PolicyTableTest, MarkValueAndMaskAreComparedExactly) {
  PolicyTable t;
  for (const XfrmMark mark :
       {kDecrypted, XfrmMark{0xd0, 0xff}, ::kmesh::testing::kNoMark}) {
    EXPECT_TRUE(
        t.Add(Policy(XfrmDir::kIn, "0.0.0.0/0", "10.244.0.0/24", mark)).ok());
  }
  // Other direction, other identity.
  EXPECT_TRUE(
      t.Add(Policy(XfrmDir::kFwd, "0.0.0.0/0", "10.244.0.0/24", kDecrypted))
          .ok());
  EXPECT_EQ(t.size(), 4u);
}

TEST(PolicyTableTest, DeleteOfAbsentPolicyIsNotFound) {
  PolicyTable t;
  ASSERT_TRUE(
      t.Add(Policy(XfrmDir::kIn, "0.0.0.0/0", "10.244.0.0/24", kDecrypted))
          .ok());
  XfrmPolicyId other_mask{XfrmDir::kIn,
                          {::kmesh::testing::Cidr("0.0.0.0/0"),
                           ::kmesh::testing::Cidr("10.244.0.0/24")},
                          {0xd0, 0xfff}};
  EXPECT_TRUE(testing::IsKernelError(t.Delete(other_mask), ENOENT));
  XfrmPolicyId exact = other_mask;
  exact.mark = kDecrypted;
  EXPECT_TRUE(t.Delete(exact).ok());
  EXPECT_TRUE(testing::IsKernelError(t.Delete(exact), ENOENT));
}

TEST(PolicyTableTest, LookupPrefersLowerPriorityThenFirstInserted) {
  PolicyTable t;
  ASSERT_TRUE(t.Add(Policy(XfrmDir::kOut, "0.0.0.0/0", "10.244.0.0/16",
                           kEncrypt, 10, {Tmpl("10.0.0.1", "10.0.0.9")}))
                  .ok());
  ASSERT_TRUE(t.Add(Policy(XfrmDir::kOut, "0.0.0.0/0", "10.244.1.0/24",
                           kEncrypt, 5, {Tmpl("10.0.0.1", "10.0.0.2")}))
                  .ok());
  ASSERT_TRUE(t.Add(Policy(XfrmDir::kOut, "10.0.0.0/8", "10.244.1.0/24",
                           kEncrypt, 5, {Tmpl("10.0.0.1", "10.0.0.3")}))
                  .ok());
  EXPECT_EQ(OutTunnelTo(t, "10.244.1.7"), "10.0.0.2");  // Priority 5, first.
  EXPECT_EQ(OutTunnelTo(t, "10.244.2.7"), "10.0.0.9");
  // Replacing the first with an unchanged priority keeps its place...
  t.Update(Policy(XfrmDir::kOut, "0.0.0.0/0", "10.244.1.0/24", kEncrypt, 5,
                  {Tmpl("10.0.0.1", "10.0.0.4")}));
  EXPECT_EQ(OutTunnelTo(t, "10.244.1.7"), "10.0.0.4");
  // ...a new priority moves it behind the others of that priority.
  for (const uint32_t priority : {6, 5}) {
    t.Update(Policy(XfrmDir::kOut, "0.0.0.0/0", "10.244.1.0/24", kEncrypt,
                    priority, {Tmpl("10.0.0.1", "10.0.0.4")}));
  }
  EXPECT_EQ(OutTunnelTo(t, "10.244.1.7"), "10.0.0.3");
}

TEST(PolicyTableTest, LookupNeedsMarkDirectionAndFamily) {
  PolicyTable t;
  ASSERT_TRUE(
      t.Add(Policy(XfrmDir::kOut, "0.0.0.0/0", "10.244.1.0/24", kEncrypt))
          .ok());
  const IpAddress node = Ip("10.0.0.1");
  const IpAddress pod = Ip("10.244.1.1");
  EXPECT_NE(t.Lookup(XfrmDir::kOut, node, pod, 6, 0xe0), nullptr);
  EXPECT_EQ(t.Lookup(XfrmDir::kOut, node, pod, 6, 0), nullptr);
  EXPECT_EQ(t.Lookup(XfrmDir::kOut, node, pod, 6, 0x1e0), nullptr);
  EXPECT_EQ(t.Lookup(XfrmDir::kFwd, node, pod, 6, 0xe0), nullptr);
  EXPECT_EQ(t.Lookup(XfrmDir::kOut, Ip("fd00::1"), Ip("fd01::1"), 6, 0xe0),
            nullptr);
}

TEST(PolicyTableTest, BlockPolicyIsFoundBehindTheSpecificOnes) {
  PolicyTable t;
  XfrmPolicy catch_all =
      Policy(XfrmDir::kOut, "0.0.0.0/0", "0.0.0.0/0", kEncrypt, 100);
  catch_all.action = XfrmAction::kBlock;
  ASSERT_TRUE(t.Add(catch_all).ok());
  ASSERT_TRUE(t.Add(Policy(XfrmDir::kOut, "0.0.0.0/0", "10.244.1.0/24",
                           kEncrypt, 0, {Tmpl("10.0.0.1", "10.0.0.2")}))
                  .ok());
  const XfrmPolicy* specific =
      t.Lookup(XfrmDir::kOut, Ip("10.244.0.3"), Ip("10.244.1.3"), 17, 0xe0);
  ASSERT_NE(specific, nullptr);
  EXPECT_EQ(specific->action, XfrmAction::kAllow);
  const XfrmPolicy* blocked =
      t.Lookup(XfrmDir::kOut, Ip("10.244.0.3"), Ip("10.244.9.3"), 17, 0xe0);
  ASSERT_NE(blocked, nullptr);
  EXPECT_EQ(blocked->action, XfrmAction::kBlock);
}

TEST(PolicyTableTest, ListsNewestFirst) {
  PolicyTable t;
  ASSERT_TRUE(
      t.Add(Policy(XfrmDir::kIn, "0.0.0.0/0", "10.244.0.0/24", kDecrypted))
          .ok());
  ASSERT_TRUE(
      t.Add(Policy(XfrmDir::kFwd, "0.0.0.0/0", "10.244.0.0/24", kDecrypted))
          .ok());
  const std::vector<const XfrmPolicy*> listed = t.NewestFirst();
  ASSERT_EQ(listed.size(), 2u);
  EXPECT_EQ(listed[0]->dir, XfrmDir::kFwd);
  EXPECT_EQ(listed[1]->dir, XfrmDir::kIn);
}

// Add, Update (which keeps a policy's place among equal priorities unless its
// priority changes) and Delete in random order, against a model of Linux's
// ordering and a linear scan.
TEST(PolicyTableTest, LookupEqualsLinearFirstMatchUnderRandomChanges) {
  using Order = XfrmPolicyIndex::Order;
  testing::RandomPolicies random(7);
  PolicyTable t;
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
      const absl::Status s = t.Add(p);
      if (known != orders.end()) {
        ASSERT_TRUE(absl::IsAlreadyExists(s)) << s;
        continue;
      }
      ASSERT_TRUE(s.ok()) << s;
      const Order order(p.priority, ++seq);
      orders[key(p)] = order;
      model[order] = p;
    } else if (op != 3) {  // Update.
      t.Update(p);
      Order order(p.priority, ++seq);
      if (known != orders.end()) {
        if (known->second.first == p.priority) order = known->second;
        model.erase(known->second);
      }
      orders[key(p)] = order;
      model[order] = p;
    } else {  // Delete.
      const absl::Status s = t.Delete(p.id());
      if (known == orders.end()) {
        ASSERT_TRUE(absl::IsNotFound(s)) << s;
        continue;
      }
      ASSERT_TRUE(s.ok()) << s;
      model.erase(known->second);
      orders.erase(known);
    }
    seen.push_back(p);
    ASSERT_EQ(t.size(), model.size());
    if (step % 25 != 0) continue;
    for (int i = 0; i < 100; ++i) {
      const testing::RandomPolicies::Packet pkt = random.NextPacket();
      const XfrmPolicy* want = testing::FirstMatch(model, pkt);
      const XfrmPolicy* got =
          t.Lookup(pkt.dir, pkt.src, pkt.dst, pkt.proto, pkt.mark);
      ASSERT_EQ(got != nullptr, want != nullptr)
          << "step " << step << " want " << testing::Describe(want);
      if (want == nullptr) continue;
      ++hits;
      EXPECT_EQ(testing::Describe(got), testing::Describe(want))
          << "step " << step;
      EXPECT_EQ(got->action, want->action);
    }
  }
  EXPECT_GT(hits, 500);
}

}  // namespace
}  // namespace kmesh::sim
