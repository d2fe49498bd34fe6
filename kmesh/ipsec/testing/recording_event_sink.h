// RecordingEventSink (testonly): an IpsecEventSink that records every event
// it is told, for tests of the event sources (the key file watcher and the
// peer watcher). A watcher may deliver from its own thread while the test
// reads the record or waits for it with WaitForEvents().
#ifndef KMESH_IPSEC_TESTING_RECORDING_EVENT_SINK_H_
#define KMESH_IPSEC_TESTING_RECORDING_EVENT_SINK_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "kmesh/ipsec/ipsec_events.h"
#include "kmesh/ipsec/node_view.h"
#include "kmesh/kernel/xfrm_key.h"

namespace kmesh::ipsec {

class RecordingEventSink : public IpsecEventSink {
 public:
  struct Key {
    int32_t spi = 0;
    XfrmKey psk;
  };

  void OnKeyChanged(int32_t spi, const XfrmKey& psk) override;
  void OnKeyFileError(const absl::Status& error) override;
  void OnPeerUpsert(const NodeView& peer) override;
  void OnPeerDelete(const std::string& name) override;
  void OnPeersSynced() override;
  void OnOwnRecord(const std::optional<NodeView>& stored) override;
  void OnNodeUpsert(const NodeView& node) override;
  void OnNodeDelete(const std::string& name) override;
  void OnNodesSynced() override;

  // Every event so far, in order, one line each: "key <spi>", "key error",
  // "upsert <name> spi <spi>", "delete <name>", "synced", "own spi <spi>",
  // "own deleted", "node <name>", "node delete <name>", "nodes synced".
  std::vector<std::string> log() const;
  std::vector<Key> keys() const;
  std::vector<absl::Status> key_errors() const;
  std::vector<NodeView> upserts() const;
  std::vector<NodeView> node_upserts() const;
  int synced() const;

  // Waits until at least `n` events have arrived; false when they did not
  // within `timeout` (bounded, so that a broken watcher fails the test
  // rather than hanging it).
  bool WaitForEvents(size_t n, absl::Duration timeout = absl::Seconds(20));

 private:
  mutable absl::Mutex mu_;
  std::vector<std::string> log_ ABSL_GUARDED_BY(mu_);
  std::vector<Key> keys_ ABSL_GUARDED_BY(mu_);
  std::vector<absl::Status> key_errors_ ABSL_GUARDED_BY(mu_);
  std::vector<NodeView> upserts_ ABSL_GUARDED_BY(mu_);
  std::vector<NodeView> node_upserts_ ABSL_GUARDED_BY(mu_);
  int synced_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace kmesh::ipsec

#endif  // KMESH_IPSEC_TESTING_RECORDING_EVENT_SINK_H_
