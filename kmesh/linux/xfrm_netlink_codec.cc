#include "kmesh/linux/xfrm_netlink_codec.h"

#include <libmnl/libmnl.h>
#include <linux/xfrm.h>
#include <netinet/in.h>
#include <openssl/mem.h>
#include <sys/socket.h>

#include <cstring>

#include "absl/strings/str_cat.h"

namespace kmesh::linux_backend {
namespace {

constexpr uint64_t kInfinite = XFRM_INF;
// The widest window the legacy replay state (xfrm_usersa_info.replay_window,
// a 32-bit bitmap in the kernel) holds.
constexpr uint32_t kLegacyReplayWindowMax = 32;

uint16_t AfOf(IpFamily f) { return f == IpFamily::kV4 ? AF_INET : AF_INET6; }

void PutAddress(const IpAddress& a, xfrm_address_t* out) {
  std::memset(out, 0, sizeof(*out));
  std::memcpy(out, a.bytes().data(), a.byte_length());
}

IpAddress GetAddress(uint16_t af, const xfrm_address_t& in) {
  return IpAddress::FromBytes(af == AF_INET ? IpFamily::kV4 : IpFamily::kV6,
                              reinterpret_cast<const uint8_t*>(&in));
}

absl::Status CheckSelector(const XfrmSelector& sel) {
  if (sel.src.family() != sel.dst.family()) {
    return absl::InvalidArgumentError(
        absl::StrCat("selector mixes address families: ", sel.src.ToString(),
                     " -> ", sel.dst.ToString()));
  }
  return absl::OkStatus();
}

void PutSelector(const XfrmSelector& sel, xfrm_selector* out) {
  std::memset(out, 0, sizeof(*out));
  PutAddress(sel.dst.address(), &out->daddr);
  PutAddress(sel.src.address(), &out->saddr);
  out->family = AfOf(sel.src.family());
  out->prefixlen_d = sel.dst.length();
  out->prefixlen_s = sel.src.length();
  out->proto = sel.proto;
}

XfrmSelector GetSelector(const xfrm_selector& in, uint16_t fallback_af) {
  const uint16_t af = in.family != 0 ? in.family : fallback_af;
  XfrmSelector sel;
  sel.src = IpPrefix(GetAddress(af, in.saddr), in.prefixlen_s);
  sel.dst = IpPrefix(GetAddress(af, in.daddr), in.prefixlen_d);
  sel.proto = in.proto;
  return sel;
}

void SetInfiniteLifetime(xfrm_lifetime_cfg* lft) {
  lft->soft_byte_limit = kInfinite;
  lft->hard_byte_limit = kInfinite;
  lft->soft_packet_limit = kInfinite;
  lft->hard_packet_limit = kInfinite;
}

// Starts a message with its fixed header in a buffer of `capacity` bytes.
nlmsghdr* Start(NetlinkMessage& msg, size_t capacity, uint16_t type,
                uint16_t flags, uint32_t seq) {
  msg.buffer().assign(capacity, 0);
  nlmsghdr* nlh = mnl_nlmsg_put_header(msg.buffer().data());
  nlh->nlmsg_type = type;
  nlh->nlmsg_flags = NLM_F_REQUEST | flags;
  nlh->nlmsg_seq = seq;
  return nlh;
}

}  // namespace

NetlinkMessage::NetlinkMessage() = default;
NetlinkMessage::~NetlinkMessage() {
  if (!buffer_.empty()) OPENSSL_cleanse(buffer_.data(), buffer_.size());
}
NetlinkMessage::NetlinkMessage(NetlinkMessage&& o) noexcept
    : buffer_(std::move(o.buffer_)) {
  o.buffer_.clear();
}
NetlinkMessage& NetlinkMessage::operator=(NetlinkMessage&& o) noexcept {
  if (this != &o) {
    if (!buffer_.empty()) OPENSSL_cleanse(buffer_.data(), buffer_.size());
    buffer_ = std::move(o.buffer_);
    o.buffer_.clear();
  }
  return *this;
}

absl::StatusOr<NetlinkMessage> EncodeSa(const XfrmSa& sa, SaWriteMode mode,
                                        uint32_t seq) {
  if (sa.src.family() != sa.dst.family()) {
    return absl::InvalidArgumentError(
        absl::StrCat("SA ", sa.src.ToString(), " -> ", sa.dst.ToString(),
                     ": source and destination families differ"));
  }
  if (sa.aead_name.size() >= sizeof(xfrm_algo_aead::alg_name)) {
    return absl::InvalidArgumentError("SA: AEAD algorithm name too long");
  }
  const bool has_selector =
      !(sa.selector.src.length() == 0 && sa.selector.dst.length() == 0 &&
        sa.selector.src.address().IsUnspecified() &&
        sa.selector.dst.address().IsUnspecified() && sa.selector.proto == 0);
  if (has_selector) {
    if (auto s = CheckSelector(sa.selector); !s.ok()) return s;
  }

  NetlinkMessage msg;
  nlmsghdr* nlh = Start(
      msg, 1024, mode == SaWriteMode::kAdd ? XFRM_MSG_NEWSA : XFRM_MSG_UPDSA,
      NLM_F_ACK, seq);
  auto* info = static_cast<xfrm_usersa_info*>(
      mnl_nlmsg_put_extra_header(nlh, sizeof(xfrm_usersa_info)));
  if (has_selector) PutSelector(sa.selector, &info->sel);
  PutAddress(sa.dst, &info->id.daddr);
  info->id.spi = htonl(sa.spi);
  info->id.proto = sa.proto;
  PutAddress(sa.src, &info->saddr);
  SetInfiniteLifetime(&info->lft);
  info->reqid = sa.reqid;
  info->family = AfOf(sa.dst.family());
  info->mode = static_cast<uint8_t>(sa.mode);
  // With ESN, or a window wider than the legacy 32-bit bitmap, the window
  // travels in XFRMA_REPLAY_ESN_VAL and the legacy field must be 0, as
  // iproute2 sends it: Linux cuts a legacy window to 32 packets
  // (xfrm_state_construct) without a word, so 64 would silently become 32.
  const bool esn_attr = sa.esn || sa.replay_window > kLegacyReplayWindowMax;
  info->replay_window = esn_attr ? 0 : static_cast<uint8_t>(sa.replay_window);
  if (sa.esn) info->flags |= XFRM_STATE_ESN;

  if (!sa.aead_name.empty()) {
    std::vector<uint8_t> aead(sizeof(xfrm_algo_aead) + sa.aead_key.size(), 0);
    auto* algo = reinterpret_cast<xfrm_algo_aead*>(aead.data());
    std::memcpy(algo->alg_name, sa.aead_name.data(), sa.aead_name.size());
    algo->alg_key_len = sa.aead_key.size() * 8;
    algo->alg_icv_len = sa.icv_bits;
    if (!sa.aead_key.empty()) {
      std::memcpy(algo->alg_key, sa.aead_key.data(), sa.aead_key.size());
    }
    mnl_attr_put(nlh, XFRMA_ALG_AEAD, aead.size(), aead.data());
    OPENSSL_cleanse(aead.data(), aead.size());
  }
  if (esn_attr) {
    xfrm_replay_state_esn esn{};
    esn.replay_window = sa.replay_window;
    esn.bmp_len = (sa.replay_window + 31) / 32;
    mnl_attr_put(nlh, XFRMA_REPLAY_ESN_VAL, sizeof(esn), &esn);
  }
  if (sa.mark.mask != 0 || sa.mark.value != 0) {
    xfrm_mark mark{sa.mark.value, sa.mark.mask};
    mnl_attr_put(nlh, XFRMA_MARK, sizeof(mark), &mark);
  }
  if (sa.output_mark.value != 0 || sa.output_mark.mask != 0) {
    mnl_attr_put_u32(nlh, XFRMA_SET_MARK, sa.output_mark.value);
    mnl_attr_put_u32(nlh, XFRMA_SET_MARK_MASK, sa.output_mark.mask);
  }
  return msg;
}

absl::StatusOr<NetlinkMessage> EncodeDeleteSa(const XfrmSaId& id,
                                              uint32_t seq) {
  NetlinkMessage msg;
  nlmsghdr* nlh = Start(msg, 256, XFRM_MSG_DELSA, NLM_F_ACK, seq);
  auto* sid = static_cast<xfrm_usersa_id*>(
      mnl_nlmsg_put_extra_header(nlh, sizeof(xfrm_usersa_id)));
  PutAddress(id.dst, &sid->daddr);
  sid->spi = htonl(id.spi);
  sid->family = AfOf(id.dst.family());
  sid->proto = id.proto;
  // As iproute2 does: an (unspecified) source address. For ESP the kernel
  // looks the SA up by SPI and ignores it.
  xfrm_address_t any_source{};
  mnl_attr_put(nlh, XFRMA_SRCADDR, sizeof(any_source), &any_source);
  if (id.mark.mask != 0 || id.mark.value != 0) {
    xfrm_mark mark{id.mark.value, id.mark.mask};
    mnl_attr_put(nlh, XFRMA_MARK, sizeof(mark), &mark);
  }
  return msg;
}

absl::StatusOr<NetlinkMessage> EncodePolicy(const XfrmPolicy& policy,
                                            PolicyWriteMode mode,
                                            uint32_t seq) {
  if (auto s = CheckSelector(policy.selector); !s.ok()) return s;
  NetlinkMessage msg;
  nlmsghdr* nlh = Start(
      msg, 512 + policy.templates.size() * sizeof(xfrm_user_tmpl),
      mode == PolicyWriteMode::kAdd ? XFRM_MSG_NEWPOLICY : XFRM_MSG_UPDPOLICY,
      NLM_F_ACK, seq);
  auto* info = static_cast<xfrm_userpolicy_info*>(
      mnl_nlmsg_put_extra_header(nlh, sizeof(xfrm_userpolicy_info)));
  PutSelector(policy.selector, &info->sel);
  SetInfiniteLifetime(&info->lft);
  info->priority = policy.priority;
  info->dir = static_cast<uint8_t>(policy.dir);
  info->action = policy.action == XfrmAction::kBlock ? XFRM_POLICY_BLOCK
                                                     : XFRM_POLICY_ALLOW;
  if (!policy.templates.empty()) {
    std::vector<xfrm_user_tmpl> tmpls(policy.templates.size());
    for (size_t i = 0; i < policy.templates.size(); ++i) {
      const XfrmTemplate& t = policy.templates[i];
      if (t.src.family() != t.dst.family()) {
        return absl::InvalidArgumentError(
            absl::StrCat("policy template ", t.src.ToString(), " -> ",
                         t.dst.ToString(), ": families differ"));
      }
      xfrm_user_tmpl& u = tmpls[i];
      std::memset(&u, 0, sizeof(u));
      PutAddress(t.dst, &u.id.daddr);
      u.id.spi = htonl(t.spi);
      u.id.proto = t.proto;
      u.family = AfOf(t.dst.family());
      PutAddress(t.src, &u.saddr);
      u.reqid = t.reqid;
      u.mode = static_cast<uint8_t>(t.mode);
      u.optional = t.optional ? 1 : 0;
      u.aalgos = u.ealgos = u.calgos = ~0u;
    }
    mnl_attr_put(nlh, XFRMA_TMPL, tmpls.size() * sizeof(xfrm_user_tmpl),
                 tmpls.data());
  }
  if (policy.mark.mask != 0 || policy.mark.value != 0) {
    xfrm_mark mark{policy.mark.value, policy.mark.mask};
    mnl_attr_put(nlh, XFRMA_MARK, sizeof(mark), &mark);
  }
  return msg;
}

absl::StatusOr<NetlinkMessage> EncodeDeletePolicy(const XfrmPolicyId& id,
                                                  uint32_t seq) {
  if (auto s = CheckSelector(id.selector); !s.ok()) return s;
  NetlinkMessage msg;
  nlmsghdr* nlh = Start(msg, 256, XFRM_MSG_DELPOLICY, NLM_F_ACK, seq);
  auto* pid = static_cast<xfrm_userpolicy_id*>(
      mnl_nlmsg_put_extra_header(nlh, sizeof(xfrm_userpolicy_id)));
  PutSelector(id.selector, &pid->sel);
  pid->dir = static_cast<uint8_t>(id.dir);
  if (id.mark.mask != 0 || id.mark.value != 0) {
    xfrm_mark mark{id.mark.value, id.mark.mask};
    mnl_attr_put(nlh, XFRMA_MARK, sizeof(mark), &mark);
  }
  return msg;
}

NetlinkMessage EncodeDumpSas(uint32_t seq) {
  NetlinkMessage msg;
  nlmsghdr* nlh = Start(msg, 256, XFRM_MSG_GETSA, NLM_F_DUMP, seq);
  mnl_nlmsg_put_extra_header(nlh, sizeof(xfrm_usersa_id));
  return msg;
}

NetlinkMessage EncodeDumpPolicies(uint32_t seq) {
  NetlinkMessage msg;
  nlmsghdr* nlh = Start(msg, 256, XFRM_MSG_GETPOLICY, NLM_F_DUMP, seq);
  mnl_nlmsg_put_extra_header(nlh, sizeof(xfrm_userpolicy_id));
  return msg;
}

namespace {

struct AttrTable {
  const nlattr* attrs[XFRMA_MAX + 1] = {};
};

int CollectAttr(const nlattr* attr, void* data) {
  auto* table = static_cast<AttrTable*>(data);
  const uint16_t type = mnl_attr_get_type(attr);
  if (type <= XFRMA_MAX) table->attrs[type] = attr;
  return MNL_CB_OK;
}

}  // namespace

absl::StatusOr<XfrmSa> DecodeSa(const nlmsghdr* msg) {
  if (msg->nlmsg_type != XFRM_MSG_NEWSA ||
      msg->nlmsg_len < NLMSG_LENGTH(sizeof(xfrm_usersa_info))) {
    return absl::InvalidArgumentError("not an XFRM SA message");
  }
  // Netlink aligns messages to 4 bytes only, and the struct holds 64-bit
  // fields: the second message of a dump may not be 8-byte aligned, so the
  // header is copied out rather than read in place.
  xfrm_usersa_info info_copy;
  std::memcpy(&info_copy, mnl_nlmsg_get_payload(msg), sizeof(info_copy));
  const xfrm_usersa_info* info = &info_copy;
  XfrmSa sa;
  sa.dst = GetAddress(info->family, info->id.daddr);
  sa.src = GetAddress(info->family, info->saddr);
  sa.spi = ntohl(info->id.spi);
  sa.proto = info->id.proto;
  sa.mode =
      info->mode == XFRM_MODE_TUNNEL ? XfrmMode::kTunnel : XfrmMode::kTransport;
  sa.reqid = info->reqid;
  sa.replay_window = info->replay_window;
  sa.esn = (info->flags & XFRM_STATE_ESN) != 0;
  sa.selector = GetSelector(info->sel, info->family);
  sa.aead_name.clear();
  sa.icv_bits = 0;

  AttrTable table;
  mnl_attr_parse(msg, sizeof(xfrm_usersa_info), CollectAttr, &table);
  if (const nlattr* a = table.attrs[XFRMA_ALG_AEAD];
      a && mnl_attr_get_payload_len(a) >= sizeof(xfrm_algo_aead)) {
    const auto* algo =
        static_cast<const xfrm_algo_aead*>(mnl_attr_get_payload(a));
    sa.aead_name.assign(algo->alg_name,
                        strnlen(algo->alg_name, sizeof(algo->alg_name)));
    sa.icv_bits = algo->alg_icv_len;
    const size_t key_bytes = algo->alg_key_len / 8;
    if (sizeof(xfrm_algo_aead) + key_bytes <= mnl_attr_get_payload_len(a)) {
      sa.aead_key =
          XfrmKey(reinterpret_cast<const uint8_t*>(algo->alg_key), key_bytes);
    }
  }
  // The kernel's counters: curlft in the fixed header, the output sequence
  // number in whichever replay state the SA has (XFRMA_REPLAY_ESN_VAL for
  // ESN or large windows, XFRMA_REPLAY_VAL otherwise).
  sa.counters.packets = info->curlft.packets;
  sa.counters.bytes = info->curlft.bytes;
  if (const nlattr* a = table.attrs[XFRMA_REPLAY_VAL];
      a && mnl_attr_get_payload_len(a) >= sizeof(xfrm_replay_state)) {
    const auto* replay =
        static_cast<const xfrm_replay_state*>(mnl_attr_get_payload(a));
    sa.counters.output_seq = replay->oseq;
  }
  if (const nlattr* a = table.attrs[XFRMA_REPLAY_ESN_VAL];
      a && mnl_attr_get_payload_len(a) >= sizeof(xfrm_replay_state_esn)) {
    const auto* esn =
        static_cast<const xfrm_replay_state_esn*>(mnl_attr_get_payload(a));
    sa.replay_window = esn->replay_window;
    sa.counters.output_seq = (uint64_t{esn->oseq_hi} << 32) | esn->oseq;
  }
  if (const nlattr* a = table.attrs[XFRMA_MARK];
      a && mnl_attr_get_payload_len(a) >= sizeof(xfrm_mark)) {
    const auto* m = static_cast<const xfrm_mark*>(mnl_attr_get_payload(a));
    sa.mark = XfrmMark{m->v, m->m};
  }
  if (const nlattr* a = table.attrs[XFRMA_SET_MARK]) {
    sa.output_mark.value = mnl_attr_get_u32(a);
    sa.output_mark.mask = 0xffffffff;
  }
  if (const nlattr* a = table.attrs[XFRMA_SET_MARK_MASK]) {
    sa.output_mark.mask = mnl_attr_get_u32(a);
  }
  return sa;
}

absl::StatusOr<XfrmPolicy> DecodePolicy(const nlmsghdr* msg) {
  if (msg->nlmsg_type != XFRM_MSG_NEWPOLICY ||
      msg->nlmsg_len < NLMSG_LENGTH(sizeof(xfrm_userpolicy_info))) {
    return absl::InvalidArgumentError("not an XFRM policy message");
  }
  // Copied out, as in DecodeSa: 64-bit fields, 4-byte aligned messages.
  xfrm_userpolicy_info info_copy;
  std::memcpy(&info_copy, mnl_nlmsg_get_payload(msg), sizeof(info_copy));
  const xfrm_userpolicy_info* info = &info_copy;
  XfrmPolicy p;
  p.selector = GetSelector(info->sel, AF_INET);
  p.priority = info->priority;
  switch (info->dir) {
    case XFRM_POLICY_IN:
      p.dir = XfrmDir::kIn;
      break;
    case XFRM_POLICY_OUT:
      p.dir = XfrmDir::kOut;
      break;
    case XFRM_POLICY_FWD:
      p.dir = XfrmDir::kFwd;
      break;
    default:
      return absl::InvalidArgumentError(
          absl::StrCat("policy with unknown direction ", info->dir));
  }
  p.action = info->action == XFRM_POLICY_BLOCK ? XfrmAction::kBlock
                                               : XfrmAction::kAllow;
  AttrTable table;
  mnl_attr_parse(msg, sizeof(xfrm_userpolicy_info), CollectAttr, &table);
  if (const nlattr* a = table.attrs[XFRMA_TMPL]) {
    const size_t n = mnl_attr_get_payload_len(a) / sizeof(xfrm_user_tmpl);
    const auto* u = static_cast<const xfrm_user_tmpl*>(mnl_attr_get_payload(a));
    for (size_t i = 0; i < n; ++i) {
      XfrmTemplate t;
      t.dst = GetAddress(u[i].family, u[i].id.daddr);
      t.src = GetAddress(u[i].family, u[i].saddr);
      t.spi = ntohl(u[i].id.spi);
      t.proto = u[i].id.proto;
      t.reqid = u[i].reqid;
      t.mode = u[i].mode == XFRM_MODE_TUNNEL ? XfrmMode::kTunnel
                                             : XfrmMode::kTransport;
      t.optional = u[i].optional != 0;
      p.templates.push_back(t);
    }
  }
  if (const nlattr* a = table.attrs[XFRMA_MARK];
      a && mnl_attr_get_payload_len(a) >= sizeof(xfrm_mark)) {
    const auto* m = static_cast<const xfrm_mark*>(mnl_attr_get_payload(a));
    p.mark = XfrmMark{m->v, m->m};
  }
  return p;
}

}  // namespace kmesh::linux_backend
