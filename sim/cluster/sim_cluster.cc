#include "sim/cluster/sim_cluster.h"

#include <sys/stat.h>

#include <filesystem>
#include <random>
#include <set>
#include <system_error>
#include <thread>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "kmesh/api/ipsec_key_codec.h"
#include "kmesh/crypto/random.h"
#include "kmesh/kube/kubeconfig.h"
#include "kmesh/kube/rest_kube_client.h"
#include "nlohmann/json.hpp"
#include "sim/cluster/kubelet_cni.h"
#include "sim/kernel/xfrm/xfrm_stat.h"

namespace kmesh::sim {
namespace {

using ::kmesh::kube::KmeshNodeInfosKind;
using ::kmesh::kube::NamespacesKind;
using ::kmesh::kube::NodesKind;
using ::kmesh::kube::PodsKind;
using ::kmesh::kube::SecretsKind;
using nlohmann::json;

constexpr char kKmeshNamespace[] = "kmesh-system";

absl::Status MakeDirs(const std::string& path) {
  for (size_t pos = 1; pos != std::string::npos;) {
    pos = path.find('/', pos + 1);
    const std::string partial = path.substr(0, pos);
    if (::mkdir(partial.c_str(), 0755) != 0 && errno != EEXIST) {
      return absl::ErrnoToStatus(errno, absl::StrCat("mkdir ", partial));
    }
  }
  return absl::OkStatus();
}

json LabelsJson(const Labels& labels) {
  json out = json::object();
  for (const auto& [k, v] : labels) out[k] = v;
  return out;
}

// Read-modify-write of one object's labels, retried on a conflict.
absl::Status UpdateLabel(kmesh::kube::KubeClient& client,
                         const kmesh::kube::ResourceKind& kind,
                         const std::string& ns, const std::string& name,
                         const std::string& key,
                         const std::optional<std::string>& value) {
  for (int attempt = 0; attempt < 5; ++attempt) {
    auto text = client.Get(kind, ns, name);
    if (!text.ok()) return text.status();
    json object = json::parse(*text, nullptr, false);
    if (object.is_discarded()) {
      return absl::InternalError("API server returned invalid JSON");
    }
    json& labels = object["metadata"]["labels"];
    if (!labels.is_object()) labels = json::object();
    if (value) {
      labels[key] = *value;
    } else {
      labels.erase(key);
    }
    auto updated = client.Update(kind, ns, name, object.dump());
    if (updated.ok()) return absl::OkStatus();
    if (updated.status().code() != absl::StatusCode::kAborted) {
      return updated.status();
    }
  }
  return absl::AbortedError(
      absl::StrCat("label update of ", name, " kept conflicting"));
}

absl::Status IgnoreNotFound(absl::Status status) {
  return status.code() == absl::StatusCode::kNotFound ? absl::OkStatus()
                                                      : status;
}

}  // namespace

std::string RandomBootId() {
  std::random_device random;
  uint8_t b[16];
  for (int i = 0; i < 16; i += 4) {
    const uint32_t r = random();
    for (int j = 0; j < 4; ++j) b[i + j] = static_cast<uint8_t>(r >> (8 * j));
  }
  b[6] = (b[6] & 0x0f) | 0x40;  // Version 4.
  b[8] = (b[8] & 0x3f) | 0x80;  // RFC 4122 variant.
  return absl::StrFormat(
      "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
      b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11],
      b[12], b[13], b[14], b[15]);
}

SimCluster::SimCluster(SimClusterOptions options)
    : options_(std::move(options)) {}

SimCluster::~SimCluster() { Stop(); }

const Clock* SimCluster::clock() const {
  return options_.clock != nullptr ? options_.clock : RealClock::Get();
}

absl::StatusOr<std::unique_ptr<SimCluster>> SimCluster::Start(
    SimClusterOptions options) {
  if (options.state_dir.empty()) {
    return absl::InvalidArgumentError("SimCluster needs a state directory");
  }
  if (!options.agent_factory) options.agent_factory = NoopNodeAgentFactory();
  std::unique_ptr<SimCluster> cluster(new SimCluster(std::move(options)));
  if (absl::Status s = cluster->Init(); !s.ok()) {
    cluster->Stop();
    return s;
  }
  return cluster;
}

