// The marker decision table: crafted frames, the mark each arrives with, and
// the mark the encrypt or decrypt marker must leave, over one fixed set of map
// entries. Every executor of the decisions (the eBPF programs under
// BPF_PROG_TEST_RUN, the C++ build of marker_decision.h, the simulated
// kernel's tc hooks) runs this same table.
#ifndef KMESH_BPF_MARKER_DECISION_TABLE_H_
#define KMESH_BPF_MARKER_DECISION_TABLE_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "kmesh/kernel/marker_maps.h"

namespace kmesh::testing {

enum class Marker { kEncrypt, kDecrypt };

struct MarkerCase {
  std::string name;
  Marker marker;
  std::vector<uint8_t> frame;  // A complete Ethernet frame.
  uint32_t mark_in;
  uint32_t want_mark;
};

// Writes the map entries the table assumes: encrypt CIDRs 10.244.1.0/24,
// fd00:244:1::/64, 10.250.0.64/26 and fd00:250::1:0/112; unmanaged pods
// 10.244.1.6, fd00:244:1::6 and 10.96.0.9; peers 192.168.1.2 (index 1),
// 192.168.1.3 and fd00:1::3 (index 7), 192.168.1.9 (index 65535).
absl::Status FillTableMaps(MarkerMaps& maps);

std::vector<MarkerCase> MarkerDecisionTable();

}  // namespace kmesh::testing

#endif  // KMESH_BPF_MARKER_DECISION_TABLE_H_
