// SimXfrm::LookupPolicy on the policy table of one node of an N-node
// cluster in the product's layout (docs/xfrm-layout.md): per peer an out
// policy `0.0.0.0/0 -> <peer pod CIDR> mark 0xe0/0xff`, in and fwd policies
// `<peer pod CIDR> -> <own pod CIDR> mark 0xd0/0xff`, all at priority 100,
// plus the two catch-all block policies at 1000; 3 * (N - 1) + 2 policies,
// 2,999 at N = 1,000. Against, in the same run, the linear first-match scan
// over the priority-ordered map that LookupPolicy used before its prefix
// index (kept here as the reference), under the same mutex and returning the
// same copy.
//   bazel run -c opt //sim/kernel/xfrm:xfrm_policy_lookup_benchmark
#include <map>
#include <optional>
#include <random>
#include <utility>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "benchmark/benchmark.h"
#include "kmesh/base/ip_address.h"
#include "kmesh/ipsec/xfrm_layout.h"
#include "kmesh/kernel/xfrm.h"
#include "sim/kernel/xfrm/sim_xfrm.h"

namespace kmesh::sim {
namespace {

// The pre-index LookupPolicy: walk every policy in (priority, position)
// order and return the first that matches.
class LinearPolicyScan {
 public:
  void Add(const XfrmPolicy& policy) {
    absl::MutexLock lock(&mu_);
    policies_.emplace(std::make_pair(policy.priority, ++seq_), policy);
  }
  std::optional<XfrmPolicy> LookupPolicy(XfrmDir dir, const IpAddress& src,
                                         const IpAddress& dst, uint8_t proto,
                                         uint32_t packet_mark) const {
    absl::MutexLock lock(&mu_);
    for (const auto& [key, p] : policies_) {
      if (p.dir != dir) continue;
      if (!p.mark.Matches(packet_mark)) continue;
      if (!p.selector.Matches(src, dst, proto)) continue;
      return p;
    }
    return std::nullopt;
  }

