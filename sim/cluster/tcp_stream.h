// TcpStream: a bulk TCP transfer between two pods of a SimNetwork, with
// minimal but real TCP on real bytes (sim/net/tcp_segment.h): a handshake
// announcing the MSS the client's route MTU gives (1,460 on a 1,500-byte
// veth), segments with DF set, cumulative ACKs, go-back-N retransmission on
// a timeout (200 ms at first, doubling, as Linux's minimum RTO) and fast
// retransmit on three duplicate ACKs, and path MTU discovery: the segment
// size follows the pod's route MTU (SimKernel::PodPathMtu) and an ICMP
// Fragmentation Needed / Packet Too Big for the stream lowers it and
// resends at once, as Linux's tcp_v4_err does. Payload bytes are a function
// of their stream offset, so the receiver checks every byte it accepts.
//
// Time is simulated: each Step() is `step` of it (10 ms by default), or as
// much as the cluster's clock moved since the last one when the spec names
// that clock; in a step the client sends what its window allows and every
// segment and ACK is carried (the network is synchronous); timers run on
// that time. The stall
// detector: the stream has stalled when its acknowledged bytes did not grow
// for more than `stall_after` (1 s) of simulated time while it had data in
// flight. Drive it with Step() (tests) or Start(steps_per_second, max_run)
// on a thread of its own; Stop() ends it. Thread-safe; like Traffic it
// installs the network's delivery handler, so only one of them is attached
// to a network at a time.
#ifndef SIM_CLUSTER_TCP_STREAM_H_
#define SIM_CLUSTER_TCP_STREAM_H_

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "kmesh/base/clock.h"
#include "kmesh/base/ip_address.h"
#include "sim/cluster/sim_network.h"
#include "sim/net/tcp_segment.h"

namespace kmesh::sim {

struct TcpStreamSpec {
  std::string client_ns;
  std::string client;
  std::string server_ns;
  std::string server;
  IpFamily family = IpFamily::kV4;
  uint16_t server_port = 5001;
  // Segments in flight at most (a fixed window; no congestion control).
  size_t window_segments = 32;
  std::chrono::milliseconds step{10};
  std::chrono::milliseconds stall_after{1000};
  // The cluster's clock. When set, the stream's time is that clock's (a
  // Step() carries traffic at that instant, and the timers and the stall
  // detector measure the time the agents live in); when null, each Step()
  // is `step` of the stream's own simulated time.
  const Clock* clock = nullptr;
};

struct TcpStreamStats {
  bool established = false;
  uint64_t bytes_acked = 0;         // Delivered in order and acknowledged.
  uint64_t segments_sent = 0;       // Data segments, retransmissions included.
  uint64_t retransmissions = 0;     // Data segments sent again.
  uint64_t timeouts = 0;            // Retransmission timer expiries.
  uint64_t full_size_segments = 0;  // Data segments of the current MSS.
  uint64_t icmp_too_big = 0;        // For this stream, received by the client.
  uint64_t corrupt_segments = 0;  // Accepted bytes that were not the stream's.
  size_t mss = 0;                 // Current sender MSS.
  size_t largest_segment = 0;     // Largest IP packet of data sent.
  // Segments and ACKs not delivered, by SendResult::loss_cause().
  std::map<std::string, uint64_t> losses_by_cause;
  // Stalls (no progress for more than stall_after) and the longest time
  // without progress while data was in flight.
  uint64_t stalls = 0;
  std::chrono::milliseconds longest_pause{0};
  std::chrono::milliseconds sim_time{0};
};

class TcpStream {
 public:
  // NotFound for an unknown pod, InvalidArgument when a pod has no address
  // of the family.
  static absl::StatusOr<std::unique_ptr<TcpStream>> Create(
      SimNetwork* network, const TcpStreamSpec& spec);
  ~TcpStream();  // Stops the thread and detaches.
  TcpStream(const TcpStream&) = delete;
  TcpStream& operator=(const TcpStream&) = delete;

  // One step of simulated time: timers, then sending, then carrying every
  // segment and ACK until nothing is left to deliver.
  void Step();

