// SimCluster: a whole simulated Kubernetes cluster in one process. It starts
// the simulated API server on 127.0.0.1 (sim/kube) and writes a kubeconfig
// for it, so the real kmeshctl and the daemon's REST client talk to it; it
// builds the nodes' network (SimNetwork) and registers each node the way
// kubelet and the node IPAM controller would (a Node with its InternalIPs,
// status.nodeInfo.bootID = a fresh random UUID, spec.podCIDRs); it creates
// namespaces (kmesh-system included) and pods (spec.nodeName,
// status.podIP/podIPs from the node's CIDRs) with labels that can change at
// run time; it projects the kmesh-ipsec Secret into every node's working
// directory like kubelet (SecretProjector, per-node delays); and it runs one
// NodeAgent per node, the slot the Kmesh daemon fills (node_agent.h). Nodes
// can join, leave, reboot and restart their daemon while traffic flows.
//
// Layout of the state directory:
//   <state_dir>/kubeconfig
//   <state_dir>/nodes/<node>/kmesh-ipsec/ipSec   (the projected secret)
//   <state_dir>/captures/<node>.log|.pcap        (see SimNetwork)
#ifndef SIM_CLUSTER_SIM_CLUSTER_H_
#define SIM_CLUSTER_SIM_CLUSTER_H_

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "kmesh/base/clock.h"
#include "kmesh/kube/kube_client.h"
#include "sim/cluster/node_agent.h"
#include "sim/cluster/secret_projector.h"
#include "sim/cluster/sim_network.h"
#include "sim/kube/api_server.h"

namespace kmesh::sim {

using Labels = std::map<std::string, std::string>;

struct SimClusterOptions {
  std::vector<std::string> nodes = {"master", "node1", "node2"};
  bool dual_stack = false;
  // Required: where the kubeconfig, node directories and captures go.
  std::string state_dir;
  bool write_pcap = false;
  size_t capture_lines_kept = 4096;
  // How long after a change of the secret each node sees it (default 0).
  std::map<std::string, Duration> key_delays;
  Duration default_key_delay{};
  // The secret volume's `optional` (see secret_projector.h).
  bool secret_optional = true;
  // The agents' --ipsec-grace-period.
  std::chrono::seconds ipsec_grace_period{300};
  // Watch events the API server keeps for watches to resume from (older:
  // 410 Gone, and the watcher lists again). A real API server keeps about
  // five minutes of etcd history; large clusters need more than the default
  // (1,000 nodes publishing their records within seconds).
  size_t api_watch_history = 1000;
  // For the projector and the agents; the real clock when null.
  const Clock* clock = nullptr;
  // Null: NoopNodeAgentFactory().
  NodeAgentFactory agent_factory;
  // Each node's CNI chain ends with kmesh-cni (kubelet_cni.h): CreatePod runs
  // its ADD before returning (a managed pod is marked from its first
  // packet; CreatePod fails, as kubelet's sandbox would, when ADD fails) and
  // DeletePod its DEL. Off: only the daemon attaches the marker.
  bool kmesh_cni = true;
};

class SimCluster {
 public:
  // Brings the cluster up: API server, kubeconfig, kmesh-system, nodes,
  // projector, agents. Fails if any agent fails to start.
  static absl::StatusOr<std::unique_ptr<SimCluster>> Start(
      SimClusterOptions options);
  ~SimCluster();  // Stop().
  SimCluster(const SimCluster&) = delete;
  SimCluster& operator=(const SimCluster&) = delete;

  // Stops the agents (gracefully), the projector and the API server.
  void Stop();

  // --- Parts ----------------------------------------------------------------
  kube::ApiServer& api_server() { return *server_; }
  // A REST client for the API server (the sim's own writes go through it).
  kmesh::kube::KubeClient& client() { return *client_; }
  const std::string& kubeconfig_path() const { return kubeconfig_path_; }
  const std::string& state_dir() const { return options_.state_dir; }
  SimNetwork& network() { return *network_; }
  SecretProjector& secret_projector() { return *projector_; }
  std::vector<std::string> node_names() const;
  std::string boot_id(const std::string& node) const;
  std::string node_dir(const std::string& node) const;
  std::string key_file_path(const std::string& node) const;
  // The node's current agent (null when the node is gone or its agent
  // failed to start). Owned by the cluster.
  NodeAgent* agent(const std::string& node) const;
  // The node's Kmesh daemon Pod in kmesh-system (label app=kmesh), which
  // exists while its agent has a status endpoint: `kmeshctl secret status`
  // reaches the daemon through the API server's proxy to it.
  static std::string DaemonPodName(const std::string& node);

