// What Linux's input path does with a decrypted packet before it is
// delivered, as the differential comparison with the VM's kernel found it
// (e2e/vm/xfrm_differential_test.cc, InboundPacketsMatchLinux): the inner
// packet must fit its SA's selector (XfrmInStateMismatch), and a packet that
// came through a tunnel-mode SA needs a template of the in policy that fits
// that SA, optional or not (XfrmInTmplMismatch).
#include <cstdint>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "kmesh/kernel/testing/xfrm_objects.h"
#include "kmesh/kernel/xfrm.h"
#include "sim/kernel/esp_transform.h"
#include "sim/kernel/sim_kernel.h"
#include "sim/net/ip_packet.h"

namespace kmesh::sim {
namespace {

using ::kmesh::testing::Ip;
using ::kmesh::testing::Sa;

class SimKernelInboundTest : public ::testing::Test {
 protected:
  void SetUp() override {
    kernel_.AddNodeAddress(Ip("10.0.0.2"));
    kernel_.AddNodeAddress(Ip("fd00::2"));
    sa_ = Sa("10.0.0.1", "10.0.0.2", 7);
  }

  void AddSa() { ASSERT_TRUE(kernel_.xfrm().AddSa(sa_).ok()); }

  void AddInPolicy(std::vector<XfrmTemplate> templates) {
    XfrmPolicy p;
    p.dir = XfrmDir::kIn;
    p.selector.src = IpPrefix::Any(IpFamily::kV4);
    p.selector.dst = IpPrefix::Any(IpFamily::kV4);
    p.templates = std::move(templates);
    ASSERT_TRUE(kernel_.xfrm().AddPolicy(p).ok());
  }

  XfrmTemplate TemplateFor(const XfrmSa& sa, bool optional) {
    XfrmTemplate t;
    t.src = sa.src;
    t.dst = sa.dst;
    t.reqid = sa.reqid;
    t.optional = optional;
    return t;
  }

  std::vector<uint8_t> Udp(const std::string& src, const std::string& dst) {
    const std::vector<uint8_t> payload = {1, 2, 3};
    return BuildUdpPacket(Ip(src), Ip(dst), 5000, 7777, payload);
  }

  // `inner` through sa_ with sequence number `seq`.
  std::vector<uint8_t> Esp(const std::vector<uint8_t>& inner,
                           uint64_t seq = 1) {
    auto esp = EspTransform::Create(sa_);
    EXPECT_TRUE(esp.ok()) << esp.status();
    auto packet = esp->Encapsulate(seq, inner);
    EXPECT_TRUE(packet.ok()) << packet.status();
    return packet.ok() ? *packet : std::vector<uint8_t>();
  }