absl::Status SimCluster::Init() {
  if (auto s = MakeDirs(options_.state_dir + "/nodes"); !s.ok()) return s;
  kube::ApiServer::Options server_options;
  server_options.store.history_limit = options_.api_watch_history;
  // Every simulated daemon listens on 127.0.0.1 (their node addresses exist
  // only in the simulated network); the real API server refuses to proxy to
  // loopback, so this one is told to allow it (the one deliberate
  // difference, docs/decisions.md).
  server_options.pod_proxy.allow_loopback_pod_ips = true;
  auto server = kube::ApiServer::Start(server_options);
  if (!server.ok()) return server.status();
  server_ = *std::move(server);
  kubeconfig_path_ = options_.state_dir + "/kubeconfig";
  if (auto s = server_->WriteKubeconfig(kubeconfig_path_); !s.ok()) return s;

  kmesh::kube::ClusterAccessSearch search;
  search.explicit_kubeconfig = kubeconfig_path_;
  auto access = kmesh::kube::FindClusterAccess(search);
  if (!access.ok()) return access.status();
  auto client = kmesh::kube::RestKubeClient::ForCluster(*access);
  if (!client.ok()) return client.status();
  client_ = *std::move(client);

  SimNetworkOptions net;
  net.dual_stack = options_.dual_stack;
  net.capture_dir = options_.state_dir + "/captures";
  net.write_pcap = options_.write_pcap;
  net.capture_lines_kept = options_.capture_lines_kept;
  network_ = std::make_unique<SimNetwork>(net);

  if (auto s = CreateNamespace(kKmeshNamespace, {}); !s.ok()) return s;

  SecretProjector::Options projector;
  projector.optional = options_.secret_optional;
  projector.clock = clock();
  projector.reflector.initial_backoff = std::chrono::milliseconds(50);
  projector.reflector.max_backoff = std::chrono::milliseconds(1000);
  projector_ = std::make_unique<SecretProjector>(client_.get(), projector);
  if (auto s = projector_->Start(); !s.ok()) return s;

  for (const std::string& name : options_.nodes) {
    if (auto s = RegisterNode(name); !s.ok()) return s;
  }
  for (const std::string& name : options_.nodes) {
    if (auto s = StartAgent(name); !s.ok()) return s;
  }
  return absl::OkStatus();
}

void SimCluster::Stop() {
  std::vector<std::string> names;
  {
    absl::MutexLock lock(&mu_);
    if (stopped_) return;
    stopped_ = true;
    for (const auto& [name, state] : nodes_) names.push_back(name);
  }
  for (const std::string& name : names) StopAgent(name, AgentStop::kGraceful);
  if (projector_) projector_->Stop();
  if (network_) (void)network_->FlushCaptures();
  if (server_) server_->Stop();
}

Duration SimCluster::KeyDelay(const std::string& node) const {
  auto it = options_.key_delays.find(node);
  return it != options_.key_delays.end() ? it->second
                                         : options_.default_key_delay;
}

