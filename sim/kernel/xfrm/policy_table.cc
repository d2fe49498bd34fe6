#include "sim/kernel/xfrm/policy_table.h"

#include <algorithm>
#include <cerrno>
#include <utility>

#include "absl/strings/str_cat.h"
#include "kmesh/kernel/kernel_error.h"
#include "sim/kernel/xfrm/xfrm_format.h"

namespace kmesh {
namespace sim {
namespace {

bool SameIdentity(const XfrmPolicyId& a, const XfrmPolicyId& b) {
  // xfrm_policy_insert / xfrm_policy_bysel_ctx: same type and if_id (always
  // main / 0 here), selector_cmp, and xfrm_policy_mark_match, which since
  // Linux 5.8 compares value and mask exactly.
  return a.dir == b.dir && a.selector == b.selector && a.mark == b.mark;
}

}  // namespace

PolicyTable::IdKey PolicyTable::KeyOf(const XfrmPolicyId& id) {
  // Exactly the fields SameIdentity compares.
  return IdKey(static_cast<uint8_t>(id.dir), id.selector.src, id.selector.dst,
               id.selector.proto, id.mark.value, id.mark.mask);
}

PolicyTable::Entry* PolicyTable::Find(const XfrmPolicyId& id) {
  auto it = ids_.find(KeyOf(id));
  if (it == ids_.end()) return nullptr;
  Entry* entry = &policies_.at(it->second);
  return SameIdentity(entry->policy.id(), id) ? entry : nullptr;
}

void PolicyTable::Insert(Order order, Entry entry) {
  const XfrmPolicyId id = entry.policy.id();
  auto it = policies_.emplace(order, std::move(entry)).first;
  ids_[KeyOf(id)] = order;
  index_.Insert(order, &it->second.policy);
}

PolicyTable::Entry PolicyTable::Remove(Order order) {
  auto it = policies_.find(order);
  Entry entry = std::move(it->second);
  index_.Remove(order, entry.policy);
  policies_.erase(it);
  return entry;
}

absl::Status PolicyTable::Add(const XfrmPolicy& policy) {
  if (const Entry* existing = Find(policy.id())) {
    return KernelError(
        EEXIST,
        absl::StrCat("policy ", PolicyIdText(policy.id()), " exists (priority ",
                     existing->policy.priority, ")"));
  }
  const uint64_t seq = next_seq_++;
  Insert(Order(policy.priority, seq), Entry{policy, seq, seq});
  return absl::OkStatus();
}

void PolicyTable::Update(const XfrmPolicy& policy) {
  const Entry* existing = Find(policy.id());
  if (existing == nullptr) {
    const uint64_t seq = next_seq_++;
    Insert(Order(policy.priority, seq), Entry{policy, seq, seq});
    return;
  }
  // xfrm_policy_insert_list puts the replacement right before the old
  // policy when the priority is unchanged (it keeps its place among
  // equals), otherwise after the last policy of its new priority.
  Entry entry = Remove(Order(existing->policy.priority, existing->pos));
  if (entry.policy.priority != policy.priority) entry.pos = next_seq_++;
  entry.policy = policy;
  entry.created = next_seq_++;
  Insert(Order(policy.priority, entry.pos), std::move(entry));
}

absl::Status PolicyTable::Delete(const XfrmPolicyId& id) {
  const Entry* entry = Find(id);
  if (entry == nullptr) {
    return KernelError(ENOENT,
                       absl::StrCat("No such file or directory: no policy ",
                                    PolicyIdText(id)));
  }
  Remove(Order(entry->policy.priority, entry->pos));
  ids_.erase(KeyOf(id));
  return absl::OkStatus();
}

const XfrmPolicy* PolicyTable::Lookup(XfrmDir dir, const IpAddress& src,
                                      const IpAddress& dst, uint8_t proto,
                                      uint32_t packet_mark) const {
  // The first match in policies_ order, found through the prefix index.
  return index_.Lookup(dir, src, dst, proto, packet_mark);
}

std::vector<const XfrmPolicy*> PolicyTable::NewestFirst() const {
  std::vector<const Entry*> entries;
  entries.reserve(policies_.size());
  for (const auto& [order, e] : policies_) entries.push_back(&e);
  std::sort(entries.begin(), entries.end(), [](const Entry* a, const Entry* b) {
    return a->created > b->created;
  });
  std::vector<const XfrmPolicy*> out;
  out.reserve(entries.size());
  for (const Entry* e : entries) out.push_back(&e->policy);
  return out;
}

}  // namespace sim
}  // namespace kmesh
