// SimXfrm's SA lookup by (dst, SPI, proto, mark) on the inbound SAs of one
// node of an N-node cluster in the product's layout (docs/xfrm-layout.md):
// per peer one ESP tunnel SA peer -> node 0 with the node's SPI and the mark
// (peer_index << 16) | 0xd0 under 0xffff00ff, so all N - 1 SAs share one
// (dst, SPI) and differ only by mark; 999 at N = 1,000. Measures AddSa of
// that table (every AddSa first looks the new SA up for EEXIST) and
// LookupInboundSa for ESP from a random peer (hit) or from an unknown peer
// index (miss, XfrmInNoStates). Against, in the same run, the table as it
// was before the index (kept here as the reference): the same heap entries
// in one list per (dst, SPI), walked newest first by every lookup, under a
// mutex, returning the same copy.
//   bazel run -c opt //sim/kernel/xfrm:sa_lookup_benchmark
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <unordered_map>
#include <vector>

#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "benchmark/benchmark.h"
#include "kmesh/base/ip_address.h"
#include "kmesh/ipsec/xfrm_layout.h"
#include "kmesh/kernel/xfrm.h"
#include "kmesh/kernel/xfrm_key.h"
#include "sim/kernel/xfrm/replay_window.h"
#include "sim/kernel/xfrm/sim_xfrm.h"

namespace kmesh::sim {
namespace {

constexpr uint32_t kSpi = 0x00000101;

// The pre-index SA table: SimXfrm's entries (the SA, its replay window and
// counters) on the heap, a list per (dst, SPI) oldest first, and
// __xfrm_state_lookup as a newest-first walk of that list. AddSa skips the
// validation SimXfrm::AddSa does first, so the reference's adds are, if
// anything, flattered.
class LinearSaChain {
 public:
  absl::Status AddSa(const XfrmSa& sa) {
    absl::MutexLock lock(&mu_);
    if (Find(sa.dst, sa.spi, sa.proto, sa.mark.value & sa.mark.mask)) {
      return absl::AlreadyExistsError("EEXIST");
    }
    XfrmSa stored = sa;
    stored.mark.value &= stored.mark.mask;
    auto entry = std::make_unique<Entry>(stored, next_handle_++);
    by_spi_[SpiKey{sa.dst, sa.spi}].push_back(entry.get());
    by_dst_[sa.dst].push_back(entry.get());
    sas_.emplace(entry->handle, std::move(entry));
    return absl::OkStatus();
  }
  std::optional<SaRef> LookupInboundSa(const IpAddress& dst, uint32_t spi,
                                       uint8_t proto,
                                       uint32_t packet_mark) const {
    absl::MutexLock lock(&mu_);
    const Entry* entry = Find(dst, spi, proto, packet_mark);
    if (entry == nullptr) return std::nullopt;
    return SaRef{SaHandle{entry->handle}, entry->sa};
  }

 private:
  struct Entry {
    Entry(const XfrmSa& s, uint64_t h)
        : sa(s), handle(h), replay(s.replay_window, s.esn) {}
    XfrmSa sa;
    uint64_t handle;
    uint64_t output_seq = 0;
    ReplayWindow replay;
    SaStats stats;
  };
  struct SpiKey {
    IpAddress dst;
    uint32_t spi;
    friend bool operator==(const SpiKey& a, const SpiKey& b) {
      return a.spi == b.spi && a.dst == b.dst;
    }
  };
  struct SpiKeyHash {
    size_t operator()(const SpiKey& k) const {
      return std::hash<IpAddress>()(k.dst) * 31 + k.spi;
    }
  };

  Entry* Find(const IpAddress& dst, uint32_t spi, uint8_t proto,
              uint32_t mark) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    auto it = by_spi_.find(SpiKey{dst, spi});
    if (it == by_spi_.end()) return nullptr;
    const std::vector<Entry*>& chain = it->second;
    for (auto e = chain.rbegin(); e != chain.rend(); ++e) {
      const XfrmSa& sa = (*e)->sa;
      if (sa.proto != proto) continue;
      if ((mark & sa.mark.mask) != sa.mark.value) continue;
      return *e;
    }
    return nullptr;
  }

