// Checks the netlink requests we build against the ones iproute2 sends for
// the same SA or policy. iproute2's request is captured live with strace; when
// running as root the `ip` command runs in a fresh network namespace
// (unshare --net), so nothing on the host changes even where the kernel
// accepts it. The fixed structures must be equal byte for byte, and so must
// every attribute.
#include "kmesh/linux/xfrm_netlink_codec.h"

#include <libmnl/libmnl.h>
#include <linux/xfrm.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "gtest/gtest.h"
#include "kmesh/base/testing/shell_command.h"
#include "kmesh/base/testing/test_directory.h"
#include "kmesh/kernel/testing/xfrm_objects.h"

namespace kmesh::linux_backend {
namespace {

struct Captured {
  std::string type;   // e.g. XFRM_MSG_NEWSA
  std::string flags;  // e.g. NLM_F_REQUEST|NLM_F_ACK
  std::vector<uint8_t> payload;
};

using ::kmesh::testing::HaveTool;

// Runs `ip <args>` under strace and returns the first XFRM request it sent.
bool CaptureIproute(const std::string& args, Captured* out) {
  absl::StatusOr<std::string> dir =
      ::kmesh::testing::MakeTestDirectory("strace");
  if (!dir.ok()) return false;
  const std::string log = *dir + "/trace";
  const std::string prefix = geteuid() == 0 ? "unshare --net " : "";
  const std::string cmd =
      absl::StrCat(prefix, "strace -f -e trace=sendmsg -xx -s 65536 -o ", log,
                   " ip ", args, " >/dev/null 2>&1");
  // `ip` itself may fail (its exit status is ignored); only the request
  // it sent matters, and a missing trace is reported below.
  [[maybe_unused]] const int ip_status = std::system(cmd.c_str());
  std::ifstream in(log);
  std::string line;
  bool found = false;
  while (std::getline(in, line)) {
    const size_t t = line.find("nlmsg_type=XFRM_MSG_");
    if (t == std::string::npos) continue;
    out->type = line.substr(t + 11, line.find(',', t) - (t + 11));
    const size_t f = line.find("nlmsg_flags=");
    out->flags = line.substr(f + 12, line.find(',', f) - (f + 12));
    const size_t start = line.find("}, \"", t);
    const size_t end = line.find("\"]", start);
    const std::string hex = line.substr(start + 4, end - (start + 4));
    for (size_t i = 0; i + 3 < hex.size() + 1; i += 4) {
      out->payload.push_back(
          static_cast<uint8_t>(std::stoi(hex.substr(i + 2, 2), nullptr, 16)));
    }
    found = true;
    break;
  }
  std::filesystem::remove_all(*dir);
  return found;
}

// Splits a payload into its fixed part and attributes (type -> bytes).
std::map<int, std::vector<uint8_t>> Attributes(const std::vector<uint8_t>& p,
                                               size_t fixed) {
  std::map<int, std::vector<uint8_t>> attrs;
  size_t off = NLMSG_ALIGN(fixed);
  while (off + 4 <= p.size()) {
    const uint16_t len = p[off] | (p[off + 1] << 8);
    const uint16_t type = p[off + 2] | (p[off + 3] << 8);
    if (len < 4 || off + len > p.size()) break;
    attrs[type] =
        std::vector<uint8_t>(p.begin() + off + 4, p.begin() + off + len);
    off += NLMSG_ALIGN(len);
  }
  return attrs;
}

std::vector<uint8_t> Payload(const NetlinkMessage& msg) {
  return std::vector<uint8_t>(msg.data() + NLMSG_HDRLEN,
                              msg.data() + msg.size());
}

class XfrmNetlinkCodecTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!HaveTool("strace") || !HaveTool("ip")) {
      GTEST_SKIP() << "strace and iproute2 are needed to capture ip's request";
    }
  }

  // Compares our request with iproute2's for the same object.
  void ExpectSameAsIproute(const NetlinkMessage& ours, size_t fixed,
                           const std::string& ip_args,
                           const std::string& type) {
    Captured theirs;
    ASSERT_TRUE(CaptureIproute(ip_args, &theirs))
        << "no request from: ip " << ip_args;
    EXPECT_EQ(theirs.type, type);
    EXPECT_EQ(theirs.flags, "NLM_F_REQUEST|NLM_F_ACK");
    EXPECT_EQ(ours.header()->nlmsg_flags, NLM_F_REQUEST | NLM_F_ACK);
    const std::vector<uint8_t> mine = Payload(ours);
    ASSERT_GE(mine.size(), fixed);
    ASSERT_GE(theirs.payload.size(), fixed);
    EXPECT_TRUE(
        std::equal(mine.begin(), mine.begin() + fixed, theirs.payload.begin()))
        << "fixed " << fixed << "-byte header differs";
    auto a = Attributes(mine, fixed);
    auto b = Attributes(theirs.payload, fixed);
    std::vector<int> a_types, b_types;
    for (auto& [t, _] : a) a_types.push_back(t);
    for (auto& [t, _] : b) b_types.push_back(t);
    EXPECT_EQ(absl::StrJoin(a_types, ","), absl::StrJoin(b_types, ","));
    for (auto& [t, bytes] : b) {
      EXPECT_EQ(a[t], bytes) << "attribute " << t << " differs";
    }
    EXPECT_EQ(mine.size(), theirs.payload.size());
  }
};

