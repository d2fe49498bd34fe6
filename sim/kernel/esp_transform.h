// EspTransform: ESP in tunnel mode (RFC 4303) with AES-256-GCM as RFC 4106
// defines it, for one SA. Encapsulate() wraps a whole inner IP packet:
//   outer IP (proto 50) | SPI | seq (low 32) | IV (8) | ciphertext of
//   [inner packet | padding 1,2,3.. to a multiple of 4 with the next two
//   bytes | pad length | next header 4 or 41] | ICV (16)
// The outer header carries the inner packet's DSCP, its ECN as RFC 6040's
// normal mode encapsulates it (CE goes out as ECT(0)), an IPv6 inner
// packet's flow label, and an IPv4 inner packet's DF (an IPv6 one gets
// DF), as Linux's tunnel mode writes them; TTL / hop
// limit 64 and IPv4 ID 0 (the kernel sets the ID of a packet without DF).
// The AAD is SPI || seq, or SPI || seq high 32 || seq low 32 with extended
// sequence numbers (RFC 4303 2.2.1, RFC 4106 5). The explicit IV is the
// 64-bit sequence number, which never repeats under one SA (RFC 4106 3.1
// allows any unique value). The AEAD context is built once per SA, with
// real encryption through kmesh/crypto.
#ifndef SIM_KERNEL_ESP_TRANSFORM_H_
#define SIM_KERNEL_ESP_TRANSFORM_H_

#include <cstdint>
#include <optional>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "kmesh/crypto/aead.h"
#include "kmesh/kernel/xfrm.h"

namespace kmesh::sim {

inline constexpr size_t kEspHeaderLength = 8;  // SPI + sequence number.
inline constexpr size_t kEspIvLength = 8;
inline constexpr size_t kEspIcvLength = 16;

// The clear part of an ESP packet: enough to find the SA.
struct EspHeader {
  IpAddress outer_src;
  IpAddress outer_dst;
  uint8_t outer_tos = 0;  // TOS / traffic class of the outer header.
  uint32_t spi = 0;
  uint32_t seq_low = 0;
  size_t esp_offset = 0;  // Where the ESP header starts in the packet.
  size_t esp_length = 0;  // ESP header .. ICV.
};

// Parses the outer IP header and the ESP header of a packet with protocol 50.
absl::StatusOr<EspHeader> ParseEspHeader(absl::Span<const uint8_t> packet);

class EspTransform {
 public:
  // InvalidArgument unless `sa` is an ESP tunnel-mode SA with
  // rfc4106(gcm(aes)), a 36-byte key and a 128-bit ICV.
  static absl::StatusOr<EspTransform> Create(const XfrmSa& sa);

  // Tunnel-mode encapsulation of `inner` (a whole IPv4 or IPv6 packet, with
  // nothing after it) with sequence number `seq`, from the SA's source to
  // its destination. InvalidArgument for a malformed inner packet.
  absl::StatusOr<std::vector<uint8_t>> Encapsulate(
      uint64_t seq, absl::Span<const uint8_t> inner) const;

  // The same in the packet's own buffer: `*packet` goes in as the inner
  // packet and comes out as the ESP packet, growing in place when its
  // capacity has room (the transmit path uses this). On InvalidArgument it
  // is unchanged; on another error (the AEAD failing) it is zeroed, to be
  // dropped.
  absl::Status EncapsulateInPlace(uint64_t seq,
                                  std::vector<uint8_t>* packet) const;

  // Authenticates and decrypts the ESP packet `outer` whose full sequence
  // number is `seq` (the low 32 bits must match the header; with ESN the
  // caller supplies the inferred high bits). Returns the inner IP packet.
  // DataLoss when the ICV does not verify; InvalidArgument for a malformed
  // packet (bad padding, unknown next header, inner packet not matching it).
  absl::StatusOr<std::vector<uint8_t>> Decapsulate(
      uint64_t seq, absl::Span<const uint8_t> outer) const;

  // The same, decrypting in the packet's own buffer (no copy, no second
  // allocation): on success `*packet` is the inner IP packet. On failure it
  // holds no plaintext and is to be dropped. The receive path uses this.
  absl::Status DecapsulateInPlace(uint64_t seq,
                                  std::vector<uint8_t>* packet) const;

  uint32_t spi() const { return spi_; }
  IpFamily outer_family() const { return src_.family(); }

  // The largest inner packet whose ESP packet, laid out as above between
  // nodes of `outer` family, fits `mtu` bytes (Linux's xfrm_state_mtu); 0
  // when none does.
  static size_t LargestInnerPacket(IpFamily outer, size_t mtu);

 private:
  // Where the parts of the ESP packet for an inner packet go.
  struct Layout {
    size_t inner_length = 0;
    size_t pad = 0;
    uint8_t next_header = 0;
    size_t esp_offset = 0;          // The outer IP header's length.
    size_t esp_length = 0;          // ESP header .. ICV.
    uint8_t outer_tos = 0;          // The outer header's TOS / traffic class,
    uint32_t outer_flow_label = 0;  // IPv6 flow label,
    bool outer_df = false;          // and IPv4 DF.
  };

  EspTransform(crypto::Rfc4106Aes256Gcm aead, const XfrmSa& sa);
  absl::StatusOr<Layout> LayOut(absl::Span<const uint8_t> inner) const;
  // Turns `*packet`, the inner packet `l` was laid out for, into the sealed
  // ESP packet.
  absl::Status Seal(uint64_t seq, const Layout& l,
                    std::vector<uint8_t>* packet) const;
  void Aad(uint64_t seq, uint8_t* aad, size_t* length) const;

  crypto::Rfc4106Aes256Gcm aead_;
  uint32_t spi_;
  bool esn_;
  IpAddress src_;
  IpAddress dst_;
};

}  // namespace kmesh::sim

#endif  // SIM_KERNEL_ESP_TRANSFORM_H_
