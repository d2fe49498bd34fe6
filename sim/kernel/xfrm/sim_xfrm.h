// SimXfrm: an in-memory twin of Linux's XFRM state (SA) and policy databases
// behind the XfrmKernel interface, strict wherever Linux is strict, so that
// code which works against it works against a kernel. It puts together what
// this folder holds, each part copied from Linux (net/xfrm/xfrm_state.c,
// xfrm_policy.c, xfrm_user.c) and held against Linux by differential tests
// (random operation sequences on a Debian 6.1 kernel under qemu and, for
// policies, on the host's kernel: //e2e/vm:xfrm_differential_test,
// docs/sim-fidelity.md):
//
// - what Linux refuses, with which errno (xfrm_validation.h);
// - the SAs, with Linux's one-sided identity by (dst, SPI, proto, mark),
//   update and delete rules and newest-first lookups (sa_table.h);
// - the policies, with Linux's identity, replacement and lookup order
//   (policy_table.h, xfrm_policy_index.h);
// - per SA, what the simulated data path needs (output sequence counter,
//   anti-replay window as replay_window.h keeps it, byte and packet
//   counters), and the node's /proc/net/xfrm_stat counters (xfrm_stat.h);
// - `ip xfrm state` / `ip xfrm policy` listings (xfrm_format.h).
//
// Dumps list newest first, as `ip xfrm state` / `ip xfrm policy` do. Test
// hooks: inject failures, count operations. One mutex guards the tables (the
// xfrm_stat counters are atomic); every call is safe from any thread.
#ifndef SIM_KERNEL_XFRM_SIM_XFRM_H_
#define SIM_KERNEL_XFRM_SIM_XFRM_H_

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "kmesh/base/ip_address.h"
#include "kmesh/kernel/xfrm.h"
#include "sim/kernel/xfrm/policy_table.h"
#include "sim/kernel/xfrm/replay_window.h"
#include "sim/kernel/xfrm/sa_table.h"
#include "sim/kernel/xfrm/xfrm_stat.h"

namespace kmesh {
namespace sim {

// Linux's template check for inbound SAs (xfrm_state_ok): protocol and mode
// equal, SPI and reqid equal unless 0 in the template (= any), and in tunnel
// mode the SA's destination equal to the template's and its source equal
// unless the template's source is unspecified (= any).
bool InboundTemplateMatches(const XfrmTemplate& tmpl, const XfrmSa& sa);

// Whether an allow policy's templates accept a packet that arrived through
// the SAs of `sec_path` (outermost first), as Linux's __xfrm_policy_check
// decides: the templates are taken last to first, each consuming the next
// SA it fits (xfrm_policy_ok: an optional transport-mode template is
// skipped; a tunnel-mode SA no template fits stops the search, which fails
// for a required template and leaves an optional one unused), and then no
// tunnel-mode SA may be left unconsumed (secpath_has_nontransport). So a
// packet decrypted by a tunnel-mode SA needs a template that fits that SA,
// optional or not, and one that arrived in clear passes unless a template
// is required.
bool InboundTemplatesAccept(const std::vector<XfrmTemplate>& templates,
                            const std::vector<XfrmSa>& sec_path);

// The mark on a packet after `sa` processed it: Linux's xfrm_smark_get,
// (output_mark.value & output_mark.mask) | (mark & ~output_mark.mask).
uint32_t ApplyOutputMark(const XfrmSa& sa, uint32_t packet_mark);

class SimXfrm : public XfrmKernel {
 public:
  SimXfrm() = default;
  SimXfrm(const SimXfrm&) = delete;
  SimXfrm& operator=(const SimXfrm&) = delete;

