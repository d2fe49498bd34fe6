#include "kmesh/base/ip_address.h"

#include "gtest/gtest.h"

namespace kmesh {
namespace {

TEST(IpAddressTest, ParsesAndPrintsBothFamilies) {
  auto v4 = IpAddress::Parse("10.0.0.1");
  ASSERT_TRUE(v4.ok());
  EXPECT_TRUE(v4->is_v4());
  EXPECT_EQ(v4->ToString(), "10.0.0.1");
  EXPECT_EQ(v4->v4_host_order(), 0x0a000001u);
  auto v6 = IpAddress::Parse("fd00:0:0::1");
  ASSERT_TRUE(v6.ok());
  EXPECT_FALSE(v6->is_v4());
  EXPECT_EQ(v6->ToString(), "fd00::1");
}

TEST(IpAddressTest, RejectsGarbage) {
  EXPECT_FALSE(IpAddress::Parse("").ok());
  EXPECT_FALSE(IpAddress::Parse("10.0.0.256").ok());
  EXPECT_FALSE(IpAddress::Parse("node1").ok());
}

TEST(IpPrefixTest, ClearsHostBitsAndContains) {
  auto p = IpPrefix::Parse("10.244.1.7/23");
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->ToString(), "10.244.0.0/23");
  EXPECT_TRUE(p->Contains(*IpAddress::Parse("10.244.1.200")));
  EXPECT_FALSE(p->Contains(*IpAddress::Parse("10.244.2.1")));
  EXPECT_FALSE(p->Contains(*IpAddress::Parse("fd00::1")));
  EXPECT_TRUE(IpPrefix::Any(IpFamily::kV6).Contains(*IpAddress::Parse("::1")));
}

TEST(IpPrefixTest, RejectsBadLengths) {
  EXPECT_FALSE(IpPrefix::Parse("10.0.0.0/33").ok());
  EXPECT_FALSE(IpPrefix::Parse("10.0.0.0/").ok());
  EXPECT_FALSE(IpPrefix::Parse("fd00::/129").ok());
  EXPECT_EQ(IpPrefix::Parse("fd00::1")->length(), 128);
}

}  // namespace
}  // namespace kmesh
