// XFRM objects in one line each, for tests of the kernel backends and of
// their twin (testonly): tunnel-mode templates and policies, block policies,
// and an AEAD SA with a recognisable key, built from addresses and prefixes
// as text (a bad literal aborts the test binary: it is a bug in the test).
#ifndef KMESH_KERNEL_TESTING_XFRM_BUILDERS_H_
#define KMESH_KERNEL_TESTING_XFRM_BUILDERS_H_

#include <cstdint>
#include <string>

#include "kmesh/base/ip_address.h"
#include "kmesh/kernel/xfrm.h"

namespace kmesh::testing {

IpAddress Address(const std::string& text);
IpPrefix Prefix(const std::string& text);

// `tmpl src SRC dst DST proto esp [spi SPI] reqid REQID mode tunnel`.
XfrmTemplate TunnelTemplate(const std::string& src, const std::string& dst,
                            uint32_t reqid, uint32_t spi = 0);

// `src SRC_PREFIX dst DST_PREFIX dir DIR priority PRIORITY mark MARK` with
// one tunnel template.
XfrmPolicy TunnelPolicy(XfrmDir dir, const std::string& src_prefix,
                        const std::string& dst_prefix, XfrmMark mark,
                        uint32_t priority, const XfrmTemplate& tmpl);

// An outbound catch-all (`src ::/0 dst ::/0` or the IPv4 one) that blocks
// packets with `mark`.
XfrmPolicy BlockPolicy(IpFamily family, XfrmMark mark, uint32_t priority);

// A tunnel-mode rfc4106(gcm(aes)) SA from `src` to `dst` under `spi`, whose
// 36 key bytes are all `key_byte`.
XfrmSa AeadSa(const std::string& src, const std::string& dst, uint32_t spi,
              uint32_t reqid, uint8_t key_byte = 0x42);

}  // namespace kmesh::testing

#endif  // KMESH_KERNEL_TESTING_XFRM_BUILDERS_H_
