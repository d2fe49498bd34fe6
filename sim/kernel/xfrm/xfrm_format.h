// How the simulated kernel prints its XFRM objects: an SA as `ip xfrm state`
// lists it and a policy as `ip xfrm policy` does (iproute2's layout; keys are
// printed as "<hidden>": real `ip` prints them, we never do), and the
// one-line identities the simulator's errors name them by.
#ifndef SIM_KERNEL_XFRM_XFRM_FORMAT_H_
#define SIM_KERNEL_XFRM_XFRM_FORMAT_H_

#include <cstdint>
#include <string>

#include "kmesh/base/ip_address.h"
#include "kmesh/kernel/xfrm.h"
#include "sim/kernel/xfrm/replay_window.h"

namespace kmesh {
namespace sim {

// iproute2's name of an IP protocol ("esp", "tcp", "ipv6-icmp"), or its
// number.
std::string ProtoName(uint8_t proto);

// "0x1d0/0xffff".
std::string MarkText(const XfrmMark& mark);

// "dst 10.0.0.1 spi 0x00000001 proto esp mark 0x1d0/0xffff".
std::string SaIdText(const IpAddress& dst, uint32_t spi, uint8_t proto,
                     const XfrmMark& mark);

// "dir in src 0.0.0.0/0 dst 10.244.0.0/24 mark 0xd0/0xffffffff" (with
// " proto tcp" after the destination when the selector names one).
std::string PolicyIdText(const XfrmPolicyId& id);

// The `ip xfrm state` entry of `sa`, whose anti-replay state is `replay`
// and whose last sent sequence number is `output_seq`: windows of up to 32
// packets without ESN as the legacy "bitmap 0x...", others as iproute2
// prints an XFRMA_REPLAY_ESN_VAL bitmap.
std::string FormatIpXfrmState(const XfrmSa& sa, const ReplayWindow& replay,
                              uint64_t output_seq);

// The `ip xfrm policy` entry of `policy`.
std::string FormatIpXfrmPolicy(const XfrmPolicy& policy);

}  // namespace sim
}  // namespace kmesh

#endif  // SIM_KERNEL_XFRM_XFRM_FORMAT_H_
