#include "kmesh/agent/ipsec_agent.h"

#include "absl/strings/str_cat.h"
#include "glog/logging.h"
#include "kmesh/api/json_codec.h"
#include "kmesh/api/kube.pb.h"

namespace kmesh::agent {

// Pod and Namespace events, parsed and handed to the tracker under its lock.
class IpsecAgent::PodHandler : public kube::ReflectorHandler {
 public:
  explicit PodHandler(IpsecAgent* agent) : agent_(agent) {}
  void OnAdd(const std::string& object) override { Upsert(object); }
  void OnUpdate(const std::string&, const std::string& object) override {
    Upsert(object);
  }
  void OnDelete(const std::string& last_known) override {
    auto pod = api::ParseJson<api::Pod>(last_known);
    if (!pod.ok()) return;
    absl::MutexLock lock(&agent_->tracker_mu_);
    agent_->tracker_->DeletePod(pod->metadata().namespace_(),
                                pod->metadata().name());
  }

 private:
  void Upsert(const std::string& object) {
    auto pod = api::ParseJson<api::Pod>(object);
    if (!pod.ok()) {
      LOG(WARNING) << "ignoring a pod: " << pod.status();
      return;
    }
    absl::MutexLock lock(&agent_->tracker_mu_);
    agent_->tracker_->UpsertPod(*pod);
  }
  IpsecAgent* const agent_;
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
    agent->Stop(AgentStopMode::kKill);
    return s;
  }
  return agent;
}

IpsecAgent::IpsecAgent(IpsecAgentConfig config, IpsecAgentDeps deps)
    : config_(std::move(config)), deps_(std::move(deps)) {}

IpsecAgent::~IpsecAgent() { Stop(AgentStopMode::kKill); }

absl::Status IpsecAgent::Init() {
  // The node's identity; kubelet may not have reported it yet.
  absl::StatusOr<ipsec::NodeView> self;
  const auto deadline = std::chrono::steady_clock::now() + config_.node_wait;
  std::chrono::milliseconds backoff(100);
  while (true) {
    self = ipsec::LoadOwnNodeView(deps_.client, config_.node_name, 0);
    if (self.ok() || std::chrono::steady_clock::now() >= deadline) break;
    LOG(WARNING) << "waiting for node " << config_.node_name << ": "
                 << self.status();
    std::this_thread::sleep_for(backoff);
    backoff = std::min(backoff * 2, std::chrono::milliseconds(2000));
  }
  if (!self.ok()) {
    return absl::Status(self.status().code(),
                        absl::StrCat("cannot read node ", config_.node_name,
                                     ": ", self.status().message()));
  }

  self_ = *self;
  publisher_ = std::make_unique<ipsec::KubeNodeInfoPublisher>(deps_.client);
  controller_ = std::make_unique<ipsec::IpsecController>(
      *self, &deps_.node->xfrm(), publisher_.get(), &deps_.node->marker_maps(),
      deps_.clock, config_.controller);
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
        &deps_.node->encrypt_marker_attachment());
  }
  pod_handler_ = std::make_unique<PodHandler>(this);
  namespace_handler_ = std::make_unique<NamespaceHandler>(this);

  key_watcher_ = std::make_unique<ipsec::KeyFileWatcher>(config_.key_file_path,
                                                         controller_.get());
  if (absl::Status s = key_watcher_->Start(); !s.ok()) {
    LOG(WARNING) << "key file watcher: " << s << " (polling instead)";
  }
  peer_watcher_ = std::make_unique<ipsec::PeerWatcher>(
      deps_.client, config_.node_name, controller_.get(),
      ipsec::kKmeshNamespace, config_.reflector);
  pod_reflector_ =
      std::make_unique<kube::Reflector>(deps_.client, kube::PodsKind(), "",
                                        pod_handler_.get(), config_.reflector);
  namespace_reflector_ = std::make_unique<kube::Reflector>(
      deps_.client, kube::NamespacesKind(), "", namespace_handler_.get(),
      config_.reflector);

  threads_.emplace_back([this] { key_watcher_->Run(); });
  threads_.emplace_back([this] { peer_watcher_->Run(); });
  threads_.emplace_back([this] { pod_reflector_->Run(); });
  threads_.emplace_back([this] { namespace_reflector_->Run(); });
  threads_.emplace_back([this] { TickLoop(); });
  return absl::OkStatus();
}

std::vector<IpAddress> IpsecAgent::NodeAddresses() const {
  std::vector<IpAddress> out;
  if (!self_) return out;
  for (const std::string& a : self_->addresses) {
    if (auto ip = IpAddress::Parse(a); ip.ok()) out.push_back(*ip);
  }
  return out;
}

void IpsecAgent::TickLoop() {
  const auto stopping = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(tick_mu_) {
    return stopping_;
  };
  absl::MutexLock lock(&tick_mu_);
  while (!stopping_) {
    tick_mu_.Unlock();
    controller_->Tick();
    tick_mu_.Lock();
    tick_mu_.AwaitWithTimeout(absl::Condition(&stopping),
                              absl::FromChrono(config_.tick_interval));
  }
}

void IpsecAgent::Stop(AgentStopMode mode) {
  if (stopped_.exchange(true)) return;
  {
    absl::MutexLock lock(&tick_mu_);
    stopping_ = true;
  }
  if (key_watcher_) key_watcher_->Stop();
  if (peer_watcher_) peer_watcher_->Stop();
  if (pod_reflector_) pod_reflector_->Stop();
  if (namespace_reflector_) namespace_reflector_->Stop();
  for (std::thread& t : threads_) t.join();
  threads_.clear();
  if (mode == AgentStopMode::kKill || controller_ == nullptr) return;

  // Graceful: first stop marking (so removing the block policy cannot let
  // marked traffic out in clear), then remove what this node owns.
  {
    absl::MutexLock lock(&tracker_mu_);
    if (tracker_) {
      if (absl::Status s = tracker_->DetachAll(); !s.ok()) {
        LOG(ERROR) << "detach encrypt markers: " << s;
      }
    }
  }
  if (absl::Status s = controller_->Shutdown(); !s.ok()) {
    LOG(ERROR) << "IPsec shutdown: " << s;
  }
  if (absl::Status s = deps_.node->SetDecryptMarker(false, NodeAddresses());
      !s.ok()) {
    LOG(ERROR) << "detach decrypt marker: " << s;
  }
}

}  // namespace kmesh::agent
