#include "kmesh/ipsec/key_ring.h"

namespace kmesh::ipsec {

void KeyRing::Install(int32_t spi, const XfrmKey& psk) { keys_[spi] = psk; }

const XfrmKey* KeyRing::Find(int32_t spi) const {
  auto it = keys_.find(spi);
  return it == keys_.end() ? nullptr : &it->second;
}

bool KeyRing::Has(int32_t spi) const { return keys_.count(spi) > 0; }

void KeyRing::Remove(int32_t spi) {
  keys_.erase(spi);
  if (spi == current_spi_) current_spi_ = 0;
}

std::vector<int32_t> KeyRing::Spis() const {
  std::vector<int32_t> spis;
  spis.reserve(keys_.size());
  for (const auto& [spi, key] : keys_) spis.push_back(spi);
  return spis;
}

}  // namespace kmesh::ipsec
