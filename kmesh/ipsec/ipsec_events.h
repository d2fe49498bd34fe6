// IpsecEventSink: the entry points through which the inputs of the IPsec
// daemon (the key file watcher, the KmeshNodeInfo peer watcher and the Node
// watcher) tell the controller what changed. The watchers know nothing about
// XFRM; the controller (IpsecController) knows nothing about files or the
// Kubernetes API. Implementations are thread-safe: each method may be called
// from any thread, and calls are processed in the order they are made.
#ifndef KMESH_IPSEC_IPSEC_EVENTS_H_
#define KMESH_IPSEC_IPSEC_EVENTS_H_

#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "kmesh/ipsec/node_view.h"
#include "kmesh/kernel/xfrm_key.h"

namespace kmesh::ipsec {

class IpsecEventSink {
 public:
  virtual ~IpsecEventSink() = default;

  // The key file holds a valid key: `psk` (36 bytes) under `spi` (> 0).
  // Called when the file first appears and whenever its content changes; the
  // same (spi, psk) again is harmless. A different psk under an SPI already
  // seen means the operator deleted and re-created the secret.
  virtual void OnKeyChanged(int32_t spi, const XfrmKey& psk) = 0;

  // The key file exists but could not be read or parsed. The last good key
  // stays in use; the sink logs and counts the error. `error` never holds key
  // bytes.
  virtual void OnKeyFileError(const absl::Status& error) = 0;

  // A peer's KmeshNodeInfo was added or changed (already validated into a
  // NodeView). The watcher filters out this node's own record.
  virtual void OnPeerUpsert(const NodeView& peer) = 0;

  // A peer's KmeshNodeInfo was deleted.
  virtual void OnPeerDelete(const std::string& name) = 0;

  // The watcher has delivered every peer that existed when its initial list
  // (or a re-list after a broken watch) completed. Until the first call, the
  // controller does not delete objects it adopted from a previous run for
  // peers it has not yet heard of, so a restart keeps traffic flowing. The
  // default does nothing (for sinks that do not care).
  virtual void OnPeersSynced() {}

  // This node's own KmeshNodeInfo as the API server now holds it: `stored`
  // is nullopt when it was deleted (or cannot be read as a record). The
  // controller re-publishes when it differs from what it advertised, so a
  // record deleted or altered by someone else heals by itself. The default
  // does nothing.
  virtual void OnOwnRecord(const std::optional<NodeView>& stored) {}
  // A Node object was added or changed: `node` is what its InternalIPs, boot
  // ID and pod CIDRs say (NodeViewFromNode; spi 0). Kubelet reports them
  // before the node's daemon runs, and they are all the per-pair key
  // derivation needs besides the key, so the controller can receive from a
  // node before that node has published a KmeshNodeInfo ("first contact" in
  // docs/decisions.md). The watcher filters out this node's own Node. The
  // defaults do nothing (for sinks that do not care).
  virtual void OnNodeUpsert(const NodeView& /*node*/) {}
  // A Node object was deleted.
  virtual void OnNodeDelete(const std::string& /*name*/) {}
  // As OnPeersSynced(), for the Node list.
  virtual void OnNodesSynced() {}
};

}  // namespace kmesh::ipsec

#endif  // KMESH_IPSEC_IPSEC_EVENTS_H_
