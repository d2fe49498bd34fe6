#include "kmesh/kmeshctl/key_argument.h"

#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "kmesh/crypto/encoding.h"

namespace kmesh::kmeshctl {
namespace {

bool IsHexDigit(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
         (c >= 'A' && c <= 'F');
}

// Names a character that is not a hex digit. A character that cannot be part
// of a hex key is not key material, so printable ones are shown; others are
// described.
std::string DescribeNonHexCharacter(char c) {
  switch (c) {
    case ' ':
      return "a space";
    case '\t':
      return "a tab";
    case '\n':
      return "a newline";
    case '\r':
      return "a carriage return";
    default:
      break;
  }
  const unsigned char u = static_cast<unsigned char>(c);
  if (u > 0x20 && u < 0x7f) return absl::StrCat("'", std::string(1, c), "'");
  return absl::StrCat("byte 0x", absl::Hex(u, absl::kZeroPad2),
                      " (not printable ASCII)");
}

absl::Status KeyError(absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat(what, "; ", kKeyArgumentHint));
}

}  // namespace

const char kKeyArgumentHint[] =
    "--key takes exactly 72 hex digits (36 bytes: a 256-bit AES key and a "
    "32-bit salt), e.g. kmeshctl secret create --key=$(dd if=/dev/urandom "
    "count=36 bs=1 2>/dev/null | xxd -p -c 64), or leave out --key for a "
    "random key";

absl::StatusOr<crypto::SecretBytes> ParseKeyArgument(absl::string_view hex) {
  if (hex.empty()) return KeyError("invalid key: --key is empty");
  if (hex.size() >= 2 && hex[0] == '0' && (hex[1] == 'x' || hex[1] == 'X')) {
    return KeyError(
        "invalid hex in --key: remove the \"0x\" prefix (the key is plain "
        "hex digits)");
  }
  for (size_t i = 0; i < hex.size(); ++i) {
    if (!IsHexDigit(hex[i])) {
      return KeyError(absl::StrCat("invalid hex in --key: character ", i + 1,
                                   " of ", hex.size(), " is ",
                                   DescribeNonHexCharacter(hex[i]),
                                   ", not a hex digit (0-9, a-f, A-F)"));
    }
  }
  if (hex.size() % 2 != 0) {
    return KeyError(absl::StrCat(
        "invalid key length: expected 36 bytes (72 hex digits), got ",
        hex.size(), " hex digits, an odd number that is not whole bytes"));
  }
  if (hex.size() != 2 * kPreSharedKeyBytes) {
    return KeyError(absl::StrCat("invalid key length: expected 36 bytes, got ",
                                 hex.size() / 2,
                                 " bytes (key must be 256-bit + 32-bit salt)"));
  }
  absl::StatusOr<crypto::SecretBytes> key = crypto::HexDecodeSecret(hex);
  if (!key.ok()) {
    // Unreachable after the checks above; the decoder's message never
    // contains its input.
    return KeyError(key.status().message());
  }
  return key;
}

}  // namespace kmesh::kmeshctl