 private:
  mutable absl::Mutex mu_;
  std::map<std::pair<uint32_t, uint64_t>, XfrmPolicy> policies_
      ABSL_GUARDED_BY(mu_);
  uint64_t seq_ ABSL_GUARDED_BY(mu_) = 0;
};

// Node i: address 172.18.x.y, pods 10.x.y.0/24 (i < 65536).
IpAddress NodeAddress(int i) {
  return IpAddress::V4((172u << 24) | (18u << 16) | static_cast<uint32_t>(i));
}
IpPrefix PodCidr(int i) {
  return IpPrefix(IpAddress::V4((10u << 24) | (static_cast<uint32_t>(i) << 8)),
                  24);
}
IpAddress PodAddress(int node, int pod) {
  return IpAddress::V4((10u << 24) | (static_cast<uint32_t>(node) << 8) |
                       static_cast<uint32_t>(pod));
}

XfrmTemplate Tunnel(int from, int to, uint32_t spi) {
  XfrmTemplate t;
  t.src = NodeAddress(from);
  t.dst = NodeAddress(to);
  t.reqid = ipsec::kKmeshReqid;
  t.spi = spi;
  return t;
}

// The policies of node 0 with peers 1..nodes-1, in the order XfrmProgrammer
// installs them (block policies first, then per peer in, fwd, out).
std::vector<XfrmPolicy> NodeZeroPolicies(int nodes) {
  std::vector<XfrmPolicy> out = ipsec::LayoutCatchAll().policies;
  for (int peer = 1; peer < nodes; ++peer) {
    for (XfrmDir dir : {XfrmDir::kIn, XfrmDir::kFwd}) {
      XfrmPolicy p;
      p.dir = dir;
      p.selector.src = PodCidr(peer);
      p.selector.dst = PodCidr(0);
      p.mark = ipsec::kDecryptedMark;
      p.priority = ipsec::kPolicyPriority;
      p.templates = {Tunnel(peer, 0, 0)};
      out.push_back(p);
    }
    XfrmPolicy p;
    p.dir = XfrmDir::kOut;
    p.selector.src = IpPrefix::Any(IpFamily::kV4);
    p.selector.dst = PodCidr(peer);
    p.mark = ipsec::kEncryptMark;
    p.priority = ipsec::kPolicyPriority;
    p.templates = {Tunnel(0, peer, 1)};
    out.push_back(p);
  }
  return out;
}

struct Packet {
  XfrmDir dir;
  IpAddress src;
  IpAddress dst;
  uint32_t mark;
};

enum Traffic : int { kOut = 0, kIn = 1, kFwd = 2, kOutBlocked = 3 };
const char* TrafficName(int traffic) {
  switch (traffic) {
    case kOut:
      return "out";
    case kIn:
      return "in";
    case kFwd:
      return "fwd";
  }
  return "out-to-unknown(block)";
}

// 4,096 packets to or from random peers' pods; kOutBlocked goes to pods of
// nodes that are not peers and ends at the IPv4 block policy.
std::vector<Packet> Packets(int nodes, int traffic) {
  std::mt19937 rng(42);
  std::uniform_int_distribution<int> peer(1, nodes - 1);
  std::uniform_int_distribution<int> pod(2, 250);
  std::vector<Packet> out;
  for (int i = 0; i < 4096; ++i) {
    const IpAddress local = PodAddress(0, pod(rng));
    switch (traffic) {
      case kOut:
        out.push_back({XfrmDir::kOut, local, PodAddress(peer(rng), pod(rng)),
                       ipsec::kEncryptMarkValue});
        break;
      case kIn:
      case kFwd:
        out.push_back({traffic == kIn ? XfrmDir::kIn : XfrmDir::kFwd,
                       PodAddress(peer(rng), pod(rng)), local,
                       ipsec::kDecryptMarkValue});
        break;
      default:
        out.push_back({XfrmDir::kOut, local,
                       PodAddress(nodes + peer(rng), pod(rng)),
                       ipsec::kEncryptMarkValue});
    }
  }
  return out;
}

template <typename Table>
void RunLookups(benchmark::State& state, const Table& table) {
  const int nodes = static_cast<int>(state.range(0));
  const int traffic = static_cast<int>(state.range(1));
  const std::vector<Packet> packets = Packets(nodes, traffic);
  // Every packet must find a policy (the block policy for kOutBlocked).
  for (const Packet& p : packets) {
    auto policy = table.LookupPolicy(p.dir, p.src, p.dst, 6, p.mark);
    if (!policy.has_value() ||
        (policy->action == XfrmAction::kBlock) != (traffic == kOutBlocked)) {
      state.SkipWithError("a packet found the wrong policy");
      return;
    }
  }
  size_t i = 0;
  for (auto _ : state) {
    const Packet& p = packets[i++ & 4095];
    benchmark::DoNotOptimize(
        table.LookupPolicy(p.dir, p.src, p.dst, 6, p.mark));
  }
  state.SetItemsProcessed(state.iterations());
  state.SetLabel(TrafficName(traffic));
}

void BM_SimXfrmLookupPolicy(benchmark::State& state) {
  SimXfrm xfrm;
  for (const XfrmPolicy& p : NodeZeroPolicies(state.range(0))) {
    if (!xfrm.AddPolicy(p).ok()) {
      state.SkipWithError("AddPolicy failed");
      return;
    }
  }
  RunLookups(state, xfrm);
}

void BM_LinearScanReference(benchmark::State& state) {
  LinearPolicyScan scan;
  for (const XfrmPolicy& p : NodeZeroPolicies(state.range(0))) scan.Add(p);
  RunLookups(state, scan);
}

void Shapes(benchmark::internal::Benchmark* b) {
  b->ArgNames({"nodes", "traffic"});
  for (int nodes : {10, 100, 1000}) {
    for (int traffic : {kOut, kIn, kFwd, kOutBlocked}) {
      b->Args({nodes, traffic});
    }
  }
}

BENCHMARK(BM_SimXfrmLookupPolicy)->Apply(Shapes);
BENCHMARK(BM_LinearScanReference)->Apply(Shapes);

}  // namespace
}  // namespace kmesh::sim

BENCHMARK_MAIN();
