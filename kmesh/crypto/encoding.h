// Strict hex and standard base64 (RFC 4648 section 4, with padding) codecs for
// key material and binary blobs. Decoders accept only canonical input: hex
// must have even length and only [0-9a-fA-F]; base64 must be a multiple of 4
// characters from the standard alphabet, padded with '=', with zero unused
// bits (what every encoder, including Go's encoding/base64, writes). No
// whitespace is accepted. Error messages say what is wrong and at which offset
// but never repeat the input, since it may be a key. Variants decoding into
// SecretBytes leave no unwiped copy behind.
#ifndef KMESH_CRYPTO_ENCODING_H_
#define KMESH_CRYPTO_ENCODING_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "kmesh/crypto/boringssl_guard.h"
#include "kmesh/crypto/secret_bytes.h"

namespace kmesh::crypto {

// Lower-case hex, two digits per byte.
std::string HexEncode(absl::Span<const uint8_t> bytes);

// Errors (InvalidArgument) start with "invalid hex".
absl::StatusOr<std::vector<uint8_t>> HexDecode(absl::string_view hex);
absl::StatusOr<SecretBytes> HexDecodeSecret(absl::string_view hex);

// Standard alphabet, padded.
std::string Base64Encode(absl::Span<const uint8_t> bytes);

// Errors (InvalidArgument) start with "invalid base64".
absl::StatusOr<std::vector<uint8_t>> Base64Decode(absl::string_view base64);
absl::StatusOr<SecretBytes> Base64DecodeSecret(absl::string_view base64);

}  // namespace kmesh::crypto

#endif  // KMESH_CRYPTO_ENCODING_H_
