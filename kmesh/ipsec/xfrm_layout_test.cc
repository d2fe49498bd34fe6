#include "kmesh/ipsec/xfrm_layout.h"

#include <set>
#include <tuple>

#include "gtest/gtest.h"
#include "kmesh/base/testing/ip_literals.h"
#include "kmesh/ipsec/key_deriver.h"
#include "kmesh/ipsec/testing/peer_layout.h"
#include "kmesh/ipsec/testing/test_nodes.h"
#include "kmesh/ipsec/testing/test_psk.h"
#include "kmesh/ipsec/testing/xfrm_objects.h"

namespace kmesh::ipsec {
namespace {

const std::string kBootA = TestBootId(1);
const std::string kBootB = TestBootId(2);

using ::kmesh::testing::Cidr;
using ::kmesh::testing::Ip;

std::vector<XfrmSa> Inbound(const XfrmObjects& o) { return InboundSas(o.sas); }
std::vector<XfrmSa> Outbound(const XfrmObjects& o) {
  return OutboundSas(o.sas);
}
std::vector<XfrmPolicy> Policies(const XfrmObjects& o, XfrmDir dir) {
  return PoliciesIn(o.policies, dir);
}

class XfrmLayoutTest : public ::testing::Test {
 protected:
  void SetUp() override {
    keys_.Install(1, TestPsk(1));
    keys_.Install(2, TestPsk(2));
    keys_.SetCurrent(2);
  }
  PeerLayoutInput Input(const NodeView& self, const NodeView& peer,
                        uint16_t index, std::vector<int32_t> inbound,
                        int32_t outbound) {
    return LayoutInput(self, peer, index, keys_, std::move(inbound), outbound);
  }
  KeyRing keys_;
  NodeView a_ = MakeNodeView("node-a", {"10.0.0.1"}, kBootA, {"10.244.0.0/24"});
  NodeView b_ = MakeNodeView("node-b", {"10.0.0.2"}, kBootB, {"10.244.1.0/24"});
};

TEST_F(XfrmLayoutTest, InboundSaPerKeptSpiCarriesPeerIndexMarkAndDerivedKey) {
  auto layout = LayoutPeer(Input(a_, b_, 7, {1, 2}, 0));
  ASSERT_TRUE(layout.ok()) << layout.status();
  std::vector<XfrmSa> inbound = Inbound(layout->objects);
  ASSERT_EQ(inbound.size(), 2u);
  for (const XfrmSa& sa : inbound) {
    EXPECT_EQ(sa.src, Ip("10.0.0.2"));
    EXPECT_EQ(sa.dst, Ip("10.0.0.1"));
    EXPECT_EQ(sa.mark.value, (7u << 16) | 0xd0);
    EXPECT_EQ(sa.mark.mask, 0xffff00ffu);
    EXPECT_EQ(sa.output_mark, kInboundOutputMark);
    EXPECT_TRUE(kDecryptedMark.Matches(0xd0));
    EXPECT_EQ(sa.reqid, kKmeshReqid);
    EXPECT_EQ(sa.replay_window, 1024u);
    EXPECT_TRUE(sa.esn);
    EXPECT_EQ(sa.aead_name, "rfc4106(gcm(aes))");
    EXPECT_EQ(sa.icv_bits, 128u);
    XfrmKey expected = *DerivePairKey(*keys_.Find(sa.spi), "10.0.0.2",
                                      "10.0.0.1", kBootB, kBootA);
    EXPECT_TRUE(sa.aead_key == expected) << "SPI " << sa.spi;
    EXPECT_TRUE(IsOwnedSa(sa));
    EXPECT_EQ(PeerIndexFromInboundMark(sa.mark), 7);
  }
  EXPECT_TRUE(Outbound(layout->objects).empty());
  EXPECT_TRUE(Policies(layout->objects, XfrmDir::kOut).empty())
      << "no outbound SA, no out policy: the block policy catches traffic";
}

TEST_F(XfrmLayoutTest, OutboundSaAndOutPolicyUseThePeersSpi) {
  auto layout = LayoutPeer(Input(a_, b_, 7, {2}, 1));
  ASSERT_TRUE(layout.ok()) << layout.status();
  std::vector<XfrmSa> outbound = Outbound(layout->objects);
  ASSERT_EQ(outbound.size(), 1u);
  const XfrmSa& sa = outbound[0];
  EXPECT_EQ(sa.src, Ip("10.0.0.1"));
  EXPECT_EQ(sa.dst, Ip("10.0.0.2"));
  EXPECT_EQ(sa.spi, 1u);
  EXPECT_EQ(sa.mark, kEncryptMark);
  EXPECT_TRUE(sa.aead_key == *DerivePairKey(TestPsk(1), "10.0.0.1", "10.0.0.2",
                                            kBootA, kBootB));
  std::vector<XfrmPolicy> out = Policies(layout->objects, XfrmDir::kOut);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].selector.src, Cidr("0.0.0.0/0"));
  EXPECT_EQ(out[0].selector.dst, Cidr("10.244.1.0/24"));
  EXPECT_EQ(out[0].mark, kEncryptMark);
  EXPECT_EQ(out[0].priority, kPolicyPriority);
  ASSERT_EQ(out[0].templates.size(), 1u);
  EXPECT_EQ(out[0].templates[0].src, Ip("10.0.0.1"));
  EXPECT_EQ(out[0].templates[0].dst, Ip("10.0.0.2"));
  EXPECT_EQ(out[0].templates[0].spi, 1u);
  EXPECT_EQ(out[0].templates[0].reqid, kKmeshReqid);
  EXPECT_TRUE(IsOwnedPolicy(out[0]));
}

