// SimNetwork: the simulated data plane of a whole cluster. It owns one
// SimKernel per node and joins them with a single wire, the way a flat L2
// network with a host-gw CNI (flannel host-gw, kindnet) joins real nodes:
//   - node i (0-based) gets the address 172.18.H.L with H.L = i + 2 (and
//     fd00:172:18::<i + 2> when dual-stack), the pod CIDR 10.244.N.0/24 with
//     N = i + 1 (10.(244 + N / 256).(N % 256).0/24 beyond 254 nodes; and
//     fd00:10:244:<N hex>::/64), and a route to every other node's pod CIDRs
//     via that node's address of the same family;
//   - pods get the next free addresses of their node's CIDRs (.2, .3, ...);
//   - an uplink delivers synchronously, on the sender's thread, to the node
//     that owns the next-hop address, so one SendFromPod() call carries a
//     packet (and any ESP around it) all the way to the receiving pod.
// Every packet on the wire passes the WireMonitor, which classifies it as ESP
// (SPI, outer addresses) or plaintext (its own addresses) and counts it; that
// is what tests assert "never plaintext" on. Every packet a node's capture
// sees (veths and eth0, decrypted inner packets included, as Linux shows
// them) becomes a `tcpdump -i any` line, with node addresses printed as node
// names, kept in memory and, with a capture directory, written to
// <capture_dir>/<node>.log (and the packets to <capture_dir>/<node>.pcap);
// both files are started afresh when the node is added.
//
// Rebooting a node replaces its SimKernel with a fresh one (empty XFRM tables
// and marker maps, nothing attached) with the same addresses, routes and pods.
// Thread-safe; the data path never runs under the network's own locks.
#ifndef SIM_CLUSTER_SIM_NETWORK_H_
#define SIM_CLUSTER_SIM_NETWORK_H_

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/types/span.h"
#include "kmesh/base/ip_address.h"
#include "sim/kernel/capture.h"
#include "sim/kernel/sim_kernel.h"

namespace kmesh::sim {

struct SimNetworkOptions {
  // Nodes and pods also get IPv6 addresses and CIDRs.
  bool dual_stack = false;
  // Where capture files go ("" = nowhere): <dir>/<node>.log with tcpdump
  // lines (flushed per line, so `kmesh-sim tcpdump` can follow it), and
  // <dir>/<node>.pcap when write_pcap.
  std::string capture_dir;
  bool write_pcap = false;
  // Newest tcpdump lines kept in memory per node (0 = none).
  size_t capture_lines_kept = 4096;
};

struct SimNodeInfo {
  std::string name;
  int index = 0;                     // Allocation slot; never reused.
  std::vector<IpAddress> addresses;  // IPv4 first.
  std::vector<IpPrefix> pod_cidrs;   // IPv4 first.
};

struct SimPodInfo {
  std::string ns;
  std::string name;
  std::string node;
  std::vector<IpAddress> ips;  // IPv4 first.
  std::string key() const { return ns + "/" + name; }
};

// What became of one packet a pod sent.
struct SendResult {
  // On the sending node: kDelivered (same node), kTransmitted (put on the
  // wire) or the drop.
  PacketFate sender_fate = PacketFate::kNoRoute;
  // When it crossed the wire: the receiving node and what happened there.
  std::string receiver_node;
  std::optional<PacketFate> receiver_fate;
  // A wire filter dropped it.
  bool dropped_on_wire = false;

  bool delivered() const;
  // Why it was not delivered: PacketFateName() of the deciding fate, or
  // "WireDrop". "" when delivered.
  std::string loss_cause() const;
};

// Classifies and counts every packet that crosses the wire.
class WireMonitor {
 public:
  struct Key {
    std::string from_node;
    std::string to_node;
    bool esp = false;
    uint32_t spi = 0;  // ESP only; 0 for a later fragment (no ESP header).
    IpAddress src;     // ESP: outer; plaintext: the packet's own.
    IpAddress dst;
    uint8_t proto = 0;  // Plaintext only (ESP: 50).
    friend bool operator<(const Key& a, const Key& b) {
      return std::tie(a.from_node, a.to_node, a.esp, a.spi, a.src, a.dst,
                      a.proto) < std::tie(b.from_node, b.to_node, b.esp, b.spi,
                                          b.src, b.dst, b.proto);
    }
  };
  struct Counts {
    uint64_t packets = 0;
    uint64_t bytes = 0;
  };

  void Observe(const std::string& from_node, const std::string& to_node,
               absl::Span<const uint8_t> packet);

  std::map<Key, Counts> Snapshot() const;
  // ESP packets with `spi` (any SPI when nullopt).
  uint64_t EspPackets(std::optional<uint32_t> spi = std::nullopt) const;
  // Plaintext packets whose own source and destination are src and dst.
  uint64_t PlaintextPackets(const IpAddress& src, const IpAddress& dst) const;
  uint64_t PlaintextPackets() const;
  // Plaintext packets from src to dst that crossed from one node to another
  // after ESP had crossed from that node to that other one: the packets the
  // promise "never in clear once the pair has used ESP" is about. Before a
  // direction's first ESP packet (no key yet, a node just joined, the
  // receiver not yet able to decrypt) plaintext is expected and not counted
  // here.
  uint64_t PlaintextAfterEsp(const IpAddress& src, const IpAddress& dst) const;
  uint64_t MalformedPackets() const;
  // The SPIs seen so far, ascending.
  std::vector<uint32_t> Spis() const;
  void Reset();

