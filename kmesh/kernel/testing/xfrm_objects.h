// XFRM objects in one line each, built the way the product builds them (an
// ESP tunnel SA with rfc4106(gcm(aes)), a 36-byte key and reqid 1), for
// tests of the kernel backends, of their simulated twin and of what programs
// them (testonly). Addresses and prefixes are literals (a typo aborts the
// test; see kmesh/base/testing/ip_literals.h).
#ifndef KMESH_KERNEL_TESTING_XFRM_OBJECTS_H_
#define KMESH_KERNEL_TESTING_XFRM_OBJECTS_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "kmesh/base/ip_address.h"
#include "kmesh/base/testing/ip_literals.h"
#include "kmesh/kernel/xfrm.h"
#include "kmesh/kernel/xfrm_key.h"

namespace kmesh::testing {

inline constexpr XfrmMark kNoMark{0, 0};
inline constexpr XfrmMark kDecrypted{0xd0, 0xffffffff};
inline constexpr XfrmMark kEncrypt{0xe0, 0xffffffff};

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

// An outbound catch-all of `family` that blocks packets with `mark`.
XfrmPolicy BlockPolicy(IpFamily family, XfrmMark mark, uint32_t priority);

}  // namespace kmesh::testing

#endif  // KMESH_KERNEL_TESTING_XFRM_OBJECTS_H_
