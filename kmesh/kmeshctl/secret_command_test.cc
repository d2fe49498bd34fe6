#include "kmesh/kmeshctl/secret_command.h"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "kmesh/crypto/encoding.h"
#include "kmesh/kube/testing/mock_kube_client.h"
#include "nlohmann/json.hpp"

namespace kmesh::kmeshctl {
namespace {

using ::testing::_;
using ::testing::AllOf;
using ::testing::DoAll;
using ::testing::Eq;
using ::testing::HasSubstr;
using ::testing::InSequence;
using ::testing::Not;
using ::testing::Return;
using ::testing::SaveArg;
using ::testing::StrictMock;
using Json = nlohmann::json;

constexpr char kNs[] = "kmesh-system";
constexpr char kName[] = "kmesh-ipsec";

// A 36-byte key with every byte distinct from the other test key's.
crypto::SecretBytes TestKey(uint8_t seed) {
  crypto::SecretBytes key(36);
  for (size_t i = 0; i < key.size(); ++i) {
    key.mutable_data()[i] = static_cast<uint8_t>(seed + 7 * i);
  }
  return key;
}

std::string B64(const std::string& s) {
  return crypto::Base64Encode(absl::MakeConstSpan(
      reinterpret_cast<const uint8_t*>(s.data()), s.size()));
}

// The ipSec value exactly as Kmesh's Go code (json.Marshal) writes it.
std::string KmeshJson(int spi, const crypto::SecretBytes& key) {
  return absl::StrCat("{\"spi\":", spi,
                      ",\"aeadKeyName\":\"rfc4106(gcm(aes))\",\"aeadKey\":\"",
                      crypto::Base64Encode(key.span()), "\",\"length\":128}");
}

// A Secret as the API server returns it.
std::string StoredSecretJson(const std::string& ipsec_json,
                             const std::string& resource_version) {
  return absl::StrCat(
      R"({"apiVersion":"v1","kind":"Secret","metadata":{"name":"kmesh-ipsec",)"
      R"("namespace":"kmesh-system","uid":"9c1f","resourceVersion":")",
      resource_version,
      R"(","creationTimestamp":"2024-10-10T08:00:00Z","labels":{"team":"net"}},)"
      R"("type":"Opaque","data":{"ipSec":")",
      B64(ipsec_json), R"(","extra":"AQID"}})");
}

// data.ipSec of a request body, decoded.
std::string IpSecOf(const std::string& body) {
  Json json = Json::parse(body);
  auto bytes = crypto::Base64Decode(json["data"]["ipSec"].get<std::string>());
  EXPECT_TRUE(bytes.ok()) << bytes.status();
  if (!bytes.ok()) return "";
  return std::string(bytes->begin(), bytes->end());
}

absl::Status NotFound() {
  return absl::NotFoundError(
      "HTTP 404 NotFound: secrets \"kmesh-ipsec\" not found");
}
absl::Status Conflict() {
  return absl::AbortedError(
      "HTTP 409 Conflict: the object has been modified; please apply your "
      "changes to the latest version and try again");
}
absl::Status ServerError() {
  return absl::UnavailableError(
      "HTTP 500 InternalError: etcd is sad (PUT https://10.0.0.1:6443/api/v1/"
      "namespaces/kmesh-system/secrets/kmesh-ipsec)");
}

class SecretCommandTest : public ::testing::Test {
 protected:
  SecretCommandOptions Options() {
    SecretCommandOptions options;
    options.server = "https://10.0.0.1:6443";
    options.credentials_source = "kubeconfig /home/op/.kube/config";
    options.sleep = [this](absl::Duration d) { sleeps_.push_back(d); };
    options.new_key = [] { return TestKey(1); };
    options.time_zone = absl::UTCTimeZone();
    return options;
  }

  // Checks that no form of `key` is in the text.
  static void ExpectNoKey(const std::string& text,
                          const crypto::SecretBytes& key) {
    EXPECT_THAT(text, Not(HasSubstr(crypto::HexEncode(key.span()))));
    EXPECT_THAT(text, Not(HasSubstr(crypto::Base64Encode(key.span()))));
  }

  StrictMock<kube::MockKubeClient> client_;
  std::vector<absl::Duration> sleeps_;
};

