// NetlinkXfrm: the Linux backend of XfrmKernel. It speaks XFRM netlink
// (NETLINK_XFRM, via libmnl) in the network namespace of the calling thread
// when opened, sends one request per operation with NLM_F_ACK and checks the
// acknowledgement, and reads multi-part dumps to NLMSG_DONE. Kernel errors
// map onto the interface's outcomes (EEXIST -> AlreadyExists, ENOENT/ESRCH ->
// NotFound, EPERM -> PermissionDenied, ...) and every message names the
// object and the errno, e.g. "XFRM add SA 10.0.0.2 -> 10.0.0.1 spi
// 0x00000001: EPROTONOSUPPORT (Protocol not supported)". Key bytes never
// appear in messages, and request buffers holding keys are wiped after use.
// Dumped SAs carry the kernel's counters (oseq, curlft); ReadStats reads the
// xfrm_stat file (xfrm_stat_file.h), not the socket.
#ifndef KMESH_LINUX_NETLINK_XFRM_H_
#define KMESH_LINUX_NETLINK_XFRM_H_

#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "kmesh/kernel/xfrm.h"
#include "kmesh/linux/xfrm_netlink_codec.h"
#include "kmesh/linux/xfrm_stat_file.h"

struct mnl_socket;

namespace kmesh::linux_backend {

class NetlinkXfrm : public XfrmKernel {
 public:
  // Opens and binds a NETLINK_XFRM socket; PermissionDenied without
  // CAP_NET_ADMIN. ReadStats reads `xfrm_stat_path` (tests point it
  // elsewhere).
  static absl::StatusOr<std::unique_ptr<NetlinkXfrm>> Open(
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
  NetlinkXfrm(mnl_socket* socket, std::string xfrm_stat_path);
  // Sends `msg` and waits for its acknowledgement.
  absl::Status Transact(const NetlinkMessage& msg, const std::string& what)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Sends a dump request and hands every reply message to `on_message`.
  absl::Status Dump(const NetlinkMessage& msg, const std::string& what,
                    int (*on_message)(const nlmsghdr*, void*), void* data)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // One request at a time on the socket.
  absl::Mutex mu_;
  mnl_socket* const socket_;
  const std::string xfrm_stat_path_;
  uint32_t port_id_ ABSL_GUARDED_BY(mu_);
  uint32_t seq_ ABSL_GUARDED_BY(mu_);
};

}  // namespace kmesh::linux_backend

#endif  // KMESH_LINUX_NETLINK_XFRM_H_
