#include "sim/kernel/testing/bare_ip_marker_cases.h"

namespace kmesh::sim::testing {

std::vector<BareIpMarkerCase> BareIpMarkerCases() {
  constexpr size_t kEthernetHeader = 14;
  std::vector<BareIpMarkerCase> cases;
  for (::kmesh::testing::MarkerCase& c :
       ::kmesh::testing::MarkerDecisionTable()) {
    if (c.frame.size() <= kEthernetHeader) continue;
    const int ethertype = c.frame[12] << 8 | c.frame[13];
    const int version = c.frame[kEthernetHeader] >> 4;
    if (!(ethertype == 0x0800 && version == 4) &&
        !(ethertype == 0x86dd && version == 6)) {
      continue;
    }
    std::vector<uint8_t> packet(c.frame.begin() + kEthernetHeader,
                                c.frame.end());
    cases.push_back(BareIpMarkerCase{std::move(c), std::move(packet)});
  }
  return cases;
}

}  // namespace kmesh::sim::testing
