#include "kmesh/kmeshctl/secret_command.h"

#include <openssl/mem.h>

#include <algorithm>
#include <cstdint>
#include <limits>
#include <random>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/string_view.h"
#include "kmesh/api/ipsec_key_codec.h"
#include "kmesh/base/json_depth.h"
#include "kmesh/crypto/encoding.h"
#include "kmesh/crypto/random.h"
#include "kmesh/kmeshctl/key_argument.h"
#include "kmesh/kube/http_transport.h"
#include "kmesh/kube/kube_status.h"
#include "nlohmann/json.hpp"

namespace kmesh::kmeshctl {
namespace {

using Json = nlohmann::json;

const char kSecretRef[] = "secret \"kmesh-ipsec\" in namespace kmesh-system";
const char kRecreateFix[] =
    "to replace it, run: kmeshctl secret delete && kmeshctl secret create";

// Overwrites and empties a string that held key material (the ipSec JSON,
// a request body, a response).
void WipeString(std::string* s) {
  if (!s->empty()) OPENSSL_cleanse(s->data(), s->size());
  s->clear();
}

class ScopedWipe {
 public:
  explicit ScopedWipe(std::string* s) : s_(s) {}
  ~ScopedWipe() { WipeString(s_); }
  ScopedWipe(const ScopedWipe&) = delete;
  ScopedWipe& operator=(const ScopedWipe&) = delete;

 private:
  std::string* s_;
};

absl::Span<const uint8_t> Bytes(const std::string& s) {
  return absl::MakeConstSpan(reinterpret_cast<const uint8_t*>(s.data()),
                             s.size());
}

// The Secret as read from the API server.
struct StoredSecret {
  Json object;  // All of it, so that an update keeps fields we do not know.
  std::string resource_version;
  std::string creation_timestamp;
  std::string ipsec_json;  // data.ipSec decoded: exactly the bytes stored.
  api::IpsecKeyConfig config;

  StoredSecret() = default;
  StoredSecret(StoredSecret&&) = default;
  StoredSecret& operator=(StoredSecret&&) = default;
  ~StoredSecret() {
    WipeString(&ipsec_json);
    if (!object.is_object()) return;
    auto data = object.find("data");
    if (data == object.end() || !data->is_object()) return;
    for (auto& item : data->items()) {
      if (item.value().is_string()) {
        WipeString(&item.value().get_ref<std::string&>());
      }
    }
  }
};

// Reads the Secret's JSON; an error says why it is unusable (the caller adds
// which secret and the fix) and never contains key bytes.
absl::StatusOr<StoredSecret> ParseStoredSecret(const std::string& text) {
  StoredSecret secret;
  if (absl::Status depth = CheckJsonDepth(text); !depth.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("the API server's answer is ", depth.message()));
  }
  secret.object = Json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (secret.object.is_discarded() || !secret.object.is_object()) {
    return absl::InvalidArgumentError("the API server's answer is not JSON");
  }
  auto metadata = secret.object.find("metadata");
  if (metadata != secret.object.end() && metadata->is_object()) {
    auto version = metadata->find("resourceVersion");
    if (version != metadata->end() && version->is_string()) {
      secret.resource_version = version->get<std::string>();
    }
    auto created = metadata->find("creationTimestamp");
    if (created != metadata->end() && created->is_string()) {
      secret.creation_timestamp = created->get<std::string>();
    }
  }
  auto data = secret.object.find("data");
  if (data == secret.object.end() || !data->is_object()) {
    return absl::InvalidArgumentError("it has no data");
  }
  auto value = data->find(kIpSecSecretDataKey);
  if (value == data->end() || !value->is_string()) {
    return absl::InvalidArgumentError(
        absl::StrCat("it has no data key \"", kIpSecSecretDataKey, "\""));
  }
  absl::StatusOr<crypto::SecretBytes> raw =
      crypto::Base64DecodeSecret(value->get_ref<const std::string&>());
  if (!raw.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("its data key \"", kIpSecSecretDataKey,
                     "\": ", raw.status().message()));
  }
  secret.ipsec_json.assign(reinterpret_cast<const char*>(raw->data()),
                           raw->size());
  absl::StatusOr<api::IpsecKeyConfig> config =
      api::ParseIpsecKeyJson(secret.ipsec_json);
  if (!config.ok()) return config.status();
  secret.config = *std::move(config);
  return secret;
}

