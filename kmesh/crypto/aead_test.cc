#include "kmesh/crypto/aead.h"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/types/span.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "kmesh/crypto/encoding.h"

namespace kmesh::crypto {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

std::vector<uint8_t> Hex(const std::string& hex) {
  absl::StatusOr<std::vector<uint8_t>> bytes = HexDecode(hex);
  EXPECT_TRUE(bytes.ok()) << bytes.status();
  return bytes.ok() ? *bytes : std::vector<uint8_t>();
}

void AppendBigEndian32(uint32_t value, std::vector<uint8_t>* out) {
  for (int shift = 24; shift >= 0; shift -= 8) {
    out->push_back(static_cast<uint8_t>(value >> shift));
  }
}

// An ESP packet from draft-mcgrew-gcm-test-01 ("Test Cases for the use of
// Galois/Counter Mode (GCM) and Galois Message Authentication Code (GMAC) in
// IPsec ESP", D. McGrew, March 2009), section 4. Case numbers are the cases'
// positions in that section.
struct DraftCase {
  const char* name;
  std::string key_and_salt;  // 32-byte AES-256 key || 4-byte salt, hex.
  uint32_t spi;
  uint64_t seq;  // The full sequence number; > 32 bits only with ESN.
  bool esn;
  std::string aad;  // As printed in the draft, hex.
  std::string explicit_iv;
  std::string plaintext;  // ESP payload incl. padding, pad length, next hdr.
  std::string packet;  // SPI || seq (low 32 bits) || IV || ciphertext || ICV.
};

// All of the draft's cases with 256-bit AES keys.
const DraftCase kDraftCases[] = {
    {
        // Case #3: AES-256-GCM, 32-bit sequence number.
        "Case3_Spi4a2cbfe3",
        "abbccddef00112233445566778899aab"
        "abbccddef00112233445566778899aab"
        "11223344",
        0x4a2cbfe3,
        0x00000002,
        false,
        "4a2cbfe300000002",
        "0102030405060708",
        "4500003069a6400080062690c0a80102"
        "9389155e0a9e008b2dc57ee000000000"
        "7002400020bf0000020405b401010402"
        "01020201",
        "4a2cbfe3000000020102030405060708"
        "ff425c9b724599df7a3bcd510194e00d"
        "6a78107f1b0b1cbf06efae9d65a5d763"
        "748a637985771d347f0545659f14e99d"
        "ef842d8eb335f4eecfdbf831824b4c49"
        "15956c96",
    },
    {
        // Case #9: AES-256-GCM, extended (64-bit) sequence number.
        "Case9_Spi17405e67_Esn",
        "abbccddef00112233445566778899aab"
        "abbccddef00112233445566778899aab"
        "73616c74",
        0x17405e67,
        0x156f3126dd0db99b,
        true,
        "17405e67156f3126dd0db99b",
        "616e640169766563",
        "45080028732c00004006e9f90a010612"
        "0a01038f06b88023dd6bafbecb712602"
        "50101f646d540001",
        "17405e67dd0db99b616e640169766563"
        "f2d69ecdbd5a0d5b8d5ef38bad4da58d"
        "1f278fde98ef67549d524a3018d9a57f"
        "f4d3a31ce673119e451626c2415771e3"
        "b7eebca614c89b35",
    },
    {
        // Case #11: AES-256-GCM, ESN, non-IP payload ("cisco rules the
        // net...") with 2 bytes of padding.
        "Case11_Spi17405e67_Esn",
        "abbccddef00112233445566778899aab"
        "abbccddef00112233445566778899aab"
        "73616c74",
        0x17405e67,
        0x156f3126dd0db99b,
        true,
        "17405e67156f3126dd0db99b",
        "616e640169766563",
        "636973636f0172756c65730174686501"
        "6e6574776501646566696e6501746865"
        "746563686e6f6c6f6769657301746861"
        "7477696c6c01646566696e65746f6d6f"
        "72726f7701020201",
        "17405e67dd0db99b616e640169766563"
        "d4b7ed86a1777f2ea13d6973d324c69e"
        "7b43f826fb56831226508bebd2dceb18"
        "d0a6df10e5487df074113e14c641024e"
        "3e6773d91a62ee429b043a10e3efe6b0"
        "12a49363412364f8c0cac587f249e56b"
        "11e24f30e44ccc76",
    },
    {
        // Case #14: AES-256-GCM, ESN at its maximum (all ones).
        "Case14_Spi796b6963_EsnAllOnes",
        "6c6567616c697a656d6172696a75616e"
        "61616e64646f69746265666f72656961"
        "7475726e",
        0x796b6963,
        0xffffffffffffffff,
        true,
        "796b6963ffffffffffffffff",
        "333021696765746d",
        "45000030da3a00008001df3bc0a80005"
        "c0a800010800c6cd0200070061626364"
        "65666768696a6b6c6d6e6f7071727374"
        "01020201",
        "796b6963ffffffff333021696765746d"
        "f97ab2aa356d8edce17644ac8c78e25d"
        "d24dedbb29ebf1b64a274b39b49c3a86"
        "4cd3d78ca4ae68a32b42458fb57dbe82"
        "1dcc63b9d0937ba2945f669368661a32"
        "9fb4c053",
    },
};

// ESP's AAD (RFC 4106 section 5): SPI || seq, or SPI || seq high || seq low.
std::vector<uint8_t> EspAad(const DraftCase& c) {
  std::vector<uint8_t> aad;
  AppendBigEndian32(c.spi, &aad);
  if (c.esn) AppendBigEndian32(static_cast<uint32_t>(c.seq >> 32), &aad);
  AppendBigEndian32(static_cast<uint32_t>(c.seq), &aad);
  return aad;
}

class DraftMcgrewGcmTest : public ::testing::TestWithParam<DraftCase> {};

TEST_P(DraftMcgrewGcmTest, SealBuildsTheDraftsPacketByteForByte) {
  const DraftCase& c = GetParam();
  const std::vector<uint8_t> aad = EspAad(c);
  ASSERT_EQ(HexEncode(aad), c.aad) << "AAD construction disagrees with draft";

  absl::StatusOr<Rfc4106Aes256Gcm> aead =
      Rfc4106Aes256Gcm::Create(Hex(c.key_and_salt));
  ASSERT_TRUE(aead.ok()) << aead.status();
  const std::vector<uint8_t> iv = Hex(c.explicit_iv);
  absl::StatusOr<std::vector<uint8_t>> sealed =
      aead->Seal(iv, aad, Hex(c.plaintext));
  ASSERT_TRUE(sealed.ok()) << sealed.status();

  // The wire packet: SPI, the low 32 bits of the sequence number, the
  // explicit IV, then ciphertext || ICV.
  std::vector<uint8_t> packet;
  AppendBigEndian32(c.spi, &packet);
  AppendBigEndian32(static_cast<uint32_t>(c.seq), &packet);
  packet.insert(packet.end(), iv.begin(), iv.end());
  packet.insert(packet.end(), sealed->begin(), sealed->end());
  EXPECT_EQ(HexEncode(packet), c.packet);
}

TEST_P(DraftMcgrewGcmTest, OpenRecoversTheDraftsPlaintext) {
  const DraftCase& c = GetParam();
  absl::StatusOr<Rfc4106Aes256Gcm> aead =
      Rfc4106Aes256Gcm::Create(Hex(c.key_and_salt));
  ASSERT_TRUE(aead.ok()) << aead.status();
  const std::vector<uint8_t> packet = Hex(c.packet);
  const absl::Span<const uint8_t> body(packet);
  absl::StatusOr<std::vector<uint8_t>> opened =
      aead->Open(body.subspan(8, 8), EspAad(c), body.subspan(16));
  ASSERT_TRUE(opened.ok()) << opened.status();
  EXPECT_EQ(HexEncode(*opened), c.plaintext);
}

TEST_P(DraftMcgrewGcmTest, SealIntoAndOpenIntoWorkInPlace) {
  const DraftCase& c = GetParam();
  absl::StatusOr<Rfc4106Aes256Gcm> aead =
      Rfc4106Aes256Gcm::Create(Hex(c.key_and_salt));
  ASSERT_TRUE(aead.ok()) << aead.status();
  const std::vector<uint8_t> iv = Hex(c.explicit_iv);
  const std::vector<uint8_t> aad = EspAad(c);
  const std::vector<uint8_t> plaintext = Hex(c.plaintext);

  std::vector<uint8_t> buffer = plaintext;
  buffer.resize(plaintext.size() + Rfc4106Aes256Gcm::kTagSize);
  absl::StatusOr<size_t> sealed = aead->SealInto(
      iv, aad, absl::MakeConstSpan(buffer.data(), plaintext.size()),
      absl::MakeSpan(buffer));
  ASSERT_TRUE(sealed.ok()) << sealed.status();
  ASSERT_EQ(*sealed, buffer.size());
  EXPECT_EQ(HexEncode(buffer), c.packet.substr(32));

  absl::StatusOr<size_t> opened =
      aead->OpenInto(iv, aad, buffer, absl::MakeSpan(buffer));
  ASSERT_TRUE(opened.ok()) << opened.status();
  ASSERT_EQ(*opened, plaintext.size());
  buffer.resize(*opened);
  EXPECT_EQ(buffer, plaintext);
}

INSTANTIATE_TEST_SUITE_P(Aes256Cases, DraftMcgrewGcmTest,
                         ::testing::ValuesIn(kDraftCases),
                         [](const ::testing::TestParamInfo<DraftCase>& info) {
                           return std::string(info.param.name);
                         });

// Failure cases, built on draft case #3.
class AeadRejectsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const DraftCase& c = kDraftCases[0];
    key_ = Hex(c.key_and_salt);
    iv_ = Hex(c.explicit_iv);
    aad_ = Hex(c.aad);
    plaintext_ = Hex(c.plaintext);
    sealed_ = Hex(c.packet.substr(32));
    absl::StatusOr<Rfc4106Aes256Gcm> aead = Rfc4106Aes256Gcm::Create(key_);
    ASSERT_TRUE(aead.ok()) << aead.status();
    aead_.emplace(*std::move(aead));
    // The untouched input must open, or the rejections below prove nothing.
    ASSERT_TRUE(aead_->Open(iv_, aad_, sealed_).ok());
  }

  std::vector<uint8_t> key_, iv_, aad_, plaintext_, sealed_;
  std::optional<Rfc4106Aes256Gcm> aead_;
};

