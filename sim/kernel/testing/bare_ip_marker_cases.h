// The marker decision table (bpf/marker_decision_table.h) as the simulator's
// devices see it: they carry bare IP packets, so each case's frame loses its
// 14-byte Ethernet header, and only the cases whose ethertype and IP version
// nibble agree are kept (the bare-IP parser has only the nibble to go by).
#ifndef SIM_KERNEL_TESTING_BARE_IP_MARKER_CASES_H_
#define SIM_KERNEL_TESTING_BARE_IP_MARKER_CASES_H_

#include <cstdint>
#include <vector>

#include "bpf/marker_decision_table.h"

namespace kmesh::sim::testing {

struct BareIpMarkerCase {
  ::kmesh::testing::MarkerCase table_case;  // Its name, marker and marks.
  std::vector<uint8_t> packet;              // The frame without Ethernet.
};

std::vector<BareIpMarkerCase> BareIpMarkerCases();

}  // namespace kmesh::sim::testing

#endif  // SIM_KERNEL_TESTING_BARE_IP_MARKER_CASES_H_