// "2024-10-10T08:00:00Z" as "2024-10-10 08:00:00" in `zone` (Go's layout
// "2006-01-02 15:04:05", as Kmesh prints it); unparsable text as it is.
std::string FormatCreationTime(const std::string& rfc3339,
                               absl::TimeZone zone) {
  absl::Time time;
  std::string error;
  if (!absl::ParseTime(absl::RFC3339_full, rfc3339, &time, &error)) {
    return rfc3339;
  }
  return absl::FormatTime("%Y-%m-%d %H:%M:%S", time, zone);
}

// Kmesh's `secret get` layout: Go's json.MarshalIndent (two spaces) of the
// configuration with the key in hex.
std::string IndentedConfig(const api::IpsecKeyConfig& config) {
  std::string key_hex = crypto::HexEncode(config.aead_key.span());
  ScopedWipe wipe_hex(&key_hex);
  return absl::StrCat("{\n  \"spi\": ", config.spi, ",\n  \"aeadKeyName\": ",
                      Json(config.aead_key_name).dump(), ",\n  \"aeadKey\": \"",
                      key_hex, "\",\n  \"length\": ", config.icv_length_bits,
                      "\n}\n");
}

// The whole Secret for a create: type Opaque, data.ipSec = `ipsec_json`.
std::string NewSecretBody(const std::string& ipsec_json) {
  std::string value = crypto::Base64Encode(Bytes(ipsec_json));
  ScopedWipe wipe_value(&value);
  return absl::StrCat(
      "{\"apiVersion\":\"v1\",\"kind\":\"Secret\",\"metadata\":{\"name\":\"",
      kIpSecSecretName, "\",\"namespace\":\"", kIpSecSecretNamespace,
      "\"},\"type\":\"Opaque\",\"data\":{\"", kIpSecSecretDataKey, "\":\"",
      value, "\"}}");
}

CommandResult Failure(absl::string_view message) {
  return CommandResult{1, "", absl::StrCat("Error: ", message, "\n")};
}

CommandResult Success(std::string out) {
  return CommandResult{0, std::move(out), ""};
}

std::string CorruptSecretMessage(const absl::Status& why) {
  return absl::StrCat(kSecretRef, " does not hold a valid Kmesh IPsec key (",
                      why.message(), "); ", kRecreateFix);
}

// Error wording, key redaction and backoff for one command.
class Session {
 public:
  explicit Session(const SecretCommandOptions& options)
      : options_(options), rng_(std::random_device{}()) {}
  ~Session() {
    for (std::string& s : sensitive_) WipeString(&s);
  }
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  // Key material (in any encoding) that must not appear in messages, even
  // if the server echoed it back.
  void AddSensitive(std::string text) {
    if (!text.empty()) sensitive_.push_back(std::move(text));
  }

  void Backoff(int retry) {
    const absl::Duration ceiling =
        options_.backoff_base * (int64_t{1} << std::min(retry - 1, 6));
    std::uniform_int_distribution<int64_t> jitter(
        absl::ToInt64Microseconds(ceiling) / 2,
        absl::ToInt64Microseconds(ceiling));
    options_.sleep(absl::Microseconds(jitter(rng_)));
  }

  std::string Redact(absl::string_view text) const {
    std::string out(text);
    for (const std::string& s : sensitive_) {
      out = absl::StrReplaceAll(out, {{s, "<redacted>"}});
    }
    return out;
  }

