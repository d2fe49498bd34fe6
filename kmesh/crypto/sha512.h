// Sha512Hasher: incremental SHA-512 over a concatenation of byte strings, as
// Kmesh's per-pair key derivation needs (SHA-512 of PSK || srcIP || dstIP ||
// srcBootID || dstBootID). The digest is returned as SecretBytes because its
// main use is key material; the hashing state, which has absorbed the PSK, is
// wiped when the hasher is finished or destroyed.
#ifndef KMESH_CRYPTO_SHA512_H_
#define KMESH_CRYPTO_SHA512_H_

#include <openssl/sha.h>

#include <cstddef>
#include <cstdint>

#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "kmesh/crypto/boringssl_guard.h"
#include "kmesh/crypto/secret_bytes.h"

namespace kmesh::crypto {

class Sha512Hasher {
 public:
  static constexpr size_t kDigestSize = SHA512_DIGEST_LENGTH;  // 64

  Sha512Hasher();
  ~Sha512Hasher();
  Sha512Hasher(const Sha512Hasher&) = delete;
  Sha512Hasher& operator=(const Sha512Hasher&) = delete;

  // Appends bytes to the message. Returns *this so calls can be chained.
  Sha512Hasher& Update(absl::Span<const uint8_t> bytes);
  Sha512Hasher& Update(absl::string_view bytes);
  Sha512Hasher& Update(const SecretBytes& bytes);

  // The 64-byte digest of everything appended since construction or the last
  // Finish(). The hasher is then reset to hash a new message.
  SecretBytes Finish();

 private:
  SHA512_CTX ctx_;
};

}  // namespace kmesh::crypto

#endif  // KMESH_CRYPTO_SHA512_H_