using ::kmesh::testing::kDecrypted;
using ::kmesh::testing::kEncrypt;
using ::kmesh::testing::Policy;
using ::kmesh::testing::Tmpl;

XfrmSa InboundSa() {
  XfrmSa sa = ::kmesh::testing::Sa("10.0.0.2", "10.0.0.1", 1);
  sa.reqid = 7;
  sa.aead_key = ::kmesh::testing::KeyOfSize(36, 0xaa);
  sa.mark = XfrmMark{0x10d0, 0xffff00ff};
  sa.output_mark = XfrmMark{0xd0, 0xffffffff};
  sa.replay_window = 1024;
  sa.esn = true;
  sa.selector.src = IpPrefix::Any(IpFamily::kV4);
  sa.selector.dst = IpPrefix::Any(IpFamily::kV4);
  return sa;
}

const char kKeyHex[] =
    "0xaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
    "aa";

TEST_F(XfrmNetlinkCodecTest, NewSaMatchesIproute) {
  auto msg = EncodeSa(InboundSa(), SaWriteMode::kAdd, 1);
  ASSERT_TRUE(msg.ok()) << msg.status();
  ExpectSameAsIproute(
      *msg, sizeof(xfrm_usersa_info),
      absl::StrCat("xfrm state add src 10.0.0.2 dst 10.0.0.1 proto esp spi "
                   "0x1 reqid 7 mode tunnel aead 'rfc4106(gcm(aes))' ",
                   kKeyHex,
                   " 128 mark 0x10d0 mask 0xffff00ff output-mark 0xd0 mask "
                   "0xffffffff replay-window 1024 flag esn"),
      "XFRM_MSG_NEWSA");
}

TEST_F(XfrmNetlinkCodecTest, UpdateSaIpv6WithoutMarksMatchesIproute) {
  XfrmSa sa = InboundSa();
  sa.src = *IpAddress::Parse("fd00::2");
  sa.dst = *IpAddress::Parse("fd00::1");
  sa.selector = XfrmSelector{IpPrefix::Any(IpFamily::kV6),
                             IpPrefix::Any(IpFamily::kV6), 0};
  sa.mark = XfrmMark{};
  sa.output_mark = XfrmMark{};
  sa.esn = false;
  sa.replay_window = 0;
  sa.spi = 0x2000;
  auto msg = EncodeSa(sa, SaWriteMode::kUpdate, 1);
  ASSERT_TRUE(msg.ok()) << msg.status();
  ExpectSameAsIproute(
      *msg, sizeof(xfrm_usersa_info),
      absl::StrCat("xfrm state update src fd00::2 dst fd00::1 proto esp spi "
                   "0x2000 reqid 7 mode tunnel aead 'rfc4106(gcm(aes))' ",
                   kKeyHex, " 128"),
      "XFRM_MSG_UPDSA");
}

// A window wider than 32 without ESN travels as iproute2 sends it, in
// XFRMA_REPLAY_ESN_VAL: in the legacy field Linux would cut it to 32 (found
// by //e2e/vm:xfrm_differential_vm_test: the kernel dumped 32 for 64 and 128).
TEST_F(XfrmNetlinkCodecTest, AReplayWindowWiderThan32TravelsAsIprouteSendsIt) {
  for (uint32_t window : {33u, 64u, 128u, 255u}) {
    XfrmSa sa = InboundSa();
    sa.esn = false;
    sa.replay_window = window;
    auto msg = EncodeSa(sa, SaWriteMode::kAdd, 1);
    ASSERT_TRUE(msg.ok()) << msg.status();
    ExpectSameAsIproute(
        *msg, sizeof(xfrm_usersa_info),
        absl::StrCat("xfrm state add src 10.0.0.2 dst 10.0.0.1 proto esp spi "
                     "0x1 reqid 7 mode tunnel aead 'rfc4106(gcm(aes))' ",
                     kKeyHex,
                     " 128 mark 0x10d0 mask 0xffff00ff output-mark 0xd0 mask "
                     "0xffffffff replay-window ",
                     window),
        "XFRM_MSG_NEWSA");
  }
}

