// XFRM objects for the simulator's tests, built the way the product builds
// them (an ESP tunnel SA with rfc4106(gcm(aes)), a 36-byte key and reqid 1),
// from address and prefix literals (a typo aborts the test).
#ifndef SIM_KERNEL_XFRM_TESTING_XFRM_OBJECTS_H_
#define SIM_KERNEL_XFRM_TESTING_XFRM_OBJECTS_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "kmesh/base/ip_address.h"
#include "kmesh/kernel/xfrm.h"
#include "kmesh/kernel/xfrm_key.h"

namespace kmesh::sim::testing {

inline constexpr XfrmMark kNoMark{0, 0};
inline constexpr XfrmMark kDecrypted{0xd0, 0xffffffff};

IpAddress Ip(const std::string& text);
IpPrefix Cidr(const std::string& text);

// `size` bytes of `fill`.
XfrmKey KeyOfSize(size_t size, uint8_t fill = 0x5a);

// An ESP tunnel SA src -> dst with `spi` and `mark`, reqid 1, a 36-byte key
// and an unset selector (any inner traffic of the SA's family).
XfrmSa Sa(const std::string& src, const std::string& dst, uint32_t spi,
          XfrmMark mark = {});

// An ESP tunnel-mode template src -> dst.
XfrmTemplate Tmpl(const std::string& src, const std::string& dst,
                  uint32_t reqid = 1, uint32_t spi = 0);

// An allow policy for traffic src -> dst (prefixes).
XfrmPolicy Policy(XfrmDir dir, const std::string& src, const std::string& dst,
                  XfrmMark mark, uint32_t priority = 0,
                  std::vector<XfrmTemplate> templates = {});

}  // namespace kmesh::sim::testing

#endif  // SIM_KERNEL_XFRM_TESTING_XFRM_OBJECTS_H_
