#include "sim/kernel/esp_transform.h"

#include <algorithm>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "sim/net/ip_packet.h"

namespace kmesh::sim {
namespace {

void Store16(uint8_t* p, uint16_t v) {
  p[0] = static_cast<uint8_t>(v >> 8);
  p[1] = static_cast<uint8_t>(v);
}

void Store32(uint8_t* p, uint32_t v) {
  p[0] = v >> 24;
  p[1] = (v >> 16) & 0xff;
  p[2] = (v >> 8) & 0xff;
  p[3] = v & 0xff;
}
uint32_t Load32(const uint8_t* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) |
         (uint32_t{p[2]} << 8) | p[3];
}

// The decrypted ESP payload `plain` (inner || padding || pad length || next
// header): the padding is 1, 2, 3, ... (RFC 4303 2.4), the next header is IP
// in IP, and the inner packet is one whole IP packet of that family.
absl::Status CheckTrailer(absl::Span<const uint8_t> plain) {
  if (plain.size() < 2) return absl::InvalidArgumentError("no ESP trailer");
  const uint8_t next_header = plain.back();
  const uint8_t pad = plain[plain.size() - 2];
  if (pad + 2u > plain.size()) {
    return absl::InvalidArgumentError("ESP pad length exceeds the payload");
  }
  const size_t inner_length = plain.size() - 2 - pad;
  for (size_t i = 0; i < pad; ++i) {
    if (plain[inner_length + i] != i + 1) {
      return absl::InvalidArgumentError("ESP padding is not 1, 2, 3, ...");
    }
  }
  if (next_header != kIpProtoIpip && next_header != kIpProtoIpv6) {
    return absl::InvalidArgumentError(
        absl::StrCat("ESP next header ", next_header, " is not IP in IP"));
  }
  auto inner = ParseIpHeader(plain.subspan(0, inner_length));
  if (!inner.ok()) return inner.status();
  if ((inner->family == IpFamily::kV4) != (next_header == kIpProtoIpip) ||
      inner->total_length != inner_length) {
    return absl::InvalidArgumentError(
        "inner packet does not match the ESP trailer");
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<EspHeader> ParseEspHeader(absl::Span<const uint8_t> packet) {
  auto ip = ParseIpHeader(packet);
  if (!ip.ok()) return ip.status();
  if (ip->proto != kIpProtoEspNumber) {
    return absl::InvalidArgumentError(
        absl::StrCat("not ESP: protocol ", ip->proto));
  }
  const size_t esp_length = ip->total_length - ip->header_length;
  if (esp_length < kEspHeaderLength + kEspIvLength + kEspIcvLength + 2) {
    return absl::InvalidArgumentError(
        absl::StrCat("ESP packet too short: ", esp_length, " bytes"));
  }
  EspHeader h;
  h.outer_src = ip->src;
  h.outer_dst = ip->dst;
  h.outer_tos = ip->tos;
  h.esp_offset = ip->header_length;
  h.esp_length = esp_length;
  h.spi = Load32(&packet[h.esp_offset]);
  h.seq_low = Load32(&packet[h.esp_offset + 4]);
  return h;
}

size_t EspTransform::LargestInnerPacket(IpFamily outer, size_t mtu) {
  // Padded plaintext is a multiple of 4 and ends with two trailer bytes.
  const size_t fixed =
      IpHeaderLength(outer) + kEspHeaderLength + kEspIvLength + kEspIcvLength;
  if (mtu < fixed + 4) return 0;
  return (mtu - fixed) / 4 * 4 - 2;
}

absl::StatusOr<EspTransform> EspTransform::Create(const XfrmSa& sa) {
  if (sa.proto != kIpProtoEsp || sa.mode != XfrmMode::kTunnel) {
    return absl::InvalidArgumentError("only ESP in tunnel mode is simulated");
  }
  if (sa.aead_name != "rfc4106(gcm(aes))" || sa.icv_bits != 128) {
    return absl::InvalidArgumentError(absl::StrCat(
        "unsupported AEAD ", sa.aead_name, " with ICV ", sa.icv_bits));
  }
  auto aead = crypto::Rfc4106Aes256Gcm::Create(
      absl::MakeConstSpan(sa.aead_key.data(), sa.aead_key.size()));
  if (!aead.ok()) return aead.status();
  return EspTransform(*std::move(aead), sa);
}

EspTransform::EspTransform(crypto::Rfc4106Aes256Gcm aead, const XfrmSa& sa)
    : aead_(std::move(aead)),
      spi_(sa.spi),
      esn_(sa.esn),
      src_(sa.src),
      dst_(sa.dst) {}

void EspTransform::Aad(uint64_t seq, uint8_t* aad, size_t* length) const {
  Store32(aad, spi_);
  if (esn_) {
    Store32(aad + 4, static_cast<uint32_t>(seq >> 32));
    Store32(aad + 8, static_cast<uint32_t>(seq));
    *length = 12;
  } else {
    Store32(aad + 4, static_cast<uint32_t>(seq));
    *length = 8;
  }
}

absl::StatusOr<EspTransform::Layout> EspTransform::LayOut(
    absl::Span<const uint8_t> inner) const {
  auto ip = ParseIpHeader(inner);
  if (!ip.ok()) return ip.status();
  if (ip->total_length != inner.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("inner packet of ", ip->total_length, " bytes has ",
                     inner.size() - ip->total_length, " bytes after it"));
  }
  Layout l;
  l.inner_length = inner.size();
  // The outer header's fields that come from the inner one, as Linux's
  // xfrm4/xfrm6_tunnel_encap_add set them: DSCP copied and ECN by
  // INET_ECN_encapsulate (CE goes out as ECT(0)); an IPv6 outer header
  // takes an IPv6 inner packet's flow label; an IPv4 one copies DF from an
  // IPv4 inner packet and sets it for any IPv6 one (xfrm6_extract_header
  // gives an IPv6 packet DF; Debian's 6.1 sets it on IPv6 packets of every
  // size, differential finding 17).
  constexpr uint8_t kEcnMask = 0x03;
  constexpr uint8_t kCe = 0x03;
  constexpr uint8_t kEct0 = 0x02;
  l.outer_tos = (ip->tos & kEcnMask) == kCe
                    ? static_cast<uint8_t>((ip->tos & ~kEcnMask) | kEct0)
                    : ip->tos;
  if (ip->family == IpFamily::kV6) {
    l.outer_flow_label =
        ((inner[1] & 0x0fu) << 16) | (inner[2] << 8) | inner[3];
    l.outer_df = true;
  } else {
    l.outer_df = ip->dont_fragment;
  }
  l.next_header = ip->family == IpFamily::kV4 ? kIpProtoIpip : kIpProtoIpv6;
  // Plaintext: inner || padding || pad length || next header, a multiple of 4.
  l.pad = (4 - (inner.size() + 2) % 4) % 4;
  l.esp_offset = IpHeaderLength(src_.family());
  l.esp_length = kEspHeaderLength + kEspIvLength + inner.size() + l.pad + 2 +
                 kEspIcvLength;
  // The IPv4 total length counts the header, the IPv6 payload length not.
  const size_t max_esp_length =
      src_.is_v4() ? 0xffff - l.esp_offset : size_t{0xffff};
  if (l.esp_length > max_esp_length) {
    return absl::InvalidArgumentError(absl::StrCat(
        "inner packet of ", inner.size(), " bytes does not fit in an ESP ",
        "packet (", l.esp_length, " bytes of ESP, at most ", max_esp_length,
        "); fragmentation is not simulated"));
  }
  return l;
}

absl::StatusOr<std::vector<uint8_t>> EspTransform::Encapsulate(
    uint64_t seq, absl::Span<const uint8_t> inner) const {
  auto layout = LayOut(inner);
  if (!layout.ok()) return layout.status();
  std::vector<uint8_t> packet;
  packet.reserve(layout->esp_offset + layout->esp_length);
  packet.assign(inner.begin(), inner.end());
  if (absl::Status s = Seal(seq, *layout, &packet); !s.ok()) return s;
  return packet;
}

absl::Status EspTransform::EncapsulateInPlace(
    uint64_t seq, std::vector<uint8_t>* packet) const {
  auto layout = LayOut(*packet);
  if (!layout.ok()) return layout.status();
  return Seal(seq, *layout, packet);
}

absl::Status EspTransform::Seal(uint64_t seq, const Layout& l,
                                std::vector<uint8_t>* packet) const {
  // Grows the buffer (within its capacity when it has room, as an skb with
  // head- and tailroom) and moves the inner packet to where the ESP payload
  // starts; every other byte is written once.
  packet->resize(l.esp_offset + l.esp_length);
  uint8_t* esp = packet->data() + l.esp_offset;
  uint8_t* plain = esp + kEspHeaderLength + kEspIvLength;
  std::memmove(plain, packet->data(), l.inner_length);
  uint8_t* outer = packet->data();
  WriteIpHeader(src_, dst_, kIpProtoEspNumber, l.esp_length, outer);
  if (src_.is_v4()) {
    outer[1] = l.outer_tos;
    if (l.outer_df) outer[6] |= 0x40;
    outer[10] = outer[11] = 0;
    Store16(&outer[10], InternetChecksum(absl::MakeConstSpan(outer, 20)));
  } else {
    outer[0] = static_cast<uint8_t>(0x60 | (l.outer_tos >> 4));
    outer[1] = static_cast<uint8_t>((l.outer_tos << 4) |
                                    ((l.outer_flow_label >> 16) & 0x0f));
    outer[2] = static_cast<uint8_t>(l.outer_flow_label >> 8);
    outer[3] = static_cast<uint8_t>(l.outer_flow_label);
  }
  Store32(&esp[0], spi_);
  Store32(&esp[4], static_cast<uint32_t>(seq));
  // Explicit IV: the 64-bit sequence number, a counter as RFC 4106 3.1
  // allows (never repeated under one SA, whose sequence numbers never wrap).
  Store32(&esp[8], static_cast<uint32_t>(seq >> 32));
  Store32(&esp[12], static_cast<uint32_t>(seq));
  uint8_t* trailer = plain + l.inner_length;
  for (size_t i = 0; i < l.pad; ++i) trailer[i] = i + 1;
  trailer[l.pad] = static_cast<uint8_t>(l.pad);
  trailer[l.pad + 1] = l.next_header;
  const size_t plain_length = l.inner_length + l.pad + 2;

  uint8_t aad[12];
  size_t aad_length;
  Aad(seq, aad, &aad_length);
  auto sealed =
      aead_.SealInto(absl::MakeConstSpan(&esp[kEspHeaderLength], kEspIvLength),
                     absl::MakeConstSpan(aad, aad_length),
                     absl::MakeConstSpan(plain, plain_length),
                     absl::MakeSpan(plain, plain_length + kEspIcvLength));
  if (!sealed.ok()) {
    std::fill(packet->begin(), packet->end(), 0);  // No plaintext left.
    return sealed.status();
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<uint8_t>> EspTransform::Decapsulate(
    uint64_t seq, absl::Span<const uint8_t> outer) const {
  std::vector<uint8_t> packet(outer.begin(), outer.end());
  if (absl::Status s = DecapsulateInPlace(seq, &packet); !s.ok()) return s;
  return packet;
}

absl::Status EspTransform::DecapsulateInPlace(
    uint64_t seq, std::vector<uint8_t>* packet) const {
  auto header = ParseEspHeader(*packet);
  if (!header.ok()) return header.status();
  if (header->spi != spi_) {
    return absl::InvalidArgumentError("packet is for another SPI");
  }
  if (header->seq_low != static_cast<uint32_t>(seq)) {
    return absl::InvalidArgumentError(
        "sequence number does not match the packet's");
  }
  uint8_t aad[12];
  size_t aad_length;
  Aad(seq, aad, &aad_length);
  const size_t sealed_offset =
      header->esp_offset + kEspHeaderLength + kEspIvLength;
  const size_t sealed_length =
      header->esp_length - kEspHeaderLength - kEspIvLength;
  // The ciphertext is opened where it lies; the explicit IV before it is
  // not overwritten.
  uint8_t* sealed = packet->data() + sealed_offset;
  auto opened = aead_.OpenInto(
      absl::MakeConstSpan(
          packet->data() + header->esp_offset + kEspHeaderLength, kEspIvLength),
      absl::MakeConstSpan(aad, aad_length),
      absl::MakeConstSpan(sealed, sealed_length),
      absl::MakeSpan(sealed, sealed_length));
  if (!opened.ok()) return opened.status();
  absl::Status trailer = CheckTrailer(absl::MakeConstSpan(sealed, *opened));
  if (!trailer.ok()) {
    // Authentic but malformed: the buffer is dropped, with no plaintext.
    std::fill(sealed, sealed + sealed_length, 0);
    return trailer;
  }
  const size_t inner_length = *opened - 2 - sealed[*opened - 2];
  std::memmove(packet->data(), sealed, inner_length);
  packet->resize(inner_length);
  return absl::OkStatus();
}

}  // namespace kmesh::sim
