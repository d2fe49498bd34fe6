// Randomized test of IpsecController against the simulated XFRM tables:
// random peer additions, changes and deletions, Node objects coming and going
// (nodes known before, without or after their record), key rotations
// (including a re-created secret), clock jumps and controller restarts. After
// every step the owned XFRM state in the kernel must equal the desired state
// computed from scratch with XfrmLayout (from a model that holds every key ever
// issued), and foreign SAs and policies seeded at the start must be exactly
// as they were.
#include <chrono>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "gtest/gtest.h"
#include "kmesh/base/clock.h"
#include "kmesh/ipsec/ipsec_controller.h"
#include "kmesh/ipsec/testing/peer_layout.h"
#include "kmesh/ipsec/testing/recording_node_info_publisher.h"
#include "kmesh/ipsec/testing/test_nodes.h"
#include "kmesh/ipsec/testing/test_psk.h"
#include "kmesh/ipsec/testing/xfrm_objects.h"
#include "kmesh/ipsec/xfrm_layout.h"
#include "kmesh/kernel/testing/recording_xfrm_kernel.h"
#include "sim/kernel/memory_marker_maps.h"
#include "sim/kernel/xfrm/sim_xfrm.h"

namespace kmesh::ipsec {
namespace {

// Another IPsec user's objects on this node, one SA with a mark.
std::vector<XfrmSa> Foreign() {
  std::vector<XfrmSa> out;
  for (int i = 0; i < 2; ++i) {
    // To this node, as ours.
    out.push_back(ForeignSa(absl::StrCat("192.168.50.", i + 1), "10.0.0.1",
                            0x7000 + i, /*reqid=*/42));
    out.back().replay_window = 64;
    out.back().mark = XfrmMark{0x100u * (i + 1), 0xf00};
  }
  return out;
}

std::vector<XfrmPolicy> ForeignPolicies() {
  std::vector<XfrmPolicy> out;
  for (XfrmDir dir : {XfrmDir::kOut, XfrmDir::kIn}) {
    out.push_back(ForeignPolicy(dir, "172.16.0.0/16", "10.0.0.1",
                                "192.168.50.1", /*reqid=*/42));
    out.back().priority = 50;
  }
  return out;
}

class RandomizedController {
 public:
  explicit RandomizedController(uint32_t seed) : rng_(seed) {
    for (const XfrmSa& sa : Foreign()) EXPECT_TRUE(sim_.AddSa(sa).ok());
    for (const XfrmPolicy& p : ForeignPolicies()) {
      EXPECT_TRUE(sim_.AddPolicy(p).ok());
    }
    Restart();
  }

  void Step(int step) {
    std::string what;
    const int op = Uniform(0, 99);
    if ((op < 20 && peers_.size() < 30) || peers_.size() < 2) {
      what = AddPeer();
    } else if (op < 40) {
      what = ChangePeer();
    } else if (op < 48) {
      what = DeletePeer();
    } else if (op < 54 && nodes_.size() < 40) {
      what = AddNodeObject();
    } else if (op < 57 && !nodes_.empty()) {
      what = DeleteNodeObject();
    } else if (op < 60) {
      what = PublishForNodeObject();
    } else if (op < 72) {
      what = Rotate();
    } else if (op < 88) {
      const int minutes = Uniform(0, 7);
      clock_.Advance(std::chrono::minutes(minutes));
      controller_->Tick();
      what = absl::StrCat("tick +", minutes, "m");
    } else {
      Restart();
      what = "restart";
    }
    trace_.push_back(what);
    Verify(absl::StrCat("step ", step, " (", what, ")"));
  }

