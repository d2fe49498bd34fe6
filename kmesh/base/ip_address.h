// IpAddress and IpPrefix: IPv4/IPv6 addresses and CIDR prefixes as plain
// values, parsed from and printed to the textual forms Kubernetes uses
// ("10.0.0.1", "fd00::1", "10.244.1.0/24"). Every component that names a node,
// a pod or an XFRM selector uses these, so the kernel backends, the simulator
// and the controller agree on one representation.
#ifndef KMESH_BASE_IP_ADDRESS_H_
#define KMESH_BASE_IP_ADDRESS_H_

#include <array>
#include <cstdint>
#include <functional>
#include <string>

#include "absl/status/statusor.h"

namespace kmesh {

enum class IpFamily : uint8_t { kV4 = 4, kV6 = 6 };

class IpAddress {
 public:
  // The unspecified IPv4 address 0.0.0.0.
  IpAddress() = default;

  static absl::StatusOr<IpAddress> Parse(const std::string& text);
  static IpAddress V4(uint32_t host_order);
  // `bytes` holds 4 (IPv4) or 16 (IPv6) bytes in network order.
  static IpAddress FromBytes(IpFamily family, const uint8_t* bytes);

  IpFamily family() const { return family_; }
  bool is_v4() const { return family_ == IpFamily::kV4; }
  // 4 or 16.
  int byte_length() const { return is_v4() ? 4 : 16; }
  // Network-order bytes; only the first byte_length() are meaningful.
  const std::array<uint8_t, 16>& bytes() const { return bytes_; }
  uint32_t v4_host_order() const;
  bool IsUnspecified() const;

  // Canonical text (inet_ntop).
  std::string ToString() const;

  friend bool operator==(const IpAddress& a, const IpAddress& b) {
    return a.family_ == b.family_ && a.bytes_ == b.bytes_;
  }
  friend bool operator!=(const IpAddress& a, const IpAddress& b) {
    return !(a == b);
  }
  friend bool operator<(const IpAddress& a, const IpAddress& b) {
    if (a.family_ != b.family_) return a.family_ < b.family_;
    return a.bytes_ < b.bytes_;
  }

 private:
  IpFamily family_ = IpFamily::kV4;
  std::array<uint8_t, 16> bytes_{};
};

class IpPrefix {
 public:
  IpPrefix() = default;
  // Host bits are cleared: 10.244.1.7/24 becomes 10.244.1.0/24.
  IpPrefix(const IpAddress& address, int length);

  // "10.244.1.0/24", "fd00::/64"; a bare address is a host prefix (/32, /128).
  static absl::StatusOr<IpPrefix> Parse(const std::string& text);
  // 0.0.0.0/0 or ::/0.
  static IpPrefix Any(IpFamily family);
  static IpPrefix Host(const IpAddress& address);

  const IpAddress& address() const { return address_; }
  int length() const { return length_; }
  IpFamily family() const { return address_.family(); }
  bool Contains(const IpAddress& address) const;

  std::string ToString() const;

  friend bool operator==(const IpPrefix& a, const IpPrefix& b) {
    return a.length_ == b.length_ && a.address_ == b.address_;
  }
  friend bool operator!=(const IpPrefix& a, const IpPrefix& b) {
    return !(a == b);
  }
  friend bool operator<(const IpPrefix& a, const IpPrefix& b) {
    if (a.address_ != b.address_) return a.address_ < b.address_;
    return a.length_ < b.length_;
  }

 private:
  IpAddress address_;
  int length_ = 0;
};

}  // namespace kmesh

template <>
struct std::hash<kmesh::IpAddress> {
  size_t operator()(const kmesh::IpAddress& a) const {
    size_t h = static_cast<size_t>(a.family());
    for (uint8_t b : a.bytes()) h = h * 131 + b;
    return h;
  }
};

#endif  // KMESH_BASE_IP_ADDRESS_H_