  // XfrmKernel. Errors are KernelError statuses carrying Linux's errno
  // (kmesh/kernel/kernel_error.h).
  absl::Status AddSa(const XfrmSa& sa) override;
  absl::Status UpdateSa(const XfrmSa& sa) override;
  absl::Status DeleteSa(const XfrmSaId& id) override;
  absl::StatusOr<std::vector<XfrmSa>> DumpSas() override;
  absl::Status AddPolicy(const XfrmPolicy& policy) override;
  absl::Status UpdatePolicy(const XfrmPolicy& policy) override;
  absl::Status DeletePolicy(const XfrmPolicyId& id) override;
  absl::StatusOr<std::vector<XfrmPolicy>> DumpPolicies() override;
  // DumpSas fills each SA's counters from its state below, as Linux reports
  // them: output_seq is the last sequence number NextOutputSeq handed out (0
  // before the first), packets and bytes what CountPacket added.
  // ReadStats lists the xfrm_stat counters below in Linux 6.18's order. It
  // is not an XfrmOp: neither counted nor subject to FailNext.
  absl::StatusOr<XfrmStats> ReadStats() override;

  // --- Data path lookups ---------------------------------------------------

  // Inbound ESP: the newest SA with this (dst, SPI, proto) whose mark
  // matches the packet's, (packet_mark & sa.mark.mask) == sa.mark.value
  // (__xfrm_state_lookup). nullopt means XfrmInNoStates. Found through the
  // (dst, SPI) index (one hash probe per distinct mark mask), not by walking
  // the SAs.
  std::optional<SaRef> LookupInboundSa(const IpAddress& dst, uint32_t spi,
                                       uint8_t proto,
                                       uint32_t packet_mark) const;

  // Outbound: the SA a policy template resolves to (xfrm_state_find) for a
  // packet src -> dst (inner addresses), looked up with `policy_mark`, which
  // is the policy's mark value & mask, not the packet's mark (Linux:
  // `u32 mark = pol->mark.v & pol->mark.m`; ResolveOutbound passes it): same
  // family as the template, reqid equal (exactly, 0 included, as Linux
  // compares it), (policy_mark & sa.mark.mask) == sa.mark.value, protocol
  // and mode equal, SPI equal when the template sets
  // one, addresses equal to the template's in tunnel mode (to the packet's in
  // transport mode; an unspecified source on either side matches any), and
  // the SA's selector of the packet's family and matching it (an SA given no
  // selector has its own family's: copy_from_user_state). Newest wins.
  // nullopt means XfrmOutNoStates.
  std::optional<SaRef> FindOutboundSa(const XfrmTemplate& tmpl,
                                      const IpAddress& src,
                                      const IpAddress& dst,
                                      uint32_t policy_mark,
                                      uint8_t proto = kIpProtoAny) const;

  // The policy Linux applies to a packet in direction `dir`: same family,
  // selector matching (src, dst, proto), mark matching; lowest priority
  // number first, then insertion order. nullopt: no policy (for in/fwd,
  // plaintext is allowed then; ESP still needs a policy after decryption).
  // Found through XfrmPolicyIndex (a hash lookup per selector shape of the
  // direction), not by walking the table.
  std::optional<XfrmPolicy> LookupPolicy(XfrmDir dir, const IpAddress& src,
                                         const IpAddress& dst, uint8_t proto,
                                         uint32_t packet_mark) const;

  // What Linux's output path (xfrm_lookup) decides for a locally sent or
  // forwarded packet: no policy or an allow policy without templates sends
  // it in clear; a block policy drops it (XfrmOutPolBlock); otherwise each
  // template must resolve to an SA (FindOutboundSa; optional templates may
  // not), or the packet is dropped (XfrmOutNoStates), except that a
  // template naming an SPI for which an SA exists that does not fit (another
  // reqid, source, mode...) is an error (xfrm_state_find's EEXIST,
  // XfrmOutPolError). The policy is found by the packet's mark, its SAs by
  // the policy's (FindOutboundSa). Counts nothing: the caller bumps the stat
  // that goes with the verdict.
  struct OutboundDecision {
    enum class Verdict { kClear, kBlock, kNoStates, kPolError, kTransform };
    Verdict verdict = Verdict::kClear;
    std::vector<SaRef> bundle;  // kTransform: the SAs, innermost first.
  };
  OutboundDecision ResolveOutbound(const IpAddress& src, const IpAddress& dst,
                                   uint8_t proto, uint32_t packet_mark) const;

  // --- Per-SA data-path state ----------------------------------------------