absl::Status SimCluster::WriteNodeObject(const SimNodeInfo& node,
                                         const std::string& boot_id,
                                         bool create) {
  json addresses = json::array();
  for (const IpAddress& a : node.addresses) {
    addresses.push_back({{"type", "InternalIP"}, {"address", a.ToString()}});
  }
  addresses.push_back({{"type", "Hostname"}, {"address", node.name}});
  json cidrs = json::array();
  for (const IpPrefix& c : node.pod_cidrs) cidrs.push_back(c.ToString());
  json object = {
      {"apiVersion", "v1"},
      {"kind", "Node"},
      {"metadata",
       {{"name", node.name},
        {"labels",
         {{"kubernetes.io/hostname", node.name},
          {"kubernetes.io/os", "linux"}}}}},
      {"spec", {{"podCIDR", cidrs[0]}, {"podCIDRs", cidrs}}},
      {"status",
       {{"addresses", addresses},
        {"nodeInfo",
         {{"bootID", boot_id},
          {"machineID", absl::StrFormat("%032x", node.index + 1)},
          {"kernelVersion", "6.1.0-sim"},
          {"osImage", "kmesh-sim"},
          {"kubeletVersion", "v1.29.0-sim"}}},
        {"conditions",
         json::array({{{"type", "Ready"}, {"status", "True"}}})}}},
  };
  if (create) {
    return client_->Create(NodesKind(), "", object.dump()).status();
  }
  // A kubelet restarted after a reboot reports the new boot ID.
  for (int attempt = 0; attempt < 5; ++attempt) {
    auto current = client_->Get(NodesKind(), "", node.name);
    if (!current.ok()) return current.status();
    json stored = json::parse(*current, nullptr, false);
    if (stored.is_discarded()) return absl::InternalError("invalid Node JSON");
    stored["status"] = object["status"];
    auto updated = client_->Update(NodesKind(), "", node.name, stored.dump());
    if (updated.ok() || updated.status().code() != absl::StatusCode::kAborted) {
      return updated.status();
    }
  }
  return absl::AbortedError("Node update kept conflicting");
}

absl::Status SimCluster::RegisterNode(const std::string& name) {
  auto info = network_->AddNode(name);
  if (!info.ok()) return info.status();
  const std::string boot_id = RandomBootId();
  if (auto s = WriteNodeObject(*info, boot_id, /*create=*/true); !s.ok()) {
    (void)network_->RemoveNode(name);
    return s;
  }
  // A new node starts with an empty working directory: a state directory
  // reused from an earlier run must not hand it that run's key file (same
  // SPI, another key: every packet to it would fail authentication).
  std::error_code ignored;
  std::filesystem::remove_all(node_dir(name), ignored);
  if (auto s = MakeDirs(node_dir(name)); !s.ok()) return s;
  projector_->AddNode(name, node_dir(name) + "/kmesh-ipsec", KeyDelay(name));
  absl::MutexLock lock(&mu_);
  NodeState& state = nodes_[name];
  state.boot_id = boot_id;
  return absl::OkStatus();
}

absl::Status SimCluster::StartAgent(const std::string& name) {
  NodeAgentContext context;
  context.node_name = name;
  context.kernel = network_->kernel(name);
  if (!context.kernel)
    return absl::NotFoundError(absl::StrCat("no node ", name));
  context.kubeconfig_path = kubeconfig_path_;
  context.work_dir = node_dir(name);
  context.key_file_path = key_file_path(name);
  context.clock = clock();
  context.ipsec_grace_period = options_.ipsec_grace_period;
  auto agent = options_.agent_factory(context);
  if (!agent.ok()) return agent.status();
  if (absl::Status s = (*agent)->Start(); !s.ok()) {
    return absl::Status(
        s.code(),
        absl::StrCat("agent on ", name, " failed to start: ", s.message()));
  }
  const uint16_t port = (*agent)->status_port();
  {
    absl::MutexLock lock(&mu_);
    nodes_[name].agent = *std::move(agent);
  }
  if (port != 0) return PublishDaemonPod(name, port);
  return absl::OkStatus();
}

std::string SimCluster::DaemonPodName(const std::string& node) {
  return absl::StrCat("kmesh-", node);
}

// What the DaemonSet controller and kubelet would leave: the node's Kmesh pod
// (hostNetwork, so its IP is the node's; here every daemon listens on
// 127.0.0.1) with its status port, for the API server's pod proxy.
absl::Status SimCluster::PublishDaemonPod(const std::string& node,
                                          uint16_t port) {
  json object = {
      {"apiVersion", "v1"},
      {"kind", "Pod"},
      {"metadata",
       {{"name", DaemonPodName(node)},
        {"namespace", kKmeshNamespace},
        {"labels", {{"app", "kmesh"}}}}},
      {"spec",
       {{"nodeName", node},
        {"hostNetwork", true},
        {"containers",
         json::array({{{"name", "kmesh"},
                       {"image", "kmesh-sim/kmesh-daemon"},
                       {"ports", json::array({{{"name", "status"},
                                               {"containerPort", port},
                                               {"hostPort", port},
                                               {"protocol", "TCP"}}})}}})}}},
      {"status",
       {{"phase", "Running"},
        {"hostIP", "127.0.0.1"},
        {"podIP", "127.0.0.1"},
        {"podIPs", json::array({{{"ip", "127.0.0.1"}}})}}},
  };
  absl::Status deleted = IgnoreNotFound(
      client_->Delete(PodsKind(), kKmeshNamespace, DaemonPodName(node)));
  if (!deleted.ok()) return deleted;
  return client_->Create(PodsKind(), kKmeshNamespace, object.dump()).status();
}

