#include "kmesh/ipsec/xfrm_programmer.h"

#include <algorithm>
#include <tuple>
#include <utility>

#include "absl/strings/str_cat.h"

namespace kmesh::ipsec {
namespace {

// The group of owned objects found in the kernel that nobody claimed yet.
const char kUnclaimed[] = "";

// Operation phases; lower runs first (see the header comment).
enum Phase {
  kAddBlockPolicy = 0,
  kAddInboundSa = 1,
  kAddInPolicy = 2,
  kAddOutboundSa = 3,
  kAddOutPolicy = 4,
  kDeleteOutPolicy = 5,
  kDeleteOutboundSa = 6,
  kDeleteInPolicy = 7,
  kDeleteInboundSa = 8,
  kDeleteBlockPolicy = 9,
};

// Whether `from` can become `to` with an in-place update (Linux changes only
// the output mark of a live SA).
bool UpdatableInPlace(const XfrmSa& from, const XfrmSa& to) {
  XfrmSa patched = from;
  patched.output_mark = to.output_mark;
  return SameSa(patched, to);
}

}  // namespace

absl::Status ApplyResult::ToStatus() const {
  if (errors.empty()) return absl::OkStatus();
  const XfrmOpError& first = errors.front();
  std::string message = absl::StrCat(XfrmOpName(first.op), " [", first.object,
                                     "] failed: ", first.status.message());
  if (errors.size() > 1) {
    absl::StrAppend(&message, " (and ", errors.size() - 1,
                    " more failed XFRM operations)");
  }
  return absl::Status(first.status.code(), message);
}

bool XfrmProgrammer::SaKey::operator<(const SaKey& o) const {
  return std::tie(dst, spi, proto, mark_value, mark_mask) <
         std::tie(o.dst, o.spi, o.proto, o.mark_value, o.mark_mask);
}

bool XfrmProgrammer::PolicyKey::operator<(const PolicyKey& o) const {
  return std::tie(dir, src, dst, proto, mark_value, mark_mask) <
         std::tie(o.dir, o.src, o.dst, o.proto, o.mark_value, o.mark_mask);
}

XfrmProgrammer::XfrmProgrammer(XfrmKernel* kernel) : kernel_(kernel) {}

XfrmProgrammer::SaKey XfrmProgrammer::KeyOf(const XfrmSa& sa) {
  return SaKey{sa.dst, sa.spi, sa.proto, sa.mark.value, sa.mark.mask};
}

XfrmProgrammer::PolicyKey XfrmProgrammer::KeyOf(const XfrmPolicy& policy) {
  return PolicyKey{static_cast<uint8_t>(policy.dir),
                   policy.selector.src,
                   policy.selector.dst,
                   policy.selector.proto,
                   policy.mark.value,
                   policy.mark.mask};
}

XfrmProgrammer::SaKey XfrmProgrammer::OutboundSaKeyFor(const XfrmTemplate& t) {
  return SaKey{t.dst, t.spi, t.proto, kEncryptMark.value, kEncryptMark.mask};
}

int XfrmProgrammer::PhaseOf(OpKind kind, const XfrmSa& sa) {
  const bool inbound = IsInboundSa(sa);
  if (kind == OpKind::kDelete) {
    return inbound ? kDeleteInboundSa : kDeleteOutboundSa;
  }
  return inbound ? kAddInboundSa : kAddOutboundSa;
}

int XfrmProgrammer::PhaseOf(OpKind kind, const XfrmPolicy& policy) {
  const bool del = kind == OpKind::kDelete;
  if (IsBlockPolicy(policy)) return del ? kDeleteBlockPolicy : kAddBlockPolicy;
  if (policy.dir == XfrmDir::kOut)
    return del ? kDeleteOutPolicy : kAddOutPolicy;
  return del ? kDeleteInPolicy : kAddInPolicy;
}

void XfrmProgrammer::CachePutSa(const std::string& group, const XfrmSa& sa) {
  const SaKey key = KeyOf(sa);
  auto it = sas_.find(key);
  if (it != sas_.end()) {
    if (it->second.group != group) {
      group_sas_[it->second.group].erase(key);
      if (group_sas_[it->second.group].empty()) {
        group_sas_.erase(it->second.group);
      }
    }
    it->second = Entry<XfrmSa>{group, sa};
  } else {
    sas_.emplace(key, Entry<XfrmSa>{group, sa});
  }
  group_sas_[group].insert(key);
}

void XfrmProgrammer::CacheEraseSa(const SaKey& key) {
  auto it = sas_.find(key);
  if (it == sas_.end()) return;
  auto g = group_sas_.find(it->second.group);
  if (g != group_sas_.end()) {
    g->second.erase(key);
    if (g->second.empty()) group_sas_.erase(g);
  }
  sas_.erase(it);
}

void XfrmProgrammer::CachePutPolicy(const std::string& group,
                                    const XfrmPolicy& policy) {
  const PolicyKey key = KeyOf(policy);
  CacheErasePolicy(key);
  policies_.emplace(key, Entry<XfrmPolicy>{group, policy});
  group_policies_[group].insert(key);
  if (policy.dir == XfrmDir::kOut) {
    for (const XfrmTemplate& t : policy.templates) {
      ++outbound_refs_[OutboundSaKeyFor(t)];
    }
  }
}

void XfrmProgrammer::CacheErasePolicy(const PolicyKey& key) {
  auto it = policies_.find(key);
  if (it == policies_.end()) return;
  const XfrmPolicy& old = it->second.object;
  if (old.dir == XfrmDir::kOut) {
    for (const XfrmTemplate& t : old.templates) {
      auto ref = outbound_refs_.find(OutboundSaKeyFor(t));
      if (ref != outbound_refs_.end() && --ref->second <= 0) {
        outbound_refs_.erase(ref);
      }
    }
  }
  auto g = group_policies_.find(it->second.group);
  if (g != group_policies_.end()) {
    g->second.erase(key);
    if (g->second.empty()) group_policies_.erase(g);
  }
  policies_.erase(it);
}

void XfrmProgrammer::ClearCache() {
  sas_.clear();
  policies_.clear();
  group_sas_.clear();
  group_policies_.clear();
  outbound_refs_.clear();
}

void XfrmProgrammer::PlanGroup(const std::string& group,
                               const XfrmObjects& desired, std::vector<Op>* ops,
                               ApplyResult* result,
                               std::set<SaKey>* claimed_sas,
                               std::set<PolicyKey>* claimed_policies) {
  std::set<SaKey> wanted_sas;
  for (const XfrmSa& sa : desired.sas) {
    const SaKey key = KeyOf(sa);
    if (!claimed_sas->insert(key).second) {
      result->errors.push_back(
          {group, XfrmOp::kAddSa, DescribeSa(sa),
           absl::FailedPreconditionError(
               absl::StrCat("the same SA identity is wanted twice (", group,
                            " conflicts with another peer or with itself)"))});
      continue;
    }
    wanted_sas.insert(key);
    auto it = sas_.find(key);
    if (it == sas_.end()) {
      ops->push_back(
          {OpKind::kAdd, true, PhaseOf(OpKind::kAdd, sa), group, sa, {}});
      continue;
    }
    if (it->second.group != group && it->second.group != kUnclaimed) {
      wanted_sas.erase(key);
      result->errors.push_back({group, XfrmOp::kAddSa, DescribeSa(sa),
                                absl::FailedPreconditionError(absl::StrCat(
                                    "already programmed for ", it->second.group,
                                    ", wanted by ", group))});
      continue;
    }
    if (SameSa(it->second.object, sa)) {
      if (it->second.group != group) CachePutSa(group, sa);  // adopt
      continue;
    }
    const OpKind kind = UpdatableInPlace(it->second.object, sa)
                            ? OpKind::kUpdate
                            : OpKind::kReplace;
    ops->push_back({kind, true, PhaseOf(kind, sa), group, sa, {}});
  }

  std::set<PolicyKey> wanted_policies;
  for (const XfrmPolicy& policy : desired.policies) {
    const PolicyKey key = KeyOf(policy);
    if (!claimed_policies->insert(key).second) {
      result->errors.push_back(
          {group, XfrmOp::kAddPolicy, DescribePolicy(policy),
           absl::FailedPreconditionError(absl::StrCat(
               "the same policy selector and mark are wanted twice (", group,
               " conflicts with another peer or with itself; overlapping pod "
               "CIDRs?)"))});
      continue;
    }
    wanted_policies.insert(key);
    auto it = policies_.find(key);
    if (it == policies_.end()) {
      ops->push_back({OpKind::kAdd,
                      false,
                      PhaseOf(OpKind::kAdd, policy),
                      group,
                      {},
                      policy});
      continue;
    }
    if (it->second.group != group && it->second.group != kUnclaimed) {
      wanted_policies.erase(key);
      result->errors.push_back(
          {group, XfrmOp::kAddPolicy, DescribePolicy(policy),
           absl::FailedPreconditionError(absl::StrCat(
               "already programmed for ", it->second.group, ", wanted by ",
               group, " (overlapping pod CIDRs?)"))});
      continue;
    }
    if (SamePolicy(it->second.object, policy)) {
      if (it->second.group != group) CachePutPolicy(group, policy);  // adopt
      continue;
    }
    ops->push_back({OpKind::kUpdate,
                    false,
                    PhaseOf(OpKind::kUpdate, policy),
                    group,
                    {},
                    policy});
  }

  // Deletions: what the group has installed and no longer wants.
  if (auto g = group_sas_.find(group); g != group_sas_.end()) {
    for (const SaKey& key : g->second) {
      if (wanted_sas.count(key)) continue;
      const XfrmSa& sa = sas_.at(key).object;
      ops->push_back(
          {OpKind::kDelete, true, PhaseOf(OpKind::kDelete, sa), group, sa, {}});
    }
  }
  if (auto g = group_policies_.find(group); g != group_policies_.end()) {
    for (const PolicyKey& key : g->second) {
      if (wanted_policies.count(key)) continue;
      const XfrmPolicy& policy = policies_.at(key).object;
      ops->push_back({OpKind::kDelete,
                      false,
                      PhaseOf(OpKind::kDelete, policy),
                      group,
                      {},
                      policy});
    }
  }
}

XfrmOp XfrmProgrammer::KernelOpOf(const Op& op) {
  switch (op.kind) {
    case OpKind::kAdd:
      return op.is_sa ? XfrmOp::kAddSa : XfrmOp::kAddPolicy;
    case OpKind::kUpdate:
      return op.is_sa ? XfrmOp::kUpdateSa : XfrmOp::kUpdatePolicy;
    case OpKind::kDelete:
      return op.is_sa ? XfrmOp::kDeleteSa : XfrmOp::kDeletePolicy;
    case OpKind::kReplace:
      return op.is_sa ? XfrmOp::kAddSa : XfrmOp::kUpdatePolicy;
  }
  return XfrmOp::kAddSa;
}

absl::Status XfrmProgrammer::ExecuteOne(const Op& op, XfrmOp* failed) {
  if (op.is_sa) {
    switch (op.kind) {
      case OpKind::kAdd:
        ++counts_.sa_adds;
        *failed = XfrmOp::kAddSa;
        return kernel_->AddSa(op.sa);
      case OpKind::kUpdate: {
        ++counts_.sa_updates;
        *failed = XfrmOp::kUpdateSa;
        absl::Status s = kernel_->UpdateSa(op.sa);
        if (absl::IsNotFound(s)) {  // Deleted behind our back: add it again.
          ++counts_.sa_adds;
          *failed = XfrmOp::kAddSa;
          s = kernel_->AddSa(op.sa);
        }
        return s;
      }
      case OpKind::kDelete: {
        ++counts_.sa_deletes;
        *failed = XfrmOp::kDeleteSa;
        absl::Status s = kernel_->DeleteSa(op.sa.id());
        return absl::IsNotFound(s) ? absl::OkStatus() : s;
      }
      case OpKind::kReplace: {
        ++counts_.sa_deletes;
        *failed = XfrmOp::kDeleteSa;
        absl::Status s = kernel_->DeleteSa(op.sa.id());
        if (!s.ok() && !absl::IsNotFound(s)) return s;
        ++counts_.sa_adds;
        *failed = XfrmOp::kAddSa;
        s = kernel_->AddSa(op.sa);
        if (!s.ok()) CacheEraseSa(KeyOf(op.sa));  // The old one is gone.
        return s;
      }
    }
  } else {
    switch (op.kind) {
      case OpKind::kAdd:
        ++counts_.policy_adds;
        *failed = XfrmOp::kAddPolicy;
        return kernel_->AddPolicy(op.policy);
      case OpKind::kUpdate:
        ++counts_.policy_updates;
        *failed = XfrmOp::kUpdatePolicy;
        return kernel_->UpdatePolicy(op.policy);
      case OpKind::kDelete: {
        ++counts_.policy_deletes;
        *failed = XfrmOp::kDeletePolicy;
        absl::Status s = kernel_->DeletePolicy(op.policy.id());
        return absl::IsNotFound(s) ? absl::OkStatus() : s;
      }
      case OpKind::kReplace:
        ++counts_.policy_updates;
        *failed = XfrmOp::kUpdatePolicy;
        return kernel_->UpdatePolicy(op.policy);
    }
  }
  return absl::InternalError("unknown XFRM operation");
}

void XfrmProgrammer::Execute(std::vector<Op> ops, ApplyResult* result) {
  std::stable_sort(ops.begin(), ops.end(),
                   [](const Op& a, const Op& b) { return a.phase < b.phase; });
  for (const Op& op : ops) {
    const std::string object =
        op.is_sa ? DescribeSa(op.sa) : DescribePolicy(op.policy);
    // Dependencies: an out policy only points at installed outbound SAs, and
    // an outbound SA is only deleted when no installed out policy uses it.
    if (op.phase == kAddOutPolicy) {
      bool ready = true;
      for (const XfrmTemplate& t : op.policy.templates) {
        auto it = sas_.find(OutboundSaKeyFor(t));
        ready &= it != sas_.end() && it->second.object.src == t.src;
      }
      if (!ready) {
        needs_resync_ = true;
        result->errors.push_back(
            {op.group, KernelOpOf(op), object,
             absl::FailedPreconditionError(
                 "deferred: the outbound SA it uses is not installed")});
        continue;
      }
    }
    if (op.phase == kDeleteOutboundSa && outbound_refs_.count(KeyOf(op.sa))) {
      needs_resync_ = true;
      result->errors.push_back(
          {op.group, KernelOpOf(op), object,
           absl::FailedPreconditionError(
               "deferred: an installed out policy still uses this SA")});
      continue;
    }
    XfrmOp failed = KernelOpOf(op);
    absl::Status status = ExecuteOne(op, &failed);
    if (!status.ok()) {
      ++counts_.failures;
      needs_resync_ = true;
      result->errors.push_back({op.group, failed, object, status});
      continue;
    }
    if (op.is_sa) {
      if (op.kind == OpKind::kDelete) {
        CacheEraseSa(KeyOf(op.sa));
      } else {
        CachePutSa(op.group, op.sa);
      }
    } else {
      if (op.kind == OpKind::kDelete) {
        CacheErasePolicy(KeyOf(op.policy));
      } else {
        CachePutPolicy(op.group, op.policy);
      }
    }
  }
}

absl::StatusOr<std::map<std::pair<uint32_t, uint16_t>, uint64_t>>
XfrmProgrammer::InboundPacketCounts() {
  ++counts_.dumps;
  absl::StatusOr<std::vector<XfrmSa>> sas = kernel_->DumpSas();
  if (!sas.ok()) {
    ++counts_.failures;
    return sas.status();
  }
  std::map<std::pair<uint32_t, uint16_t>, uint64_t> out;
  for (const XfrmSa& sa : *sas) {
    if (!IsOwnedSa(sa) || !IsInboundSa(sa)) continue;
    out[{sa.spi, PeerIndexFromInboundMark(sa.mark)}] += sa.counters.packets;
  }
  return out;
}

ApplyResult XfrmProgrammer::Reconcile(
    const std::map<std::string, XfrmObjects>& desired, bool delete_unclaimed) {
  ApplyResult result;
  ++counts_.dumps;
  absl::StatusOr<std::vector<XfrmSa>> sas = kernel_->DumpSas();
  if (!sas.ok()) {
    ++counts_.failures;
    needs_resync_ = true;
    result.errors.push_back({"", XfrmOp::kDumpSas, "all", sas.status()});
    return result;
  }
  ++counts_.dumps;
  absl::StatusOr<std::vector<XfrmPolicy>> policies = kernel_->DumpPolicies();
  if (!policies.ok()) {
    ++counts_.failures;
    needs_resync_ = true;
    result.errors.push_back(
        {"", XfrmOp::kDumpPolicies, "all", policies.status()});
    return result;
  }

  ClearCache();
  for (const XfrmSa& sa : *sas) {
    if (IsOwnedSa(sa)) CachePutSa(kUnclaimed, sa);
  }
  for (const XfrmPolicy& policy : *policies) {
    if (IsOwnedPolicy(policy)) CachePutPolicy(kUnclaimed, policy);
  }

  std::vector<Op> ops;
  std::set<SaKey> claimed_sas;
  std::set<PolicyKey> claimed_policies;
  for (const auto& [group, objects] : desired) {
    PlanGroup(group, objects, &ops, &result, &claimed_sas, &claimed_policies);
  }
  if (delete_unclaimed) {
    PlanDeleteUnclaimed(claimed_sas, claimed_policies, &ops);
  }
  needs_resync_ = false;
  Execute(std::move(ops), &result);
  if (!result.ok()) needs_resync_ = true;
  return result;
}

ApplyResult XfrmProgrammer::ApplyGroup(const std::string& group,
                                       const XfrmObjects& desired) {
  ApplyResult result;
  std::vector<Op> ops;
  std::set<SaKey> claimed_sas;
  std::set<PolicyKey> claimed_policies;
  PlanGroup(group, desired, &ops, &result, &claimed_sas, &claimed_policies);
  if (!result.ok()) needs_resync_ = true;
  Execute(std::move(ops), &result);
  return result;
}

ApplyResult XfrmProgrammer::DeleteUnclaimed() {
  ApplyResult result;
  std::vector<Op> ops;
  PlanDeleteUnclaimed({}, {}, &ops);
  Execute(std::move(ops), &result);
  return result;
}

void XfrmProgrammer::PlanDeleteUnclaimed(
    const std::set<SaKey>& keep_sas, const std::set<PolicyKey>& keep_policies,
    std::vector<Op>* ops) const {
  if (auto g = group_sas_.find(kUnclaimed); g != group_sas_.end()) {
    for (const SaKey& key : g->second) {
      if (keep_sas.count(key)) continue;
      const XfrmSa& sa = sas_.at(key).object;
      ops->push_back({OpKind::kDelete,
                      true,
                      PhaseOf(OpKind::kDelete, sa),
                      kUnclaimed,
                      sa,
                      {}});
    }
  }
  if (auto g = group_policies_.find(kUnclaimed); g != group_policies_.end()) {
    for (const PolicyKey& key : g->second) {
      if (keep_policies.count(key)) continue;
      const XfrmPolicy& policy = policies_.at(key).object;
      ops->push_back({OpKind::kDelete,
                      false,
                      PhaseOf(OpKind::kDelete, policy),
                      kUnclaimed,
                      {},
                      policy});
    }
  }
}

bool XfrmProgrammer::IsInstalled(const XfrmSa& sa) const {
  auto it = sas_.find(KeyOf(sa));
  return it != sas_.end() && SameSa(it->second.object, sa);
}

bool XfrmProgrammer::HasObjects(const std::string& group) const {
  return group_sas_.count(group) > 0 || group_policies_.count(group) > 0;
}

XfrmObjects XfrmProgrammer::Unclaimed() const {
  XfrmObjects out;
  if (auto g = group_sas_.find(kUnclaimed); g != group_sas_.end()) {
    for (const SaKey& key : g->second) out.sas.push_back(sas_.at(key).object);
  }
  if (auto g = group_policies_.find(kUnclaimed); g != group_policies_.end()) {
    for (const PolicyKey& key : g->second) {
      out.policies.push_back(policies_.at(key).object);
    }
  }
  return out;
}

XfrmObjects XfrmProgrammer::Installed() const {
  XfrmObjects out;
  for (const auto& [key, entry] : sas_) out.sas.push_back(entry.object);
  for (const auto& [key, entry] : policies_) {
    out.policies.push_back(entry.object);
  }
  return out;
}

}  // namespace kmesh::ipsec
