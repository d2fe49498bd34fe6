#include "kmesh/crypto/sha512.h"

#include <cstdint>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "kmesh/crypto/encoding.h"

namespace kmesh::crypto {
namespace {

std::string HexDigest(Sha512Hasher& hasher) {
  return HexEncode(hasher.Finish().span());
}

// FIPS 180-2 appendix C known answers (also what `sha512sum` prints).
constexpr char kAbcDigest[] =
    "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a"
    "2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f";
constexpr char kEmptyDigest[] =
    "cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce"
    "47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e";
constexpr char kTwoBlockDigest[] =
    "204a8fc6dda82f0a0ced7beb8e08a41657c16ef468b228a8279be331a703c335"
    "96fd15c13b1b07f9aa1d3bea57789ca031ad85c7a71dd70354ec631238ca3445";

TEST(Sha512HasherTest, KnownAnswers) {
  Sha512Hasher hasher;
  EXPECT_EQ(HexDigest(hasher.Update("abc")), kAbcDigest);
  EXPECT_EQ(HexDigest(hasher), kEmptyDigest);
  hasher.Update("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq");
  EXPECT_EQ(HexDigest(hasher), kTwoBlockDigest);
}

TEST(Sha512HasherTest, DigestIs64SecretBytes) {
  Sha512Hasher hasher;
  SecretBytes digest = hasher.Update("abc").Finish();
  EXPECT_EQ(digest.size(), 64u);
  EXPECT_EQ(Sha512Hasher::kDigestSize, 64u);
}

TEST(Sha512HasherTest, HashesTheConcatenationOfItsUpdates) {
  Sha512Hasher hasher;
  hasher.Update("a").Update("").Update(std::string("b"));
  hasher.Update(std::vector<uint8_t>{'c'});
  EXPECT_EQ(HexDigest(hasher), kAbcDigest);
}

TEST(Sha512HasherTest, FinishResetsForTheNextMessage) {
  Sha512Hasher hasher;
  hasher.Update("xyz");
  hasher.Finish();
  EXPECT_EQ(HexDigest(hasher.Update("abc")), kAbcDigest);
}

// The shape of Kmesh's per-pair key derivation: SHA-512(PSK || srcIP ||
// dstIP || srcBootID || dstBootID). Expected value computed independently
// with the shell (one line):
//   { for i in $(seq 0 35); do printf "\\x$(printf %02x $i)"; done;
//     printf '%s' 10.0.0.1 10.0.0.2 0f5b3a5e-8c1d-4a7e-9b2f-3c4d5e6f7a8b
//     a1b2c3d4-e5f6-4789-8abc-def012345678; } | sha512sum
TEST(Sha512HasherTest, BinaryKeyFollowedByText) {
  std::vector<uint8_t> psk_bytes(36);
  for (size_t i = 0; i < psk_bytes.size(); ++i) psk_bytes[i] = i;
  const SecretBytes psk{absl::MakeConstSpan(psk_bytes)};
  Sha512Hasher hasher;
  hasher.Update(psk)
      .Update("10.0.0.1")
      .Update("10.0.0.2")
      .Update("0f5b3a5e-8c1d-4a7e-9b2f-3c4d5e6f7a8b")
      .Update("a1b2c3d4-e5f6-4789-8abc-def012345678");
  EXPECT_EQ(HexDigest(hasher),
            "cf480e8be305bf58dccb16cb3e704be743d85ea46845450622629d4ca0ddb31a"
            "df173757e2bfd7035870b8c9c8632b4555cd63e2343afd0d5d6081db4baabf3d");
}

}  // namespace
}  // namespace kmesh::crypto
