#include "kmesh/kernel/xfrm_key.h"

#include <openssl/base.h>

#include <utility>

#include "absl/strings/str_cat.h"

#ifndef OPENSSL_IS_BORINGSSL
#error "kmesh must be built against BoringSSL (@boringssl//:crypto)"
#endif

namespace kmesh {

XfrmKey::XfrmKey(const uint8_t* data, size_t size)
    : bytes_(absl::Span<const uint8_t>(data, size)) {}

XfrmKey::XfrmKey(const XfrmKey& other) : bytes_(other.bytes_.Clone()) {}

XfrmKey& XfrmKey::operator=(const XfrmKey& other) {
  if (this != &other) bytes_ = other.bytes_.Clone();
  return *this;
}

XfrmKey::XfrmKey(XfrmKey&& other) noexcept : bytes_(std::move(other.bytes_)) {}

XfrmKey& XfrmKey::operator=(XfrmKey&& other) noexcept {
  if (this != &other) bytes_ = std::move(other.bytes_);
  return *this;
}

bool operator==(const XfrmKey& a, const XfrmKey& b) {
  return a.bytes_.Equals(b.bytes_);
}

std::string XfrmKey::DebugString() const {
  return absl::StrCat("<", bytes_.size(), " key bytes>");
}

}  // namespace kmesh