  // Next outbound sequence number (1, 2, ...). OutOfRange ("EOVERFLOW") when
  // the space is exhausted: 2^32 - 1 without ESN, 2^64 - 1 with it; an SA
  // must never wrap (RFC 4303 3.3.3). Bump XfrmOutStateSeqError then.
  absl::StatusOr<uint64_t> NextOutputSeq(SaHandle handle);
  // Replay check for a received low-32-bit sequence number, without moving
  // the window (do that with AdvanceReplay once the ICV verified). Counts
  // kReplayed / kTooOld drops in the SA's stats.
  absl::StatusOr<ReplayCheck> CheckReplay(SaHandle handle, uint32_t seq_low);
  absl::Status AdvanceReplay(SaHandle handle, uint64_t seq);
  // Adds one packet of `bytes` to the SA's lifetime counters.
  absl::Status CountPacket(SaHandle handle, uint64_t bytes);
  // Records an ICV failure (the data path also bumps XfrmInStateProtoError).
  absl::Status CountIntegrityFailure(SaHandle handle);
  absl::StatusOr<SaStats> GetSaStats(SaHandle handle) const;
  // Sets the last output sequence number sent, as `ip xfrm state ...
  // replay-oseq N` does (tests use it to reach the end of the space).
  absl::Status SetOutputSeq(SaHandle handle, uint64_t last_sent);

  // --- /proc/net/xfrm_stat -------------------------------------------------

  void IncrementStat(XfrmStat stat, uint64_t n = 1) {
    stats_.Increment(stat, n);
  }
  uint64_t Stat(XfrmStat stat) const { return stats_.Get(stat); }

  // --- Listings for humans -------------------------------------------------
  // What `cat /proc/net/xfrm_stat`, `ip xfrm state` and `ip xfrm policy`
  // (newest first) print on this node; keys as "<hidden>".
  std::string FormatXfrmStat() const { return stats_.Format(); }
  std::string FormatStates() const;
  std::string FormatPolicies() const;

  // --- Test hooks ----------------------------------------------------------

  // The next `count` calls of `op` fail with `status` (e.g.
  // absl::ResourceExhaustedError("ENOBUFS: ...")) and change nothing. A new
  // call replaces the previous plan for that op; count 0 or an OK status
  // clears it.
  void FailNext(XfrmOp op, int count, absl::Status status);
  // Calls of `op` so far, failed ones included: every call is one netlink
  // request a real kernel would have received.
  uint64_t OperationCount(XfrmOp op) const;
  void ResetOperationCounts();

  size_t sa_count() const;
  size_t policy_count() const;

  // Calls `visit` with every SA, newest first (DumpSas's order), under the
  // table's lock and without copying: for observers that poll large tables
  // often (the cluster benchmark reads a thousand of them). The SAs' counters
  // are not filled in (all zero); DumpSas or GetSaStats has them. Not an
  // XfrmKernel operation, so it is neither counted nor subject to FailNext.
  // `visit` must be short and must not call back into this SimXfrm.
  void VisitSas(absl::FunctionRef<void(const XfrmSa&)> visit) const;
  // When an AddSa, UpdateSa or DeleteSa last succeeded (the epoch before the
  // first). An observer that finds the table in some state learns when it
  // got there, however late it looked, provided nothing changed since.
  std::chrono::steady_clock::time_point last_sa_change() const;

 private:
  struct Fault {
    int remaining = 0;
    absl::Status status;
  };

  // Counts the call and returns the injected failure, if any.
  absl::Status BeginOp(XfrmOp op) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  mutable absl::Mutex mu_;
  SaTable sas_ ABSL_GUARDED_BY(mu_);
  PolicyTable policies_ ABSL_GUARDED_BY(mu_);
  std::chrono::steady_clock::time_point last_sa_change_ ABSL_GUARDED_BY(mu_);
  std::array<Fault, kXfrmOpCount> faults_ ABSL_GUARDED_BY(mu_);
  std::array<uint64_t, kXfrmOpCount> op_counts_ ABSL_GUARDED_BY(mu_){};
  XfrmStatCounters stats_;
};

}  // namespace sim
}  // namespace kmesh

#endif  // SIM_KERNEL_XFRM_SIM_XFRM_H_
