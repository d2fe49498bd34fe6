#include "kmesh/ipsec/xfrm_layout.h"

#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "kmesh/ipsec/key_deriver.h"

namespace kmesh::ipsec {
namespace {

bool IsAny(const IpPrefix& prefix) { return prefix.length() == 0; }

XfrmSelector AnySelector(IpFamily family) {
  XfrmSelector selector;
  selector.src = IpPrefix::Any(family);
  selector.dst = IpPrefix::Any(family);
  return selector;
}

XfrmTemplate EspTunnel(const IpAddress& src, const IpAddress& dst,
                       uint32_t spi) {
  XfrmTemplate t;
  t.src = src;
  t.dst = dst;
  t.proto = kIpProtoEsp;
  t.mode = XfrmMode::kTunnel;
  t.reqid = kKmeshReqid;
  t.spi = spi;
  return t;
}

// The first address of each family, in published order.
struct FamilyAddress {
  std::string text;
  IpAddress address;
};

absl::Status FirstAddresses(const NodeView& node, const char* role,
                            std::optional<FamilyAddress>* v4,
                            std::optional<FamilyAddress>* v6) {
  for (const std::string& text : node.addresses) {
    absl::StatusOr<IpAddress> address = IpAddress::Parse(text);
    if (!address.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat(role, " node ", node.name, ": address \"", text,
                       "\" does not parse: ", address.status().message()));
    }
    std::optional<FamilyAddress>* slot = address->is_v4() ? v4 : v6;
    if (!slot->has_value()) *slot = FamilyAddress{text, *address};
  }
  return absl::OkStatus();
}

std::string MarkString(const XfrmMark& mark) {
  return absl::StrFormat("0x%x/0x%x", mark.value, mark.mask);
}

const XfrmSa* FindAdopted(const std::vector<XfrmSa>* adopted,
                          const XfrmSa& wanted) {
  if (adopted == nullptr) return nullptr;
  for (const XfrmSa& sa : *adopted) {
    if (sa.src == wanted.src && sa.dst == wanted.dst && sa.spi == wanted.spi &&
        sa.proto == wanted.proto && sa.mark == wanted.mark) {
      return &sa;
    }
  }
  return nullptr;
}

// Builds the SA `sa` (all fields but the key set) with the key derived from
// the PSK for `spi`, or from an adopted copy. Returns false when neither is
// available; an error when the derivation rejects its inputs.
absl::StatusOr<bool> FillKey(const PeerLayoutInput& input, int32_t spi,
                             const std::string& src_text,
                             const std::string& dst_text,
                             const std::string& src_boot,
                             const std::string& dst_boot, XfrmSa* sa) {
  if (const XfrmKey* psk = input.keys->Find(spi); psk != nullptr) {
    absl::StatusOr<XfrmKey> key =
        DerivePairKey(*psk, src_text, dst_text, src_boot, dst_boot);
    if (!key.ok()) return key.status();
    sa->aead_key = *std::move(key);
    return true;
  }
  if (const XfrmSa* adopted = FindAdopted(input.adopted_sas, *sa)) {
    sa->aead_key = adopted->aead_key;
    return true;
  }
  return false;
}

XfrmSa BaseSa(const IpAddress& src, const IpAddress& dst, int32_t spi,
              const XfrmMark& mark) {
  XfrmSa sa;
  sa.src = src;
  sa.dst = dst;
  sa.spi = static_cast<uint32_t>(spi);
  sa.proto = kIpProtoEsp;
  sa.mode = XfrmMode::kTunnel;
  sa.reqid = kKmeshReqid;
  sa.mark = mark;
  sa.replay_window = kReplayWindow;
  sa.esn = true;
  sa.selector = AnySelector(src.family());
  return sa;
}

std::string PeerError(const NodeView& peer, const absl::Status& status) {
  return absl::StrCat("peer ", peer.name, ": ", status.message());
}

}  // namespace

XfrmMark InboundSaMark(uint16_t peer_index) {
  return XfrmMark{(static_cast<uint32_t>(peer_index) << kPeerIndexShift) |
                      kDecryptMarkValue,
                  kInboundSaMarkMask};
}

uint16_t PeerIndexFromInboundMark(const XfrmMark& mark) {
  if (mark.mask != kInboundSaMarkMask ||
      (mark.value & kMarkTypeMask) != kDecryptMarkValue) {
    return 0;
  }
  return static_cast<uint16_t>(mark.value >> kPeerIndexShift);
}

bool IsInboundSa(const XfrmSa& sa) {
  return PeerIndexFromInboundMark(sa.mark) != 0;
}

bool IsOwnedSa(const XfrmSa& sa) {
  return sa.reqid == kKmeshReqid &&
         (IsInboundSa(sa) || sa.mark == kEncryptMark);
}

bool IsBlockPolicy(const XfrmPolicy& policy) {
  return policy.dir == XfrmDir::kOut && policy.action == XfrmAction::kBlock &&
         policy.mark == kEncryptMark && policy.templates.empty() &&
         IsAny(policy.selector.src) && IsAny(policy.selector.dst) &&
         policy.selector.proto == kIpProtoAny;
}

