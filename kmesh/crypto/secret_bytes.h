// SecretBytes: a move-only, fixed-size byte buffer for key material (the IPsec
// pre-shared key, derived per-pair keys). The buffer is allocated once and
// never grows, so no stray copies are left behind by reallocation; it is wiped
// with OPENSSL_cleanse before it is freed or replaced. Comparison is constant
// time (CRYPTO_memcmp). There is deliberately no operator<< and no implicit
// conversion to a string: DebugString() says only how many bytes it holds.
// Copies must be asked for explicitly with Clone(). The bytes live on pages
// of their own (never the general heap) marked MADV_DONTDUMP, so a core
// dump of the process does not carry keys.
#ifndef KMESH_CRYPTO_SECRET_BYTES_H_
#define KMESH_CRYPTO_SECRET_BYTES_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <ostream>
#include <string>

#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "kmesh/crypto/boringssl_guard.h"

namespace kmesh::crypto {

class SecretBytes {
 public:
  // An empty buffer.
  SecretBytes() = default;
  // `size` zero bytes, to be filled through mutable_span().
  explicit SecretBytes(size_t size);
  // A copy of `bytes`.
  explicit SecretBytes(absl::Span<const uint8_t> bytes);
  // A copy of the bytes of `bytes` (binary, not text).
  static SecretBytes CopyFrom(absl::string_view bytes);
  // Copies `*source` and then wipes and clears it: for key bytes that arrive
  // in a std::string (e.g. a parsed protobuf `bytes` field).
  static SecretBytes TakeAndWipe(std::string* source);

  SecretBytes(SecretBytes&& other) noexcept;
  SecretBytes& operator=(SecretBytes&& other) noexcept;
  SecretBytes(const SecretBytes&) = delete;
  SecretBytes& operator=(const SecretBytes&) = delete;
  ~SecretBytes();

  // An explicit copy.
  SecretBytes Clone() const;

  const uint8_t* data() const { return data_.get(); }
  uint8_t* mutable_data() { return data_.get(); }
  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  absl::Span<const uint8_t> span() const { return {data_.get(), size_}; }
  absl::Span<uint8_t> mutable_span() { return {data_.get(), size_}; }

  // True when both hold the same bytes. Constant time in the contents; the
  // lengths are not secret and are compared first.
  bool Equals(const SecretBytes& other) const;
  bool Equals(absl::Span<const uint8_t> other) const;

  // Wipes and releases the buffer; the object is then empty.
  void Clear();

  // "<36 secret bytes>": never the contents.
  std::string DebugString() const;

  // Test hook: when set, called with each buffer right after it has been wiped
  // and just before it is freed (never with an empty buffer). nullptr unsets.
  using WipeObserver = void (*)(const uint8_t* data, size_t size);
  static void SetWipeObserverForTesting(WipeObserver observer);

  // No printing of secrets, not even by accident.
  friend std::ostream& operator<<(std::ostream&, const SecretBytes&) = delete;

 private:
  // Returns a buffer to the dump-excluded pages it came from.
  // No default member initializer: clang does not yet treat a nested
  // class's as usable inside the enclosing class, which would delete
  // SecretBytes() (unique_ptr value-initializes the deleter: size 0).
  struct Deleter {
    size_t size;
    void operator()(uint8_t* p) const;
  };
  std::unique_ptr<uint8_t, Deleter> data_;
  size_t size_ = 0;
};

}  // namespace kmesh::crypto

#endif  // KMESH_CRYPTO_SECRET_BYTES_H_
