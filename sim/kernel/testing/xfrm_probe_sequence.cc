#include "sim/kernel/testing/xfrm_probe_sequence.h"

#include <utility>

#include "kmesh/base/ip_address.h"
#include "kmesh/kernel/testing/xfrm_objects.h"

namespace kmesh::sim::testing {
namespace {

using ::kmesh::testing::KeyOfSize;

XfrmSa ProbeSa(const char* src, const char* dst, uint32_t spi,
               XfrmMark mark = {}) {
  XfrmSa sa = ::kmesh::testing::Sa(src, dst, spi, mark);
  sa.selector.src = IpPrefix::Any(sa.dst.family());
  sa.selector.dst = sa.selector.src;
  return sa;
}

ProbeStep Add(XfrmSa sa, const char* answer) {
  XfrmOperation op;
  op.op = XfrmOp::kAddSa;
  op.sa = std::move(sa);
  return {op, answer};
}

ProbeStep Update(XfrmSa sa, const char* answer) {
  XfrmOperation op;
  op.op = XfrmOp::kUpdateSa;
  op.sa = std::move(sa);
  return {op, answer};
}

ProbeStep Delete(const char* dst, uint32_t spi, XfrmMark mark,
                 const char* answer) {
  XfrmOperation op;
  op.op = XfrmOp::kDeleteSa;
  op.sa_id = XfrmSaId{*IpAddress::Parse(dst), spi, kIpProtoEsp, mark};
  return {op, answer};
}

ProbeStep Dump(XfrmOp which) {
  XfrmOperation op;
  op.op = which;
  return {op, "OK"};
}

ProbeStep AddPolicy(XfrmPolicy p, const char* answer,
                    XfrmOp kind = XfrmOp::kAddPolicy) {
  XfrmOperation op;
  op.op = kind;
  op.policy = std::move(p);
  return {op, answer};
}

ProbeStep DeletePolicy(XfrmPolicyId id, const char* answer) {
  XfrmOperation op;
  op.op = XfrmOp::kDeletePolicy;
  op.policy_id = std::move(id);
  return {op, answer};
}

constexpr XfrmMark kFull1d0{0x1d0, 0xffffffff};

}  // namespace

std::vector<ProbeStep> SaProbeSequence() {
  std::vector<ProbeStep> steps;
  // Identity: ((new.v & new.m) & old.m) == old.v on the same (dst, SPI).
  steps.push_back(Add(ProbeSa("10.0.0.2", "10.0.0.1", 1), "OK"));
  steps.push_back(Add(ProbeSa("10.0.0.3", "10.0.0.1", 1), "EEXIST"));
  steps.push_back(Add(ProbeSa("10.0.0.3", "10.0.0.1", 1, kFull1d0), "EEXIST"));
  steps.push_back(Add(ProbeSa("10.0.0.2", "10.0.0.1", 2, kFull1d0), "OK"));
  steps.push_back(Add(ProbeSa("10.0.0.3", "10.0.0.1", 2), "OK"));
  steps.push_back(
      Add(ProbeSa("10.0.0.2", "10.0.0.1", 3, {0x1d0, 0xffff}), "OK"));
  steps.push_back(
      Add(ProbeSa("10.0.0.3", "10.0.0.1", 3, {0x2d0, 0xffff}), "OK"));
  steps.push_back(
      Add(ProbeSa("10.0.0.4", "10.0.0.1", 3, {0x2d0, 0xffff}), "EEXIST"));
  // Two SAs whose masks do not overlap share (dst, SPI).
  XfrmSa a = ProbeSa("10.0.0.2", "10.0.0.1", 4, {0x10, 0xf0});
  a.reqid = 11;
  XfrmSa b = ProbeSa("10.0.0.3", "10.0.0.1", 4, {0x1, 0x0f});
  b.reqid = 22;
  steps.push_back(Add(a, "OK"));
  steps.push_back(Add(b, "OK"));
  // Misses are ESRCH; a delete without a mark misses marked SAs.
  steps.push_back(Update(ProbeSa("10.0.0.2", "10.0.0.9", 7), "ESRCH"));
  steps.push_back(Delete("10.0.0.9", 7, {}, "ESRCH"));
  steps.push_back(Delete("10.0.0.1", 3, {}, "ESRCH"));
  // An update keeps key, ICV, reqid and source; the output mark changes.
  XfrmSa live = ProbeSa("10.0.0.2", "10.0.0.5", 8);
  live.output_mark = {0xd0, 0xffffffff};
  steps.push_back(Add(live, "OK"));
  XfrmSa changed = live;
  changed.src = *IpAddress::Parse("10.0.0.7");
  changed.reqid = 5;
  changed.aead_key = KeyOfSize(36, 0x11);
  changed.icv_bits = 96;
  changed.output_mark = {0xe0, 0xffffffff};
  steps.push_back(Update(changed, "OK"));
  // Validation.
  XfrmSa v = ProbeSa("10.0.0.2", "10.0.0.6", 10);
  v.esn = true;
  v.replay_window = 1024;
  steps.push_back(Add(v, "OK"));
  v = ProbeSa("10.0.0.2", "10.0.0.6", 14);
  v.replay_window = 100;
  steps.push_back(Add(v, "OK"));
  v = ProbeSa("10.0.0.2", "10.0.0.7", 20);
  v.aead_key = KeyOfSize(20);
  steps.push_back(Add(v, "OK"));
  v = ProbeSa("10.0.0.2", "10.0.0.7", 21);
  v.aead_key = KeyOfSize(30);
  steps.push_back(Add(v, "EINVAL"));
  v = ProbeSa("10.0.0.2", "10.0.0.7", 22);
  v.icv_bits = 100;
  steps.push_back(Add(v, "ENOSYS"));
  v = ProbeSa("10.0.0.2", "10.0.0.7", 23);
  v.icv_bits = 64;
  steps.push_back(Add(v, "OK"));
  v = ProbeSa("10.0.0.2", "10.0.0.7", 24);
  v.aead_name = "gcm(aes)";
  steps.push_back(Add(v, "ENOSYS"));
  v = ProbeSa("10.0.0.2", "10.0.0.7", 30);
  v.mode = XfrmMode::kTransport;
  v.selector.src = *IpPrefix::Parse("fd00::/64");
  v.selector.dst = *IpPrefix::Parse("fd01::/64");
  steps.push_back(Add(v, "EPROTONOSUPPORT"));
  v.spi = 31;
  v.mode = XfrmMode::kTunnel;
  steps.push_back(Add(v, "OK"));
  steps.push_back(Dump(XfrmOp::kDumpSas));
  return steps;
}

std::vector<ProbeStep> PolicyProbeSequence() {
  using ::kmesh::testing::Policy;
  using ::kmesh::testing::Tmpl;
  const XfrmTemplate t = Tmpl("10.0.0.3", "10.0.0.1");
  auto in = [&](XfrmMark mark, uint32_t priority) {
    return Policy(XfrmDir::kIn, "0.0.0.0/0", "10.244.0.0/24", mark, priority,
                  {t});
  };
  std::vector<ProbeStep> steps;
  // Identity: direction, selector, mark value and mask exactly; not priority.
  steps.push_back(AddPolicy(in({0xd0, 0xffffffff}, 0), "OK"));
  steps.push_back(AddPolicy(in({0xd0, 0xffffffff}, 5), "EEXIST"));
  steps.push_back(AddPolicy(in({0xd0, 0xff}, 0), "OK"));
  steps.push_back(AddPolicy(in({}, 0), "OK"));
  steps.push_back(
      AddPolicy(in({0xd0, 0xffffffff}, 7), "OK", XfrmOp::kUpdatePolicy));
  steps.push_back(DeletePolicy(
      Policy(XfrmDir::kIn, "0.0.0.0/0", "10.244.9.0/24", {}).id(), "ENOENT"));
  steps.push_back(DeletePolicy(in({0xd0, 0xfff}, 0).id(), "ENOENT"));
  // Templates: a tunnel may change family, transport may not; an optional
  // tunnel template is refused in an out policy only; a block may carry
  // templates.
  steps.push_back(AddPolicy(Policy(XfrmDir::kOut, "0.0.0.0/0", "0.0.0.0/0", {},
                                   0, {Tmpl("fd00::1", "fd00::2")}),
                            "OK"));
  XfrmTemplate transport = Tmpl("fd00::1", "fd00::2");
  transport.mode = XfrmMode::kTransport;
  steps.push_back(AddPolicy(
      Policy(XfrmDir::kFwd, "0.0.0.0/0", "0.0.0.0/0", {}, 0, {transport}),
      "EINVAL"));
  XfrmTemplate optional = Tmpl("1.1.1.1", "2.2.2.2");
  optional.optional = true;
  steps.push_back(AddPolicy(
      Policy(XfrmDir::kOut, "10.0.0.0/8", "0.0.0.0/0", {}, 0, {optional}),
      "EINVAL"));
  steps.push_back(AddPolicy(
      Policy(XfrmDir::kIn, "10.0.0.0/8", "0.0.0.0/0", {}, 0, {optional}),
      "OK"));
  XfrmPolicy block = Policy(XfrmDir::kFwd, "0.0.0.0/0", "0.0.0.0/0", {}, 3,
                            {Tmpl("1.1.1.1", "2.2.2.2")});
  block.action = XfrmAction::kBlock;
  steps.push_back(AddPolicy(block, "OK"));
  steps.push_back(Dump(XfrmOp::kDumpPolicies));
  return steps;
}

}  // namespace kmesh::sim::testing
