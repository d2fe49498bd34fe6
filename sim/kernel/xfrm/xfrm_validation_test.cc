#include "sim/kernel/xfrm/xfrm_validation.h"

#include <cerrno>
#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "gtest/gtest.h"
#include "kmesh/kernel/testing/xfrm_objects.h"
#include "kmesh/kernel/xfrm.h"
#include "sim/kernel/testing/kernel_error_assertions.h"

namespace kmesh::sim {
namespace {

using ::kmesh::testing::kNoMark;
using ::kmesh::testing::Policy;
using ::kmesh::testing::Sa;
using testing::IsKernelError;

// --- SAs ------------------------------------------------------------------

TEST(SaValidationTest, TheProductsSaIsValid) {
  EXPECT_TRUE(ValidateSa(Sa("10.0.0.2", "10.0.0.1", 1)).ok());
}

TEST(SaValidationTest, SpiZeroIsRejected) {
  EXPECT_TRUE(IsKernelError(ValidateSa(Sa("10.0.0.2", "10.0.0.1", 0)), EINVAL));
}

TEST(SaValidationTest, KeyLengthMustFitRfc4106AndIsNeverPrinted) {
  XfrmSa sa = Sa("10.0.0.2", "10.0.0.1", 21);
  sa.aead_key = ::kmesh::testing::KeyOfSize(30, 0xab);
  const absl::Status s = ValidateSa(sa);
  EXPECT_TRUE(IsKernelError(s, EINVAL));
  EXPECT_TRUE(absl::StrContains(s.message(), "30 bytes")) << s;
  EXPECT_FALSE(absl::StrContains(s.message(), "abab")) << s;
  sa.aead_key = ::kmesh::testing::KeyOfSize(1);
  EXPECT_TRUE(IsKernelError(ValidateSa(sa), EINVAL));
  // AES-128 and AES-192 with salt are valid on Linux too.
  for (const size_t size : {20, 28}) {
    sa.aead_key = ::kmesh::testing::KeyOfSize(size);
    EXPECT_TRUE(ValidateSa(sa).ok()) << size;
  }
}

TEST(SaValidationTest, UnknownAeadOrIcvIsEnosys) {
  XfrmSa sa = Sa("10.0.0.2", "10.0.0.1", 22);
  sa.icv_bits = 100;
  EXPECT_TRUE(IsKernelError(ValidateSa(sa), ENOSYS));
  sa.icv_bits = 128;
  sa.aead_name = "gcm(aes)";
  EXPECT_TRUE(IsKernelError(ValidateSa(sa), ENOSYS));
  sa.aead_name = "rfc4106(gcm(aes))";
  for (const uint32_t icv : {64u, 96u, 128u}) {
    sa.icv_bits = icv;
    EXPECT_TRUE(ValidateSa(sa).ok()) << icv;
  }
  sa.aead_name.clear();
  EXPECT_TRUE(IsKernelError(ValidateSa(sa), EINVAL));
}

TEST(SaValidationTest, SourceAndDestinationFamiliesMustAgree) {
  XfrmSa sa = Sa("10.0.0.2", "10.0.0.1", 1);
  sa.src = ::kmesh::testing::Ip("fd00::2");
  EXPECT_TRUE(IsKernelError(ValidateSa(sa), EINVAL));
}

TEST(SaValidationTest, EsnNeedsAReplayWindow) {
  XfrmSa sa = Sa("10.0.0.2", "10.0.0.6", 9);
  sa.esn = true;
  sa.replay_window = 0;
  const absl::Status s = ValidateSa(sa);
  EXPECT_TRUE(IsKernelError(s, EINVAL));
  EXPECT_TRUE(absl::StrContains(s.message(), "ESN")) << s;
  sa.replay_window = 1024;
  EXPECT_TRUE(ValidateSa(sa).ok());
}

TEST(SaValidationTest, ReplayWindowAbove4096IsRejected) {
  XfrmSa sa = Sa("10.0.0.2", "10.0.0.6", 12);
  sa.replay_window = 4097;
  EXPECT_TRUE(IsKernelError(ValidateSa(sa), EINVAL));
  sa.replay_window = 4096;
  EXPECT_TRUE(ValidateSa(sa).ok());
}

TEST(SaValidationTest, ProtocolsOtherThanEspAreRejected) {
  for (const uint8_t proto : {uint8_t{51}, uint8_t{108}, uint8_t{6}}) {
    XfrmSa sa = Sa("10.0.0.2", "10.0.0.1", 5);
    sa.proto = proto;
    EXPECT_TRUE(IsKernelError(ValidateSa(sa), EINVAL)) << int{proto};
  }
}

TEST(SaValidationTest, OnlyTunnelModeCanChangeFamily) {
  XfrmSa sa = Sa("10.0.0.2", "10.0.0.7", 30);
  sa.selector.src = ::kmesh::testing::Cidr("fd00::/64");
  sa.selector.dst = ::kmesh::testing::Cidr("fd01::/64");
  sa.mode = XfrmMode::kTransport;
  EXPECT_TRUE(IsKernelError(ValidateSa(sa), EPROTONOSUPPORT));
  sa.mode = XfrmMode::kTunnel;
  EXPECT_TRUE(ValidateSa(sa).ok());
}

// --- Policies ---------------------------------------------------------------

TEST(PolicyValidationTest, FollowsLinux) {
  // Optional tunnel template in an out policy.
  XfrmTemplate optional = ::kmesh::testing::Tmpl("1.1.1.1", "2.2.2.2");
  optional.optional = true;
  EXPECT_TRUE(
      IsKernelError(ValidatePolicy(Policy(XfrmDir::kOut, "0.0.0.0/0",
                                          "0.0.0.0/0", kNoMark, 0, {optional})),
                    EINVAL));
  EXPECT_TRUE(ValidatePolicy(Policy(XfrmDir::kIn, "0.0.0.0/0", "0.0.0.0/0",
                                    kNoMark, 0, {optional}))
                  .ok());
  // Tunnel templates may change family, transport ones may not.
  XfrmTemplate v6 = ::kmesh::testing::Tmpl("fd00::1", "fd00::2");
  EXPECT_TRUE(ValidatePolicy(Policy(XfrmDir::kOut, "0.0.0.0/0", "0.0.0.0/0",
                                    kNoMark, 0, {v6}))
                  .ok());
  v6.mode = XfrmMode::kTransport;
  EXPECT_TRUE(
      IsKernelError(ValidatePolicy(Policy(XfrmDir::kFwd, "0.0.0.0/0",
                                          "0.0.0.0/0", kNoMark, 0, {v6})),
                    EINVAL));
  // Selector families must agree.
  XfrmPolicy mixed = Policy(XfrmDir::kOut, "0.0.0.0/0", "0.0.0.0/0", kNoMark);
  mixed.selector.dst = ::kmesh::testing::Cidr("::/0");
  EXPECT_TRUE(IsKernelError(ValidatePolicy(mixed), EINVAL));
  // At most XFRM_MAX_DEPTH templates.
  std::vector<XfrmTemplate> seven(7,
                                  ::kmesh::testing::Tmpl("1.1.1.1", "2.2.2.2"));
  EXPECT_TRUE(
      IsKernelError(ValidatePolicy(Policy(XfrmDir::kIn, "10.0.0.0/8",
                                          "0.0.0.0/0", kNoMark, 0, seven)),
                    EINVAL));
  // Template protocol must be an IPsec one.
  XfrmTemplate tcp = ::kmesh::testing::Tmpl("1.1.1.1", "2.2.2.2");
  tcp.proto = 6;
  EXPECT_TRUE(
      IsKernelError(ValidatePolicy(Policy(XfrmDir::kIn, "10.0.0.0/8",
                                          "0.0.0.0/0", kNoMark, 0, {tcp})),
                    EINVAL));
  // Direction must be in, out or fwd.
  XfrmPolicy bad_dir =
      Policy(XfrmDir::kIn, "10.1.0.0/16", "0.0.0.0/0", kNoMark);
  bad_dir.dir = static_cast<XfrmDir>(3);
  EXPECT_TRUE(IsKernelError(ValidatePolicy(bad_dir), EINVAL));
}

TEST(PolicyValidationTest, BlockPoliciesMayCarryTemplates) {
  XfrmPolicy fwd_block =
      Policy(XfrmDir::kFwd, "0.0.0.0/0", "0.0.0.0/0", kNoMark, 3,
             {::kmesh::testing::Tmpl("1.1.1.1", "2.2.2.2")});
  fwd_block.action = XfrmAction::kBlock;
  EXPECT_TRUE(ValidatePolicy(fwd_block).ok());
}

}  // namespace
}  // namespace kmesh::sim