TEST_F(SecretCommandTest, FirstCreateStoresKmeshJsonWithSpi1) {
  std::string body;
  EXPECT_CALL(client_, Get(_, Eq(kNs), Eq(kName))).WillOnce(Return(NotFound()));
  EXPECT_CALL(client_, Create(_, Eq(kNs), _))
      .WillOnce(DoAll(SaveArg<2>(&body), Return(std::string("{}"))));

  CommandResult result = SecretCommand(client_, Options()).Create(std::nullopt);

  EXPECT_EQ(result.exit_code, 0);
  EXPECT_EQ(result.out, "secret kmesh-ipsec created, spi 1\n");
  EXPECT_EQ(result.err, "");
  Json secret = Json::parse(body);
  EXPECT_EQ(secret["apiVersion"], "v1");
  EXPECT_EQ(secret["kind"], "Secret");
  EXPECT_EQ(secret["type"], "Opaque");
  EXPECT_EQ(secret["metadata"]["name"], kName);
  EXPECT_EQ(secret["metadata"]["namespace"], kNs);
  EXPECT_EQ(secret["data"].size(), 1u);
  EXPECT_EQ(IpSecOf(body), KmeshJson(1, TestKey(1)));
}

TEST_F(SecretCommandTest, DefaultKeysAreFreshRandom36Bytes) {
  std::vector<std::string> bodies;
  EXPECT_CALL(client_, Get(_, _, _))
      .Times(2)
      .WillRepeatedly(Return(NotFound()));
  EXPECT_CALL(client_, Create(_, _, _))
      .Times(2)
      .WillRepeatedly([&](const kube::ResourceKind&, const std::string&,
                          const std::string& body) {
        bodies.push_back(body);
        return std::string("{}");
      });
  SecretCommandOptions options = Options();
  options.new_key = nullptr;  // The CSPRNG.
  SecretCommand command(client_, options);
  ASSERT_EQ(command.Create(std::nullopt).exit_code, 0);
  ASSERT_EQ(command.Create(std::nullopt).exit_code, 0);

  ASSERT_EQ(bodies.size(), 2u);
  std::vector<std::string> keys;
  for (const std::string& body : bodies) {
    Json ipsec = Json::parse(IpSecOf(body));
    auto key = crypto::Base64Decode(ipsec["aeadKey"].get<std::string>());
    ASSERT_TRUE(key.ok());
    EXPECT_EQ(key->size(), 36u);
    keys.emplace_back(key->begin(), key->end());
  }
  EXPECT_NE(keys[0], keys[1]);
}

TEST_F(SecretCommandTest, CreateWithKeyArgumentStoresThatKey) {
  std::string body;
  EXPECT_CALL(client_, Get(_, _, _)).WillOnce(Return(NotFound()));
  EXPECT_CALL(client_, Create(_, _, _))
      .WillOnce(DoAll(SaveArg<2>(&body), Return(std::string("{}"))));
  const std::string hex = crypto::HexEncode(TestKey(9).span());

  CommandResult result = SecretCommand(client_, Options()).Create(hex);

  EXPECT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(IpSecOf(body), KmeshJson(1, TestKey(9)));
  ExpectNoKey(result.out, TestKey(9));
}

TEST_F(SecretCommandTest, SecondCreateRotatesWithReadResourceVersion) {
  std::string body;
  EXPECT_CALL(client_, Get(_, _, _))
      .WillOnce(Return(StoredSecretJson(KmeshJson(4, TestKey(2)), "17")));
  EXPECT_CALL(client_, Update(_, Eq(kNs), Eq(kName), _))
      .WillOnce(DoAll(SaveArg<3>(&body), Return(std::string("{}"))));

  CommandResult result = SecretCommand(client_, Options()).Create(std::nullopt);

  EXPECT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(result.out, "secret kmesh-ipsec rotated, spi 4 -> 5\n");
  Json secret = Json::parse(body);
  EXPECT_EQ(secret["metadata"]["resourceVersion"], "17");
  EXPECT_EQ(IpSecOf(body), KmeshJson(5, TestKey(1)));
  // Whatever else the Secret holds is kept.
  EXPECT_EQ(secret["metadata"]["labels"]["team"], "net");
  EXPECT_EQ(secret["metadata"]["uid"], "9c1f");
  EXPECT_EQ(secret["data"]["extra"], "AQID");
}

