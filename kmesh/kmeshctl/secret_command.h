// SecretCommand: the logic of `kmeshctl secret create | get | delete` over a
// KubeClient, apart from argument parsing and process setup, so that every
// branch can be tested against a mock client or the simulated API server.
//
// The IPsec pre-shared key lives in the Secret kmesh-ipsec (namespace
// kmesh-system, type Opaque) under the data key "ipSec", as Kmesh's JSON
// {"spi":N,"aeadKeyName":"rfc4106(gcm(aes))","aeadKey":"<base64>","length":128}.
// `create` stores SPI 1 when there is no secret and otherwise the stored SPI
// + 1, by read-modify-write with the Secret's resourceVersion: a write that
// lost a race (HTTP 409) is retried from a fresh read, so concurrent
// rotations each get their own SPI and none is lost. A key equal to the
// stored one is refused (it would repeat AES-GCM nonces). A write that failed
// in a way that leaves open whether it was applied (timeout, 5xx) is checked
// by reading the secret back before it is redone, so no rotation is applied
// twice. Each command returns its exit code (0 or 1) and the
// text for stdout and stderr; error text names the cause and the fix and
// never contains key material.
#ifndef KMESH_KMESHCTL_SECRET_COMMAND_H_
#define KMESH_KMESHCTL_SECRET_COMMAND_H_

#include <functional>
#include <optional>
#include <string>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "kmesh/crypto/secret_bytes.h"
#include "kmesh/kube/kube_client.h"

namespace kmesh::kmeshctl {

inline constexpr char kIpSecSecretName[] = "kmesh-ipsec";
inline constexpr char kIpSecSecretNamespace[] = "kmesh-system";
inline constexpr char kIpSecSecretDataKey[] = "ipSec";

// What a command did: the process exit code and its output.
struct CommandResult {
  int exit_code = 0;
  std::string out;  // For stdout.
  std::string err;  // For stderr; "Error: ...\n" on failure.
};

// `get` output: Kmesh's human-readable layout, or the stored JSON alone.
enum class SecretOutputFormat { kText, kJson };

struct SecretCommandOptions {
  // The API server URL and where the credentials came from, for messages
  // ("https://10.0.0.1:6443", "kubeconfig /root/.kube/config (context x)").
  std::string server;
  std::string credentials_source;
  // Read-modify-write cycles of `create` before giving up while the secret
  // keeps changing under us (409 Conflict, AlreadyExists on create).
  int max_write_attempts = 10;
  // How many of those cycles may end in a transient failure of the write
  // (timeout, 5xx, 429, connection lost) before giving up. Reads are not
  // retried here: the KubeClient (RestKubeClient) already retries them.
  // After a transient write failure the secret is read back, which tells
  // whether the write landed; only then is it redone.
  int max_unavailable_write_attempts = 3;
  // Backoff before retry n (1-based) is uniformly random in
  // [base * 2^(n-1) / 2, base * 2^(n-1)].
  absl::Duration backoff_base = absl::Milliseconds(50);
  // Waits between retries; tests record instead of sleeping.
  std::function<void(absl::Duration)> sleep = [](absl::Duration d) {
    absl::SleepFor(d);
  };
  // A fresh 36-byte key for `create` without --key (BoringSSL's CSPRNG).
  std::function<crypto::SecretBytes()> new_key;
  // Zone in which `get` prints the creation time (Kmesh prints local time).
  absl::TimeZone time_zone = absl::UTCTimeZone();
};

// What `secret status` needs of the stored secret: never the key.
struct SecretSummary {
  int32_t spi = 0;
  std::string algorithm;           // "rfc4106(gcm(aes))"
  std::string creation_timestamp;  // RFC 3339, as the API server wrote it.
  // The newest `time` of metadata.managedFields (RFC 3339): when the
  // Secret was last written, on API servers that track field managers
  // (every real one since Kubernetes 1.18); empty when there is none.
  std::string last_write_time;
};

class SecretCommand {
 public:
  // `client` must outlive the command.
  SecretCommand(kube::KubeClient& client, SecretCommandOptions options);

  // `key_hex`: the --key argument as typed; nullopt = a random key. Invalid
  // keys fail before any API call.
  CommandResult Create(const std::optional<std::string>& key_hex);
  // Like Create with a key already decoded (36 bytes).
  CommandResult CreateWithKey(const crypto::SecretBytes& key);
  CommandResult Get(SecretOutputFormat format);
  CommandResult Delete();
  // The stored secret's SPI, algorithm and creation time. An error's message
  // is the complete text for the user, as Get's: not found (NotFound), the
  // API server failing, or a corrupt secret (DataLoss).
  absl::StatusOr<SecretSummary> Summary();

 private:
  kube::KubeClient& client_;
  SecretCommandOptions options_;
};

}  // namespace kmesh::kmeshctl

#endif  // KMESH_KMESHCTL_SECRET_COMMAND_H_
