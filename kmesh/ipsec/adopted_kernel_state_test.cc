#include "kmesh/ipsec/adopted_kernel_state.h"

#include <set>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "kmesh/base/testing/ip_literals.h"
#include "kmesh/ipsec/xfrm_layout.h"

namespace kmesh::ipsec {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

using ::kmesh::testing::Ip;

const IpAddress kSelf = Ip("10.0.0.1");
const IpAddress kPeerB = Ip("10.0.0.2");
const IpAddress kPeerC = Ip("10.0.0.3");

// An owned SA from `from` under peer index `index` (inbound), or to `to`
// (outbound, index 0).
XfrmSa Inbound(const IpAddress& from, uint16_t index, uint32_t spi) {
  XfrmSa sa;
  sa.src = from;
  sa.dst = kSelf;
  sa.spi = spi;
  sa.reqid = kKmeshReqid;
  sa.mark = InboundSaMark(index);
  return sa;
}
XfrmSa Outbound(const IpAddress& to, uint32_t spi) {
  XfrmSa sa;
  sa.src = kSelf;
  sa.dst = to;
  sa.spi = spi;
  sa.reqid = kKmeshReqid;
  sa.mark = kEncryptMark;
  return sa;
}

std::vector<uint32_t> Spis(const std::vector<XfrmSa>* sas) {
  std::vector<uint32_t> spis;
  if (sas != nullptr) {
    for (const XfrmSa& sa : *sas) spis.push_back(sa.spi);
  }
  return spis;
}

// What a previous run left: peer b (index 3) on SPIs 1 and 2, peer c
// (index 4) on SPI 1.
class AdoptedKernelStateTest : public ::testing::Test {
 protected:
  void SetUp() override {
    found_ = adopted_.Adopt({Inbound(kPeerB, 3, 1), Inbound(kPeerB, 3, 2),
                             Outbound(kPeerB, 2), Inbound(kPeerC, 4, 1),
                             Outbound(kPeerC, 1)});
  }
  AdoptedKernelState adopted_;
  AdoptedKernelState::Found found_;
};

TEST_F(AdoptedKernelStateTest, AdoptionReportsTheIndicesAndSpisItFound) {
  EXPECT_EQ(found_.peer_indices, (std::set<uint16_t>{3, 4}));
  EXPECT_EQ(found_.spis, (std::set<int32_t>{1, 2}));
  EXPECT_EQ(adopted_.IndexFor({Ip("192.168.0.1"), kPeerC}), 4);
  EXPECT_EQ(adopted_.IndexFor({Ip("192.168.0.1")}), 0);
  EXPECT_EQ(adopted_.SasOf("node-b"), nullptr) << "not claimed yet";
  EXPECT_THAT(adopted_.InboundSpisOfPeers(), IsEmpty());
}

TEST_F(AdoptedKernelStateTest, APeerClaimsItsSasByAddressAndIndex) {
  adopted_.Claim("node-b", {kPeerB}, 3);
  EXPECT_THAT(Spis(adopted_.SasOf("node-b")), ElementsAre(1, 2, 2));
  EXPECT_THAT(adopted_.InboundSpisOf("node-b"), ElementsAre(1, 2));
  EXPECT_THAT(adopted_.OutboundSpisOf("node-b"), ElementsAre(2));
  EXPECT_EQ(adopted_.InboundSpisOfPeers(), (std::set<int32_t>{1, 2}));
  // Claimed SAs are nobody else's: the same address under another index
  // gets only the outbound SA, which is matched by address alone.
  adopted_.Claim("impostor", {kPeerB}, 9);
  EXPECT_EQ(adopted_.SasOf("impostor"), nullptr);
}

TEST_F(AdoptedKernelStateTest, InboundSasUnderAnotherIndexAreNotClaimed) {
  adopted_.Claim("node-c", {kPeerC}, 7);
  EXPECT_THAT(adopted_.InboundSpisOf("node-c"), IsEmpty());
  EXPECT_THAT(adopted_.OutboundSpisOf("node-c"), ElementsAre(1));
}

TEST_F(AdoptedKernelStateTest, SasGoWhenTheirKeyIsHeldOrTheyAreReclaimed) {
  adopted_.Claim("node-b", {kPeerB}, 3);
  adopted_.Claim("node-c", {kPeerC}, 4);
  adopted_.DropInboundSpi(1);
  EXPECT_THAT(Spis(adopted_.SasOf("node-b")), ElementsAre(2, 2));
  EXPECT_THAT(Spis(adopted_.SasOf("node-c")), ElementsAre(1)) << "outbound";
  EXPECT_EQ(adopted_.InboundSpisOfPeers(), (std::set<int32_t>{2}));
  adopted_.DropSpi(2);  // The key of SPI 2 arrived: every SA is derivable.
  EXPECT_EQ(adopted_.SasOf("node-b"), nullptr);
  EXPECT_THAT(adopted_.InboundSpisOfPeers(), IsEmpty());
  adopted_.DropOutboundExcept("node-c", 1);
  EXPECT_THAT(Spis(adopted_.SasOf("node-c")), ElementsAre(1));
  adopted_.DropOutboundExcept("node-c", 5);
  EXPECT_EQ(adopted_.SasOf("node-c"), nullptr);
}

TEST_F(AdoptedKernelStateTest, AnOutboundSaIsKeptWhenItsKeyGoes) {
  adopted_.Keep("node-d", Outbound(Ip("10.0.0.4"), 6));
  EXPECT_THAT(adopted_.OutboundSpisOf("node-d"), ElementsAre(6));
  EXPECT_THAT(adopted_.InboundSpisOfPeers(), IsEmpty());
  adopted_.ForgetPeer("node-d");
  EXPECT_EQ(adopted_.SasOf("node-d"), nullptr);
}

TEST_F(AdoptedKernelStateTest, ForgettingPeersUpdatesTheInboundSpis) {
  adopted_.Claim("node-b", {kPeerB}, 3);
  adopted_.Claim("node-c", {kPeerC}, 4);
  adopted_.ForgetPeer("node-b");
  EXPECT_EQ(adopted_.InboundSpisOfPeers(), (std::set<int32_t>{1}));
  adopted_.ForgetAllPeers();
  EXPECT_THAT(adopted_.InboundSpisOfPeers(), IsEmpty());
  EXPECT_EQ(adopted_.SasOf("node-c"), nullptr);
}

TEST_F(AdoptedKernelStateTest, UnclaimedSasAndTheirIndicesAreForgotten) {
  adopted_.ForgetUnclaimed();
  EXPECT_EQ(adopted_.IndexFor({kPeerB, kPeerC}), 0);
  adopted_.Claim("node-b", {kPeerB}, 3);
  EXPECT_EQ(adopted_.SasOf("node-b"), nullptr);
}

TEST_F(AdoptedKernelStateTest, ADepartedPeerKeepsItsMarkerEntriesUntilGone) {
  adopted_.Depart("node-b", {3, {kPeerB}});
  adopted_.Depart("node-c", {4, {kPeerC}});
  EXPECT_EQ(adopted_.departed().at("node-b").index, 3);
  EXPECT_EQ(adopted_.Return("node-x"), std::nullopt);
  EXPECT_THAT(adopted_.Return("node-b"),
              ::testing::Optional(ElementsAre(kPeerB)));
  EXPECT_EQ(adopted_.departed().count("node-b"), 0u);
  EXPECT_THAT(adopted_.ForgetDeparted("node-c"), ElementsAre(kPeerC));
  EXPECT_TRUE(adopted_.departed().empty());
  adopted_.Depart("node-c", {4, {kPeerC}});
  adopted_.ForgetAllDeparted();
  EXPECT_TRUE(adopted_.departed().empty());
}

}  // namespace
}  // namespace kmesh::ipsec
