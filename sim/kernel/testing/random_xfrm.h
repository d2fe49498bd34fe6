// Random XFRM objects and packets drawn from small pools, for the tests that
// hold the simulator's tables against a plain model through thousands of
// random changes: the pools are small so that (dst, SPI) chains are long,
// masks overlap, prefixes of every length nest, priorities tie and marks
// collide. Also the model for policies: a linear first match.
#ifndef SIM_KERNEL_XFRM_TESTING_RANDOM_XFRM_H_
#define SIM_KERNEL_XFRM_TESTING_RANDOM_XFRM_H_

#include <cstddef>
#include <cstdint>
#include <map>
#include <random>
#include <string>

#include "kmesh/base/ip_address.h"
#include "kmesh/kernel/xfrm.h"
#include "sim/kernel/xfrm/xfrm_policy_index.h"

namespace kmesh::sim::testing {

// A seeded stream of picks: the same seed, the same picks.
class RandomPicks {
 public:
  explicit RandomPicks(uint32_t seed) : rng_(seed) {}

  // 0 .. n - 1.
  int Below(int n) {
    return std::uniform_int_distribution<int>(0, n - 1)(rng_);
  }
  // One element of `pool`.
  template <typename T, size_t N>
  const T& From(const T (&pool)[N]) {
    return pool[Below(static_cast<int>(N))];
  }

 private:
  std::mt19937 rng_;
};

// ESP (and now and then AH) SAs between three address pairs with three SPIs
// (and the invalid 0), masks that overlap (0xff inside 0xffff and
// 0xffff00ff, 0xffff0000 and 0xffff00ff share the high half) and marks that
// several SAs of different masks match at once.
class RandomSas : public RandomPicks {
 public:
  using RandomPicks::RandomPicks;

  // An SA with reqid `tag`.
  XfrmSa NextSa(uint32_t tag);
  uint32_t Spi();
  uint8_t Proto();
  XfrmMark Mark();
  uint32_t PacketMark();
};

// Policies of every direction, both families, prefixes of every length
// (/0 and the full length more often), a few protocols, marks and
// priorities, a quarter of them blocks; and packets to look up.
class RandomPolicies : public RandomPicks {
 public:
  using RandomPicks::RandomPicks;

  struct Packet {
    XfrmDir dir;
    IpAddress src;
    IpAddress dst;
    uint8_t proto;
    uint32_t mark;
  };

  IpAddress Address(IpFamily family);
  IpFamily Family();
  IpPrefix Prefix(IpFamily family);
  XfrmDir Dir();
  XfrmMark Mark();
  uint32_t PacketMark();
  uint8_t Proto();
  uint32_t Priority();
  XfrmPolicy Policy();
  Packet NextPacket();
};

// The policy a packet hits by a linear first match over `policies` in lookup
// order: what XfrmPolicyIndex and PolicyTable must find without the walk.
const XfrmPolicy* FirstMatch(
    const std::map<XfrmPolicyIndex::Order, XfrmPolicy>& policies,
    const RandomPolicies::Packet& packet);

// "out 0.0.0.0/0 -> 10.244.1.0/24 proto 0 mark 224/255 prio 100", or
// "none".
std::string Describe(const XfrmPolicy* policy);

}  // namespace kmesh::sim::testing

#endif  // SIM_KERNEL_XFRM_TESTING_RANDOM_XFRM_H_
