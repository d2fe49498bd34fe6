#include "kmesh/crypto/encoding.h"

#include <openssl/base64.h>
#include <openssl/err.h>

#include <cstddef>
#include <cstring>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace kmesh::crypto {
namespace {

constexpr char kHexDigits[] = "0123456789abcdef";

// The value of a hex digit, or -1.
int HexDigitValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Checks `hex` and writes its hex.size() / 2 bytes to `out`.
absl::Status DecodeHexInto(absl::string_view hex, absl::Span<uint8_t> out) {
  for (size_t i = 0; i < out.size(); ++i) {
    const int high = HexDigitValue(hex[2 * i]);
    const int low = HexDigitValue(hex[2 * i + 1]);
    if (high < 0 || low < 0) {
      const size_t offset = high < 0 ? 2 * i : 2 * i + 1;
      return absl::InvalidArgumentError(
          absl::StrCat("invalid hex: character at offset ", offset,
                       " is not a hex digit [0-9a-fA-F]"));
    }
    out[i] = static_cast<uint8_t>(high << 4 | low);
  }
  return absl::OkStatus();
}

absl::Status CheckHexLength(absl::string_view hex) {
  if (hex.size() % 2 != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid hex: odd number of digits (", hex.size(),
                     "); each byte needs two"));
  }
  return absl::OkStatus();
}

int Base64Value(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

// Validates canonical padded standard base64 and returns the decoded length.
// BoringSSL's decoder would reject most of this too, but without saying what
// or where; it also accepts non-zero unused bits, which this rejects.
absl::StatusOr<size_t> CheckBase64(absl::string_view in) {
  if (in.size() % 4 != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid base64: length ", in.size(),
                     " is not a multiple of 4 (standard base64 is padded "
                     "with '=')"));
  }
  size_t padding = 0;
  if (!in.empty() && in[in.size() - 1] == '=') ++padding;
  if (in.size() >= 2 && in[in.size() - 2] == '=') ++padding;
  for (size_t i = 0; i < in.size() - padding; ++i) {
    if (in[i] == '=') {
      return absl::InvalidArgumentError(absl::StrCat(
          "invalid base64: padding '=' at offset ", i, " before the end"));
    }
    if (Base64Value(in[i]) < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("invalid base64: character at offset ", i,
                       " is not in the standard alphabet [A-Za-z0-9+/]"));
    }
  }
  if (padding > 0) {
    // The last data character carries 4 (one '=') or 2 (two '=') unused
    // bits that a canonical encoder leaves zero.
    const int last = Base64Value(in[in.size() - padding - 1]);
    const int unused_mask = padding == 1 ? 0x03 : 0x0f;
    if ((last & unused_mask) != 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("invalid base64: non-zero unused bits at offset ",
                       in.size() - padding - 1, " (not canonical)"));
    }
  }
  return in.size() / 4 * 3 - padding;
}

// Decodes already-validated base64 into `out`, which has exactly the decoded
// length. EVP_DecodeBase64 wants room for the length before padding is taken
// off, so it writes into a scratch buffer that is wiped afterwards.
absl::Status DecodeBase64Into(absl::string_view in, absl::Span<uint8_t> out) {
  if (in.empty()) return absl::OkStatus();
  SecretBytes scratch(in.size() / 4 * 3);
  size_t written = 0;
  if (!EVP_DecodeBase64(scratch.mutable_data(), &written, scratch.size(),
                        reinterpret_cast<const uint8_t*>(in.data()),
                        in.size())) {
    ERR_clear_error();
    return absl::InvalidArgumentError("invalid base64: rejected by decoder");
  }
  if (written != out.size()) {
    return absl::InternalError(absl::StrCat("base64 decoder wrote ", written,
                                            " bytes, expected ", out.size()));
  }
  std::memcpy(out.data(), scratch.data(), written);
  return absl::OkStatus();
}

}  // namespace

std::string HexEncode(absl::Span<const uint8_t> bytes) {
  std::string hex(bytes.size() * 2, '\0');
  for (size_t i = 0; i < bytes.size(); ++i) {
    hex[2 * i] = kHexDigits[bytes[i] >> 4];
    hex[2 * i + 1] = kHexDigits[bytes[i] & 0x0f];
  }
  return hex;
}

absl::StatusOr<std::vector<uint8_t>> HexDecode(absl::string_view hex) {
  if (absl::Status status = CheckHexLength(hex); !status.ok()) return status;
  std::vector<uint8_t> out(hex.size() / 2);
  if (absl::Status status = DecodeHexInto(hex, absl::MakeSpan(out));
      !status.ok()) {
    return status;
  }
  return out;
}

absl::StatusOr<SecretBytes> HexDecodeSecret(absl::string_view hex) {
  if (absl::Status status = CheckHexLength(hex); !status.ok()) return status;
  SecretBytes out(hex.size() / 2);
  if (absl::Status status = DecodeHexInto(hex, out.mutable_span());
      !status.ok()) {
    return status;  // `out` wipes what was decoded so far.
  }
  return out;
}

std::string Base64Encode(absl::Span<const uint8_t> bytes) {
  size_t encoded_length = 0;  // Includes the trailing NUL.
  if (!EVP_EncodedLength(&encoded_length, bytes.size())) {
    return std::string();  // Only on size_t overflow.
  }
  std::string out(encoded_length, '\0');
  const size_t written = EVP_EncodeBlock(reinterpret_cast<uint8_t*>(out.data()),
                                         bytes.data(), bytes.size());
  out.resize(written);
  return out;
}

absl::StatusOr<std::vector<uint8_t>> Base64Decode(absl::string_view base64) {
  absl::StatusOr<size_t> length = CheckBase64(base64);
  if (!length.ok()) return length.status();
  std::vector<uint8_t> out(*length);
  if (absl::Status status = DecodeBase64Into(base64, absl::MakeSpan(out));
      !status.ok()) {
    return status;
  }
  return out;
}

absl::StatusOr<SecretBytes> Base64DecodeSecret(absl::string_view base64) {
  absl::StatusOr<size_t> length = CheckBase64(base64);
  if (!length.ok()) return length.status();
  SecretBytes out(*length);
  if (absl::Status status = DecodeBase64Into(base64, out.mutable_span());
      !status.ok()) {
    return status;
  }
  return out;
}

}  // namespace kmesh::crypto