bool IsOwnedPolicy(const XfrmPolicy& policy) {
  if (IsBlockPolicy(policy)) return true;
  const XfrmMark& expected =
      policy.dir == XfrmDir::kOut ? kEncryptMark : kDecryptedMark;
  if (policy.mark != expected || policy.templates.empty()) return false;
  for (const XfrmTemplate& t : policy.templates) {
    if (t.reqid != kKmeshReqid) return false;
  }
  return true;
}

absl::StatusOr<std::vector<AddressPair>> ChooseAddressPairs(
    const NodeView& self, const NodeView& peer) {
  if (peer.addresses.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("peer ", peer.name, " publishes no addresses"));
  }
  if (self.addresses.empty()) {
    return absl::FailedPreconditionError(
        absl::StrCat("this node (", self.name, ") has no addresses"));
  }
  std::optional<FamilyAddress> self_v4, self_v6, peer_v4, peer_v6;
  if (absl::Status s = FirstAddresses(self, "this", &self_v4, &self_v6);
      !s.ok()) {
    return s;
  }
  if (absl::Status s = FirstAddresses(peer, "peer", &peer_v4, &peer_v6);
      !s.ok()) {
    return s;
  }
  std::vector<AddressPair> pairs;
  if (self_v4 && peer_v4) {
    pairs.push_back(
        {self_v4->text, peer_v4->text, self_v4->address, peer_v4->address});
  }
  if (self_v6 && peer_v6) {
    pairs.push_back(
        {self_v6->text, peer_v6->text, self_v6->address, peer_v6->address});
  }
  if (pairs.empty()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "peer ", peer.name, " shares no address family with this node (peer: ",
        absl::StrJoin(peer.addresses, ","),
        "; this node: ", absl::StrJoin(self.addresses, ","), ")"));
  }
  return pairs;
}

absl::StatusOr<PeerLayout> LayoutPeer(const PeerLayoutInput& input) {
  const NodeView& self = *input.self;
  const NodeView& peer = *input.peer;
  if (input.peer_index == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("peer ", peer.name, ": no peer index assigned"));
  }
  absl::StatusOr<std::vector<AddressPair>> pairs =
      ChooseAddressPairs(self, peer);
  if (!pairs.ok()) return pairs.status();

  PeerLayout layout;
  XfrmObjects& out = layout.objects;
  const XfrmMark inbound_mark = InboundSaMark(input.peer_index);

  for (const AddressPair& pair : *pairs) {
    const IpFamily family = pair.local.family();

    // Inbound: peer -> this node, one SA per kept SPI.
    for (int32_t spi : input.inbound_spis) {
      if (spi <= 0) continue;
      XfrmSa sa = BaseSa(pair.peer, pair.local, spi, inbound_mark);
      sa.output_mark = kInboundOutputMark;
      absl::StatusOr<bool> filled =
          FillKey(input, spi, pair.peer_text, pair.local_text, peer.boot_id,
                  self.boot_id, &sa);
      if (!filled.ok()) {
        return absl::InvalidArgumentError(PeerError(peer, filled.status()));
      }
      if (*filled) out.sas.push_back(std::move(sa));
    }

    // In and fwd: one policy per (peer pod CIDR, local pod CIDR) pair of
    // this family; any SPI (the receiver keeps several during rotation).
    for (const IpPrefix& remote : peer.pod_cidrs) {
      if (remote.family() != family) continue;
      for (const IpPrefix& local : self.pod_cidrs) {
        if (local.family() != family) continue;
        for (XfrmDir dir : {XfrmDir::kIn, XfrmDir::kFwd}) {
          XfrmPolicy policy;
          policy.dir = dir;
          policy.selector.src = remote;
          policy.selector.dst = local;
          policy.mark = kDecryptedMark;
          policy.priority = kPolicyPriority;
          policy.action = XfrmAction::kAllow;
          policy.templates.push_back(EspTunnel(pair.peer, pair.local, 0));
          out.policies.push_back(std::move(policy));
        }
      }
    }

    // Outbound: this node -> peer, with the SPI the peer receives with.
    if (input.outbound_spi > 0) {
      XfrmSa sa =
          BaseSa(pair.local, pair.peer, input.outbound_spi, kEncryptMark);
      absl::StatusOr<bool> filled =
          FillKey(input, input.outbound_spi, pair.local_text, pair.peer_text,
                  self.boot_id, peer.boot_id, &sa);
      if (!filled.ok()) {
        return absl::InvalidArgumentError(PeerError(peer, filled.status()));
      }
      if (*filled) {
        out.sas.push_back(std::move(sa));
        for (const IpPrefix& remote : peer.pod_cidrs) {
          if (remote.family() != family) continue;
          XfrmPolicy policy;
          policy.dir = XfrmDir::kOut;
          policy.selector.src = IpPrefix::Any(family);
          policy.selector.dst = remote;
          policy.mark = kEncryptMark;
          policy.priority = kPolicyPriority;
          policy.action = XfrmAction::kAllow;
          policy.templates.push_back(
              EspTunnel(pair.local, pair.peer,
                        static_cast<uint32_t>(input.outbound_spi)));
          out.policies.push_back(std::move(policy));
        }
      }
    }

    // Retiring outbound SAs: no policy points at them any more; they go
    // when their SPI is reclaimed.
    for (int32_t spi : input.retiring_outbound_spis) {
      if (spi <= 0 || spi == input.outbound_spi) continue;
      XfrmSa sa = BaseSa(pair.local, pair.peer, spi, kEncryptMark);
      absl::StatusOr<bool> filled =
          FillKey(input, spi, pair.local_text, pair.peer_text, self.boot_id,
                  peer.boot_id, &sa);
      if (!filled.ok()) {
        return absl::InvalidArgumentError(PeerError(peer, filled.status()));
      }
      if (*filled) out.sas.push_back(std::move(sa));
    }
  }

  // Pod CIDRs whose family has no address pair cannot be reached encrypted.
  for (const IpPrefix& remote : peer.pod_cidrs) {
    bool covered = false;
    for (const AddressPair& pair : *pairs) {
      covered |= pair.local.family() == remote.family();
    }
    if (!covered) {
      layout.warnings.push_back(absl::StrCat(
          "peer ", peer.name, ": pod CIDR ", remote.ToString(),
          " has no same-family node address pair; marked traffic to it is "
          "dropped by the block policy"));
    }
  }
  return layout;
}

