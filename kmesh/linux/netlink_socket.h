// NetlinkSocket: one bound netlink socket as NetlinkXfrm uses it, the seam
// between the request/reply logic and the kernel. The Linux implementation
// wraps libmnl; tests substitute a scripted kernel
// (kmesh/linux/testing/fake_netlink_kernel.h) that injects stale,
// interrupted and malformed replies. A NetlinkSocketFactory opens a fresh
// socket each time it is called: NetlinkXfrm reopens its socket when a reply
// leaves it out of step with its requests, so that whatever the old socket
// still held is dropped with it.
#ifndef KMESH_LINUX_NETLINK_SOCKET_H_
#define KMESH_LINUX_NETLINK_SOCKET_H_

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>

#include "absl/status/statusor.h"

namespace kmesh::linux_backend {

class NetlinkSocket {
 public:
  virtual ~NetlinkSocket() = default;
  // The port id the kernel addresses this socket's replies to.
  virtual uint32_t port_id() const = 0;
  // Sends one request datagram: 0, or a positive errno.
  virtual int Send(const void* data, size_t size) = 0;
  // Receives one datagram into `buffer`: its size, or a negative errno
  // (-ENOSPC when it did not fit, as mnl_socket_recvfrom reports MSG_TRUNC).
  virtual ssize_t Receive(void* buffer, size_t size) = 0;
};

using NetlinkSocketFactory =
    std::function<absl::StatusOr<std::unique_ptr<NetlinkSocket>>()>;

// A factory of bound netlink sockets on `bus` (NETLINK_XFRM, ...) in the
// network namespace the calling thread is in now: a later call from a
// thread in another namespace still opens the socket here (on a short-lived
// thread that enters this namespace, which needs CAP_SYS_ADMIN). Error
// replies carry only the request's header (NETLINK_CAP_ACK where the kernel
// has it), never the request itself, which may hold a key.
absl::StatusOr<NetlinkSocketFactory> NetlinkSocketFactoryHere(int bus);

}  // namespace kmesh::linux_backend

#endif  // KMESH_LINUX_NETLINK_SOCKET_H_