  mutable absl::Mutex mu_;
  std::map<uint64_t, std::unique_ptr<Entry>> sas_ ABSL_GUARDED_BY(mu_);
  std::unordered_map<SpiKey, std::vector<Entry*>, SpiKeyHash> by_spi_
      ABSL_GUARDED_BY(mu_);
  std::unordered_map<IpAddress, std::vector<Entry*>> by_dst_
      ABSL_GUARDED_BY(mu_);
  uint64_t next_handle_ ABSL_GUARDED_BY(mu_) = 1;
};

// Node i: address 172.18.x.y (i < 65536).
IpAddress NodeAddress(int i) {
  return IpAddress::V4((172u << 24) | (18u << 16) | static_cast<uint32_t>(i));
}

// Node 0's inbound SAs from peers 1..nodes-1, as XfrmLayout builds them.
std::vector<XfrmSa> NodeZeroInboundSas(int nodes) {
  const std::vector<uint8_t> key(36, 0x5a);
  std::vector<XfrmSa> out;
  for (int peer = 1; peer < nodes; ++peer) {
    XfrmSa sa;
    sa.src = NodeAddress(peer);
    sa.dst = NodeAddress(0);
    sa.spi = kSpi;
    sa.proto = kIpProtoEsp;
    sa.mode = XfrmMode::kTunnel;
    sa.reqid = ipsec::kKmeshReqid;
    sa.mark = ipsec::InboundSaMark(static_cast<uint16_t>(peer));
    sa.output_mark = ipsec::kInboundOutputMark;
    sa.replay_window = ipsec::kReplayWindow;
    sa.esn = true;
    sa.selector.src = IpPrefix::Any(IpFamily::kV4);
    sa.selector.dst = IpPrefix::Any(IpFamily::kV4);
    sa.aead_key = XfrmKey(key.data(), key.size());
    out.push_back(sa);
  }
  return out;
}

// Seconds per added SA, from the iterations' total time.
void ReportPerAdd(benchmark::State& state, size_t sas_per_iteration) {
  state.counters["per_add"] = benchmark::Counter(
      static_cast<double>(state.iterations()) * sas_per_iteration,
      benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
  state.SetItemsProcessed(state.iterations() * sas_per_iteration);
}

// One iteration: a fresh table (built and torn down off the clock) receives
// every inbound SA of node 0, each accepted.
template <typename Table>
void RunAdds(benchmark::State& state) {
  const std::vector<XfrmSa> sas = NodeZeroInboundSas(state.range(0));
  std::optional<Table> table;
  for (auto _ : state) {
    state.PauseTiming();
    table.emplace();
    state.ResumeTiming();
    for (const XfrmSa& sa : sas) {
      if (!table->AddSa(sa).ok()) {
        state.SkipWithError("an inbound SA was refused");
        return;
      }
    }
  }
  ReportPerAdd(state, sas.size());
}

void BM_SimXfrmAddInboundSas(benchmark::State& state) {
  RunAdds<SimXfrm>(state);
}
void BM_LinearChainAddInboundSas(benchmark::State& state) {
  RunAdds<LinearSaChain>(state);
}

enum Traffic : int { kFromPeer = 0, kFromUnknownPeer = 1 };

// ESP to node 0 with the mark the decrypt program sets: a known peer's
// (finds that peer's SA) or, for kFromUnknownPeer, an index no SA has.
template <typename Table>
void RunLookups(benchmark::State& state) {
  const int nodes = static_cast<int>(state.range(0));
  const int traffic = static_cast<int>(state.range(1));
  Table table;
  for (const XfrmSa& sa : NodeZeroInboundSas(nodes)) {
    if (!table.AddSa(sa).ok()) {
      state.SkipWithError("an inbound SA was refused");
      return;
    }
  }
  std::mt19937 rng(42);
  std::uniform_int_distribution<int> peer(1, nodes - 1);
  std::vector<int> peers(4096);
  for (int& p : peers) p = traffic == kFromPeer ? peer(rng) : nodes + peer(rng);
  const IpAddress dst = NodeAddress(0);
  auto mark = [](int p) {
    return ipsec::InboundSaMark(static_cast<uint16_t>(p)).value;
  };
  for (int p : peers) {
    const std::optional<SaRef> sa =
        table.LookupInboundSa(dst, kSpi, kIpProtoEsp, mark(p));
    if (sa.has_value() != (traffic == kFromPeer) ||
        (sa.has_value() && sa->sa.src != NodeAddress(p))) {
      state.SkipWithError("a packet found the wrong SA");
      return;
    }
  }
  size_t i = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(
        table.LookupInboundSa(dst, kSpi, kIpProtoEsp, mark(peers[i++ & 4095])));
  }
  state.SetItemsProcessed(state.iterations());
  state.SetLabel(traffic == kFromPeer ? "from a peer"
                                      : "from an unknown peer (no SA)");
}

void BM_SimXfrmLookupInboundSa(benchmark::State& state) {
  RunLookups<SimXfrm>(state);
}
void BM_LinearChainLookupInboundSa(benchmark::State& state) {
  RunLookups<LinearSaChain>(state);
}

void AddSizes(benchmark::internal::Benchmark* b) {
  b->ArgNames({"nodes"});
  for (int nodes : {10, 100, 1000}) b->Args({nodes});
}
void LookupShapes(benchmark::internal::Benchmark* b) {
  b->ArgNames({"nodes", "traffic"});
  for (int nodes : {10, 100, 1000}) {
    for (int traffic : {kFromPeer, kFromUnknownPeer}) {
      b->Args({nodes, traffic});
    }
  }
}

BENCHMARK(BM_SimXfrmAddInboundSas)->Apply(AddSizes);
BENCHMARK(BM_LinearChainAddInboundSas)->Apply(AddSizes);
BENCHMARK(BM_SimXfrmLookupInboundSa)->Apply(LookupShapes);
BENCHMARK(BM_LinearChainLookupInboundSa)->Apply(LookupShapes);

}  // namespace
}  // namespace kmesh::sim

BENCHMARK_MAIN();