TEST_F(SecretCommandTest, ConflictRereadsAndRotatesFromTheNewerSpi) {
  std::vector<std::string> bodies;
  {
    InSequence order;
    EXPECT_CALL(client_, Get(_, _, _))
        .WillOnce(Return(StoredSecretJson(KmeshJson(1, TestKey(2)), "5")));
    EXPECT_CALL(client_, Update(_, _, _, _))
        .WillOnce(DoAll([&](auto&&, auto&&, auto&&,
                            const std::string& b) { bodies.push_back(b); },
                        Return(Conflict())));
    // Another writer rotated to spi 2 meanwhile.
    EXPECT_CALL(client_, Get(_, _, _))
        .WillOnce(Return(StoredSecretJson(KmeshJson(2, TestKey(3)), "6")));
    EXPECT_CALL(client_, Update(_, _, _, _))
        .WillOnce(DoAll([&](auto&&, auto&&, auto&&,
                            const std::string& b) { bodies.push_back(b); },
                        Return(std::string("{}"))));
  }

  CommandResult result = SecretCommand(client_, Options()).Create(std::nullopt);

  EXPECT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(result.out, "secret kmesh-ipsec rotated, spi 2 -> 3\n");
  ASSERT_EQ(bodies.size(), 2u);
  EXPECT_EQ(Json::parse(bodies[0])["metadata"]["resourceVersion"], "5");
  EXPECT_EQ(IpSecOf(bodies[0]), KmeshJson(2, TestKey(1)));
  EXPECT_EQ(Json::parse(bodies[1])["metadata"]["resourceVersion"], "6");
  EXPECT_EQ(IpSecOf(bodies[1]), KmeshJson(3, TestKey(1)));
  // One jittered backoff in [base/2, base] before the retry.
  ASSERT_EQ(sleeps_.size(), 1u);
  EXPECT_GE(sleeps_[0], absl::Milliseconds(25));
  EXPECT_LE(sleeps_[0], absl::Milliseconds(50));
}

TEST_F(SecretCommandTest, EndlessConflictsGiveUpAfterMaxAttempts) {
  EXPECT_CALL(client_, Get(_, _, _))
      .Times(10)
      .WillRepeatedly(Return(StoredSecretJson(KmeshJson(1, TestKey(2)), "5")));
  EXPECT_CALL(client_, Update(_, _, _, _))
      .Times(10)
      .WillRepeatedly(Return(Conflict()));

  CommandResult result = SecretCommand(client_, Options()).Create(std::nullopt);

  EXPECT_EQ(result.exit_code, 1);
  EXPECT_THAT(result.err, HasSubstr("10 attempts"));
  EXPECT_THAT(result.err, HasSubstr("nothing of ours was written"));
  // Backoff grows: the last wait is longer than the first can be.
  ASSERT_EQ(sleeps_.size(), 9u);
  EXPECT_GT(sleeps_.back(), absl::Milliseconds(50));
}

TEST_F(SecretCommandTest, AlreadyExistsOnFirstCreateRotatesTheRacersSecret) {
  std::string body;
  {
    InSequence order;
    EXPECT_CALL(client_, Get(_, _, _)).WillOnce(Return(NotFound()));
    EXPECT_CALL(client_, Create(_, _, _))
        .WillOnce(Return(absl::AlreadyExistsError(
            "HTTP 409 AlreadyExists: secrets \"kmesh-ipsec\" already exists")));
    EXPECT_CALL(client_, Get(_, _, _))
        .WillOnce(Return(StoredSecretJson(KmeshJson(1, TestKey(2)), "3")));
    EXPECT_CALL(client_, Update(_, _, _, _))
        .WillOnce(DoAll(SaveArg<3>(&body), Return(std::string("{}"))));
  }

  CommandResult result = SecretCommand(client_, Options()).Create(std::nullopt);

  EXPECT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(result.out, "secret kmesh-ipsec rotated, spi 1 -> 2\n");
  EXPECT_EQ(IpSecOf(body), KmeshJson(2, TestKey(1)));
}

TEST_F(SecretCommandTest, KmeshWrittenSecretIsRotatedInTheSameShape) {
  // Typed as Kmesh's Go kmeshctl stores it (base64 of its json.Marshal).
  const std::string kmesh_secret =
      "{\"kind\":\"Secret\",\"apiVersion\":\"v1\",\"metadata\":{\"name\":"
      "\"kmesh-ipsec\",\"namespace\":\"kmesh-system\",\"uid\":\"d3b0\","
      "\"resourceVersion\":\"812\",\"creationTimestamp\":"
      "\"2024-11-02T09:30:00Z\"},\"data\":{\"ipSec\":\""
      "eyJzcGkiOjEsImFlYWRLZXlOYW1lIjoicmZjNDEwNihnY20oYWVzKSkiLCJhZWFkS2V5Ijoi"
      "QUFFQ0F3UUZCZ2NJQ1FvTERBME9EeEFSRWhNVUZSWVhHQmthR3h3ZEhoOGdJU0lqIiwibGVu"
      "Z3RoIjoxMjh9\"},\"type\":\"Opaque\"}";
  std::string body;
  EXPECT_CALL(client_, Get(_, _, _)).WillOnce(Return(kmesh_secret));
  EXPECT_CALL(client_, Update(_, _, _, _))
      .WillOnce(DoAll(SaveArg<3>(&body), Return(std::string("{}"))));

  CommandResult result = SecretCommand(client_, Options()).Create(std::nullopt);

  EXPECT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(result.out, "secret kmesh-ipsec rotated, spi 1 -> 2\n");
  EXPECT_EQ(Json::parse(body)["metadata"]["resourceVersion"], "812");
  EXPECT_EQ(IpSecOf(body), KmeshJson(2, TestKey(1)));
}

