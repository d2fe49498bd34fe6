// XfrmProgrammer: makes the kernel's XFRM tables hold the desired SAs and
// policies, touching only objects this daemon owns (IsOwnedSa/IsOwnedPolicy:
// reqid kKmeshReqid and the Kmesh marks); foreign SAs and policies are never
// modified or deleted.
//
// Desired state comes in named groups (one per peer, plus the catch-all
// policies). Reconcile() dumps the kernel and applies the whole difference;
// ApplyGroup() changes one group against a cache of what is programmed, so a
// single peer's change costs only that peer's kernel operations. Within every
// apply the operations run in an order that never leaves marked traffic
// unprotected: block policies first; then inbound SAs, in/fwd policies,
// outbound SAs, out policies (an out policy is only pointed at an outbound SA
// that is installed); then deletions in the reverse order (an outbound SA is
// only deleted once no installed out policy uses it).
//
// An SA whose key, source or replay settings change is replaced (delete, then
// add at once): Linux's SA update cannot change them. That happens only when
// a peer reboots (new boot ID, its old SAs are dead anyway) or the secret is
// re-created under an SPI already in use.
//
// A failing operation is reported with the object and the kernel's error, the
// rest are still applied, and needs_resync() asks the caller for a Reconcile.
// Not thread-safe; the controller serialises calls.
#ifndef KMESH_IPSEC_XFRM_PROGRAMMER_H_
#define KMESH_IPSEC_XFRM_PROGRAMMER_H_

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "kmesh/base/ip_address.h"
#include "kmesh/ipsec/xfrm_layout.h"
#include "kmesh/kernel/xfrm.h"

namespace kmesh::ipsec {

// Kernel operations issued so far (successful or not).
struct XfrmOpCounts {
  uint64_t sa_adds = 0;
  uint64_t sa_updates = 0;
  uint64_t sa_deletes = 0;
  uint64_t policy_adds = 0;
  uint64_t policy_updates = 0;
  uint64_t policy_deletes = 0;
  uint64_t dumps = 0;
  uint64_t failures = 0;

  // Adds, updates and deletes (not dumps).
  uint64_t changes() const {
    return sa_adds + sa_updates + sa_deletes + policy_adds + policy_updates +
           policy_deletes;
  }
};

// One failed (or deliberately deferred) operation.
struct XfrmOpError {
  std::string group;  // The group (peer) the object belongs to.
  // The kernel call that failed, or that was refused or deferred before
  // being made (a replace is a delete and an add: whichever failed).
  XfrmOp op = XfrmOp::kAddSa;
  std::string object;  // DescribeSa / DescribePolicy (no key bytes)
  absl::Status status;
};

struct ApplyResult {
  std::vector<XfrmOpError> errors;

  bool ok() const { return errors.empty(); }
  // OK, or the first error with the object and the count of the others.
  absl::Status ToStatus() const;
};

class XfrmProgrammer {
 public:
  explicit XfrmProgrammer(XfrmKernel* kernel);

  // Dumps the kernel and makes the owned objects equal to the union of
  // `desired`. When two groups want the same object identity, the first (in
  // map order) gets it and the other is reported. Owned objects wanted by no
  // group are deleted when `delete_unclaimed`, and otherwise kept as
  // unclaimed (adopted) objects that a later ApplyGroup can take over
  // without a kernel operation. Rebuilds the cache from the dump.
  ApplyResult Reconcile(const std::map<std::string, XfrmObjects>& desired,
                        bool delete_unclaimed);

  // Makes `group`'s objects equal to `desired` using the cache: objects that
  // are unchanged cost nothing, and an identical unclaimed object is adopted.
  // An object identity held by another group is refused for this group.
  ApplyResult ApplyGroup(const std::string& group, const XfrmObjects& desired);

  // Deletes every object of `group`.
  ApplyResult RemoveGroup(const std::string& group) {
    return ApplyGroup(group, XfrmObjects{});
  }

  // Deletes the unclaimed (adopted, wanted by nobody) objects.
  ApplyResult DeleteUnclaimed();

