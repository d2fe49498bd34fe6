// What Linux refuses when an XFRM SA or policy is added or updated, and with
// which errno, for the simulated kernel to refuse the same:
//
// - SAs (verify_newsa_info, attach_aead, xfrm_init_state, xfrm_init_replay,
//   in that order): AEAD rfc4106(gcm(aes)) only, ICV 64/96/128 (else ENOSYS,
//   "Requested AEAD algorithm not found"); key 20, 28 or 36 bytes (AES-128/
//   192/256 + salt; else EINVAL from the crypto layer); ESN needs a replay
//   window (EINVAL); windows up to 4096; transport mode cannot change family
//   (EPROTONOSUPPORT); protocols other than ESP cannot be described with an
//   AEAD (EINVAL). SPI 0 is refused (EINVAL) although Linux accepts it: such
//   an SA can never be found by SPI, and the product must never program one.
// - Policies (verify_newpolicy_info, validate_tmpl): direction in, out or
//   fwd; action allow or block (block policies may carry templates); selector
//   families equal; at most XFRM_MAX_DEPTH (6) templates, each of an IPsec
//   protocol, transport-mode ones without a family change, and no optional
//   tunnel-mode one in an out policy.
//
// Errors are KernelError statuses (kmesh/kernel/kernel_error.h) naming the
// object; keys are never printed.
#ifndef SIM_KERNEL_XFRM_XFRM_VALIDATION_H_
#define SIM_KERNEL_XFRM_XFRM_VALIDATION_H_

#include "absl/status/status.h"
#include "kmesh/kernel/xfrm.h"

namespace kmesh {
namespace sim {

absl::Status ValidateSa(const XfrmSa& sa);
absl::Status ValidatePolicy(const XfrmPolicy& policy);

}  // namespace sim
}  // namespace kmesh

#endif  // SIM_KERNEL_XFRM_XFRM_VALIDATION_H_
