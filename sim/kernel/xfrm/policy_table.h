// PolicyTable: one simulated node's XFRM policy database (SPD), with Linux's
// identity, replacement and lookup order (net/xfrm/xfrm_policy.c). A policy's
// identity is (dir, selector, mark value and mask compared exactly); priority
// is not part of it. Add of a taken identity is EEXIST, Update replaces (or
// adds), Delete of an absent one is ENOENT. Lookup: lowest priority number
// wins; equal priorities go to the one inserted first (a replacement with
// unchanged priority keeps its place), found through XfrmPolicyIndex instead
// of a walk. It stores what it is given: validation is xfrm_validation.h's,
// locking SimXfrm's (the table is not thread-safe).
#ifndef SIM_KERNEL_XFRM_POLICY_TABLE_H_
#define SIM_KERNEL_XFRM_POLICY_TABLE_H_

#include <cstddef>
#include <cstdint>
#include <map>
#include <tuple>
#include <vector>

#include "absl/status/status.h"
#include "kmesh/base/ip_address.h"
#include "kmesh/kernel/xfrm.h"
#include "sim/kernel/xfrm/xfrm_policy_index.h"

namespace kmesh {
namespace sim {

class PolicyTable {
 public:
  PolicyTable() = default;
  PolicyTable(const PolicyTable&) = delete;
  PolicyTable& operator=(const PolicyTable&) = delete;

  // XFRM_MSG_NEWPOLICY after validation: EEXIST when the identity is taken.
  absl::Status Add(const XfrmPolicy& policy);
  // XFRM_MSG_UPDPOLICY after validation: replaces the policy with the same
  // identity, or adds it.
  void Update(const XfrmPolicy& policy);
  // XFRM_MSG_DELPOLICY: ENOENT when no policy has the identity.
  absl::Status Delete(const XfrmPolicyId& id);

  // The policy Linux applies to a packet in direction `dir`: mark and
  // selector matching, first in lookup order; nullptr when none does.
  const XfrmPolicy* Lookup(XfrmDir dir, const IpAddress& src,
                           const IpAddress& dst, uint8_t proto,
                           uint32_t packet_mark) const;

  // Every policy, newest first (the order `ip xfrm policy` lists them in).
  std::vector<const XfrmPolicy*> NewestFirst() const;
  size_t size() const { return policies_.size(); }

 private:
  struct Entry {
    XfrmPolicy policy;
    uint64_t pos;      // Order among equal priorities.
    uint64_t created;  // Dump order.
  };
  using Order = XfrmPolicyIndex::Order;
  using IdKey =
      std::tuple<uint8_t, IpPrefix, IpPrefix, uint8_t, uint32_t, uint32_t>;
  static IdKey KeyOf(const XfrmPolicyId& id);

  // The policy with `id`'s identity, or nullptr.
  Entry* Find(const XfrmPolicyId& id);
  // Puts `entry` in lookup order under `order` and indexes it.
  void Insert(Order order, Entry entry);
  // Takes the policy stored under `order` out of the order and the index.
  Entry Remove(Order order);

  // Policies in lookup order (priority, then position among equals), an
  // index from identity to that order, so inserts and deletes are O(log n)
  // as a kernel's hashed tables are, and an index by selector prefixes for
  // lookups (it points into policies_, whose nodes stay put).
  std::map<Order, Entry> policies_;
  std::map<IdKey, Order> ids_;
  XfrmPolicyIndex index_;
  uint64_t next_seq_ = 1;
};

}  // namespace sim
}  // namespace kmesh

#endif  // SIM_KERNEL_XFRM_POLICY_TABLE_H_
