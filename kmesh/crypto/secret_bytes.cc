#include "kmesh/crypto/secret_bytes.h"

#include <openssl/mem.h>

#include <atomic>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"

namespace kmesh::crypto {
namespace {

std::atomic<SecretBytes::WipeObserver> wipe_observer{nullptr};

}  // namespace

SecretBytes::SecretBytes(size_t size)
    : data_(size == 0 ? nullptr : new uint8_t[size]()), size_(size) {}

SecretBytes::SecretBytes(absl::Span<const uint8_t> bytes)
    : SecretBytes(bytes.size()) {
  if (!bytes.empty()) std::memcpy(data_.get(), bytes.data(), bytes.size());
}

SecretBytes SecretBytes::CopyFrom(absl::string_view bytes) {
  return SecretBytes(absl::Span<const uint8_t>(
      reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()));
}

SecretBytes SecretBytes::TakeAndWipe(std::string* source) {
  SecretBytes copy = CopyFrom(*source);
  OPENSSL_cleanse(source->data(), source->size());
  source->clear();
  return copy;
}

SecretBytes::SecretBytes(SecretBytes&& other) noexcept
    : data_(std::move(other.data_)), size_(std::exchange(other.size_, 0)) {}

SecretBytes& SecretBytes::operator=(SecretBytes&& other) noexcept {
  if (this != &other) {
    Clear();
    data_ = std::move(other.data_);
    size_ = std::exchange(other.size_, 0);
  }
  return *this;
}

SecretBytes::~SecretBytes() { Clear(); }

SecretBytes SecretBytes::Clone() const { return SecretBytes(span()); }

bool SecretBytes::Equals(const SecretBytes& other) const {
  return Equals(other.span());
}

bool SecretBytes::Equals(absl::Span<const uint8_t> other) const {
  if (other.size() != size_) return false;
  if (size_ == 0) return true;
  return CRYPTO_memcmp(data_.get(), other.data(), size_) == 0;
}

void SecretBytes::Clear() {
  if (data_ != nullptr) {
    OPENSSL_cleanse(data_.get(), size_);
    if (WipeObserver observer = wipe_observer.load(std::memory_order_acquire)) {
      observer(data_.get(), size_);
    }
    data_.reset();
  }
  size_ = 0;
}

std::string SecretBytes::DebugString() const {
  return absl::StrCat("<", size_, " secret bytes>");
}

void SecretBytes::SetWipeObserverForTesting(WipeObserver observer) {
  wipe_observer.store(observer, std::memory_order_release);
}

}  // namespace kmesh::crypto