  // "cannot <verb> ...: <cause>; <fix>" for a failed API call.
  std::string DescribeApiError(absl::string_view verb,
                               const absl::Status& status) const {
    const std::string said = Redact(status.message());
    const std::string server =
        options_.server.empty()
            ? "the API server"
            : absl::StrCat("the API server at ", options_.server);
    const std::string source = options_.credentials_source.empty()
                                   ? "the kubeconfig"
                                   : options_.credentials_source;
    switch (status.code()) {
      case absl::StatusCode::kPermissionDenied:
        return absl::StrCat(
            "cannot ", verb, " secrets in namespace ", kIpSecSecretNamespace,
            ": forbidden (the kubeconfig's user needs get/create/update/delete "
            "on secrets in ",
            kIpSecSecretNamespace,
            "; grant them with a Role and RoleBinding); the API server said: ",
            said);
      case absl::StatusCode::kUnauthenticated:
        return absl::StrCat(
            "cannot ", verb, " secrets in namespace ", kIpSecSecretNamespace,
            ": unauthorized: ", server, " did not accept the credentials from ",
            source,
            " (check the user's client certificate and key or token; they may "
            "have expired); the API server said: ",
            said);
      case absl::StatusCode::kDeadlineExceeded:
        return absl::StrCat("cannot ", verb, " ", kSecretRef, ": timed out (",
                            said, "); check that ", server,
                            " is up and reachable, then try again");
      case absl::StatusCode::kUnavailable:
        if (absl::StrContains(said, "HTTP 5")) {
          return absl::StrCat(
              "cannot ", verb, " ", kSecretRef, ": ", server,
              " kept failing with a server error (", said,
              "); try again later, and if it persists check the API server's "
              "health (kubectl get --raw='/readyz?verbose')");
        }
        if (absl::StrContains(said, "HTTP 429")) {
          return absl::StrCat("cannot ", verb, " ", kSecretRef, ": ", server,
                              " is throttling requests (", said,
                              "); try again later");
        }
        if (!options_.server.empty() &&
            absl::StrContains(said, options_.server)) {
          return absl::StrCat("cannot ", verb, " ", kSecretRef, ": ", said,
                              "; check that the cluster is running and that ",
                              source, " points at it");
        }
        return absl::StrCat("cannot ", verb, " ", kSecretRef, ": ", server,
                            " is unreachable (", said,
                            "); check that the cluster is running and that ",
                            source, " points at it");
      case absl::StatusCode::kInvalidArgument:
        return absl::StrCat("cannot ", verb, " ", kSecretRef,
                            ": the API server rejected the request (", said,
                            ")");
      case absl::StatusCode::kFailedPrecondition:
        return absl::StrCat("cannot ", verb, " ", kSecretRef, ": ", said,
                            "; check the certificate authority in ", source);
      default:
        return absl::StrCat("cannot ", verb, " ", kSecretRef, ": ", said);
    }
  }

 private:
  const SecretCommandOptions& options_;
  std::mt19937_64 rng_;
  std::vector<std::string> sensitive_;
};

// A transient failure of a write we made: was it applied? Unknown until the
// secret is read back.
struct UncertainWrite {
  std::string verb;      // "create" or "update".
  absl::Status failure;  // What the write returned.
  // For an update: the SPI we rotated from; for a create: nullopt.
  std::optional<int32_t> from_spi;
};

// A transient failure after which the write may or may not have been
// applied. When the request never left (connection refused), the client has
// already retried it as often as is useful, and nothing was applied.
bool MaybeApplied(const absl::Status& status) {
  return kube::IsRetryable(status) && !kube::RequestNotSent(status);
}

std::string CreatedLine(int32_t spi) {
  return absl::StrCat("secret ", kIpSecSecretName, " created, spi ", spi, "\n");
}

std::string RotatedLine(int32_t from, int32_t to) {
  return absl::StrCat("secret ", kIpSecSecretName, " rotated, spi ", from,
                      " -> ", to, "\n");
}

}  // namespace

SecretCommand::SecretCommand(kube::KubeClient& client,
                             SecretCommandOptions options)
    : client_(client), options_(std::move(options)) {
  if (!options_.new_key) {
    options_.new_key = [] {
      return crypto::RandomSecretBytes(kPreSharedKeyBytes);
    };
  }
  if (!options_.sleep) options_.sleep = [](absl::Duration) {};
  options_.max_write_attempts = std::max(options_.max_write_attempts, 1);
  options_.max_unavailable_write_attempts =
      std::max(options_.max_unavailable_write_attempts, 1);
}

