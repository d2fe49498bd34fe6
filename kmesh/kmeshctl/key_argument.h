// The `--key` argument of `kmeshctl secret create`: 72 hex digits that become
// the 36-byte IPsec pre-shared key (a 32-byte AES-256 key followed by the
// 4-byte GCM salt). Validation errors say what is wrong (empty, a "0x" prefix,
// which character is not a hex digit, how many digits were given) and how to
// produce a valid key, but never repeat the argument, since it is a key.
#ifndef KMESH_KMESHCTL_KEY_ARGUMENT_H_
#define KMESH_KMESHCTL_KEY_ARGUMENT_H_

#include <cstddef>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "kmesh/crypto/secret_bytes.h"

namespace kmesh::kmeshctl {

// Bytes of the pre-shared key: AES-256 key (32) + GCM salt (4).
inline constexpr size_t kPreSharedKeyBytes = 36;

// How an operator makes a valid --key; every error message ends with this.
extern const char kKeyArgumentHint[];

// Decodes `hex` into the 36-byte key. Errors are InvalidArgument and start
// with "invalid hex" or "invalid key length" (or "invalid key" when empty).
absl::StatusOr<crypto::SecretBytes> ParseKeyArgument(absl::string_view hex);

}  // namespace kmesh::kmeshctl

#endif  // KMESH_KMESHCTL_KEY_ARGUMENT_H_