XfrmObjects LayoutCatchAll() {
  XfrmObjects out;
  for (IpFamily family : {IpFamily::kV4, IpFamily::kV6}) {
    XfrmPolicy policy;
    policy.dir = XfrmDir::kOut;
    policy.selector = AnySelector(family);
    policy.mark = kEncryptMark;
    policy.priority = kBlockPolicyPriority;
    policy.action = XfrmAction::kBlock;
    out.policies.push_back(std::move(policy));
  }
  return out;
}

bool SameSa(const XfrmSa& a, const XfrmSa& b) {
  // The key comparison is constant time and always runs.
  const bool same_key = a.aead_key == b.aead_key;
  return same_key && a.src == b.src && a.dst == b.dst && a.spi == b.spi &&
         a.proto == b.proto && a.mode == b.mode && a.reqid == b.reqid &&
         a.aead_name == b.aead_name && a.icv_bits == b.icv_bits &&
         a.mark == b.mark && a.output_mark == b.output_mark &&
         a.replay_window == b.replay_window && a.esn == b.esn &&
         a.selector == b.selector;
}

namespace {
bool SameTemplate(const XfrmTemplate& a, const XfrmTemplate& b) {
  return a.src == b.src && a.dst == b.dst && a.proto == b.proto &&
         a.mode == b.mode && a.reqid == b.reqid && a.spi == b.spi &&
         a.optional == b.optional;
}
}  // namespace

bool SamePolicy(const XfrmPolicy& a, const XfrmPolicy& b) {
  if (!(a.dir == b.dir && a.selector == b.selector && a.mark == b.mark &&
        a.priority == b.priority && a.action == b.action &&
        a.templates.size() == b.templates.size())) {
    return false;
  }
  for (size_t i = 0; i < a.templates.size(); ++i) {
    if (!SameTemplate(a.templates[i], b.templates[i])) return false;
  }
  return true;
}

std::string DescribeSa(const XfrmSa& sa) {
  std::string text = absl::StrFormat(
      "src %s dst %s proto esp spi 0x%08x reqid %u mode %s mark %s",
      sa.src.ToString(), sa.dst.ToString(), sa.spi, sa.reqid,
      sa.mode == XfrmMode::kTunnel ? "tunnel" : "transport",
      MarkString(sa.mark));
  if (sa.output_mark.mask != 0) {
    absl::StrAppend(&text, " output-mark ", MarkString(sa.output_mark));
  }
  absl::StrAppend(&text, " replay-window ", sa.replay_window,
                  sa.esn ? " flag esn" : "");
  return text;
}

std::string DescribePolicy(const XfrmPolicy& policy) {
  std::string text = absl::StrFormat(
      "src %s dst %s dir %s priority %u mark %s%s",
      policy.selector.src.ToString(), policy.selector.dst.ToString(),
      XfrmDirName(policy.dir), policy.priority, MarkString(policy.mark),
      policy.action == XfrmAction::kBlock ? " action block" : "");
  for (const XfrmTemplate& t : policy.templates) {
    absl::StrAppendFormat(&text,
                          " tmpl src %s dst %s proto esp spi 0x%08x reqid %u "
                          "mode tunnel",
                          t.src.ToString(), t.dst.ToString(), t.spi, t.reqid);
  }
  return text;
}

}  // namespace kmesh::ipsec
