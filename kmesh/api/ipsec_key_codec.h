// The IPsec pre-shared key as Kmesh stores it in the Secret kmesh-ipsec (data
// key "ipSec") and as the daemon reads it from the mounted file:
//   {"spi":1,"aeadKeyName":"rfc4106(gcm(aes))","aeadKey":"<base64>","length":128}
// ParseIpsecKeyJson checks every field (spi > 0, the one supported algorithm,
// a 36-byte key, a 128-bit ICV) and returns the key in SecretBytes, wiping the
// parser's copy; SerializeIpsecKeyJson writes exactly the bytes Go's
// json.Marshal writes for Kmesh's IpSecKey struct. kmeshctl and the daemon's
// key-file reader share this code. Error messages never contain key bytes.
#ifndef KMESH_API_IPSEC_KEY_CODEC_H_
#define KMESH_API_IPSEC_KEY_CODEC_H_

#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "kmesh/crypto/secret_bytes.h"

namespace kmesh::api {

// The only algorithm Kmesh uses: AES-256-GCM as RFC 4106 ESP.
inline constexpr char kIpsecAeadKeyName[] = "rfc4106(gcm(aes))";
// 32-byte AES-256 key followed by the 4-byte GCM salt.
inline constexpr size_t kIpsecAeadKeySize = 36;
// ICV length in bits (16 bytes).
inline constexpr int32_t kIpsecIcvLengthBits = 128;

struct IpsecKeyConfig {
  int32_t spi = 0;
  std::string aead_key_name;
  crypto::SecretBytes aead_key;
  int32_t icv_length_bits = 0;  // JSON "length".

  // {spi: 1, aeadKeyName: "rfc4106(gcm(aes))", aeadKey: <36 secret bytes>,
  //  length: 128}: never the key.
  std::string DebugString() const;
};

// A config for `aead_key` under `spi` with the standard algorithm and ICV
// length; InvalidArgument if `spi` or the key size is wrong.
absl::StatusOr<IpsecKeyConfig> MakeIpsecKeyConfig(int32_t spi,
                                                  crypto::SecretBytes aead_key);

// OK when every field has the value Kmesh requires; otherwise
// InvalidArgument naming the field, what it must be and what it is.
absl::Status ValidateIpsecKeyConfig(const IpsecKeyConfig& config);

// Parses and validates the secret's JSON. As strict as Kmesh's Go code
// (encoding/json): numbers must be JSON numbers, aeadKey standard padded
// base64; absent or null fields count as zero/empty. Unknown fields are
// ignored.
absl::StatusOr<IpsecKeyConfig> ParseIpsecKeyJson(absl::string_view json);

// Validates `config` and writes it as Go's json.Marshal would.
absl::StatusOr<std::string> SerializeIpsecKeyJson(const IpsecKeyConfig& config);

}  // namespace kmesh::api

#endif  // KMESH_API_IPSEC_KEY_CODEC_H_
