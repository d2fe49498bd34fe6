#include "kmesh/ipsec/testing/test_psk.h"

#include <cstdint>

namespace kmesh::ipsec {

XfrmKey TestPsk(int seed) {
  uint8_t bytes[36];
  for (int i = 0; i < 36; ++i) {
    bytes[i] = static_cast<uint8_t>(seed * 131 + i * 7 + 1);
  }
  return XfrmKey(bytes, sizeof(bytes));
}

}  // namespace kmesh::ipsec