struct CorruptCase {
  const char* name;
  std::string secret_json;
  const char* cause;
};

class CorruptSecretTest : public SecretCommandTest,
                          public ::testing::WithParamInterface<CorruptCase> {};

std::vector<CorruptCase> CorruptCases() {
  auto with_ipsec = [](const std::string& ipsec) {
    return StoredSecretJson(ipsec, "4");
  };
  const std::string key_b64 = crypto::Base64Encode(TestKey(2).span());
  return {
      {"NoData", R"({"metadata":{"name":"kmesh-ipsec","resourceVersion":"4"}})",
       "it has no data"},
      {"NoIpSecKey",
       R"({"metadata":{"resourceVersion":"4"},"data":{"other":"AA=="}})",
       "no data key \"ipSec\""},
      {"IpSecNotBase64",
       R"({"metadata":{"resourceVersion":"4"},"data":{"ipSec":"!!!!"}})",
       "invalid base64"},
      {"IpSecNotJson", with_ipsec("spi=1"), "JSON"},
      {"SpiZero",
       with_ipsec(
           absl::StrCat(R"js({"spi":0,"aeadKeyName":"rfc4106(gcm(aes))",)js",
                        R"("aeadKey":")", key_b64, R"(","length":128})")),
       "spi"},
      {"OtherAlgorithm",
       with_ipsec(absl::StrCat(R"js({"spi":1,"aeadKeyName":"cbc(aes)",)js",
                               R"("aeadKey":")", key_b64,
                               R"(","length":128})")),
       "aeadKeyName"},
      {"ShortKey",
       with_ipsec(R"js({"spi":1,"aeadKeyName":"rfc4106(gcm(aes))",)js"
                  R"("aeadKey":"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",)"
                  R"("length":128})"),
       "aeadKey"},
      {"NotJsonAtAll", "<html>proxy error</html>", "not JSON"},
  };
}

TEST_P(CorruptSecretTest, CreateRefusesAndSaysHowToRecover) {
  EXPECT_CALL(client_, Get(_, _, _)).WillOnce(Return(GetParam().secret_json));

  CommandResult result = SecretCommand(client_, Options()).Create(std::nullopt);

  EXPECT_EQ(result.exit_code, 1);
  EXPECT_THAT(result.err,
              AllOf(HasSubstr("secret \"kmesh-ipsec\" in namespace "
                              "kmesh-system does not hold a valid Kmesh IPsec "
                              "key"),
                    HasSubstr(GetParam().cause),
                    HasSubstr("kmeshctl secret delete && kmeshctl secret "
                              "create")));
  ExpectNoKey(result.err, TestKey(2));
}

TEST_P(CorruptSecretTest, GetRefusesAndSaysHowToRecover) {
  EXPECT_CALL(client_, Get(_, _, _)).WillOnce(Return(GetParam().secret_json));

  CommandResult result =
      SecretCommand(client_, Options()).Get(SecretOutputFormat::kText);

  EXPECT_EQ(result.exit_code, 1);
  EXPECT_EQ(result.out, "");
  EXPECT_THAT(result.err, HasSubstr("kmeshctl secret delete && kmeshctl "
                                    "secret create"));
  ExpectNoKey(result.err, TestKey(2));
}

INSTANTIATE_TEST_SUITE_P(Cases, CorruptSecretTest,
                         ::testing::ValuesIn(CorruptCases()),
                         [](const ::testing::TestParamInfo<CorruptCase>& info) {
                           return std::string(info.param.name);
                         });

TEST_F(SecretCommandTest, SameKeyAsStoredIsRefused) {
  EXPECT_CALL(client_, Get(_, _, _))
      .WillOnce(Return(StoredSecretJson(KmeshJson(3, TestKey(9)), "8")));
  const std::string hex = crypto::HexEncode(TestKey(9).span());

  CommandResult result = SecretCommand(client_, Options()).Create(hex);

  EXPECT_EQ(result.exit_code, 1);
  EXPECT_EQ(result.out, "");
  EXPECT_THAT(result.err,
              AllOf(HasSubstr("already stored"), HasSubstr("spi 3"),
                    HasSubstr("nonces"), HasSubstr("Nothing was changed")));
  ExpectNoKey(result.err, TestKey(9));
}

