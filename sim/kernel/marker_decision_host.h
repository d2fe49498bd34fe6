// The marker decisions of bpf/marker_decision.h compiled as C++: the same code
// the encrypt and decrypt eBPF programs run, with the map lookups answered by
// a MemoryMarkerMaps. The simulated kernel's tc ingress hooks call these, and
// the tests run one decision table through them and through the real programs
// (BPF_PROG_TEST_RUN) to show the two agree.
#ifndef SIM_KERNEL_MARKER_DECISION_HOST_H_
#define SIM_KERNEL_MARKER_DECISION_HOST_H_

#include <cstdint>

#include "absl/types/span.h"
#include "bpf/marker_decision.h"
#include "sim/kernel/memory_marker_maps.h"

namespace kmesh {

// The mark the encrypt program leaves on `frame` (a complete Ethernet frame,
// as tc ingress sees it on a veth) that arrived carrying `mark`.
uint32_t RunEncryptMarkerOnFrame(const MemoryMarkerMaps& maps,
                                 absl::Span<const uint8_t> frame,
                                 uint32_t mark);

// The mark the decrypt program leaves on `frame` that arrived with `mark`.
uint32_t RunDecryptMarkerOnFrame(const MemoryMarkerMaps& maps,
                                 absl::Span<const uint8_t> frame,
                                 uint32_t mark);

// The same decisions for a bare IP packet (a device without an L2 header):
// the family comes from the version nibble.
uint32_t RunEncryptMarkerOnIpPacket(const MemoryMarkerMaps& maps,
                                    absl::Span<const uint8_t> packet,
                                    uint32_t mark);
uint32_t RunDecryptMarkerOnIpPacket(const MemoryMarkerMaps& maps,
                                    absl::Span<const uint8_t> packet,
                                    uint32_t mark);

}  // namespace kmesh

#endif  // SIM_KERNEL_MARKER_DECISION_HOST_H_
