// Rfc4106Aes256Gcm: AES-256-GCM as ESP uses it (RFC 4106, the kernel's
// "rfc4106(gcm(aes))"): the 36-byte key is a 32-byte AES-256 key followed by a
// 4-byte salt, the 12-byte GCM nonce is salt || 8-byte explicit IV (carried in
// each packet), and the ICV is 16 bytes appended to the ciphertext. The AAD is
// whatever the caller passes (for ESP: SPI || sequence number, or SPI ||
// high 32 bits || low 32 bits with extended sequence numbers). The BoringSSL
// EVP_AEAD context is set up once in Create() and reused; SealInto/OpenInto
// write into caller buffers and allocate nothing, for the per-packet path.
// Seal/Open are const and safe to call from several threads at once. Errors
// never contain key bytes.
#ifndef KMESH_CRYPTO_AEAD_H_
#define KMESH_CRYPTO_AEAD_H_

#include <openssl/aead.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "kmesh/crypto/boringssl_guard.h"
#include "kmesh/crypto/secret_bytes.h"

namespace kmesh::crypto {

class Rfc4106Aes256Gcm {
 public:
  static constexpr size_t kAesKeySize = 32;
  static constexpr size_t kSaltSize = 4;
  static constexpr size_t kKeySize = kAesKeySize + kSaltSize;  // 36
  static constexpr size_t kExplicitIvSize = 8;
  static constexpr size_t kTagSize = 16;  // ICV

  // InvalidArgument unless `key_and_salt` is exactly 36 bytes.
  static absl::StatusOr<Rfc4106Aes256Gcm> Create(
      absl::Span<const uint8_t> key_and_salt);
  static absl::StatusOr<Rfc4106Aes256Gcm> Create(
      const SecretBytes& key_and_salt);

  Rfc4106Aes256Gcm(Rfc4106Aes256Gcm&&) noexcept = default;
  Rfc4106Aes256Gcm& operator=(Rfc4106Aes256Gcm&&) noexcept = default;
  ~Rfc4106Aes256Gcm();

  // Encrypts `plaintext` and returns ciphertext || 16-byte ICV.
  // InvalidArgument when `explicit_iv` is not 8 bytes.
  absl::StatusOr<std::vector<uint8_t>> Seal(
      absl::Span<const uint8_t> explicit_iv, absl::Span<const uint8_t> aad,
      absl::Span<const uint8_t> plaintext) const;

  // Writes ciphertext || ICV (plaintext.size() + 16 bytes) to the start of
  // `out` and returns that length. `out` may begin exactly at
  // plaintext.data() (in place) but must not otherwise overlap it.
  // InvalidArgument when `out` is too small or `explicit_iv` is not 8 bytes.
  absl::StatusOr<size_t> SealInto(absl::Span<const uint8_t> explicit_iv,
                                  absl::Span<const uint8_t> aad,
                                  absl::Span<const uint8_t> plaintext,
                                  absl::Span<uint8_t> out) const;

  // Checks the ICV and returns the plaintext. DataLoss when authentication
  // fails (wrong key, AAD, IV, or altered data); InvalidArgument when the
  // input is shorter than the ICV or `explicit_iv` is not 8 bytes.
  absl::StatusOr<std::vector<uint8_t>> Open(
      absl::Span<const uint8_t> explicit_iv, absl::Span<const uint8_t> aad,
      absl::Span<const uint8_t> ciphertext_and_tag) const;

  // Writes the plaintext (ciphertext_and_tag.size() - 16 bytes) to the start
  // of `out` and returns its length; same errors as Open, plus
  // InvalidArgument when `out` is too small. `out` may begin exactly at
  // ciphertext_and_tag.data() (in place). On failure `out` holds no
  // plaintext.
  absl::StatusOr<size_t> OpenInto(absl::Span<const uint8_t> explicit_iv,
                                  absl::Span<const uint8_t> aad,
                                  absl::Span<const uint8_t> ciphertext_and_tag,
                                  absl::Span<uint8_t> out) const;

 private:
  Rfc4106Aes256Gcm(bssl::UniquePtr<EVP_AEAD_CTX> ctx,
                   absl::Span<const uint8_t> salt);

  bssl::UniquePtr<EVP_AEAD_CTX> ctx_;
  std::array<uint8_t, kSaltSize> salt_{};
};

}  // namespace kmesh::crypto

#endif  // KMESH_CRYPTO_AEAD_H_
