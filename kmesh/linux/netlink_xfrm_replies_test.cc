// NetlinkXfrm's request/reply logic against a scripted kernel
// (testing/fake_netlink_kernel.h): replies left over from earlier requests
// are skipped, an interrupted dump (NLM_F_DUMP_INTR) is read to its end and
// asked again, a bounded number of times, a lost or malformed reply gets the
// socket reopened, and the receive buffer is wiped of the key an error reply
// may echo. Every test ends by checking that the next request still gets its
// own reply: the defect these guard against left a client reading earlier
// requests' replies until restart. No root needed.
#include <linux/netlink.h>
#include <linux/xfrm.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "gtest/gtest.h"
#include "kmesh/kernel/kernel_error.h"
#include "kmesh/kernel/testing/xfrm_objects.h"
#include "kmesh/linux/netlink_xfrm.h"
#include "kmesh/linux/testing/fake_netlink_kernel.h"
#include "kmesh/linux/xfrm_netlink_codec.h"

namespace kmesh::linux_backend {
namespace {

using ::kmesh::linux_backend::testing::AsReply;
using ::kmesh::linux_backend::testing::DoneReply;
using ::kmesh::linux_backend::testing::ErrorReply;
using ::kmesh::linux_backend::testing::FakeNetlinkKernel;
using ::kmesh::linux_backend::testing::FakeReply;
using ::kmesh::testing::kEncrypt;
using ::kmesh::testing::Policy;
using ::kmesh::testing::Tmpl;

XfrmPolicy PolicyTo(const std::string& dst) {
  return Policy(XfrmDir::kOut, "0.0.0.0/0", dst, kEncrypt, 100,
                {Tmpl("10.0.0.1", "10.0.0.2", 0x6b6d, 1)});
}

bool IsDump(const nlmsghdr& request) {
  return (request.nlmsg_flags & NLM_F_DUMP) == NLM_F_DUMP;
}

// A dump's reply as the kernel sends it: one datagram per policy, then
// NLMSG_DONE, every message carrying `flags` (NLM_F_DUMP_INTR) besides
// NLM_F_MULTI.
std::vector<FakeReply> PolicyDump(const nlmsghdr& request, uint32_t port_id,
                                  const std::vector<XfrmPolicy>& policies,
                                  uint16_t flags = 0) {
  std::vector<FakeReply> replies;
  for (const XfrmPolicy& p : policies) {
    auto msg = EncodePolicy(p, PolicyWriteMode::kAdd, 0);
    EXPECT_TRUE(msg.ok()) << msg.status();
    replies.push_back(
        {AsReply(absl::MakeConstSpan(msg->data(), msg->size()),
                 NLM_F_MULTI | flags, request.nlmsg_seq, port_id)});
  }
  replies.push_back({DoneReply(request.nlmsg_seq, port_id, flags)});
  return replies;
}

std::vector<XfrmPolicy> TwoPolicies() {
  return {PolicyTo("10.244.1.0/24"), PolicyTo("10.244.2.0/24")};
}

std::unique_ptr<NetlinkXfrm> OpenOn(FakeNetlinkKernel& kernel) {
  auto x = NetlinkXfrm::OpenWith(kernel.Factory(), "/nonexistent/xfrm_stat");
  EXPECT_TRUE(x.ok()) << x.status();
  return x.ok() ? *std::move(x) : nullptr;
}

// The kernel acknowledges writes and dumps `TwoPolicies()`; replies to an
// earlier request (`stale`, made from the current one) come first.
FakeNetlinkKernel::Responder InStepKernel() {
  return [](const nlmsghdr& request, uint32_t port) {
    if (IsDump(request)) return PolicyDump(request, port, TwoPolicies());
    return std::vector<FakeReply>{{ErrorReply(request, port, 0)}};
  };
}

TEST(NetlinkXfrmRepliesTest, AnEarlierRequestsAcknowledgementIsSkipped) {
  // Before each write's own acknowledgement, an error reply to the request
  // before it (seq - 1) is still queued, as after a request that returned
  // without reading its reply.
  FakeNetlinkKernel kernel([](const nlmsghdr& request, uint32_t port) {
    nlmsghdr earlier = request;
    --earlier.nlmsg_seq;
    return std::vector<FakeReply>{{ErrorReply(earlier, port, EEXIST)},
                                  {ErrorReply(request, port, 0)}};
  });
  auto xfrm = OpenOn(kernel);
  ASSERT_NE(xfrm, nullptr);
  for (int i = 0; i < 3; ++i) {
    const absl::Status s = xfrm->AddPolicy(PolicyTo("10.244.1.0/24"));
    EXPECT_TRUE(s.ok()) << i << ": " << s;
  }
  EXPECT_EQ(kernel.queued(), 0u);
  EXPECT_EQ(kernel.sockets_opened(), 1);
}

TEST(NetlinkXfrmRepliesTest, TheRestOfAnEarlierDumpIsSkipped) {
  // A write finds the tail of an earlier dump (seq - 1) ahead of its ack.
  FakeNetlinkKernel kernel([](const nlmsghdr& request, uint32_t port) {
    nlmsghdr earlier = request;
    --earlier.nlmsg_seq;
    std::vector<FakeReply> replies = PolicyDump(earlier, port, TwoPolicies());
    replies.push_back({ErrorReply(request, port, 0)});
    return replies;
  });
  auto xfrm = OpenOn(kernel);
  ASSERT_NE(xfrm, nullptr);
  const absl::Status s = xfrm->DeletePolicy(PolicyTo("10.244.1.0/24").id());
  EXPECT_TRUE(s.ok()) << s;
  EXPECT_EQ(kernel.queued(), 0u);
}

TEST(NetlinkXfrmRepliesTest, AnInterruptedDumpIsReadToItsEndAndAskedAgain) {
  int dumps = 0;
  FakeNetlinkKernel kernel([&dumps](const nlmsghdr& request, uint32_t port) {
    if (!IsDump(request)) {
      return std::vector<FakeReply>{{ErrorReply(request, port, 0)}};
    }
    // The tables changed under the first dump: the kernel flags its
    // messages NLM_F_DUMP_INTR (nl_dump_check_consistent).
    return PolicyDump(request, port, TwoPolicies(),
                      ++dumps == 1 ? NLM_F_DUMP_INTR : 0);
  });
  auto xfrm = OpenOn(kernel);
  ASSERT_NE(xfrm, nullptr);
  auto dumped = xfrm->DumpPolicies();
  ASSERT_TRUE(dumped.ok()) << dumped.status();
  EXPECT_EQ(dumped->size(), 2u);  // Not 3 or 4: the first reply is dropped.
  EXPECT_EQ(dumps, 2);
  EXPECT_EQ(kernel.queued(), 0u);
  const absl::Status next = xfrm->AddPolicy(PolicyTo("10.244.3.0/24"));
  EXPECT_TRUE(next.ok()) << next;
  EXPECT_EQ(kernel.sockets_opened(), 1);
}

TEST(NetlinkXfrmRepliesTest, ADumpInterruptedEveryTimeFailsAndStaysInStep) {
  int dumps = 0;
  FakeNetlinkKernel kernel([&dumps](const nlmsghdr& request, uint32_t port) {
    if (!IsDump(request)) {
      return std::vector<FakeReply>{{ErrorReply(request, port, 0)}};
    }
    ++dumps;
    return PolicyDump(request, port, TwoPolicies(), NLM_F_DUMP_INTR);
  });
  auto xfrm = OpenOn(kernel);
  ASSERT_NE(xfrm, nullptr);
  auto dumped = xfrm->DumpPolicies();
  EXPECT_TRUE(absl::IsUnavailable(dumped.status())) << dumped.status();
  EXPECT_EQ(KernelErrno(dumped.status()), EINTR);
  EXPECT_TRUE(absl::StrContains(dumped.status().message(), "interrupted"))
      << dumped.status();
  EXPECT_EQ(dumps, 4);  // Bounded.
  EXPECT_EQ(kernel.queued(), 0u);
  const absl::Status next = xfrm->AddPolicy(PolicyTo("10.244.3.0/24"));
  EXPECT_TRUE(next.ok()) << next;
}

TEST(NetlinkXfrmRepliesTest, ALostDumpReplyReopensTheSocketAndDumpsAgain) {
  int dumps = 0;
  FakeNetlinkKernel kernel([&dumps](const nlmsghdr& request, uint32_t port) {
    if (!IsDump(request)) {
      return std::vector<FakeReply>{{ErrorReply(request, port, 0)}};
    }
    std::vector<FakeReply> replies = PolicyDump(request, port, TwoPolicies());
    // The receive queue overran after the first policy: the socket reports
    // ENOBUFS once; what was lost is unknown.
    if (++dumps == 1) replies.insert(replies.begin() + 1, {{}, ENOBUFS});
    return replies;
  });
  auto xfrm = OpenOn(kernel);
  ASSERT_NE(xfrm, nullptr);
  auto dumped = xfrm->DumpPolicies();
  ASSERT_TRUE(dumped.ok()) << dumped.status();
  EXPECT_EQ(dumped->size(), 2u);
  EXPECT_EQ(kernel.sockets_opened(), 2);
  EXPECT_EQ(kernel.sockets_open(), 1);
  const absl::Status next = xfrm->AddPolicy(PolicyTo("10.244.3.0/24"));
  EXPECT_TRUE(next.ok()) << next;
}

TEST(NetlinkXfrmRepliesTest, AMalformedReplyFailsTheRequestAndReopens) {
  int writes = 0;
  FakeNetlinkKernel kernel([&writes](const nlmsghdr& request, uint32_t port) {
    std::vector<FakeReply> replies;
    if (++writes == 1) {
      // An NLMSG_ERROR too short to hold its error code, then more.
      replies.push_back({testing::NetlinkMessageBytes(
          NLMSG_ERROR, 0, request.nlmsg_seq, port, {})});
    }
    replies.push_back({ErrorReply(request, port, 0)});
    return replies;
  });
  auto xfrm = OpenOn(kernel);
  ASSERT_NE(xfrm, nullptr);
  const absl::Status first = xfrm->AddPolicy(PolicyTo("10.244.1.0/24"));
  EXPECT_FALSE(first.ok());
  EXPECT_EQ(KernelErrno(first), EBADMSG) << first;
  EXPECT_EQ(kernel.sockets_opened(), 2);
  EXPECT_EQ(kernel.sockets_open(), 1);
  const absl::Status next = xfrm->AddPolicy(PolicyTo("10.244.2.0/24"));
  EXPECT_TRUE(next.ok()) << next;
}

TEST(NetlinkXfrmRepliesTest, AnErrorReplyEchoingTheKeyIsWipedOnReceipt) {
  // Without NETLINK_CAP_ACK the kernel's error reply carries the whole
  // request back, the SA's key included.
  FakeNetlinkKernel kernel([](const nlmsghdr& request, uint32_t port) {
    return std::vector<FakeReply>{
        {ErrorReply(request, port, EEXIST, /*echo_request=*/true)}};
  });
  auto xfrm = OpenOn(kernel);
  ASSERT_NE(xfrm, nullptr);
  XfrmSa sa = ::kmesh::testing::Sa("10.0.0.2", "10.0.0.1", 1);
  sa.aead_key = ::kmesh::testing::KeyOfSize(36, 0xa7);
  const absl::Status s = xfrm->AddSa(sa);
  EXPECT_TRUE(absl::IsAlreadyExists(s)) << s;
  const absl::Span<const uint8_t> received = kernel.last_receive();
  ASSERT_GT(received.size(), 36u);  // The echo did arrive...
  const std::vector<uint8_t> key(36, 0xa7);
  EXPECT_EQ(
      std::search(received.begin(), received.end(), key.begin(), key.end()),
      received.end())
      << "the key is still in the receive buffer";  // ...and is gone.
}

// A datagram larger than the receive buffer arrives truncated (MSG_TRUNC,
// ENOSPC): what did fit, here an SA and its key, is in the buffer all the
// same and is wiped before the socket is reopened. Found by the
// xfrm_netlink fuzz target.
TEST(NetlinkXfrmRepliesTest, ATruncatedDatagramIsWipedToo) {
  XfrmSa sa = ::kmesh::testing::Sa("10.0.0.2", "10.0.0.1", 1);
  sa.aead_key = ::kmesh::testing::KeyOfSize(36, 0xa7);
  FakeNetlinkKernel kernel([&sa](const nlmsghdr& request, uint32_t port) {
    auto msg = EncodeSa(sa, SaWriteMode::kAdd, 0);
    EXPECT_TRUE(msg.ok()) << msg.status();
    std::vector<uint8_t> datagram =
        AsReply(absl::MakeConstSpan(msg->data(), msg->size()), NLM_F_MULTI,
                request.nlmsg_seq, port);
    datagram.resize(64 * 1024);  // Larger than any receive buffer.
    return std::vector<FakeReply>{{datagram}};
  });
  auto xfrm = OpenOn(kernel);
  ASSERT_NE(xfrm, nullptr);
  auto dumped = xfrm->DumpSas();
  EXPECT_EQ(KernelErrno(dumped.status()), ENOSPC) << dumped.status();
  const absl::Span<const uint8_t> received = kernel.last_receive();
  ASSERT_GT(received.size(), 36u);  // Part of it was written...
  const std::vector<uint8_t> key(36, 0xa7);
  EXPECT_EQ(
      std::search(received.begin(), received.end(), key.begin(), key.end()),
      received.end())
      << "the key is still in the receive buffer";  // ...and is gone.
  EXPECT_EQ(kernel.sockets_opened(), 2) << "reopened";
}

// An NLMSG_ERROR whose error is no errno (INT_MIN: negating it overflowed,
// found by fuzzing under UBSan) fails the request as malformed and the next
// one is in step again.
TEST(NetlinkXfrmRepliesTest, AnErrorThatIsNoErrnoIsMalformed) {
  int requests = 0;
  FakeNetlinkKernel kernel([&requests](const nlmsghdr& request, uint32_t port) {
    if (++requests == 1) {
      std::vector<uint8_t> reply = ErrorReply(request, port, 0);
      const int min = std::numeric_limits<int>::min();
      std::memcpy(reply.data() + NLMSG_HDRLEN, &min, sizeof(min));
      return std::vector<FakeReply>{{reply}};
    }
    return InStepKernel()(request, port);
  });
  auto xfrm = OpenOn(kernel);
  ASSERT_NE(xfrm, nullptr);
  const absl::Status s = xfrm->AddPolicy(PolicyTo("10.244.1.0/24"));
  EXPECT_EQ(KernelErrno(s), EBADMSG) << s;
  EXPECT_TRUE(absl::StrContains(s.message(), "no errno")) << s;
  const absl::Status next = xfrm->AddPolicy(PolicyTo("10.244.2.0/24"));
  EXPECT_TRUE(next.ok()) << next;
}

TEST(NetlinkXfrmRepliesTest, AKernelErrorToADumpEndsItInStep) {
  int dumps = 0;
  FakeNetlinkKernel kernel([&dumps](const nlmsghdr& request, uint32_t port) {
    if (IsDump(request) && ++dumps == 1) {
      return std::vector<FakeReply>{{ErrorReply(request, port, EBUSY)}};
    }
    return InStepKernel()(request, port);
  });
  auto xfrm = OpenOn(kernel);
  ASSERT_NE(xfrm, nullptr);
  auto dumped = xfrm->DumpPolicies();
  EXPECT_EQ(KernelErrno(dumped.status()), EBUSY) << dumped.status();
  auto again = xfrm->DumpPolicies();
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->size(), 2u);
  EXPECT_EQ(kernel.sockets_opened(), 1);
}

}  // namespace
}  // namespace kmesh::linux_backend
