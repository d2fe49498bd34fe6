// XfrmNetlinkCodec: encodes XFRM SA and policy descriptions (kmesh/kernel/
// xfrm.h) into the netlink messages Linux's xfrm_user expects, and decodes
// the kernel's dump replies back. The encoding follows what iproute2's
// `ip xfrm` sends for the same object, attribute for attribute (struct
// xfrm_usersa_info / xfrm_userpolicy_info with infinite lifetimes, then
// XFRMA_ALG_AEAD, XFRMA_REPLAY_ESN_VAL, XFRMA_MARK, XFRMA_SET_MARK,
// XFRMA_SET_MARK_MASK for SAs; XFRMA_TMPL and XFRMA_MARK for policies), so
// the tests can compare the bytes with iproute2's. Pure functions: no socket,
// no root needed. Messages are built in caller-owned buffers that are wiped
// after use when they hold keys.
#ifndef KMESH_LINUX_XFRM_NETLINK_CODEC_H_
#define KMESH_LINUX_XFRM_NETLINK_CODEC_H_

#include <linux/netlink.h>

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "kmesh/kernel/xfrm.h"

namespace kmesh::linux_backend {

// A netlink message in a buffer that is OPENSSL_cleanse'd when destroyed,
// because SA messages carry keys.
class NetlinkMessage {
 public:
  NetlinkMessage();
  ~NetlinkMessage();
  NetlinkMessage(NetlinkMessage&&) noexcept;
  NetlinkMessage& operator=(NetlinkMessage&&) noexcept;
  NetlinkMessage(const NetlinkMessage&) = delete;
  NetlinkMessage& operator=(const NetlinkMessage&) = delete;

  nlmsghdr* header() { return reinterpret_cast<nlmsghdr*>(buffer_.data()); }
  const nlmsghdr* header() const {
    return reinterpret_cast<const nlmsghdr*>(buffer_.data());
  }
  const uint8_t* data() const { return buffer_.data(); }
  size_t size() const { return header()->nlmsg_len; }
  // The raw buffer, for the codec's builder.
  std::vector<uint8_t>& buffer() { return buffer_; }

 private:
  std::vector<uint8_t> buffer_;
};

enum class SaWriteMode { kAdd, kUpdate };
enum class PolicyWriteMode { kAdd, kUpdate };

// XFRM_MSG_NEWSA (add; EEXIST when taken) or XFRM_MSG_UPDSA. As with
// iproute2, the message type alone says which: flags are REQUEST|ACK. Note
// that Linux's UPDSA on a live SA changes only its output mark and
// lifetimes, never its key (see XfrmKernel::UpdateSa).
absl::StatusOr<NetlinkMessage> EncodeSa(const XfrmSa& sa, SaWriteMode mode,
                                        uint32_t seq);
// XFRM_MSG_DELSA.
absl::StatusOr<NetlinkMessage> EncodeDeleteSa(const XfrmSaId& id, uint32_t seq);
// XFRM_MSG_NEWPOLICY (add) or XFRM_MSG_UPDPOLICY (add or replace).
absl::StatusOr<NetlinkMessage> EncodePolicy(const XfrmPolicy& policy,
                                            PolicyWriteMode mode, uint32_t seq);
// XFRM_MSG_DELPOLICY.
absl::StatusOr<NetlinkMessage> EncodeDeletePolicy(const XfrmPolicyId& id,
                                                  uint32_t seq);
// XFRM_MSG_GETSA / XFRM_MSG_GETPOLICY with NLM_F_DUMP.
NetlinkMessage EncodeDumpSas(uint32_t seq);
NetlinkMessage EncodeDumpPolicies(uint32_t seq);

// Decodes one XFRM_MSG_NEWSA message of a dump. SAs that are not AEAD ESP
// (another daemon's) decode with an empty aead_name and no key. The SA's
// counters come from the message too: packets and bytes from
// xfrm_usersa_info.curlft, output_seq from XFRMA_REPLAY_ESN_VAL
// ((oseq_hi << 32) | oseq) or XFRMA_REPLAY_VAL (oseq). EncodeSa never sends
// counters.
absl::StatusOr<XfrmSa> DecodeSa(const nlmsghdr* msg);
// Decodes one XFRM_MSG_NEWPOLICY message of a dump.
absl::StatusOr<XfrmPolicy> DecodePolicy(const nlmsghdr* msg);

}  // namespace kmesh::linux_backend

#endif  // KMESH_LINUX_XFRM_NETLINK_CODEC_H_
