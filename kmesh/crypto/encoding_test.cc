#include "kmesh/crypto/encoding.h"

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace kmesh::crypto {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

std::vector<uint8_t> Bytes(const std::string& s) {
  return std::vector<uint8_t>(s.begin(), s.end());
}

std::vector<uint8_t> AllByteValues() {
  std::vector<uint8_t> bytes(256);
  for (size_t i = 0; i < bytes.size(); ++i) bytes[i] = i;
  return bytes;
}

TEST(HexTest, EncodesLowerCase) {
  EXPECT_EQ(HexEncode({}), "");
  EXPECT_EQ(HexEncode(std::vector<uint8_t>{0x00, 0x0f, 0xa5, 0xff}),
            "000fa5ff");
}

TEST(HexTest, RoundTripsEveryByteValue) {
  const std::vector<uint8_t> bytes = AllByteValues();
  const std::string hex = HexEncode(bytes);
  ASSERT_EQ(hex.size(), 512u);
  absl::StatusOr<std::vector<uint8_t>> decoded = HexDecode(hex);
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  EXPECT_EQ(*decoded, bytes);
  absl::StatusOr<SecretBytes> secret = HexDecodeSecret(hex);
  ASSERT_TRUE(secret.ok()) << secret.status();
  EXPECT_TRUE(secret->Equals(bytes));
}

TEST(HexTest, AcceptsUpperCase) {
  absl::StatusOr<std::vector<uint8_t>> decoded = HexDecode("DEADbeefA5");
  ASSERT_TRUE(decoded.ok());
  EXPECT_EQ(*decoded, (std::vector<uint8_t>{0xde, 0xad, 0xbe, 0xef, 0xa5}));
  EXPECT_TRUE(HexDecode("").ok());
}

TEST(HexTest, RejectsOddLengthWithoutEchoingInput) {
  for (auto decode :
       {+[](absl::string_view s) { return HexDecode(s).status(); },
        +[](absl::string_view s) { return HexDecodeSecret(s).status(); }}) {
    const absl::Status status = decode("abcdef012");
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(status.message()), StartsWith("invalid hex"));
    EXPECT_THAT(std::string(status.message()), HasSubstr("odd"));
    EXPECT_THAT(std::string(status.message()), HasSubstr("9"));
    EXPECT_THAT(std::string(status.message()), Not(HasSubstr("abcdef")));
  }
}

TEST(HexTest, RejectsNonHexCharacterNamingItsOffset) {
  struct Case {
    std::string input;
    std::string offset;
  };
  for (const Case& c :
       std::vector<Case>{{"0g", "offset 1"},
                         {"zz00", "offset 0"},
                         {"00112233445566778899aabbccddeexf", "offset 30"},
                         {"0x1234", "offset 1"},
                         {"12 4", "offset 2"},
                         {"1234\n0", "offset 4"}}) {
    for (const absl::Status& status :
         {HexDecode(c.input).status(), HexDecodeSecret(c.input).status()}) {
      EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << c.input;
      EXPECT_THAT(std::string(status.message()), StartsWith("invalid hex"));
      EXPECT_THAT(std::string(status.message()), HasSubstr(c.offset))
          << c.input;
      EXPECT_THAT(std::string(status.message()),
                  Not(HasSubstr(c.input.substr(0, 4))));
    }
  }
}

TEST(HexTest, ErrorNeverContainsKeyMaterial) {
  // A 72-digit key with one bad digit at the end.
  std::string key(71, '7');
  key += 'q';
  const absl::Status status = HexDecodeSecret(key).status();
  EXPECT_THAT(std::string(status.message()), HasSubstr("offset 71"));
  EXPECT_THAT(std::string(status.message()), Not(HasSubstr("77")));
  EXPECT_THAT(std::string(status.message()), Not(HasSubstr("q")));
}

// RFC 4648 section 10 test vectors.
TEST(Base64Test, Rfc4648Vectors) {
  const std::vector<std::pair<std::string, std::string>> vectors = {
      {"", ""},
      {"f", "Zg=="},
      {"fo", "Zm8="},
      {"foo", "Zm9v"},
      {"foob", "Zm9vYg=="},
      {"fooba", "Zm9vYmE="},
      {"foobar", "Zm9vYmFy"}};
  for (const auto& [plain, encoded] : vectors) {
    EXPECT_EQ(Base64Encode(Bytes(plain)), encoded);
    absl::StatusOr<std::vector<uint8_t>> decoded = Base64Decode(encoded);
    ASSERT_TRUE(decoded.ok()) << encoded << ": " << decoded.status();
    EXPECT_EQ(*decoded, Bytes(plain));
    absl::StatusOr<SecretBytes> secret = Base64DecodeSecret(encoded);
    ASSERT_TRUE(secret.ok()) << encoded;
    EXPECT_TRUE(secret->Equals(Bytes(plain)));
  }
}

TEST(Base64Test, UsesTheStandardAlphabet) {
  EXPECT_EQ(Base64Encode(std::vector<uint8_t>{0xfb, 0xff, 0xbf}), "+/+/");
  absl::StatusOr<std::vector<uint8_t>> decoded = Base64Decode("+/+/");
  ASSERT_TRUE(decoded.ok());
  EXPECT_EQ(*decoded, (std::vector<uint8_t>{0xfb, 0xff, 0xbf}));
}

TEST(Base64Test, RoundTripsEveryLength) {
  const std::vector<uint8_t> all = AllByteValues();
  for (size_t length = 0; length <= all.size(); ++length) {
    const std::vector<uint8_t> bytes(all.begin(), all.begin() + length);
    absl::StatusOr<std::vector<uint8_t>> decoded =
        Base64Decode(Base64Encode(bytes));
    ASSERT_TRUE(decoded.ok()) << length << ": " << decoded.status();
    EXPECT_EQ(*decoded, bytes);
  }
}

TEST(Base64Test, RejectsNonCanonicalInput) {
  struct Case {
    std::string input;
    std::string expected;
  };
  for (const Case& c : std::vector<Case>{
           {"Zg", "multiple of 4"},
           {"Zm9vY", "multiple of 4"},
           {"Zm9v\n", "multiple of 4"},
           {"Zm9vYg==\n\n\n\n", "padding '=' at offset 6"},
           {"Zm 9", "offset 2"},
           {"Zm-_", "offset 2"},
           {"Zm9_", "offset 3"},
           {"Zg==Zg==", "padding '=' at offset 2"},
           {"Z===", "padding '=' at offset 1"},
           {"====", "padding '=' at offset 0"},
           {"Zh==", "non-zero unused bits at offset 1"},
           {"Zm9=", "non-zero unused bits at offset 2"},
       }) {
    for (const absl::Status& status : {Base64Decode(c.input).status(),
                                       Base64DecodeSecret(c.input).status()}) {
      EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << c.input;
      EXPECT_THAT(std::string(status.message()), StartsWith("invalid base64"));
      EXPECT_THAT(std::string(status.message()), HasSubstr(c.expected))
          << c.input;
    }
  }
}

TEST(Base64Test, ErrorNeverContainsTheInput) {
  const std::string key = "c2VjcmV0LWtleS1tYXRlcmlhbC0zNi1ieXRlcy1sb25nISE*";
  const absl::Status status = Base64DecodeSecret(key).status();
  EXPECT_FALSE(status.ok());
  EXPECT_THAT(std::string(status.message()), Not(HasSubstr("c2Vj")));
  EXPECT_THAT(std::string(status.message()), Not(HasSubstr("*")));
}

}  // namespace
}  // namespace kmesh::crypto
