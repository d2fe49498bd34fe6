// SimXfrm: an in-memory twin of Linux's XFRM state (SA) and policy databases
// behind the XfrmKernel interface, strict wherever Linux is strict, so that
// code which works against it works against a kernel. What it copies from
// Linux (net/xfrm/xfrm_state.c, xfrm_policy.c, xfrm_user.c), each checked on a
// Debian 6.1 kernel under qemu and, for policies, on a 6.18 host kernel
// (linux_xfrm_probe.sh beside this file repeats those checks):
//
// - SA identity is Linux's lookup, not a key: adding SA x fails with EEXIST
//   when an SA y with the same (dst, SPI, proto) has
//   ((x.mark.value & x.mark.mask) & y.mark.mask) == y.mark.value
//   (__xfrm_state_locate passes x's masked mark to __xfrm_state_lookup). So it
//   is asymmetric: an unmarked SA added after a marked one is accepted, a
//   marked one after an unmarked one is EEXIST, and two unmarked SAs with the
//   same dst and SPI always collide.
// - Update and delete of an absent SA are ESRCH ("No such process"), which
//   maps to NotFound. Update of a live SA changes only its output mark (when
//   one is given) and lifetimes: key, ICV length, reqid, source, replay window
//   and flags stay as they were (xfrm_state_update), so a new key needs a new
//   SA (new SPI) or delete + add.
// - Lookups walk newest first, as the kernel's hash chains do: when several
//   SAs match a packet's mark the most recently added wins. Lookups by
//   (dst, SPI) (inbound packets, and the identity check of add, update and
//   delete) find that SA through an index instead of a walk: per (dst, SPI)
//   the SAs are grouped by mark mask and hashed by (protocol, masked mark
//   value), so a lookup costs one hash probe per distinct mask in the chain
//   (one for a node's per-peer inbound SAs, however many peers it has).
// - Validation: AEAD rfc4106(gcm(aes)) only, ICV 64/96/128 (else ENOSYS,
//   "Requested AEAD algorithm not found"); key 20, 28 or 36 bytes (AES-128/
//   192/256 + salt; else EINVAL from the crypto layer); ESN needs a replay
//   window (EINVAL); windows up to 4096; transport mode cannot change family
//   (EPROTONOSUPPORT); protocols other than ESP cannot be described with an
//   AEAD (EINVAL). SPI 0 is rejected (EINVAL) although Linux accepts it: such
//   an SA can never be found by SPI, and the product must never program one.
// - Policy identity is (dir, selector, mark value and mask compared exactly);
//   priority is not part of it. Add of a taken identity is EEXIST, Update
//   replaces (or adds), Delete of an absent one is ENOENT. Lookup: lowest
//   priority number wins; equal priorities go to the one inserted first (a
//   replacement with unchanged priority keeps its place). Block policies may
//   carry templates.
// - Dumps list newest first, as `ip xfrm state` / `ip xfrm policy` do.
//
// Besides the tables it keeps what the simulated data path needs per SA
// (output sequence counter, replay window, byte and packet counters) and the
// /proc/net/xfrm_stat counters. Test hooks: inject failures, count
// operations. One mutex guards the tables (the counters are atomic); every
// call is safe from any thread.
#ifndef SIM_KERNEL_SIM_XFRM_H_
#define SIM_KERNEL_SIM_XFRM_H_

#include <algorithm>
#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <tuple>
#include <unordered_map>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/inlined_vector.h"
#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "kmesh/base/ip_address.h"
#include "kmesh/kernel/xfrm.h"
#include "sim/kernel/replay_window.h"
#include "sim/kernel/xfrm_policy_index.h"
#include "sim/kernel/xfrm_stat.h"

