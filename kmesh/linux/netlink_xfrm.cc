#include "kmesh/linux/netlink_xfrm.h"

#include <libmnl/libmnl.h>
#include <linux/xfrm.h>
#include <openssl/mem.h>
#include <sys/socket.h>
#include <time.h>

#include <cerrno>
#include <cstring>
#include <functional>
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

// The kernel sizes a dump's datagrams to the reader's buffer, at most 32 KiB
// (netlink_recvmsg caps max_recvmsg_len there); error replies are smaller.
constexpr size_t kReceiveBufferSize = 32768;

// An interrupted dump is asked again this many times in all.
constexpr int kMaxDumpAttempts = 4;

// Datagrams of other requests' replies read in a row before the socket is
// taken to be out of step for good (a stale dump of 100,000 SAs is ~1,000).
constexpr size_t kMaxStaleDatagrams = 65536;
// The largest errno (Linux's MAX_ERRNO).
constexpr int kMaxErrno = 4095;

}  // namespace

absl::StatusOr<std::unique_ptr<NetlinkXfrm>> NetlinkXfrm::Open(
    std::string xfrm_stat_path) {
  auto factory = NetlinkSocketFactoryHere(NETLINK_XFRM);
  if (!factory.ok()) return factory.status();
  return OpenWith(*std::move(factory), std::move(xfrm_stat_path));
}

absl::StatusOr<std::unique_ptr<NetlinkXfrm>> NetlinkXfrm::OpenWith(
    NetlinkSocketFactory open_socket, std::string xfrm_stat_path) {
  auto socket = open_socket();
  if (!socket.ok()) return socket.status();
  return std::unique_ptr<NetlinkXfrm>(new NetlinkXfrm(
      std::move(open_socket), *std::move(socket), std::move(xfrm_stat_path)));
}

NetlinkXfrm::NetlinkXfrm(NetlinkSocketFactory open_socket,
                         std::unique_ptr<NetlinkSocket> socket,
                         std::string xfrm_stat_path)
    : open_socket_(std::move(open_socket)),
      socket_(std::move(socket)),
      xfrm_stat_path_(std::move(xfrm_stat_path)),
      buffer_(kReceiveBufferSize),
      seq_(static_cast<uint32_t>(time(nullptr))) {}

NetlinkXfrm::~NetlinkXfrm() { OPENSSL_cleanse(buffer_.data(), buffer_.size()); }

absl::StatusOr<NetlinkXfrm::ReplyOutcome> NetlinkXfrm::ReadReply(
    uint32_t seq, const std::function<void(const nlmsghdr*)>* on_message,
    const std::string& what) {
  ReplyOutcome outcome;
  for (size_t stale = 0;; ++stale) {
    if (stale > kMaxStaleDatagrams) {
      return OutOfStep(EPROTO, what, "only replies to other requests");
    }
    ssize_t n;
    do {
      n = socket_->Receive(buffer_.data(), buffer_.size());
    } while (n == -EINTR);  // A signal, not the kernel.
    if (n < 0) {
      // ENOBUFS: the socket overran and replies were dropped (ours, maybe);
      // ENOSPC: a datagram too large, truncated. Either way what is still
      // queued cannot be trusted. A truncated datagram still filled the
      // buffer (SAs and their keys, maybe): wipe all of it.
      OPENSSL_cleanse(buffer_.data(), buffer_.size());
      return OutOfStep(static_cast<int>(-n), what, "receive failed");
    }
    // The reply may echo a request that held a key, and dumps of SAs carry
    // keys: wipe what this datagram wrote whatever happens below.
    struct Wipe {
      uint8_t* data;
      size_t size;
      ~Wipe() { OPENSSL_cleanse(data, size); }
    } wipe{buffer_.data(), static_cast<size_t>(n)};

    bool ours = false;
    bool ended = false;
    int len = static_cast<int>(n);
    const auto* nlh = reinterpret_cast<const nlmsghdr*>(buffer_.data());
    // libmnl's mnl_nlmsg_ok compares nlmsg_len as a signed int: a length of
    // 2^31 or more would pass it and be read past the buffer. Check it
    // unsigned first (the kernel never sends one; found by fuzzing).
    const auto fits = [](const nlmsghdr* h, int left) {
      return left >= static_cast<int>(sizeof(nlmsghdr)) &&
             h->nlmsg_len <= static_cast<uint32_t>(left) &&
             mnl_nlmsg_ok(h, left);
    };
    for (; !ended && fits(nlh, len); nlh = mnl_nlmsg_next(nlh, &len)) {
      // Another request's reply (one that returned before reading all of
      // it) or another port's: not ours, skip it, as iproute2 does. (libmnl
      // would stop here with EPROTO or ESRCH.)
      if (nlh->nlmsg_seq != seq ||
          (nlh->nlmsg_pid != 0 && nlh->nlmsg_pid != socket_->port_id())) {
        continue;
      }
      ours = true;
      // The kernel's tables changed during the dump (nl_dump_check_
      // consistent); libmnl reports this as EINTR. Read on to NLMSG_DONE.
      if (nlh->nlmsg_flags & NLM_F_DUMP_INTR) outcome.interrupted = true;
      switch (nlh->nlmsg_type) {
        case NLMSG_ERROR: {
          if (nlh->nlmsg_len < mnl_nlmsg_size(sizeof(nlmsgerr))) {
            return OutOfStep(EBADMSG, what, "short NLMSG_ERROR");
          }
          int error = 0;
          std::memcpy(&error, mnl_nlmsg_get_payload(nlh), sizeof(error));
          // An errno is 1..4095 (MAX_ERRNO); anything else (INT_MIN, whose
          // negation overflows, found by fuzzing) is not the kernel's.
          if (error < -kMaxErrno || error > kMaxErrno) {
            return OutOfStep(EBADMSG, what, "NLMSG_ERROR with no errno");
          }
          outcome.error = error < 0 ? -error : error;
          ended = true;
          break;
        }
        case NLMSG_DONE: {
          // Since Linux 4.15 the dump's own error, if any, travels here.
          int done = 0;
          if (mnl_nlmsg_get_payload_len(nlh) >= sizeof(done)) {
            std::memcpy(&done, mnl_nlmsg_get_payload(nlh), sizeof(done));
          }
          if (done < -kMaxErrno) {
            return OutOfStep(EBADMSG, what, "NLMSG_DONE with no errno");
          }
          if (done < 0) outcome.error = -done;
          ended = true;
          break;
        }
        case NLMSG_NOOP:
        case NLMSG_OVERRUN:
          break;
        default:
          if (on_message != nullptr && !outcome.interrupted) {
            (*on_message)(nlh);
          }
          break;
      }
    }
    if (!ended && len > 0) {
      return OutOfStep(EBADMSG, what, "truncated netlink message");
    }
    if (ended) return outcome;
    if (ours) stale = 0;
  }
}

