// XFRM object queries (testonly): what tests of the layout, the programmer
// and the controller ask of a set of SAs and policies or of a kernel's
// tables: the inbound, outbound or owned SAs (as xfrm_layout.h classifies
// them), the policies of one direction, whether a set holds given objects,
// a kernel's tables by value, and objects of another IPsec user.
#ifndef KMESH_IPSEC_TESTING_XFRM_OBJECTS_H_
#define KMESH_IPSEC_TESTING_XFRM_OBJECTS_H_

#include <cstdint>
#include <string>
#include <vector>

#include "kmesh/ipsec/xfrm_layout.h"
#include "kmesh/kernel/xfrm.h"

namespace kmesh::ipsec {

std::vector<XfrmSa> InboundSas(const std::vector<XfrmSa>& sas);
std::vector<XfrmSa> OutboundSas(const std::vector<XfrmSa>& sas);
std::vector<XfrmSa> OwnedSas(const std::vector<XfrmSa>& sas);
std::vector<XfrmPolicy> OwnedPolicies(const std::vector<XfrmPolicy>& policies);
std::vector<XfrmPolicy> PoliciesIn(const std::vector<XfrmPolicy>& policies,
                                   XfrmDir dir);

// Objects of another IPsec user on the host (reqid `reqid`, not
// kKmeshReqid): an SA from `src` to `dst` under `spi` (with a key made from
// the SPI), and a policy of direction `dir` from anywhere to `dst_prefix`
// through a tunnel from `tunnel_src` to `tunnel_dst`. The daemon must never
// modify or delete them.
XfrmSa ForeignSa(const std::string& src, const std::string& dst, uint32_t spi,
                 uint32_t reqid);
XfrmPolicy ForeignPolicy(XfrmDir dir, const std::string& dst_prefix,
                         const std::string& tunnel_src,
                         const std::string& tunnel_dst, uint32_t reqid);

// Each of `wanted` is in `held` exactly once, equal field by field
// (SameSa / SamePolicy); a test failure names each that is not.
void ExpectEachOnce(const std::vector<XfrmSa>& held,
                    const std::vector<XfrmSa>& wanted);
void ExpectEachOnce(const std::vector<XfrmPolicy>& held,
                    const std::vector<XfrmPolicy>& wanted);

// The kernel's tables, by value (a range-for over the dereferenced
// StatusOr temporary would dangle). The dump must succeed. `kernel` is
// const for the callers' sake: a dump changes nothing.
std::vector<XfrmSa> DumpedSas(const XfrmKernel& kernel);
std::vector<XfrmPolicy> DumpedPolicies(const XfrmKernel& kernel);

}  // namespace kmesh::ipsec

#endif  // KMESH_IPSEC_TESTING_XFRM_OBJECTS_H_
