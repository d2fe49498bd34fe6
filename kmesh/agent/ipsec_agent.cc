#include "kmesh/agent/ipsec_agent.h"

#include "absl/strings/str_cat.h"
#include "glog/logging.h"
#include "kmesh/api/json_codec.h"
#include "kmesh/api/kube.pb.h"
#include "kmesh/base/backoff.h"
#include "kmesh/workload/pod_record.h"
#include "nlohmann/json.hpp"

namespace kmesh::agent {

namespace {

using Json = nlohmann::json;
using workload::CompactPod;

}  // namespace

// Pod events of one of the two pod watches, handed under the tracker's lock
// to the merger (workload/pod_record.h: the local view wins).
class IpsecAgent::PodHandler : public kube::ReflectorHandler {
 public:
  PodHandler(IpsecAgent* agent, bool local) : agent_(agent), local_(local) {}
  void OnAddObject(const Json& object, const std::string&) override {
    Upsert(object);
  }
  void OnUpdateObject(const std::string&, const Json& object,
                      const std::string&) override {
    Upsert(object);
  }
  void OnDeleteObject(const Json& last_known, const std::string&) override {
    absl::MutexLock lock(&agent_->tracker_mu_);
    if (local_) {
      agent_->pod_merger_->LocalDelete(last_known);
    } else {
      agent_->pod_merger_->OtherDelete(last_known);
    }
  }

 private:
  void Upsert(const Json& object) {
    absl::MutexLock lock(&agent_->tracker_mu_);
    if (local_) {
      agent_->pod_merger_->LocalUpsert(object);
    } else {
      agent_->pod_merger_->OtherUpsert(object);
    }
  }
  IpsecAgent* const agent_;
  const bool local_;
};

class IpsecAgent::NamespaceHandler : public kube::ReflectorHandler {
 public:
  explicit NamespaceHandler(IpsecAgent* agent) : agent_(agent) {}
  void OnAdd(const std::string& object) override { Upsert(object); }
  void OnUpdate(const std::string&, const std::string& object) override {
    Upsert(object);
  }
  void OnDelete(const std::string& last_known) override {
    auto ns = api::ParseJson<api::Namespace>(last_known);
    if (!ns.ok()) return;
    absl::MutexLock lock(&agent_->tracker_mu_);
    agent_->tracker_->DeleteNamespace(ns->metadata().name());
  }