namespace kmesh {
namespace sim {

// Names one SA in the table for per-SA data-path state. Handles are never
// reused: after the SA is deleted, calls with its handle are NotFound.
struct SaHandle {
  uint64_t id = 0;
  friend bool operator==(SaHandle a, SaHandle b) { return a.id == b.id; }
};

// An SA the data path found: its description (a copy) and its handle.
struct SaRef {
  SaHandle handle;
  XfrmSa sa;
};

// Per-SA counters and sequence state, as `ip -s xfrm state` shows them.
struct SaStats {
  uint64_t output_seq = 0;  // Last sequence number handed out; 0 = none yet.
  uint64_t replay_top = 0;  // Highest authenticated inbound sequence number.
  uint64_t bytes = 0;
  uint64_t packets = 0;
  uint64_t replayed = 0;       // Drops: already received.
  uint64_t replay_window = 0;  // Drops: below the window.
  uint64_t integrity_failed = 0;
};

// Linux's template check for inbound SAs (xfrm_state_ok): protocol and mode
// equal, SPI and reqid equal unless 0 in the template (= any), and in tunnel
// mode the SA's destination equal to the template's and its source equal
// unless the template's source is unspecified (= any).
bool InboundTemplateMatches(const XfrmTemplate& tmpl, const XfrmSa& sa);

// The mark on a packet after `sa` processed it: Linux's xfrm_smark_get,
// (output_mark.value & output_mark.mask) | (mark & ~output_mark.mask).
uint32_t ApplyOutputMark(const XfrmSa& sa, uint32_t packet_mark);

class SimXfrm : public XfrmKernel {
 public:
  SimXfrm() = default;
  SimXfrm(const SimXfrm&) = delete;
  SimXfrm& operator=(const SimXfrm&) = delete;

