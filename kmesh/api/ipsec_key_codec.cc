#include "kmesh/api/ipsec_key_codec.h"

#include <openssl/mem.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "google/protobuf/struct.pb.h"
#include "kmesh/api/ipsec_key.pb.h"
#include "kmesh/api/json_codec.h"
#include "kmesh/crypto/boringssl_guard.h"
#include "kmesh/crypto/encoding.h"

namespace kmesh::api {
namespace {

// Long enough for any sensible algorithm name; a runaway value is cut.
constexpr size_t kMaxEchoedNameLength = 64;

std::string QuotedName(absl::string_view name) {
  if (name.size() > kMaxEchoedNameLength) {
    return absl::StrCat("\"", name.substr(0, kMaxEchoedNameLength), "\"...");
  }
  return absl::StrCat("\"", name, "\"");
}

constexpr char kSpiField[] = "spi";
constexpr char kAeadKeyNameField[] = "aeadKeyName";
constexpr char kAeadKeyField[] = "aeadKey";
constexpr char kLengthField[] = "length";

void WipeString(std::string* s) {
  OPENSSL_cleanse(s->data(), s->size());
  s->clear();
}

// Wipes the base64 key a parsed JSON object holds, on every way out.
class ScopedStructKeyWipe {
 public:
  explicit ScopedStructKeyWipe(google::protobuf::Struct* object)
      : object_(object) {}
  ~ScopedStructKeyWipe() {
    auto it = object_->mutable_fields()->find(kAeadKeyField);
    if (it != object_->mutable_fields()->end() &&
        it->second.kind_case() == google::protobuf::Value::kStringValue) {
      WipeString(it->second.mutable_string_value());
    }
  }
  ScopedStructKeyWipe(const ScopedStructKeyWipe&) = delete;
  ScopedStructKeyWipe& operator=(const ScopedStructKeyWipe&) = delete;

 private:
  google::protobuf::Struct* object_;
};

// Wipes the raw key an IpSecKey message holds, on every way out.
class ScopedMessageKeyWipe {
 public:
  explicit ScopedMessageKeyWipe(IpSecKey* message) : message_(message) {}
  ~ScopedMessageKeyWipe() { WipeString(message_->mutable_aead_key()); }
  ScopedMessageKeyWipe(const ScopedMessageKeyWipe&) = delete;
  ScopedMessageKeyWipe& operator=(const ScopedMessageKeyWipe&) = delete;

 private:
  IpSecKey* message_;
};

const char* KindName(const google::protobuf::Value& value) {
  switch (value.kind_case()) {
    case google::protobuf::Value::kNumberValue:
      return "a number";
    case google::protobuf::Value::kStringValue:
      return "a string";
    case google::protobuf::Value::kBoolValue:
      return "a boolean";
    case google::protobuf::Value::kStructValue:
      return "an object";
    case google::protobuf::Value::kListValue:
      return "an array";
    default:
      return "null";
  }
}

// The field's value, or nullptr when it is absent or null (Go's
// encoding/json then leaves the zero value).
const google::protobuf::Value* FindField(const google::protobuf::Struct& object,
                                         const char* name) {
  auto it = object.fields().find(name);
  if (it == object.fields().end() ||
      it->second.kind_case() == google::protobuf::Value::kNullValue) {
    return nullptr;
  }
  return &it->second;
}

absl::StatusOr<int32_t> IntegerField(const google::protobuf::Struct& object,
                                     const char* name) {
  const google::protobuf::Value* value = FindField(object, name);
  if (value == nullptr) return 0;
  if (value->kind_case() != google::protobuf::Value::kNumberValue) {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid IPsec key: \"", name, "\" must be a number, got ",
                     KindName(*value)));
  }
  const double number = value->number_value();
  if (number != std::trunc(number) ||
      number < std::numeric_limits<int32_t>::min() ||
      number > std::numeric_limits<int32_t>::max()) {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid IPsec key: \"", name,
                     "\" must be a 32-bit integer, got ", number));
  }
  return static_cast<int32_t>(number);
}

absl::StatusOr<std::string> StringField(const google::protobuf::Struct& object,
                                        const char* name) {
  const google::protobuf::Value* value = FindField(object, name);
  if (value == nullptr) return std::string();
  if (value->kind_case() != google::protobuf::Value::kStringValue) {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid IPsec key: \"", name, "\" must be a string, got ",
                     KindName(*value)));
  }
  return value->string_value();
}

