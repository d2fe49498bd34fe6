// XfrmKey: key material inside an SA description. Unlike most secret holders
// it is copyable, because SA descriptions are values that are dumped, compared
// and diffed; every copy holds its bytes in a crypto::SecretBytes of its own
// (pages excluded from core dumps, wiped with OPENSSL_cleanse when it dies),
// compares in constant time, and never prints its contents.
#ifndef KMESH_KERNEL_XFRM_KEY_H_
#define KMESH_KERNEL_XFRM_KEY_H_

#include <cstddef>
#include <cstdint>
#include <string>

#include "kmesh/crypto/secret_bytes.h"

namespace kmesh {

class XfrmKey {
 public:
  XfrmKey() = default;
  XfrmKey(const uint8_t* data, size_t size);
  XfrmKey(const XfrmKey& other);
  XfrmKey& operator=(const XfrmKey& other);
  XfrmKey(XfrmKey&& other) noexcept;
  XfrmKey& operator=(XfrmKey&& other) noexcept;
  ~XfrmKey() = default;

  const uint8_t* data() const { return bytes_.data(); }
  size_t size() const { return bytes_.size(); }
  bool empty() const { return bytes_.empty(); }

  // Constant-time equality (CRYPTO_memcmp); sizes are not secret.
  friend bool operator==(const XfrmKey& a, const XfrmKey& b);
  friend bool operator!=(const XfrmKey& a, const XfrmKey& b) {
    return !(a == b);
  }

  // "<36 key bytes>", never the bytes.
  std::string DebugString() const;

 private:
  crypto::SecretBytes bytes_;
};

}  // namespace kmesh

#endif  // KMESH_KERNEL_XFRM_KEY_H_
