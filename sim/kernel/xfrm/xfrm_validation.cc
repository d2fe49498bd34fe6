#include "sim/kernel/xfrm/xfrm_validation.h"

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/strings/str_cat.h"
#include "kmesh/base/ip_address.h"
#include "kmesh/kernel/kernel_error.h"
#include "sim/kernel/xfrm/replay_window.h"
#include "sim/kernel/xfrm/sa_table.h"
#include "sim/kernel/xfrm/xfrm_format.h"

namespace kmesh {
namespace sim {
namespace {

constexpr uint8_t kIpProtoRouting = 43;
constexpr uint8_t kIpProtoAh = 51;
constexpr uint8_t kIpProtoDstOpts = 60;
constexpr uint8_t kIpProtoComp = 108;

// XFRM_MAX_DEPTH: templates per policy.
constexpr size_t kMaxTemplates = 6;

constexpr const char kRfc4106[] = "rfc4106(gcm(aes))";

bool TemplateProtoValid(uint8_t proto, IpFamily family) {
  switch (proto) {
    case kIpProtoEsp:
    case kIpProtoAh:
    case kIpProtoComp:
      return true;
    case kIpProtoRouting:
    case kIpProtoDstOpts:
      return family == IpFamily::kV6;
  }
  return false;
}

}  // namespace

absl::Status ValidateSa(const XfrmSa& sa) {
  const std::string id = SaIdText(sa.dst, sa.spi, sa.proto, sa.mark);
  if (sa.src.family() != sa.dst.family()) {
    return KernelError(
        EINVAL, absl::StrCat("SA ", id, ": source ", sa.src.ToString(),
                             " and destination are of different families"));
  }
  if (sa.selector.src.family() != sa.selector.dst.family()) {
    return KernelError(EINVAL,
                       absl::StrCat("SA ", id,
                                    ": selector source and destination are of "
                                    "different families"));
  }
  switch (sa.proto) {
    case kIpProtoEsp:
      break;
    case kIpProtoAh:
      return KernelError(
          EINVAL, absl::StrCat("SA ", id,
                               ": Missing required attribute for AH: "
                               "AUTH_TRUNC or AUTH (an AEAD cannot be used)"));
    case kIpProtoComp:
      return KernelError(
          EINVAL, absl::StrCat("SA ", id,
                               ": Missing required attribute for COMP: COMP"));
    default:
      return KernelError(EINVAL,
                         absl::StrCat("SA ", id, ": Unsupported protocol ",
                                      static_cast<int>(sa.proto)));
  }
  if (sa.aead_name.empty()) {
    return KernelError(EINVAL,
                       absl::StrCat("SA ", id,
                                    ": Missing required attribute for ESP: "
                                    "at least one of AUTH, AUTH_TRUNC, "
                                    "CRYPT, AEAD"));
  }
  if (sa.replay_window > ReplayWindow::kMaxSize) {
    return KernelError(
        EINVAL, absl::StrCat("SA ", id, ": replay window ", sa.replay_window,
                             " too large: ESN bitmap length must be <= 128 "
                             "(4096 packets)"));
  }
  if (sa.mode != XfrmMode::kTransport && sa.mode != XfrmMode::kTunnel) {
    return KernelError(EINVAL, absl::StrCat("SA ", id, ": Unsupported mode"));
  }
  // Not Linux: Linux stores an SPI-0 SA but never finds it by SPI, and a
  // sender would put SPI 0 on the wire, which RFC 4303 reserves.
  if (sa.spi == 0) {
    return KernelError(
        EINVAL, absl::StrCat("SA ", id,
                             ": SPI 0 is reserved (RFC 4303); the simulator "
                             "refuses it although Linux stores such an SA"));
  }
  if (sa.aead_name != kRfc4106 ||
      (sa.icv_bits != 64 && sa.icv_bits != 96 && sa.icv_bits != 128)) {
    return KernelError(
        ENOSYS,
        absl::StrCat("SA ", id, ": Requested AEAD algorithm not found: \"",
                     sa.aead_name, "\" with ICV ", sa.icv_bits,
                     " bits (supported: ", kRfc4106,
                     " with ICV 64, 96 or 128 bits)"));
  }
  if (sa.mode == XfrmMode::kTransport && !SelectorIsUnset(sa.selector) &&
      sa.selector.src.family() != sa.dst.family()) {
    return KernelError(EPROTONOSUPPORT,
                       absl::StrCat("SA ", id,
                                    ": Only tunnel modes can accommodate a "
                                    "change of family"));
  }
  const size_t key_size = sa.aead_key.size();
  if (key_size != 20 && key_size != 28 && key_size != 36) {
    return KernelError(
        EINVAL,
        absl::StrCat("SA ", id,
                     ": Kernel was unable to initialize cryptographic "
                     "operations: ",
                     kRfc4106,
                     " needs a 16, 24 or 32-byte AES key and a 4-byte salt "
                     "(20, 28 or 36 bytes), got ",
                     key_size, " bytes"));
  }
  if (sa.esn && sa.replay_window == 0) {
    return KernelError(
        EINVAL, absl::StrCat("SA ", id, ": ESN replay window must be > 0"));
  }
  return absl::OkStatus();
}

absl::Status ValidatePolicy(const XfrmPolicy& policy) {
  const std::string id = PolicyIdText(policy.id());
  if (policy.dir != XfrmDir::kIn && policy.dir != XfrmDir::kOut &&
      policy.dir != XfrmDir::kFwd) {
    return KernelError(EINVAL, "Invalid policy direction");
  }
  if (policy.action != XfrmAction::kAllow &&
      policy.action != XfrmAction::kBlock) {
    return KernelError(EINVAL,
                       absl::StrCat("policy ", id, ": Invalid policy action"));
  }
  const IpFamily family = policy.selector.src.family();
  if (policy.selector.dst.family() != family) {
    return KernelError(EINVAL,
                       absl::StrCat("policy ", id,
                                    ": selector source and destination are "
                                    "of different families"));
  }
  if (policy.templates.size() > kMaxTemplates) {
    return KernelError(
        EINVAL, absl::StrCat("policy ", id,
                             ": Template count must be <= XFRM_MAX_DEPTH (",
                             kMaxTemplates, ")"));
  }
  IpFamily prev_family = family;
  for (size_t i = 0; i < policy.templates.size(); ++i) {
    const XfrmTemplate& t = policy.templates[i];
    const std::string where = absl::StrCat("policy ", id, " template ", i);
    // A template without addresses takes the policy's family (Linux treats
    // family 0 so).
    IpFamily t_family = t.dst.family();
    if (t.src.IsUnspecified() && t.dst.IsUnspecified()) {
      t_family = prev_family;
    } else if (!t.src.IsUnspecified() && t.src.family() != t.dst.family()) {
      return KernelError(
          EINVAL, absl::StrCat(where,
                               ": source and destination are of different "
                               "families"));
    }
    switch (t.mode) {
      case XfrmMode::kTunnel:
        if (t.optional && policy.dir == XfrmDir::kOut) {
          return KernelError(
              EINVAL, absl::StrCat(where,
                                   ": Mode in optional template not allowed "
                                   "in outbound policy"));
        }
        break;
      case XfrmMode::kTransport:
        if (t_family != prev_family) {
          return KernelError(
              EINVAL, absl::StrCat(where,
                                   ": Mode in template doesn't support a "
                                   "family change"));
        }
        break;
      default:
        return KernelError(
            EINVAL,
            absl::StrCat(where, ": Mode in template must be < XFRM_MODE_MAX"));
    }
    prev_family = t_family;
    if (!TemplateProtoValid(t.proto, t_family)) {
      return KernelError(
          EINVAL, absl::StrCat(where, ": Invalid XFRM protocol in template (",
                               static_cast<int>(t.proto), ")"));
    }
  }
  return absl::OkStatus();
}

}  // namespace sim
}  // namespace kmesh