  absl::Status Start(double steps_per_second,
                     std::chrono::milliseconds max_run);
  void Stop();

  TcpStreamStats Stats() const;
  const IpAddress& client_ip() const { return client_ip_; }
  const IpAddress& server_ip() const { return server_ip_; }

 private:
  TcpStream(SimNetwork* network, TcpStreamSpec spec, SimPodInfo client,
            SimPodInfo server, IpAddress client_ip, IpAddress server_ip);

  enum class State { kClosed, kSynSent, kEstablished };

  void OnDelivered(const SimPodInfo& to, absl::Span<const uint8_t> packet);
  // Handles what was delivered; true when something was.
  bool ProcessInbox() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void ClientReceive(absl::Span<const uint8_t> packet)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void ServerReceive(absl::Span<const uint8_t> packet)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The client's segments due now (SYN, new data, retransmissions).
  void ClientSend() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The MSS the client's route to the server gives now (its PMTU).
  size_t RouteMss(bool client) const;
  void Send(bool from_client, const TcpSegment& segment)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void SendData(uint64_t offset, size_t length)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Progress() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  SimNetwork* const network_;
  const TcpStreamSpec spec_;
  const SimPodInfo client_;
  const SimPodInfo server_;
  const IpAddress client_ip_;
  const IpAddress server_ip_;
  const uint16_t client_port_ = 40001;
  TimePoint clock_start_;  // spec_.clock's time at creation.

  absl::Mutex step_mu_;  // One step at a time.
  // What the network delivered, to be handled after the send that carried
  // it returns: (to the client, packet). Its own lock, as delivery happens
  // inside a send made under mu_.
  absl::Mutex inbox_mu_;
  std::vector<std::pair<bool, std::vector<uint8_t>>> inbox_
      ABSL_GUARDED_BY(inbox_mu_);
  mutable absl::Mutex mu_;
  std::chrono::milliseconds now_ ABSL_GUARDED_BY(mu_){0};
  State state_ ABSL_GUARDED_BY(mu_) = State::kClosed;
  // Sender (client). Offsets count payload bytes from 0; the wire sequence
  // number is isn_ + 1 + offset.
  uint32_t isn_ = 1000;
  uint64_t snd_una_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t snd_nxt_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t snd_max_ ABSL_GUARDED_BY(mu_) = 0;  // Highest offset ever sent.
  size_t budget_ ABSL_GUARDED_BY(mu_) = 0;     // Segments left this step.
  size_t peer_mss_ ABSL_GUARDED_BY(mu_) = 536;
  int dup_acks_ ABSL_GUARDED_BY(mu_) = 0;
  std::chrono::milliseconds rto_ ABSL_GUARDED_BY(mu_){200};
  std::chrono::milliseconds timer_start_ ABSL_GUARDED_BY(mu_){0};
  std::chrono::milliseconds last_progress_ ABSL_GUARDED_BY(mu_){0};
  bool stalled_ ABSL_GUARDED_BY(mu_) = false;
  uint16_t ip_id_ ABSL_GUARDED_BY(mu_) = 1;
  // Receiver (server).
  bool server_synced_ ABSL_GUARDED_BY(mu_) = false;
  uint32_t peer_isn_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t rcv_nxt_ ABSL_GUARDED_BY(mu_) = 0;  // Offset.
  std::map<uint64_t, std::vector<uint8_t>> out_of_order_ ABSL_GUARDED_BY(mu_);
  TcpStreamStats stats_ ABSL_GUARDED_BY(mu_);

  std::atomic<bool> running_{false};
  absl::Mutex run_mu_;
  bool stop_requested_ ABSL_GUARDED_BY(run_mu_) = false;
  std::thread thread_;
};

// "acked 12 MB, mss 1406, 0 stalls, longest pause 0 ms, ..." for logs.
std::string FormatTcpStreamStats(const TcpStreamStats& stats);

}  // namespace kmesh::sim

#endif  // SIM_CLUSTER_TCP_STREAM_H_
