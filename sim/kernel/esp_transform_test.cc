#include "sim/kernel/esp_transform.h"

#include <algorithm>
#include <set>
#include <string>

#include "gtest/gtest.h"
#include "kmesh/base/testing/ip_literals.h"
#include "kmesh/crypto/aead.h"
#include "sim/net/ip_packet.h"

namespace kmesh::sim {
namespace {

using ::kmesh::testing::Ip;

XfrmSa Sa(const char* src, const char* dst, uint8_t key_byte, bool esn) {
  XfrmSa sa;
  sa.src = Ip(src);
  sa.dst = Ip(dst);
  sa.spi = 1;
  std::vector<uint8_t> key(36, key_byte);
  sa.aead_key = XfrmKey(key.data(), key.size());
  sa.esn = esn;
  sa.replay_window = esn ? 1024 : 0;
  return sa;
}

std::vector<uint8_t> Inner(const char* src, const char* dst, size_t n) {
  std::vector<uint8_t> payload(n, 0x5a);
  return BuildUdpPacket(Ip(src), Ip(dst), 1000, 2000, payload);
}

// Tunnel endpoints and inner addresses in every combination of families.
struct Tunnel {
  const char* outer_src;
  const char* outer_dst;
  const char* in_src;
  const char* in_dst;
};
constexpr Tunnel kTunnels[] = {
    {"10.0.0.1", "10.0.0.2", "10.244.1.2", "10.244.2.3"},
    {"fd00::1", "fd00::2", "fd00:1::2", "fd00:2::3"},
    {"10.0.0.1", "10.0.0.2", "fd00:1::2", "fd00:2::3"},
    {"fd00::1", "fd00::2", "10.244.1.2", "10.244.2.3"},
};

TEST(EspTransformTest, RoundTripsBothFamiliesWithAndWithoutEsn) {
  for (bool esn : {false, true}) {
    for (const auto& [outer_src, outer_dst, in_src, in_dst] : kTunnels) {
      auto t = EspTransform::Create(Sa(outer_src, outer_dst, 7, esn));
      ASSERT_TRUE(t.ok()) << t.status();
      const auto inner = Inner(in_src, in_dst, 33);
      const uint64_t seq = esn ? (uint64_t{5} << 32) | 9 : 9;
      auto outer = t->Encapsulate(seq, inner);
      ASSERT_TRUE(outer.ok()) << outer.status();
      auto header = ParseEspHeader(*outer);
      ASSERT_TRUE(header.ok()) << header.status();
      EXPECT_EQ(header->spi, 1u);
      EXPECT_EQ(header->seq_low, 9u);
      EXPECT_EQ(header->outer_src, Ip(outer_src));
      auto back = t->Decapsulate(seq, *outer);
      ASSERT_TRUE(back.ok()) << back.status();
      EXPECT_EQ(*back, inner);
      if (esn) {
        // The high bits are authenticated although they are not sent.
        auto wrong_high = t->Decapsulate(9, *outer);
        EXPECT_TRUE(absl::IsDataLoss(wrong_high.status()))
            << wrong_high.status();
      }
    }
  }
}

// The transmit path encapsulates in the packet's buffer: the same bytes as
// Encapsulate, in the same allocation when its capacity has room, and a
// round trip through both in-place calls gives the inner packet back.
// Differential finding 12: the outer header's TOS, flow label and DF come
// from the inner packet as Linux's tunnel mode writes them.
TEST(EspTransformTest, TheOuterHeaderTakesDscpEcnFlowLabelAndDfFromTheInner) {
  auto v4 = EspTransform::Create(Sa("10.0.0.1", "10.0.0.2", 7, false));
  auto v6 = EspTransform::Create(Sa("fd00::1", "fd00::2", 7, false));
  ASSERT_TRUE(v4.ok() && v6.ok());
  // (inner TOS, outer TOS): DSCP copied; Not-ECT, ECT(1), ECT(0) copied;
  // CE goes out as ECT(0).
  const std::pair<uint8_t, uint8_t> kTos[] = {
      {0x00, 0x00}, {0xb9, 0xb9}, {0xba, 0xba}, {0xbb, 0xba}, {0x03, 0x02}};
  for (const auto& [inner_tos, outer_tos] : kTos) {
    auto inner = Inner("10.244.1.2", "10.244.2.3", 33);
    SetTrafficClass(inner, inner_tos);
    SetDontFragment(inner, true);
    auto outer = v4->Encapsulate(1, inner);
    ASSERT_TRUE(outer.ok());
    auto ip = ParseIpHeader(*outer);  // The checksum is checked too.
    ASSERT_TRUE(ip.ok()) << ip.status();
    EXPECT_EQ(ip->tos, outer_tos) << int{inner_tos};
    EXPECT_TRUE(ip->dont_fragment);
    EXPECT_EQ(ip->ttl, 64);
    SetDontFragment(inner, false);
    outer = v4->Encapsulate(2, inner);
    ASSERT_TRUE(outer.ok());
    EXPECT_FALSE(ParseIpHeader(*outer)->dont_fragment);

    auto inner6 = Inner("fd00:1::2", "fd00:2::3", 33);
    SetTrafficClass(inner6, inner_tos);
    inner6[1] = static_cast<uint8_t>((inner6[1] & 0xf0) | 0x1);
    inner6[2] = 0x23;
    inner6[3] = 0x45;
    auto outer6 = v6->Encapsulate(1, inner6);
    ASSERT_TRUE(outer6.ok());
    EXPECT_EQ(ParseIpHeader(*outer6)->tos, outer_tos);
    // The flow label, 0x12345, is the inner packet's.
    EXPECT_EQ((*outer6)[1] & 0x0f, 0x1);
    EXPECT_EQ((*outer6)[2], 0x23);
    EXPECT_EQ((*outer6)[3], 0x45);
  }
  // An IPv4 inner packet in an IPv6 tunnel: no flow label.
  auto outer6 = v6->Encapsulate(3, Inner("10.244.1.2", "10.244.2.3", 33));
  ASSERT_TRUE(outer6.ok());
  EXPECT_EQ(((*outer6)[1] & 0x0f) | (*outer6)[2] | (*outer6)[3], 0);
  // An IPv6 inner packet in an IPv4 tunnel: DF, small or not (finding 17:
  // what Debian's 6.1 does, whatever a 2022 patch meant for packets of at
  // most 1,280 bytes).
  for (size_t size : {100, 1280, 1281}) {
    auto outer = v4->Encapsulate(4, Inner("fd00:1::2", "fd00:2::3", size - 48));
    ASSERT_TRUE(outer.ok());
    EXPECT_TRUE(ParseIpHeader(*outer)->dont_fragment) << size;
  }
}

TEST(EspTransformTest, InPlaceBuildsTheSameBytesInTheSameBuffer) {
  for (bool esn : {false, true}) {
    for (const auto& [outer_src, outer_dst, in_src, in_dst] : kTunnels) {
      auto t = EspTransform::Create(Sa(outer_src, outer_dst, 7, esn));
      ASSERT_TRUE(t.ok()) << t.status();
      for (size_t n : {0, 1, 2, 3, 1372}) {
        const auto inner = Inner(in_src, in_dst, n);
        const uint64_t seq = (uint64_t{3} << 32) | (n + 1);
        auto copied = t->Encapsulate(seq, inner);
        ASSERT_TRUE(copied.ok()) << copied.status();

        std::vector<uint8_t> packet;
        packet.reserve(inner.size() + 100);
        packet = inner;
        packet.reserve(inner.size() + 100);
        const uint8_t* buffer = packet.data();
        ASSERT_TRUE(t->EncapsulateInPlace(seq, &packet).ok());
        EXPECT_EQ(packet, *copied) << "inner of " << n << " bytes";
        EXPECT_EQ(packet.data(), buffer) << "reallocated with room to spare";
        ASSERT_TRUE(t->DecapsulateInPlace(seq, &packet).ok());
        EXPECT_EQ(packet, inner);
        EXPECT_EQ(packet.data(), buffer);

        // Without spare capacity the buffer grows and the bytes are the same.
        packet = inner;
        packet.shrink_to_fit();
        ASSERT_TRUE(t->EncapsulateInPlace(seq, &packet).ok());
        EXPECT_EQ(packet, *copied);
      }
    }
  }
}

// What is not one whole IP packet is refused before anything is written.
TEST(EspTransformTest, MalformedInnerPacketsAreRefusedAndLeftAlone) {
  auto t = EspTransform::Create(Sa("10.0.0.1", "10.0.0.2", 7, false));
  ASSERT_TRUE(t.ok());
  const auto inner = Inner("10.244.1.2", "10.244.2.3", 10);
  auto bad_checksum = inner;
  bad_checksum[10] ^= 0x40;
  auto trailing = inner;
  trailing.push_back(0);
  auto truncated = inner;
  truncated.pop_back();
  // The largest IPv4 packet: its ESP packet would not fit in one either.
  auto too_big = Inner("10.244.1.2", "10.244.2.3", 0xffff - 28);
  ASSERT_TRUE(ParseIpHeader(too_big).ok());
  // The largest that fits: 65,478 + 34 bytes of ESP + 20 of IPv4 = 65,532;
  // one byte more needs 3 of padding and makes 65,536.
  auto largest = t->Encapsulate(1, Inner("10.244.1.2", "10.244.2.3", 65450));
  ASSERT_TRUE(largest.ok()) << largest.status();
  EXPECT_EQ(largest->size(), 65532u);
  EXPECT_TRUE(ParseEspHeader(*largest).ok());
  EXPECT_FALSE(
      t->Encapsulate(1, Inner("10.244.1.2", "10.244.2.3", 65451)).ok());
  for (const auto& bad :
       {bad_checksum, trailing, truncated, too_big, std::vector<uint8_t>{}}) {
    EXPECT_TRUE(absl::IsInvalidArgument(t->Encapsulate(1, bad).status()));
    auto packet = bad;
    EXPECT_TRUE(absl::IsInvalidArgument(t->EncapsulateInPlace(1, &packet)));
    EXPECT_EQ(packet, bad);
  }
}

TEST(EspTransformTest, OverheadIsWhatRfc4303AndRfc4106Give) {
  // Over IPv4: 20 outer + 8 SPI/seq + 8 IV + 0..3 pad + 2 + 16 ICV = 54..57.
  auto v4 = EspTransform::Create(Sa("10.0.0.1", "10.0.0.2", 1, false));
  auto v6 = EspTransform::Create(Sa("fd00::1", "fd00::2", 1, false));
  ASSERT_TRUE(v4.ok() && v6.ok());
  std::set<size_t> v4_overheads, v6_overheads;
  for (size_t n = 0; n < 4; ++n) {
    const auto inner = Inner("10.244.1.2", "10.244.2.3", 30 + n);
    v4_overheads.insert(v4->Encapsulate(1, inner)->size() - inner.size());
    v6_overheads.insert(v6->Encapsulate(1, inner)->size() - inner.size());
  }
  EXPECT_EQ(v4_overheads, (std::set<size_t>{54, 55, 56, 57}));
  EXPECT_EQ(v6_overheads, (std::set<size_t>{74, 75, 76, 77}));
}

TEST(EspTransformTest, TamperedWrongKeyAndWrongSequenceAreRejected) {
  auto t = EspTransform::Create(Sa("10.0.0.1", "10.0.0.2", 7, false));
  auto other = EspTransform::Create(Sa("10.0.0.1", "10.0.0.2", 8, false));
  ASSERT_TRUE(t.ok() && other.ok());
  auto outer = *t->Encapsulate(3, Inner("10.244.1.2", "10.244.2.3", 10));
  EXPECT_TRUE(absl::IsDataLoss(other->Decapsulate(3, outer).status()));
  for (size_t i = 28; i < outer.size(); i += 7) {
    auto flipped = outer;
    flipped[i] ^= 0x01;
    EXPECT_FALSE(t->Decapsulate(3, flipped).ok()) << "byte " << i;
  }
  EXPECT_FALSE(t->Decapsulate(4, outer).ok());  // Header says 3.
  auto truncated = outer;
  truncated.resize(40);
  EXPECT_FALSE(t->Decapsulate(3, truncated).ok());
}

// An ESP packet that authenticates (the sender had the key) but whose
// trailer is wrong: decrypting in place must refuse it and must not leave
// the plaintext in the buffer the caller drops.
TEST(EspTransformTest,
     InPlaceRejectsAnAuthenticBadTrailerAndLeavesNoPlaintext) {
  const XfrmSa sa = Sa("10.0.0.1", "10.0.0.2", 7, /*esn=*/false);
  auto t = EspTransform::Create(sa);
  ASSERT_TRUE(t.ok()) << t.status();
  auto aead = crypto::Rfc4106Aes256Gcm::Create(
      absl::MakeConstSpan(sa.aead_key.data(), sa.aead_key.size()));
  ASSERT_TRUE(aead.ok());
  const auto inner = Inner("10.244.1.2", "10.244.2.3", 40);  // 68 bytes.
  // inner || padding 9, 9 (must be 1, 2) || pad length 2 || IPv4 in IP.
  std::vector<uint8_t> plain = inner;
  for (uint8_t b : {9, 9, 2, 4}) plain.push_back(b);
  const uint8_t esp_header[16] = {0, 0, 0, 1, 0, 0, 0, 3,
                                  0, 0, 0, 0, 0, 0, 0, 3};  // SPI, seq, IV.
  const uint8_t aad[8] = {0, 0, 0, 1, 0, 0, 0, 3};
  auto sealed = aead->Seal(absl::MakeConstSpan(esp_header + 8, 8), aad, plain);
  ASSERT_TRUE(sealed.ok());
  std::vector<uint8_t> packet =
      StartIpPacket(sa.src, sa.dst, 50, sizeof(esp_header) + sealed->size());
  packet.insert(packet.end(), std::begin(esp_header), std::end(esp_header));
  packet.insert(packet.end(), sealed->begin(), sealed->end());

  const absl::Status s = t->DecapsulateInPlace(3, &packet);
  EXPECT_TRUE(absl::IsInvalidArgument(s)) << s;
  EXPECT_NE(std::string(s.message()).find("padding"), std::string::npos) << s;
  EXPECT_EQ(std::search(packet.begin(), packet.end(), inner.begin() + 20,
                        inner.end()),
            packet.end())
      << "the inner packet's bytes are still in the buffer";

  // The same plaintext with the right padding goes through, in place.
  plain[inner.size()] = 1;
  plain[inner.size() + 1] = 2;
  sealed = aead->Seal(absl::MakeConstSpan(esp_header + 8, 8), aad, plain);
  ASSERT_TRUE(sealed.ok());
  packet =
      StartIpPacket(sa.src, sa.dst, 50, sizeof(esp_header) + sealed->size());
  packet.insert(packet.end(), std::begin(esp_header), std::end(esp_header));
  packet.insert(packet.end(), sealed->begin(), sealed->end());
  ASSERT_TRUE(t->DecapsulateInPlace(3, &packet).ok());
  EXPECT_EQ(packet, inner);
}

TEST(EspTransformTest, RejectsSasItCannotRun) {
  XfrmSa sa = Sa("10.0.0.1", "10.0.0.2", 1, false);
  sa.mode = XfrmMode::kTransport;
  EXPECT_FALSE(EspTransform::Create(sa).ok());
  sa = Sa("10.0.0.1", "10.0.0.2", 1, false);
  std::vector<uint8_t> short_key(20, 1);
  sa.aead_key = XfrmKey(short_key.data(), short_key.size());
  EXPECT_FALSE(EspTransform::Create(sa).ok());
  sa = Sa("10.0.0.1", "10.0.0.2", 1, false);
  sa.icv_bits = 64;
  EXPECT_FALSE(EspTransform::Create(sa).ok());
}

}  // namespace
}  // namespace kmesh::sim
