// XfrmKernel: what the IPsec daemon needs from the kernel's XFRM tables, and
// the plain descriptions of SAs and policies that every backend accepts. The
// Linux backend (kmesh/linux, XFRM netlink) and the simulator (sim/kernel)
// implement it with the same semantics: an SA is unique by (destination, SPI,
// protocol, mark under its mask) and a second one is AlreadyExists (EEXIST); a
// policy is unique by (direction, selector, mark) and priority is not part of
// its identity; deleting what is not there is NotFound (ENOENT). Errors are
// absl::Status values whose message names the kernel's errno. Besides the
// tables, a backend reports what the kernel counts: per SA its output
// sequence number and lifetime packet and byte counters (XfrmSaCounters, in
// dumps only), and the node's /proc/net/xfrm_stat counters (ReadStats).
#ifndef KMESH_KERNEL_XFRM_H_
#define KMESH_KERNEL_XFRM_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "kmesh/base/ip_address.h"
#include "kmesh/kernel/xfrm_key.h"

namespace kmesh {

// IP protocol numbers used in XFRM descriptions.
inline constexpr uint8_t kIpProtoAny = 0;
inline constexpr uint8_t kIpProtoEsp = 50;

// A mark and its mask, as in `ip xfrm ... mark VALUE mask MASK`. A packet with
// mark m matches when (m & mask) == value.
struct XfrmMark {
  uint32_t value = 0;
  uint32_t mask = 0;

  bool Matches(uint32_t packet_mark) const {
    return (packet_mark & mask) == value;
  }
  friend bool operator==(const XfrmMark& a, const XfrmMark& b) {
    return a.value == b.value && a.mask == b.mask;
  }
  friend bool operator!=(const XfrmMark& a, const XfrmMark& b) {
    return !(a == b);
  }
};

enum class XfrmMode : uint8_t { kTransport = 0, kTunnel = 1 };
enum class XfrmDir : uint8_t { kIn = 0, kOut = 1, kFwd = 2 };
enum class XfrmAction : uint8_t { kAllow = 0, kBlock = 1 };

const char* XfrmDirName(XfrmDir dir);

// Traffic selector: source and destination prefixes (same family) and an
// optional upper-layer protocol (kIpProtoAny for all).
struct XfrmSelector {
  IpPrefix src;
  IpPrefix dst;
  uint8_t proto = kIpProtoAny;

  bool Matches(const IpAddress& s, const IpAddress& d, uint8_t p) const {
    return src.Contains(s) && dst.Contains(d) &&
           (proto == kIpProtoAny || proto == p);
  }
  friend bool operator==(const XfrmSelector& a, const XfrmSelector& b) {
    return a.src == b.src && a.dst == b.dst && a.proto == b.proto;
  }
};

// What identifies an SA in the kernel.
struct XfrmSaId {
  IpAddress dst;
  uint32_t spi = 0;  // Host order.
  uint8_t proto = kIpProtoEsp;
  XfrmMark mark;
};

// What the kernel counts for one SA, as `ip -s xfrm state` shows it. Only
// DumpSas fills it; it is state, not description, so AddSa and UpdateSa
// ignore it and no comparison of SAs (SameSa, the programmer's diff) looks at
// it: an SA dumped after traffic is still equal to the one desired.
struct XfrmSaCounters {
  // The last ESP sequence number used for output; 0 before the first packet.
  // Linux: xfrm_replay_state.oseq, or with ESN
  // ((uint64_t)xfrm_replay_state_esn.oseq_hi << 32) | oseq. Inbound SAs stay
  // at 0.
  uint64_t output_seq = 0;
  // Linux's curlft ("lifetime current"): packets and bytes the SA processed,
  // in whichever direction it serves.
  uint64_t packets = 0;
  uint64_t bytes = 0;
};

// A security association (`ip xfrm state`). Only AEAD SAs are described:
// the product uses rfc4106(gcm(aes)) exclusively.
struct XfrmSa {
  IpAddress src;
  IpAddress dst;
  uint32_t spi = 0;  // Host order; never 0 on the wire (RFC 4303).
  uint8_t proto = kIpProtoEsp;
  XfrmMode mode = XfrmMode::kTunnel;
  uint32_t reqid = 0;
  std::string aead_name = "rfc4106(gcm(aes))";
  XfrmKey aead_key;  // 36 bytes: AES-256 key || 4-byte salt.
  uint32_t icv_bits = 128;
  XfrmMark mark;         // Which packets this SA applies to.
  XfrmMark output_mark;  // Mark set on packets after this SA processed them.
  uint32_t replay_window = 0;  // Packets; 0 disables anti-replay.
  bool esn = false;            // Extended (64-bit) sequence numbers.
  // Optional inner-traffic selector; unset (both /0 of the SA's family) means
  // any.
  XfrmSelector selector;
  // Filled by DumpSas; ignored by AddSa and UpdateSa and by every comparison
  // (see XfrmSaCounters).
  XfrmSaCounters counters;

