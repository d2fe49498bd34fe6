// KeyRing: the pre-shared keys (PSKs) this node holds, by SPI, and which of
// them is current (the one it receives with and advertises). A plain value
// type: copyable, no locking; the controller owns one and changes it as keys
// arrive and old ones are retired. Keys are XfrmKey values, which wipe
// themselves and never print their bytes.
#ifndef KMESH_IPSEC_KEY_RING_H_
#define KMESH_IPSEC_KEY_RING_H_

#include <cstdint>
#include <map>
#include <vector>

#include "kmesh/kernel/xfrm_key.h"

namespace kmesh::ipsec {

class KeyRing {
 public:
  // Stores `psk` under `spi`, replacing any key already held for it. Does not
  // change the current SPI.
  void Install(int32_t spi, const XfrmKey& psk);
  // The key for `spi`, or nullptr. Valid until the ring next changes.
  const XfrmKey* Find(int32_t spi) const;
  bool Has(int32_t spi) const;
  // Forgets the key for `spi` (no-op when absent). Removing the current SPI
  // resets current_spi() to 0.
  void Remove(int32_t spi);
  // All SPIs held, ascending.
  std::vector<int32_t> Spis() const;

  // The SPI this node receives with and advertises; 0 = none yet.
  int32_t current_spi() const { return current_spi_; }
  // Makes `spi` current. Callers set only SPIs they hold (Has(spi)) or 0.
  void SetCurrent(int32_t spi) { current_spi_ = spi; }

 private:
  std::map<int32_t, XfrmKey> keys_;
  int32_t current_spi_ = 0;
};

}  // namespace kmesh::ipsec

#endif  // KMESH_IPSEC_KEY_RING_H_
