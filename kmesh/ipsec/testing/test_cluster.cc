#include "kmesh/ipsec/testing/test_cluster.h"

#include "gtest/gtest.h"
#include "kmesh/ipsec/testing/test_nodes.h"
#include "kmesh/ipsec/testing/test_psk.h"
#include "kmesh/ipsec/xfrm_layout.h"

namespace kmesh::ipsec {

const char* PathResultName(PathResult r) {
  // In the order of the enum.
  static const char* const kNames[] = {
      "encrypted", "blocked",       "no-outbound-sa",
      "PLAINTEXT", "undecryptable", "rejected",
  };
  return kNames[static_cast<int>(r)];
}

TestCluster::TestCluster(int n, IpsecControllerOptions options, bool dual_stack)
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

IpsecController& TestCluster::RestartController(int i) {
  ClusterNode& node = *nodes[i];
  node.controller.reset();  // A crash: no Shutdown.
  node.controller = std::make_unique<IpsecController>(
      node.view, &node.kernel, &node.publisher, &node.markers, &clock,
      options_);
  absl::Status started = node.controller->Start();
  if (!started.ok()) ADD_FAILURE() << started;
  return *node.controller;
}

void TestCluster::DeliverRecords(int i) {
  ClusterNode& node = *nodes[i];
  for (const auto& [name, view] : records_) {
    if (name != node.view.name) node.controller->OnPeerUpsert(view);
  }
}

void TestCluster::DeliverNodeObjects(int i, const std::vector<int>& others) {
  IpsecController& controller = *nodes[i]->controller;
  for (int j : others) {
    if (j != i) controller.OnNodeUpsert(nodes[j]->view);
  }
  controller.OnNodesSynced();
}

void TestCluster::StartNode(int i) {
  RestartController(i);
  DeliverRecords(i);
  nodes[i]->controller->OnPeersSynced();
}

void TestCluster::StartAll() {
  for (int i = 0; i < static_cast<int>(nodes.size()); ++i) StartNode(i);
}

bool TestCluster::PumpOne() {
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

void TestCluster::PumpAll(const std::function<void()>& after_each) {
  while (PumpOne()) {
    if (after_each) after_each();
  }
}

void TestCluster::GiveKey(int i, int32_t spi, const XfrmKey& psk) {
  nodes[i]->controller->OnKeyChanged(spi, psk);
}

void TestCluster::GiveKeyToAll(int32_t spi, const XfrmKey& psk) {
  for (int i = 0; i < static_cast<int>(nodes.size()); ++i) {
    GiveKey(i, spi, psk);
  }
}

void TestCluster::RollOutKey(int32_t spi, int psk_seed) {
  GiveKeyToAll(spi, TestPsk(psk_seed));
  PumpAll();
}

void TestCluster::TickAll() {
  for (auto& node : nodes) {
    if (node->controller) node->controller->Tick();
  }
}

int32_t TestCluster::PublishedSpi(int i) const {
  auto it = records_.find(nodes[i]->view.name);
  return it == records_.end() ? 0 : it->second.spi;
}

std::vector<std::pair<int, int>> TestCluster::Pairs() const {
  std::vector<std::pair<int, int>> pairs;
  const int n = static_cast<int>(nodes.size());
  for (int s = 0; s < n; ++s) {
    for (int r = 0; r < n; ++r) {
      if (s != r) pairs.emplace_back(s, r);
    }
  }
  return pairs;
}

PathResult TestCluster::CheckPath(int s, int r, IpFamily family,
                                  std::string* detail) const {
  return FollowPath(s, r, family, detail, nullptr);
}

PathResult TestCluster::SendPacket(int s, int r, IpFamily family) {
  PathTaken taken;
  const PathResult result = FollowPath(s, r, family, nullptr, &taken);
  if (result == PathResult::kEncrypted) {
    constexpr uint64_t kBytes = 100;
    EXPECT_TRUE(nodes[s]->sim.CountPacket(taken.outbound, kBytes).ok());
    EXPECT_TRUE(nodes[r]->sim.CountPacket(taken.inbound, kBytes).ok());
  }
  return result;
}

PathResult TestCluster::FollowPath(int s, int r, IpFamily family,
                                   std::string* detail,
                                   PathTaken* taken) const {
  const ClusterNode& sender = *nodes[s];
  const ClusterNode& receiver = *nodes[r];
  const IpAddress src = PodIp(sender.view, family);
  const IpAddress dst = PodIp(receiver.view, family);
  constexpr uint8_t kTcp = 6;
  auto out =
      sender.sim.LookupPolicy(XfrmDir::kOut, src, dst, kTcp, kEncryptMarkValue);
  if (!out) return PathResult::kPlaintext;
  if (out->action == XfrmAction::kBlock) return PathResult::kBlocked;
  if (out->templates.empty()) return PathResult::kPlaintext;
  auto sa = sender.sim.FindOutboundSa(out->templates[0], src, dst,
                                      out->mark.value & out->mark.mask, kTcp);
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
  if (taken != nullptr) *taken = PathTaken{sa->handle, in->handle};
  return PathResult::kEncrypted;
}

}  // namespace kmesh::ipsec