TEST_F(SecretCommandTest, SameKeyInUpperCaseHexIsAlsoRefused) {
  EXPECT_CALL(client_, Get(_, _, _))
      .WillOnce(Return(StoredSecretJson(KmeshJson(3, TestKey(9)), "8")));
  std::string hex = crypto::HexEncode(TestKey(9).span());
  for (char& c : hex) c = static_cast<char>(std::toupper(c));

  EXPECT_EQ(SecretCommand(client_, Options()).Create(hex).exit_code, 1);
}

struct BadKeyCase {
  const char* name;
  std::string key;
  const char* message;
};

class BadKeyArgumentTest : public SecretCommandTest,
                           public ::testing::WithParamInterface<BadKeyCase> {};

TEST_P(BadKeyArgumentTest, FailsBeforeAnyApiCall) {
  // StrictMock: any call to the API server fails the test.
  CommandResult result =
      SecretCommand(client_, Options()).Create(GetParam().key);

  EXPECT_EQ(result.exit_code, 1);
  EXPECT_EQ(result.out, "");
  EXPECT_THAT(result.err, HasSubstr(GetParam().message));
  EXPECT_THAT(result.err, HasSubstr("xxd -p -c 64"));
  if (GetParam().key.size() > 8) {
    EXPECT_THAT(result.err, Not(HasSubstr(GetParam().key.substr(2, 16))));
  }
}

INSTANTIATE_TEST_SUITE_P(
    Cases, BadKeyArgumentTest,
    ::testing::Values(
        BadKeyCase{"Empty", "", "invalid key: --key is empty"},
        BadKeyCase{"SeventyOneDigits", std::string(71, 'a'),
                   "invalid key length"},
        BadKeyCase{"SeventyThreeDigits", std::string(73, 'b'),
                   "invalid key length"},
        BadKeyCase{"SeventyFourDigits", std::string(74, 'c'),
                   "invalid key length: expected 36 bytes, got 37 bytes"},
        BadKeyCase{"NonHex", std::string(40, 'd') + "g" + std::string(31, 'e'),
                   "invalid hex in --key: character 41 of 72 is 'g'"},
        BadKeyCase{"ZeroXPrefix", "0x" + std::string(72, 'f'),
                   "remove the \"0x\" prefix"}),
    [](const ::testing::TestParamInfo<BadKeyCase>& info) {
      return std::string(info.param.name);
    });

TEST_F(SecretCommandTest, UpdateThatFailedButLandedIsReportedOnce) {
  {
    InSequence order;
    EXPECT_CALL(client_, Get(_, _, _))
        .WillOnce(Return(StoredSecretJson(KmeshJson(4, TestKey(2)), "17")));
    EXPECT_CALL(client_, Update(_, _, _, _)).WillOnce(Return(ServerError()));
    // Reading back shows our key: the write was applied after all.
    EXPECT_CALL(client_, Get(_, _, _))
        .WillOnce(Return(StoredSecretJson(KmeshJson(5, TestKey(1)), "18")));
  }

  CommandResult result = SecretCommand(client_, Options()).Create(std::nullopt);

  EXPECT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(result.out, "secret kmesh-ipsec rotated, spi 4 -> 5\n");
}

TEST_F(SecretCommandTest, CreateThatFailedButLandedIsReportedOnce) {
  {
    InSequence order;
    EXPECT_CALL(client_, Get(_, _, _)).WillOnce(Return(NotFound()));
    EXPECT_CALL(client_, Create(_, _, _)).WillOnce(Return(ServerError()));
    EXPECT_CALL(client_, Get(_, _, _))
        .WillOnce(Return(StoredSecretJson(KmeshJson(1, TestKey(1)), "2")));
  }

  CommandResult result = SecretCommand(client_, Options()).Create(std::nullopt);

  EXPECT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(result.out, "secret kmesh-ipsec created, spi 1\n");
}

TEST_F(SecretCommandTest, UpdateThatFailedAndDidNotLandIsRedone) {
  std::string last_body;
  {
    InSequence order;
    EXPECT_CALL(client_, Get(_, _, _))
        .WillOnce(Return(StoredSecretJson(KmeshJson(4, TestKey(2)), "17")));
    EXPECT_CALL(client_, Update(_, _, _, _)).WillOnce(Return(ServerError()));
    EXPECT_CALL(client_, Get(_, _, _))
        .WillOnce(Return(StoredSecretJson(KmeshJson(4, TestKey(2)), "17")));
    EXPECT_CALL(client_, Update(_, _, _, _))
        .WillOnce(DoAll(SaveArg<3>(&last_body), Return(std::string("{}"))));
  }

  CommandResult result = SecretCommand(client_, Options()).Create(std::nullopt);

  EXPECT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(result.out, "secret kmesh-ipsec rotated, spi 4 -> 5\n");
  EXPECT_EQ(IpSecOf(last_body), KmeshJson(5, TestKey(1)));
}

