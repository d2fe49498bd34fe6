#include "kmesh/api/ipsec_key_codec.h"

#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "kmesh/api/json_codec.h"
#include "kmesh/api/kube.pb.h"
#include "kmesh/crypto/encoding.h"
#include "kmesh/crypto/secret_bytes.h"

namespace kmesh::api {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

constexpr char kKeyHex[] =
    "50d678fd3cdf5c8e367166ccccfb174faae8f9f0cc82c4876f8c24a0d2c35a8a7e0784dd";
// printf %s <kKeyHex> | xxd -r -p | base64 -w0
constexpr char kKeyBase64[] =
    "UNZ4/TzfXI42cWbMzPsXT6ro+fDMgsSHb4wkoNLDWop+B4Td";

std::string KmeshJson(const std::string& spi, const std::string& name,
                      const std::string& key, const std::string& length) {
  return "{\"spi\":" + spi + ",\"aeadKeyName\":\"" + name +
         "\",\"aeadKey\":\"" + key + "\",\"length\":" + length + "}";
}

const std::string kValidJson =
    KmeshJson("1", "rfc4106(gcm(aes))", kKeyBase64, "128");

crypto::SecretBytes Key() {
  absl::StatusOr<crypto::SecretBytes> key = crypto::HexDecodeSecret(kKeyHex);
  EXPECT_TRUE(key.ok());
  return key.ok() ? *std::move(key) : crypto::SecretBytes();
}

// Every error message below is checked for these: the key in hex and base64,
// in part.
void ExpectNoKeyMaterial(const absl::Status& status) {
  const std::string message(status.message());
  EXPECT_THAT(message, Not(HasSubstr("UNZ4"))) << message;
  EXPECT_THAT(message, Not(HasSubstr("B4Td"))) << message;
  EXPECT_THAT(message, Not(HasSubstr("50d678"))) << message;
  EXPECT_THAT(message, Not(HasSubstr("0784dd"))) << message;
}

TEST(ParseIpsecKeyJsonTest, ParsesKmeshsJson) {
  absl::StatusOr<IpsecKeyConfig> config = ParseIpsecKeyJson(kValidJson);
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->spi, 1);
  EXPECT_EQ(config->aead_key_name, "rfc4106(gcm(aes))");
  EXPECT_TRUE(config->aead_key.Equals(Key()));
  EXPECT_EQ(config->icv_length_bits, 128);
}

TEST(ParseIpsecKeyJsonTest, AcceptsWhitespaceFieldOrderAndUnknownFields) {
  absl::StatusOr<IpsecKeyConfig> config = ParseIpsecKeyJson(
      std::string("\n{ \"length\": 128, \"comment\": {\"x\": [1]},\n") +
      "  \"aeadKey\": \"" + kKeyBase64 +
      "\", \"aeadKeyName\": \"rfc4106(gcm(aes))\", \"spi\": 7 }\n");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->spi, 7);
  EXPECT_TRUE(config->aead_key.Equals(Key()));
}

