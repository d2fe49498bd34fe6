// Peer layouts for tests (testonly): the PeerLayoutInput of one node for one
// peer, and the objects LayoutPeer lays out from it, for the tests of the
// layout, the programmer and the kernel backends.
#ifndef KMESH_IPSEC_TESTING_PEER_LAYOUT_H_
#define KMESH_IPSEC_TESTING_PEER_LAYOUT_H_

#include <cstdint>
#include <vector>

#include "kmesh/ipsec/key_ring.h"
#include "kmesh/ipsec/node_view.h"
#include "kmesh/ipsec/xfrm_layout.h"

namespace kmesh::ipsec {

// `self`, `peer` and `keys` must outlive the input. `retiring_outbound_spis`:
// PeerLayoutInput's.
PeerLayoutInput LayoutInput(const NodeView& self, const NodeView& peer,
                            uint16_t peer_index, const KeyRing& keys,
                            std::vector<int32_t> inbound_spis,
                            int32_t outbound_spi,
                            std::vector<int32_t> retiring_outbound_spis = {});

// The objects `self` holds for `peer`; none, and a test failure, when
// LayoutPeer refuses.
XfrmObjects PeerObjects(const NodeView& self, const NodeView& peer,
                        uint16_t peer_index, const KeyRing& keys,
                        std::vector<int32_t> inbound_spis, int32_t outbound_spi,
                        std::vector<int32_t> retiring_outbound_spis = {});

}  // namespace kmesh::ipsec

#endif  // KMESH_IPSEC_TESTING_PEER_LAYOUT_H_