 private:
  mutable absl::Mutex mu_;
  std::map<Key, Counts> counts_ ABSL_GUARDED_BY(mu_);
  // (from node, to node) that have carried ESP.
  std::set<std::pair<std::string, std::string>> esp_pairs_ ABSL_GUARDED_BY(mu_);
  // (src, dst) -> plaintext packets seen once their node pair had used ESP.
  std::map<std::pair<IpAddress, IpAddress>, uint64_t> plaintext_after_esp_
      ABSL_GUARDED_BY(mu_);
  uint64_t malformed_ ABSL_GUARDED_BY(mu_) = 0;
};

class SimNetwork {
 public:
  // Called for each packet delivered to a pod (on the sender's thread).
  using DeliveryHandler = std::function<void(const SimPodInfo& to,
                                             absl::Span<const uint8_t> packet)>;
  // Sees each packet about to cross the wire and may change it; false drops
  // it. For fault injection (loss, tampering, replay).
  using WireFilter = std::function<bool(const std::string& from_node,
                                        const std::string& to_node,
                                        std::vector<uint8_t>& packet)>;

  explicit SimNetwork(SimNetworkOptions options = {});
  ~SimNetwork();
  SimNetwork(const SimNetwork&) = delete;
  SimNetwork& operator=(const SimNetwork&) = delete;

  // --- Nodes ----------------------------------------------------------------
  // AlreadyExists for a taken name.
  absl::StatusOr<SimNodeInfo> AddNode(const std::string& name);
  // Detaches the node from the wire, removes the routes to it and its pods.
  absl::Status RemoveNode(const std::string& name);
  // A fresh kernel (empty tables, no hooks attached) with the same addresses,
  // routes and pods.
  absl::Status RebootNode(const std::string& name);
  std::optional<SimNodeInfo> node(const std::string& name) const;
  std::vector<SimNodeInfo> nodes() const;
  // The node's current kernel (a new one after a reboot), or nullptr.
  std::shared_ptr<SimKernel> kernel(const std::string& node) const;
  // The node that owns `address`, or "".
  std::string NodeOwning(const IpAddress& address) const;

  // --- Pods -----------------------------------------------------------------
  // Allocates the pod's addresses from its node's CIDRs.
  absl::StatusOr<SimPodInfo> AddPod(const std::string& ns,
                                    const std::string& name,
                                    const std::string& node);
  absl::Status RemovePod(const std::string& ns, const std::string& name);
  std::optional<SimPodInfo> pod(const std::string& ns,
                                const std::string& name) const;
  std::vector<SimPodInfo> pods() const;

  // --- Traffic
  // ----------------------------------------------------------------
  void SetDeliveryHandler(DeliveryHandler handler);
  void SetWireFilter(WireFilter filter);
  // The pod `ns/name` sends `packet` (an IP packet) out of its veth. The
  // packet's source is not checked (a pod can forge it; the kernel's
  // policies decide), but the pod needs an address of the packet's family.
  SendResult SendFromPod(const std::string& ns, const std::string& name,
                         std::vector<uint8_t> packet);
  WireMonitor& wire() { return wire_; }

  // --- Capture
  // ---------------------------------------------------------------- The newest
  // tcpdump lines of `node` (at most capture_lines_kept).
  std::vector<std::string> CaptureLines(const std::string& node) const;
  // Path of the node's tcpdump log / pcap ("" when not written).
  std::string CaptureLogPath(const std::string& node) const;
  std::string PcapPath(const std::string& node) const;
  absl::Status FlushCaptures();

 private:
  struct Node;
  struct Capture;

  std::shared_ptr<SimKernel> NewKernel(const Node& node);
  void ConnectKernel(const Node& node, SimKernel& kernel);
  void OnWire(const std::string& from, const IpAddress& next_hop,
              std::vector<uint8_t> packet);
  // The node's capture, created (files opened) on first use.
  Capture* CaptureFor(const std::string& node);
  void OnCapture(const std::string& node, const CapturedPacket& packet);
  std::string NameOf(const IpAddress& address) const;

  const SimNetworkOptions options_;
  WireMonitor wire_;

  mutable absl::Mutex mu_;  // Topology; never held while packets move.
  int next_index_ ABSL_GUARDED_BY(mu_) = 0;
  std::map<std::string, std::unique_ptr<Node>> nodes_ ABSL_GUARDED_BY(mu_);
  std::map<IpAddress, std::string> address_owner_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, SimPodInfo> pods_ ABSL_GUARDED_BY(mu_);  // key()
  DeliveryHandler delivery_handler_ ABSL_GUARDED_BY(mu_);
  WireFilter wire_filter_ ABSL_GUARDED_BY(mu_);

  mutable absl::Mutex capture_mu_;
  std::map<std::string, std::unique_ptr<Capture>> captures_
      ABSL_GUARDED_BY(capture_mu_);
};

}  // namespace kmesh::sim

#endif  // SIM_CLUSTER_SIM_NETWORK_H_