  // XfrmKernel. Errors carry Linux's errno first in the message
  // ("EEXIST: ...") and its absl code (absl::ErrnoToStatusCode).
  absl::Status AddSa(const XfrmSa& sa) override;
  absl::Status UpdateSa(const XfrmSa& sa) override;
  absl::Status DeleteSa(const XfrmSaId& id) override;
  absl::StatusOr<std::vector<XfrmSa>> DumpSas() override;
  absl::Status AddPolicy(const XfrmPolicy& policy) override;
  absl::Status UpdatePolicy(const XfrmPolicy& policy) override;
  absl::Status DeletePolicy(const XfrmPolicyId& id) override;
  absl::StatusOr<std::vector<XfrmPolicy>> DumpPolicies() override;

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
  // packet src -> dst (inner addresses) carrying `packet_mark`: same family
  // as the template, reqid equal (exactly, 0 included, as Linux compares it),
  // mark matching, protocol and mode equal, SPI equal when the template sets
  // one, addresses equal to the template's in tunnel mode (to the packet's in
  // transport mode; an unspecified source on either side matches any), and
  // the SA's selector, if set, matching the packet. Newest wins. nullopt
  // means XfrmOutNoStates.
  std::optional<SaRef> FindOutboundSa(const XfrmTemplate& tmpl,
                                      const IpAddress& src,
                                      const IpAddress& dst,
                                      uint32_t packet_mark,
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
  // CheckReplay and, when it is kOk, AdvanceReplay.
  absl::StatusOr<ReplayCheck> CheckAndUpdateReplay(SaHandle handle,
                                                   uint32_t seq_low);
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
  std::string FormatXfrmStat() const { return stats_.Format(); }

  // --- Human-readable dumps (`ip xfrm state` / `ip xfrm policy`) ----------
  // Keys are printed as "<hidden>" (real `ip` prints them; we never do).
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
  // often (the cluster benchmark reads a thousand of them). Not an XfrmKernel
  // operation, so it is neither counted nor subject to FailNext. `visit`
  // must be short and must not call back into this SimXfrm.
  void VisitSas(absl::FunctionRef<void(const XfrmSa&)> visit) const;
  // When an AddSa, UpdateSa or DeleteSa last succeeded (the epoch before the
  // first). An observer that finds the table in some state learns when it
  // got there, however late it looked, provided nothing changed since.
  std::chrono::steady_clock::time_point last_sa_change() const;

 private:
  struct SaEntry {
    SaEntry(const XfrmSa& s, uint64_t h)
        : sa(s), handle(h), replay(s.replay_window, s.esn) {}
    XfrmSa sa;
    uint64_t handle;  // Also the insertion order.
    uint64_t output_seq = 0;
    ReplayWindow replay;
    SaStats stats;
  };
  struct PolicyEntry {
    XfrmPolicy policy;
    uint64_t pos;      // Order among equal priorities.
    uint64_t created;  // Dump order.
  };
  struct Fault {
    int remaining = 0;
    absl::Status status;
  };
  // Index key of the kernel's byspi hash: (dst, SPI).
  struct SpiKey {
    IpAddress dst;
    uint32_t spi;
    friend bool operator==(const SpiKey& a, const SpiKey& b) {
      return a.spi == b.spi && a.dst == b.dst;
    }
  };
  struct SpiKeyHash {
    size_t operator()(const SpiKey& k) const {
      return std::hash<IpAddress>()(k.dst) * 31 + k.spi;
    }
  };
  // The SAs of one (dst, SPI), indexed for __xfrm_state_lookup: grouped by
  // mark mask (a chain holds few distinct masks), each group a hash map from
  // (proto, masked mark value) to its SAs, oldest first. An SA with mask m
  // and (stored, masked) value v matches mark k exactly when k & m == v, i.e.
  // when it is listed under (proto, k & m) in m's group; so a lookup probes
  // every group once and keeps the newest SA it finds. A list holds one SA
  // in practice (AddSa refuses a second with the same proto, mask and value
  // as EEXIST); the index does not rely on it.
  struct SpiChain {
    struct MaskGroup {
      uint32_t mask = 0;
      absl::flat_hash_map<uint64_t, absl::InlinedVector<SaEntry*, 1>> by_value;
    };
    std::vector<MaskGroup> groups;

    // The group of `mask`, or groups.end().
    std::vector<MaskGroup>::iterator FindGroup(uint32_t mask) {
      return std::find_if(
          groups.begin(), groups.end(),
          [mask](const MaskGroup& g) { return g.mask == mask; });
    }
  };

  // Counts the call and returns the injected failure, if any.
  absl::Status BeginOp(XfrmOp op) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // __xfrm_state_lookup: newest SA with (dst, spi, proto) and
  // (mark & sa.mark.mask) == sa.mark.value, through by_spi_ (one probe per
  // mark mask of the (dst, spi) chain).
  SaEntry* FindByLookup(const IpAddress& dst, uint32_t spi, uint8_t proto,
                        uint32_t mark) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  PolicyEntry* FindPolicy(const XfrmPolicyId& id)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  SaEntry* FindHandle(SaHandle handle) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::StatusOr<SaEntry*> LiveHandle(SaHandle handle) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status InsertPolicy(const XfrmPolicy& policy, bool exclusive)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void IndexSa(SaEntry* entry) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void UnindexSa(SaEntry* entry) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  mutable absl::Mutex mu_;
  // By handle; handles grow, so iteration is insertion order.
  std::map<uint64_t, std::unique_ptr<SaEntry>> sas_ ABSL_GUARDED_BY(mu_);
  // Indexes over sas_: by (dst, SPI) for lookups by SPI (see SpiChain), and
  // by destination for the outbound search, each list oldest first (walked
  // backwards).
  std::unordered_map<SpiKey, SpiChain, SpiKeyHash> by_spi_ ABSL_GUARDED_BY(mu_);
  std::unordered_map<IpAddress, std::vector<SaEntry*>> by_dst_
      ABSL_GUARDED_BY(mu_);
  // Policies in lookup order (priority, then position among equals), an
  // index from identity to that order, so inserts and deletes are O(log n)
  // as a kernel's hashed tables are, and an index by selector prefixes for
  // the data path's lookups (it points into policies_, whose nodes stay put).
  using PolicyOrder = XfrmPolicyIndex::Order;
  using PolicyIdKey =
      std::tuple<uint8_t, IpPrefix, IpPrefix, uint8_t, uint32_t, uint32_t>;
  static PolicyIdKey IdKey(const XfrmPolicyId& id);
  std::map<PolicyOrder, PolicyEntry> policies_ ABSL_GUARDED_BY(mu_);
  std::map<PolicyIdKey, PolicyOrder> policy_ids_ ABSL_GUARDED_BY(mu_);
  XfrmPolicyIndex policy_index_ ABSL_GUARDED_BY(mu_);
  uint64_t next_handle_ ABSL_GUARDED_BY(mu_) = 1;
  std::chrono::steady_clock::time_point last_sa_change_ ABSL_GUARDED_BY(mu_);
  uint64_t next_policy_seq_ ABSL_GUARDED_BY(mu_) = 1;
  std::array<Fault, kXfrmOpCount> faults_ ABSL_GUARDED_BY(mu_);
  std::array<uint64_t, kXfrmOpCount> op_counts_ ABSL_GUARDED_BY(mu_){};
  XfrmStatCounters stats_;
};

}  // namespace sim
}  // namespace kmesh

#endif  // SIM_KERNEL_SIM_XFRM_H_