TEST_F(AeadRejectsTest, EveryFlippedTagBit) {
  for (size_t bit = 0; bit < 8 * Rfc4106Aes256Gcm::kTagSize; ++bit) {
    std::vector<uint8_t> tampered = sealed_;
    tampered[sealed_.size() - Rfc4106Aes256Gcm::kTagSize + bit / 8] ^=
        static_cast<uint8_t>(1 << (bit % 8));
    absl::StatusOr<std::vector<uint8_t>> opened =
        aead_->Open(iv_, aad_, tampered);
    EXPECT_EQ(opened.status().code(), absl::StatusCode::kDataLoss)
        << "tag bit " << bit;
  }
}

TEST_F(AeadRejectsTest, FlippedCiphertextBit) {
  std::vector<uint8_t> tampered = sealed_;
  tampered[5] ^= 0x10;
  EXPECT_EQ(aead_->Open(iv_, aad_, tampered).status().code(),
            absl::StatusCode::kDataLoss);
}

TEST_F(AeadRejectsTest, WrongAad) {
  std::vector<uint8_t> wrong_seq = aad_;
  wrong_seq.back() ^= 0x01;  // Sequence number 3 instead of 2.
  EXPECT_EQ(aead_->Open(iv_, wrong_seq, sealed_).status().code(),
            absl::StatusCode::kDataLoss);
  std::vector<uint8_t> wrong_spi = aad_;
  wrong_spi[0] ^= 0x80;
  EXPECT_EQ(aead_->Open(iv_, wrong_spi, sealed_).status().code(),
            absl::StatusCode::kDataLoss);
  EXPECT_EQ(aead_->Open(iv_, {}, sealed_).status().code(),
            absl::StatusCode::kDataLoss);
}

