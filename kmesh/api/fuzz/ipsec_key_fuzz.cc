// Fuzz target: the IPsec key JSON (ipsec_key_codec.h), which is both the
// Secret kmesh-ipsec's "ipSec" data and the daemon's mounted key file (the
// key file watcher hands the file's bytes to ParseIpsecKeyJson as they are).
// Whatever parses must serialise and parse back to the same key.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "kmesh/api/ipsec_key_codec.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view json(reinterpret_cast<const char*>(data), size);
  absl::StatusOr<kmesh::api::IpsecKeyConfig> config =
      kmesh::api::ParseIpsecKeyJson(json);
  if (!config.ok()) return 0;
  absl::StatusOr<std::string> text = kmesh::api::SerializeIpsecKeyJson(*config);
  if (!text.ok()) std::abort();  // Parsed keys are valid ones.
  absl::StatusOr<kmesh::api::IpsecKeyConfig> again =
      kmesh::api::ParseIpsecKeyJson(*text);
  if (!again.ok() || again->spi != config->spi ||
      again->aead_key.size() != config->aead_key.size() ||
      std::memcmp(again->aead_key.data(), config->aead_key.data(),
                  config->aead_key.size()) != 0) {
    std::abort();
  }
  return 0;
}
