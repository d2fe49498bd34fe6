// TestCluster (testonly): N IpsecControllers, each with its own simulated
// XFRM tables (sim::SimXfrm), decrypt-marker map and publisher, connected by
// an in-memory "API server": every published KmeshNodeInfo is queued for
// delivery to every other controller's OnPeerUpsert, and a test pumps the
// queue one delivery at a time (holding back some nodes' deliveries to model
// slow watchers). Path checks answer, with the simulator's own lookups,
// whether a marked packet from a pod on one node to a pod on another would be
// encrypted with an SA the receiver can decrypt and its policies accept.
#ifndef KMESH_IPSEC_TESTING_TEST_CLUSTER_H_
#define KMESH_IPSEC_TESTING_TEST_CLUSTER_H_

#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "kmesh/base/clock.h"
#include "kmesh/base/ip_address.h"
#include "kmesh/ipsec/ipsec_controller.h"
#include "kmesh/ipsec/node_view.h"
#include "kmesh/ipsec/testing/recording_node_info_publisher.h"
#include "kmesh/kernel/testing/recording_xfrm_kernel.h"
#include "sim/kernel/memory_marker_maps.h"
#include "sim/kernel/xfrm/sim_xfrm.h"

namespace kmesh::ipsec {

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

const char* PathResultName(PathResult r);

class TestCluster {
 public:
  struct Delivery {
    int target;
    bool upsert;
    NodeView view;
  };

  // Nodes TestNodeView(0..n-1); no controller runs until StartNode().
  explicit TestCluster(int n, IpsecControllerOptions options = {},
                       bool dual_stack = false);

  // Creates (or re-creates, keeping its kernel: a restart) node i's
  // controller and starts it; a failed Start() fails the test.
  IpsecController& RestartController(int i);
  // Delivers to node i every record the "API server" holds but its own.
  void DeliverRecords(int i);
  // Tells node i's controller about the Node objects of `others` (their
  // views, spi 0; node i itself is skipped), then that the Node list is
  // complete (for IpsecControllerOptions::learn_nodes).
  void DeliverNodeObjects(int i, const std::vector<int>& others);
  // RestartController(i), DeliverRecords(i), then marks its peers synced.
  void StartNode(int i);
  void StartAll();

  // Delivers the first queued event whose target is not held; false when
  // there is none.
  bool PumpOne();
  // Pumps until nothing deliverable is left, calling `after_each` after
  // every delivery.
  void PumpAll(const std::function<void()>& after_each = nullptr);

  void GiveKey(int i, int32_t spi, const XfrmKey& psk);
  void GiveKeyToAll(int32_t spi, const XfrmKey& psk);
  // Gives every node the key (spi, TestPsk(psk_seed)) and delivers every
  // record that results.
  void RollOutKey(int32_t spi, int psk_seed);
  void RollOutKey(int32_t spi) { RollOutKey(spi, spi); }
  void TickAll();

  // The SPI node i's published record carries (0 = none).
  int32_t PublishedSpi(int i) const;
  const std::map<std::string, NodeView>& records() const { return records_; }

  // Every ordered pair (sender, receiver) of distinct nodes.
  std::vector<std::pair<int, int>> Pairs() const;

  // What happens to a packet marked 0xe0 from a pod on node s to a pod on
  // node r, decided by the simulator's lookups on both nodes; `detail` gets
  // the outbound SA used.
  PathResult CheckPath(int s, int r, IpFamily family = IpFamily::kV4,
                       std::string* detail = nullptr) const;

  // CheckPath, and when the packet is encrypted it is counted on the
  // sender's outbound SA and the receiver's inbound SA (as the datapath
  // does: what the controller reads back from the SAs' counters).
  PathResult SendPacket(int s, int r, IpFamily family = IpFamily::kV4);

  // Declared first so that it outlives the controllers.
  ManualClock clock;
  std::vector<std::unique_ptr<ClusterNode>> nodes;
  std::deque<Delivery> queue;
  std::set<int> held;

 private:
  struct PathTaken {
    sim::SaHandle outbound;
    sim::SaHandle inbound;
  };
  PathResult FollowPath(int s, int r, IpFamily family, std::string* detail,
                        PathTaken* taken) const;

  IpsecControllerOptions options_;
  std::map<std::string, NodeView> records_;
};

}  // namespace kmesh::ipsec

#endif  // KMESH_IPSEC_TESTING_TEST_CLUSTER_H_