  XfrmSaId id() const { return XfrmSaId{dst, spi, proto, mark}; }
};

// A policy template (`tmpl src .. dst .. proto esp reqid .. mode tunnel`).
struct XfrmTemplate {
  IpAddress src;
  IpAddress dst;
  uint8_t proto = kIpProtoEsp;
  XfrmMode mode = XfrmMode::kTunnel;
  uint32_t reqid = 0;
  uint32_t spi = 0;  // 0 = any SPI.
  bool optional = false;
};

// What identifies a policy in the kernel.
struct XfrmPolicyId {
  XfrmDir dir = XfrmDir::kOut;
  XfrmSelector selector;
  XfrmMark mark;
};

// A policy (`ip xfrm policy`). Lower priority numbers win.
struct XfrmPolicy {
  XfrmDir dir = XfrmDir::kOut;
  XfrmSelector selector;
  XfrmMark mark;
  uint32_t priority = 0;
  XfrmAction action = XfrmAction::kAllow;
  std::vector<XfrmTemplate> templates;

  XfrmPolicyId id() const { return XfrmPolicyId{dir, selector, mark}; }
};

// The node's XFRM MIB as /proc/net/xfrm_stat lists it: (name, value) in the
// kernel's order with the kernel's names ("XfrmInError", "XfrmInBufferError",
// ..., "XfrmOutStateInvalid", ...). Kernels before 6.10 list 28 counters,
// later ones a few more at the end; a reader looks counters up by name.
using XfrmStats = std::vector<std::pair<std::string, uint64_t>>;

// The XfrmKernel calls that read or change the XFRM tables, one per method:
// what failed in an error report, and what the simulator counts and can be
// told to fail. ReadStats is deliberately not one: it reads counters, not the
// tables (on Linux a /proc file, not a netlink request), the programmer never
// calls it, and a failure to read it changes nothing a resync would repair.
// Tests that need it to fail use MockXfrmKernel.
enum class XfrmOp : uint8_t {
  kAddSa,
  kUpdateSa,
  kDeleteSa,
  kDumpSas,
  kAddPolicy,
  kUpdatePolicy,
  kDeletePolicy,
  kDumpPolicies,
};
inline constexpr size_t kXfrmOpCount =
    static_cast<size_t>(XfrmOp::kDumpPolicies) + 1;
// "add SA", "dump policies", ...
const char* XfrmOpName(XfrmOp op);
inline bool IsDump(XfrmOp op) {
  return op == XfrmOp::kDumpSas || op == XfrmOp::kDumpPolicies;
}

class XfrmKernel {
 public:
  virtual ~XfrmKernel() = default;

  // Adds an SA; AlreadyExists when (dst, spi, proto, mark) is taken.
  virtual absl::Status AddSa(const XfrmSa& sa) = 0;
  // Replaces the SA with the same id; NotFound when there is none.
  // Caution, as on Linux (xfrm_state_update): for a live SA only the output
  // mark (when set) and lifetimes change; key, ICV length, reqid, source and
  // replay settings are silently kept. A new key needs a new SA.
  virtual absl::Status UpdateSa(const XfrmSa& sa) = 0;
  virtual absl::Status DeleteSa(const XfrmSaId& id) = 0;
  virtual absl::StatusOr<std::vector<XfrmSa>> DumpSas() = 0;

  // Adds a policy; AlreadyExists when (dir, selector, mark) is taken.
  virtual absl::Status AddPolicy(const XfrmPolicy& policy) = 0;
  // Adds or replaces the policy with the same id.
  virtual absl::Status UpdatePolicy(const XfrmPolicy& policy) = 0;
  virtual absl::Status DeletePolicy(const XfrmPolicyId& id) = 0;
  virtual absl::StatusOr<std::vector<XfrmPolicy>> DumpPolicies() = 0;

  // The node's /proc/net/xfrm_stat counters (see XfrmStats), for monitoring:
  // a counter that rises means packets the XFRM layer dropped or refused.
  // Read-only and cheap. On Linux, a kernel built without
  // CONFIG_XFRM_STATISTICS has no such file: NotFound naming the file.
  virtual absl::StatusOr<XfrmStats> ReadStats() = 0;
};

}  // namespace kmesh

#endif  // KMESH_KERNEL_XFRM_H_