TEST_F(SecretCommandTest, PersistentServerErrorsGiveUpAndSayNothingChanged) {
  EXPECT_CALL(client_, Get(_, _, _))
      .Times(4)  // Three update cycles and the final check.
      .WillRepeatedly(Return(StoredSecretJson(KmeshJson(4, TestKey(2)), "17")));
  EXPECT_CALL(client_, Update(_, _, _, _))
      .Times(3)
      .WillRepeatedly(Return(ServerError()));

  CommandResult result = SecretCommand(client_, Options()).Create(std::nullopt);

  EXPECT_EQ(result.exit_code, 1);
  EXPECT_THAT(
      result.err,
      AllOf(HasSubstr("cannot update secret \"kmesh-ipsec\" in "
                      "namespace kmesh-system"),
            HasSubstr("https://10.0.0.1:6443"), HasSubstr("server error"),
            HasSubstr("HTTP 500"), HasSubstr("gave up after 3 attempts"),
            HasSubstr("the secret was not changed")));
}

TEST_F(SecretCommandTest, UnknownOutcomeWhenReadBackFailsToo) {
  EXPECT_CALL(client_, Get(_, _, _))
      .WillOnce(Return(StoredSecretJson(KmeshJson(4, TestKey(2)), "17")))
      .WillOnce(Return(absl::UnavailableError(
          "cannot reach the API server at https://10.0.0.1:6443: Connection "
          "refused")));
  EXPECT_CALL(client_, Update(_, _, _, _)).WillOnce(Return(ServerError()));

  CommandResult result = SecretCommand(client_, Options()).Create(std::nullopt);

  EXPECT_EQ(result.exit_code, 1);
  EXPECT_THAT(result.err, HasSubstr("check with kmeshctl secret get"));
}

TEST_F(SecretCommandTest, ForbiddenReadNamesTheMissingPermission) {
  EXPECT_CALL(client_, Get(_, _, _))
      .WillOnce(Return(absl::PermissionDeniedError(
          "HTTP 403 Forbidden: secrets \"kmesh-ipsec\" is forbidden: User "
          "\"dev\" cannot get resource \"secrets\" in the namespace "
          "\"kmesh-system\"")));

  CommandResult result = SecretCommand(client_, Options()).Create(std::nullopt);

  EXPECT_EQ(result.exit_code, 1);
  EXPECT_THAT(result.err,
              AllOf(HasSubstr("Error: cannot get secrets in namespace "
                              "kmesh-system: forbidden (the kubeconfig's user "
                              "needs get/create/update/delete on secrets in "
                              "kmesh-system"),
                    HasSubstr("User \"dev\" cannot get")));
}

TEST_F(SecretCommandTest, ForbiddenUpdateNamesTheVerb) {
  EXPECT_CALL(client_, Get(_, _, _))
      .WillOnce(Return(StoredSecretJson(KmeshJson(4, TestKey(2)), "17")));
  EXPECT_CALL(client_, Update(_, _, _, _))
      .WillOnce(Return(absl::PermissionDeniedError("HTTP 403 Forbidden: no")));

  CommandResult result = SecretCommand(client_, Options()).Create(std::nullopt);

  EXPECT_EQ(result.exit_code, 1);
  EXPECT_THAT(result.err, HasSubstr("cannot update secrets in namespace "
                                    "kmesh-system: forbidden"));
}

TEST_F(SecretCommandTest, ForbiddenCreateNamesTheVerb) {
  EXPECT_CALL(client_, Get(_, _, _)).WillOnce(Return(NotFound()));
  EXPECT_CALL(client_, Create(_, _, _))
      .WillOnce(Return(absl::PermissionDeniedError("HTTP 403 Forbidden: no")));

  CommandResult result = SecretCommand(client_, Options()).Create(std::nullopt);

  EXPECT_EQ(result.exit_code, 1);
  EXPECT_THAT(result.err, HasSubstr("cannot create secrets in namespace "
                                    "kmesh-system: forbidden"));
}

TEST_F(SecretCommandTest, UnreachableServerIsNamed) {
  EXPECT_CALL(client_, Get(_, _, _))
      .WillOnce(Return(absl::UnavailableError(
          "cannot reach the API server at https://10.0.0.1:6443: Connection "
          "refused")));

  CommandResult result = SecretCommand(client_, Options()).Create(std::nullopt);

  EXPECT_EQ(result.exit_code, 1);
  EXPECT_THAT(
      result.err,
      AllOf(HasSubstr("Error: cannot get secret \"kmesh-ipsec\" in "
                      "namespace kmesh-system: cannot reach the API "
                      "server at https://10.0.0.1:6443: Connection "
                      "refused; check that the cluster is running"),
            HasSubstr("kubeconfig /home/op/.kube/config points at it")));
}

