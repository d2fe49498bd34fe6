#include "sim/kernel/kmesh_original_layout/kmesh_original_layout.h"

#include <cstdint>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace kmesh {
namespace sim {
namespace {

constexpr uint32_t kKmeshReqid = 1;
constexpr XfrmMark kDecryptedMark{0xd0, 0xffffffff};
constexpr XfrmMark kEncryptMark{0xe0, 0xffffffff};

// A fixed 36-byte test pattern per direction (not a secret, not Kmesh's
// derivation): distinct for every (src, dst) pair.
XfrmKey TestKey(const IpAddress& src, const IpAddress& dst) {
  uint8_t bytes[36];
  const uint8_t s = src.bytes()[src.byte_length() - 1];
  const uint8_t d = dst.bytes()[dst.byte_length() - 1];
  for (int i = 0; i < 36; ++i) {
    bytes[i] = static_cast<uint8_t>(i * 7 + s * 13 + d * 31);
  }
  return XfrmKey(bytes, sizeof(bytes));
}

// Kmesh's createStateRule.
XfrmSa KmeshSa(const IpAddress& src, const IpAddress& dst, uint32_t spi) {
  XfrmSa sa;
  sa.src = src;
  sa.dst = dst;
  sa.spi = spi;
  sa.proto = kIpProtoEsp;
  sa.mode = XfrmMode::kTunnel;
  sa.reqid = kKmeshReqid;
  sa.aead_name = "rfc4106(gcm(aes))";
  sa.aead_key = TestKey(src, dst);
  sa.icv_bits = 128;
  sa.output_mark = kDecryptedMark;  // Kmesh sets 0xd0 on both directions.
  sa.selector.src = IpPrefix::Any(src.family());
  sa.selector.dst = IpPrefix::Any(src.family());
  return sa;
}

// Kmesh's createPolicyRule.
XfrmPolicy KmeshPolicy(XfrmDir dir, const IpPrefix& dst_cidr,
                       const IpAddress& tmpl_src, const IpAddress& tmpl_dst,
                       uint32_t tmpl_spi, const XfrmMark& mark) {
  XfrmPolicy p;
  p.dir = dir;
  p.selector.src = IpPrefix::Any(dst_cidr.family());
  p.selector.dst = dst_cidr;
  p.mark = mark;
  p.priority = 0;
  p.action = XfrmAction::kAllow;
  XfrmTemplate t;
  t.src = tmpl_src;
  t.dst = tmpl_dst;
  t.proto = kIpProtoEsp;
  t.mode = XfrmMode::kTunnel;
  t.reqid = kKmeshReqid;
  t.spi = tmpl_spi;
  p.templates.push_back(t);
  return p;
}

// Kmesh's xfrmPolicyCreateOrUpdate: add, and on EEXIST update.
void CreateOrUpdate(XfrmKernel& kernel, const XfrmPolicy& policy,
                    const std::string& what, KmeshLayoutReport& report) {
  absl::Status s = kernel.AddPolicy(policy);
  report.calls.push_back({absl::StrCat("AddPolicy ", what), s});
  if (absl::IsAlreadyExists(s)) {
    s = kernel.UpdatePolicy(policy);
    report.calls.push_back({absl::StrCat("UpdatePolicy ", what), s});
  }
  if (!s.ok() && report.first_error.ok()) report.first_error = s;
}

// Kmesh's createStateRule error handling: EEXIST is not an error.
absl::Status AddSaIgnoringExists(XfrmKernel& kernel, const XfrmSa& sa,
                                 const std::string& what,
                                 KmeshLayoutReport& report) {
  const absl::Status s = kernel.AddSa(sa);
  report.calls.push_back({absl::StrCat("AddSa ", what), s});
  if (!s.ok() && !absl::IsAlreadyExists(s) && report.first_error.ok()) {
    report.first_error = s;
  }
  return s;
}

}  // namespace

XfrmSa KmeshInboundSa(const KmeshOriginalNode& local,
                      const KmeshOriginalNode& peer) {
  return KmeshSa(peer.ip, local.ip, local.spi);
}

XfrmSa KmeshOutboundSa(const KmeshOriginalNode& local,
                       const KmeshOriginalNode& peer) {
  return KmeshSa(local.ip, peer.ip, peer.spi);
}

std::vector<XfrmPolicy> KmeshInboundPolicies(const KmeshOriginalNode& local,
                                             const KmeshOriginalNode& peer) {
  std::vector<XfrmPolicy> out;
  for (const IpPrefix& cidr : local.pod_cidrs) {
    out.push_back(
        KmeshPolicy(XfrmDir::kIn, cidr, peer.ip, local.ip, 0, kDecryptedMark));
    out.push_back(
        KmeshPolicy(XfrmDir::kFwd, cidr, peer.ip, local.ip, 0, kDecryptedMark));
  }
  return out;
}

std::vector<XfrmPolicy> KmeshOutboundPolicies(const KmeshOriginalNode& local,
                                              const KmeshOriginalNode& peer) {
  std::vector<XfrmPolicy> out;
  for (const IpPrefix& cidr : peer.pod_cidrs) {
    out.push_back(KmeshPolicy(XfrmDir::kOut, cidr, local.ip, peer.ip, peer.spi,
                              kEncryptMark));
  }
  return out;
}

KmeshLayoutReport ProgramKmeshOriginalLayout(
    XfrmKernel& kernel, const KmeshOriginalNode& local,
    const std::vector<KmeshOriginalNode>& peers) {
  KmeshLayoutReport report;
  for (const KmeshOriginalNode& peer : peers) {
    const std::string in_name = absl::StrCat(peer.name, "->", local.name);
    const std::string out_name = absl::StrCat(local.name, "->", peer.name);
    // createXfrmRuleIngress.
    const absl::Status inbound = AddSaIgnoringExists(
        kernel, KmeshInboundSa(local, peer),
        absl::StrCat("inbound ", in_name, " spi ", local.spi), report);
    report.inbound_sa_adds.push_back(inbound);
    // Any other error ends Kmesh's CreateXfrmRule for this peer.
    if (!inbound.ok() && !absl::IsAlreadyExists(inbound)) continue;
    for (const XfrmPolicy& p : KmeshInboundPolicies(local, peer)) {
      CreateOrUpdate(kernel, p,
                     absl::StrCat(XfrmDirName(p.dir), " ", in_name, " dst ",
                                  p.selector.dst.ToString()),
                     report);
    }
    // Kmesh only sends once the peer's SPI is not newer than its own.
    if (peer.spi > local.spi) continue;
    // createXfrmRuleEgress: like the ingress side, an error other than
    // EEXIST ends it before its policies.
    const absl::Status outbound = AddSaIgnoringExists(
        kernel, KmeshOutboundSa(local, peer),
        absl::StrCat("outbound ", out_name, " spi ", peer.spi), report);
    if (!outbound.ok() && !absl::IsAlreadyExists(outbound)) continue;
    for (const XfrmPolicy& p : KmeshOutboundPolicies(local, peer)) {
      CreateOrUpdate(
          kernel, p,
          absl::StrCat("out ", out_name, " dst ", p.selector.dst.ToString()),
          report);
    }
  }
  return report;
}

}  // namespace sim
}  // namespace kmesh
