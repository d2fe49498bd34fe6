// NetlinkXfrm: the Linux backend of XfrmKernel. It speaks XFRM netlink
// (NETLINK_XFRM, via libmnl) in the network namespace of the calling thread
// when opened, sends one request per operation with NLM_F_ACK and checks the
// acknowledgement, and reads multi-part dumps to NLMSG_DONE. Kernel errors
// map onto the interface's outcomes (EEXIST -> AlreadyExists, ENOENT/ESRCH ->
// NotFound, EPERM -> PermissionDenied, ...) and every message names the
// object and the errno, e.g. "XFRM add SA 10.0.0.2 -> 10.0.0.1 spi
// 0x00000001: EPROTONOSUPPORT (Protocol not supported)". Key bytes never
// appear in messages, and request buffers holding keys are wiped after use.
// Replies stay in step with requests: replies to other requests are
// skipped, a dump is always read to its end and asked again (a bounded
// number of times) when the kernel flags it interrupted, and a socket that
// lost or garbled replies is reopened in its network namespace
// (docs/reliability.md, "Netlink replies"). The receive buffer is wiped
// after every datagram. Dumped SAs carry the kernel's counters (oseq,
// curlft); ReadStats reads the xfrm_stat file (xfrm_stat_file.h), not the
// socket.
#ifndef KMESH_LINUX_NETLINK_XFRM_H_
#define KMESH_LINUX_NETLINK_XFRM_H_

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "kmesh/kernel/xfrm.h"
#include "kmesh/linux/netlink_socket.h"
#include "kmesh/linux/xfrm_netlink_codec.h"
#include "kmesh/linux/xfrm_stat_file.h"

namespace kmesh::linux_backend {

class NetlinkXfrm : public XfrmKernel {
 public:
  // Opens and binds a NETLINK_XFRM socket; PermissionDenied without
  // CAP_NET_ADMIN. ReadStats reads `xfrm_stat_path` (tests point it
  // elsewhere).
  static absl::StatusOr<std::unique_ptr<NetlinkXfrm>> Open(
      std::string xfrm_stat_path = kXfrmStatPath);
  // The same over sockets from `open_socket`, called now and again whenever
  // the socket must be reopened (tests pass a scripted kernel).
  static absl::StatusOr<std::unique_ptr<NetlinkXfrm>> OpenWith(
      NetlinkSocketFactory open_socket,
      std::string xfrm_stat_path = kXfrmStatPath);
  ~NetlinkXfrm() override;

  absl::Status AddSa(const XfrmSa& sa) override;
  absl::Status UpdateSa(const XfrmSa& sa) override;
  absl::Status DeleteSa(const XfrmSaId& id) override;
  absl::StatusOr<std::vector<XfrmSa>> DumpSas() override;

  absl::Status AddPolicy(const XfrmPolicy& policy) override;
  absl::Status UpdatePolicy(const XfrmPolicy& policy) override;
  absl::Status DeletePolicy(const XfrmPolicyId& id) override;
  absl::StatusOr<std::vector<XfrmPolicy>> DumpPolicies() override;

  absl::StatusOr<XfrmStats> ReadStats() override;

 private:
  NetlinkXfrm(NetlinkSocketFactory open_socket,
              std::unique_ptr<NetlinkSocket> socket,
              std::string xfrm_stat_path);
  // What the kernel said to one request.
  struct ReplyOutcome {
    int error = 0;             // Its errno (NLMSG_ERROR, NLMSG_DONE); 0: none.
    bool interrupted = false;  // A dump flagged NLM_F_DUMP_INTR.
  };
  // Reads datagrams until the reply to request `seq` ends (NLMSG_ERROR, or a
  // dump's NLMSG_DONE), skipping other requests' replies and handing the
  // data messages to `on_message` (until the dump is flagged interrupted);
  // wipes each datagram once read. A receive error or a malformed reply
  // reopens the socket (OutOfStep).
  absl::StatusOr<ReplyOutcome> ReadReply(
      uint32_t seq, const std::function<void(const nlmsghdr*)>* on_message,
      const std::string& what) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Replaces the socket with a fresh one; returns the KernelError `err` for
  // `what`, saying `why`.
  absl::Status OutOfStep(int err, const std::string& what,
                         const std::string& why)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Sends `msg` and waits for its acknowledgement.
  absl::Status Transact(const NetlinkMessage& msg, const std::string& what)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Sends the dump request `encode(seq)` and hands every message of its
  // reply to `on_message`. A dump the kernel flags interrupted, or whose
  // replies were lost, is asked again after `on_restart` (a bounded number
  // of times in all).
  absl::Status Dump(NetlinkMessage (*encode)(uint32_t seq),
                    const std::string& what,
                    const std::function<void(const nlmsghdr*)>& on_message,
                    const std::function<void()>& on_restart)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // One request at a time on the socket.
  absl::Mutex mu_;
  const NetlinkSocketFactory open_socket_;
  std::unique_ptr<NetlinkSocket> socket_ ABSL_GUARDED_BY(mu_);
  const std::string xfrm_stat_path_;
  // Every reply is received here (a dump's datagrams are up to 32 KiB).
  std::vector<uint8_t> buffer_ ABSL_GUARDED_BY(mu_);
  uint32_t seq_ ABSL_GUARDED_BY(mu_);
};

}  // namespace kmesh::linux_backend

#endif  // KMESH_LINUX_NETLINK_XFRM_H_