CommandResult SecretCommand::Create(const std::optional<std::string>& key_hex) {
  if (!key_hex.has_value()) return CreateWithKey(options_.new_key());
  absl::StatusOr<crypto::SecretBytes> key = ParseKeyArgument(*key_hex);
  if (!key.ok()) return Failure(key.status().message());
  return CreateWithKey(*key);
}

CommandResult SecretCommand::CreateWithKey(const crypto::SecretBytes& key) {
  if (key.size() != kPreSharedKeyBytes) {
    return Failure(absl::StrCat(
        "invalid key length: expected 36 bytes, got ", key.size(),
        " bytes (key must be 256-bit + 32-bit salt); ", kKeyArgumentHint));
  }
  Session session(options_);
  session.AddSensitive(crypto::Base64Encode(key.span()));
  session.AddSensitive(crypto::HexEncode(key.span()));

  // Set after a write failed in a way that leaves open whether it was
  // applied (a timeout, a 5xx); the next read tells.
  std::optional<UncertainWrite> uncertain;
  int uncertain_count = 0;  // Writes that failed so.
  int races_lost = 0;       // Writes refused because someone wrote first.

  for (int cycle = 0;; ++cycle) {
    if (cycle > 0) session.Backoff(cycle);
    const bool final_check =
        uncertain_count >= options_.max_unavailable_write_attempts;

    absl::StatusOr<std::string> current = client_.Get(
        kube::SecretsKind(), kIpSecSecretNamespace, kIpSecSecretName);
    std::string current_text = current.ok() ? *std::move(current) : "";
    ScopedWipe wipe_current(&current_text);
    if (!current.ok() && !kube::IsNotFound(current.status())) {
      if (uncertain.has_value()) {
        return Failure(absl::StrCat(
            session.DescribeApiError(uncertain->verb, uncertain->failure),
            "; reading the secret back failed too (",
            session.Redact(current.status().message()),
            "), so whether the new key was stored is unknown: check with "
            "kmeshctl secret get"));
      }
      return Failure(session.DescribeApiError("get", current.status()));
    }

    std::optional<StoredSecret> stored;
    if (current.ok()) {
      absl::StatusOr<StoredSecret> parsed = ParseStoredSecret(current_text);
      if (!parsed.ok()) return Failure(CorruptSecretMessage(parsed.status()));
      stored.emplace(*std::move(parsed));
      const int32_t spi = stored->config.spi;
      if (stored->config.aead_key.Equals(key)) {  // Constant time.
        if (uncertain.has_value()) {
          // Our earlier write landed although we did not see the answer.
          return Success(uncertain->from_spi.has_value()
                             ? RotatedLine(spi - 1, spi)
                             : CreatedLine(spi));
        }
        return Failure(absl::StrCat(
            "the new key is the key already stored in ", kSecretRef, " (spi ",
            spi,
            "); refusing to reuse it: the same key under a new SPI restarts "
            "ESP sequence numbers under the same derived keys, which repeats "
            "AES-GCM nonces and breaks the encryption. Nothing was changed; "
            "give a different --key, or leave out --key for a random key"));
      }
    }
    if (final_check) {
      // Our key is not stored, so none of our writes was applied.
      return Failure(absl::StrCat(
          session.DescribeApiError(uncertain->verb, uncertain->failure),
          "; gave up after ", uncertain_count,
          " attempts and the secret was not changed"));
    }

    if (!stored.has_value()) {
      // No secret yet: create it with SPI 1.
      absl::StatusOr<api::IpsecKeyConfig> config =
          api::MakeIpsecKeyConfig(1, key.Clone());
      absl::StatusOr<std::string> ipsec_json =
          config.ok() ? api::SerializeIpsecKeyJson(*config)
                      : absl::StatusOr<std::string>(config.status());
      if (!ipsec_json.ok()) return Failure(ipsec_json.status().message());
      ScopedWipe wipe_json(&*ipsec_json);
      session.AddSensitive(crypto::Base64Encode(Bytes(*ipsec_json)));
      std::string body = NewSecretBody(*ipsec_json);
      ScopedWipe wipe_body(&body);
      absl::StatusOr<std::string> created =
          client_.Create(kube::SecretsKind(), kIpSecSecretNamespace, body);
      if (created.ok()) {
        WipeString(&*created);
        return Success(CreatedLine(1));
      }
      if (kube::IsAlreadyExists(created.status())) {
        // Someone created it since we looked: rotate theirs instead.
        if (++races_lost >= options_.max_write_attempts) break;
        continue;
      }
      if (MaybeApplied(created.status())) {
        uncertain = UncertainWrite{"create", created.status(), std::nullopt};
        ++uncertain_count;
        continue;
      }
      if (kube::IsNotFound(created.status())) {
        return Failure(absl::StrCat(
            "cannot create ", kSecretRef, ": namespace ", kIpSecSecretNamespace,
            " does not exist; install Kmesh first, or run: kubectl create "
            "namespace ",
            kIpSecSecretNamespace, " (the API server said: ",
            session.Redact(created.status().message()), ")"));
      }
      return Failure(session.DescribeApiError("create", created.status()));
    }

    // Rotate: the stored SPI + 1, conditional on the resourceVersion read.
    const int32_t spi = stored->config.spi;
    if (spi == std::numeric_limits<int32_t>::max()) {
      return Failure(absl::StrCat("cannot rotate ", kSecretRef, ": spi ", spi,
                                  " is the largest there is; ", kRecreateFix,
                                  " (starts again at spi 1)"));
    }
    if (stored->resource_version.empty()) {
      return Failure(absl::StrCat(
          "cannot rotate ", kSecretRef,
          ": the API server sent it without a resourceVersion, so it cannot "
          "be updated safely"));
    }
    absl::StatusOr<api::IpsecKeyConfig> config =
        api::MakeIpsecKeyConfig(spi + 1, key.Clone());
    absl::StatusOr<std::string> ipsec_json =
        config.ok() ? api::SerializeIpsecKeyJson(*config)
                    : absl::StatusOr<std::string>(config.status());
    if (!ipsec_json.ok()) return Failure(ipsec_json.status().message());
    ScopedWipe wipe_json(&*ipsec_json);
    std::string value = crypto::Base64Encode(Bytes(*ipsec_json));
    session.AddSensitive(value);
    Json& stored_value = stored->object["data"][kIpSecSecretDataKey];
    WipeString(&stored_value.get_ref<std::string&>());
    stored_value = std::move(value);
    stored->object["metadata"]["resourceVersion"] = stored->resource_version;
    std::string body = stored->object.dump();
    ScopedWipe wipe_body(&body);
    absl::StatusOr<std::string> updated = client_.Update(
        kube::SecretsKind(), kIpSecSecretNamespace, kIpSecSecretName, body);
    if (updated.ok()) {
      WipeString(&*updated);
      return Success(RotatedLine(spi, spi + 1));
    }
    if (kube::IsConflict(updated.status()) ||
        kube::IsNotFound(updated.status())) {
      // Someone else rotated (or deleted) it first: read again and redo.
      if (++races_lost >= options_.max_write_attempts) break;
      continue;
    }
    if (MaybeApplied(updated.status())) {
      uncertain = UncertainWrite{"update", updated.status(), spi};
      ++uncertain_count;
      continue;
    }
    return Failure(session.DescribeApiError("update", updated.status()));
  }
  return Failure(absl::StrCat(
      "cannot write ", kSecretRef, ": others changed it first on all ",
      options_.max_write_attempts,
      " attempts (several rotations at once?); nothing of ours was written, "
      "try again"));
}

