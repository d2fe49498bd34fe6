#include "sim/kernel/testing/xfrm_operations.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "kmesh/kernel/testing/xfrm_objects.h"

namespace kmesh::sim::testing {
namespace {

using ::kmesh::testing::KeyOfSize;

// The bytes the generator fills its keys with; a key is named by its index.
constexpr uint8_t kKeyFills[] = {0x5a, 0x11, 0x22};

std::string KeyLabel(const XfrmKey& key) {
  for (size_t i = 0; i < sizeof(kKeyFills); ++i) {
    if (key == KeyOfSize(key.size(), kKeyFills[i])) {
      return absl::StrCat("key", key.size(), "#", i);
    }
  }
  return absl::StrCat("key", key.size(), "#other");
}

std::string MarkText(const XfrmMark& m) {
  return absl::StrFormat("0x%x/0x%x", m.value, m.mask);
}

std::string SelectorText(const XfrmSelector& s) {
  return absl::StrCat(s.src.ToString(), " -> ", s.dst.ToString(), " proto ",
                      s.proto);
}

std::string ModeText(XfrmMode mode) {
  return mode == XfrmMode::kTunnel ? "tunnel" : "transport";
}

std::string TemplateText(const XfrmTemplate& t) {
  return absl::StrFormat("tmpl %s -> %s proto %u %s reqid %u spi 0x%x%s",
                         t.src.ToString(), t.dst.ToString(), t.proto,
                         ModeText(t.mode), t.reqid, t.spi,
                         t.optional ? " optional" : "");
}

template <typename T>
std::vector<std::string> CanonicalAll(const std::vector<T>& objects,
                                      std::string (*canonical)(const T&)) {
  std::vector<std::string> lines;
  lines.reserve(objects.size());
  for (const T& o : objects) lines.push_back(canonical(o));
  std::sort(lines.begin(), lines.end());
  return lines;
}

}  // namespace

std::string CanonicalSa(const XfrmSa& sa) {
  return absl::StrFormat(
      "sa %s -> %s spi 0x%x proto %u %s reqid %u aead %s %s icv %u mark %s "
      "output-mark %s replay %u%s sel %s | oseq %u packets %u bytes %u",
      sa.src.ToString(), sa.dst.ToString(), sa.spi, sa.proto, ModeText(sa.mode),
      sa.reqid, sa.aead_name, KeyLabel(sa.aead_key), sa.icv_bits,
      MarkText(sa.mark), MarkText(sa.output_mark), sa.replay_window,
      sa.esn ? " esn" : "", SelectorText(sa.selector), sa.counters.output_seq,
      sa.counters.packets, sa.counters.bytes);
}

std::string CanonicalPolicy(const XfrmPolicy& p) {
  std::string text =
      absl::StrFormat("policy %s %s mark %s priority %u %s", XfrmDirName(p.dir),
                      SelectorText(p.selector), MarkText(p.mark), p.priority,
                      p.action == XfrmAction::kBlock ? "block" : "allow");
  for (const XfrmTemplate& t : p.templates) {
    absl::StrAppend(&text, " ", TemplateText(t));
  }
  return text;
}

std::string Describe(const XfrmOperation& op) {
  switch (op.op) {
    case XfrmOp::kAddSa:
      return absl::StrCat("add ", CanonicalSa(op.sa));
    case XfrmOp::kUpdateSa:
      return absl::StrCat("update ", CanonicalSa(op.sa));
    case XfrmOp::kDeleteSa:
      return absl::StrFormat("delete sa dst %s spi 0x%x proto %u mark %s",
                             op.sa_id.dst.ToString(), op.sa_id.spi,
                             op.sa_id.proto, MarkText(op.sa_id.mark));
    case XfrmOp::kDumpSas:
      return "dump sas";
    case XfrmOp::kAddPolicy:
      return absl::StrCat("add ", CanonicalPolicy(op.policy));
    case XfrmOp::kUpdatePolicy:
      return absl::StrCat("update ", CanonicalPolicy(op.policy));
    case XfrmOp::kDeletePolicy:
      return absl::StrCat("delete policy ", XfrmDirName(op.policy_id.dir), " ",
                          SelectorText(op.policy_id.selector), " mark ",
                          MarkText(op.policy_id.mark));
    case XfrmOp::kDumpPolicies:
      return "dump policies";
  }
  return "?";
}

XfrmOutcome Apply(XfrmKernel& kernel, const XfrmOperation& op) {
  XfrmOutcome out;
  switch (op.op) {
    case XfrmOp::kAddSa:
      out.status = kernel.AddSa(op.sa);
      break;
    case XfrmOp::kUpdateSa:
      out.status = kernel.UpdateSa(op.sa);
      break;
    case XfrmOp::kDeleteSa:
      out.status = kernel.DeleteSa(op.sa_id);
      break;
    case XfrmOp::kDumpSas: {
      auto sas = kernel.DumpSas();
      out.status = sas.status();
      if (sas.ok()) out.dumped = CanonicalAll<XfrmSa>(*sas, &CanonicalSa);
      break;
    }
    case XfrmOp::kAddPolicy:
      out.status = kernel.AddPolicy(op.policy);
      break;
    case XfrmOp::kUpdatePolicy:
      out.status = kernel.UpdatePolicy(op.policy);
      break;
    case XfrmOp::kDeletePolicy:
      out.status = kernel.DeletePolicy(op.policy_id);
      break;
    case XfrmOp::kDumpPolicies: {
      auto ps = kernel.DumpPolicies();
      out.status = ps.status();
      if (ps.ok()) {
        out.dumped = CanonicalAll<XfrmPolicy>(*ps, &CanonicalPolicy);
      }
      break;
    }
  }
  return out;
}

RandomXfrmOperations::RandomXfrmOperations(uint32_t seed, Options options)
    : options_(options),
      picks_(seed),
      sas_(seed * 2654435761u + 1),
      policies_(seed * 2246822519u + 2) {}

std::vector<XfrmOperation> RandomXfrmOperations::Sequence(int length) {
  std::vector<XfrmOperation> ops;
  ops.reserve(length);
  for (int i = 0; i < length; ++i) ops.push_back(Next());
  return ops;
}

XfrmOperation RandomXfrmOperations::Next() {
  XfrmOperation op;
  const bool sa_side =
      options_.sas && (!options_.policies || picks_.Below(2) == 0);
  const int pick = picks_.Below(100);
  if (sa_side) {
    if (pick < 50 || made_sas_.empty()) {
      op.op = XfrmOp::kAddSa;
      op.sa = NewSa();
      if (!made_sas_.empty() && picks_.Below(5) == 0) {
        // An identity taken earlier (dst, SPI, protocol, mark), from another
        // source: EEXIST while the first one lives.
        const XfrmSa& earlier = made_sas_[picks_.Below(made_sas_.size())];
        if (earlier.dst.family() == op.sa.dst.family()) {
          op.sa.dst = earlier.dst;
          op.sa.spi = earlier.spi;
          op.sa.proto = earlier.proto;
          op.sa.mark = earlier.mark;
        }
      }
      made_sas_.push_back(op.sa);
    } else if (pick < 65) {
      op.op = XfrmOp::kUpdateSa;
      op.sa = ChangedSa(made_sas_[picks_.Below(made_sas_.size())]);
    } else if (pick < 92) {
      op.op = XfrmOp::kDeleteSa;
      op.sa_id = SomeSaId();
    } else {
      op.op = XfrmOp::kDumpSas;
    }
  } else {
    if (pick < 50 || made_policies_.empty()) {
      op.op = XfrmOp::kAddPolicy;
      op.policy = NewPolicy();
      if (!made_policies_.empty() && picks_.Below(4) == 0) {
        // An identity taken earlier, with another priority: EEXIST while
        // the first one lives.
        const XfrmPolicy& earlier =
            made_policies_[picks_.Below(made_policies_.size())];
        op.policy.dir = earlier.dir;
        op.policy.selector = earlier.selector;
        op.policy.mark = earlier.mark;
      }
      made_policies_.push_back(op.policy);
    } else if (pick < 65) {
      op.op = XfrmOp::kUpdatePolicy;
      // The same identity, another body (or a new policy: update adds).
      op.policy = picks_.Below(5) == 0
                      ? NewPolicy()
                      : made_policies_[picks_.Below(made_policies_.size())];
      if (picks_.Below(2) == 0) op.policy.priority = policies_.Priority();
      if (picks_.Below(3) == 0) {
        op.policy.action = op.policy.action == XfrmAction::kAllow
                               ? XfrmAction::kBlock
                               : XfrmAction::kAllow;
      }
    } else if (pick < 92) {
      op.op = XfrmOp::kDeletePolicy;
      op.policy_id = SomePolicyId();
    } else {
      op.op = XfrmOp::kDumpPolicies;
    }
  }
  if (made_sas_.size() > 64) made_sas_.erase(made_sas_.begin());
  if (made_policies_.size() > 64) made_policies_.erase(made_policies_.begin());
  return op;
}

XfrmSa RandomXfrmOperations::NewSa() {
  XfrmSa sa = sas_.NextSa(picks_.Below(3));
  if (sa.spi == 0) sa.spi = 3;  // See the header: SPI 0 is a known difference.
  static const size_t kKeySizes[] = {36, 36, 36, 20, 28};
  static const uint32_t kIcvs[] = {128, 128, 96, 64};
  static const uint32_t kWindows[] = {0, 0, 32, 64, 128, 4096};
  sa.aead_key = KeyOfSize(picks_.From(kKeySizes),
                          kKeyFills[picks_.Below(sizeof(kKeyFills))]);
  sa.icv_bits = picks_.From(kIcvs);
  sa.replay_window = picks_.From(kWindows);
  sa.esn = sa.replay_window != 0 && picks_.Below(3) == 0;
  if (picks_.Below(5) == 0) sa.mode = XfrmMode::kTransport;
  if (picks_.Below(4) == 0) {
    // An inner selector of the SA's family.
    const IpFamily family = sa.dst.family();
    sa.selector.src = policies_.Prefix(family);
    sa.selector.dst = policies_.Prefix(family);
    sa.selector.proto = policies_.Proto();
  } else {
    sa.selector.src = IpPrefix::Any(sa.dst.family());
    sa.selector.dst = sa.selector.src;
  }
  if (picks_.Below(100) < options_.invalid_percent) {
    switch (picks_.Below(6)) {
      case 0:
        sa.aead_name = "gcm(aes)";
        break;
      case 1:
        sa.aead_key = KeyOfSize(picks_.Below(2) == 0 ? 16 : 35);
        break;
      case 2:
        sa.icv_bits = 100;
        break;
      case 3:
        sa.esn = true;
        sa.replay_window = 0;
        break;
      case 4:
        sa.replay_window = 5000;
        break;
      case 5: {
        // A transport-mode SA whose selector is of the other family.
        sa.mode = XfrmMode::kTransport;
        const IpFamily other =
            sa.dst.family() == IpFamily::kV4 ? IpFamily::kV6 : IpFamily::kV4;
        sa.selector.src = policies_.Prefix(other);
        sa.selector.dst = policies_.Prefix(other);
        break;
      }
    }
  }
  return sa;
}

XfrmSa RandomXfrmOperations::ChangedSa(XfrmSa sa) {
  // What a live SA's update may try to change; Linux keeps most of it.
  switch (picks_.Below(5)) {
    case 0:
      sa.output_mark = XfrmMark{sas_.PacketMark(), 0xffffffff};
      break;
    case 1:
      sa.aead_key = KeyOfSize(sa.aead_key.size(),
                              kKeyFills[picks_.Below(sizeof(kKeyFills))]);
      break;
    case 2:
      sa.reqid = picks_.Below(3);
      break;
    case 3:
      sa.replay_window = sa.replay_window == 0 ? 32 : 0;
      sa.esn = false;
      break;
    case 4:
      sa.mark = sas_.Mark();  // Usually another identity: NotFound.
      break;
  }
  return sa;
}

XfrmTemplate RandomXfrmOperations::NewTemplate(IpFamily family) {
  // Tunnel endpoints of the selector's family or, now and then, the other.
  if (picks_.Below(6) == 0) {
    family = family == IpFamily::kV4 ? IpFamily::kV6 : IpFamily::kV4;
  }
  XfrmTemplate t;
  t.src = picks_.Below(6) == 0 ? IpPrefix::Any(family).address()
                               : policies_.Address(family);
  t.dst = policies_.Address(family);
  t.reqid = picks_.Below(3);
  t.spi = picks_.Below(4) == 0 ? 1 : 0;
  t.optional = picks_.Below(8) == 0;
  return t;
}

XfrmPolicy RandomXfrmOperations::NewPolicy() {
  XfrmPolicy p = policies_.Policy();
  const int count = picks_.Below(4) == 0 ? 0 : 1 + picks_.Below(2);
  for (int i = 0; i < count; ++i) {
    p.templates.push_back(NewTemplate(p.selector.dst.family()));
  }
  if (picks_.Below(100) < options_.invalid_percent) {
    switch (picks_.Below(3)) {
      case 0:
        // More than XFRM_MAX_DEPTH (6) templates.
        while (p.templates.size() < 7) {
          p.templates.push_back(NewTemplate(p.selector.dst.family()));
        }
        break;
      case 1: {
        // A template of a protocol that is not IPsec.
        XfrmTemplate t = NewTemplate(p.selector.dst.family());
        t.proto = 6;
        p.templates.push_back(t);
        break;
      }
      case 2: {
        // A transport-mode template (any family) in a policy.
        XfrmTemplate t = NewTemplate(p.selector.dst.family());
        t.mode = XfrmMode::kTransport;
        p.templates.push_back(t);
        break;
      }
    }
  }
  return p;
}

XfrmSaId RandomXfrmOperations::SomeSaId() {
  if (made_sas_.empty() || picks_.Below(8) == 0) {
    XfrmSa sa = sas_.NextSa(0);
    if (sa.spi == 0) sa.spi = 3;
    return sa.id();
  }
  XfrmSaId id = made_sas_[picks_.Below(made_sas_.size())].id();
  if (picks_.Below(6) == 0) id.mark = sas_.Mark();
  return id;
}

XfrmPolicyId RandomXfrmOperations::SomePolicyId() {
  if (made_policies_.empty() || picks_.Below(8) == 0) {
    return NewPolicy().id();
  }
  XfrmPolicyId id = made_policies_[picks_.Below(made_policies_.size())].id();
  if (picks_.Below(6) == 0) id.mark = policies_.Mark();
  return id;
}

}  // namespace kmesh::sim::testing