  SimKernel kernel_{"node", 10};
  XfrmSa sa_;
};

TEST_F(SimKernelInboundTest, AnInnerPacketOutsideItsSasSelectorIsAMismatch) {
  sa_.selector.src = *IpPrefix::Parse("10.1.0.0/16");
  sa_.selector.dst = *IpPrefix::Parse("10.0.0.0/24");
  AddSa();
  AddInPolicy({TemplateFor(sa_, false)});
  EXPECT_EQ(kernel_.ReceiveFromWire(Esp(Udp("10.1.2.3", "10.0.0.2"), 1)),
            PacketFate::kDelivered);
  EXPECT_EQ(kernel_.ReceiveFromWire(Esp(Udp("10.2.2.3", "10.0.0.2"), 2)),
            PacketFate::kXfrmInStateMismatch);
  EXPECT_EQ(kernel_.xfrm().Stat(XfrmStat::kInStateMismatch), 1u);
}

TEST_F(SimKernelInboundTest, AnSaOfOneFamilyDoesNotAdmitTheOther) {
  // Any source and destination, but of IPv4 (Linux gives an SA added
  // without a selector its own family).
  AddSa();
  EXPECT_EQ(kernel_.ReceiveFromWire(Esp(Udp("fd00::9", "fd00::2"))),
            PacketFate::kXfrmInStateMismatch);
}

TEST_F(SimKernelInboundTest, ASlashZeroSelectorOfTheOtherFamilyIsTheSasOwn) {
  // Both /0 and no protocol is "unset", whatever the family written: the
  // codec does not send it and Linux gives the SA its own family.
  sa_.selector.src = IpPrefix::Any(IpFamily::kV6);
  sa_.selector.dst = IpPrefix::Any(IpFamily::kV6);
  AddSa();
  AddInPolicy({TemplateFor(sa_, false)});
  EXPECT_EQ(kernel_.ReceiveFromWire(Esp(Udp("fd00::9", "fd00::2"), 1)),
            PacketFate::kXfrmInStateMismatch);
  EXPECT_EQ(kernel_.ReceiveFromWire(Esp(Udp("10.1.2.3", "10.0.0.2"), 2)),
            PacketFate::kDelivered);
}

// A fresh ESN SA given a number just below 2^32: Linux takes its high half
// as 0xffffffff (the window reaches below 0), so the number passes the
// window and the ICV fails.
TEST_F(SimKernelInboundTest, AnEsnNumberBelowZeroFailsItsIcvNotTheWindow) {
  sa_.replay_window = 64;
  sa_.esn = true;
  AddSa();
  EXPECT_EQ(
      kernel_.ReceiveFromWire(Esp(Udp("10.1.2.3", "10.0.0.2"), 0xfffffffcull)),
      PacketFate::kXfrmInStateProtoError);
  EXPECT_EQ(kernel_.xfrm().Stat(XfrmStat::kInStateSeqError), 0u);
}

TEST_F(SimKernelInboundTest, AnAllowPolicyWithoutTemplatesRejectsATunnel) {
  AddSa();
  AddInPolicy({});
  EXPECT_EQ(kernel_.ReceiveFromWire(Esp(Udp("10.1.2.3", "10.0.0.2"))),
            PacketFate::kXfrmInTmplMismatch);
  // In clear, the same policy lets it in.
  EXPECT_EQ(kernel_.ReceiveFromWire(Udp("10.1.2.3", "10.0.0.2")),
            PacketFate::kDelivered);
}

TEST_F(SimKernelInboundTest, AnOptionalTemplateThatDoesNotFitRejectsATunnel) {
  AddSa();
  XfrmTemplate other = TemplateFor(sa_, true);
  other.reqid = sa_.reqid + 1;
  AddInPolicy({other});
  EXPECT_EQ(kernel_.ReceiveFromWire(Esp(Udp("10.1.2.3", "10.0.0.2"))),
            PacketFate::kXfrmInTmplMismatch);
  EXPECT_EQ(kernel_.ReceiveFromWire(Udp("10.1.2.3", "10.0.0.2")),
            PacketFate::kDelivered);
}

TEST_F(SimKernelInboundTest, AnOptionalTemplateThatFitsAcceptsATunnel) {
  AddSa();
  AddInPolicy({TemplateFor(sa_, true)});
  EXPECT_EQ(kernel_.ReceiveFromWire(Esp(Udp("10.1.2.3", "10.0.0.2"))),
            PacketFate::kDelivered);
}

TEST_F(SimKernelInboundTest, ARequiredTemplateRejectsClearText) {
  AddSa();
  AddInPolicy({TemplateFor(sa_, false)});
  EXPECT_EQ(kernel_.ReceiveFromWire(Udp("10.1.2.3", "10.0.0.2")),
            PacketFate::kXfrmInTmplMismatch);
}

// Congestion Experienced on the outer header reaches an ECN-capable inner
// packet, and only its ECN bits change (found against Linux).
TEST_F(SimKernelInboundTest,
       OuterCongestionExperiencedReachesAnEcnCapableInner) {
  AddSa();
  AddInPolicy({TemplateFor(sa_, false)});
  std::vector<uint8_t> received;
  kernel_.SetCaptureSink([&received](const CapturedPacket& captured) {
    if (captured.direction == PacketDirection::kIn) received = captured.packet;
  });
  auto deliver = [&](uint8_t outer_tos, uint8_t inner_tos, uint64_t seq) {
    std::vector<uint8_t> inner = Udp("10.1.2.3", "10.0.0.2");
    SetTrafficClass(inner, inner_tos);
    std::vector<uint8_t> esp = Esp(inner, seq);
    SetTrafficClass(esp, outer_tos);
    EXPECT_EQ(kernel_.ReceiveFromWire(esp), PacketFate::kDelivered);
    auto ip = ParseIpHeader(received);
    return ip.ok() ? ip->tos : uint8_t{0xff};
  };
  EXPECT_EQ(deliver(0x03, 0xba, 1), 0xbb);  // ECT(0) becomes CE.
  EXPECT_EQ(deliver(0x03, 0x01, 2), 0x03);  // ECT(1) too.
  EXPECT_EQ(deliver(0x03, 0xb8, 3), 0xb8);  // Not-ECT is left alone.
  EXPECT_EQ(deliver(0xbb, 0x02, 4), 0x03);  // The outer DSCP is not copied.
  EXPECT_EQ(deliver(0x02, 0x01, 5), 0x01);  // No CE, no change.
}

TEST(InboundTemplatesAcceptTest, TemplatesAreMatchedLastToFirst) {
  XfrmSa outer = Sa("10.0.0.1", "10.0.0.2", 1);
  XfrmSa inner = Sa("10.0.1.1", "10.0.1.2", 2);
  auto tmpl = [](const XfrmSa& sa) {
    XfrmTemplate t;
    t.src = sa.src;
    t.dst = sa.dst;
    return t;
  };
  // Linux walks the templates from the last, consuming the path from its
  // first SA: the last template must fit the outermost SA.
  EXPECT_TRUE(
      InboundTemplatesAccept({tmpl(inner), tmpl(outer)}, {outer, inner}));
  EXPECT_FALSE(
      InboundTemplatesAccept({tmpl(outer), tmpl(inner)}, {outer, inner}));
  // A tunnel-mode SA left over is a mismatch.
  EXPECT_FALSE(InboundTemplatesAccept({tmpl(outer)}, {outer, inner}));
  EXPECT_TRUE(InboundTemplatesAccept({}, {}));
}

}  // namespace
}  // namespace kmesh::sim