  // The faults stop: every peer advertises the current SPI and the grace
  // period passes. Then only the current SPI is left, in both directions:
  // no retiring outbound SA (derived or adopted by a restart) stays behind.
  void Settle() {
    for (auto& [name, v] : peers_) {
      v.spi = current_spi_;
      controller_->OnPeerUpsert(v);
    }
    if (current_spi_ == 0) return;
    controller_->OnKeyChanged(current_spi_, *all_keys_.Find(current_spi_));
    clock_.Advance(std::chrono::minutes(6));
    controller_->Tick();
    Verify("settled");
    const IpsecControllerSnapshot snapshot = controller_->Snapshot();
    EXPECT_EQ(snapshot.inbound_spis, std::vector<int32_t>{current_spi_});
    for (const auto& peer : snapshot.peers) {
      EXPECT_TRUE(peer.retiring_outbound_spis.empty()) << peer.name;
      if (peer.has_record && peer.index != 0) {
        EXPECT_EQ(peer.outbound_spi, current_spi_) << peer.name;
      }
    }
  }

  int restarts() const { return restarts_; }
  int rotations() const { return rotations_; }

 private:
  int Uniform(int lo, int hi) {
    return std::uniform_int_distribution<int>(lo, hi)(rng_);
  }

  // A peer advertises: nothing yet, the current SPI, or an older/newer one.
  int32_t RandomPeerSpi() {
    const int choice = Uniform(0, 9);
    if (choice == 0 || current_spi_ == 0) return choice == 0 ? 0 : 1;
    if (choice < 7) return current_spi_;
    if (choice < 9) return std::max(1, current_spi_ - 1);
    return current_spi_ + 1;  // Learnt before us.
  }

  std::string AddPeer() {
    const int id = next_peer_++;
    NodeView v = TestNodeView(id, /*dual_stack=*/id % 3 == 0);
    std::string node;
    // Its Node object is seen first, after the record (which waits for it),
    // or (rarely) never.
    const int order = Uniform(0, 4);
    if (order < 2) {
      nodes_[v.name] = v;
      controller_->OnNodeUpsert(v);
      node = " (node first)";
    }
    const NodeView node_view = v;
    v.spi = RandomPeerSpi();
    peers_[v.name] = v;
    controller_->OnPeerUpsert(v);
    if (order >= 2 && order < 4) {
      nodes_[v.name] = node_view;
      controller_->OnNodeUpsert(node_view);
      node = " (node after)";
    }
    if (order == 4) node = " (no node)";
    return absl::StrCat("add ", v.name, " spi ", v.spi, node);
  }

  // A node registers; its daemon has not published yet.
  std::string AddNodeObject() {
    const int id = next_peer_++;
    const NodeView v = TestNodeView(id, /*dual_stack=*/id % 3 == 0);
    nodes_[v.name] = v;
    controller_->OnNodeUpsert(v);
    return absl::StrCat("node ", v.name);
  }

  std::string DeleteNodeObject() {
    auto it = nodes_.begin();
    std::advance(it, Uniform(0, static_cast<int>(nodes_.size()) - 1));
    const std::string name = it->first;
    nodes_.erase(it);
    controller_->OnNodeDelete(name);
    return absl::StrCat("node delete ", name);
  }

  // A node known from its Node object publishes its record.
  std::string PublishForNodeObject() {
    for (const auto& [name, node] : nodes_) {
      if (peers_.count(name)) continue;
      NodeView v = node;
      v.spi = RandomPeerSpi();
      peers_[name] = v;
      controller_->OnPeerUpsert(v);
      return absl::StrCat("publish ", name, " spi ", v.spi);
    }
    return "publish (none)";
  }

  // Whether the controller may use `name`'s record: it agrees with its
  // Node and overlaps no other node's pod CIDRs (docs/reliability.md, "Peer
  // records").
  bool RecordUsable(const std::string& name, const NodeView& record) const {
    auto node = nodes_.find(name);
    if (node == nodes_.end() ||
        !CheckRecordAgainstNode(record, &node->second).ok()) {
      return false;
    }
    for (const IpPrefix& cidr : record.pod_cidrs) {
      for (const IpPrefix& own : self_.pod_cidrs) {
        if (PrefixesOverlap(cidr, own)) return false;
      }
      for (const auto& [other, v] : nodes_) {
        if (other == name) continue;
        for (const IpPrefix& c : v.pod_cidrs) {
          if (PrefixesOverlap(cidr, c)) return false;
        }
      }
    }
    return true;
  }

