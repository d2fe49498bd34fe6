// SaTable: one simulated node's XFRM state database (SAD), with Linux's
// identity and lookup rules (net/xfrm/xfrm_state.c) and the per-SA state the
// simulated data path keeps (output sequence number, replay window,
// counters). It stores what it is given: validation is xfrm_validation.h's,
// locking SimXfrm's (the table is not thread-safe).
//
// - SA identity is Linux's lookup, not a key: adding SA x fails with EEXIST
//   when an SA y with the same (dst, SPI, proto) has
//   ((x.mark.value & x.mark.mask) & y.mark.mask) == y.mark.value
//   (__xfrm_state_locate passes x's masked mark to __xfrm_state_lookup). So it
//   is asymmetric: an unmarked SA added after a marked one is accepted, a
//   marked one after an unmarked one is EEXIST, and two unmarked SAs with the
//   same dst and SPI always collide. An SA's mark value is stored under its
//   mask, as Linux stores it.
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
#ifndef SIM_KERNEL_XFRM_SA_TABLE_H_
#define SIM_KERNEL_XFRM_SA_TABLE_H_

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <unordered_map>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/inlined_vector.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "kmesh/base/ip_address.h"
#include "kmesh/kernel/xfrm.h"
#include "sim/kernel/xfrm/replay_window.h"

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

// An SA selector with both prefixes /0 and no protocol, of either family, is
// "unset": the product's codec does not send it, and Linux gives such an SA
// a selector of its own family that any traffic of that family fits
// (copy_from_user_state).
bool SelectorIsUnset(const XfrmSelector& sel);

// Whether inner traffic src -> dst of `proto` fits `sa`'s selector as Linux
// matches it (xfrm_selector_match, for an outbound SA in xfrm_state_look_at
// and for a decrypted packet in __xfrm_policy_check): of the selector's
// family (the SA's own when unset) and inside its prefixes.
bool SaSelectorAdmits(const XfrmSa& sa, const IpAddress& src,
                      const IpAddress& dst, uint8_t proto);

class SaTable {
 public:
  // One SA and its data-path state.
  struct Entry {
    Entry(const XfrmSa& s, uint64_t h)
        : sa(s), handle(h), replay(s.replay_window, s.esn) {}
    // Its mark value stored under its mask; counters always zero (they live
    // below; SimXfrm::DumpSas fills them in its copies).
    XfrmSa sa;
    uint64_t handle;  // Also the insertion order.
    uint64_t output_seq = 0;
    ReplayWindow replay;
    SaStats stats;  // Counters only; the sequence fields live above.
  };

  SaTable() = default;
  SaTable(const SaTable&) = delete;
  SaTable& operator=(const SaTable&) = delete;

  // XFRM_MSG_NEWSA after validation: EEXIST when an SA with the same
  // (dst, SPI, proto) finds `sa` under its mark (see above). `sa.counters`
  // is ignored: a new SA starts at zero.
  absl::Status Add(const XfrmSa& sa);
  // XFRM_MSG_UPDSA after validation: ESRCH without such an SA; otherwise
  // only the output mark changes, and only when `sa` sets one.
  absl::Status Update(const XfrmSa& sa);
  // XFRM_MSG_DELSA: the SA the id finds (its mark under its mask), or ESRCH.
  absl::Status Delete(const XfrmSaId& id);

  // __xfrm_state_lookup: the newest SA with (dst, spi, proto) and
  // (mark & sa.mark.mask) == sa.mark.value; nullptr when none. One hash probe
  // per mark mask of the (dst, spi) chain.
  const Entry* Lookup(const IpAddress& dst, uint32_t spi, uint8_t proto,
                      uint32_t mark) const;

  // xfrm_state_find: the newest SA a policy template resolves to for a packet
  // src -> dst (inner addresses) of protocol `proto`, by the policy's mark
  // (value & mask; see SimXfrm::FindOutboundSa for the rules); nullptr when
  // none.
  const Entry* FindOutbound(const XfrmTemplate& tmpl, const IpAddress& src,
                            const IpAddress& dst, uint32_t policy_mark,
                            uint8_t proto) const;

  // The SA `handle` names; NotFound once it is deleted.
  absl::StatusOr<Entry*> Find(SaHandle handle);
  absl::StatusOr<const Entry*> Find(SaHandle handle) const;

  size_t size() const { return sas_.size(); }
  // Calls `visit(const Entry&)` with every SA, newest first (the order
  // `ip xfrm state` lists them in).
  template <typename Visitor>
  void VisitNewestFirst(Visitor&& visit) const {
    for (auto it = sas_.rbegin(); it != sas_.rend(); ++it) visit(*it->second);
  }

 private:
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
  // in practice (Add refuses a second with the same proto, mask and value
  // as EEXIST); the index does not rely on it.
  struct SpiChain {
    struct MaskGroup {
      uint32_t mask = 0;
      absl::flat_hash_map<uint64_t, absl::InlinedVector<Entry*, 1>> by_value;
    };
    std::vector<MaskGroup> groups;

    // The group of `mask`, or groups.end().
    std::vector<MaskGroup>::iterator FindGroup(uint32_t mask) {
      return std::find_if(
          groups.begin(), groups.end(),
          [mask](const MaskGroup& g) { return g.mask == mask; });
    }
  };

  Entry* MutableLookup(const IpAddress& dst, uint32_t spi, uint8_t proto,
                       uint32_t mark) const;
  void Index(Entry* entry);
  void Unindex(Entry* entry);

  // By handle; handles grow, so iteration is insertion order.
  std::map<uint64_t, std::unique_ptr<Entry>> sas_;
  // Indexes over sas_: by (dst, SPI) for lookups by SPI (see SpiChain), and
  // by destination for the outbound search, each list oldest first (walked
  // backwards).
  std::unordered_map<SpiKey, SpiChain, SpiKeyHash> by_spi_;
  std::unordered_map<IpAddress, std::vector<Entry*>> by_dst_;
  uint64_t next_handle_ = 1;
};

}  // namespace sim
}  // namespace kmesh

#endif  // SIM_KERNEL_XFRM_SA_TABLE_H_
