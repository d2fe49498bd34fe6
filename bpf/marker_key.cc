#include "bpf/marker_key.h"

#include <cstring>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace kmesh {

kmesh_marker_ip_key MarkerKeyFor(const IpAddress& address) {
  kmesh_marker_ip_key key;
  std::memset(&key, 0, sizeof(key));
  key.family =
      address.is_v4() ? KMESH_MARKER_FAMILY_V4 : KMESH_MARKER_FAMILY_V6;
  std::memcpy(key.addr, address.bytes().data(), address.byte_length());
  return key;
}

absl::StatusOr<IpAddress> IpAddressFromMarkerKey(
    const kmesh_marker_ip_key& key) {
  uint8_t bytes[sizeof(key.addr)];
  std::memcpy(bytes, key.addr, sizeof(bytes));
  if (key.pad[0] != 0 || key.pad[1] != 0 || key.pad[2] != 0) {
    return absl::InvalidArgumentError("marker map key: nonzero padding");
  }
  switch (key.family) {
    case KMESH_MARKER_FAMILY_V4:
      for (int i = 4; i < 16; ++i) {
        if (bytes[i] != 0) {
          return absl::InvalidArgumentError(
              "marker map key: IPv4 key with bytes past the address");
        }
      }
      return IpAddress::FromBytes(IpFamily::kV4, bytes);
    case KMESH_MARKER_FAMILY_V6:
      return IpAddress::FromBytes(IpFamily::kV6, bytes);
    default:
      return absl::InvalidArgumentError(
          absl::StrCat("marker map key: unknown family ", key.family));
  }
}

}  // namespace kmesh