  // The peers whose records the controller uses.
  std::set<std::string> UsedRecords() const {
    std::set<std::string> out;
    for (const auto& [name, v] : peers_) {
      if (RecordUsable(name, v)) out.insert(name);
    }
    return out;
  }

  // What the controller should program each peer from: its record when
  // usable, else its Node (advertising nothing).
  std::map<std::string, NodeView> EffectivePeers() const {
    std::map<std::string, NodeView> out;
    for (const std::string& name : UsedRecords()) out[name] = peers_.at(name);
    for (const auto& [name, node] : nodes_) {
      if (!out.count(name)) {
        out[name] = node;
        out[name].spi = 0;
      }
    }
    return out;
  }

  NodeView& RandomPeer() {
    auto it = peers_.begin();
    std::advance(it, Uniform(0, static_cast<int>(peers_.size()) - 1));
    return it->second;
  }

  std::string ChangePeer() {
    NodeView& v = RandomPeer();
    std::string what;
    switch (Uniform(0, 3)) {
      case 0:
        v.spi = RandomPeerSpi();
        what = absl::StrCat("spi ", v.spi);
        break;
      case 1:
        v.boot_id = TestBootId(1000 + next_peer_, Uniform(1, 1 << 20));
        what = "reboot";
        break;
      case 2: {
        const int fresh = 5000 + next_address_++;
        v.addresses[0] =
            absl::StrCat("10.1.", fresh / 200, ".", fresh % 200 + 1);
        what = absl::StrCat("address ", v.addresses[0]);
        break;
      }
      case 3: {
        const int fresh = next_address_++;
        v.pod_cidrs[0] = *IpPrefix::Parse(
            absl::StrCat("10.", 50 + fresh / 200, ".", fresh % 200, ".0/24"));
        what = absl::StrCat("cidr ", v.pod_cidrs[0].ToString());
        break;
      }
    }
    // A new address or pod CIDR is the Node's first (kubelet, the
    // controller manager), seen before or after the record; sometimes the
    // record alone changes (and is then rejected).
    auto node = nodes_.find(v.name);
    const int order = Uniform(0, 3);
    const bool node_changes =
        node != nodes_.end() &&
        (what.rfind("address", 0) == 0 || what.rfind("cidr", 0) == 0) &&
        order < 3;
    if (node_changes) {
      node->second.addresses = v.addresses;
      node->second.pod_cidrs = v.pod_cidrs;
      what += order == 0 ? " (node first)" : " (node after)";
      if (order == 0) controller_->OnNodeUpsert(node->second);
    }
    controller_->OnPeerUpsert(v);
    if (node_changes && order != 0) controller_->OnNodeUpsert(node->second);
    return absl::StrCat("change ", v.name, " ", what);
  }

  std::string DeletePeer() {
    const std::string name = RandomPeer().name;
    peers_.erase(name);
    controller_->OnPeerDelete(name);
    return absl::StrCat("delete ", name);
  }

  std::string Rotate() {
    ++rotations_;
    int32_t spi = current_spi_ + 1;
    if (Uniform(0, 9) == 0) spi = 1;  // delete + create: a new epoch.
    key_seed_++;
    current_spi_ = spi;
    all_keys_.Install(spi, TestPsk(key_seed_));
    controller_->OnKeyChanged(spi, TestPsk(key_seed_));
    // Peers catch up over time.
    for (auto& [name, v] : peers_) {
      if (Uniform(0, 2) == 0) {
        v.spi = spi;
        controller_->OnPeerUpsert(v);
      }
    }
    return absl::StrCat("rotate to ", spi);
  }