  // Whether the kernel holds exactly `sa` (as far as the cache knows).
  bool IsInstalled(const XfrmSa& sa) const;
  // Whether `group` still has objects installed.
  bool HasObjects(const std::string& group) const;
  // Owned objects found in the kernel that no group has claimed.
  XfrmObjects Unclaimed() const;
  // Every owned object the cache believes is installed.
  XfrmObjects Installed() const;

  // The packets each owned inbound SA has received, by (SPI, peer index),
  // from one kernel dump (counted in counts(); a failure there does not
  // mark the cache for a resync: nothing was changed).
  absl::StatusOr<std::map<std::pair<uint32_t, uint16_t>, uint64_t>>
  InboundPacketCounts();

  // True after a failed operation or dump, until a Reconcile succeeds.
  bool needs_resync() const { return needs_resync_; }
  const XfrmOpCounts& counts() const { return counts_; }

 private:
  struct SaKey {
    IpAddress dst;
    uint32_t spi = 0;
    uint8_t proto = 0;
    uint32_t mark_value = 0;
    uint32_t mark_mask = 0;
    bool operator<(const SaKey& o) const;
  };
  struct PolicyKey {
    uint8_t dir = 0;
    IpPrefix src;
    IpPrefix dst;
    uint8_t proto = 0;
    uint32_t mark_value = 0;
    uint32_t mark_mask = 0;
    bool operator<(const PolicyKey& o) const;
  };
  template <typename T>
  struct Entry {
    std::string group;  // kUnclaimed for adopted objects
    T object;
  };
  // kReplace: delete + add of an SA, because Linux's XFRM_MSG_UPDSA keeps
  // the key, reqid, source and replay settings of a live SA and changes only
  // its output mark and lifetimes.
  enum class OpKind { kAdd, kUpdate, kDelete, kReplace };
  struct Op {
    OpKind kind;
    bool is_sa;
    int phase;
    std::string group;
    XfrmSa sa;
    XfrmPolicy policy;
  };

  static SaKey KeyOf(const XfrmSa& sa);
  static PolicyKey KeyOf(const XfrmPolicy& policy);
  static SaKey OutboundSaKeyFor(const XfrmTemplate& t);
  static int PhaseOf(OpKind kind, const XfrmSa& sa);
  static int PhaseOf(OpKind kind, const XfrmPolicy& policy);

  // Deletes of the adopted objects no group claims, except those kept.
  void PlanDeleteUnclaimed(const std::set<SaKey>& keep_sas,
                           const std::set<PolicyKey>& keep_policies,
                           std::vector<Op>* ops) const;
  // Diffs one group's desired objects against the cache into `ops`.
  void PlanGroup(const std::string& group, const XfrmObjects& desired,
                 std::vector<Op>* ops, ApplyResult* result,
                 std::set<SaKey>* claimed_sas,
                 std::set<PolicyKey>* claimed_policies);
  void Execute(std::vector<Op> ops, ApplyResult* result);
  // Runs `op`; on failure `*failed` is the kernel call that failed.
  absl::Status ExecuteOne(const Op& op, XfrmOp* failed);
  // The kernel call `op` stands for (for a refused or deferred op).
  static XfrmOp KernelOpOf(const Op& op);

  void CachePutSa(const std::string& group, const XfrmSa& sa);
  void CacheEraseSa(const SaKey& key);
  void CachePutPolicy(const std::string& group, const XfrmPolicy& policy);
  void CacheErasePolicy(const PolicyKey& key);
  void ClearCache();

  XfrmKernel* const kernel_;
  std::map<SaKey, Entry<XfrmSa>> sas_;
  std::map<PolicyKey, Entry<XfrmPolicy>> policies_;
  std::map<std::string, std::set<SaKey>> group_sas_;
  std::map<std::string, std::set<PolicyKey>> group_policies_;
  // How many installed out policies point at each outbound SA.
  std::map<SaKey, int> outbound_refs_;
  XfrmOpCounts counts_;
  bool needs_resync_ = true;
};

}  // namespace kmesh::ipsec

#endif  // KMESH_IPSEC_XFRM_PROGRAMMER_H_