 private:
  void Upsert(const std::string& object) {
    auto ns = api::ParseJson<api::Namespace>(object);
    if (!ns.ok()) {
      LOG(WARNING) << "ignoring a namespace: " << ns.status();
      return;
    }
    absl::MutexLock lock(&agent_->tracker_mu_);
    agent_->tracker_->UpsertNamespace(*ns);
  }
  IpsecAgent* const agent_;
};

absl::StatusOr<std::unique_ptr<IpsecAgent>> IpsecAgent::Start(
    IpsecAgentConfig config, IpsecAgentDeps deps) {
  if (deps.client == nullptr || deps.node == nullptr || deps.clock == nullptr) {
    return absl::InvalidArgumentError(
        "IpsecAgent needs a Kubernetes client, the node's kernel backends and "
        "a clock");
  }
  if (config.node_name.empty()) {
    return absl::InvalidArgumentError(
        "no node name: set NODE_NAME or --node-name");
  }
  std::unique_ptr<IpsecAgent> agent(
      new IpsecAgent(std::move(config), std::move(deps)));
  if (absl::Status s = agent->Init(); !s.ok()) {
    agent->Stop();
    return s;
  }
  return agent;
}

IpsecAgent::IpsecAgent(IpsecAgentConfig config, IpsecAgentDeps deps)
    : config_(std::move(config)), deps_(std::move(deps)) {}

IpsecAgent::~IpsecAgent() { Stop(); }

absl::Status IpsecAgent::Init() {
  // The node's identity; kubelet may not have reported it yet.
  absl::StatusOr<ipsec::NodeView> self;
  const auto deadline = std::chrono::steady_clock::now() + config_.node_wait;
  Backoff backoff({std::chrono::milliseconds(100),
                   std::chrono::milliseconds(2000), 2.0, 1.0});
  while (true) {
    self = ipsec::LoadOwnNodeView(deps_.client, config_.node_name, 0);
    if (self.ok() || std::chrono::steady_clock::now() >= deadline) break;
    LOG(WARNING) << "waiting for node " << config_.node_name << ": "
                 << self.status();
    std::this_thread::sleep_for(backoff.Next());
  }
  if (!self.ok()) {
    return absl::Status(self.status().code(),
                        absl::StrCat("cannot read node ", config_.node_name,
                                     ": ", self.status().message()));
  }

  self_ = *self;
  started_at_ = deps_.clock->Now();
  if (absl::StatusOr<XfrmStats> stats = deps_.node->xfrm().ReadStats();
      stats.ok()) {
    absl::MutexLock lock(&baseline_mu_);
    stats_at_start_ = *std::move(stats);
  } else {
    LOG(WARNING) << "xfrm_stat unreadable (its counters will be missing from "
                    "the status and metrics): "
                 << stats.status();
  }
  next_self_refresh_ = deps_.clock->Now() + config_.self_refresh_interval;
  publisher_ = std::make_unique<ipsec::KubeNodeInfoPublisher>(deps_.client);
  ipsec::IpsecControllerOptions controller_options = config_.controller;
  controller_options.learn_nodes = true;  // The Node watcher below.
  controller_ = std::make_unique<ipsec::IpsecController>(
      *self, &deps_.node->xfrm(), publisher_.get(), &deps_.node->marker_maps(),
      deps_.clock, controller_options);
  // A failure here (the kernel cannot be dumped) is retried by Tick().
  if (absl::Status s = controller_->Start(); !s.ok()) {
    LOG(ERROR) << "IPsec controller start: " << s << " (retrying)";
  }
  if (absl::Status s = deps_.node->SetDecryptMarker(true, NodeAddresses());
      !s.ok()) {
    return absl::Status(s.code(),
                        absl::StrCat("attach decrypt marker: ", s.message()));
  }
  {
    absl::MutexLock lock(&tracker_mu_);
    tracker_ = std::make_unique<workload::ManagedPodTracker>(
        config_.node_name, &deps_.node->marker_maps(),
        &deps_.node->encrypt_marker_attachment(), deps_.clock);
    // The local pod watch's deletion falls back to the other nodes' watch's
    // record (called under tracker_mu_; the reflector takes only its own
    // lock and never calls handlers with it held).
    pod_merger_ = std::make_unique<workload::PodWatchMerger>(
        tracker_.get(),
        [this](const std::string& key) -> std::optional<nlohmann::json> {
          std::optional<std::string> text = remote_pod_reflector_->Get(key);
          if (!text.has_value()) return std::nullopt;
          return nlohmann::json::parse(*text, nullptr, false);
        });
  }
  local_pod_handler_ = std::make_unique<PodHandler>(this, /*local=*/true);
  remote_pod_handler_ = std::make_unique<PodHandler>(this, /*local=*/false);
  namespace_handler_ = std::make_unique<NamespaceHandler>(this);

  key_watcher_ = std::make_unique<ipsec::KeyFileWatcher>(config_.key_file_path,
                                                         controller_.get());
  if (absl::Status s = key_watcher_->Start(); !s.ok()) {
    LOG(WARNING) << "key file watcher: " << s << " (polling instead)";
  }
  peer_watcher_ = std::make_unique<ipsec::PeerWatcher>(
      deps_.client, config_.node_name, controller_.get(),
      ipsec::kKmeshNamespace, config_.reflector);
  node_watcher_ = std::make_unique<ipsec::NodeWatcher>(
      deps_.client, config_.node_name, controller_.get(), config_.reflector);
  // Each daemon asks only for what it needs: its own node's pods, and the
  // others' reduced to what decides managed-ness and their IPs.
  kube::ReflectorOptions pod_options = config_.reflector;
  pod_options.transform = CompactPod;
  pod_options.field_selector =
      absl::StrCat("spec.nodeName=", config_.node_name);
  local_pod_reflector_ =
      std::make_unique<kube::Reflector>(deps_.client, kube::PodsKind(), "",
                                        local_pod_handler_.get(), pod_options);
  pod_options.field_selector =
      absl::StrCat("spec.nodeName!=", config_.node_name);
  remote_pod_reflector_ =
      std::make_unique<kube::Reflector>(deps_.client, kube::PodsKind(), "",
                                        remote_pod_handler_.get(), pod_options);
  namespace_reflector_ = std::make_unique<kube::Reflector>(
      deps_.client, kube::NamespacesKind(), "", namespace_handler_.get(),
      config_.reflector);

  threads_.emplace_back([this] { key_watcher_->Run(); });
  threads_.emplace_back([this] { peer_watcher_->Run(); });
  threads_.emplace_back([this] { node_watcher_->Run(); });
  threads_.emplace_back([this] { local_pod_reflector_->Run(); });
  threads_.emplace_back([this] { remote_pod_reflector_->Run(); });
  threads_.emplace_back([this] { namespace_reflector_->Run(); });
  threads_.emplace_back([this] { TickLoop(); });
  return absl::OkStatus();
}

NodeStatus IpsecAgent::Status() {
  NodeStatus status;
  status.node = config_.node_name;
  status.now = deps_.clock->Now();
  status.daemon_started = started_at_;
  status.grace_period = config_.controller.grace_period;
  status.controller = controller_->Snapshot();
  XfrmStats baseline;
  {
    absl::MutexLock lock(&baseline_mu_);
    if (!stats_at_start_.has_value()) {
      absl::StatusOr<XfrmStats> first = deps_.node->xfrm().ReadStats();
      if (first.ok()) stats_at_start_ = *std::move(first);
    }
    // Still unreadable: ReadKernelStatus reports the error and no counter.
    if (stats_at_start_.has_value()) baseline = *stats_at_start_;
  }
  ReadKernelStatus(deps_.node->xfrm(), baseline, &status);
  {
    absl::MutexLock lock(&tracker_mu_);
    status.managed_local_pods = tracker_->attached_pods().size();
    status.unmanaged_pods = tracker_->unmanaged_pods().size();
    status.marker_errors = tracker_->errors();
    status.marker_pending_retries = tracker_->pending_retries();
  }
  auto watch = [&](const char* resource, const kube::Reflector& r) {
    status.watches.push_back({resource, r.ListCount(), r.WatchCount()});
  };
  watch("kmeshnodeinfos", peer_watcher_->reflector());
  watch("nodes", node_watcher_->reflector());
  watch("pods", *local_pod_reflector_);
  watch("pods-other-nodes", *remote_pod_reflector_);
  watch("namespaces", *namespace_reflector_);
  return status;
}

std::vector<IpAddress> IpsecAgent::NodeAddresses() const {
  std::vector<IpAddress> out;
  if (!self_) return out;
  for (const std::string& a : self_->addresses) {
    if (auto ip = IpAddress::Parse(a); ip.ok()) out.push_back(*ip);
  }
  return out;
}

void IpsecAgent::RefreshSelf() {
  const TimePoint now = deps_.clock->Now();
  if (now < next_self_refresh_) return;
  next_self_refresh_ = now + config_.self_refresh_interval;
  absl::StatusOr<ipsec::NodeView> read =
      ipsec::LoadOwnNodeView(deps_.client, config_.node_name, 0);
  if (!read.ok()) {
    // A Node briefly unreadable (API server restart) changes nothing.
    LOG(WARNING) << "re-reading node " << config_.node_name << ": "
                 << read.status();
    return;
  }
  ipsec::NodeView current = *self_;
  current.spi = 0;
  if (*read == current) return;
  LOG(INFO) << "node " << config_.node_name
            << " changed its addresses, boot ID or pod CIDRs: re-deriving keys "
               "and re-publishing";
  const std::vector<IpAddress> old_addresses = NodeAddresses();
  self_ = *read;
  controller_->UpdateSelf(*read);
  if (NodeAddresses() != old_addresses) {
    // The marker goes where the new addresses are (it stays on interfaces
    // that keep one of them).
    if (absl::Status s = deps_.node->SetDecryptMarker(true, NodeAddresses());
        !s.ok()) {
      LOG(ERROR) << "attach decrypt marker for the new addresses: " << s;
    }
  }
}

void IpsecAgent::RetryFailedMarkerOperations() {
  // A failed attach or map insert must not wait for an unrelated event: in
  // a quiet cluster there may be none, and the pod would stay in clear.
  absl::MutexLock lock(&tracker_mu_);
  tracker_->RetryFailed();
}

void IpsecAgent::TickLoop() {
  const auto stopping = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(tick_mu_) {
    return stopping_;
  };
  absl::MutexLock lock(&tick_mu_);
  while (!stopping_) {
    tick_mu_.Unlock();
    controller_->Tick();
    RefreshSelf();
    RetryFailedMarkerOperations();
    tick_mu_.Lock();
    tick_mu_.AwaitWithTimeout(absl::Condition(&stopping),
                              absl::FromChrono(config_.tick_interval));
  }
}

void IpsecAgent::Stop() {
  if (stopped_.exchange(true)) return;
  {
    absl::MutexLock lock(&tick_mu_);
    stopping_ = true;
  }
  if (key_watcher_) key_watcher_->Stop();
  if (peer_watcher_) peer_watcher_->Stop();
  if (node_watcher_) node_watcher_->Stop();
  if (local_pod_reflector_) local_pod_reflector_->Stop();
  if (remote_pod_reflector_) remote_pod_reflector_->Stop();
  if (namespace_reflector_) namespace_reflector_->Stop();
  for (std::thread& t : threads_) t.join();
  threads_.clear();
  // Nothing else: the datapath and the KmeshNodeInfo outlive the process
  // (see the header).
}

}  // namespace kmesh::agent