TEST_F(XfrmNetlinkCodecTest, OutPolicyWithTemplateMatchesIproute) {
  const XfrmPolicy p =
      Policy(XfrmDir::kOut, "0.0.0.0/0", "10.244.2.0/24", kEncrypt, 100,
             {Tmpl("10.0.0.1", "10.0.0.2", 7, 1)});
  auto msg = EncodePolicy(p, PolicyWriteMode::kAdd, 1);
  ASSERT_TRUE(msg.ok()) << msg.status();
  ExpectSameAsIproute(
      *msg, sizeof(xfrm_userpolicy_info),
      "xfrm policy add src 0.0.0.0/0 dst 10.244.2.0/24 dir out priority 100 "
      "mark 0xe0 mask 0xffffffff tmpl src 10.0.0.1 dst 10.0.0.2 proto esp spi "
      "0x1 reqid 7 mode tunnel",
      "XFRM_MSG_NEWPOLICY");
}

TEST_F(XfrmNetlinkCodecTest, BlockPolicyIpv6MatchesIproute) {
  const XfrmPolicy p =
      ::kmesh::testing::BlockPolicy(IpFamily::kV6, kEncrypt, 4000);
  auto msg = EncodePolicy(p, PolicyWriteMode::kUpdate, 1);
  ASSERT_TRUE(msg.ok()) << msg.status();
  ExpectSameAsIproute(*msg, sizeof(xfrm_userpolicy_info),
                      "xfrm policy update src ::/0 dst ::/0 dir out priority "
                      "4000 action block mark 0xe0 mask 0xffffffff",
                      "XFRM_MSG_UPDPOLICY");
}

TEST_F(XfrmNetlinkCodecTest, InPolicyAndDeletesMatchIproute) {
  const XfrmPolicy p =
      Policy(XfrmDir::kFwd, "10.244.2.0/24", "10.244.1.0/24", kDecrypted, 100,
             {Tmpl("10.0.0.2", "10.0.0.1", 7)});
  auto add = EncodePolicy(p, PolicyWriteMode::kAdd, 1);
  ASSERT_TRUE(add.ok());
  ExpectSameAsIproute(
      *add, sizeof(xfrm_userpolicy_info),
      "xfrm policy add src 10.244.2.0/24 dst 10.244.1.0/24 dir fwd priority "
      "100 mark 0xd0 mask 0xffffffff tmpl src 10.0.0.2 dst 10.0.0.1 proto esp "
      "reqid 7 mode tunnel",
      "XFRM_MSG_NEWPOLICY");
  auto del = EncodeDeletePolicy(p.id(), 2);
  ASSERT_TRUE(del.ok());
  ExpectSameAsIproute(*del, sizeof(xfrm_userpolicy_id),
                      "xfrm policy delete src 10.244.2.0/24 dst 10.244.1.0/24 "
                      "dir fwd mark 0xd0 mask 0xffffffff",
                      "XFRM_MSG_DELPOLICY");
  XfrmSaId id{*IpAddress::Parse("10.0.0.1"), 1, kIpProtoEsp,
              XfrmMark{0x10d0, 0xffff00ff}};
  auto del_sa = EncodeDeleteSa(id, 3);
  ASSERT_TRUE(del_sa.ok());
  ExpectSameAsIproute(*del_sa, sizeof(xfrm_usersa_id),
                      "xfrm state delete dst 10.0.0.1 proto esp spi 0x1 mark "
                      "0x10d0 mask 0xffff00ff",
                      "XFRM_MSG_DELSA");
}

TEST(XfrmNetlinkDecodeTest, SaRoundTripsThroughTheCodec) {
  XfrmSa sa = InboundSa();
  auto msg = EncodeSa(sa, SaWriteMode::kAdd, 1);
  ASSERT_TRUE(msg.ok());
  // A dump reply has the same layout as a NEWSA request.
  auto decoded = DecodeSa(msg->header());
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  EXPECT_EQ(decoded->src, sa.src);
  EXPECT_EQ(decoded->dst, sa.dst);
  EXPECT_EQ(decoded->spi, 1u);
  EXPECT_EQ(decoded->reqid, 7u);
  EXPECT_EQ(decoded->aead_name, "rfc4106(gcm(aes))");
  EXPECT_TRUE(decoded->aead_key == sa.aead_key);
  EXPECT_EQ(decoded->icv_bits, 128u);
  EXPECT_EQ(decoded->mark, sa.mark);
  EXPECT_EQ(decoded->output_mark, sa.output_mark);
  EXPECT_EQ(decoded->replay_window, 1024u);
  EXPECT_TRUE(decoded->esn);
  // A request carries no counters; a fresh SA has none.
  EXPECT_EQ(decoded->counters.output_seq, 0u);
  EXPECT_EQ(decoded->counters.packets, 0u);
  EXPECT_EQ(decoded->counters.bytes, 0u);
}