namespace {

// Reads and parses the stored secret; an error's message is the complete
// text for the user (not found, API failure, corrupt secret).
absl::StatusOr<StoredSecret> ReadStoredSecret(kube::KubeClient& client,
                                              const Session& session) {
  absl::StatusOr<std::string> current =
      client.Get(kube::SecretsKind(), kIpSecSecretNamespace, kIpSecSecretName);
  if (!current.ok() && kube::IsNotFound(current.status())) {
    return absl::NotFoundError(absl::StrCat(
        "secret \"", kIpSecSecretName, "\" not found in namespace ",
        kIpSecSecretNamespace, " (create one with: kmeshctl secret create)"));
  }
  if (!current.ok()) {
    return absl::Status(current.status().code(),
                        session.DescribeApiError("get", current.status()));
  }
  ScopedWipe wipe_current(&*current);
  absl::StatusOr<StoredSecret> stored = ParseStoredSecret(*current);
  if (!stored.ok()) {
    return absl::DataLossError(CorruptSecretMessage(stored.status()));
  }
  return stored;
}

}  // namespace

absl::StatusOr<SecretSummary> SecretCommand::Summary() {
  Session session(options_);
  absl::StatusOr<StoredSecret> stored = ReadStoredSecret(client_, session);
  if (!stored.ok()) return stored.status();
  SecretSummary summary;
  summary.spi = stored->config.spi;
  summary.algorithm = stored->config.aead_key_name;
  summary.creation_timestamp = stored->creation_timestamp;
  // The newest managedFields entry is the last write.
  std::optional<absl::Time> newest;
  auto metadata = stored->object.find("metadata");
  if (metadata != stored->object.end() && metadata->is_object()) {
    auto managed = metadata->find("managedFields");
    if (managed != metadata->end() && managed->is_array()) {
      for (const Json& entry : *managed) {
        if (!entry.is_object()) continue;
        auto time = entry.find("time");
        if (time == entry.end() || !time->is_string()) continue;
        absl::Time parsed;
        std::string error;
        if (absl::ParseTime(absl::RFC3339_full, time->get<std::string>(),
                            &parsed, &error) &&
            (!newest || parsed > *newest)) {
          newest = parsed;
        }
      }
    }
  }
  if (newest) {
    summary.last_write_time =
        absl::FormatTime(absl::RFC3339_full, *newest, absl::UTCTimeZone());
  }
  return summary;
}

