#include "kmesh/linux/netlink_socket.h"

#include <fcntl.h>
#include <libmnl/libmnl.h>
#include <linux/netlink.h>
#include <sched.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <string>
#include <thread>
#include <utility>

#include "absl/strings/str_cat.h"
#include "kmesh/kernel/kernel_error.h"

#ifndef NETLINK_CAP_ACK
#define NETLINK_CAP_ACK 10
#endif

namespace kmesh::linux_backend {
namespace {

constexpr char kThreadNetns[] = "/proc/thread-self/ns/net";

class MnlNetlinkSocket : public NetlinkSocket {
 public:
  explicit MnlNetlinkSocket(mnl_socket* socket)
      : socket_(socket), port_id_(mnl_socket_get_portid(socket)) {}
  ~MnlNetlinkSocket() override { mnl_socket_close(socket_); }

  uint32_t port_id() const override { return port_id_; }

  int Send(const void* data, size_t size) override {
    return mnl_socket_sendto(socket_, data, size) < 0 ? errno : 0;
  }

  ssize_t Receive(void* buffer, size_t size) override {
    const ssize_t n = mnl_socket_recvfrom(socket_, buffer, size);
    return n < 0 ? -errno : n;
  }

 private:
  mnl_socket* const socket_;
  const uint32_t port_id_;
};

// Opens and binds a socket in the calling thread's network namespace.
absl::StatusOr<std::unique_ptr<NetlinkSocket>> OpenHere(int bus) {
  const std::string name =
      bus == NETLINK_XFRM ? "NETLINK_XFRM" : absl::StrCat("netlink bus ", bus);
  mnl_socket* socket = mnl_socket_open(bus);
  if (socket == nullptr) {
    return KernelError(errno, absl::StrCat("open ", name, " socket"));
  }
  if (mnl_socket_bind(socket, 0, MNL_SOCKET_AUTOPID) < 0) {
    const int err = errno;
    mnl_socket_close(socket);
    return KernelError(err, absl::StrCat("bind ", name, " socket"));
  }
  // Error replies then echo only the request's header (Linux 4.3+; older
  // kernels refuse the option and echo the request, which is wiped on
  // receipt either way).
  const int on = 1;
  (void)setsockopt(mnl_socket_get_fd(socket), SOL_NETLINK, NETLINK_CAP_ACK, &on,
                   sizeof(on));
  return std::unique_ptr<NetlinkSocket>(new MnlNetlinkSocket(socket));
}

bool SameNamespace(const struct stat& a, const struct stat& b) {
  return a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

// A network namespace held open by its file descriptor.
class NamespaceHandle {
 public:
  explicit NamespaceHandle(int fd) : fd_(fd) {}
  ~NamespaceHandle() { close(fd_); }
  NamespaceHandle(const NamespaceHandle&) = delete;
  NamespaceHandle& operator=(const NamespaceHandle&) = delete;
  int fd() const { return fd_; }

 private:
  const int fd_;
};

}  // namespace

absl::StatusOr<NetlinkSocketFactory> NetlinkSocketFactoryHere(int bus) {
  const int fd = open(kThreadNetns, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return KernelError(errno, std::string("open ") + kThreadNetns);
  auto netns = std::make_shared<NamespaceHandle>(fd);
  return NetlinkSocketFactory(
      [bus, netns]() -> absl::StatusOr<std::unique_ptr<NetlinkSocket>> {
        struct stat here {};
        struct stat there {};
        if (stat(kThreadNetns, &here) == 0 && fstat(netns->fd(), &there) == 0 &&
            SameNamespace(here, there)) {
          return OpenHere(bus);
        }
        // Another namespace: open it on a thread of its own that enters
        // ours (setns moves only the calling thread).
        absl::StatusOr<std::unique_ptr<NetlinkSocket>> opened =
            absl::InternalError("not opened");
        std::thread([&] {
          if (setns(netns->fd(), CLONE_NEWNET) != 0) {
            opened = KernelError(errno, "enter the netlink socket's namespace");
            return;
          }
          opened = OpenHere(bus);
        }).join();
        return opened;
      });
}

}  // namespace kmesh::linux_backend
