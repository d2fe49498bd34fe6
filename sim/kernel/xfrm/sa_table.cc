#include "sim/kernel/xfrm/sa_table.h"

#include <cerrno>
#include <utility>

#include "absl/strings/str_cat.h"
#include "kmesh/kernel/kernel_error.h"
#include "sim/kernel/xfrm/xfrm_format.h"

namespace kmesh {
namespace sim {
namespace {

// The key of an SA in its (dst, SPI) chain's mask group: protocol and mark
// value under the group's mask.
uint64_t ProtoMarkKey(uint8_t proto, uint32_t masked_mark) {
  return (uint64_t{proto} << 32) | masked_mark;
}

}  // namespace

bool SelectorIsUnset(const XfrmSelector& sel) {
  return sel.src.length() == 0 && sel.dst.length() == 0 &&
         sel.proto == kIpProtoAny;
}

bool SaSelectorAdmits(const XfrmSa& sa, const IpAddress& src,
                      const IpAddress& dst, uint8_t proto) {
  if (SelectorIsUnset(sa.selector)) {
    return src.family() == sa.dst.family() && dst.family() == src.family();
  }
  return sa.selector.Matches(src, dst, proto);
}

SaTable::Entry* SaTable::MutableLookup(const IpAddress& dst, uint32_t spi,
                                       uint8_t proto, uint32_t mark) const {
  auto it = by_spi_.find(SpiKey{dst, spi});
  if (it == by_spi_.end()) return nullptr;
  // The newest match of each mask group is the last SA of its list; the
  // newest of those (highest handle = latest insertion) is the SA the
  // kernel's newest-first walk of the whole chain would stop at.
  Entry* newest = nullptr;
  for (const SpiChain::MaskGroup& group : it->second.groups) {
    auto list = group.by_value.find(ProtoMarkKey(proto, mark & group.mask));
    if (list == group.by_value.end()) continue;
    Entry* candidate = list->second.back();
    if (newest == nullptr || candidate->handle > newest->handle) {
      newest = candidate;
    }
  }
  return newest;
}

const SaTable::Entry* SaTable::Lookup(const IpAddress& dst, uint32_t spi,
                                      uint8_t proto, uint32_t mark) const {
  return MutableLookup(dst, spi, proto, mark);
}

void SaTable::Index(Entry* entry) {
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

void SaTable::Unindex(Entry* entry) {
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
    std::vector<Entry*>& entries = by_dst->second;
    entries.erase(std::remove(entries.begin(), entries.end(), entry),
                  entries.end());
    if (entries.empty()) by_dst_.erase(by_dst);
  }
}

absl::Status SaTable::Add(const XfrmSa& sa) {
  // __xfrm_state_locate: the new SA's masked mark looked up against the
  // existing SAs' masks: ((x.v & x.m) & y.m) == y.v.
  if (const Entry* existing =
          Lookup(sa.dst, sa.spi, sa.proto, sa.mark.value & sa.mark.mask)) {
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
  // Counters are the kernel's to keep (see Entry), never the caller's.
  stored.counters = XfrmSaCounters{};
  auto entry = std::make_unique<Entry>(stored, handle);
  Index(entry.get());
  sas_.emplace(handle, std::move(entry));
  return absl::OkStatus();
}

absl::Status SaTable::Update(const XfrmSa& sa) {
  Entry* existing =
      MutableLookup(sa.dst, sa.spi, sa.proto, sa.mark.value & sa.mark.mask);
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
  return absl::OkStatus();
}

absl::Status SaTable::Delete(const XfrmSaId& id) {
  // xfrm_user_state_lookup: xfrm_mark_get gives value & mask, then
  // xfrm_state_lookup.
  Entry* existing =
      MutableLookup(id.dst, id.spi, id.proto, id.mark.value & id.mark.mask);
  if (existing == nullptr) {
    return KernelError(ESRCH,
                       absl::StrCat("No such process: no SA ",
                                    SaIdText(id.dst, id.spi, id.proto, id.mark),
                                    " to delete"));
  }
  Unindex(existing);
  sas_.erase(existing->handle);
  return absl::OkStatus();
}

const SaTable::Entry* SaTable::FindOutbound(const XfrmTemplate& tmpl,
                                            const IpAddress& src,
                                            const IpAddress& dst,
                                            uint32_t policy_mark,
                                            uint8_t proto) const {
  // xfrm_tmpl_resolve_one: tunnel mode resolves to the template's
  // endpoints, transport mode to the packet's.
  const bool tunnel = tmpl.mode == XfrmMode::kTunnel;
  const IpAddress& remote = tunnel ? tmpl.dst : dst;
  const IpAddress& local = tunnel ? tmpl.src : src;
  auto it = by_dst_.find(remote);
  if (it == by_dst_.end()) return nullptr;
  for (auto e = it->second.rbegin(); e != it->second.rend(); ++e) {
    const XfrmSa& sa = (*e)->sa;
    // xfrm_state_find's filter, then xfrm_state_look_at's selector check.
    if (sa.reqid != tmpl.reqid) continue;
    if (!sa.mark.Matches(policy_mark)) continue;
    if (!(sa.src == local || local.IsUnspecified() || sa.src.IsUnspecified())) {
      continue;
    }
    if (sa.mode != tmpl.mode || sa.proto != tmpl.proto) continue;
    if (tmpl.spi != 0 && sa.spi != tmpl.spi) continue;
    // xfrm_state_look_at: the packet must fit the SA's selector, family
    // included; one given no selector has its own family's, so a tunnel
    // that changes family needs a selector of the inner family.
    if (!SaSelectorAdmits(sa, src, dst, proto)) continue;
    return *e;
  }
  return nullptr;
}

absl::StatusOr<SaTable::Entry*> SaTable::Find(SaHandle handle) {
  auto it = sas_.find(handle.id);
  if (it == sas_.end()) {
    return absl::NotFoundError(
        absl::StrCat("SA handle ", handle.id, " names no SA (deleted?)"));
  }
  return it->second.get();
}

absl::StatusOr<const SaTable::Entry*> SaTable::Find(SaHandle handle) const {
  return const_cast<SaTable*>(this)->Find(handle);
}

}  // namespace sim
}  // namespace kmesh
