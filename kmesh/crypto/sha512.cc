#include "kmesh/crypto/sha512.h"

#include <openssl/mem.h>

namespace kmesh::crypto {

Sha512Hasher::Sha512Hasher() { SHA512_Init(&ctx_); }

Sha512Hasher::~Sha512Hasher() { OPENSSL_cleanse(&ctx_, sizeof(ctx_)); }

Sha512Hasher& Sha512Hasher::Update(absl::Span<const uint8_t> bytes) {
  SHA512_Update(&ctx_, bytes.data(), bytes.size());
  return *this;
}

Sha512Hasher& Sha512Hasher::Update(absl::string_view bytes) {
  SHA512_Update(&ctx_, bytes.data(), bytes.size());
  return *this;
}

Sha512Hasher& Sha512Hasher::Update(const SecretBytes& bytes) {
  return Update(bytes.span());
}

SecretBytes Sha512Hasher::Finish() {
  SecretBytes digest(kDigestSize);
  SHA512_Final(digest.mutable_data(), &ctx_);
  OPENSSL_cleanse(&ctx_, sizeof(ctx_));
  SHA512_Init(&ctx_);
  return digest;
}

}  // namespace kmesh::crypto
