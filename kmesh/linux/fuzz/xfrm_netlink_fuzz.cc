// Fuzz target: what the kernel answers on the XFRM netlink socket, read as
// netlink_xfrm.cc reads it: libmnl's mnl_cb_run over one receive buffer
// (sequence and port checks, NLMSG_ERROR with its errno, NLMSG_DONE,
// multipart dumps) with the dump callback decoding XFRM_MSG_NEWSA and
// XFRM_MSG_NEWPOLICY messages (xfrm_netlink_codec.h), and every message of
// the buffer given to both decoders whatever its type. Input: the receive
// buffer (copied to an aligned one, as the kernel's are).
#include <libmnl/libmnl.h>
#include <linux/netlink.h>
#include <linux/xfrm.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "absl/status/statusor.h"
#include "kmesh/kernel/xfrm.h"
#include "kmesh/linux/xfrm_netlink_codec.h"

namespace {

using kmesh::linux_backend::DecodePolicy;
using kmesh::linux_backend::DecodeSa;

constexpr uint32_t kSeq = 7;
constexpr uint32_t kPortId = 0;  // libmnl skips the port check for 0.

int OnMessage(const nlmsghdr* nlh, void* data) {
  int* decoded = static_cast<int*>(data);
  if (nlh->nlmsg_type == XFRM_MSG_NEWSA) {
    absl::StatusOr<kmesh::XfrmSa> sa = DecodeSa(nlh);
    if (sa.ok()) ++*decoded;
  } else if (nlh->nlmsg_type == XFRM_MSG_NEWPOLICY) {
    absl::StatusOr<kmesh::XfrmPolicy> policy = DecodePolicy(nlh);
    if (policy.ok()) ++*decoded;
  }
  return MNL_CB_OK;
}

// libmnl's mnl_nlmsg_ok compares (int)nlmsg_len with the bytes left, so a
// length of 2^31 or more passes and mnl_cb_run walks off the buffer. The
// kernel never sends such a length; inputs with one are skipped (see
// docs/reliability.md, "Fuzzing").
bool LengthsFit(const uint8_t* data, size_t size) {
  size_t offset = 0;
  while (size - offset >= sizeof(nlmsghdr)) {
    nlmsghdr header;
    std::memcpy(&header, data + offset, sizeof(header));
    if (header.nlmsg_len > size - offset) return header.nlmsg_len < (1u << 31);
    if (header.nlmsg_len < sizeof(nlmsghdr)) return true;
    offset += NLMSG_ALIGN(header.nlmsg_len);
    if (offset > size) return true;
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (!LengthsFit(data, size)) return 0;
  std::vector<uint64_t> aligned((size + 7) / 8 + 1);
  std::memcpy(aligned.data(), data, size);
  int decoded = 0;
  static_cast<void>(
      mnl_cb_run(aligned.data(), size, kSeq, kPortId, OnMessage, &decoded));
  const nlmsghdr* nlh = reinterpret_cast<const nlmsghdr*>(aligned.data());
  int len = static_cast<int>(size);
  while (mnl_nlmsg_ok(nlh, len)) {
    absl::StatusOr<kmesh::XfrmSa> sa = DecodeSa(nlh);
    absl::StatusOr<kmesh::XfrmPolicy> policy = DecodePolicy(nlh);
    static_cast<void>(sa.ok() && policy.ok());
    nlh = mnl_nlmsg_next(nlh, &len);
  }
  return 0;
}
