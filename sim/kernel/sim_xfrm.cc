#include "sim/kernel/sim_xfrm.h"

#include <algorithm>
#include <cerrno>
#include <limits>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "kmesh/kernel/kernel_error.h"

namespace kmesh {
namespace sim {
namespace {

constexpr uint8_t kIpProtoAh = 51;
constexpr uint8_t kIpProtoComp = 108;
constexpr uint8_t kIpProtoIcmp = 1;
constexpr uint8_t kIpProtoTcp = 6;
constexpr uint8_t kIpProtoUdp = 17;
constexpr uint8_t kIpProtoRouting = 43;
constexpr uint8_t kIpProtoIcmpV6 = 58;
constexpr uint8_t kIpProtoDstOpts = 60;

// XFRM_MAX_DEPTH: templates per policy.
constexpr size_t kMaxTemplates = 6;

constexpr const char kRfc4106[] = "rfc4106(gcm(aes))";

// The key of an SA in its (dst, SPI) chain's mask group: protocol and mark
// value under the group's mask.
uint64_t ProtoMarkKey(uint8_t proto, uint32_t masked_mark) {
  return (uint64_t{proto} << 32) | masked_mark;
}

std::string ProtoName(uint8_t proto) {
  switch (proto) {
    case kIpProtoEsp:
      return "esp";
    case kIpProtoAh:
      return "ah";
    case kIpProtoComp:
      return "comp";
    case kIpProtoTcp:
      return "tcp";
    case kIpProtoUdp:
      return "udp";
    case kIpProtoIcmp:
      return "icmp";
    case kIpProtoIcmpV6:
      return "ipv6-icmp";
  }
  return absl::StrCat(proto);
}

const char* ModeName(XfrmMode mode) {
  switch (mode) {
    case XfrmMode::kTransport:
      return "transport";
    case XfrmMode::kTunnel:
      return "tunnel";
  }
  return "?";
}

std::string MarkText(const XfrmMark& mark) {
  return absl::StrFormat("0x%x/0x%x", mark.value, mark.mask);
}

std::string SaIdText(const IpAddress& dst, uint32_t spi, uint8_t proto,
                     const XfrmMark& mark) {
  return absl::StrFormat("dst %s spi 0x%08x proto %s mark %s", dst.ToString(),
                         spi, ProtoName(proto), MarkText(mark));
}

std::string PolicyIdText(const XfrmPolicyId& id) {
  return absl::StrFormat(
      "dir %s src %s dst %s%s mark %s", XfrmDirName(id.dir),
      id.selector.src.ToString(), id.selector.dst.ToString(),
      id.selector.proto == kIpProtoAny
          ? ""
          : absl::StrCat(" proto ", ProtoName(id.selector.proto)),
      MarkText(id.mark));
}

// An SA selector with both prefixes /0 and no protocol is "unset": it
// matches any inner traffic, of either family (Linux's AF_UNSPEC selector).
bool SelectorIsUnset(const XfrmSelector& sel) {
  return sel.src.length() == 0 && sel.dst.length() == 0 &&
         sel.proto == kIpProtoAny;
}

// The checks Linux makes on XFRM_MSG_NEWSA / XFRM_MSG_UPDSA, in its order:
// verify_newsa_info, then attach_aead, then xfrm_init_state (mode family,
// crypto key), then xfrm_init_replay.
absl::Status ValidateSa(const XfrmSa& sa) {
  const std::string id = SaIdText(sa.dst, sa.spi, sa.proto, sa.mark);
  if (sa.src.family() != sa.dst.family()) {
    return KernelError(
        EINVAL, absl::StrCat("SA ", id, ": source ", sa.src.ToString(),
                             " and destination are of different families"));
  }
  if (sa.selector.src.family() != sa.selector.dst.family()) {
    return KernelError(EINVAL,
                       absl::StrCat("SA ", id,
                                    ": selector source and destination are of "
                                    "different families"));
  }
  switch (sa.proto) {
    case kIpProtoEsp:
      break;
    case kIpProtoAh:
      return KernelError(
          EINVAL, absl::StrCat("SA ", id,
                               ": Missing required attribute for AH: "
                               "AUTH_TRUNC or AUTH (an AEAD cannot be used)"));
    case kIpProtoComp:
      return KernelError(
          EINVAL, absl::StrCat("SA ", id,
                               ": Missing required attribute for COMP: COMP"));
    default:
      return KernelError(EINVAL,
                         absl::StrCat("SA ", id, ": Unsupported protocol ",
                                      static_cast<int>(sa.proto)));
  }
  if (sa.aead_name.empty()) {
    return KernelError(EINVAL,
                       absl::StrCat("SA ", id,
                                    ": Missing required attribute for ESP: "
                                    "at least one of AUTH, AUTH_TRUNC, "
                                    "CRYPT, AEAD"));
  }
  if (sa.replay_window > ReplayWindow::kMaxSize) {
    return KernelError(
        EINVAL, absl::StrCat("SA ", id, ": replay window ", sa.replay_window,
                             " too large: ESN bitmap length must be <= 128 "
                             "(4096 packets)"));
  }
  if (sa.mode != XfrmMode::kTransport && sa.mode != XfrmMode::kTunnel) {
    return KernelError(EINVAL, absl::StrCat("SA ", id, ": Unsupported mode"));
  }
  // Not Linux: Linux stores an SPI-0 SA but never finds it by SPI, and a
  // sender would put SPI 0 on the wire, which RFC 4303 reserves.
  if (sa.spi == 0) {
    return KernelError(
        EINVAL, absl::StrCat("SA ", id,
                             ": SPI 0 is reserved (RFC 4303); the simulator "
                             "refuses it although Linux stores such an SA"));
  }
  if (sa.aead_name != kRfc4106 ||
      (sa.icv_bits != 64 && sa.icv_bits != 96 && sa.icv_bits != 128)) {
    return KernelError(
        ENOSYS,
        absl::StrCat("SA ", id, ": Requested AEAD algorithm not found: \"",
                     sa.aead_name, "\" with ICV ", sa.icv_bits,
                     " bits (supported: ", kRfc4106,
                     " with ICV 64, 96 or 128 bits)"));
  }
  if (sa.mode == XfrmMode::kTransport && !SelectorIsUnset(sa.selector) &&
      sa.selector.src.family() != sa.dst.family()) {
    return KernelError(EPROTONOSUPPORT,
                       absl::StrCat("SA ", id,
                                    ": Only tunnel modes can accommodate a "
                                    "change of family"));
  }
  const size_t key_size = sa.aead_key.size();
  if (key_size != 20 && key_size != 28 && key_size != 36) {
    return KernelError(
        EINVAL,
        absl::StrCat("SA ", id,
                     ": Kernel was unable to initialize cryptographic "
                     "operations: ",
                     kRfc4106,
                     " needs a 16, 24 or 32-byte AES key and a 4-byte salt "
                     "(20, 28 or 36 bytes), got ",
                     key_size, " bytes"));
  }
  if (sa.esn && sa.replay_window == 0) {
    return KernelError(
        EINVAL, absl::StrCat("SA ", id, ": ESN replay window must be > 0"));
  }
  return absl::OkStatus();
}

bool TemplateProtoValid(uint8_t proto, IpFamily family) {
  switch (proto) {
    case kIpProtoEsp:
    case kIpProtoAh:
    case kIpProtoComp:
      return true;
    case kIpProtoRouting:
    case kIpProtoDstOpts:
      return family == IpFamily::kV6;
  }
  return false;
}

// verify_newpolicy_info and validate_tmpl.
absl::Status ValidatePolicy(const XfrmPolicy& policy) {
  const std::string id = PolicyIdText(policy.id());
  if (policy.dir != XfrmDir::kIn && policy.dir != XfrmDir::kOut &&
      policy.dir != XfrmDir::kFwd) {
    return KernelError(EINVAL, "Invalid policy direction");
  }
  if (policy.action != XfrmAction::kAllow &&
      policy.action != XfrmAction::kBlock) {
    return KernelError(EINVAL,
                       absl::StrCat("policy ", id, ": Invalid policy action"));
  }
  const IpFamily family = policy.selector.src.family();
  if (policy.selector.dst.family() != family) {
    return KernelError(EINVAL,
                       absl::StrCat("policy ", id,
                                    ": selector source and destination are "
                                    "of different families"));
  }
  if (policy.templates.size() > kMaxTemplates) {
    return KernelError(
        EINVAL, absl::StrCat("policy ", id,
                             ": Template count must be <= XFRM_MAX_DEPTH (",
                             kMaxTemplates, ")"));
  }
  IpFamily prev_family = family;
  for (size_t i = 0; i < policy.templates.size(); ++i) {
    const XfrmTemplate& t = policy.templates[i];
    const std::string where = absl::StrCat("policy ", id, " template ", i);
    // A template without addresses takes the policy's family (Linux treats
    // family 0 so).
    IpFamily t_family = t.dst.family();
    if (t.src.IsUnspecified() && t.dst.IsUnspecified()) {
      t_family = prev_family;
    } else if (!t.src.IsUnspecified() && t.src.family() != t.dst.family()) {
      return KernelError(
          EINVAL, absl::StrCat(where,
                               ": source and destination are of different "
                               "families"));
    }
    switch (t.mode) {
      case XfrmMode::kTunnel:
        if (t.optional && policy.dir == XfrmDir::kOut) {
          return KernelError(
              EINVAL, absl::StrCat(where,
                                   ": Mode in optional template not allowed "
                                   "in outbound policy"));
        }
        break;
      case XfrmMode::kTransport:
        if (t_family != prev_family) {
          return KernelError(
              EINVAL, absl::StrCat(where,
                                   ": Mode in template doesn't support a "
                                   "family change"));
        }
        break;
      default:
        return KernelError(
            EINVAL,
            absl::StrCat(where, ": Mode in template must be < XFRM_MODE_MAX"));
    }
    prev_family = t_family;
    if (!TemplateProtoValid(t.proto, t_family)) {
      return KernelError(
          EINVAL, absl::StrCat(where, ": Invalid XFRM protocol in template (",
                               static_cast<int>(t.proto), ")"));
    }
  }
  return absl::OkStatus();
}

bool SameIdentity(const XfrmPolicyId& a, const XfrmPolicyId& b) {
  // xfrm_policy_insert / xfrm_policy_bysel_ctx: same type and if_id (always
  // main / 0 here), selector_cmp, and xfrm_policy_mark_match, which since
  // Linux 5.8 compares value and mask exactly.
  return a.dir == b.dir && a.selector == b.selector && a.mark == b.mark;
}

}  // namespace

bool InboundTemplateMatches(const XfrmTemplate& tmpl, const XfrmSa& sa) {
  if (sa.proto != tmpl.proto || sa.mode != tmpl.mode) return false;
  if (tmpl.spi != 0 && sa.spi != tmpl.spi) return false;
  if (tmpl.reqid != 0 && sa.reqid != tmpl.reqid) return false;
  if (sa.mode != XfrmMode::kTransport) {
    // xfrm_state_addr_cmp.
    if (tmpl.dst != sa.dst) return false;
    if (!tmpl.src.IsUnspecified() && tmpl.src != sa.src) return false;
  }
  return true;
}

uint32_t ApplyOutputMark(const XfrmSa& sa, uint32_t packet_mark) {
  return (sa.output_mark.value & sa.output_mark.mask) |
         (packet_mark & ~sa.output_mark.mask);
}

// --- Tables -----------------------------------------------------------------

absl::Status SimXfrm::BeginOp(XfrmOp op) {
  const size_t i = static_cast<size_t>(op);
  ++op_counts_[i];
  Fault& fault = faults_[i];
  if (fault.remaining > 0) {
    --fault.remaining;
    return fault.status;
  }
  return absl::OkStatus();
}

SimXfrm::SaEntry* SimXfrm::FindByLookup(const IpAddress& dst, uint32_t spi,
                                        uint8_t proto, uint32_t mark) const {
  auto it = by_spi_.find(SpiKey{dst, spi});
  if (it == by_spi_.end()) return nullptr;
  // The newest match of each mask group is the last SA of its list; the
  // newest of those (highest handle = latest insertion) is the SA the
  // kernel's newest-first walk of the whole chain would stop at.
  SaEntry* newest = nullptr;
  for (const SpiChain::MaskGroup& group : it->second.groups) {
    auto list = group.by_value.find(ProtoMarkKey(proto, mark & group.mask));
    if (list == group.by_value.end()) continue;
    SaEntry* candidate = list->second.back();
    if (newest == nullptr || candidate->handle > newest->handle) {
      newest = candidate;
    }
  }
  return newest;
}

void SimXfrm::IndexSa(SaEntry* entry) {
  const XfrmSa& sa = entry->sa;
  SpiChain& chain = by_spi_[SpiKey{sa.dst, sa.spi}];
  auto group = chain.FindGroup(sa.mark.mask);
  if (group == chain.groups.end()) {
    group = chain.groups.insert(group, SpiChain::MaskGroup{sa.mark.mask, {}});
  }
  // Handles grow, so appending keeps each list oldest first.
  group->by_value[ProtoMarkKey(sa.proto, sa.mark.value & sa.mark.mask)]
      .push_back(entry);
  by_dst_[sa.dst].push_back(entry);
}

void SimXfrm::UnindexSa(SaEntry* entry) {
  const XfrmSa& sa = entry->sa;
  if (auto chain = by_spi_.find(SpiKey{sa.dst, sa.spi});
      chain != by_spi_.end()) {
    std::vector<SpiChain::MaskGroup>& groups = chain->second.groups;
    auto group = chain->second.FindGroup(sa.mark.mask);
    if (group != groups.end()) {
      auto list = group->by_value.find(
          ProtoMarkKey(sa.proto, sa.mark.value & sa.mark.mask));
      if (list != group->by_value.end()) {
        auto& entries = list->second;
        entries.erase(std::remove(entries.begin(), entries.end(), entry),
                      entries.end());
        if (entries.empty()) group->by_value.erase(list);
      }
      if (group->by_value.empty()) groups.erase(group);
    }
    if (groups.empty()) by_spi_.erase(chain);
  }
  auto by_dst = by_dst_.find(sa.dst);
  if (by_dst != by_dst_.end()) {
    std::vector<SaEntry*>& entries = by_dst->second;
    entries.erase(std::remove(entries.begin(), entries.end(), entry),
                  entries.end());
    if (entries.empty()) by_dst_.erase(by_dst);
  }
}

absl::Status SimXfrm::AddSa(const XfrmSa& sa) {
  absl::MutexLock lock(&mu_);
  if (absl::Status s = BeginOp(XfrmOp::kAddSa); !s.ok()) return s;
  if (absl::Status s = ValidateSa(sa); !s.ok()) return s;
  // __xfrm_state_locate: the new SA's masked mark looked up against the
  // existing SAs' masks: ((x.v & x.m) & y.m) == y.v.
  if (const SaEntry* existing = FindByLookup(sa.dst, sa.spi, sa.proto,
                                             sa.mark.value & sa.mark.mask)) {
    return KernelError(
        EEXIST, absl::StrCat("SA ", SaIdText(sa.dst, sa.spi, sa.proto, sa.mark),
                             " collides with existing SA ",
                             SaIdText(existing->sa.dst, existing->sa.spi,
                                      existing->sa.proto, existing->sa.mark),
                             " (src ", existing->sa.src.ToString(), ")"));
  }
  const uint64_t handle = next_handle_++;
  // Linux stores the mark value under its mask (xfrm_state_construct:
  // x->mark.v &= x->mark.m), so bits outside the mask never match.
  XfrmSa stored = sa;
  stored.mark.value &= stored.mark.mask;
  auto entry = std::make_unique<SaEntry>(stored, handle);
  IndexSa(entry.get());
  sas_.emplace(handle, std::move(entry));
  last_sa_change_ = std::chrono::steady_clock::now();
  return absl::OkStatus();
}

absl::Status SimXfrm::UpdateSa(const XfrmSa& sa) {
  absl::MutexLock lock(&mu_);
  if (absl::Status s = BeginOp(XfrmOp::kUpdateSa); !s.ok()) return s;
  // XFRM_MSG_UPDSA builds and checks a complete state first, like NEWSA.
  if (absl::Status s = ValidateSa(sa); !s.ok()) return s;
  SaEntry* existing =
      FindByLookup(sa.dst, sa.spi, sa.proto, sa.mark.value & sa.mark.mask);
  if (existing == nullptr) {
    return KernelError(ESRCH,
                       absl::StrCat("No such process: no SA ",
                                    SaIdText(sa.dst, sa.spi, sa.proto, sa.mark),
                                    " to update"));
  }
  // xfrm_state_update on a valid state copies only encap, care-of address,
  // lifetimes and, when given, the output mark and if_id. Everything else in
  // the request is ignored (verified on Linux 6.1: key, ICV length, reqid,
  // source and replay window stay).
  if (sa.output_mark.value != 0 || sa.output_mark.mask != 0) {
    existing->sa.output_mark = sa.output_mark;
  }
  last_sa_change_ = std::chrono::steady_clock::now();
  return absl::OkStatus();
}

absl::Status SimXfrm::DeleteSa(const XfrmSaId& id) {
  absl::MutexLock lock(&mu_);
  if (absl::Status s = BeginOp(XfrmOp::kDeleteSa); !s.ok()) return s;
  // xfrm_user_state_lookup: xfrm_mark_get gives value & mask, then
  // xfrm_state_lookup.
  SaEntry* existing =
      FindByLookup(id.dst, id.spi, id.proto, id.mark.value & id.mark.mask);
  if (existing == nullptr) {
    return KernelError(ESRCH,
                       absl::StrCat("No such process: no SA ",
                                    SaIdText(id.dst, id.spi, id.proto, id.mark),
                                    " to delete"));
  }
  UnindexSa(existing);
  sas_.erase(existing->handle);
  last_sa_change_ = std::chrono::steady_clock::now();
  return absl::OkStatus();
}

absl::StatusOr<std::vector<XfrmSa>> SimXfrm::DumpSas() {
  absl::MutexLock lock(&mu_);
  if (absl::Status s = BeginOp(XfrmOp::kDumpSas); !s.ok()) return s;
  std::vector<XfrmSa> out;
  out.reserve(sas_.size());
  for (auto it = sas_.rbegin(); it != sas_.rend(); ++it) {
    out.push_back(it->second->sa);
  }
  return out;
}

SimXfrm::PolicyIdKey SimXfrm::IdKey(const XfrmPolicyId& id) {
  // Exactly the fields SameIdentity compares.
  return PolicyIdKey(static_cast<uint8_t>(id.dir), id.selector.src,
                     id.selector.dst, id.selector.proto, id.mark.value,
                     id.mark.mask);
}

SimXfrm::PolicyEntry* SimXfrm::FindPolicy(const XfrmPolicyId& id) {
  auto it = policy_ids_.find(IdKey(id));
  if (it == policy_ids_.end()) return nullptr;
  PolicyEntry* entry = &policies_.at(it->second);
  return SameIdentity(entry->policy.id(), id) ? entry : nullptr;
}

absl::Status SimXfrm::InsertPolicy(const XfrmPolicy& policy, bool exclusive) {
  if (absl::Status s = ValidatePolicy(policy); !s.ok()) return s;
  PolicyEntry* existing = FindPolicy(policy.id());
  if (existing != nullptr) {
    if (exclusive) {
      return KernelError(
          EEXIST,
          absl::StrCat("policy ", PolicyIdText(policy.id()),
                       " exists (priority ", existing->policy.priority, ")"));
    }
    // xfrm_policy_insert_list puts the replacement right before the old
    // policy when the priority is unchanged (it keeps its place among
    // equals), otherwise after the last policy of its new priority.
    PolicyEntry entry = *existing;
    if (entry.policy.priority != policy.priority) {
      entry.pos = next_policy_seq_++;
    }
    const PolicyOrder old_order(existing->policy.priority, existing->pos);
    policy_index_.Remove(old_order, existing->policy);
    policies_.erase(old_order);
    entry.policy = policy;
    entry.created = next_policy_seq_++;
    const PolicyOrder order(policy.priority, entry.pos);
    auto it = policies_.emplace(order, std::move(entry)).first;
    policy_ids_[IdKey(policy.id())] = order;
    policy_index_.Insert(order, &it->second.policy);
  } else {
    const uint64_t seq = next_policy_seq_++;
    const PolicyOrder order(policy.priority, seq);
    auto it = policies_.emplace(order, PolicyEntry{policy, seq, seq}).first;
    policy_ids_[IdKey(policy.id())] = order;
    policy_index_.Insert(order, &it->second.policy);
  }
  return absl::OkStatus();
}

absl::Status SimXfrm::AddPolicy(const XfrmPolicy& policy) {
  absl::MutexLock lock(&mu_);
  if (absl::Status s = BeginOp(XfrmOp::kAddPolicy); !s.ok()) return s;
  return InsertPolicy(policy, /*exclusive=*/true);
}

absl::Status SimXfrm::UpdatePolicy(const XfrmPolicy& policy) {
  absl::MutexLock lock(&mu_);
  if (absl::Status s = BeginOp(XfrmOp::kUpdatePolicy); !s.ok()) return s;
  return InsertPolicy(policy, /*exclusive=*/false);
}

absl::Status SimXfrm::DeletePolicy(const XfrmPolicyId& id) {
  absl::MutexLock lock(&mu_);
  if (absl::Status s = BeginOp(XfrmOp::kDeletePolicy); !s.ok()) return s;
  if (const PolicyEntry* entry = FindPolicy(id)) {
    const PolicyOrder order(entry->policy.priority, entry->pos);
    policy_index_.Remove(order, entry->policy);
    policies_.erase(order);
    policy_ids_.erase(IdKey(id));
    return absl::OkStatus();
  }
  return KernelError(
      ENOENT,
      absl::StrCat("No such file or directory: no policy ", PolicyIdText(id)));
}

absl::StatusOr<std::vector<XfrmPolicy>> SimXfrm::DumpPolicies() {
  absl::MutexLock lock(&mu_);
  if (absl::Status s = BeginOp(XfrmOp::kDumpPolicies); !s.ok()) return s;
  std::vector<const PolicyEntry*> order;
  order.reserve(policies_.size());
  for (const auto& [key, e] : policies_) order.push_back(&e);
  std::sort(order.begin(), order.end(),
            [](const PolicyEntry* a, const PolicyEntry* b) {
              return a->created > b->created;
            });
  std::vector<XfrmPolicy> out;
  out.reserve(order.size());
  for (const PolicyEntry* e : order) out.push_back(e->policy);
  return out;
}

// --- Data path lookups ------------------------------------------------------

std::optional<SaRef> SimXfrm::LookupInboundSa(const IpAddress& dst,
                                              uint32_t spi, uint8_t proto,
                                              uint32_t packet_mark) const {
  absl::MutexLock lock(&mu_);
  const SaEntry* entry = FindByLookup(dst, spi, proto, packet_mark);
  if (entry == nullptr) return std::nullopt;
  return SaRef{SaHandle{entry->handle}, entry->sa};
}

std::optional<SaRef> SimXfrm::FindOutboundSa(const XfrmTemplate& tmpl,
                                             const IpAddress& src,
                                             const IpAddress& dst,
                                             uint32_t packet_mark,
                                             uint8_t proto) const {
  absl::MutexLock lock(&mu_);
  // xfrm_tmpl_resolve_one: tunnel mode resolves to the template's
  // endpoints, transport mode to the packet's.
  const bool tunnel = tmpl.mode == XfrmMode::kTunnel;
  const IpAddress& remote = tunnel ? tmpl.dst : dst;
  const IpAddress& local = tunnel ? tmpl.src : src;
  auto it = by_dst_.find(remote);
  if (it == by_dst_.end()) return std::nullopt;
  for (auto e = it->second.rbegin(); e != it->second.rend(); ++e) {
    const XfrmSa& sa = (*e)->sa;
    // xfrm_state_find's filter, then xfrm_state_look_at's selector check.
    if (sa.reqid != tmpl.reqid) continue;
    if (!sa.mark.Matches(packet_mark)) continue;
    if (!(sa.src == local || local.IsUnspecified() || sa.src.IsUnspecified())) {
      continue;
    }
    if (sa.mode != tmpl.mode || sa.proto != tmpl.proto) continue;
    if (tmpl.spi != 0 && sa.spi != tmpl.spi) continue;
    if (!SelectorIsUnset(sa.selector) &&
        !sa.selector.Matches(src, dst, proto)) {
      continue;
    }
    return SaRef{SaHandle{(*e)->handle}, sa};
  }
  return std::nullopt;
}

std::optional<XfrmPolicy> SimXfrm::LookupPolicy(XfrmDir dir,
                                                const IpAddress& src,
                                                const IpAddress& dst,
                                                uint8_t proto,
                                                uint32_t packet_mark) const {
  absl::MutexLock lock(&mu_);
  // The first match in policies_ order, found through the prefix index.
  const XfrmPolicy* p = policy_index_.Lookup(dir, src, dst, proto, packet_mark);
  if (p == nullptr) return std::nullopt;
  return *p;
}

// --- Per-SA state -----------------------------------------------------------

SimXfrm::SaEntry* SimXfrm::FindHandle(SaHandle handle) const {
  auto it = sas_.find(handle.id);
  return it == sas_.end() ? nullptr : it->second.get();
}

absl::StatusOr<SimXfrm::SaEntry*> SimXfrm::LiveHandle(SaHandle handle) const {
  SaEntry* entry = FindHandle(handle);
  if (entry == nullptr) {
    return absl::NotFoundError(
        absl::StrCat("SA handle ", handle.id, " names no SA (deleted?)"));
  }
  return entry;
}

absl::StatusOr<uint64_t> SimXfrm::NextOutputSeq(SaHandle handle) {
  absl::MutexLock lock(&mu_);
  absl::StatusOr<SaEntry*> entry = LiveHandle(handle);
  if (!entry.ok()) return entry.status();
  SaEntry& e = **entry;
  const uint64_t limit = e.sa.esn ? std::numeric_limits<uint64_t>::max()
                                  : std::numeric_limits<uint32_t>::max();
  if (e.output_seq >= limit) {
    return absl::OutOfRangeError(
        absl::StrCat("EOVERFLOW: output sequence numbers of SA ",
                     SaIdText(e.sa.dst, e.sa.spi, e.sa.proto, e.sa.mark),
                     " are exhausted; an SA must not wrap (RFC 4303)"));
  }
  return ++e.output_seq;
}

absl::StatusOr<ReplayCheck> SimXfrm::CheckReplay(SaHandle handle,
                                                 uint32_t seq_low) {
  absl::MutexLock lock(&mu_);
  absl::StatusOr<SaEntry*> entry = LiveHandle(handle);
  if (!entry.ok()) return entry.status();
  SaEntry& e = **entry;
  const ReplayCheck check = e.replay.Check(seq_low);
  if (check.verdict == ReplayVerdict::kReplayed) ++e.stats.replayed;
  if (check.verdict == ReplayVerdict::kTooOld) ++e.stats.replay_window;
  return check;
}

absl::Status SimXfrm::AdvanceReplay(SaHandle handle, uint64_t seq) {
  absl::MutexLock lock(&mu_);
  absl::StatusOr<SaEntry*> entry = LiveHandle(handle);
  if (!entry.ok()) return entry.status();
  (*entry)->replay.Advance(seq);
  return absl::OkStatus();
}

absl::StatusOr<ReplayCheck> SimXfrm::CheckAndUpdateReplay(SaHandle handle,
                                                          uint32_t seq_low) {
  absl::MutexLock lock(&mu_);
  absl::StatusOr<SaEntry*> entry = LiveHandle(handle);
  if (!entry.ok()) return entry.status();
  SaEntry& e = **entry;
  const ReplayCheck check = e.replay.CheckAndAdvance(seq_low);
  if (check.verdict == ReplayVerdict::kReplayed) ++e.stats.replayed;
  if (check.verdict == ReplayVerdict::kTooOld) ++e.stats.replay_window;
  return check;
}

absl::Status SimXfrm::CountPacket(SaHandle handle, uint64_t bytes) {
  absl::MutexLock lock(&mu_);
  absl::StatusOr<SaEntry*> entry = LiveHandle(handle);
  if (!entry.ok()) return entry.status();
  (*entry)->stats.bytes += bytes;
  ++(*entry)->stats.packets;
  return absl::OkStatus();
}

absl::Status SimXfrm::CountIntegrityFailure(SaHandle handle) {
  absl::MutexLock lock(&mu_);
  absl::StatusOr<SaEntry*> entry = LiveHandle(handle);
  if (!entry.ok()) return entry.status();
  ++(*entry)->stats.integrity_failed;
  return absl::OkStatus();
}

absl::StatusOr<SaStats> SimXfrm::GetSaStats(SaHandle handle) const {
  absl::MutexLock lock(&mu_);
  absl::StatusOr<SaEntry*> entry = LiveHandle(handle);
  if (!entry.ok()) return entry.status();
  SaStats stats = (*entry)->stats;
  stats.output_seq = (*entry)->output_seq;
  stats.replay_top = (*entry)->replay.top();
  return stats;
}

absl::Status SimXfrm::SetOutputSeq(SaHandle handle, uint64_t last_sent) {
  absl::MutexLock lock(&mu_);
  absl::StatusOr<SaEntry*> entry = LiveHandle(handle);
  if (!entry.ok()) return entry.status();
  (*entry)->output_seq = last_sent;
  return absl::OkStatus();
}

// --- Dumps for humans -------------------------------------------------------

std::string SimXfrm::FormatStates() const {
  absl::MutexLock lock(&mu_);
  std::string out;
  for (auto it = sas_.rbegin(); it != sas_.rend(); ++it) {
    const SaEntry& e = *it->second;
    const XfrmSa& sa = e.sa;
    // iproute2 sends windows up to 32 without ESN in the legacy field and
    // everything else as a bitmap (XFRMA_REPLAY_ESN_VAL).
    const bool legacy = !sa.esn && sa.replay_window <= 32;
    absl::StrAppendFormat(&out, "src %s dst %s\n", sa.src.ToString(),
                          sa.dst.ToString());
    absl::StrAppendFormat(&out, "\tproto %s spi 0x%08x reqid %u mode %s\n",
                          ProtoName(sa.proto), sa.spi, sa.reqid,
                          ModeName(sa.mode));
    absl::StrAppendFormat(&out, "\treplay-window %u%s\n",
                          legacy ? sa.replay_window : 0,
                          sa.esn ? " flag esn" : "");
    if (sa.mark.value != 0 || sa.mark.mask != 0) {
      absl::StrAppend(&out, "\tmark ", MarkText(sa.mark), "\n");
    }
    if (sa.output_mark.value != 0 || sa.output_mark.mask != 0) {
      absl::StrAppend(&out, "\toutput-mark ", MarkText(sa.output_mark), "\n");
    }
    absl::StrAppendFormat(&out, "\taead %s <hidden> %u\n", sa.aead_name,
                          sa.icv_bits);
    const uint64_t top = e.replay.top();
    if (legacy) {
      uint32_t bitmap = 0;
      for (uint32_t d = 0; d < sa.replay_window && d < top; ++d) {
        if (e.replay.WasReceived(top - d)) bitmap |= 1u << d;
      }
      absl::StrAppendFormat(
          &out, "\tanti-replay context: seq 0x%x, oseq 0x%x, bitmap 0x%08x\n",
          static_cast<uint32_t>(top), static_cast<uint32_t>(e.output_seq),
          bitmap);
    } else {
      const std::vector<uint32_t>& words = e.replay.bitmap_words();
      absl::StrAppendFormat(
          &out,
          "\tanti-replay esn context:\n\t seq-hi 0x%x, seq 0x%x, oseq-hi "
          "0x%x, oseq 0x%x\n\t replay_window %u, bitmap-length %u\n",
          static_cast<uint32_t>(top >> 32), static_cast<uint32_t>(top),
          static_cast<uint32_t>(e.output_seq >> 32),
          static_cast<uint32_t>(e.output_seq), sa.replay_window,
          static_cast<uint32_t>(words.size()));
      for (size_t i = 0; i < words.size(); ++i) {
        absl::StrAppendFormat(&out, "%s%08x", i % 8 == 0 ? "\t " : " ",
                              words[i]);
        if (i % 8 == 7 || i + 1 == words.size()) out += "\n";
      }
    }
    absl::StrAppendFormat(
        &out, "\tsel src %s dst %s%s\n", sa.selector.src.ToString(),
        sa.selector.dst.ToString(),
        sa.selector.proto == kIpProtoAny
            ? ""
            : absl::StrCat(" proto ", ProtoName(sa.selector.proto)));
  }
  return out;
}

std::string SimXfrm::FormatPolicies() const {
  absl::MutexLock lock(&mu_);
  std::vector<const PolicyEntry*> order;
  for (const auto& [key, e] : policies_) order.push_back(&e);
  std::sort(order.begin(), order.end(),
            [](const PolicyEntry* a, const PolicyEntry* b) {
              return a->created > b->created;
            });
  std::string out;
  for (const PolicyEntry* e : order) {
    const XfrmPolicy& p = e->policy;
    absl::StrAppendFormat(
        &out, "src %s dst %s%s\n", p.selector.src.ToString(),
        p.selector.dst.ToString(),
        p.selector.proto == kIpProtoAny
            ? ""
            : absl::StrCat(" proto ", ProtoName(p.selector.proto)));
    absl::StrAppendFormat(
        &out, "\tdir %s%s priority %u ptype main\n", XfrmDirName(p.dir),
        p.action == XfrmAction::kBlock ? " action block" : "", p.priority);
    if (p.mark.value != 0 || p.mark.mask != 0) {
      absl::StrAppend(&out, "\tmark ", MarkText(p.mark), "\n");
    }
    for (const XfrmTemplate& t : p.templates) {
      absl::StrAppendFormat(&out, "\ttmpl src %s dst %s\n", t.src.ToString(),
                            t.dst.ToString());
      absl::StrAppendFormat(&out, "\t\tproto %s", ProtoName(t.proto));
      if (t.spi != 0) absl::StrAppendFormat(&out, " spi 0x%08x", t.spi);
      absl::StrAppendFormat(&out, " reqid %u mode %s\n", t.reqid,
                            ModeName(t.mode));
      if (t.optional) out += "\t\tlevel use\n";
    }
  }
  return out;
}

// --- Test hooks -------------------------------------------------------------

void SimXfrm::FailNext(XfrmOp op, int count, absl::Status status) {
  absl::MutexLock lock(&mu_);
  Fault& fault = faults_[static_cast<size_t>(op)];
  fault.remaining = (count > 0 && !status.ok()) ? count : 0;
  fault.status = std::move(status);
}

uint64_t SimXfrm::OperationCount(XfrmOp op) const {
  absl::MutexLock lock(&mu_);
  return op_counts_[static_cast<size_t>(op)];
}

void SimXfrm::ResetOperationCounts() {
  absl::MutexLock lock(&mu_);
  op_counts_.fill(0);
}

size_t SimXfrm::sa_count() const {
  absl::MutexLock lock(&mu_);
  return sas_.size();
}

std::chrono::steady_clock::time_point SimXfrm::last_sa_change() const {
  absl::MutexLock lock(&mu_);
  return last_sa_change_;
}

void SimXfrm::VisitSas(absl::FunctionRef<void(const XfrmSa&)> visit) const {
  absl::MutexLock lock(&mu_);
  for (auto it = sas_.rbegin(); it != sas_.rend(); ++it) visit(it->second->sa);
}

size_t SimXfrm::policy_count() const {
  absl::MutexLock lock(&mu_);
  return policies_.size();
}

}  // namespace sim
}  // namespace kmesh
