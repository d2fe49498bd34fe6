// FakeNetlinkKernel: a scripted stand-in for the kernel's end of netlink
// sockets, for tests of NetlinkXfrm's request/reply logic without root. Each
// socket it opens (through Factory(), as NetlinkXfrm::OpenWith takes) has a
// receive queue of its own, as a real socket does: a request sent on it is
// handed to the test's responder, and the replies the responder returns are
// queued behind whatever the queue still holds, so replies a client failed
// to read are read by its next request, as with the real kernel. A queued
// entry is a datagram or a receive error (ENOBUFS after an overrun). A
// receive on an empty queue returns EAGAIN (where the real socket would block
// forever), so a client waiting for a reply that never comes fails the test
// instead of hanging it. Closing a socket drops its queue.
#ifndef KMESH_LINUX_TESTING_FAKE_NETLINK_KERNEL_H_
#define KMESH_LINUX_TESTING_FAKE_NETLINK_KERNEL_H_

#include <linux/netlink.h>

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <vector>

#include "absl/types/span.h"
#include "kmesh/linux/netlink_socket.h"

namespace kmesh::linux_backend::testing {

// What one receive returns: a datagram, or (error != 0) that errno.
struct FakeReply {
  std::vector<uint8_t> bytes;
  int error = 0;
};

class FakeNetlinkKernel {
 public:
  // The replies to `request` (one message) sent from port `port_id`.
  using Responder = std::function<std::vector<FakeReply>(
      const nlmsghdr& request, uint32_t port_id)>;

  explicit FakeNetlinkKernel(Responder responder);
  ~FakeNetlinkKernel();

  // Opens a new socket each call, with port ids 1001, 1002, ...
  NetlinkSocketFactory Factory();

  int sockets_opened() const;
  // Sockets opened and not yet closed.
  int sockets_open() const;
  // Entries still queued on the newest socket.
  size_t queued() const;
  // Every request sent, on any socket, in order.
  const std::vector<std::vector<uint8_t>>& requests() const;
  // The buffer the latest receive wrote into and how much it wrote (the
  // client's memory: valid while the client lives).
  absl::Span<const uint8_t> last_receive() const;

  struct State;  // Shared with the sockets, which may outlive this.

 private:
  std::shared_ptr<State> state_;
};

// One netlink message: header (type, flags, seq, port id) and payload.
std::vector<uint8_t> NetlinkMessageBytes(uint16_t type, uint16_t flags,
                                         uint32_t seq, uint32_t port_id,
                                         absl::Span<const uint8_t> payload);
// `message` (one whole netlink message, e.g. a request the codec encoded)
// re-addressed as a reply: its type kept, flags, seq and port id replaced.
std::vector<uint8_t> AsReply(absl::Span<const uint8_t> message, uint16_t flags,
                             uint32_t seq, uint32_t port_id);
// NLMSG_ERROR answering `request`: error 0 is an acknowledgement; a non-zero
// positive errno is sent negated, followed by the whole request when
// `echo_request` (as Linux does without NETLINK_CAP_ACK), else its header.
std::vector<uint8_t> ErrorReply(const nlmsghdr& request, uint32_t port_id,
                                int error, bool echo_request = false);
// NLMSG_DONE ending a dump, with `flags` besides NLM_F_MULTI.
std::vector<uint8_t> DoneReply(uint32_t seq, uint32_t port_id,
                               uint16_t flags = 0);
// Several messages in one datagram.
std::vector<uint8_t> Concat(
    std::initializer_list<std::vector<uint8_t>> messages);

}  // namespace kmesh::linux_backend::testing

#endif  // KMESH_LINUX_TESTING_FAKE_NETLINK_KERNEL_H_
