#include "kmesh/kmeshctl/key_argument.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "kmesh/crypto/encoding.h"

namespace kmesh::kmeshctl {
namespace {

std::string Msg(const absl::Status& status) {
  return std::string(status.message());
}

using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

// 72 hex digits of a key whose bytes are 0x00, 0x07, 0x0e, ...
std::string ValidHex() {
  std::string hex;
  for (int i = 0; i < 36; ++i) {
    hex += crypto::HexEncode({static_cast<uint8_t>(7 * i)});
  }
  return hex;
}

TEST(KeyArgumentTest, SeventyTwoHexDigitsAre36Bytes) {
  absl::StatusOr<crypto::SecretBytes> key = ParseKeyArgument(ValidHex());
  ASSERT_TRUE(key.ok()) << key.status();
  ASSERT_EQ(key->size(), 36u);
  for (int i = 0; i < 36; ++i) EXPECT_EQ(key->data()[i], 7 * i);
}

TEST(KeyArgumentTest, UpperCaseHexIsTheSameKey) {
  std::string upper = ValidHex();
  for (char& c : upper) c = static_cast<char>(std::toupper(c));
  absl::StatusOr<crypto::SecretBytes> a = ParseKeyArgument(ValidHex());
  absl::StatusOr<crypto::SecretBytes> b = ParseKeyArgument(upper);
  ASSERT_TRUE(a.ok());
  ASSERT_TRUE(b.ok());
  EXPECT_TRUE(a->Equals(*b));
}

TEST(KeyArgumentTest, EmptyIsRefused) {
  absl::StatusOr<crypto::SecretBytes> key = ParseKeyArgument("");
  ASSERT_FALSE(key.ok());
  EXPECT_TRUE(absl::IsInvalidArgument(key.status()));
  EXPECT_THAT(Msg(key.status()), StartsWith("invalid key: --key is empty"));
  EXPECT_THAT(Msg(key.status()), HasSubstr("xxd -p -c 64"));
}

TEST(KeyArgumentTest, ZeroXPrefixGetsAHint) {
  for (const char* prefix : {"0x", "0X"}) {
    absl::StatusOr<crypto::SecretBytes> key =
        ParseKeyArgument(prefix + ValidHex().substr(2));
    ASSERT_FALSE(key.ok());
    EXPECT_THAT(Msg(key.status()), StartsWith("invalid hex"));
    EXPECT_THAT(Msg(key.status()), HasSubstr("remove the \"0x\" prefix"));
  }
}

TEST(KeyArgumentTest, OddDigitCountIsALengthError) {
  absl::StatusOr<crypto::SecretBytes> key =
      ParseKeyArgument(ValidHex().substr(1));
  ASSERT_FALSE(key.ok());
  EXPECT_THAT(Msg(key.status()),
              StartsWith("invalid key length: expected 36 bytes (72 hex "
                         "digits), got 71 hex digits"));
}

TEST(KeyArgumentTest, WrongByteCountSaysHowManyBytes) {
  absl::StatusOr<crypto::SecretBytes> short_key =
      ParseKeyArgument(ValidHex().substr(0, 64));
  ASSERT_FALSE(short_key.ok());
  EXPECT_THAT(Msg(short_key.status()),
              StartsWith("invalid key length: expected 36 bytes, got 32 bytes "
                         "(key must be 256-bit + 32-bit salt)"));
  absl::StatusOr<crypto::SecretBytes> long_key =
      ParseKeyArgument(ValidHex() + "00");
  ASSERT_FALSE(long_key.ok());
  EXPECT_THAT(Msg(long_key.status()), HasSubstr("got 37 bytes"));
}

TEST(KeyArgumentTest, NonHexCharacterIsLocatedButTheKeyIsNotEchoed) {
  std::string hex = ValidHex();
  hex[40] = 'z';
  absl::StatusOr<crypto::SecretBytes> key = ParseKeyArgument(hex);
  ASSERT_FALSE(key.ok());
  EXPECT_THAT(Msg(key.status()),
              StartsWith("invalid hex in --key: character 41 of 72 is 'z', "
                         "not a hex digit"));
  EXPECT_THAT(Msg(key.status()), Not(HasSubstr(hex.substr(0, 8))));
  EXPECT_THAT(Msg(key.status()), Not(HasSubstr(hex.substr(50, 8))));
}

TEST(KeyArgumentTest, WhitespaceAndControlCharactersAreDescribed) {
  std::string hex = ValidHex();
  hex[71] = '\n';
  EXPECT_THAT(Msg(ParseKeyArgument(hex).status()),
              HasSubstr("character 72 of 72 is a newline"));
  hex[71] = ' ';
  EXPECT_THAT(Msg(ParseKeyArgument(hex).status()), HasSubstr("is a space"));
  hex[71] = '\x01';
  EXPECT_THAT(Msg(ParseKeyArgument(hex).status()),
              HasSubstr("byte 0x01 (not printable ASCII)"));
}

}  // namespace
}  // namespace kmesh::kmeshctl
