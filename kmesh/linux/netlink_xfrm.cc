#include "kmesh/linux/netlink_xfrm.h"

#include <libmnl/libmnl.h>
#include <linux/xfrm.h>
#include <openssl/mem.h>
#include <sys/socket.h>
#include <time.h>

#include <cerrno>
#include <cstring>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "kmesh/kernel/kernel_error.h"

namespace kmesh::linux_backend {
namespace {

std::string SaName(const IpAddress& src, const IpAddress& dst, uint32_t spi) {
  return absl::StrFormat("SA %s -> %s spi 0x%08x", src.ToString(),
                         dst.ToString(), spi);
}

std::string SaIdName(const XfrmSaId& id) {
  return absl::StrFormat("SA dst %s spi 0x%08x mark 0x%x/0x%x",
                         id.dst.ToString(), id.spi, id.mark.value,
                         id.mark.mask);
}

std::string PolicyName(XfrmDir dir, const XfrmSelector& sel,
                       const XfrmMark& mark) {
  return absl::StrFormat("policy %s -> %s dir %s mark 0x%x/0x%x",
                         sel.src.ToString(), sel.dst.ToString(),
                         XfrmDirName(dir), mark.value, mark.mask);
}

// A failed XFRM netlink call, with what to do about a missing privilege or
// kernel feature.
absl::Status StatusFromErrno(int err, const std::string& what) {
  const absl::StatusCode code = KernelErrorCode(err);
  return KernelError(
      err, what,
      code == absl::StatusCode::kPermissionDenied
          ? "XFRM needs CAP_NET_ADMIN (run as root)"
      : code == absl::StatusCode::kUnimplemented
          ? "this kernel lacks the XFRM feature (ESP or the AEAD)"
          : "");
}

}  // namespace

absl::StatusOr<std::unique_ptr<NetlinkXfrm>> NetlinkXfrm::Open(
    std::string xfrm_stat_path) {
  mnl_socket* socket = mnl_socket_open(NETLINK_XFRM);
  if (socket == nullptr) {
    return StatusFromErrno(errno, "open NETLINK_XFRM socket");
  }
  if (mnl_socket_bind(socket, 0, MNL_SOCKET_AUTOPID) < 0) {
    const int err = errno;
    mnl_socket_close(socket);
    return StatusFromErrno(err, "bind NETLINK_XFRM socket");
  }
  return std::unique_ptr<NetlinkXfrm>(
      new NetlinkXfrm(socket, std::move(xfrm_stat_path)));
}

NetlinkXfrm::NetlinkXfrm(mnl_socket* socket, std::string xfrm_stat_path)
    : socket_(socket),
      xfrm_stat_path_(std::move(xfrm_stat_path)),
      port_id_(mnl_socket_get_portid(socket)),
      seq_(static_cast<uint32_t>(time(nullptr))) {}

NetlinkXfrm::~NetlinkXfrm() { mnl_socket_close(socket_); }

absl::Status NetlinkXfrm::Transact(const NetlinkMessage& msg,
                                   const std::string& what) {
  if (mnl_socket_sendto(socket_, msg.data(), msg.size()) < 0) {
    return StatusFromErrno(errno, what);
  }
  std::vector<uint8_t> buf(MNL_SOCKET_BUFFER_SIZE);
  const uint32_t seq = msg.header()->nlmsg_seq;
  while (true) {
    const ssize_t n = mnl_socket_recvfrom(socket_, buf.data(), buf.size());
    if (n < 0) return StatusFromErrno(errno, what);
    // mnl_cb_run returns -1 with errno set from an NLMSG_ERROR carrying an
    // error, and MNL_CB_STOP on an acknowledgement (error 0).
    const int ret = mnl_cb_run(buf.data(), n, seq, port_id_, nullptr, nullptr);
    if (ret == MNL_CB_ERROR) {
      const int err = errno;
      if (err == ESRCH && seq != msg.header()->nlmsg_seq) continue;
      return StatusFromErrno(err, what);
    }
    if (ret == MNL_CB_STOP) return absl::OkStatus();
  }
}

absl::Status NetlinkXfrm::Dump(const NetlinkMessage& msg,
                               const std::string& what,
                               int (*on_message)(const nlmsghdr*, void*),
                               void* data) {
  if (mnl_socket_sendto(socket_, msg.data(), msg.size()) < 0) {
    return StatusFromErrno(errno, what);
  }
  // 32 KiB: the kernel packs several objects into each dump datagram.
  std::vector<uint8_t> buf(32768);
  const uint32_t seq = msg.header()->nlmsg_seq;
  absl::Status status = absl::OkStatus();
  while (true) {
    const ssize_t n = mnl_socket_recvfrom(socket_, buf.data(), buf.size());
    if (n < 0) {
      status = StatusFromErrno(errno, what);
      break;
    }
    const int ret = mnl_cb_run(buf.data(), n, seq, port_id_, on_message, data);
    if (ret == MNL_CB_ERROR) {
      status = StatusFromErrno(errno, what);
      break;
    }
    if (ret == MNL_CB_STOP) break;
  }
  // Dumps of SAs carry keys.
  OPENSSL_cleanse(buf.data(), buf.size());
  return status;
}

absl::Status NetlinkXfrm::AddSa(const XfrmSa& sa) {
  absl::MutexLock lock(&mu_);
  const std::string what = "XFRM add " + SaName(sa.src, sa.dst, sa.spi);
  auto msg = EncodeSa(sa, SaWriteMode::kAdd, ++seq_);
  if (!msg.ok())
    return absl::InvalidArgumentError(what + ": " + msg.status().ToString());
  return Transact(*msg, what);
}

absl::Status NetlinkXfrm::UpdateSa(const XfrmSa& sa) {
  absl::MutexLock lock(&mu_);
  const std::string what = "XFRM update " + SaName(sa.src, sa.dst, sa.spi);
  auto msg = EncodeSa(sa, SaWriteMode::kUpdate, ++seq_);
  if (!msg.ok())
    return absl::InvalidArgumentError(what + ": " + msg.status().ToString());
  return Transact(*msg, what);
}

absl::Status NetlinkXfrm::DeleteSa(const XfrmSaId& id) {
  absl::MutexLock lock(&mu_);
  const std::string what = "XFRM delete " + SaIdName(id);
  auto msg = EncodeDeleteSa(id, ++seq_);
  if (!msg.ok())
    return absl::InvalidArgumentError(what + ": " + msg.status().ToString());
  return Transact(*msg, what);
}

absl::StatusOr<std::vector<XfrmSa>> NetlinkXfrm::DumpSas() {
  absl::MutexLock lock(&mu_);
  struct Collected {
    std::vector<XfrmSa> sas;
    absl::Status status;
  } collected;
  auto on_message = [](const nlmsghdr* nlh, void* data) -> int {
    auto* c = static_cast<Collected*>(data);
    auto sa = DecodeSa(nlh);
    if (sa.ok()) {
      c->sas.push_back(*std::move(sa));
    } else if (c->status.ok()) {
      c->status = sa.status();
    }
    return MNL_CB_OK;
  };
  auto status =
      Dump(EncodeDumpSas(++seq_), "XFRM dump SAs", on_message, &collected);
  if (!status.ok()) return status;
  if (!collected.status.ok()) return collected.status;
  return std::move(collected.sas);
}

absl::Status NetlinkXfrm::AddPolicy(const XfrmPolicy& policy) {
  absl::MutexLock lock(&mu_);
  const std::string what =
      "XFRM add " + PolicyName(policy.dir, policy.selector, policy.mark);
  auto msg = EncodePolicy(policy, PolicyWriteMode::kAdd, ++seq_);
  if (!msg.ok())
    return absl::InvalidArgumentError(what + ": " + msg.status().ToString());
  return Transact(*msg, what);
}

absl::Status NetlinkXfrm::UpdatePolicy(const XfrmPolicy& policy) {
  absl::MutexLock lock(&mu_);
  const std::string what =
      "XFRM update " + PolicyName(policy.dir, policy.selector, policy.mark);
  auto msg = EncodePolicy(policy, PolicyWriteMode::kUpdate, ++seq_);
  if (!msg.ok())
    return absl::InvalidArgumentError(what + ": " + msg.status().ToString());
  return Transact(*msg, what);
}

absl::Status NetlinkXfrm::DeletePolicy(const XfrmPolicyId& id) {
  absl::MutexLock lock(&mu_);
  const std::string what =
      "XFRM delete " + PolicyName(id.dir, id.selector, id.mark);
  auto msg = EncodeDeletePolicy(id, ++seq_);
  if (!msg.ok())
    return absl::InvalidArgumentError(what + ": " + msg.status().ToString());
  return Transact(*msg, what);
}

absl::StatusOr<std::vector<XfrmPolicy>> NetlinkXfrm::DumpPolicies() {
  absl::MutexLock lock(&mu_);
  struct Collected {
    std::vector<XfrmPolicy> policies;
    absl::Status status;
  } collected;
  auto on_message = [](const nlmsghdr* nlh, void* data) -> int {
    auto* c = static_cast<Collected*>(data);
    auto p = DecodePolicy(nlh);
    if (p.ok()) {
      c->policies.push_back(*std::move(p));
    } else if (c->status.ok()) {
      c->status = p.status();
    }
    return MNL_CB_OK;
  };
  auto status = Dump(EncodeDumpPolicies(++seq_), "XFRM dump policies",
                     on_message, &collected);
  if (!status.ok()) return status;
  if (!collected.status.ok()) return collected.status;
  return std::move(collected.policies);
}

absl::StatusOr<XfrmStats> NetlinkXfrm::ReadStats() {
  // A file read: no socket, so no lock.
  return ReadXfrmStatFile(xfrm_stat_path_);
}

}  // namespace kmesh::linux_backend
