// Fuzz target: ESP packets arriving at a simulated node (esp_transform.h).
// Mode 0: the input is the whole packet, as from the wire: the outer IP and
// ESP headers are parsed (ParseEspHeader) and the packet is decapsulated,
// copying and in place (almost always failing authentication). Mode 1: the
// input is the plaintext of an ESP payload, sealed here under the SA's key
// with the right IV and AAD, so what comes after authentication (padding,
// pad length, next header, the inner packet) is reached with any bytes.
// Input: byte 0 the mode (bit 0) and ESN (bit 1), byte 1 the outer family
// (bit 0: IPv6), the rest the packet or plaintext.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "kmesh/base/ip_address.h"
#include "kmesh/crypto/aead.h"
#include "kmesh/kernel/xfrm.h"
#include "sim/kernel/esp_transform.h"
#include "sim/net/ip_packet.h"

namespace {

using kmesh::IpAddress;
using kmesh::sim::EspTransform;

constexpr uint32_t kSpi = 0x01000002;
constexpr uint64_t kSeqHigh = 3;

std::vector<uint8_t> Key() { return std::vector<uint8_t>(36, 0x42); }

kmesh::XfrmSa Sa(bool v6, bool esn) {
  kmesh::XfrmSa sa;
  sa.src = *IpAddress::Parse(v6 ? "fd00::1" : "172.18.0.2");
  sa.dst = *IpAddress::Parse(v6 ? "fd00::2" : "172.18.0.3");
  sa.spi = kSpi;
  const std::vector<uint8_t> key = Key();
  sa.aead_key = kmesh::XfrmKey(key.data(), key.size());
  sa.esn = esn;
  sa.replay_window = esn ? 1024 : 0;
  return sa;
}

void Put32(std::vector<uint8_t>* out, uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) {
    out->push_back(static_cast<uint8_t>(v >> shift));
  }
}

void Decapsulate(const EspTransform& esp, uint64_t seq,
                 const std::vector<uint8_t>& packet) {
  absl::StatusOr<std::vector<uint8_t>> inner = esp.Decapsulate(seq, packet);
  std::vector<uint8_t> copy = packet;
  const absl::Status in_place = esp.DecapsulateInPlace(seq, &copy);
  // Both ways must agree.
  if (inner.ok() != in_place.ok()) std::abort();
  if (inner.ok() && *inner != copy) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  const bool sealed = data[0] & 1;
  const bool esn = data[0] & 2;
  const bool v6 = data[1] & 1;
  const absl::Span<const uint8_t> rest(data + 2, size - 2);
  static const auto* transforms = [] {
    auto* t = new std::vector<EspTransform>();
    for (int i = 0; i < 4; ++i) {
      t->push_back(*EspTransform::Create(Sa(i & 1, i & 2)));
    }
    return t;
  }();
  const EspTransform& esp = (*transforms)[(v6 ? 1 : 0) | (esn ? 2 : 0)];

  if (!sealed) {
    const std::vector<uint8_t> packet(rest.begin(), rest.end());
    absl::StatusOr<kmesh::sim::EspHeader> header =
        kmesh::sim::ParseEspHeader(packet);
    if (!header.ok()) return 0;
    const uint64_t seq =
        (esn ? kSeqHigh << 32 : 0) | static_cast<uint64_t>(header->seq_low);
    Decapsulate(esp, seq, packet);
    return 0;
  }

  // The plaintext `rest`, sealed as ESP with sequence number `seq`.
  const uint32_t seq_low = 9;
  const uint64_t seq = (esn ? kSeqHigh << 32 : 0) | seq_low;
  std::vector<uint8_t> aad;
  Put32(&aad, kSpi);
  if (esn) Put32(&aad, static_cast<uint32_t>(seq >> 32));
  Put32(&aad, seq_low);
  std::vector<uint8_t> iv;
  Put32(&iv, static_cast<uint32_t>(seq >> 32));
  Put32(&iv, seq_low);
  static const auto* aead = new kmesh::crypto::Rfc4106Aes256Gcm(
      *kmesh::crypto::Rfc4106Aes256Gcm::Create(Key()));
  absl::StatusOr<std::vector<uint8_t>> sealed_bytes = aead->Seal(iv, aad, rest);
  if (!sealed_bytes.ok()) std::abort();
  const kmesh::XfrmSa sa = Sa(v6, esn);
  std::vector<uint8_t> packet = kmesh::sim::StartIpPacket(
      sa.src, sa.dst, 50, 8 + iv.size() + sealed_bytes->size());
  Put32(&packet, kSpi);
  Put32(&packet, seq_low);
  packet.insert(packet.end(), iv.begin(), iv.end());
  packet.insert(packet.end(), sealed_bytes->begin(), sealed_bytes->end());
  Decapsulate(esp, seq, packet);
  return 0;
}
