#include "kmesh/kernel/xfrm_key.h"

#include <openssl/crypto.h>
#include <openssl/mem.h>

#include "absl/strings/str_cat.h"

#ifndef OPENSSL_IS_BORINGSSL
#error "kmesh must be built against BoringSSL (@boringssl//:crypto)"
#endif

namespace kmesh {

XfrmKey::XfrmKey(const uint8_t* data, size_t size)
    : bytes_(data, data + size) {}

XfrmKey::XfrmKey(const XfrmKey& other) : bytes_(other.bytes_) {}

XfrmKey& XfrmKey::operator=(const XfrmKey& other) {
  if (this != &other) {
    Wipe();
    bytes_ = other.bytes_;
  }
  return *this;
}

XfrmKey::XfrmKey(XfrmKey&& other) noexcept : bytes_(std::move(other.bytes_)) {
  other.bytes_.clear();
}

XfrmKey& XfrmKey::operator=(XfrmKey&& other) noexcept {
  if (this != &other) {
    Wipe();
    bytes_ = std::move(other.bytes_);
    other.bytes_.clear();
  }
  return *this;
}

XfrmKey::~XfrmKey() { Wipe(); }

void XfrmKey::Wipe() {
  if (!bytes_.empty()) OPENSSL_cleanse(bytes_.data(), bytes_.size());
  bytes_.clear();
}

bool operator==(const XfrmKey& a, const XfrmKey& b) {
  if (a.bytes_.size() != b.bytes_.size()) return false;
  if (a.bytes_.empty()) return true;
  return CRYPTO_memcmp(a.bytes_.data(), b.bytes_.data(), a.bytes_.size()) == 0;
}

std::string XfrmKey::DebugString() const {
  return absl::StrCat("<", bytes_.size(), " key bytes>");
}

}  // namespace kmesh