void SimCluster::StopAgent(const std::string& name, AgentStop mode) {
  std::unique_ptr<NodeAgent> agent;
  {
    absl::MutexLock lock(&mu_);
    auto it = nodes_.find(name);
    if (it == nodes_.end()) return;
    agent = std::move(it->second.agent);
  }
  if (agent) agent->Stop(mode);
}

std::vector<std::string> SimCluster::node_names() const {
  std::vector<std::string> names;
  for (const SimNodeInfo& n : network_->nodes()) names.push_back(n.name);
  return names;
}

std::string SimCluster::boot_id(const std::string& node) const {
  absl::MutexLock lock(&mu_);
  auto it = nodes_.find(node);
  return it == nodes_.end() ? "" : it->second.boot_id;
}

std::string SimCluster::node_dir(const std::string& node) const {
  return options_.state_dir + "/nodes/" + node;
}

std::string SimCluster::key_file_path(const std::string& node) const {
  return node_dir(node) + "/kmesh-ipsec/ipSec";
}

NodeAgent* SimCluster::agent(const std::string& node) const {
  absl::MutexLock lock(&mu_);
  auto it = nodes_.find(node);
  return it == nodes_.end() ? nullptr : it->second.agent.get();
}

absl::Status SimCluster::CreateNamespace(const std::string& name,
                                         const Labels& labels) {
  json object = {
      {"apiVersion", "v1"},
      {"kind", "Namespace"},
      {"metadata", {{"name", name}, {"labels", LabelsJson(labels)}}}};
  auto created = client_->Create(NamespacesKind(), "", object.dump());
  if (created.status().code() == absl::StatusCode::kAlreadyExists) {
    for (const auto& [k, v] : labels) {
      if (auto s = SetNamespaceLabel(name, k, v); !s.ok()) return s;
    }
    return absl::OkStatus();
  }
  return created.status();
}

absl::Status SimCluster::SetNamespaceLabel(const std::string& ns,
                                           const std::string& key,
                                           std::optional<std::string> value) {
  return UpdateLabel(*client_, NamespacesKind(), "", ns, key, value);
}

absl::StatusOr<SimPodInfo> SimCluster::CreatePod(const std::string& ns,
                                                 const std::string& name,
                                                 const std::string& node,
                                                 const Labels& labels) {
  auto pod = network_->AddPod(ns, name, node);
  if (!pod.ok()) return pod.status();
  const SimNodeInfo info = *network_->node(node);
  json ips = json::array();
  for (const IpAddress& ip : pod->ips) ips.push_back({{"ip", ip.ToString()}});
  json object = {
      {"apiVersion", "v1"},
      {"kind", "Pod"},
      {"metadata",
       {{"name", name}, {"namespace", ns}, {"labels", LabelsJson(labels)}}},
      {"spec",
       {{"nodeName", node},
        {"containers",
         json::array({{{"name", "app"}, {"image", "kmesh-sim/echo"}}})}}},
      {"status",
       {{"phase", "Running"},
        {"hostIP", info.addresses[0].ToString()},
        {"podIP", pod->ips[0].ToString()},
        {"podIPs", ips}}},
  };
  auto created = client_->Create(PodsKind(), ns, object.dump());
  if (!created.ok()) {
    (void)network_->RemovePod(ns, name);
    return created.status();
  }
  if (options_.kmesh_cni) {
    // kubelet: the sandbox's CNI chain runs before any container starts.
    const cni::CniOutcome add = RunKmeshCni(
        "ADD", *pod, network_->kernel(node).get(), kubeconfig_path_);
    if (add.exit_code != 0) {
      (void)client_->Delete(PodsKind(), ns, name);
      (void)network_->RemovePod(ns, name);
      return absl::FailedPreconditionError(absl::StrCat(
          "kmesh-cni ADD for ", ns, "/", name, ": ", add.stdout_text));
    }
  }
  return pod;
}