TEST_F(XfrmLayoutTest, RetiringOutboundSaStaysWithoutAPolicy) {
  PeerLayoutInput input = Input(a_, b_, 7, {1, 2}, 2);
  input.retiring_outbound_spis = {1, 2};  // 2 is the current one: once.
  auto layout = LayoutPeer(input);
  ASSERT_TRUE(layout.ok()) << layout.status();
  std::vector<XfrmSa> outbound = Outbound(layout->objects);
  ASSERT_EQ(outbound.size(), 2u);
  std::set<uint32_t> spis;
  for (const XfrmSa& sa : outbound) {
    spis.insert(sa.spi);
    EXPECT_EQ(sa.mark, kEncryptMark);
    EXPECT_TRUE(sa.aead_key == *DerivePairKey(*keys_.Find(sa.spi), "10.0.0.1",
                                              "10.0.0.2", kBootA, kBootB));
  }
  EXPECT_EQ(spis, (std::set<uint32_t>{1, 2}));
  std::vector<XfrmPolicy> out = Policies(layout->objects, XfrmDir::kOut);
  ASSERT_EQ(out.size(), 1u) << "only the current SA has an out policy";
  EXPECT_EQ(out[0].templates[0].spi, 2u);

  // A retiring SPI whose key is gone (and no adopted SA has it) is left out.
  input.retiring_outbound_spis = {3};
  layout = LayoutPeer(input);
  ASSERT_TRUE(layout.ok()) << layout.status();
  EXPECT_EQ(Outbound(layout->objects).size(), 1u);
}

TEST_F(XfrmLayoutTest, SenderOutboundKeyEqualsReceiverInboundKey) {
  auto on_a = LayoutPeer(Input(a_, b_, 3, {1}, 1));
  auto on_b = LayoutPeer(Input(b_, a_, 9, {1}, 1));
  ASSERT_TRUE(on_a.ok() && on_b.ok());
  const XfrmSa out_a = Outbound(on_a->objects).at(0);
  const XfrmSa in_b = Inbound(on_b->objects).at(0);
  EXPECT_EQ(out_a.src, in_b.src);
  EXPECT_EQ(out_a.dst, in_b.dst);
  EXPECT_EQ(out_a.spi, in_b.spi);
  EXPECT_TRUE(out_a.aead_key == in_b.aead_key);
  // The two directions use different keys.
  EXPECT_FALSE(out_a.aead_key == Inbound(on_a->objects).at(0).aead_key);
}