  // --- Workloads
  // ----------------------------------------------------------------
  absl::Status CreateNamespace(const std::string& name, const Labels& labels);
  // Sets (value) or removes (nullopt) one label, as `kubectl label` does.
  absl::Status SetNamespaceLabel(const std::string& ns, const std::string& key,
                                 std::optional<std::string> value);
  // With kmesh_cni, runs the node's CNI chain before returning.
  absl::StatusOr<SimPodInfo> CreatePod(const std::string& ns,
                                       const std::string& name,
                                       const std::string& node,
                                       const Labels& labels);
  absl::Status SetPodLabel(const std::string& ns, const std::string& pod,
                           const std::string& key,
                           std::optional<std::string> value);
  absl::Status DeletePod(const std::string& ns, const std::string& name);

  // Writes the Secret kmesh-ipsec as kmeshctl does (Kmesh's JSON, a fresh
  // random 36-byte key) with `spi`: creates it, or replaces the existing
  // one. In-process, for tests that do not run the kmeshctl binary.
  absl::Status WriteIpsecSecret(int spi);

  // --- Node operations
  // ----------------------------------------------------------
  // A new node joins (new addresses and CIDRs, agent started).
  absl::Status AddNode(const std::string& name);
  // Agent stopped gracefully, node off the wire, its pods, Node and
  // KmeshNodeInfo deleted.
  absl::Status RemoveNode(const std::string& name);
  // Agent killed, kernel replaced by an empty one, new boot ID in the Node
  // object, secret volume re-projected (tmpfs), a new agent started.
  absl::Status RebootNode(const std::string& name);
  // The agent is stopped (`mode`), the node runs without one for `down_for`
  // (a rolling update's gap between the old pod's exit and the new pod's
  // start), and a new one is started; the kernel state stays.
  absl::Status RestartAgent(const std::string& name,
                            AgentStop mode = AgentStop::kKill,
                            Duration down_for = Duration::zero());
  // The agent is stopped and stays stopped (a daemon crash-looping, or its
  // pod evicted) until StartStoppedAgent: the node keeps its kernel state
  // and its daemon Pod, behind whose port nothing listens.
  absl::Status StopAgentOnly(const std::string& name,
                             AgentStop mode = AgentStop::kKill);
  absl::Status StartStoppedAgent(const std::string& name);

  // --- Observations
  // ------------------------------------------------------------- spec.spi of
  // every KmeshNodeInfo in kmesh-system, by name.
  absl::StatusOr<std::map<std::string, int>> AdvertisedSpis();
  // Whether every node's KmeshNodeInfo advertises `spi`.
  bool AllNodesAdvertise(int spi);
  // Whether ESP with `spi` has crossed the wire between every ordered pair
  // of nodes.
  bool EspBetweenAllNodes(uint32_t spi);
  // Every node's xfrm_stat counters, indexed by XfrmStat.
  std::map<std::string, std::vector<uint64_t>> XfrmStats() const;

 private:
  struct NodeState {
    std::string boot_id;
    std::unique_ptr<NodeAgent> agent;
  };

  explicit SimCluster(SimClusterOptions options);
  absl::Status Init();
  absl::Status RegisterNode(const std::string& name);
  absl::Status StartAgent(const std::string& name);
  absl::Status PublishDaemonPod(const std::string& node, uint16_t port);
  void StopAgent(const std::string& name, AgentStop mode);
  absl::Status WriteNodeObject(const SimNodeInfo& node,
                               const std::string& boot_id, bool create);
  Duration KeyDelay(const std::string& node) const;
  const Clock* clock() const;

  SimClusterOptions options_;
  std::string kubeconfig_path_;
  std::unique_ptr<kube::ApiServer> server_;
  std::unique_ptr<kmesh::kube::KubeClient> client_;
  std::unique_ptr<SimNetwork> network_;
  std::unique_ptr<SecretProjector> projector_;

  mutable absl::Mutex mu_;  // Agents run outside it.
  std::map<std::string, NodeState> nodes_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, Labels> pod_labels_ ABSL_GUARDED_BY(mu_);  // "ns/name"
  bool stopped_ ABSL_GUARDED_BY(mu_) = false;
};

// A random RFC 4122 version-4 UUID, 36 characters, as Linux's
// /proc/sys/kernel/random/boot_id.
std::string RandomBootId();

}  // namespace kmesh::sim

#endif  // SIM_CLUSTER_SIM_CLUSTER_H_
