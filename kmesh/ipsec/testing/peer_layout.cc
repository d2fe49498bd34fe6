#include "kmesh/ipsec/testing/peer_layout.h"

#include <utility>

#include "absl/status/statusor.h"
#include "gtest/gtest.h"

namespace kmesh::ipsec {

PeerLayoutInput LayoutInput(const NodeView& self, const NodeView& peer,
                            uint16_t peer_index, const KeyRing& keys,
                            std::vector<int32_t> inbound_spis,
                            int32_t outbound_spi,
                            std::vector<int32_t> retiring_outbound_spis) {
  PeerLayoutInput input;
  input.self = &self;
  input.peer = &peer;
  input.peer_index = peer_index;
  input.keys = &keys;
  input.inbound_spis = std::move(inbound_spis);
  input.outbound_spi = outbound_spi;
  input.retiring_outbound_spis = std::move(retiring_outbound_spis);
  return input;
}

XfrmObjects PeerObjects(const NodeView& self, const NodeView& peer,
                        uint16_t peer_index, const KeyRing& keys,
                        std::vector<int32_t> inbound_spis, int32_t outbound_spi,
                        std::vector<int32_t> retiring_outbound_spis) {
  absl::StatusOr<PeerLayout> layout = LayoutPeer(
      LayoutInput(self, peer, peer_index, keys, std::move(inbound_spis),
                  outbound_spi, std::move(retiring_outbound_spis)));
  if (!layout.ok()) {
    ADD_FAILURE() << layout.status();
    return XfrmObjects{};
  }
  return std::move(layout)->objects;
}

}  // namespace kmesh::ipsec