TEST_F(XfrmLayoutTest, InAndFwdPoliciesArePerPeerSoPeersDoNotOverwrite) {
  NodeView c =
      MakeNodeView("node-c", {"10.0.0.3"}, TestBootId(3), {"10.244.2.0/24"});
  auto for_b = LayoutPeer(Input(a_, b_, 1, {1}, 1));
  auto for_c = LayoutPeer(Input(a_, c, 2, {1}, 1));
  ASSERT_TRUE(for_b.ok() && for_c.ok());
  using Id = std::tuple<int, std::string, std::string, uint32_t>;
  std::set<Id> ids;
  for (const auto* layout : {&*for_b, &*for_c}) {
    for (const XfrmPolicy& p : layout->objects.policies) {
      EXPECT_TRUE(
          ids.insert({static_cast<int>(p.dir), p.selector.src.ToString(),
                      p.selector.dst.ToString(), p.mark.value})
              .second)
          << DescribePolicy(p);
    }
    for (XfrmDir dir : {XfrmDir::kIn, XfrmDir::kFwd}) {
      auto policies = Policies(layout->objects, dir);
      ASSERT_EQ(policies.size(), 1u);
      EXPECT_EQ(policies[0].selector.dst, Cidr("10.244.0.0/24"));
      EXPECT_EQ(policies[0].mark, kDecryptedMark);
      EXPECT_EQ(policies[0].templates.at(0).spi, 0u) << "any SPI";
      EXPECT_EQ(policies[0].templates.at(0).dst, Ip("10.0.0.1"));
    }
  }
  // And the inbound SAs differ by mark although (dst, SPI) are equal.
  EXPECT_NE(Inbound(for_b->objects).at(0).mark,
            Inbound(for_c->objects).at(0).mark);
}

TEST_F(XfrmLayoutTest, DualStackUsesFirstAddressOfEachFamily) {
  NodeView a = MakeNodeView("node-a", {"10.0.0.1", "fd00::1", "10.9.9.1"},
                            kBootA, {"10.244.0.0/24", "fd00:244::/64"});
  NodeView b = MakeNodeView("node-b", {"fd00::2", "10.0.0.2", "fd00::22"},
                            kBootB, {"10.244.1.0/24", "fd00:244:1::/64"});
  auto pairs = ChooseAddressPairs(a, b);
  ASSERT_TRUE(pairs.ok());
  ASSERT_EQ(pairs->size(), 2u);
  EXPECT_EQ((*pairs)[0].local_text, "10.0.0.1");
  EXPECT_EQ((*pairs)[0].peer_text, "10.0.0.2");
  EXPECT_EQ((*pairs)[1].local_text, "fd00::1");
  EXPECT_EQ((*pairs)[1].peer_text, "fd00::2");

  auto layout = LayoutPeer(Input(a, b, 5, {1}, 1));
  ASSERT_TRUE(layout.ok()) << layout.status();
  EXPECT_EQ(Inbound(layout->objects).size(), 2u);
  EXPECT_EQ(Outbound(layout->objects).size(), 2u);
  EXPECT_EQ(Policies(layout->objects, XfrmDir::kOut).size(), 2u);
  EXPECT_EQ(Policies(layout->objects, XfrmDir::kIn).size(), 2u);
  for (const XfrmSa& sa : layout->objects.sas) {
    EXPECT_EQ(sa.src.family(), sa.dst.family());
    EXPECT_EQ(sa.selector.src.family(), sa.src.family());
  }
  for (const XfrmPolicy& p : layout->objects.policies) {
    EXPECT_EQ(p.selector.src.family(), p.selector.dst.family());
    EXPECT_EQ(p.templates.at(0).src.family(), p.selector.dst.family());
  }
}

TEST_F(XfrmLayoutTest, PodCidrWithoutSameFamilyAddressesIsAWarning) {
  NodeView b = MakeNodeView("node-b", {"10.0.0.2"}, kBootB,
                            {"10.244.1.0/24", "fd00:244:1::/64"});
  auto layout = LayoutPeer(Input(a_, b, 5, {1}, 1));
  ASSERT_TRUE(layout.ok());
  ASSERT_EQ(layout->warnings.size(), 1u);
  EXPECT_NE(layout->warnings[0].find("fd00:244:1::/64"), std::string::npos);
  EXPECT_EQ(Policies(layout->objects, XfrmDir::kOut).size(), 1u);
}

