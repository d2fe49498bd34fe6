// Per-pair key derivation, exactly as Kmesh does it so that mixed clusters
// interoperate: the key of the ESP flow from src to dst is the first
// len(psk) bytes (36: 32-byte AES-256 key then 4-byte GCM salt) of
//   SHA-512(psk || src_ip || dst_ip || src_boot_id[0:36] || dst_boot_id[0:36])
// where the IPs are the textual addresses exactly as published in
// KmeshNodeInfo. Direction matters: the A->B key differs from the B->A key.
// A new boot ID on either side therefore means new keys.
#ifndef KMESH_IPSEC_KEY_DERIVER_H_
#define KMESH_IPSEC_KEY_DERIVER_H_

#include <string>

#include "absl/status/statusor.h"
#include "kmesh/kernel/xfrm_key.h"

namespace kmesh::ipsec {

// How many characters of each boot ID the derivation uses.
inline constexpr size_t kBootIdPrefixLength = 36;
// The PSK length Kmesh uses (and so the derived key length).
inline constexpr size_t kPskLength = 36;

// Returns InvalidArgument when a boot ID is shorter than 36 characters (the
// message says whether it is the source's or the destination's), when an IP
// is empty, or when the PSK is empty or longer than a SHA-512 digest (64
// bytes). Error messages never contain key bytes.
absl::StatusOr<XfrmKey> DerivePairKey(const XfrmKey& psk,
                                      const std::string& src_ip,
                                      const std::string& dst_ip,
                                      const std::string& src_boot_id,
                                      const std::string& dst_boot_id);

}  // namespace kmesh::ipsec

#endif  // KMESH_IPSEC_KEY_DERIVER_H_
