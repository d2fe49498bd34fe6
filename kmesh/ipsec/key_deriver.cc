#include "kmesh/ipsec/key_deriver.h"

#include <cstdint>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "kmesh/crypto/secret_bytes.h"
#include "kmesh/crypto/sha512.h"

namespace kmesh::ipsec {
namespace {

absl::Status CheckBootId(const std::string& boot_id, const char* side) {
  if (boot_id.size() < kBootIdPrefixLength) {
    return absl::InvalidArgumentError(absl::StrCat(
        side, " boot ID is ", boot_id.size(), " characters long; at least ",
        kBootIdPrefixLength, " are required for the pair key derivation"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<XfrmKey> DerivePairKey(const XfrmKey& psk,
                                      const std::string& src_ip,
                                      const std::string& dst_ip,
                                      const std::string& src_boot_id,
                                      const std::string& dst_boot_id) {
  if (psk.empty() || psk.size() > crypto::Sha512Hasher::kDigestSize) {
    return absl::InvalidArgumentError(absl::StrCat(
        "pre-shared key must be 1 to ", crypto::Sha512Hasher::kDigestSize,
        " bytes, got ", psk.size()));
  }
  if (src_ip.empty()) return absl::InvalidArgumentError("source IP is empty");
  if (dst_ip.empty()) {
    return absl::InvalidArgumentError("destination IP is empty");
  }
  if (absl::Status s = CheckBootId(src_boot_id, "source"); !s.ok()) return s;
  if (absl::Status s = CheckBootId(dst_boot_id, "destination"); !s.ok()) {
    return s;
  }

  crypto::Sha512Hasher hasher;
  hasher.Update(absl::MakeConstSpan(psk.data(), psk.size()))
      .Update(absl::string_view(src_ip))
      .Update(absl::string_view(dst_ip))
      .Update(absl::string_view(src_boot_id).substr(0, kBootIdPrefixLength))
      .Update(absl::string_view(dst_boot_id).substr(0, kBootIdPrefixLength));
  // Both the digest and the hasher's state wipe themselves.
  const crypto::SecretBytes digest = hasher.Finish();
  return XfrmKey(digest.data(), psk.size());
}

}  // namespace kmesh::ipsec
