#include "bpf/marker_key.h"

#include <cstdint>
#include <cstring>

#include "absl/status/statusor.h"
#include "bpf/marker_test_packets.h"
#include "gtest/gtest.h"
#include "kmesh/base/ip_address.h"

namespace kmesh {
namespace {

using ::kmesh::testing::Ip;

TEST(MarkerKeyTest, RoundTripsBothFamilies) {
  for (const char* text : {"10.244.1.5", "0.0.0.0", "fd00:244:1::5", "::1"}) {
    const IpAddress address = Ip(text);
    const kmesh_marker_ip_key key = MarkerKeyFor(address);
    EXPECT_EQ(key.family, address.is_v4() ? 4 : 6);
    absl::StatusOr<IpAddress> back = IpAddressFromMarkerKey(key);
    ASSERT_TRUE(back.ok()) << back.status();
    EXPECT_EQ(*back, address);
  }
}

TEST(MarkerKeyTest, HoldsTheAddressBytesInNetworkOrder) {
  const kmesh_marker_ip_key key = MarkerKeyFor(Ip("10.244.1.5"));
  uint8_t bytes[16];
  std::memcpy(bytes, key.addr, sizeof(bytes));
  const uint8_t want[16] = {10, 244, 1, 5};
  EXPECT_EQ(std::memcmp(bytes, want, sizeof(want)), 0);
  EXPECT_EQ(sizeof(kmesh_marker_ip_key), 20u);
}

TEST(MarkerKeyTest, RejectsKeysTheProgramsCannotProduce) {
  kmesh_marker_ip_key key = MarkerKeyFor(Ip("10.0.0.1"));
  key.family = 5;
  EXPECT_EQ(IpAddressFromMarkerKey(key).status().code(),
            absl::StatusCode::kInvalidArgument);
  key = MarkerKeyFor(Ip("10.0.0.1"));
  key.pad[1] = 1;
  EXPECT_EQ(IpAddressFromMarkerKey(key).status().code(),
            absl::StatusCode::kInvalidArgument);
  key = MarkerKeyFor(Ip("10.0.0.1"));
  key.addr[2] = 1;
  EXPECT_EQ(IpAddressFromMarkerKey(key).status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace kmesh