// aeadKey: standard padded base64, strictly, as Go's []byte decoding wants.
absl::StatusOr<crypto::SecretBytes> KeyField(
    const google::protobuf::Struct& object) {
  const google::protobuf::Value* value = FindField(object, kAeadKeyField);
  if (value == nullptr) return crypto::SecretBytes();
  if (value->kind_case() != google::protobuf::Value::kStringValue) {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid IPsec key: \"", kAeadKeyField,
                     "\" must be a base64 string, got ", KindName(*value)));
  }
  absl::StatusOr<crypto::SecretBytes> key =
      crypto::Base64DecodeSecret(value->string_value());
  if (!key.ok()) {
    // The decoder's messages never contain its input.
    return absl::InvalidArgumentError(
        absl::StrCat("invalid IPsec key: \"", kAeadKeyField,
                     "\": ", key.status().message()));
  }
  return key;
}

}  // namespace

std::string IpsecKeyConfig::DebugString() const {
  return absl::StrCat("{spi: ", spi,
                      ", aeadKeyName: ", QuotedName(aead_key_name),
                      ", aeadKey: ", aead_key.DebugString(),
                      ", length: ", icv_length_bits, "}");
}

absl::StatusOr<IpsecKeyConfig> MakeIpsecKeyConfig(
    int32_t spi, crypto::SecretBytes aead_key) {
  IpsecKeyConfig config;
  config.spi = spi;
  config.aead_key_name = kIpsecAeadKeyName;
  config.aead_key = std::move(aead_key);
  config.icv_length_bits = kIpsecIcvLengthBits;
  if (absl::Status status = ValidateIpsecKeyConfig(config); !status.ok()) {
    return status;
  }
  return config;
}

absl::Status ValidateIpsecKeyConfig(const IpsecKeyConfig& config) {
  if (config.spi <= 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "invalid IPsec key: \"spi\" must be greater than 0, got ", config.spi));
  }
  if (config.aead_key_name != kIpsecAeadKeyName) {
    return absl::InvalidArgumentError(absl::StrCat(
        "invalid IPsec key: \"aeadKeyName\" must be \"", kIpsecAeadKeyName,
        "\", got ", QuotedName(config.aead_key_name)));
  }
  if (config.aead_key.size() != kIpsecAeadKeySize) {
    return absl::InvalidArgumentError(absl::StrCat(
        "invalid IPsec key: \"aeadKey\" must be ", kIpsecAeadKeySize,
        " bytes (a 32-byte AES-256 key followed by a 4-byte salt), got ",
        config.aead_key.size(), " bytes"));
  }
  if (config.icv_length_bits != kIpsecIcvLengthBits) {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid IPsec key: \"length\" (ICV bits) must be ",
                     kIpsecIcvLengthBits, ", got ", config.icv_length_bits));
  }
  return absl::OkStatus();
}

absl::StatusOr<IpsecKeyConfig> ParseIpsecKeyJson(absl::string_view json) {
  // Parsed as a plain JSON object rather than straight into IpSecKey:
  // protobuf would also take quoted numbers, URL-safe or unpadded base64,
  // which Kmesh's Go code (encoding/json) rejects. A secret accepted here must
  // work for Kmesh too.
  google::protobuf::Struct object;
  ScopedStructKeyWipe wipe(&object);
  if (absl::Status status = ParseJsonInto(json, &object); !status.ok()) {
    // ParseJsonInto's reason, without its "cannot parse <type>" preamble.
    return absl::InvalidArgumentError(absl::StrCat(
        "invalid IPsec key: malformed JSON: ",
        absl::StripPrefix(status.message(),
                          absl::StrCat("cannot parse ", object.GetTypeName(),
                                       " from JSON: "))));
  }
  IpsecKeyConfig config;
  absl::StatusOr<int32_t> spi = IntegerField(object, kSpiField);
  if (!spi.ok()) return spi.status();
  config.spi = *spi;
  absl::StatusOr<std::string> name = StringField(object, kAeadKeyNameField);
  if (!name.ok()) return name.status();
  config.aead_key_name = *std::move(name);
  absl::StatusOr<crypto::SecretBytes> key = KeyField(object);
  if (!key.ok()) return key.status();
  config.aead_key = *std::move(key);
  absl::StatusOr<int32_t> length = IntegerField(object, kLengthField);
  if (!length.ok()) return length.status();
  config.icv_length_bits = *length;
  if (absl::Status status = ValidateIpsecKeyConfig(config); !status.ok()) {
    return status;
  }
  return config;
}

absl::StatusOr<std::string> SerializeIpsecKeyJson(
    const IpsecKeyConfig& config) {
  if (absl::Status status = ValidateIpsecKeyConfig(config); !status.ok()) {
    return status;
  }
  IpSecKey message;
  ScopedMessageKeyWipe wipe(&message);
  message.set_spi(config.spi);
  message.set_aead_key_name(config.aead_key_name);
  // Sized once so the string never reallocates around the key.
  std::string* key = message.mutable_aead_key();
  key->resize(config.aead_key.size());
  std::copy(config.aead_key.data(),
            config.aead_key.data() + config.aead_key.size(), key->begin());
  message.set_length(config.icv_length_bits);
  return ToJson(message);
}

}  // namespace kmesh::api