TEST_F(XfrmLayoutTest, ShortBootIdIsAnErrorNamingThePeer) {
  NodeView b = b_;
  b.boot_id = "short";
  auto layout = LayoutPeer(Input(a_, b, 5, {1}, 1));
  EXPECT_EQ(layout.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(layout.status().message().find("node-b"), std::string::npos);
  EXPECT_NE(layout.status().message().find("boot ID"), std::string::npos);
}

TEST_F(XfrmLayoutTest, PeerWithoutAddressesOrSharedFamilyIsAnError) {
  NodeView none = b_;
  none.addresses.clear();
  auto no_addresses = LayoutPeer(Input(a_, none, 5, {1}, 1));
  EXPECT_EQ(no_addresses.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(no_addresses.status().message().find("node-b"), std::string::npos);

  NodeView v6 =
      MakeNodeView("node-b", {"fd00::2"}, kBootB, {"fd00:244:1::/64"});
  auto no_family = LayoutPeer(Input(a_, v6, 5, {1}, 1));
  EXPECT_EQ(no_family.status().code(), absl::StatusCode::kFailedPrecondition);

  NodeView garbage = b_;
  garbage.addresses = {"not-an-ip"};
  EXPECT_EQ(LayoutPeer(Input(a_, garbage, 5, {1}, 1)).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(XfrmLayoutTest, AdoptedSaSuppliesKeyForSpiNoLongerHeld) {
  auto with_key = LayoutPeer(Input(a_, b_, 5, {1, 2}, 1));
  ASSERT_TRUE(with_key.ok());
  std::vector<XfrmSa> adopted;
  for (const XfrmSa& sa : with_key->objects.sas) {
    if (sa.spi == 1) adopted.push_back(sa);
  }
  keys_.Remove(1);
  PeerLayoutInput in = Input(a_, b_, 5, {1, 2}, 1);
  auto without_adopted = LayoutPeer(in);
  ASSERT_TRUE(without_adopted.ok());
  EXPECT_EQ(without_adopted->objects.sas.size(), 1u) << "only SPI 2 inbound";
  EXPECT_TRUE(Policies(without_adopted->objects, XfrmDir::kOut).empty());

  in.adopted_sas = &adopted;
  auto with_adopted = LayoutPeer(in);
  ASSERT_TRUE(with_adopted.ok());
  ASSERT_EQ(with_adopted->objects.sas.size(), with_key->objects.sas.size());
  for (size_t i = 0; i < with_key->objects.sas.size(); ++i) {
    EXPECT_TRUE(SameSa(with_key->objects.sas[i], with_adopted->objects.sas[i]));
  }
}

TEST_F(XfrmLayoutTest, CatchAllBlocksMarkedTrafficUnderTheSpecificPolicies) {
  XfrmObjects catch_all = LayoutCatchAll();
  ASSERT_EQ(catch_all.policies.size(), 2u);
  std::set<IpFamily> families;
  for (const XfrmPolicy& p : catch_all.policies) {
    EXPECT_EQ(p.action, XfrmAction::kBlock);
    EXPECT_EQ(p.dir, XfrmDir::kOut);
    EXPECT_EQ(p.mark, kEncryptMark);
    EXPECT_GT(p.priority, kPolicyPriority);
    EXPECT_EQ(p.selector.src.length(), 0);
    EXPECT_EQ(p.selector.dst.length(), 0);
    EXPECT_TRUE(IsOwnedPolicy(p));
    EXPECT_TRUE(IsBlockPolicy(p));
    families.insert(p.selector.dst.family());
  }
  EXPECT_EQ(families.size(), 2u);
}

TEST_F(XfrmLayoutTest, ForeignObjectsAreNotOwned) {
  XfrmSa foreign;
  foreign.src = Ip("192.168.1.1");
  foreign.dst = Ip("192.168.1.2");
  foreign.spi = 1;
  foreign.reqid = 1;
  EXPECT_FALSE(IsOwnedSa(foreign));
  foreign.mark = kEncryptMark;  // Right mark, wrong reqid.
  EXPECT_FALSE(IsOwnedSa(foreign));
  foreign.reqid = kKmeshReqid;
  foreign.mark = XfrmMark{0x12, 0xff};  // Right reqid, wrong mark.
  EXPECT_FALSE(IsOwnedSa(foreign));

  XfrmPolicy policy;
  policy.dir = XfrmDir::kIn;
  policy.mark = kDecryptedMark;
  XfrmTemplate t;
  t.reqid = 1;
  policy.templates.push_back(t);
  EXPECT_FALSE(IsOwnedPolicy(policy));
  policy.action = XfrmAction::kBlock;
  policy.templates.clear();
  EXPECT_FALSE(IsOwnedPolicy(policy)) << "an in-direction block is not ours";
}

TEST_F(XfrmLayoutTest, DescriptionsNeverContainKeyBytes) {
  auto layout = LayoutPeer(Input(a_, b_, 5, {1}, 1));
  ASSERT_TRUE(layout.ok());
  for (const XfrmSa& sa : layout->objects.sas) {
    std::string text = DescribeSa(sa);
    EXPECT_NE(text.find("spi 0x00000001"), std::string::npos) << text;
    EXPECT_EQ(text.find("aead"), std::string::npos) << text;
  }
}

}  // namespace
}  // namespace kmesh::ipsec
