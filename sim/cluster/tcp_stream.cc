#include "sim/cluster/tcp_stream.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "sim/net/icmp_too_big.h"
#include "sim/net/ip_packet.h"

namespace kmesh::sim {
namespace {

using std::chrono::milliseconds;

constexpr milliseconds kMinRto{200};  // Linux's TCP_RTO_MIN.
constexpr milliseconds kMaxRto{60000};
constexpr uint32_t kServerIsn = 5000;

// The stream's byte at `offset`.
uint8_t PatternByte(uint64_t offset) {
  return static_cast<uint8_t>(offset * 131 + (offset >> 8) + (offset >> 16));
}

std::optional<IpAddress> AddressOf(const SimPodInfo& pod, IpFamily family) {
  for (const IpAddress& ip : pod.ips) {
    if (ip.family() == family) return ip;
  }
  return std::nullopt;
}

uint16_t Load16(const uint8_t* p) { return (p[0] << 8) | p[1]; }

}  // namespace

std::string FormatTcpStreamStats(const TcpStreamStats& s) {
  std::string text = absl::StrCat(
      "acked ", s.bytes_acked, " bytes in ", s.sim_time.count(),
      " ms of sim time, mss ", s.mss, ", largest packet ", s.largest_segment,
      ", segments ", s.segments_sent, " (full-size ", s.full_size_segments,
      ", retransmitted ", s.retransmissions, "), timeouts ", s.timeouts,
      ", ICMP too big ", s.icmp_too_big, ", corrupt ", s.corrupt_segments,
      ", stalls ", s.stalls, ", longest pause ", s.longest_pause.count(),
      " ms");
  if (!s.losses_by_cause.empty()) {
    absl::StrAppend(
        &text, " (losses: ",
        absl::StrJoin(s.losses_by_cause, ", ", absl::PairFormatter(" ")), ")");
  }
  return text;
}

absl::StatusOr<std::unique_ptr<TcpStream>> TcpStream::Create(
    SimNetwork* network, const TcpStreamSpec& spec) {
  auto client = network->pod(spec.client_ns, spec.client);
  auto server = network->pod(spec.server_ns, spec.server);
  if (!client || !server) {
    return absl::NotFoundError(
        absl::StrCat("no pod ", client ? spec.server_ns : spec.client_ns, "/",
                     client ? spec.server : spec.client));
  }
  auto client_ip = AddressOf(*client, spec.family);
  auto server_ip = AddressOf(*server, spec.family);
  if (!client_ip || !server_ip) {
    return absl::InvalidArgumentError(absl::StrCat(
        "stream ", client->key(), " -> ", server->key(), ": a pod has no IPv",
        static_cast<int>(spec.family), " address"));
  }
  if (spec.window_segments == 0 || spec.step.count() <= 0) {
    return absl::InvalidArgumentError("window and step must be positive");
  }
  return std::unique_ptr<TcpStream>(
      new TcpStream(network, spec, *client, *server, *client_ip, *server_ip));
}

TcpStream::TcpStream(SimNetwork* network, TcpStreamSpec spec, SimPodInfo client,
                     SimPodInfo server, IpAddress client_ip,
                     IpAddress server_ip)
    : network_(network),
      spec_(std::move(spec)),
      client_(std::move(client)),
      server_(std::move(server)),
      client_ip_(client_ip),
      server_ip_(server_ip) {
  if (spec_.clock != nullptr) clock_start_ = spec_.clock->Now();
  network_->SetDeliveryHandler(
      [this](const SimPodInfo& to, absl::Span<const uint8_t> packet) {
        OnDelivered(to, packet);
      });
}

TcpStream::~TcpStream() {
  Stop();
  network_->SetDeliveryHandler(nullptr);
}

void TcpStream::OnDelivered(const SimPodInfo& to,
                            absl::Span<const uint8_t> packet) {
  const bool to_client = to.key() == client_.key();
  if (!to_client && to.key() != server_.key()) return;
  auto ip = ParseIpHeader(packet);
  if (!ip.ok()) return;
  if (ip->proto != kIpProtoTcp && ip->proto != kIpProtoIcmp &&
      ip->proto != kIpProtoIcmpv6) {
    return;  // Not ours.
  }
  absl::MutexLock lock(&inbox_mu_);
  inbox_.emplace_back(to_client,
                      std::vector<uint8_t>(packet.begin(), packet.end()));
}

size_t TcpStream::RouteMss(bool client) const {
  auto kernel = network_->kernel(client ? client_.node : server_.node);
  const size_t mtu = kernel == nullptr
                         ? SimKernel::kDefaultMtu
                         : kernel->PodPathMtu(client ? client_ip_ : server_ip_,
                                              client ? server_ip_ : client_ip_);
  const size_t headers = IpHeaderLength(spec_.family) + 20;
  return mtu > headers + 8 ? mtu - headers : 8;
}

void TcpStream::Send(bool from_client, const TcpSegment& segment) {
  const IpAddress& src = from_client ? client_ip_ : server_ip_;
  const IpAddress& dst = from_client ? server_ip_ : client_ip_;
  std::vector<uint8_t> packet = BuildTcpPacket(src, dst, segment, ip_id_++);
  const SimPodInfo& pod = from_client ? client_ : server_;
  const SendResult result =
      network_->SendFromPod(pod.ns, pod.name, std::move(packet));
  if (!result.delivered()) ++stats_.losses_by_cause[result.loss_cause()];
}

void TcpStream::SendData(uint64_t offset, size_t length) {
  TcpSegment s;
  s.src_port = client_port_;
  s.dst_port = spec_.server_port;
  s.seq = static_cast<uint32_t>(isn_ + 1 + offset);
  s.ack = kServerIsn + 1;
  s.flags = kTcpAck | kTcpPsh;
  s.payload.resize(length);
  for (size_t i = 0; i < length; ++i) s.payload[i] = PatternByte(offset + i);
  const size_t packet_size = IpHeaderLength(spec_.family) + 20 + length;
  ++stats_.segments_sent;
  if (offset < snd_max_) ++stats_.retransmissions;
  auto kernel = network_->kernel(client_.node);
  if (kernel != nullptr &&
      packet_size == kernel->PodPathMtu(client_ip_, server_ip_)) {
    ++stats_.full_size_segments;
  }
  stats_.largest_segment = std::max(stats_.largest_segment, packet_size);
  Send(true, s);
}

void TcpStream::ClientSend() {
  if (state_ == State::kClosed) {
    TcpSegment syn;
    syn.src_port = client_port_;
    syn.dst_port = spec_.server_port;
    syn.seq = isn_;
    syn.flags = kTcpSyn;
    syn.mss = static_cast<uint16_t>(RouteMss(true));
    state_ = State::kSynSent;
    timer_start_ = now_;
    Send(true, syn);
    return;
  }
  if (state_ != State::kEstablished) return;
  while (budget_ > 0) {
    // tcp_current_mss: the peer's MSS and the route's PMTU, now.
    const size_t mss = std::min(peer_mss_, RouteMss(true));
    stats_.mss = mss;
    if (snd_nxt_ + mss > snd_una_ + spec_.window_segments * mss) break;
    if (snd_una_ == snd_nxt_) timer_start_ = now_;  // Timer starts.
    const uint64_t offset = snd_nxt_;
    --budget_;
    SendData(offset, mss);  // Before snd_max_ moves: it tells resends.
    snd_nxt_ += mss;
    snd_max_ = std::max(snd_max_, snd_nxt_);
  }
}

void TcpStream::ClientReceive(absl::Span<const uint8_t> packet) {
  if (auto too_big = ParseIcmpTooBig(packet); too_big.ok()) {
    const auto& t = too_big->original_transport;
    if (too_big->original_dst != server_ip_ ||
        too_big->original_proto != kIpProtoTcp || t.size() < 4 ||
        Load16(&t[0]) != client_port_ || Load16(&t[2]) != spec_.server_port) {
      return;
    }
    // tcp_v4_err / tcp_v6_err: the route's PMTU is lower now (the pod's
    // stack cached it); resend what is outstanding at the new size.
    ++stats_.icmp_too_big;
    snd_nxt_ = snd_una_;
    return;
  }
  auto tcp = ParseTcpPacket(packet);
  if (!tcp.ok() || tcp->segment.dst_port != client_port_ ||
      tcp->segment.src_port != spec_.server_port) {
    return;
  }
  const TcpSegment& s = tcp->segment;
  if (state_ == State::kSynSent) {
    if ((s.flags & (kTcpSyn | kTcpAck)) != (kTcpSyn | kTcpAck) ||
        s.ack != isn_ + 1) {
      return;
    }
    peer_mss_ = s.mss.value_or(536);
    state_ = State::kEstablished;
    stats_.established = true;
    rto_ = kMinRto;
    TcpSegment ack;
    ack.src_port = client_port_;
    ack.dst_port = spec_.server_port;
    ack.seq = isn_ + 1;
    ack.ack = kServerIsn + 1;
    ack.flags = kTcpAck;
    Send(true, ack);
    Progress();
    return;
  }
  if (state_ != State::kEstablished || !(s.flags & kTcpAck)) return;
  // The 32-bit ACK as an offset near snd_una_.
  const int32_t delta =
      static_cast<int32_t>(s.ack - static_cast<uint32_t>(isn_ + 1 + snd_una_));
  if (delta > 0 && snd_una_ + delta <= snd_max_) {
    stats_.bytes_acked += delta;
    snd_una_ += delta;
    if (snd_nxt_ < snd_una_) snd_nxt_ = snd_una_;
    dup_acks_ = 0;
    rto_ = kMinRto;
    timer_start_ = now_;
    Progress();
  } else if (delta == 0 && snd_una_ < snd_max_ && s.payload.empty()) {
    if (++dup_acks_ == 3) snd_nxt_ = snd_una_;  // Fast retransmit.
  }
}

void TcpStream::ServerReceive(absl::Span<const uint8_t> packet) {
  auto tcp = ParseTcpPacket(packet);
  if (!tcp.ok() || tcp->segment.dst_port != spec_.server_port ||
      tcp->segment.src_port != client_port_) {
    return;
  }
  const TcpSegment& s = tcp->segment;
  TcpSegment reply;
  reply.src_port = spec_.server_port;
  reply.dst_port = client_port_;
  if (s.flags & kTcpSyn) {
    peer_isn_ = s.seq;
    server_synced_ = true;
    rcv_nxt_ = 0;
    out_of_order_.clear();
    reply.seq = kServerIsn;
    reply.ack = s.seq + 1;
    reply.flags = kTcpSyn | kTcpAck;
    reply.mss = static_cast<uint16_t>(RouteMss(false));
    Send(false, reply);
    return;
  }
  if (!server_synced_) return;
  if (!s.payload.empty()) {
    const int32_t delta = static_cast<int32_t>(
        s.seq - static_cast<uint32_t>(peer_isn_ + 1 + rcv_nxt_));
    const int64_t offset = static_cast<int64_t>(rcv_nxt_) + delta;
    bool intact = offset >= 0;
    for (size_t i = 0; intact && i < s.payload.size(); ++i) {
      intact = s.payload[i] == PatternByte(offset + i);
    }
    if (!intact) {
      ++stats_.corrupt_segments;
    } else if (offset + s.payload.size() > rcv_nxt_) {
      out_of_order_[offset] = s.payload;
      // Take everything contiguous from rcv_nxt_.
      for (auto it = out_of_order_.begin();
           it != out_of_order_.end() && it->first <= rcv_nxt_;
           it = out_of_order_.erase(it)) {
        rcv_nxt_ = std::max<uint64_t>(rcv_nxt_, it->first + it->second.size());
      }
    }
  }
  reply.seq = kServerIsn + 1;
  reply.ack = static_cast<uint32_t>(peer_isn_ + 1 + rcv_nxt_);
  reply.flags = kTcpAck;
  Send(false, reply);
}

bool TcpStream::ProcessInbox() {
  std::vector<std::pair<bool, std::vector<uint8_t>>> inbox;
  {
    absl::MutexLock lock(&inbox_mu_);
    inbox.swap(inbox_);
  }
  for (const auto& [to_client, packet] : inbox) {
    if (to_client) {
      ClientReceive(packet);
    } else {
      ServerReceive(packet);
    }
  }
  return !inbox.empty();
}

void TcpStream::Progress() {
  last_progress_ = now_;
  stalled_ = false;
}

void TcpStream::Step() {
  absl::MutexLock step_lock(&step_mu_);
  absl::MutexLock lock(&mu_);
  if (spec_.clock != nullptr) {
    now_ = std::chrono::duration_cast<milliseconds>(spec_.clock->Now() -
                                                    clock_start_);
  } else {
    now_ += spec_.step;
  }
  budget_ = spec_.window_segments;
  // The retransmission timer: go back to the first unacknowledged byte (or
  // the SYN), and back off.
  const bool in_flight = state_ == State::kSynSent ||
                         (state_ == State::kEstablished && snd_una_ < snd_max_);
  if (in_flight && now_ - timer_start_ >= rto_) {
    ++stats_.timeouts;
    rto_ = std::min(rto_ * 2, kMaxRto);
    timer_start_ = now_;
    if (state_ == State::kSynSent) state_ = State::kClosed;  // Resend SYN.
    snd_nxt_ = snd_una_;
  }
  ClientSend();
  // Carry every segment and ACK; ACKs open the window within the budget.
  for (int rounds = 0; rounds < 1000 && ProcessInbox(); ++rounds) {
    ClientSend();
  }
  // The stall detector.
  const bool waiting = state_ != State::kEstablished || snd_una_ < snd_max_;
  if (waiting) {
    const milliseconds pause = now_ - last_progress_;
    stats_.longest_pause = std::max(stats_.longest_pause, pause);
    if (pause > spec_.stall_after && !stalled_) {
      stalled_ = true;
      ++stats_.stalls;
    }
  } else {
    last_progress_ = now_;
  }
}

absl::Status TcpStream::Start(double steps_per_second,
                              std::chrono::milliseconds max_run) {
  if (!(steps_per_second > 0)) {
    return absl::InvalidArgumentError("rate must be positive");
  }
  if (running_.exchange(true)) {
    return absl::FailedPreconditionError("the stream is already running");
  }
  if (thread_.joinable()) thread_.join();
  {
    absl::MutexLock lock(&run_mu_);
    stop_requested_ = false;
  }
  const auto period = std::chrono::duration_cast<std::chrono::nanoseconds>(
      std::chrono::duration<double>(1.0 / steps_per_second));
  thread_ = std::thread([this, period, max_run] {
    const auto start = std::chrono::steady_clock::now();
    const auto end = start + max_run;
    auto next = start;
    const auto stop_requested = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(
                                    run_mu_) { return stop_requested_; };
    absl::MutexLock lock(&run_mu_);
    while (!stop_requested_ && std::chrono::steady_clock::now() < end) {
      run_mu_.Unlock();
      Step();
      run_mu_.Lock();
      next += period;
      run_mu_.AwaitWithDeadline(
          absl::Condition(&stop_requested),
          absl::Now() + absl::FromChrono(std::min(next, end) -
                                         std::chrono::steady_clock::now()));
    }
    running_ = false;
  });
  return absl::OkStatus();
}

void TcpStream::Stop() {
  {
    absl::MutexLock lock(&run_mu_);
    stop_requested_ = true;
  }
  if (thread_.joinable()) thread_.join();
  running_ = false;
}

TcpStreamStats TcpStream::Stats() const {
  absl::MutexLock lock(&mu_);
  TcpStreamStats s = stats_;
  s.sim_time = now_;
  return s;
}

}  // namespace kmesh::sim