absl::Status SimCluster::SetPodLabel(const std::string& ns,
                                     const std::string& pod,
                                     const std::string& key,
                                     std::optional<std::string> value) {
  return UpdateLabel(*client_, PodsKind(), ns, pod, key, value);
}

absl::Status SimCluster::DeletePod(const std::string& ns,
                                   const std::string& name) {
  if (auto pod = network_->pod(ns, name); pod && options_.kmesh_cni) {
    if (std::shared_ptr<SimKernel> kernel = network_->kernel(pod->node)) {
      const cni::CniOutcome del =
          RunKmeshCni("DEL", *pod, kernel.get(), kubeconfig_path_);
      if (del.exit_code != 0) {
        return absl::InternalError(absl::StrCat("kmesh-cni DEL for ", ns, "/",
                                                name, ": ", del.stdout_text));
      }
    }
  }
  absl::Status api = client_->Delete(PodsKind(), ns, name);
  absl::Status net = network_->RemovePod(ns, name);
  if (!api.ok()) return api;
  return net;
}

absl::Status SimCluster::AddNode(const std::string& name) {
  if (auto s = RegisterNode(name); !s.ok()) return s;
  return StartAgent(name);
}

absl::Status SimCluster::RemoveNode(const std::string& name) {
  if (!network_->node(name)) {
    return absl::NotFoundError(absl::StrCat("no node ", name));
  }
  StopAgent(name, AgentStop::kGraceful);
  projector_->RemoveNode(name);
  const std::vector<SimPodInfo> pods = network_->pods();
  absl::Status status = network_->RemoveNode(name);
  for (const SimPodInfo& pod : pods) {
    if (pod.node != name) continue;
    status.Update(
        IgnoreNotFound(client_->Delete(PodsKind(), pod.ns, pod.name)));
  }
  status.Update(IgnoreNotFound(
      client_->Delete(PodsKind(), kKmeshNamespace, DaemonPodName(name))));
  status.Update(IgnoreNotFound(client_->Delete(NodesKind(), "", name)));
  status.Update(IgnoreNotFound(
      client_->Delete(KmeshNodeInfosKind(), kKmeshNamespace, name)));
  absl::MutexLock lock(&mu_);
  nodes_.erase(name);
  return status;
}

absl::Status SimCluster::RebootNode(const std::string& name) {
  auto info = network_->node(name);
  if (!info) return absl::NotFoundError(absl::StrCat("no node ", name));
  // Power off: the daemon dies with its node; the kernel's state is gone.
  StopAgent(name, AgentStop::kKill);
  if (auto s = network_->RebootNode(name); !s.ok()) return s;
  const std::string boot_id = RandomBootId();
  {
    absl::MutexLock lock(&mu_);
    nodes_[name].boot_id = boot_id;
  }
  if (auto s = WriteNodeObject(*info, boot_id, /*create=*/false); !s.ok()) {
    return s;
  }
  // Secret volumes live in tmpfs: gone with the reboot, projected again when
  // the daemon pod starts.
  if (auto s = projector_->Reboot(name); !s.ok()) return s;
  projector_->ProcessDue();
  return StartAgent(name);
}

absl::Status SimCluster::RestartAgent(const std::string& name, AgentStop mode,
                                      Duration down_for) {
  if (!network_->node(name)) {
    return absl::NotFoundError(absl::StrCat("no node ", name));
  }
  StopAgent(name, mode);
  if (down_for > Duration::zero()) std::this_thread::sleep_for(down_for);
  return StartAgent(name);
}

