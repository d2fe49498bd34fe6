// XfrmPolicyIndex: finds the policy a packet hits in one simulated policy
// database without walking every policy. Policies are binned, per direction,
// by the shape of their selector (family, destination prefix length, source
// prefix length); inside a bin a hash map goes from the selector's
// (destination, source) prefix addresses to the policies with exactly those
// prefixes, kept in lookup order. A lookup masks the packet's addresses once
// per bin of its direction and family (a node holds a handful of shapes:
// /24 <- /0 out policies, /24 <- /24 in and fwd policies, /0 <- /0 blocks)
// and keeps the lowest-ordered candidate that fully matches (mark, selector,
// protocol). That is the linear first-match over all policies, in the spirit
// of Linux's inexact-policy bins (net/xfrm/xfrm_policy.c).
//
// A selector prefix always has a family here (IpPrefix::Contains never
// matches an address of the other family, 0.0.0.0/0 included), so a bin only
// serves packets whose destination has its family. The index does not own the
// policies: the caller keeps each one at a stable address from Insert until
// Remove. Not thread-safe; PolicyTable holds it, SimXfrm's mutex guards both.
#ifndef SIM_KERNEL_XFRM_XFRM_POLICY_INDEX_H_
#define SIM_KERNEL_XFRM_XFRM_POLICY_INDEX_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <unordered_map>
#include <utility>
#include <vector>

#include "kmesh/base/ip_address.h"
#include "kmesh/kernel/xfrm.h"

namespace kmesh {
namespace sim {

class XfrmPolicyIndex {
 public:
  // Lookup order: lower wins. PolicyTable uses (priority, position among
  // equal priorities).
  using Order = std::pair<uint32_t, uint64_t>;

  // Adds `policy` under `order`, which no other indexed policy has.
  // `policy` must stay at its address until it is removed.
  void Insert(Order order, const XfrmPolicy* policy);
  // Removes the policy inserted under `order`; `policy` has the direction and
  // selector it was inserted with. Absent: no-op.
  void Remove(Order order, const XfrmPolicy& policy);

  // The policy of direction `dir` with the lowest order whose mark matches
  // `packet_mark` and whose selector matches (src, dst, proto); nullptr when
  // none does.
  const XfrmPolicy* Lookup(XfrmDir dir, const IpAddress& src,
                           const IpAddress& dst, uint8_t proto,
                           uint32_t packet_mark) const;

  size_t size() const { return size_; }
  // Distinct selector shapes (bins) of a direction: the hash lookups one
  // packet of that direction costs at most.
  size_t bin_count(XfrmDir dir) const;

 private:
  static constexpr size_t kDirCount = 3;  // in, out, fwd.

  struct Candidate {
    Order order;
    const XfrmPolicy* policy;
  };
  // The selector's prefix addresses (host bits clear).
  struct PrefixPair {
    IpAddress dst;
    IpAddress src;
    friend bool operator==(const PrefixPair& a, const PrefixPair& b) {
      return a.dst == b.dst && a.src == b.src;
    }
  };
  struct PrefixPairHash {
    size_t operator()(const PrefixPair& k) const {
      const std::hash<IpAddress> h;
      return h(k.dst) * 0x9e3779b97f4a7c15ULL ^ h(k.src);
    }
  };
  // Policies of one direction whose selectors have one shape.
  struct Bin {
    IpFamily family;
    int dst_len;
    int src_len;
    // Each list sorted by order.
    std::unordered_map<PrefixPair, std::vector<Candidate>, PrefixPairHash>
        buckets;
  };

  // The bin of `sel`'s shape, or bins.end().
  static std::vector<Bin>::iterator FindBin(std::vector<Bin>& bins,
                                            const XfrmSelector& sel);

  std::array<std::vector<Bin>, kDirCount> bins_;
  size_t size_ = 0;
};

}  // namespace sim
}  // namespace kmesh

#endif  // SIM_KERNEL_XFRM_XFRM_POLICY_INDEX_H_
