#include "kmesh/kernel/testing/xfrm_builders.h"

#include <cstdlib>
#include <iostream>
#include <vector>

namespace kmesh::testing {
namespace {

template <typename T>
T OrDie(absl::StatusOr<T> parsed, const std::string& text) {
  if (!parsed.ok()) {
    std::cerr << "bad test literal \"" << text << "\": " << parsed.status()
              << std::endl;
    std::abort();
  }
  return *std::move(parsed);
}

}  // namespace

IpAddress Address(const std::string& text) {
  return OrDie(IpAddress::Parse(text), text);
}

IpPrefix Prefix(const std::string& text) {
  return OrDie(IpPrefix::Parse(text), text);
}

XfrmTemplate TunnelTemplate(const std::string& src, const std::string& dst,
                            uint32_t reqid, uint32_t spi) {
  XfrmTemplate t;
  t.src = Address(src);
  t.dst = Address(dst);
  t.reqid = reqid;
  t.spi = spi;
  return t;
}

XfrmPolicy TunnelPolicy(XfrmDir dir, const std::string& src_prefix,
                        const std::string& dst_prefix, XfrmMark mark,
                        uint32_t priority, const XfrmTemplate& tmpl) {
  XfrmPolicy p;
  p.dir = dir;
  p.selector = XfrmSelector{Prefix(src_prefix), Prefix(dst_prefix), 0};
  p.mark = mark;
  p.priority = priority;
  p.templates.push_back(tmpl);
  return p;
}

XfrmPolicy BlockPolicy(IpFamily family, XfrmMark mark, uint32_t priority) {
  XfrmPolicy p;
  p.dir = XfrmDir::kOut;
  p.selector = XfrmSelector{IpPrefix::Any(family), IpPrefix::Any(family), 0};
  p.mark = mark;
  p.priority = priority;
  p.action = XfrmAction::kBlock;
  return p;
}

XfrmSa AeadSa(const std::string& src, const std::string& dst, uint32_t spi,
              uint32_t reqid, uint8_t key_byte) {
  XfrmSa sa;
  sa.src = Address(src);
  sa.dst = Address(dst);
  sa.spi = spi;
  sa.reqid = reqid;
  const std::vector<uint8_t> key(36, key_byte);
  sa.aead_key = XfrmKey(key.data(), key.size());
  return sa;
}

}  // namespace kmesh::testing
