#include "kmesh/base/ip_address.h"

#include <arpa/inet.h>

#include <cstring>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace kmesh {

absl::StatusOr<IpAddress> IpAddress::Parse(const std::string& text) {
  IpAddress a;
  if (inet_pton(AF_INET, text.c_str(), a.bytes_.data()) == 1) {
    a.family_ = IpFamily::kV4;
    return a;
  }
  if (inet_pton(AF_INET6, text.c_str(), a.bytes_.data()) == 1) {
    a.family_ = IpFamily::kV6;
    return a;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("invalid IP address \"", text, "\""));
}

IpAddress IpAddress::V4(uint32_t host_order) {
  IpAddress a;
  uint32_t n = htonl(host_order);
  std::memcpy(a.bytes_.data(), &n, 4);
  return a;
}

IpAddress IpAddress::FromBytes(IpFamily family, const uint8_t* bytes) {
  IpAddress a;
  a.family_ = family;
  std::memcpy(a.bytes_.data(), bytes, family == IpFamily::kV4 ? 4 : 16);
  return a;
}

uint32_t IpAddress::v4_host_order() const {
  uint32_t n;
  std::memcpy(&n, bytes_.data(), 4);
  return ntohl(n);
}

bool IpAddress::IsUnspecified() const {
  for (int i = 0; i < byte_length(); ++i) {
    if (bytes_[i] != 0) return false;
  }
  return true;
}

std::string IpAddress::ToString() const {
  char buf[INET6_ADDRSTRLEN];
  inet_ntop(is_v4() ? AF_INET : AF_INET6, bytes_.data(), buf, sizeof(buf));
  return buf;
}

IpPrefix::IpPrefix(const IpAddress& address, int length)
    : address_(address), length_(length) {
  const int bits = address.byte_length() * 8;
  if (length_ < 0) length_ = 0;
  if (length_ > bits) length_ = bits;
  std::array<uint8_t, 16> b = address.bytes();
  for (int i = 0; i < address.byte_length(); ++i) {
    const int keep = length_ - i * 8;
    if (keep >= 8) continue;
    b[i] &= keep <= 0 ? 0 : static_cast<uint8_t>(0xff << (8 - keep));
  }
  address_ = IpAddress::FromBytes(address.family(), b.data());
}

absl::StatusOr<IpPrefix> IpPrefix::Parse(const std::string& text) {
  const size_t slash = text.find('/');
  auto address = IpAddress::Parse(text.substr(0, slash));
  if (!address.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid CIDR \"", text, "\": bad address"));
  }
  int length = address->byte_length() * 8;
  if (slash != std::string::npos) {
    const std::string len_text = text.substr(slash + 1);
    if (len_text.empty() || !absl::SimpleAtoi(len_text, &length) ||
        length < 0 || length > address->byte_length() * 8) {
      return absl::InvalidArgumentError(
          absl::StrCat("invalid CIDR \"", text, "\": bad prefix length"));
    }
  }
  return IpPrefix(*address, length);
}

IpPrefix IpPrefix::Any(IpFamily family) {
  const uint8_t zero[16] = {};
  return IpPrefix(IpAddress::FromBytes(family, zero), 0);
}

IpPrefix IpPrefix::Host(const IpAddress& address) {
  return IpPrefix(address, address.byte_length() * 8);
}

bool IpPrefix::Contains(const IpAddress& a) const {
  if (a.family() != family()) return false;
  return IpPrefix(a, length_).address_ == address_;
}

std::string IpPrefix::ToString() const {
  return absl::StrCat(address_.ToString(), "/", length_);
}

}  // namespace kmesh
