#include "sim/kernel/xfrm/xfrm_format.h"

#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace kmesh {
namespace sim {
namespace {

constexpr uint8_t kIpProtoIcmp = 1;
constexpr uint8_t kIpProtoTcp = 6;
constexpr uint8_t kIpProtoUdp = 17;
constexpr uint8_t kIpProtoAh = 51;
constexpr uint8_t kIpProtoIcmpV6 = 58;
constexpr uint8_t kIpProtoComp = 108;

const char* ModeName(XfrmMode mode) {
  switch (mode) {
    case XfrmMode::kTransport:
      return "transport";
    case XfrmMode::kTunnel:
      return "tunnel";
  }
  return "?";
}

// " proto tcp" for a selector that names a protocol, "" for any.
std::string SelectorProtoText(const XfrmSelector& selector) {
  return selector.proto == kIpProtoAny
             ? ""
             : absl::StrCat(" proto ", ProtoName(selector.proto));
}

}  // namespace

std::string ProtoName(uint8_t proto) {
  switch (proto) {
    case kIpProtoEsp:
      return "esp";
    case kIpProtoAh:
      return "ah";
    case kIpProtoComp:
      return "comp";
    case kIpProtoTcp:
      return "tcp";
    case kIpProtoUdp:
      return "udp";
    case kIpProtoIcmp:
      return "icmp";
    case kIpProtoIcmpV6:
      return "ipv6-icmp";
  }
  return absl::StrCat(proto);
}

std::string MarkText(const XfrmMark& mark) {
  return absl::StrFormat("0x%x/0x%x", mark.value, mark.mask);
}

std::string SaIdText(const IpAddress& dst, uint32_t spi, uint8_t proto,
                     const XfrmMark& mark) {
  return absl::StrFormat("dst %s spi 0x%08x proto %s mark %s", dst.ToString(),
                         spi, ProtoName(proto), MarkText(mark));
}

std::string PolicyIdText(const XfrmPolicyId& id) {
  return absl::StrFormat("dir %s src %s dst %s%s mark %s", XfrmDirName(id.dir),
                         id.selector.src.ToString(), id.selector.dst.ToString(),
                         SelectorProtoText(id.selector), MarkText(id.mark));
}

std::string FormatIpXfrmState(const XfrmSa& sa, const ReplayWindow& replay,
                              uint64_t output_seq) {
  std::string out;
  // iproute2 sends windows up to 32 without ESN in the legacy field and
  // everything else as a bitmap (XFRMA_REPLAY_ESN_VAL).
  const bool legacy = !sa.esn && sa.replay_window <= 32;
  absl::StrAppendFormat(&out, "src %s dst %s\n", sa.src.ToString(),
                        sa.dst.ToString());
  absl::StrAppendFormat(&out, "\tproto %s spi 0x%08x reqid %u mode %s\n",
                        ProtoName(sa.proto), sa.spi, sa.reqid,
                        ModeName(sa.mode));
  absl::StrAppendFormat(&out, "\treplay-window %u%s\n",
                        legacy ? sa.replay_window : 0,
                        sa.esn ? " flag esn" : "");
  if (sa.mark.value != 0 || sa.mark.mask != 0) {
    absl::StrAppend(&out, "\tmark ", MarkText(sa.mark), "\n");
  }
  if (sa.output_mark.value != 0 || sa.output_mark.mask != 0) {
    absl::StrAppend(&out, "\toutput-mark ", MarkText(sa.output_mark), "\n");
  }
  absl::StrAppendFormat(&out, "\taead %s <hidden> %u\n", sa.aead_name,
                        sa.icv_bits);
  const uint64_t top = replay.top();
  if (legacy) {
    uint32_t bitmap = 0;
    for (uint32_t d = 0; d < sa.replay_window && d < top; ++d) {
      if (replay.WasReceived(top - d)) bitmap |= 1u << d;
    }
    absl::StrAppendFormat(
        &out, "\tanti-replay context: seq 0x%x, oseq 0x%x, bitmap 0x%08x\n",
        static_cast<uint32_t>(top), static_cast<uint32_t>(output_seq), bitmap);
  } else {
    const std::vector<uint32_t>& words = replay.bitmap_words();
    absl::StrAppendFormat(
        &out,
        "\tanti-replay esn context:\n\t seq-hi 0x%x, seq 0x%x, oseq-hi "
        "0x%x, oseq 0x%x\n\t replay_window %u, bitmap-length %u\n",
        static_cast<uint32_t>(top >> 32), static_cast<uint32_t>(top),
        static_cast<uint32_t>(output_seq >> 32),
        static_cast<uint32_t>(output_seq), sa.replay_window,
        static_cast<uint32_t>(words.size()));
    for (size_t i = 0; i < words.size(); ++i) {
      absl::StrAppendFormat(&out, "%s%08x", i % 8 == 0 ? "\t " : " ", words[i]);
      if (i % 8 == 7 || i + 1 == words.size()) out += "\n";
    }
  }
  absl::StrAppendFormat(&out, "\tsel src %s dst %s%s\n",
                        sa.selector.src.ToString(), sa.selector.dst.ToString(),
                        SelectorProtoText(sa.selector));
  return out;
}

std::string FormatIpXfrmPolicy(const XfrmPolicy& policy) {
  std::string out;
  absl::StrAppendFormat(
      &out, "src %s dst %s%s\n", policy.selector.src.ToString(),
      policy.selector.dst.ToString(), SelectorProtoText(policy.selector));
  absl::StrAppendFormat(
      &out, "\tdir %s%s priority %u ptype main\n", XfrmDirName(policy.dir),
      policy.action == XfrmAction::kBlock ? " action block" : "",
      policy.priority);
  if (policy.mark.value != 0 || policy.mark.mask != 0) {
    absl::StrAppend(&out, "\tmark ", MarkText(policy.mark), "\n");
  }
  for (const XfrmTemplate& t : policy.templates) {
    absl::StrAppendFormat(&out, "\ttmpl src %s dst %s\n", t.src.ToString(),
                          t.dst.ToString());
    absl::StrAppendFormat(&out, "\t\tproto %s", ProtoName(t.proto));
    if (t.spi != 0) absl::StrAppendFormat(&out, " spi 0x%08x", t.spi);
    absl::StrAppendFormat(&out, " reqid %u mode %s\n", t.reqid,
                          ModeName(t.mode));
    if (t.optional) out += "\t\tlevel use\n";
  }
  return out;
}

}  // namespace sim
}  // namespace kmesh