absl::Status SimCluster::StopAgentOnly(const std::string& name,
                                       AgentStop mode) {
  if (!network_->node(name)) {
    return absl::NotFoundError(absl::StrCat("no node ", name));
  }
  StopAgent(name, mode);
  return absl::OkStatus();
}

absl::Status SimCluster::StartStoppedAgent(const std::string& name) {
  if (!network_->node(name)) {
    return absl::NotFoundError(absl::StrCat("no node ", name));
  }
  if (agent(name) != nullptr) {
    return absl::FailedPreconditionError(
        absl::StrCat("the agent of ", name, " runs already"));
  }
  return StartAgent(name);
}

absl::Status SimCluster::WriteIpsecSecret(int spi) {
  auto config = api::MakeIpsecKeyConfig(spi, crypto::RandomSecretBytes(36));
  if (!config.ok()) return config.status();
  auto key = api::SerializeIpsecKeyJson(*config);
  if (!key.ok()) return key.status();
  json secret = {
      {"apiVersion", "v1"},
      {"kind", "Secret"},
      {"metadata", {{"name", "kmesh-ipsec"}, {"namespace", kKmeshNamespace}}},
      {"type", "Opaque"},
      {"stringData", {{"ipSec", *key}}}};
  auto existing = client_->Get(SecretsKind(), kKmeshNamespace, "kmesh-ipsec");
  if (!existing.ok()) {
    if (!absl::IsNotFound(existing.status())) return existing.status();
    return client_->Create(SecretsKind(), kKmeshNamespace, secret.dump())
        .status();
  }
  const json old = json::parse(*existing, nullptr, false);
  if (old.is_discarded() || !old.contains("metadata")) {
    return absl::InternalError("the stored Secret kmesh-ipsec is not JSON");
  }
  secret["metadata"]["resourceVersion"] =
      old["metadata"].value("resourceVersion", "");
  return client_
      ->Update(SecretsKind(), kKmeshNamespace, "kmesh-ipsec", secret.dump())
      .status();
}

std::map<std::string, std::vector<uint64_t>> SimCluster::XfrmStats() const {
  std::map<std::string, std::vector<uint64_t>> out;
  for (const SimNodeInfo& node : network_->nodes()) {
    std::shared_ptr<SimKernel> kernel = network_->kernel(node.name);
    if (!kernel) continue;
    std::vector<uint64_t>& stats = out[node.name];
    for (size_t i = 0; i < kXfrmStatCount; ++i) {
      stats.push_back(kernel->xfrm().Stat(static_cast<XfrmStat>(i)));
    }
  }
  return out;
}

absl::StatusOr<std::map<std::string, int>> SimCluster::AdvertisedSpis() {
  auto list = client_->List(KmeshNodeInfosKind(), kKmeshNamespace, {});
  if (!list.ok()) return list.status();
  std::map<std::string, int> spis;
  for (const std::string& item : list->items) {
    json object = json::parse(item, nullptr, false);
    if (object.is_discarded()) continue;
    const std::string name = object["metadata"].value("name", "");
    const json& spec = object["spec"];
    spis[name] = spec.is_object() && spec.contains("spi") &&
                         spec["spi"].is_number_integer()
                     ? spec["spi"].get<int>()
                     : 0;
  }
  return spis;
}

}  // namespace kmesh::sim

namespace kmesh::sim {

bool SimCluster::AllNodesAdvertise(int spi) {
  auto spis = AdvertisedSpis();
  if (!spis.ok()) return false;
  for (const std::string& node : node_names()) {
    auto it = spis->find(node);
    if (it == spis->end() || it->second != spi) return false;
  }
  return true;
}

bool SimCluster::EspBetweenAllNodes(uint32_t spi) {
  std::set<std::pair<std::string, std::string>> seen;
  for (const auto& [key, counts] : network().wire().Snapshot()) {
    if (key.esp && key.spi == spi) seen.insert({key.from_node, key.to_node});
  }
  const size_t n = node_names().size();
  return seen.size() >= n * (n - 1);
}

}  // namespace kmesh::sim
