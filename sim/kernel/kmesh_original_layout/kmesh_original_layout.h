// KmeshOriginalLayout: the XFRM objects Kmesh's own Go daemon programs on a
// node (kmesh-net/kmesh, pkg/controller/encryption/ipsec/ipsec_handler.go,
// CreateXfrmRule), replayed call for call onto any XfrmKernel. For each peer:
// an inbound SA peer -> local with the local SPI, reqid 1, tunnel mode, no
// mark and output mark 0xd0; in and fwd policies "src 0.0.0.0/0 dst <local
// pod CIDR> mark 0xd0/0xffffffff" with a template peer -> local; and, when the
// peer's SPI is not newer than ours, an outbound SA local -> peer with the
// peer's SPI and an out policy "dst <peer pod CIDR> mark 0xe0/0xffffffff".
// Like Kmesh, it ignores EEXIST from SA adds (os.IsExist) and turns EEXIST
// from a policy add into an update.
//
// With three or more nodes this layout is broken on Linux: every peer's
// inbound SA has the same (dst, SPI, proto) and no mark, so the second is
// EEXIST (silently dropped), and every peer's in/fwd policy has the same
// identity, so each update overwrites the previous peer's. Tests run it
// against the simulator (and e2e tests against a whole simulated cluster) to
// prove the simulator is as strict as the kernel. Keys are fixed test
// patterns, not Kmesh's SHA-512 derivation: the layout is what matters here.
#ifndef SIM_KERNEL_KMESH_ORIGINAL_LAYOUT_KMESH_ORIGINAL_LAYOUT_H_
#define SIM_KERNEL_KMESH_ORIGINAL_LAYOUT_KMESH_ORIGINAL_LAYOUT_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "kmesh/base/ip_address.h"
#include "kmesh/kernel/xfrm.h"

namespace kmesh {
namespace sim {

// One node as Kmesh's KmeshNodeInfo describes it (one address suffices).
struct KmeshOriginalNode {
  std::string name;
  IpAddress ip;
  std::vector<IpPrefix> pod_cidrs;
  uint32_t spi = 1;
};

// One kernel call the layout made and what the kernel answered.
struct KmeshLayoutCall {
  std::string what;  // e.g. "AddSa inbound b->a spi 1"
  absl::Status status;
};

struct KmeshLayoutReport {
  std::vector<KmeshLayoutCall> calls;
  // Per peer, in order: the answer to its inbound SA add (Kmesh ignores
  // AlreadyExists here, so the daemon would not notice).
  std::vector<absl::Status> inbound_sa_adds;
  // The first error Kmesh's CreateXfrmRule would have returned, OK if none.
  absl::Status first_error;
};

// The descriptions Kmesh builds (mark, output mark, reqid, templates).
XfrmSa KmeshInboundSa(const KmeshOriginalNode& local,
                      const KmeshOriginalNode& peer);
XfrmSa KmeshOutboundSa(const KmeshOriginalNode& local,
                       const KmeshOriginalNode& peer);
// dir in and fwd, one pair per local pod CIDR.
std::vector<XfrmPolicy> KmeshInboundPolicies(const KmeshOriginalNode& local,
                                             const KmeshOriginalNode& peer);
// dir out, one per peer pod CIDR.
std::vector<XfrmPolicy> KmeshOutboundPolicies(const KmeshOriginalNode& local,
                                              const KmeshOriginalNode& peer);

// Programs what Kmesh programs on `local` for `peers`, in Kmesh's order.
KmeshLayoutReport ProgramKmeshOriginalLayout(
    XfrmKernel& kernel, const KmeshOriginalNode& local,
    const std::vector<KmeshOriginalNode>& peers);

}  // namespace sim
}  // namespace kmesh

#endif  // SIM_KERNEL_KMESH_ORIGINAL_LAYOUT_KMESH_ORIGINAL_LAYOUT_H_