TEST(ParseIpsecKeyJsonTest, RejectsEachWrongField) {
  struct Case {
    std::string json;
    std::string expected;
  };
  const std::string name = "rfc4106(gcm(aes))";
  for (const Case& c : std::vector<Case>{
           {KmeshJson("0", name, kKeyBase64, "128"),
            "\"spi\" must be greater than 0, got 0"},
           {KmeshJson("-3", name, kKeyBase64, "128"),
            "\"spi\" must be greater than 0, got -3"},
           {KmeshJson("1", "rfc4106(gcm(aes256))", kKeyBase64, "128"),
            "\"aeadKeyName\" must be \"rfc4106(gcm(aes))\", got "
            "\"rfc4106(gcm(aes256))\""},
           {KmeshJson("1", "", kKeyBase64, "128"), "got \"\""},
           {KmeshJson("1", name, "UNZ4/TzfXI42cWbMzPsXT6ro+fDMgsSHb4wkoNLDWop+",
                      "128"),
            "\"aeadKey\" must be 36 bytes (a 32-byte AES-256 key followed by "
            "a 4-byte salt), got 33 bytes"},
           {KmeshJson("1", name, "", "128"), "got 0 bytes"},
           {KmeshJson("1", name, kKeyBase64, "96"),
            "\"length\" (ICV bits) must be 128, got 96"},
           // Stricter than protobuf's JSON parser, as strict as Go's.
           {KmeshJson("\"1\"", name, kKeyBase64, "128"),
            "\"spi\" must be a number, got a string"},
           {KmeshJson("1.5", name, kKeyBase64, "128"),
            "\"spi\" must be a 32-bit integer, got 1.5"},
           {KmeshJson("4294967297", name, kKeyBase64, "128"),
            "\"spi\" must be a 32-bit integer"},
           {KmeshJson("1", name, kKeyBase64, "[128]"),
            "\"length\" must be a number, got an array"},
           {R"J({"spi":1,"aeadKeyName":true})J",
            "\"aeadKeyName\" must be a string, got a boolean"},
           {R"J({"spi":1,"aeadKeyName":"rfc4106(gcm(aes))","aeadKey":{}})J",
            "\"aeadKey\" must be a base64 string, got an object"},
           // Unpadded and URL-safe base64: Go's []byte decoding rejects both.
           {KmeshJson("1", name, "UNZ4/TzfXI42cWbMzPsXT6ro+fDMgsSHb4wkoNLDWo",
                      "128"),
            "\"aeadKey\": invalid base64: length 42 is not a multiple of 4"},
           {KmeshJson("1", name,
                      "UNZ4_TzfXI42cWbMzPsXT6ro-fDMgsSHb4wkoNLDWop-B4Td",
                      "128"),
            "\"aeadKey\": invalid base64: character at offset 4"},
           {R"J({"spi":1,"aeadKeyName":"rfc4106(gcm(aes))","aeadKey":")J" +
                std::string(kKeyBase64) + "\"}",
            "\"length\" (ICV bits) must be 128, got 0"},
       }) {
    absl::StatusOr<IpsecKeyConfig> config = ParseIpsecKeyJson(c.json);
    ASSERT_FALSE(config.ok()) << c.json;
    EXPECT_EQ(config.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(config.status().message()),
                StartsWith("invalid IPsec key: "));
    EXPECT_THAT(std::string(config.status().message()), HasSubstr(c.expected));
    ExpectNoKeyMaterial(config.status());
  }
}

TEST(ParseIpsecKeyJsonTest, MalformedJsonErrorsCarryNoKeyMaterial) {
  for (
      const std::string& json : {
          // Syntax errors right next to the key.
          std::string(
              R"J({"spi":1,"aeadKey":"UNZ4/TzfXI42cWbMzPsXT6ro+fDMgsSHb4wkoNLDWop+B4Td" "length":128})J"),
          std::string(
              R"J({"spi":1,"aeadKey":"UNZ4/TzfXI42cWbMzPsXT6ro+fDMgsSHb4wkoNLDWop+B4Td")J"),
          // A key that is not base64, which protobuf would quote.
          std::string(
              R"J({"spi":1,"aeadKey":"UNZ4*TzfXI42cWbMzPsXT6ro+fDMgsSHb4wkoNLDWop+B4Td"})J"),
          std::string(
              R"J({"spi":"one","aeadKey":"UNZ4/TzfXI42cWbMzPsXT6ro+fDMgsSHb4wkoNLDWop+B4Td"})J"),
          std::string(""),
          std::string("null"),
      }) {
    absl::StatusOr<IpsecKeyConfig> config = ParseIpsecKeyJson(json);
    ASSERT_FALSE(config.ok()) << json;
    EXPECT_EQ(config.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(config.status().message()),
                StartsWith("invalid IPsec key: "));
    ExpectNoKeyMaterial(config.status());
  }
}

TEST(ParseIpsecKeyJsonTest, MalformedJsonSaysSo) {
  absl::Status status = ParseIpsecKeyJson("{\"spi\":1,").status();
  EXPECT_THAT(std::string(status.message()),
              StartsWith("invalid IPsec key: malformed JSON: "));
  EXPECT_THAT(std::string(status.message()), Not(HasSubstr("protobuf")));
  status = ParseIpsecKeyJson("[1]").status();
  EXPECT_THAT(std::string(status.message()),
              StartsWith("invalid IPsec key: malformed JSON: "));
}

TEST(ParseIpsecKeyJsonTest, NullAndAbsentFieldsAreZeroAsInGo) {
  absl::Status status =
      ParseIpsecKeyJson(R"J({"spi":null,"aeadKey":null})J").status();
  EXPECT_THAT(std::string(status.message()),
              HasSubstr("\"spi\" must be greater than 0, got 0"));
  status = ParseIpsecKeyJson("{}").status();
  EXPECT_THAT(std::string(status.message()),
              HasSubstr("\"spi\" must be greater than 0, got 0"));
}

