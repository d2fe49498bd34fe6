#include "kmesh/crypto/aead.h"

#include <openssl/err.h>
#include <openssl/mem.h>

#include <cstring>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace kmesh::crypto {
namespace {

constexpr size_t kNonceSize =
    Rfc4106Aes256Gcm::kSaltSize + Rfc4106Aes256Gcm::kExplicitIvSize;

absl::Status CheckExplicitIv(absl::Span<const uint8_t> explicit_iv) {
  if (explicit_iv.size() != Rfc4106Aes256Gcm::kExplicitIvSize) {
    return absl::InvalidArgumentError(absl::StrCat(
        "AES-GCM explicit IV must be ", Rfc4106Aes256Gcm::kExplicitIvSize,
        " bytes, got ", explicit_iv.size()));
  }
  return absl::OkStatus();
}

absl::Status NotInitialized() {
  return absl::FailedPreconditionError(
      "AES-GCM context used after it was moved from");
}

}  // namespace

absl::StatusOr<Rfc4106Aes256Gcm> Rfc4106Aes256Gcm::Create(
    absl::Span<const uint8_t> key_and_salt) {
  if (key_and_salt.size() != kKeySize) {
    return absl::InvalidArgumentError(
        absl::StrCat("rfc4106(gcm(aes)) key must be ", kKeySize, " bytes (",
                     kAesKeySize, "-byte AES-256 key followed by a ", kSaltSize,
                     "-byte salt), got ", key_and_salt.size(), " bytes"));
  }
  bssl::UniquePtr<EVP_AEAD_CTX> ctx(EVP_AEAD_CTX_new(
      EVP_aead_aes_256_gcm(), key_and_salt.data(), kAesKeySize, kTagSize));
  if (ctx == nullptr) {
    ERR_clear_error();
    return absl::InternalError("cannot set up the AES-256-GCM context");
  }
  return Rfc4106Aes256Gcm(std::move(ctx), key_and_salt.subspan(kAesKeySize));
}

absl::StatusOr<Rfc4106Aes256Gcm> Rfc4106Aes256Gcm::Create(
    const SecretBytes& key_and_salt) {
  return Create(key_and_salt.span());
}

Rfc4106Aes256Gcm::Rfc4106Aes256Gcm(bssl::UniquePtr<EVP_AEAD_CTX> ctx,
                                   absl::Span<const uint8_t> salt)
    : ctx_(std::move(ctx)) {
  std::memcpy(salt_.data(), salt.data(), kSaltSize);
}

Rfc4106Aes256Gcm::~Rfc4106Aes256Gcm() {
  // EVP_AEAD_CTX_free wipes the key schedule; the salt is ours to wipe.
  OPENSSL_cleanse(salt_.data(), salt_.size());
}

absl::StatusOr<std::vector<uint8_t>> Rfc4106Aes256Gcm::Seal(
    absl::Span<const uint8_t> explicit_iv, absl::Span<const uint8_t> aad,
    absl::Span<const uint8_t> plaintext) const {
  std::vector<uint8_t> out(plaintext.size() + kTagSize);
  absl::StatusOr<size_t> written =
      SealInto(explicit_iv, aad, plaintext, absl::MakeSpan(out));
  if (!written.ok()) return written.status();
  return out;
}

absl::StatusOr<size_t> Rfc4106Aes256Gcm::SealInto(
    absl::Span<const uint8_t> explicit_iv, absl::Span<const uint8_t> aad,
    absl::Span<const uint8_t> plaintext, absl::Span<uint8_t> out) const {
  if (ctx_ == nullptr) return NotInitialized();
  if (absl::Status status = CheckExplicitIv(explicit_iv); !status.ok()) {
    return status;
  }
  const size_t sealed_size = plaintext.size() + kTagSize;
  if (out.size() < sealed_size) {
    return absl::InvalidArgumentError(
        absl::StrCat("AES-GCM output buffer holds ", out.size(),
                     " bytes, sealing needs ", sealed_size));
  }
  uint8_t nonce[kNonceSize];
  std::memcpy(nonce, salt_.data(), kSaltSize);
  std::memcpy(nonce + kSaltSize, explicit_iv.data(), kExplicitIvSize);
  size_t written = 0;
  if (!EVP_AEAD_CTX_seal(ctx_.get(), out.data(), &written, out.size(), nonce,
                         kNonceSize, plaintext.data(), plaintext.size(),
                         aad.data(), aad.size())) {
    ERR_clear_error();
    return absl::InternalError("AES-GCM seal failed");
  }
  return written;
}

absl::StatusOr<std::vector<uint8_t>> Rfc4106Aes256Gcm::Open(
    absl::Span<const uint8_t> explicit_iv, absl::Span<const uint8_t> aad,
    absl::Span<const uint8_t> ciphertext_and_tag) const {
  std::vector<uint8_t> out(ciphertext_and_tag.size() < kTagSize
                               ? 0
                               : ciphertext_and_tag.size() - kTagSize);
  absl::StatusOr<size_t> written =
      OpenInto(explicit_iv, aad, ciphertext_and_tag, absl::MakeSpan(out));
  if (!written.ok()) return written.status();
  return out;
}

absl::StatusOr<size_t> Rfc4106Aes256Gcm::OpenInto(
    absl::Span<const uint8_t> explicit_iv, absl::Span<const uint8_t> aad,
    absl::Span<const uint8_t> ciphertext_and_tag,
    absl::Span<uint8_t> out) const {
  if (ctx_ == nullptr) return NotInitialized();
  if (absl::Status status = CheckExplicitIv(explicit_iv); !status.ok()) {
    return status;
  }
  if (ciphertext_and_tag.size() < kTagSize) {
    return absl::InvalidArgumentError(
        absl::StrCat("AES-GCM input of ", ciphertext_and_tag.size(),
                     " bytes is shorter than the ", kTagSize, "-byte ICV"));
  }
  const size_t plaintext_size = ciphertext_and_tag.size() - kTagSize;
  if (out.size() < plaintext_size) {
    return absl::InvalidArgumentError(
        absl::StrCat("AES-GCM output buffer holds ", out.size(),
                     " bytes, opening needs ", plaintext_size));
  }
  uint8_t nonce[kNonceSize];
  std::memcpy(nonce, salt_.data(), kSaltSize);
  std::memcpy(nonce + kSaltSize, explicit_iv.data(), kExplicitIvSize);
  size_t written = 0;
  if (!EVP_AEAD_CTX_open(ctx_.get(), out.data(), &written, out.size(), nonce,
                         kNonceSize, ciphertext_and_tag.data(),
                         ciphertext_and_tag.size(), aad.data(), aad.size())) {
    ERR_clear_error();
    return absl::DataLossError(
        "AES-GCM authentication failed (wrong key, IV or AAD, or altered "
        "data)");
  }
  return written;
}

}  // namespace kmesh::crypto
