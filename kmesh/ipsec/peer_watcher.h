// The controller's view of its peers: every KmeshNodeInfo in kmesh-system
// except this node's own, turned into NodeViews and delivered to an
// IpsecEventSink as upserts and deletes.
//
// PeerRecordHandler is the translation layer, fed with objects by a
// kube::Reflector (list + watch, resumed after a dropped stream, re-listed
// after 410 Gone, differences delivered as add/update/delete). It reads the
// fields it uses from the reflector's decoded object, as protobuf's JSON
// parser would read them into kmesh::api::KmeshNodeInfo (no second parse of
// the event; text handed to it is parsed once). A record that
// cannot be used (unparseable JSON, a bad address or CIDR, a boot ID shorter
// than the 36 characters the key derivation hashes) is an error for that one
// peer: it is logged once per distinct problem and counted, the record is
// ignored (a peer programmed from an earlier valid record stays as it was),
// and every other peer is unaffected. An update that changes nothing the
// controller uses (only resourceVersion, labels, ...) is not delivered.
//
// PeerWatcher wires the handler to a reflector over a KubeClient: Run() on a
// thread of its own until Stop().
#ifndef KMESH_IPSEC_PEER_WATCHER_H_
#define KMESH_IPSEC_PEER_WATCHER_H_

#include <atomic>
#include <cstdint>
#include <map>
#include <string>

#include "kmesh/ipsec/ipsec_events.h"
#include "kmesh/ipsec/node_view.h"
#include "kmesh/kube/kube_client.h"
#include "kmesh/kube/reflector.h"
#include "nlohmann/json.hpp"

namespace kmesh::ipsec {

class PeerRecordHandler : public kube::ReflectorHandler {
 public:
  // `sink` must outlive the handler. Records named `own_node_name` are
  // skipped.
  PeerRecordHandler(std::string own_node_name, IpsecEventSink* sink);

  // kube::ReflectorHandler; called from one thread at a time. The decoded
  // objects are read as they are (no second parse of the event); text is
  // parsed once and read the same way.
  void OnAdd(const std::string& object) override;
  void OnUpdate(const std::string& old_object,
                const std::string& new_object) override;
  void OnDelete(const std::string& last_known) override;
  void OnAddObject(const nlohmann::json& object,
                   const std::string& text) override;
  void OnUpdateObject(const std::string& old_text,
                      const nlohmann::json& new_object,
                      const std::string& new_text) override;
  void OnDeleteObject(const nlohmann::json& last_known,
                      const std::string& text) override;
  // Forwards to IpsecEventSink::OnPeersSynced().
  void OnSynced() override;

  // How many invalid peer records have been reported (each distinct problem
  // of a peer once). Thread-safe.
  int64_t invalid_record_count() const { return invalid_records_.load(); }

 private:
  static nlohmann::json ParseText(const std::string& text);
  void Upsert(const nlohmann::json& object);
  void ReportInvalid(const std::string& key, const std::string& error);

  const std::string own_node_name_;
  IpsecEventSink* const sink_;
  // Peers delivered to the sink, as last delivered.
  std::map<std::string, NodeView> delivered_;
  // Peer (name, or "" when the name is unreadable) -> the problem last
  // reported, so each is reported once.
  std::map<std::string, std::string> reported_;
  std::atomic<int64_t> invalid_records_{0};
};

class PeerWatcher {
 public:
  // `client` and `sink` must outlive the watcher.
  PeerWatcher(kube::KubeClient* client, std::string own_node_name,
              IpsecEventSink* sink, std::string ns = "kmesh-system",
              kube::ReflectorOptions options = {});

  // Lists and watches KmeshNodeInfos until Stop().
  void Run() { reflector_.Run(); }
  // Makes Run() return soon; thread-safe.
  void Stop() { reflector_.Stop(); }
  // Its lists and watches, for metrics.
  const kube::Reflector& reflector() const { return reflector_; }
  // True once the first list has been delivered.
  bool HasSynced() const { return reflector_.HasSynced(); }
  int64_t invalid_record_count() const {
    return handler_.invalid_record_count();
  }

 private:
  PeerRecordHandler handler_;
  kube::Reflector reflector_;
};

}  // namespace kmesh::ipsec

#endif  // KMESH_IPSEC_PEER_WATCHER_H_