  void Restart() {
    if (controller_) ++restarts_;
    controller_.reset();  // A crash: no Shutdown.
    IpsecControllerOptions options;
    options.learn_nodes = true;
    controller_ = std::make_unique<IpsecController>(
        self_, &kernel_, &publisher_, &markers_, &clock_, options);
    EXPECT_TRUE(controller_->Start().ok());
    if (current_spi_ != 0) {
      controller_->OnKeyChanged(current_spi_, *all_keys_.Find(current_spi_));
    }
    // The two lists complete in either order.
    auto nodes = [&] {
      for (const auto& [name, v] : nodes_) controller_->OnNodeUpsert(v);
      controller_->OnNodesSynced();
    };
    const bool nodes_first = Uniform(0, 1) == 0;
    if (nodes_first) nodes();
    for (const auto& [name, v] : peers_) controller_->OnPeerUpsert(v);
    controller_->OnPeersSynced();
    if (!nodes_first) nodes();
  }

  void Verify(const std::string& step) {
    SCOPED_TRACE(step);
    // Expected: catch-all + every peer, from scratch.
    XfrmObjects expected = LayoutCatchAll();
    const std::map<std::string, NodeView> effective = EffectivePeers();
    const std::set<std::string> used = UsedRecords();
    // Exactly the effective peers are known: none from a rejected record
    // alone.
    const IpsecControllerSnapshot snapshot = controller_->Snapshot();
    ASSERT_EQ(snapshot.peers.size(), effective.size()) << Trace();
    for (const auto& [name, v] : effective) {
      auto index = controller_->peer_index(name);
      ASSERT_TRUE(index.has_value()) << name;
      ASSERT_TRUE(controller_->peer_status(name).ok())
          << name << ": " << controller_->peer_status(name);
      // The receiver-driven rule, checked independently.
      const int32_t out = controller_->outbound_spi(name);
      if (v.spi != 0 && v.spi == current_spi_) {
        EXPECT_EQ(out, v.spi) << name;
      }
      // Nothing is sent to a node without a (usable) record.
      if (!used.count(name)) {
        EXPECT_EQ(out, 0) << name;
      }
      // A retiring outbound SA is an SPI other than the one sent with,
      // only to a peer sent to, and still received with (not reclaimed)
      // unless it is an SA a restart adopted without its key (its inbound
      // side may be gone already; it waits for its own reclaim).
      const std::vector<int32_t> inbound = controller_->inbound_spis(name);
      const std::vector<int32_t> retiring =
          controller_->retiring_outbound_spis(name);
      const std::vector<int32_t>& held = snapshot.held_spis;
      for (int32_t spi : retiring) {
        EXPECT_NE(out, 0) << name;
        EXPECT_NE(spi, out) << name;
        const bool adopted =
            std::find(held.begin(), held.end(), spi) == held.end();
        EXPECT_TRUE(adopted || std::count(inbound.begin(), inbound.end(), spi))
            << name << ": retiring SPI " << spi << " was reclaimed";
      }
      const XfrmObjects objects =
          PeerObjects(self_, v, *index, all_keys_, inbound, out, retiring);
      for (const XfrmSa& sa : objects.sas) expected.sas.push_back(sa);
      for (const XfrmPolicy& p : objects.policies) {
        expected.policies.push_back(p);
      }
      // The current SPI is always receivable.
      if (current_spi_ != 0) {
        const auto spis = controller_->inbound_spis(name);
        EXPECT_TRUE(std::count(spis.begin(), spis.end(), current_spi_)) << name;
      }
    }
    const std::vector<XfrmSa> sas = DumpedSas(sim_);
    const std::vector<XfrmPolicy> policies = DumpedPolicies(sim_);
    // Foreign objects untouched.
    ExpectEachOnce(sas, Foreign());
    ExpectEachOnce(policies, ForeignPolicies());
    // Owned == expected, both ways.
    const std::vector<XfrmSa> owned = OwnedSas(sas);
    const std::vector<XfrmPolicy> owned_policies = OwnedPolicies(policies);
    EXPECT_EQ(sas.size(), owned.size() + Foreign().size());
    EXPECT_EQ(policies.size(),
              owned_policies.size() + ForeignPolicies().size());
    ASSERT_EQ(owned.size(), expected.sas.size()) << Trace();
    ASSERT_EQ(owned_policies.size(), expected.policies.size()) << Trace();
    // Indexed by description (no key bytes), then compared field by field.
    std::map<std::string, const XfrmSa*> owned_by_text;
    for (const XfrmSa& sa : owned) owned_by_text[DescribeSa(sa)] = &sa;
    for (const XfrmSa& want : expected.sas) {
      auto it = owned_by_text.find(DescribeSa(want));
      EXPECT_TRUE(it != owned_by_text.end() && SameSa(*it->second, want))
          << "missing or stale: " << DescribeSa(want) << Trace();
    }
    std::map<std::string, const XfrmPolicy*> policies_by_text;
    for (const XfrmPolicy& p : owned_policies) {
      policies_by_text[DescribePolicy(p)] = &p;
    }
    for (const XfrmPolicy& want : expected.policies) {
      auto it = policies_by_text.find(DescribePolicy(want));
      EXPECT_TRUE(it != policies_by_text.end() && SamePolicy(*it->second, want))
          << "missing or stale: " << DescribePolicy(want) << Trace();
    }
    EXPECT_EQ(kernel_.already_exists, 0);
    EXPECT_EQ(controller_->stats().xfrm_errors, 0u);
    // The decrypt marker knows exactly the current peers' addresses.
    size_t addresses = 0;
    for (const auto& [name, v] : effective) {
      addresses += v.addresses.size();
      for (const std::string& a : v.addresses) {
        EXPECT_EQ(markers_.LookupPeer(*IpAddress::Parse(a)),
                  controller_->peer_index(name))
            << a;
      }
    }
    EXPECT_EQ(markers_.DumpPeers()->size(), addresses);
  }

