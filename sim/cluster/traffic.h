// Traffic: request/response UDP flows between pods of a SimNetwork, counted
// the way a load tester counts them. Each flow has a client pod and a server
// pod (and an address family); a round sends one request per flow, and the
// server pod answers each request it receives with a response carrying the
// same sequence number. Payloads carry a magic, the flow id, the direction
// and the sequence number, so the counters below are computed from what
// actually arrived:
//   sent / received / lost per flow and direction, out-of-order (a sequence
//   number lower than one already received) and duplicates (received twice),
//   and for every loss the cause: the PacketFate that dropped it on the
//   sending or the receiving node (SendResult::loss_cause), e.g.
//   "XfrmOutPolBlock", "XfrmInNoStates", "WireDrop".
// Responses are sent after the request's SendFromPod() returns, never from
// inside the delivery, so no node's data path is re-entered.
//
// Drive it step by step with SendRound() (deterministic, for tests) or with
// Start(rate, max_run) on a background thread (the demo); Stop() ends it.
// Thread-safe; only one Traffic may be attached to a network at a time (it
// installs the network's delivery handler).
#ifndef SIM_CLUSTER_TRAFFIC_H_
#define SIM_CLUSTER_TRAFFIC_H_

#include <atomic>
#include <bitset>
#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "kmesh/base/ip_address.h"
#include "sim/cluster/sim_network.h"

namespace kmesh::sim {

struct FlowSpec {
  std::string client_ns;
  std::string client;
  std::string server_ns;
  std::string server;
  IpFamily family = IpFamily::kV4;
  size_t payload_size = 64;  // Bytes of UDP payload (at least the header).
};

struct DirectionStats {
  uint64_t sent = 0;
  uint64_t received = 0;
  uint64_t lost = 0;
  uint64_t out_of_order = 0;
  uint64_t duplicates = 0;
  std::map<std::string, uint64_t> losses_by_cause;
};

struct FlowStats {
  int id = 0;
  FlowSpec spec;
  IpAddress client_ip;
  IpAddress server_ip;
  DirectionStats request;   // client -> server
  DirectionStats response;  // server -> client
};

class Traffic {
 public:
  // How far back duplicates are recognised (sequence numbers); an older
  // packet counts as received out of order.
  static constexpr size_t kReceiveWindow = 4096;

  explicit Traffic(SimNetwork* network);
  ~Traffic();  // Stops the background thread and detaches.
  Traffic(const Traffic&) = delete;
  Traffic& operator=(const Traffic&) = delete;

  // Adds a flow; its id is returned. NotFound for an unknown pod,
  // InvalidArgument when a pod has no address of the family.
  absl::StatusOr<int> AddFlow(const FlowSpec& spec);

  // Sends one request on every flow, then the responses to those that
  // arrived.
  void SendRound();

  // Calls SendRound() `rounds_per_second` times a second on a thread of its
  // own until Stop() or until `max_run` has passed.
  absl::Status Start(double rounds_per_second,
                     std::chrono::milliseconds max_run);
  void Stop();
  bool running() const { return running_.load(); }

  std::vector<FlowStats> Stats() const;
  // Sums over every flow and both directions.
  DirectionStats Totals() const;
  uint64_t rounds() const { return rounds_.load(); }

 private:
  struct Flow {
    FlowStats stats;
    uint64_t next_seq = 1;
    // Per direction: the highest sequence number received and which of the
    // kReceiveWindow numbers below it arrived (bit i: highest - i), so memory
    // stays bounded however long the flow runs.
    uint64_t highest[2] = {0, 0};
    std::bitset<kReceiveWindow> window[2];
  };
  struct PendingResponse {
    int flow = 0;
    uint64_t seq = 0;
  };

  void OnDelivered(const SimPodInfo& to, absl::Span<const uint8_t> packet);
  std::vector<uint8_t> BuildPayload(int flow, bool response, uint64_t seq,
                                    size_t size) const;
  void CountSend(int flow, bool response, const SendResult& result);

  SimNetwork* const network_;
  absl::Mutex send_mu_;  // One round at a time.

  mutable absl::Mutex mu_;
  std::vector<Flow> flows_ ABSL_GUARDED_BY(mu_);
  std::vector<PendingResponse> pending_ ABSL_GUARDED_BY(mu_);

  std::atomic<uint64_t> rounds_{0};
  std::atomic<bool> running_{false};
  absl::Mutex run_mu_;
  bool stop_requested_ ABSL_GUARDED_BY(run_mu_) = false;
  std::thread thread_;
};

// "sent 10, received 10, lost 0 (...)" for logs and summaries.
std::string FormatDirectionStats(const DirectionStats& stats);

}  // namespace kmesh::sim

#endif  // SIM_CLUSTER_TRAFFIC_H_
