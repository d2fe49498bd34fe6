#include "sim/cluster/secret_projector.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "kmesh/api/json_codec.h"
#include "kmesh/api/kube.pb.h"

namespace kmesh::sim {

// Feeds the reflector's events for the one secret to the projector.
class SecretProjector::Handler : public kube::ReflectorHandler {
 public:
  Handler(SecretProjector* projector, std::string name)
      : projector_(projector), name_(std::move(name)) {}
  void OnAdd(const std::string& object) override {
    if (IsOurs(object)) projector_->OnSecret(object);
  }
  void OnUpdate(const std::string&, const std::string& object) override {
    if (IsOurs(object)) projector_->OnSecret(object);
  }
  void OnDelete(const std::string& last_known) override {
    if (IsOurs(last_known)) projector_->OnSecretDeleted();
  }

 private:
  bool IsOurs(const std::string& object) const {
    auto secret = api::ParseJson<api::Secret>(object);
    bool ours = secret.ok() && secret->metadata().name() == name_;
    if (secret.ok()) {
      for (auto& [key, value] : *secret->mutable_data()) {
        crypto::SecretBytes::TakeAndWipe(&value);
      }
    }
    return ours;
  }
  SecretProjector* const projector_;
  const std::string name_;
};

SecretProjector::SecretProjector(kube::KubeClient* client, Options options)
    : client_(client), options_(std::move(options)) {}

SecretProjector::~SecretProjector() { Stop(); }

void SecretProjector::AddNode(const std::string& node, const std::string& dir,
                              Duration delay) {
  absl::MutexLock lock(&mu_);
  Node& n = nodes_[node];
  ProjectedVolumeWriter::Options writer_options;
  writer_options.wall_clock = options_.wall_clock;
  writer_options.file_mode = options_.default_mode;
  n.writer = std::make_unique<ProjectedVolumeWriter>(dir, writer_options);
  n.delay = delay;
  n.due.reset();
  if (current_) n.due = options_.clock->Now() + delay;
}

void SecretProjector::RemoveNode(const std::string& node) {
  absl::MutexLock lock(&mu_);
  nodes_.erase(node);
}

void SecretProjector::SetDelay(const std::string& node, Duration delay) {
  absl::MutexLock lock(&mu_);
  auto it = nodes_.find(node);
  if (it != nodes_.end()) it->second.delay = delay;
}

void SecretProjector::ResyncNow(const std::string& node) {
  absl::MutexLock lock(&mu_);
  auto it = nodes_.find(node);
  if (it != nodes_.end() && current_) it->second.due = options_.clock->Now();
}

absl::Status SecretProjector::Reboot(const std::string& node) {
  absl::MutexLock lock(&mu_);
  auto it = nodes_.find(node);
  if (it == nodes_.end()) {
    return absl::NotFoundError(absl::StrCat("no volume for node ", node));
  }
  it->second.projected_version.clear();
  it->second.due.reset();
  if (current_) it->second.due = options_.clock->Now();
  return it->second.writer->Clear();
}

void SecretProjector::ScheduleAllLocked() {
  const TimePoint now = options_.clock->Now();
  for (auto& [name, node] : nodes_) {
    // An already scheduled sync keeps its time and picks up the newest
    // content.
    if (!node.due) node.due = now + node.delay;
  }
}

void SecretProjector::OnSecret(const std::string& json) {
  auto secret = api::ParseJson<api::Secret>(json);
  absl::MutexLock lock(&mu_);
  if (!secret.ok()) {
    last_error_ = absl::InvalidArgumentError(
        absl::StrCat("secret ", options_.ns, "/", options_.name,
                     " is not a Secret: ", secret.status().message()));
    return;
  }
  auto payload = std::make_shared<VolumePayload>();
  for (auto& [key, value] : *secret->mutable_data()) {
    payload->emplace(key, crypto::SecretBytes::TakeAndWipe(&value));
  }
  current_ = Content{secret->metadata().resource_version(), std::move(payload)};
  ScheduleAllLocked();
}

void SecretProjector::OnSecretDeleted() {
  absl::MutexLock lock(&mu_);
  if (options_.optional) {
    current_ = Content{"deleted", std::make_shared<VolumePayload>()};
  } else {
    // kubelet: "secret not found" fails the volume update; the volume keeps
    // what it had.
    current_ = Content{"deleted", nullptr};
  }
  ScheduleAllLocked();
}

int SecretProjector::ProcessDue() {
  absl::MutexLock lock(&mu_);
  if (!current_) return 0;
  const TimePoint now = options_.clock->Now();
  int written = 0;
  for (auto& [name, node] : nodes_) {
    if (!node.due || *node.due > now) continue;
    node.due.reset();
    if (!current_->payload) continue;  // Deleted, not optional: keep.
    auto changed = node.writer->Write(*current_->payload);
    if (!changed.ok()) {
      last_error_ = changed.status();
      node.due = now;  // Retry next time.
      continue;
    }
    node.projected_version = current_->resource_version;
    if (*changed) ++written;
  }
  return written;
}

std::optional<TimePoint> SecretProjector::NextDue() const {
  absl::MutexLock lock(&mu_);
  std::optional<TimePoint> next;
  for (const auto& [name, node] : nodes_) {
    if (node.due && (!next || *node.due < *next)) next = node.due;
  }
  return next;
}

absl::Status SecretProjector::Start() {
  if (client_ == nullptr) {
    return absl::FailedPreconditionError("secret projector has no client");
  }
  if (reflector_) return absl::FailedPreconditionError("already started");
  {
    absl::MutexLock lock(&run_mu_);
    stopping_ = false;
  }
  handler_ = std::make_unique<Handler>(this, options_.name);
  reflector_ = std::make_unique<kube::Reflector>(client_, kube::SecretsKind(),
                                                 options_.ns, handler_.get(),
                                                 options_.reflector);
  reflector_thread_ = std::thread([this] { reflector_->Run(); });
  writer_thread_ = std::thread([this] {
    const auto stopping = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(run_mu_) {
      return stopping_;
    };
    absl::MutexLock lock(&run_mu_);
    while (!stopping_) {
      run_mu_.Unlock();
      ProcessDue();
      run_mu_.Lock();
      run_mu_.AwaitWithTimeout(absl::Condition(&stopping),
                               absl::FromChrono(options_.poll_interval));
    }
  });
  return absl::OkStatus();
}

void SecretProjector::Stop() {
  {
    absl::MutexLock lock(&run_mu_);
    stopping_ = true;
  }
  if (reflector_) reflector_->Stop();
  if (reflector_thread_.joinable()) reflector_thread_.join();
  if (writer_thread_.joinable()) writer_thread_.join();
  reflector_.reset();
  handler_.reset();
}

bool SecretProjector::HasSynced() const {
  return reflector_ != nullptr && reflector_->HasSynced();
}

std::map<std::string, std::string> SecretProjector::ProjectedVersions() const {
  absl::MutexLock lock(&mu_);
  std::map<std::string, std::string> out;
  for (const auto& [name, node] : nodes_) out[name] = node.projected_version;
  return out;
}

absl::Status SecretProjector::last_error() const {
  absl::MutexLock lock(&mu_);
  return last_error_;
}

}  // namespace kmesh::sim