CommandResult SecretCommand::Get(SecretOutputFormat format) {
  Session session(options_);
  absl::StatusOr<StoredSecret> stored = ReadStoredSecret(client_, session);
  if (!stored.ok()) return Failure(stored.status().message());

  if (format == SecretOutputFormat::kJson) {
    return Success(absl::StrCat(stored->ipsec_json, "\n"));
  }
  std::string name = kIpSecSecretName;
  std::string ns = kIpSecSecretNamespace;
  auto metadata = stored->object.find("metadata");
  if (metadata != stored->object.end() && metadata->is_object()) {
    auto n = metadata->find("name");
    if (n != metadata->end() && n->is_string()) name = n->get<std::string>();
    auto s = metadata->find("namespace");
    if (s != metadata->end() && s->is_string()) ns = s->get<std::string>();
  }
  return Success(absl::StrCat(
      "Secret name: ", name, "\nNamespace: ", ns, "\nCreated: ",
      FormatCreationTime(stored->creation_timestamp, options_.time_zone),
      "\nIPsec Configuration:\n", IndentedConfig(stored->config)));
}

CommandResult SecretCommand::Delete() {
  Session session(options_);
  bool maybe_deleted = false;
  absl::Status status;
  for (int attempt = 1;; ++attempt) {
    status = client_.Delete(kube::SecretsKind(), kIpSecSecretNamespace,
                            kIpSecSecretName);
    if (!MaybeApplied(status) ||
        attempt >= options_.max_unavailable_write_attempts) {
      break;
    }
    maybe_deleted = true;
    session.Backoff(attempt);
  }
  if (status.ok() || (maybe_deleted && kube::IsNotFound(status))) {
    return Success(absl::StrCat("secret ", kIpSecSecretName, " deleted\n"));
  }
  if (kube::IsNotFound(status)) {
    return Failure(absl::StrCat("secret \"", kIpSecSecretName,
                                "\" not found in namespace ",
                                kIpSecSecretNamespace, " (nothing to delete)"));
  }
  return Failure(session.DescribeApiError("delete", status));
}

}  // namespace kmesh::kmeshctl
