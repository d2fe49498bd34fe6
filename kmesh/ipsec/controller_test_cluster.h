// TestCluster (testonly): N IpsecControllers, each with its own simulated
// XFRM tables (sim::SimXfrm), decrypt-marker map and publisher, connected by
// an in-memory "API server": every published KmeshNodeInfo is queued for
// delivery to every other controller's OnPeerUpsert, and a test pumps the
// queue one delivery at a time (holding back some nodes' deliveries to model
// slow watchers). Path checks answer, with the simulator's own lookups,
// whether a marked packet from a pod on one node to a pod on another would be
// encrypted with an SA the receiver can decrypt and its policies accept.
#ifndef KMESH_IPSEC_CONTROLLER_TEST_CLUSTER_H_
#define KMESH_IPSEC_CONTROLLER_TEST_CLUSTER_H_

#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "gtest/gtest.h"
#include "kmesh/base/clock.h"
#include "kmesh/ipsec/ipsec_controller.h"
#include "kmesh/ipsec/recording_node_info_publisher.h"
#include "kmesh/ipsec/recording_xfrm_kernel.h"
#include "kmesh/ipsec/xfrm_layout.h"
#include "sim/kernel/memory_marker_maps.h"
#include "sim/kernel/xfrm/sim_xfrm.h"

namespace kmesh::ipsec::testing {

// A deterministic 36-byte PSK per seed.
inline XfrmKey TestPsk(int seed) {
  uint8_t bytes[36];
  for (int i = 0; i < 36; ++i) {
    bytes[i] = static_cast<uint8_t>(seed * 131 + i * 7 + 1);
  }
  return XfrmKey(bytes, sizeof(bytes));
}

// A 36-character boot ID, different per (node, generation).
inline std::string TestBootId(int node, int generation) {
  return absl::StrFormat("%08x-0000-4000-8000-%012x", node, generation);
}

// Node i: node-i, 10.0.<i/200>.<i%200+1> (and fd00::<i+1> when dual
// stack), pod CIDR 10.<100+i/200>.<i%200>.0/24 (and fd00:244:<i>::/64).
inline NodeView TestNodeView(int i, bool dual_stack, int generation = 0) {
  NodeView v;
  v.name = absl::StrCat("node-", i);
  v.addresses.push_back(absl::StrCat("10.0.", i / 200, ".", i % 200 + 1));
  if (dual_stack) v.addresses.push_back(absl::StrFormat("fd00::%x", i + 1));
  v.boot_id = TestBootId(i, generation);
  v.pod_cidrs.push_back(*IpPrefix::Parse(
      absl::StrCat("10.", 100 + i / 200, ".", i % 200, ".0/24")));
  if (dual_stack) {
    v.pod_cidrs.push_back(
        *IpPrefix::Parse(absl::StrFormat("fd00:244:%x::/64", i)));
  }
  return v;
}

// A pod address inside the node's first pod CIDR of `family`.
inline IpAddress PodIp(const NodeView& node, IpFamily family) {
  for (const IpPrefix& cidr : node.pod_cidrs) {
    if (cidr.family() != family) continue;
    std::array<uint8_t, 16> bytes = cidr.address().bytes();
    bytes[cidr.address().byte_length() - 1] = 5;
    return IpAddress::FromBytes(family, bytes.data());
  }
  return IpAddress();
}

struct ClusterNode {
  NodeView view;  // This node's identity (spi unused).
  sim::SimXfrm sim;
  RecordingXfrmKernel kernel{&sim};
  MemoryMarkerMaps markers;
  RecordingNodeInfoPublisher publisher;
  std::unique_ptr<IpsecController> controller;
};

enum class PathResult {
  kEncrypted,      // Encrypted, decryptable, accepted by the receiver.
  kBlocked,        // Dropped by the block policy (no leak, but loss).
  kNoOutboundSa,   // The out policy's SA is missing (loss).
  kPlaintext,      // No out policy at all: the packet leaves in clear.
  kUndecryptable,  // The receiver has no matching inbound SA or key.
  kRejected,       // The receiver's in/fwd policy refuses it.
};

inline const char* PathResultName(PathResult r) {
  switch (r) {
    case PathResult::kEncrypted:
      return "encrypted";
    case PathResult::kBlocked:
      return "blocked";
    case PathResult::kNoOutboundSa:
      return "no-outbound-sa";
    case PathResult::kPlaintext:
      return "PLAINTEXT";
    case PathResult::kUndecryptable:
      return "undecryptable";
    case PathResult::kRejected:
      return "rejected";
  }
  return "?";
}

class TestCluster {
 public:
  struct Delivery {
    int target;
    bool upsert;
    NodeView view;
  };

  explicit TestCluster(int n, IpsecControllerOptions options = {},
                       bool dual_stack = false)
      : options_(options) {
    for (int i = 0; i < n; ++i) {
      auto node = std::make_unique<ClusterNode>();
      node->view = TestNodeView(i, dual_stack);
      node->publisher.on_publish = [this, i](const NodeView& view) {
        records_[view.name] = view;
        for (int j = 0; j < static_cast<int>(nodes.size()); ++j) {
          if (j != i) queue.push_back({j, true, view});
        }
      };
      node->publisher.on_withdraw = [this, i](const std::string& name) {
        records_.erase(name);
        NodeView gone;
        gone.name = name;
        for (int j = 0; j < static_cast<int>(nodes.size()); ++j) {
          if (j != i) queue.push_back({j, false, gone});
        }
      };
      nodes.push_back(std::move(node));
    }
  }

