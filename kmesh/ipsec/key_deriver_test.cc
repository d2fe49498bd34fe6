#include "kmesh/ipsec/key_deriver.h"

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace kmesh::ipsec {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

// The expected values below were computed outside this code base, in a shell:
//   PSK='\x00\x01\x02 ... \x23'   # the 36 bytes 0x00..0x23
//   { printf "$PSK"; printf '10.0.0.1'; printf '10.0.0.2';
//     printf "$BOOT_A"; printf "$BOOT_B"; } | sha512sum | cut -c1-72
// (and the same with `openssl dgst -sha512 -r`), i.e. the first 36 bytes of
// SHA-512(psk || src_ip || dst_ip || src_boot_id[0:36] || dst_boot_id[0:36]).
constexpr char kBootA[] = "0b1b5f2a-6d3c-4e8f-9a7b-1c2d3e4f5a6b";
constexpr char kBootB[] = "7e8f9a0b-1c2d-4e3f-8a9b-0c1d2e3f4a5b";

// The PSK the vectors were computed with.
XfrmKey VectorPsk() {
  uint8_t bytes[36];
  for (int i = 0; i < 36; ++i) bytes[i] = static_cast<uint8_t>(i);
  return XfrmKey(bytes, sizeof(bytes));
}

std::string Hex(const XfrmKey& key) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  for (size_t i = 0; i < key.size(); ++i) {
    out.push_back(kDigits[key.data()[i] >> 4]);
    out.push_back(kDigits[key.data()[i] & 0xf]);
  }
  return out;
}

// The key DerivePairKey derives from `psk` for this pair, in hex; a test
// failure (and "") when it refuses.
std::string DerivedHex(const XfrmKey& psk, const std::string& src_ip,
                       const std::string& dst_ip, const std::string& src_boot,
                       const std::string& dst_boot) {
  absl::StatusOr<XfrmKey> key =
      DerivePairKey(psk, src_ip, dst_ip, src_boot, dst_boot);
  if (!key.ok()) {
    ADD_FAILURE() << key.status();
    return "";
  }
  return Hex(*key);
}

struct KnownAnswer {
  const char* src_ip;
  const char* dst_ip;
  const char* src_boot;
  const char* dst_boot;
  const char* key_hex;
};

// Each computed as above with these four inputs in this order (the second
// with `openssl dgst -sha512 -r`, the others with sha512sum).
const KnownAnswer kKnownAnswers[] = {
    {"10.0.0.1", "10.0.0.2", kBootA, kBootB,
     "4d471254735c5820eb68591066890e5b557b09258cb960df3f94ccad53fdaad9"
     "d9320cbc"},
    {"192.168.1.10", "192.168.1.20", kBootA, kBootB,
     "fb9e78f8f134232a6db3ffd3493c512b9ccf779570e4551a6349f8f30f8084a9"
     "b7cb10b5"},
    {"fd00::1", "fd00::2", kBootA, kBootB,
     "6aa2c214086fbef2b7ffc46a79f7026033633a2806d8f5ed3a8ee45f8f69cd8a"
     "8705e44c"},
    // The first vector's pair in the other direction.
    {"10.0.0.2", "10.0.0.1", kBootB, kBootA,
     "c9bae28d682fd37f619f1c0b8d5e86c2d28626d4a7f2bbbe4279541ad2a51b14"
     "cc5ee97e"},
};

TEST(DerivePairKeyTest, MatchesIndependentlyComputedVectors) {
  for (const KnownAnswer& v : kKnownAnswers) {
    EXPECT_EQ(
        DerivedHex(VectorPsk(), v.src_ip, v.dst_ip, v.src_boot, v.dst_boot),
        v.key_hex)
        << v.src_ip << " -> " << v.dst_ip;
  }
}

TEST(DerivePairKeyTest, DirectionMatters) {
  EXPECT_NE(DerivedHex(VectorPsk(), "10.0.0.1", "10.0.0.2", kBootA, kBootB),
            DerivedHex(VectorPsk(), "10.0.0.2", "10.0.0.1", kBootB, kBootA));
}

TEST(DerivePairKeyTest, UsesOnlyTheFirst36CharactersOfEachBootId) {
  // Boot IDs that differ only after character 36 derive the key computed
  // from the 36-character prefixes.
  for (const char* suffix : {"-first-suffix", "\n", "0123456789"}) {
    EXPECT_EQ(
        DerivedHex(VectorPsk(), "10.0.0.1", "10.0.0.2",
                   std::string(kBootA) + suffix, std::string(kBootB) + suffix),
        kKnownAnswers[0].key_hex)
        << suffix;
  }
}

TEST(DerivePairKeyTest, BootIdDifferingWithinFirst36CharactersChangesKey) {
  std::string rebooted = kBootB;
  rebooted[35] = rebooted[35] == 'b' ? 'c' : 'b';
  EXPECT_NE(DerivedHex(VectorPsk(), "10.0.0.1", "10.0.0.2", kBootA, rebooted),
            kKnownAnswers[0].key_hex);
}

TEST(DerivePairKeyTest, DifferentPskGivesDifferentKey) {
  const uint8_t other[36] = {};
  EXPECT_NE(DerivedHex(XfrmKey(other, sizeof(other)), "10.0.0.1", "10.0.0.2",
                       kBootA, kBootB),
            kKnownAnswers[0].key_hex);
}

TEST(DerivePairKeyTest, ShortSourceBootIdIsAnErrorNamingTheSource) {
  absl::StatusOr<XfrmKey> key = DerivePairKey(
      VectorPsk(), "10.0.0.1", "10.0.0.2", std::string(kBootA, 35), kBootB);
  ASSERT_FALSE(key.ok());
  EXPECT_EQ(key.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(key.status().message(),
              ::testing::AllOf(HasSubstr("source"),
                               Not(HasSubstr("destination")), HasSubstr("35")));
}

TEST(DerivePairKeyTest, ShortDestinationBootIdIsAnErrorNamingTheDestination) {
  absl::StatusOr<XfrmKey> key =
      DerivePairKey(VectorPsk(), "10.0.0.1", "10.0.0.2", kBootA, "");
  ASSERT_FALSE(key.ok());
  EXPECT_EQ(key.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(key.status().message(), HasSubstr("destination"));
}

TEST(DerivePairKeyTest, EmptyInputsAreErrorsWithoutKeyBytes) {
  EXPECT_FALSE(
      DerivePairKey(XfrmKey(), "10.0.0.1", "10.0.0.2", kBootA, kBootB).ok());
  EXPECT_FALSE(DerivePairKey(VectorPsk(), "", "10.0.0.2", kBootA, kBootB).ok());
  EXPECT_FALSE(DerivePairKey(VectorPsk(), "10.0.0.1", "", kBootA, kBootB).ok());
  absl::StatusOr<XfrmKey> key =
      DerivePairKey(VectorPsk(), "10.0.0.1", "10.0.0.2", "short", kBootB);
  ASSERT_FALSE(key.ok());
  EXPECT_THAT(std::string(key.status().message()),
              Not(HasSubstr("000102030405")));
}

}  // namespace
}  // namespace kmesh::ipsec