TEST(SerializeIpsecKeyJsonTest, WritesWhatGoJsonMarshalWrites) {
  absl::StatusOr<IpsecKeyConfig> config = MakeIpsecKeyConfig(1, Key());
  ASSERT_TRUE(config.ok()) << config.status();
  absl::StatusOr<std::string> json = SerializeIpsecKeyJson(*config);
  ASSERT_TRUE(json.ok()) << json.status();
  // Byte for byte what Go 1.19's json.Marshal printed for Kmesh's IpSecKey.
  EXPECT_EQ(
      *json,
      R"J({"spi":1,"aeadKeyName":"rfc4106(gcm(aes))","aeadKey":"UNZ4/TzfXI42cWbMzPsXT6ro+fDMgsSHb4wkoNLDWop+B4Td","length":128})J");
}

TEST(SerializeIpsecKeyJsonTest, RoundTripsThroughParse) {
  absl::StatusOr<IpsecKeyConfig> config = MakeIpsecKeyConfig(2147483647, Key());
  ASSERT_TRUE(config.ok());
  absl::StatusOr<std::string> json = SerializeIpsecKeyJson(*config);
  ASSERT_TRUE(json.ok());
  EXPECT_THAT(*json, StartsWith("{\"spi\":2147483647,"));
  absl::StatusOr<IpsecKeyConfig> parsed = ParseIpsecKeyJson(*json);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->spi, 2147483647);
  EXPECT_TRUE(parsed->aead_key.Equals(config->aead_key));
}

TEST(SerializeIpsecKeyJsonTest, RefusesInvalidConfigs) {
  IpsecKeyConfig config;
  config.spi = 1;
  config.aead_key_name = kIpsecAeadKeyName;
  config.aead_key = crypto::SecretBytes(35);
  config.icv_length_bits = 128;
  EXPECT_EQ(SerializeIpsecKeyJson(config).status().code(),
            absl::StatusCode::kInvalidArgument);
  config.aead_key = Key();
  EXPECT_TRUE(SerializeIpsecKeyJson(config).ok());
  config.spi = 0;
  EXPECT_THAT(std::string(SerializeIpsecKeyJson(config).status().message()),
              HasSubstr("spi"));
}

TEST(MakeIpsecKeyConfigTest, FillsTheStandardFieldsAndChecksTheRest) {
  absl::StatusOr<IpsecKeyConfig> config = MakeIpsecKeyConfig(5, Key());
  ASSERT_TRUE(config.ok());
  EXPECT_EQ(config->spi, 5);
  EXPECT_EQ(config->aead_key_name, "rfc4106(gcm(aes))");
  EXPECT_EQ(config->icv_length_bits, 128);
  EXPECT_FALSE(MakeIpsecKeyConfig(0, Key()).ok());
  EXPECT_FALSE(MakeIpsecKeyConfig(1, crypto::SecretBytes(32)).ok());
}

TEST(IpsecKeyConfigTest, DebugStringHidesTheKey) {
  absl::StatusOr<IpsecKeyConfig> config = MakeIpsecKeyConfig(1, Key());
  ASSERT_TRUE(config.ok());
  EXPECT_EQ(config->DebugString(),
            "{spi: 1, aeadKeyName: \"rfc4106(gcm(aes))\", "
            "aeadKey: <36 secret bytes>, length: 128}");
}

// The whole path kmeshctl and the daemon take: the Secret from the API server,
// its data.ipSec (base64 in the Secret's JSON), then Kmesh's key JSON.
TEST(IpsecKeyFromSecretTest, SecretDataIpSecParsesToTheKey) {
  absl::StatusOr<Secret> secret = ParseJson<Secret>(
      R"J({"kind":"Secret","apiVersion":"v1","metadata":{"name":"kmesh-ipsec",)J"
      R"J("namespace":"kmesh-system","resourceVersion":"7"},"data":{"ipSec":)J"
      R"J("eyJzcGkiOjEsImFlYWRLZXlOYW1lIjoicmZjNDEwNihnY20oYWVzKSkiLCJhZWFkS2V5Ijoi)J"
      R"J(VU5aNC9UemZYSTQyY1diTXpQc1hUNnJvK2ZETWdzU0hiNHdrb05MRFdvcCtCNFRkIiwibGVu)J"
      R"J(Z3RoIjoxMjh9"},"type":"Opaque"})J");
  ASSERT_TRUE(secret.ok()) << secret.status();
  absl::StatusOr<IpsecKeyConfig> config =
      ParseIpsecKeyJson(secret->data().at("ipSec"));
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->spi, 1);
  EXPECT_TRUE(config->aead_key.Equals(Key()));
}

}  // namespace
}  // namespace kmesh::api