absl::Status NetlinkXfrm::OutOfStep(int err, const std::string& what,
                                    const std::string& why) {
  // Whatever the old socket still holds goes with it (and the kernel ends
  // a dump it was running for it).
  auto fresh = open_socket_();
  if (!fresh.ok()) {
    return KernelError(err, what,
                       absl::StrCat(why, "; reopening the socket failed: ",
                                    fresh.status().message()));
  }
  socket_ = *std::move(fresh);
  return KernelError(err, what, absl::StrCat(why, "; socket reopened"));
}

absl::Status NetlinkXfrm::Transact(const NetlinkMessage& msg,
                                   const std::string& what) {
  if (const int err = socket_->Send(msg.data(), msg.size()); err != 0) {
    return StatusFromErrno(err, what);
  }
  auto outcome = ReadReply(msg.header()->nlmsg_seq, nullptr, what);
  if (!outcome.ok()) return outcome.status();
  if (outcome->error != 0) return StatusFromErrno(outcome->error, what);
  return absl::OkStatus();
}

absl::Status NetlinkXfrm::Dump(
    NetlinkMessage (*encode)(uint32_t seq), const std::string& what,
    const std::function<void(const nlmsghdr*)>& on_message,
    const std::function<void()>& on_restart) {
  for (int attempt = 1;; ++attempt) {
    const NetlinkMessage msg = encode(++seq_);
    if (const int err = socket_->Send(msg.data(), msg.size()); err != 0) {
      return StatusFromErrno(err, what);
    }
    auto outcome = ReadReply(msg.header()->nlmsg_seq, &on_message, what);
    if (!outcome.ok()) {
      // Replies were lost (the socket is a fresh one now): a dump can
      // simply be asked again.
      if (KernelErrno(outcome.status()) != ENOBUFS ||
          attempt == kMaxDumpAttempts) {
        return outcome.status();
      }
      on_restart();
      continue;
    }
    if (outcome->error != 0) return StatusFromErrno(outcome->error, what);
    if (!outcome->interrupted) return absl::OkStatus();
    on_restart();
    if (attempt == kMaxDumpAttempts) {
      return KernelError(
          EINTR, what,
          absl::StrCat("dump interrupted ", kMaxDumpAttempts,
                       " times in a row (the kernel's table kept changing)"));
    }
  }
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
  std::vector<XfrmSa> sas;
  absl::Status decoding = absl::OkStatus();
  auto status = Dump(
      &EncodeDumpSas, "XFRM dump SAs",
      [&](const nlmsghdr* nlh) {
        auto sa = DecodeSa(nlh);
        if (sa.ok()) {
          sas.push_back(*std::move(sa));
        } else if (decoding.ok()) {
          decoding = sa.status();
        }
      },
      [&] {
        sas.clear();
        decoding = absl::OkStatus();
      });
  if (!status.ok()) return status;
  if (!decoding.ok()) return decoding;
  return sas;
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
  std::vector<XfrmPolicy> policies;
  absl::Status decoding = absl::OkStatus();
  auto status = Dump(
      &EncodeDumpPolicies, "XFRM dump policies",
      [&](const nlmsghdr* nlh) {
        auto p = DecodePolicy(nlh);
        if (p.ok()) {
          policies.push_back(*std::move(p));
        } else if (decoding.ok()) {
          decoding = p.status();
        }
      },
      [&] {
        policies.clear();
        decoding = absl::OkStatus();
      });
  if (!status.ok()) return status;
  if (!decoding.ok()) return decoding;
  return policies;
}

absl::StatusOr<XfrmStats> NetlinkXfrm::ReadStats() {
  // A file read: no socket, so no lock.
  return ReadXfrmStatFile(xfrm_stat_path_);
}

}  // namespace kmesh::linux_backend