TEST_F(SecretCommandTest, UnreachableServerIsNamedEvenIfTheClientDidNot) {
  EXPECT_CALL(client_, Get(_, _, _))
      .WillOnce(Return(absl::UnavailableError("Connection refused")));

  CommandResult result =
      SecretCommand(client_, Options()).Get(SecretOutputFormat::kText);

  EXPECT_EQ(result.exit_code, 1);
  EXPECT_THAT(result.err, HasSubstr("the API server at https://10.0.0.1:6443 "
                                    "is unreachable (Connection refused)"));
}

TEST_F(SecretCommandTest, TimeoutSaysSo) {
  EXPECT_CALL(client_, Get(_, _, _))
      .WillOnce(Return(absl::DeadlineExceededError("no answer in 30s")));

  CommandResult result =
      SecretCommand(client_, Options()).Get(SecretOutputFormat::kText);

  EXPECT_EQ(result.exit_code, 1);
  EXPECT_THAT(result.err, AllOf(HasSubstr("timed out"),
                                HasSubstr("https://10.0.0.1:6443")));
}

TEST_F(SecretCommandTest, RejectedCredentialsSayUnauthorized) {
  EXPECT_CALL(client_, Get(_, _, _))
      .WillOnce(Return(absl::UnauthenticatedError("HTTP 401 Unauthorized")));

  CommandResult result =
      SecretCommand(client_, Options()).Get(SecretOutputFormat::kText);

  EXPECT_EQ(result.exit_code, 1);
  EXPECT_THAT(result.err, AllOf(HasSubstr("unauthorized"),
                                HasSubstr("credentials from kubeconfig "
                                          "/home/op/.kube/config")));
}

TEST_F(SecretCommandTest, MissingNamespaceSaysHowToCreateIt) {
  EXPECT_CALL(client_, Get(_, _, _)).WillOnce(Return(NotFound()));
  EXPECT_CALL(client_, Create(_, _, _))
      .WillOnce(Return(absl::NotFoundError(
          "HTTP 404 NotFound: namespaces \"kmesh-system\" not found")));

  CommandResult result = SecretCommand(client_, Options()).Create(std::nullopt);

  EXPECT_EQ(result.exit_code, 1);
  EXPECT_THAT(result.err, HasSubstr("kubectl create namespace kmesh-system"));
}

TEST_F(SecretCommandTest, KeyEchoedByTheServerIsRedacted) {
  std::string sent;
  EXPECT_CALL(client_, Get(_, _, _)).WillOnce(Return(NotFound()));
  EXPECT_CALL(client_, Create(_, _, _))
      .WillOnce([&](const kube::ResourceKind&, const std::string&,
                    const std::string& body) -> absl::StatusOr<std::string> {
        sent = body;
        // A server that quotes the rejected object, key and all.
        return absl::InvalidArgumentError(
            absl::StrCat("HTTP 422 Invalid: cannot accept ", body, " with ",
                         crypto::HexEncode(TestKey(1).span())));
      });

  CommandResult result = SecretCommand(client_, Options()).Create(std::nullopt);

  EXPECT_EQ(result.exit_code, 1);
  EXPECT_THAT(result.err, HasSubstr("<redacted>"));
  EXPECT_THAT(
      result.err,
      Not(HasSubstr(Json::parse(sent)["data"]["ipSec"].get<std::string>())));
  ExpectNoKey(result.err, TestKey(1));
}

TEST_F(SecretCommandTest, LargestSpiCannotBeRotated) {
  EXPECT_CALL(client_, Get(_, _, _))
      .WillOnce(
          Return(StoredSecretJson(KmeshJson(2147483647, TestKey(2)), "17")));

  CommandResult result = SecretCommand(client_, Options()).Create(std::nullopt);

  EXPECT_EQ(result.exit_code, 1);
  EXPECT_THAT(result.err, HasSubstr("largest"));
}

TEST_F(SecretCommandTest, GetPrintsKmeshLayoutWithHexKey) {
  EXPECT_CALL(client_, Get(_, Eq(kNs), Eq(kName)))
      .WillOnce(Return(StoredSecretJson(KmeshJson(7, TestKey(2)), "17")));

  CommandResult result =
      SecretCommand(client_, Options()).Get(SecretOutputFormat::kText);

  EXPECT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(result.err, "");
  EXPECT_EQ(result.out,
            absl::StrCat("Secret name: kmesh-ipsec\n"
                         "Namespace: kmesh-system\n"
                         "Created: 2024-10-10 08:00:00\n"
                         "IPsec Configuration:\n"
                         "{\n"
                         "  \"spi\": 7,\n"
                         "  \"aeadKeyName\": \"rfc4106(gcm(aes))\",\n"
                         "  \"aeadKey\": \"",
                         crypto::HexEncode(TestKey(2).span()),
                         "\",\n"
                         "  \"length\": 128\n"
                         "}\n"));
}

