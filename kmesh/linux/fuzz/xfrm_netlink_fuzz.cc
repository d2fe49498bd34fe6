// Fuzz target: what the kernel answers on the XFRM netlink socket, read by
// the product's own reply logic. NetlinkXfrm (netlink_xfrm.h) runs a few
// operations (dumps of SAs and policies, adds and deletes) over a scripted
// kernel (testing/fake_netlink_kernel.h) whose replies come from the input:
// stale and foreign replies, interrupted and endless dumps, receive errors,
// truncated and malformed messages, all reach ReadReply, Dump, Transact and
// the SA/policy decoders (xfrm_netlink_codec.h) as they would from Linux.
// Besides "no crash, no sanitizer report", it checks what the product
// promises whatever the kernel says: every datagram it received is wiped
// once read (it may hold a key), and each operation returns (a kernel that
// never answers is an error, not a hang).
//
// Input: one byte, the operations (two bits each, four of them: dump SAs,
// dump policies, add SA, delete policy), then the replies, one batch per
// request sent, each batch
//   count (1 byte, at most 8 datagrams), then per datagram:
//   flags (1 byte): bit 0 a receive error instead of a datagram (bit 1
//     selects ENOSPC, else ENOBUFS); bit 2 every message header in it that
//     fits is stamped with the request's sequence number and port id (so
//     the fuzzer reaches past the "not ours" check without guessing them);
//   length (2 bytes, little-endian), then that many bytes (fewer at the end
//     of the input).
// A request sent after the input is used up is answered with nothing: the
// client's receive fails (EAGAIN) and the operation returns an error.
#include <linux/netlink.h>

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "kmesh/kernel/testing/xfrm_objects.h"
#include "kmesh/kernel/xfrm.h"
#include "kmesh/linux/netlink_xfrm.h"
#include "kmesh/linux/testing/fake_netlink_kernel.h"

namespace {

using ::kmesh::linux_backend::NetlinkXfrm;
using ::kmesh::linux_backend::testing::FakeNetlinkKernel;
using ::kmesh::linux_backend::testing::FakeReply;

constexpr size_t kMaxDatagramsPerBatch = 8;

// Reads the script's batches in order.
class Script {
 public:
  Script(const uint8_t* data, size_t size) : data_(data), size_(size) {}

  // The next batch, stamped for `request` from `port_id`.
  std::vector<FakeReply> NextBatch(const nlmsghdr& request, uint32_t port_id) {
    std::vector<FakeReply> batch;
    if (offset_ >= size_) return batch;
    const size_t count =
        std::min<size_t>(data_[offset_++], kMaxDatagramsPerBatch);
    for (size_t i = 0; i < count && offset_ + 3 <= size_; ++i) {
      const uint8_t flags = data_[offset_];
      size_t length = data_[offset_ + 1] | (data_[offset_ + 2] << 8);
      offset_ += 3;
      length = std::min(length, size_ - offset_);
      FakeReply reply;
      if (flags & 1) {
        reply.error = (flags & 2) ? ENOSPC : ENOBUFS;
      } else {
        reply.bytes.assign(data_ + offset_, data_ + offset_ + length);
        if (flags & 4) Stamp(request.nlmsg_seq, port_id, &reply.bytes);
      }
      offset_ += length;
      batch.push_back(std::move(reply));
    }
    return batch;
  }

 private:
  static void Stamp(uint32_t seq, uint32_t port_id,
                    std::vector<uint8_t>* bytes) {
    size_t offset = 0;
    while (bytes->size() - offset >= sizeof(nlmsghdr)) {
      nlmsghdr header;
      std::memcpy(&header, bytes->data() + offset, sizeof(header));
      header.nlmsg_seq = seq;
      header.nlmsg_pid = port_id;
      std::memcpy(bytes->data() + offset, &header, sizeof(header));
      if (header.nlmsg_len < sizeof(nlmsghdr) ||
          header.nlmsg_len > bytes->size() - offset) {
        break;
      }
      offset += NLMSG_ALIGN(header.nlmsg_len);
      if (offset > bytes->size()) break;
    }
  }

  const uint8_t* data_;
  size_t size_;
  size_t offset_ = 1;  // Byte 0 holds the operations.
};

// The bytes the latest receive wrote are all zero again.
void CheckWiped(const FakeNetlinkKernel& kernel) {
  const absl::Span<const uint8_t> last = kernel.last_receive();
  if (std::any_of(last.begin(), last.end(), [](uint8_t b) { return b != 0; })) {
    std::abort();  // A received datagram (maybe holding a key) not wiped.
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  Script script(data, size);
  FakeNetlinkKernel kernel(
      [&script](const nlmsghdr& request, uint32_t port_id) {
        return script.NextBatch(request, port_id);
      });
  absl::StatusOr<std::unique_ptr<NetlinkXfrm>> xfrm =
      NetlinkXfrm::OpenWith(kernel.Factory(), "/nonexistent/xfrm_stat");
  if (!xfrm.ok()) std::abort();  // Opening sends nothing.
  const kmesh::XfrmSa sa = kmesh::testing::Sa("10.0.0.1", "10.0.0.2", 0x6b6d,
                                              kmesh::testing::kEncrypt);
  const kmesh::XfrmPolicy policy = kmesh::testing::Policy(
      kmesh::XfrmDir::kOut, "0.0.0.0/0", "10.244.1.0/24",
      kmesh::testing::kEncrypt, 100,
      {kmesh::testing::Tmpl("10.0.0.1", "10.0.0.2", 1, 0x6b6d)});
  for (int i = 0; i < 4; ++i) {
    switch ((data[0] >> (2 * i)) & 3) {
      case 0:
        static_cast<void>((*xfrm)->DumpSas().ok());
        break;
      case 1:
        static_cast<void>((*xfrm)->DumpPolicies().ok());
        break;
      case 2:
        static_cast<void>((*xfrm)->AddSa(sa).ok());
        break;
      case 3:
        static_cast<void>((*xfrm)->DeletePolicy(policy.id()).ok());
        break;
    }
    CheckWiped(kernel);
  }
  return 0;
}