// A dump reply for an SA that has carried traffic: the request's layout with
// the kernel's curlft in the fixed header and its replay state appended as
// copy_to_user_state_extra appends it.
NetlinkMessage DumpReplyWithCounters(const XfrmSa& sa, uint64_t packets,
                                     uint64_t bytes) {
  auto msg = EncodeSa(sa, SaWriteMode::kAdd, 1);
  EXPECT_TRUE(msg.ok()) << msg.status();
  auto* info =
      static_cast<xfrm_usersa_info*>(mnl_nlmsg_get_payload(msg->header()));
  info->curlft.packets = packets;
  info->curlft.bytes = bytes;
  return *std::move(msg);
}

TEST(XfrmNetlinkDecodeTest, CountersComeFromCurlftAndTheLegacyReplayState) {
  XfrmSa sa = InboundSa();
  sa.esn = false;
  sa.replay_window = 32;  // Legacy field: no XFRMA_REPLAY_ESN_VAL.
  NetlinkMessage msg = DumpReplyWithCounters(sa, 3, 252);
  xfrm_replay_state replay{};
  replay.oseq = 3;
  replay.seq = 9;  // Inbound side: not the output sequence number.
  replay.bitmap = 0x7;
  mnl_attr_put(msg.header(), XFRMA_REPLAY_VAL, sizeof(replay), &replay);
  auto decoded = DecodeSa(msg.header());
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  EXPECT_EQ(decoded->counters.output_seq, 3u);
  EXPECT_EQ(decoded->counters.packets, 3u);
  EXPECT_EQ(decoded->counters.bytes, 252u);
  EXPECT_EQ(decoded->replay_window, 32u);
  EXPECT_FALSE(decoded->esn);
}

TEST(XfrmNetlinkDecodeTest, EsnOutputSequenceNumberJoinsItsHighAndLowHalves) {
  XfrmSa sa = InboundSa();
  sa.esn = false;
  sa.replay_window = 32;
  NetlinkMessage msg = DumpReplyWithCounters(sa, 5, 1 << 20);
  auto* info =
      static_cast<xfrm_usersa_info*>(mnl_nlmsg_get_payload(msg.header()));
  info->flags |= XFRM_STATE_ESN;
  info->replay_window = 0;
  // The kernel sends the bitmap words after the structure.
  constexpr uint32_t kWindow = 1024;
  std::vector<uint8_t> esn_attr(
      sizeof(xfrm_replay_state_esn) + kWindow / 32 * sizeof(uint32_t), 0);
  auto* esn = reinterpret_cast<xfrm_replay_state_esn*>(esn_attr.data());
  esn->bmp_len = kWindow / 32;
  esn->replay_window = kWindow;
  esn->oseq_hi = 1;
  esn->oseq = 2;
  esn->seq_hi = 7;
  esn->seq = 8;
  mnl_attr_put(msg.header(), XFRMA_REPLAY_ESN_VAL, esn_attr.size(),
               esn_attr.data());
  auto decoded = DecodeSa(msg.header());
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  EXPECT_EQ(decoded->counters.output_seq, 0x100000002ull);
  EXPECT_EQ(decoded->counters.packets, 5u);
  EXPECT_EQ(decoded->counters.bytes, 1u << 20);
  EXPECT_EQ(decoded->replay_window, kWindow);
  EXPECT_TRUE(decoded->esn);
}

TEST(XfrmNetlinkDecodeTest, EncodingIgnoresCounters) {
  XfrmSa sa = InboundSa();
  auto plain = EncodeSa(sa, SaWriteMode::kAdd, 1);
  sa.counters.output_seq = 9;
  sa.counters.packets = 9;
  sa.counters.bytes = 900;
  auto with_counters = EncodeSa(sa, SaWriteMode::kUpdate, 1);
  ASSERT_TRUE(plain.ok() && with_counters.ok());
  with_counters->header()->nlmsg_type = plain->header()->nlmsg_type;
  EXPECT_EQ(Payload(*plain), Payload(*with_counters));
}

TEST(XfrmNetlinkDecodeTest, RejectsWrongMessagesAndMixedFamilies) {
  XfrmPolicy p;
  p.selector = XfrmSelector{IpPrefix::Any(IpFamily::kV4),
                            IpPrefix::Any(IpFamily::kV6), 0};
  EXPECT_FALSE(EncodePolicy(p, PolicyWriteMode::kAdd, 1).ok());
  XfrmSa sa = InboundSa();
  sa.dst = *IpAddress::Parse("fd00::1");
  EXPECT_FALSE(EncodeSa(sa, SaWriteMode::kAdd, 1).ok());
  auto dump = EncodeDumpSas(1);
  EXPECT_FALSE(DecodeSa(dump.header()).ok());
  EXPECT_FALSE(DecodePolicy(dump.header()).ok());
}

}  // namespace
}  // namespace kmesh::linux_backend
