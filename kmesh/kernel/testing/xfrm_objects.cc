#include "kmesh/kernel/testing/xfrm_objects.h"

#include <utility>

namespace kmesh::testing {

XfrmKey KeyOfSize(size_t size, uint8_t fill) {
  std::vector<uint8_t> bytes(size, fill);
  return XfrmKey(bytes.data(), bytes.size());
}

XfrmSa Sa(const std::string& src, const std::string& dst, uint32_t spi,
          XfrmMark mark) {
  XfrmSa sa;
  sa.src = Ip(src);
  sa.dst = Ip(dst);
  sa.spi = spi;
  sa.reqid = 1;
  sa.aead_key = KeyOfSize(36);
  sa.mark = mark;
  sa.selector.src = IpPrefix::Any(sa.src.family());
  sa.selector.dst = IpPrefix::Any(sa.src.family());
  return sa;
}

XfrmTemplate Tmpl(const std::string& src, const std::string& dst,
                  uint32_t reqid, uint32_t spi) {
  XfrmTemplate t;
  t.src = Ip(src);
  t.dst = Ip(dst);
  t.reqid = reqid;
  t.spi = spi;
  return t;
}

XfrmPolicy Policy(XfrmDir dir, const std::string& src, const std::string& dst,
                  XfrmMark mark, uint32_t priority,
                  std::vector<XfrmTemplate> templates) {
  XfrmPolicy p;
  p.dir = dir;
  p.selector.src = Cidr(src);
  p.selector.dst = Cidr(dst);
  p.mark = mark;
  p.priority = priority;
  p.templates = std::move(templates);
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

}  // namespace kmesh::testing