  // Creates (or re-creates, keeping its kernel) node i's controller, starts
  // it, delivers the records the "API server" holds and marks peers synced.
  void StartNode(int i) {
    ClusterNode& node = *nodes[i];
    node.controller = std::make_unique<IpsecController>(
        node.view, &node.kernel, &node.publisher, &node.markers, &clock,
        options_);
    absl::Status started = node.controller->Start();
    if (!started.ok()) ADD_FAILURE() << started;
    for (const auto& [name, view] : records_) {
      if (name != node.view.name) node.controller->OnPeerUpsert(view);
    }
    node.controller->OnPeersSynced();
  }
  void StartAll() {
    for (int i = 0; i < static_cast<int>(nodes.size()); ++i) StartNode(i);
  }

  // Delivers the first queued event whose target is not held; false when
  // there is none.
  bool PumpOne() {
    for (auto it = queue.begin(); it != queue.end(); ++it) {
      if (held.count(it->target)) continue;
      Delivery d = *it;
      queue.erase(it);
      IpsecController* c = nodes[d.target]->controller.get();
      if (c == nullptr) return true;
      if (d.upsert) {
        c->OnPeerUpsert(d.view);
      } else {
        c->OnPeerDelete(d.view.name);
      }
      return true;
    }
    return false;
  }
  // Pumps until nothing deliverable is left, calling `after_each` after
  // every delivery.
  void PumpAll(const std::function<void()>& after_each = nullptr) {
    while (PumpOne()) {
      if (after_each) after_each();
    }
  }

  void GiveKey(int i, int32_t spi, const XfrmKey& psk) {
    nodes[i]->controller->OnKeyChanged(spi, psk);
  }
  void GiveKeyToAll(int32_t spi, const XfrmKey& psk) {
    for (int i = 0; i < static_cast<int>(nodes.size()); ++i) {
      GiveKey(i, spi, psk);
    }
  }
  void TickAll() {
    for (auto& node : nodes) {
      if (node->controller) node->controller->Tick();
    }
  }

  // The SPI node i's published record carries (0 = none).
  int32_t PublishedSpi(int i) const {
    auto it = records_.find(nodes[i]->view.name);
    return it == records_.end() ? 0 : it->second.spi;
  }
  const std::map<std::string, NodeView>& records() const { return records_; }

  // What happens to a packet marked 0xe0 from a pod on node s to a pod on
  // node r, decided by the simulator's lookups on both nodes.
  PathResult CheckPath(int s, int r, IpFamily family = IpFamily::kV4,
                       std::string* detail = nullptr) const {
    const ClusterNode& sender = *nodes[s];
    const ClusterNode& receiver = *nodes[r];
    const IpAddress src = PodIp(sender.view, family);
    const IpAddress dst = PodIp(receiver.view, family);
    constexpr uint8_t kTcp = 6;
    auto out = sender.sim.LookupPolicy(XfrmDir::kOut, src, dst, kTcp,
                                       kEncryptMarkValue);
    if (!out) return PathResult::kPlaintext;
    if (out->action == XfrmAction::kBlock) return PathResult::kBlocked;
    if (out->templates.empty()) return PathResult::kPlaintext;
    auto sa = sender.sim.FindOutboundSa(out->templates[0], src, dst,
                                        kEncryptMarkValue, kTcp);
    if (!sa) return PathResult::kNoOutboundSa;
    if (detail) *detail = DescribeSa(sa->sa);
    // The receiver's decrypt marker marks ESP from a known peer address.
    auto index = receiver.markers.LookupPeer(sa->sa.src);
    const uint32_t mark = index ? InboundSaMark(*index).value : 0;
    auto in =
        receiver.sim.LookupInboundSa(sa->sa.dst, sa->sa.spi, kIpProtoEsp, mark);
    if (!in || !(in->sa.aead_key == sa->sa.aead_key) ||
        in->sa.src != sa->sa.src) {
      return PathResult::kUndecryptable;
    }
    const uint32_t decrypted = sim::ApplyOutputMark(in->sa, mark);
    auto fwd =
        receiver.sim.LookupPolicy(XfrmDir::kFwd, src, dst, kTcp, decrypted);
    if (!fwd || fwd->action != XfrmAction::kAllow || fwd->templates.empty() ||
        !sim::InboundTemplateMatches(fwd->templates[0], in->sa)) {
      return PathResult::kRejected;
    }
    return PathResult::kEncrypted;
  }

  // Declared first so that it outlives the controllers.
  ManualClock clock;
  std::vector<std::unique_ptr<ClusterNode>> nodes;
  std::deque<Delivery> queue;
  std::set<int> held;

 private:
  IpsecControllerOptions options_;
  std::map<std::string, NodeView> records_;
};

}  // namespace kmesh::ipsec::testing

#endif  // KMESH_IPSEC_CONTROLLER_TEST_CLUSTER_H_
