#include "kmesh/linux/testing/fake_netlink_kernel.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>

namespace kmesh::linux_backend::testing {

struct FakeNetlinkKernel::State {
  Responder responder;
  int opened = 0;
  int open = 0;
  // The newest socket's queue (older sockets keep theirs until closed).
  std::shared_ptr<std::deque<FakeReply>> newest;
  std::vector<std::vector<uint8_t>> requests;
  absl::Span<const uint8_t> last_receive;
};

namespace {

class FakeSocket : public NetlinkSocket {
 public:
  FakeSocket(std::shared_ptr<FakeNetlinkKernel::State> state,
             std::shared_ptr<std::deque<FakeReply>> queue, uint32_t port_id)
      : state_(std::move(state)), queue_(std::move(queue)), port_id_(port_id) {}
  ~FakeSocket() override { --state_->open; }

  uint32_t port_id() const override { return port_id_; }

  int Send(const void* data, size_t size) override {
    const auto* bytes = static_cast<const uint8_t*>(data);
    if (size < sizeof(nlmsghdr)) return EINVAL;
    state_->requests.emplace_back(bytes, bytes + size);
    // The responder sees the whole message through the header's address.
    const auto* whole =
        reinterpret_cast<const nlmsghdr*>(state_->requests.back().data());
    for (FakeReply& reply : state_->responder(*whole, port_id_)) {
      queue_->push_back(std::move(reply));
    }
    return 0;
  }

  ssize_t Receive(void* buffer, size_t size) override {
    if (queue_->empty()) return -EAGAIN;
    FakeReply reply = std::move(queue_->front());
    queue_->pop_front();
    if (reply.error != 0) return -reply.error;
    // As mnl_socket_recvfrom: a datagram that does not fit is an error
    // (MSG_TRUNC), and its rest is lost.
    const size_t n = std::min(size, reply.bytes.size());
    if (n > 0) std::memcpy(buffer, reply.bytes.data(), n);
    state_->last_receive =
        absl::Span<const uint8_t>(static_cast<const uint8_t*>(buffer), n);
    if (n < reply.bytes.size()) return -ENOSPC;
    return static_cast<ssize_t>(n);
  }

 private:
  std::shared_ptr<FakeNetlinkKernel::State> state_;
  std::shared_ptr<std::deque<FakeReply>> queue_;
  const uint32_t port_id_;
};

}  // namespace

FakeNetlinkKernel::FakeNetlinkKernel(Responder responder)
    : state_(std::make_shared<State>()) {
  state_->responder = std::move(responder);
}

FakeNetlinkKernel::~FakeNetlinkKernel() = default;

NetlinkSocketFactory FakeNetlinkKernel::Factory() {
  std::shared_ptr<State> state = state_;
  return [state]() -> absl::StatusOr<std::unique_ptr<NetlinkSocket>> {
    ++state->opened;
    ++state->open;
    state->newest = std::make_shared<std::deque<FakeReply>>();
    return std::unique_ptr<NetlinkSocket>(
        new FakeSocket(state, state->newest, 1000 + state->opened));
  };
}

int FakeNetlinkKernel::sockets_opened() const { return state_->opened; }
int FakeNetlinkKernel::sockets_open() const { return state_->open; }
size_t FakeNetlinkKernel::queued() const {
  return state_->newest == nullptr ? 0 : state_->newest->size();
}
const std::vector<std::vector<uint8_t>>& FakeNetlinkKernel::requests() const {
  return state_->requests;
}
absl::Span<const uint8_t> FakeNetlinkKernel::last_receive() const {
  return state_->last_receive;
}

std::vector<uint8_t> NetlinkMessageBytes(uint16_t type, uint16_t flags,
                                         uint32_t seq, uint32_t port_id,
                                         absl::Span<const uint8_t> payload) {
  nlmsghdr h{};
  h.nlmsg_len = static_cast<uint32_t>(NLMSG_LENGTH(payload.size()));
  h.nlmsg_type = type;
  h.nlmsg_flags = flags;
  h.nlmsg_seq = seq;
  h.nlmsg_pid = port_id;
  std::vector<uint8_t> bytes(NLMSG_ALIGN(h.nlmsg_len), 0);
  std::memcpy(bytes.data(), &h, sizeof(h));
  if (!payload.empty()) {
    std::memcpy(bytes.data() + NLMSG_HDRLEN, payload.data(), payload.size());
  }
  return bytes;
}

std::vector<uint8_t> AsReply(absl::Span<const uint8_t> message, uint16_t flags,
                             uint32_t seq, uint32_t port_id) {
  nlmsghdr h;
  std::memcpy(&h, message.data(), sizeof(h));
  return NetlinkMessageBytes(
      h.nlmsg_type, flags, seq, port_id,
      message.subspan(NLMSG_HDRLEN, h.nlmsg_len - NLMSG_HDRLEN));
}

std::vector<uint8_t> ErrorReply(const nlmsghdr& request, uint32_t port_id,
                                int error, bool echo_request) {
  const size_t echoed =
      error != 0 && echo_request ? request.nlmsg_len : sizeof(nlmsghdr);
  std::vector<uint8_t> payload(sizeof(int) + echoed);
  const int negated = -error;
  std::memcpy(payload.data(), &negated, sizeof(negated));
  std::memcpy(payload.data() + sizeof(int), &request, echoed);
  return NetlinkMessageBytes(NLMSG_ERROR, 0, request.nlmsg_seq, port_id,
                             payload);
}

std::vector<uint8_t> DoneReply(uint32_t seq, uint32_t port_id, uint16_t flags) {
  const int done = 0;
  return NetlinkMessageBytes(
      NLMSG_DONE, NLM_F_MULTI | flags, seq, port_id,
      absl::Span<const uint8_t>(reinterpret_cast<const uint8_t*>(&done),
                                sizeof(done)));
}

std::vector<uint8_t> Concat(
    std::initializer_list<std::vector<uint8_t>> messages) {
  std::vector<uint8_t> out;
  for (const auto& m : messages) out.insert(out.end(), m.begin(), m.end());
  return out;
}

}  // namespace kmesh::linux_backend::testing