  std::string Trace() const {
    std::string out = "\ntrace:";
    for (const std::string& t : trace_) absl::StrAppend(&out, " | ", t);
    return out;
  }

  std::mt19937 rng_;
  ManualClock clock_;
  sim::SimXfrm sim_;
  RecordingXfrmKernel kernel_{&sim_};
  MemoryMarkerMaps markers_;
  RecordingNodeInfoPublisher publisher_;
  NodeView self_ = TestNodeView(0, /*dual_stack=*/true);
  std::unique_ptr<IpsecController> controller_;
  std::map<std::string, NodeView> peers_;  // Records.
  std::map<std::string, NodeView> nodes_;  // Node objects (spi unused).
  KeyRing all_keys_;  // Every key ever issued (latest per SPI).
  int32_t current_spi_ = 0;
  int key_seed_ = 0;
  int next_peer_ = 1;
  int next_address_ = 0;
  int restarts_ = 0;
  int rotations_ = 0;
  std::vector<std::string> trace_;
};

class ControllerRandomTest : public ::testing::TestWithParam<uint32_t> {};

TEST_P(ControllerRandomTest, KernelAlwaysEqualsDesiredStateAndForeignSurvives) {
  RandomizedController world(GetParam());
  for (int step = 0; step < 200; ++step) {
    world.Step(step);
    if (::testing::Test::HasFatalFailure()) return;
  }
  world.Settle();
  EXPECT_GT(world.restarts(), 5);
  EXPECT_GT(world.rotations(), 10);
}

INSTANTIATE_TEST_SUITE_P(Seeds, ControllerRandomTest,
                         ::testing::Values(1u, 7u, 20261126u));

}  // namespace
}  // namespace kmesh::ipsec