TEST_F(SecretCommandTest, GetShowsCreationTimeInTheGivenZone) {
  EXPECT_CALL(client_, Get(_, _, _))
      .WillOnce(Return(StoredSecretJson(KmeshJson(7, TestKey(2)), "17")));
  SecretCommandOptions options = Options();
  options.time_zone = absl::FixedTimeZone(8 * 3600);

  CommandResult result =
      SecretCommand(client_, options).Get(SecretOutputFormat::kText);

  EXPECT_THAT(result.out, HasSubstr("Created: 2024-10-10 16:00:00\n"));
}

TEST_F(SecretCommandTest, GetJsonPrintsTheStoredBytes) {
  // Not the canonical layout: -o json shows what is stored, not a rewrite.
  const std::string stored = absl::StrCat(
      "{\"spi\": 3, \"length\": 128, \"aeadKeyName\":\"rfc4106(gcm(aes))\","
      "\"aeadKey\":\"",
      crypto::Base64Encode(TestKey(2).span()), "\"}");
  EXPECT_CALL(client_, Get(_, _, _))
      .WillOnce(Return(StoredSecretJson(stored, "17")));

  CommandResult result =
      SecretCommand(client_, Options()).Get(SecretOutputFormat::kJson);

  EXPECT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(result.out, stored + "\n");
}

TEST_F(SecretCommandTest, GetMissingSecretSaysHowToCreateOne) {
  EXPECT_CALL(client_, Get(_, _, _)).WillOnce(Return(NotFound()));

  CommandResult result =
      SecretCommand(client_, Options()).Get(SecretOutputFormat::kJson);

  EXPECT_EQ(result.exit_code, 1);
  EXPECT_EQ(result.out, "");
  EXPECT_EQ(result.err,
            "Error: secret \"kmesh-ipsec\" not found in namespace "
            "kmesh-system (create one with: kmeshctl secret create)\n");
}

TEST_F(SecretCommandTest, DeleteRemovesTheSecret) {
  EXPECT_CALL(client_, Delete(_, Eq(kNs), Eq(kName)))
      .WillOnce(Return(absl::OkStatus()));

  CommandResult result = SecretCommand(client_, Options()).Delete();

  EXPECT_EQ(result.exit_code, 0);
  EXPECT_EQ(result.out, "secret kmesh-ipsec deleted\n");
}

TEST_F(SecretCommandTest, DeleteMissingSecretFails) {
  EXPECT_CALL(client_, Delete(_, _, _)).WillOnce(Return(NotFound()));

  CommandResult result = SecretCommand(client_, Options()).Delete();

  EXPECT_EQ(result.exit_code, 1);
  EXPECT_EQ(result.err,
            "Error: secret \"kmesh-ipsec\" not found in namespace "
            "kmesh-system (nothing to delete)\n");
}

TEST_F(SecretCommandTest, DeleteRetriedAfterServerErrorCountsNotFoundAsDone) {
  EXPECT_CALL(client_, Delete(_, _, _))
      .WillOnce(Return(ServerError()))
      .WillOnce(Return(NotFound()));

  CommandResult result = SecretCommand(client_, Options()).Delete();

  EXPECT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(sleeps_.size(), 1u);
}

TEST_F(SecretCommandTest, DeleteGivesUpAfterPersistentServerErrors) {
  EXPECT_CALL(client_, Delete(_, _, _))
      .Times(3)
      .WillRepeatedly(Return(ServerError()));

  CommandResult result = SecretCommand(client_, Options()).Delete();

  EXPECT_EQ(result.exit_code, 1);
  EXPECT_THAT(result.err,
              AllOf(HasSubstr("cannot delete"), HasSubstr("server error")));
}

TEST_F(SecretCommandTest, DeleteForbiddenNamesTheVerb) {
  EXPECT_CALL(client_, Delete(_, _, _))
      .WillOnce(Return(absl::PermissionDeniedError("HTTP 403 Forbidden: no")));

  CommandResult result = SecretCommand(client_, Options()).Delete();

  EXPECT_EQ(result.exit_code, 1);
  EXPECT_THAT(result.err, HasSubstr("cannot delete secrets in namespace "
                                    "kmesh-system: forbidden"));
}

}  // namespace
}  // namespace kmesh::kmeshctl
