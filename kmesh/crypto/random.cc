#include "kmesh/crypto/random.h"

#include <openssl/rand.h>

namespace kmesh::crypto {

void FillRandom(absl::Span<uint8_t> out) {
  if (out.empty()) return;
  // BoringSSL's RAND_bytes always returns 1; it aborts rather than fail.
  RAND_bytes(out.data(), out.size());
}

SecretBytes RandomSecretBytes(size_t size) {
  SecretBytes bytes(size);
  FillRandom(bytes.mutable_span());
  return bytes;
}

}  // namespace kmesh::crypto
