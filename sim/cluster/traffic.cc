#include "sim/cluster/traffic.h"

#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "sim/net/ip_packet.h"

namespace kmesh::sim {
namespace {

// Payload: "KMSF" | flow id (u32) | direction (u8: 0 request, 1 response) |
// sequence number (u64) | zero padding. Big-endian.
constexpr uint8_t kMagic[4] = {'K', 'M', 'S', 'F'};
constexpr size_t kHeaderSize = 4 + 4 + 1 + 8;
constexpr uint16_t kServerPort = 7;  // echo
constexpr uint16_t kClientPortBase = 40000;

void PutBig(std::vector<uint8_t>& out, uint64_t v, int bytes) {
  for (int i = bytes - 1; i >= 0; --i) out.push_back((v >> (8 * i)) & 0xff);
}

uint64_t GetBig(const uint8_t* p, int bytes) {
  uint64_t v = 0;
  for (int i = 0; i < bytes; ++i) v = (v << 8) | p[i];
  return v;
}

std::optional<IpAddress> AddressOf(const SimPodInfo& pod, IpFamily family) {
  for (const IpAddress& ip : pod.ips) {
    if (ip.family() == family) return ip;
  }
  return std::nullopt;
}

}  // namespace

std::string FormatDirectionStats(const DirectionStats& s) {
  std::string text = absl::StrCat(
      "sent ", s.sent, ", received ", s.received, ", lost ", s.lost,
      ", out-of-order ", s.out_of_order, ", duplicates ", s.duplicates);
  if (!s.losses_by_cause.empty()) {
    absl::StrAppend(
        &text, " (losses: ",
        absl::StrJoin(s.losses_by_cause, ", ", absl::PairFormatter(" ")), ")");
  }
  return text;
}

Traffic::Traffic(SimNetwork* network) : network_(network) {
  network_->SetDeliveryHandler(
      [this](const SimPodInfo& to, absl::Span<const uint8_t> packet) {
        OnDelivered(to, packet);
      });
}

Traffic::~Traffic() {
  Stop();
  network_->SetDeliveryHandler(nullptr);
}

absl::StatusOr<int> Traffic::AddFlow(const FlowSpec& spec) {
  auto client = network_->pod(spec.client_ns, spec.client);
  auto server = network_->pod(spec.server_ns, spec.server);
  if (!client || !server) {
    return absl::NotFoundError(
        absl::StrCat("no pod ", client ? spec.server_ns : spec.client_ns, "/",
                     client ? spec.server : spec.client));
  }
  auto client_ip = AddressOf(*client, spec.family);
  auto server_ip = AddressOf(*server, spec.family);
  if (!client_ip || !server_ip) {
    return absl::InvalidArgumentError(absl::StrCat(
        "flow ", client->key(), " -> ", server->key(), ": a pod has no IPv",
        static_cast<int>(spec.family), " address"));
  }
  absl::MutexLock lock(&mu_);
  if (flows_.size() >= 20000) {
    return absl::ResourceExhaustedError("too many flows");
  }
  Flow flow;
  flow.stats.id = static_cast<int>(flows_.size());
  flow.stats.spec = spec;
  flow.stats.client_ip = *client_ip;
  flow.stats.server_ip = *server_ip;
  flows_.push_back(std::move(flow));
  return static_cast<int>(flows_.size()) - 1;
}

std::vector<uint8_t> Traffic::BuildPayload(int flow, bool response,
                                           uint64_t seq, size_t size) const {
  std::vector<uint8_t> payload(kMagic, kMagic + 4);
  PutBig(payload, static_cast<uint32_t>(flow), 4);
  payload.push_back(response ? 1 : 0);
  PutBig(payload, seq, 8);
  if (payload.size() < size) payload.resize(size, 0);
  return payload;
}

void Traffic::CountSend(int flow, bool response, const SendResult& result) {
  absl::MutexLock lock(&mu_);
  FlowStats& stats = flows_[flow].stats;
  DirectionStats& d = response ? stats.response : stats.request;
  ++d.sent;
  if (!result.delivered()) {
    ++d.lost;
    ++d.losses_by_cause[result.loss_cause()];
  }
}

void Traffic::SendRound() {
  absl::MutexLock send_lock(&send_mu_);
  struct Request {
    int flow;
    uint64_t seq;
    FlowSpec spec;
    IpAddress client_ip, server_ip;
  };
  std::vector<Request> requests;
  {
    absl::MutexLock lock(&mu_);
    for (Flow& f : flows_) {
      requests.push_back({f.stats.id, f.next_seq++, f.stats.spec,
                          f.stats.client_ip, f.stats.server_ip});
    }
  }
  for (const Request& r : requests) {
    const auto payload =
        BuildPayload(r.flow, false, r.seq, r.spec.payload_size);
    auto packet =
        BuildUdpPacket(r.client_ip, r.server_ip,
                       static_cast<uint16_t>(kClientPortBase + r.flow % 20000),
                       kServerPort, payload, static_cast<uint16_t>(r.seq));
    const SendResult result = network_->SendFromPod(
        r.spec.client_ns, r.spec.client, std::move(packet));
    CountSend(r.flow, false, result);

    std::vector<PendingResponse> responses;
    {
      absl::MutexLock lock(&mu_);
      responses.swap(pending_);
    }
    for (const PendingResponse& p : responses) {
      FlowSpec spec;
      IpAddress client_ip, server_ip;
      {
        absl::MutexLock lock(&mu_);
        spec = flows_[p.flow].stats.spec;
        client_ip = flows_[p.flow].stats.client_ip;
        server_ip = flows_[p.flow].stats.server_ip;
      }
      const auto body = BuildPayload(p.flow, true, p.seq, spec.payload_size);
      auto reply = BuildUdpPacket(
          server_ip, client_ip, kServerPort,
          static_cast<uint16_t>(kClientPortBase + p.flow % 20000), body,
          static_cast<uint16_t>(p.seq));
      CountSend(
          p.flow, true,
          network_->SendFromPod(spec.server_ns, spec.server, std::move(reply)));
    }
  }
  ++rounds_;
}

void Traffic::OnDelivered(const SimPodInfo& to,
                          absl::Span<const uint8_t> packet) {
  auto udp = ParseUdpPacket(packet);
  if (!udp.ok() || udp->payload.size() < kHeaderSize ||
      std::memcmp(udp->payload.data(), kMagic, 4) != 0) {
    return;  // Not ours.
  }
  const uint8_t* p = udp->payload.data();
  const int flow = static_cast<int>(GetBig(p + 4, 4));
  const bool response = p[8] != 0;
  const uint64_t seq = GetBig(p + 9, 8);
  absl::MutexLock lock(&mu_);
  if (flow < 0 || flow >= static_cast<int>(flows_.size())) return;
  Flow& f = flows_[flow];
  const FlowSpec& spec = f.stats.spec;
  // Only count what reached the pod it was meant for.
  const bool right_pod =
      response ? (to.ns == spec.client_ns && to.name == spec.client)
               : (to.ns == spec.server_ns && to.name == spec.server);
  if (!right_pod) return;
  const int dir = response ? 1 : 0;
  DirectionStats& d = response ? f.stats.response : f.stats.request;
  uint64_t& highest = f.highest[dir];
  std::bitset<kReceiveWindow>& window = f.window[dir];
  if (seq > highest) {
    const uint64_t shift = seq - highest;
    window = shift >= kReceiveWindow ? std::bitset<kReceiveWindow>()
                                     : window << shift;
    window.set(0);
    highest = seq;
  } else {
    const uint64_t age = highest - seq;
    if (age < kReceiveWindow) {
      if (window.test(age)) {
        ++d.duplicates;
        return;
      }
      window.set(age);
    }
    ++d.out_of_order;
  }
  ++d.received;
  if (!response) pending_.push_back({flow, seq});
}

absl::Status Traffic::Start(double rounds_per_second,
                            std::chrono::milliseconds max_run) {
  if (!(rounds_per_second > 0)) {
    return absl::InvalidArgumentError("rate must be positive");
  }
  if (running_.exchange(true)) {
    return absl::FailedPreconditionError("traffic is already running");
  }
  if (thread_.joinable()) thread_.join();
  {
    absl::MutexLock lock(&run_mu_);
    stop_requested_ = false;
  }
  const auto period = std::chrono::duration_cast<std::chrono::nanoseconds>(
      std::chrono::duration<double>(1.0 / rounds_per_second));
  thread_ = std::thread([this, period, max_run] {
    const auto start = std::chrono::steady_clock::now();
    const auto end = start + max_run;
    auto next = start;
    const auto stop_requested = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(
                                    run_mu_) { return stop_requested_; };
    absl::MutexLock lock(&run_mu_);
    while (!stop_requested_ && std::chrono::steady_clock::now() < end) {
      run_mu_.Unlock();
      SendRound();
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

void Traffic::Stop() {
  {
    absl::MutexLock lock(&run_mu_);
    stop_requested_ = true;
  }
  if (thread_.joinable()) thread_.join();
  running_ = false;
}

std::vector<FlowStats> Traffic::Stats() const {
  absl::MutexLock lock(&mu_);
  std::vector<FlowStats> out;
  for (const Flow& f : flows_) out.push_back(f.stats);
  return out;
}

DirectionStats Traffic::Totals() const {
  DirectionStats total;
  for (const FlowStats& f : Stats()) {
    for (const DirectionStats* d : {&f.request, &f.response}) {
      total.sent += d->sent;
      total.received += d->received;
      total.lost += d->lost;
      total.out_of_order += d->out_of_order;
      total.duplicates += d->duplicates;
      for (const auto& [cause, n] : d->losses_by_cause) {
        total.losses_by_cause[cause] += n;
      }
    }
  }
  return total;
}

}  // namespace kmesh::sim