TEST_F(AeadRejectsTest, WrongExplicitIv) {
  std::vector<uint8_t> iv = iv_;
  iv[7] ^= 0x01;
  EXPECT_EQ(aead_->Open(iv, aad_, sealed_).status().code(),
            absl::StatusCode::kDataLoss);
}

TEST_F(AeadRejectsTest, TruncatedInput) {
  // One byte short: the tag no longer matches.
  const absl::Span<const uint8_t> sealed(sealed_);
  EXPECT_EQ(
      aead_->Open(iv_, aad_, sealed.first(sealed.size() - 1)).status().code(),
      absl::StatusCode::kDataLoss);
  // Shorter than the ICV itself: malformed.
  absl::Status short_status =
      aead_->Open(iv_, aad_, sealed.first(Rfc4106Aes256Gcm::kTagSize - 1))
          .status();
  EXPECT_EQ(short_status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(short_status.message()), HasSubstr("ICV"));
  EXPECT_EQ(aead_->Open(iv_, aad_, {}).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(AeadRejectsTest, WrongKey) {
  for (size_t byte : {size_t{0}, size_t{31}, size_t{32}, size_t{35}}) {
    std::vector<uint8_t> key = key_;
    key[byte] ^= 0x01;  // AES key bytes 0..31, salt bytes 32..35.
    absl::StatusOr<Rfc4106Aes256Gcm> other = Rfc4106Aes256Gcm::Create(key);
    ASSERT_TRUE(other.ok());
    EXPECT_EQ(other->Open(iv_, aad_, sealed_).status().code(),
              absl::StatusCode::kDataLoss)
        << "key byte " << byte;
  }
}

TEST_F(AeadRejectsTest, FailedOpenLeavesNoPlaintextInTheOutputBuffer) {
  std::vector<uint8_t> tampered = sealed_;
  tampered.back() ^= 0x01;
  std::vector<uint8_t> out(plaintext_.size(), 0xaa);
  EXPECT_FALSE(aead_->OpenInto(iv_, aad_, tampered, absl::MakeSpan(out)).ok());
  size_t revealed = 0;
  for (size_t i = 0; i < out.size(); ++i) {
    if (plaintext_[i] != 0 && out[i] == plaintext_[i]) ++revealed;
  }
  EXPECT_EQ(revealed, 0u);
}

TEST_F(AeadRejectsTest, WrongExplicitIvLength) {
  const std::vector<uint8_t> iv12(12, 0);
  EXPECT_EQ(aead_->Seal(iv12, aad_, plaintext_).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(
      aead_->Open(absl::MakeSpan(iv_).first(7), aad_, sealed_).status().code(),
      absl::StatusCode::kInvalidArgument);
}

TEST_F(AeadRejectsTest, OutputBufferTooSmall) {
  std::vector<uint8_t> out(plaintext_.size() + Rfc4106Aes256Gcm::kTagSize - 1);
  EXPECT_EQ(aead_->SealInto(iv_, aad_, plaintext_, absl::MakeSpan(out))
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
  std::vector<uint8_t> small(plaintext_.size() - 1);
  EXPECT_EQ(aead_->OpenInto(iv_, aad_, sealed_, absl::MakeSpan(small))
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(AeadCreateTest, RejectsKeysThatAreNot36Bytes) {
  for (size_t size : {0, 4, 16, 32, 35, 37, 64}) {
    const std::vector<uint8_t> key(size, 0x5a);
    absl::StatusOr<Rfc4106Aes256Gcm> aead = Rfc4106Aes256Gcm::Create(key);
    ASSERT_FALSE(aead.ok()) << size;
    EXPECT_EQ(aead.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(aead.status().message()),
                HasSubstr(absl::StrCat("got ", size, " bytes")));
    // The key's bytes must not leak into the message, in any spelling.
    EXPECT_THAT(std::string(aead.status().message()), Not(HasSubstr("5a5a")));
    EXPECT_THAT(std::string(aead.status().message()), Not(HasSubstr("ZZ")));
  }
}

TEST(AeadCreateTest, AcceptsSecretBytes) {
  SecretBytes key(Rfc4106Aes256Gcm::kKeySize);
  EXPECT_TRUE(Rfc4106Aes256Gcm::Create(key).ok());
}

TEST(AeadCreateTest, MovedFromObjectFailsCleanly) {
  absl::StatusOr<Rfc4106Aes256Gcm> aead =
      Rfc4106Aes256Gcm::Create(std::vector<uint8_t>(36, 1));
  ASSERT_TRUE(aead.ok());
  Rfc4106Aes256Gcm moved = *std::move(aead);
  const std::vector<uint8_t> iv(8, 0);
  EXPECT_TRUE(moved.Seal(iv, {}, {}).ok());
  EXPECT_EQ(aead->Seal(iv, {}, {}).status().code(),
            absl::StatusCode::kFailedPrecondition);
}

}  // namespace
}  // namespace kmesh::crypto
