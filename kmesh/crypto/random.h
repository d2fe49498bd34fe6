// Cryptographically secure random bytes from BoringSSL's CSPRNG (RAND_bytes),
// for fresh pre-shared keys and ESP explicit IVs. BoringSSL's RAND_bytes
// cannot fail short of aborting the process (it never returns partial or
// predictable output), so these functions return no error.
#ifndef KMESH_CRYPTO_RANDOM_H_
#define KMESH_CRYPTO_RANDOM_H_

#include <cstddef>
#include <cstdint>

#include "absl/types/span.h"
#include "kmesh/crypto/boringssl_guard.h"
#include "kmesh/crypto/secret_bytes.h"

namespace kmesh::crypto {

// Fills all of `out` with random bytes.
void FillRandom(absl::Span<uint8_t> out);

// `size` fresh random bytes, held as a secret.
SecretBytes RandomSecretBytes(size_t size);

}  // namespace kmesh::crypto

#endif  // KMESH_CRYPTO_RANDOM_H_
