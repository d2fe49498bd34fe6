#include "sim/kernel/xfrm/xfrm_policy_index.h"

#include <algorithm>
#include <iterator>

namespace kmesh {
namespace sim {

std::vector<XfrmPolicyIndex::Bin>::iterator XfrmPolicyIndex::FindBin(
    std::vector<Bin>& bins, const XfrmSelector& sel) {
  return std::find_if(bins.begin(), bins.end(), [&sel](const Bin& b) {
    return b.family == sel.dst.family() && b.dst_len == sel.dst.length() &&
           b.src_len == sel.src.length();
  });
}

void XfrmPolicyIndex::Insert(Order order, const XfrmPolicy* policy) {
  const size_t dir = static_cast<size_t>(policy->dir);
  if (dir >= kDirCount) return;
  const XfrmSelector& sel = policy->selector;
  std::vector<Bin>& bins = bins_[dir];
  auto bin = FindBin(bins, sel);
  if (bin == bins.end()) {
    bins.push_back(
        Bin{sel.dst.family(), sel.dst.length(), sel.src.length(), {}});
    bin = std::prev(bins.end());
  }
  std::vector<Candidate>& list =
      bin->buckets[PrefixPair{sel.dst.address(), sel.src.address()}];
  auto at = std::lower_bound(
      list.begin(), list.end(), order,
      [](const Candidate& c, const Order& o) { return c.order < o; });
  list.insert(at, Candidate{order, policy});
  ++size_;
}

void XfrmPolicyIndex::Remove(Order order, const XfrmPolicy& policy) {
  const size_t dir = static_cast<size_t>(policy.dir);
  if (dir >= kDirCount) return;
  const XfrmSelector& sel = policy.selector;
  std::vector<Bin>& bins = bins_[dir];
  auto bin = FindBin(bins, sel);
  if (bin == bins.end()) return;
  auto bucket =
      bin->buckets.find(PrefixPair{sel.dst.address(), sel.src.address()});
  if (bucket == bin->buckets.end()) return;
  std::vector<Candidate>& list = bucket->second;
  auto at = std::lower_bound(
      list.begin(), list.end(), order,
      [](const Candidate& c, const Order& o) { return c.order < o; });
  if (at == list.end() || at->order != order) return;
  list.erase(at);
  --size_;
  if (!list.empty()) return;
  bin->buckets.erase(bucket);
  if (bin->buckets.empty()) bins.erase(bin);
}

const XfrmPolicy* XfrmPolicyIndex::Lookup(XfrmDir dir, const IpAddress& src,
                                          const IpAddress& dst, uint8_t proto,
                                          uint32_t packet_mark) const {
  const size_t d = static_cast<size_t>(dir);
  if (d >= kDirCount) return nullptr;
  const Candidate* best = nullptr;
  for (const Bin& bin : bins_[d]) {
    if (bin.family != dst.family()) continue;
    auto bucket =
        bin.buckets.find(PrefixPair{IpPrefix(dst, bin.dst_len).address(),
                                    IpPrefix(src, bin.src_len).address()});
    if (bucket == bin.buckets.end()) continue;
    for (const Candidate& c : bucket->second) {
      // The list is in lookup order: nothing after a better match can win.
      if (best != nullptr && !(c.order < best->order)) break;
      // The bucket already pins both prefixes; the full check keeps the
      // result exactly XfrmSelector::Matches.
      if (c.policy->mark.Matches(packet_mark) &&
          c.policy->selector.Matches(src, dst, proto)) {
        best = &c;
        break;
      }
    }
  }
  return best == nullptr ? nullptr : best->policy;
}

size_t XfrmPolicyIndex::bin_count(XfrmDir dir) const {
  const size_t d = static_cast<size_t>(dir);
  return d < kDirCount ? bins_[d].size() : 0;
}

}  // namespace sim
}  // namespace kmesh
