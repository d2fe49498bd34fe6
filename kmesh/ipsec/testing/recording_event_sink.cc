#include "kmesh/ipsec/testing/recording_event_sink.h"

#include "absl/strings/str_cat.h"

namespace kmesh::ipsec {

void RecordingEventSink::OnKeyChanged(int32_t spi, const XfrmKey& psk) {
  absl::MutexLock lock(&mu_);
  keys_.push_back({spi, psk});
  log_.push_back(absl::StrCat("key ", spi));
}

void RecordingEventSink::OnKeyFileError(const absl::Status& error) {
  absl::MutexLock lock(&mu_);
  key_errors_.push_back(error);
  log_.push_back("key error");
}

void RecordingEventSink::OnPeerUpsert(const NodeView& peer) {
  absl::MutexLock lock(&mu_);
  upserts_.push_back(peer);
  log_.push_back(absl::StrCat("upsert ", peer.name, " spi ", peer.spi));
}

void RecordingEventSink::OnPeerDelete(const std::string& name) {
  absl::MutexLock lock(&mu_);
  log_.push_back(absl::StrCat("delete ", name));
}

void RecordingEventSink::OnOwnRecord(const std::optional<NodeView>& stored) {
  absl::MutexLock lock(&mu_);
  log_.push_back(stored.has_value() ? absl::StrCat("own spi ", stored->spi)
                                    : std::string("own deleted"));
}

void RecordingEventSink::OnPeersSynced() {
  absl::MutexLock lock(&mu_);
  ++synced_;
  log_.push_back("synced");
}

void RecordingEventSink::OnNodeUpsert(const NodeView& node) {
  absl::MutexLock lock(&mu_);
  node_upserts_.push_back(node);
  log_.push_back(absl::StrCat("node ", node.name));
}

void RecordingEventSink::OnNodeDelete(const std::string& name) {
  absl::MutexLock lock(&mu_);
  log_.push_back(absl::StrCat("node delete ", name));
}

void RecordingEventSink::OnNodesSynced() {
  absl::MutexLock lock(&mu_);
  log_.push_back("nodes synced");
}

std::vector<NodeView> RecordingEventSink::node_upserts() const {
  absl::MutexLock lock(&mu_);
  return node_upserts_;
}

std::vector<std::string> RecordingEventSink::log() const {
  absl::MutexLock lock(&mu_);
  return log_;
}

std::vector<RecordingEventSink::Key> RecordingEventSink::keys() const {
  absl::MutexLock lock(&mu_);
  return keys_;
}

std::vector<absl::Status> RecordingEventSink::key_errors() const {
  absl::MutexLock lock(&mu_);
  return key_errors_;
}

std::vector<NodeView> RecordingEventSink::upserts() const {
  absl::MutexLock lock(&mu_);
  return upserts_;
}

int RecordingEventSink::synced() const {
  absl::MutexLock lock(&mu_);
  return synced_;
}

bool RecordingEventSink::WaitForEvents(size_t n, absl::Duration timeout) {
  absl::MutexLock lock(&mu_);
  auto arrived = [this, n]() ABSL_SHARED_LOCKS_REQUIRED(mu_) {
    return log_.size() >= n;
  };
  return mu_.AwaitWithTimeout(absl::Condition(&arrived), timeout);
}

}  // namespace kmesh::ipsec
