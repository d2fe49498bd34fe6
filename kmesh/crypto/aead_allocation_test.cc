// Checks that the per-packet calls SealInto/OpenInto make no C++ heap
// allocations (operator new), so the simulated ESP datapath can call them per
// packet. BoringSSL's own allocations (malloc) are not counted; AES-GCM
// sealing and opening with an existing context makes none.
#include <atomic>
#include <cstdlib>
#include <new>
#include <vector>

#include "gtest/gtest.h"
#include "kmesh/crypto/aead.h"

namespace {
std::atomic<long> allocations{0};
}  // namespace

// GCC 12 does not see that these replacements pair malloc with free and
// warns (-Wmismatched-new-delete) where it inlines them.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
void* operator new(size_t size) {
  allocations.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(size == 0 ? 1 : size)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, size_t) noexcept { std::free(p); }
#pragma GCC diagnostic pop

namespace kmesh::crypto {
namespace {

TEST(AeadAllocationTest, SealIntoAndOpenIntoDoNotAllocate) {
  absl::StatusOr<Rfc4106Aes256Gcm> aead =
      Rfc4106Aes256Gcm::Create(std::vector<uint8_t>(36, 0x42));
  ASSERT_TRUE(aead.ok());
  std::vector<uint8_t> iv(8, 0), aad(8, 1), plaintext(1400, 2);
  std::vector<uint8_t> packet(plaintext.size() + 16), opened(plaintext.size());

  const long before = allocations.load();
  for (int i = 0; i < 100; ++i) {
    iv[7] = static_cast<uint8_t>(i);
    absl::StatusOr<size_t> sealed =
        aead->SealInto(iv, aad, plaintext, absl::MakeSpan(packet));
    absl::StatusOr<size_t> length =
        aead->OpenInto(iv, aad, packet, absl::MakeSpan(opened));
    if (!sealed.ok() || !length.ok() || *length != plaintext.size()) {
      ADD_FAILURE() << "round trip failed at " << i;
      break;
    }
  }
  const long after = allocations.load();
  EXPECT_EQ(after - before, 0);
  EXPECT_EQ(opened, plaintext);

  // The counter itself works: an allocating call is seen.
  const long seal_before = allocations.load();
  EXPECT_TRUE(aead->Seal(iv, aad, plaintext).ok());
  EXPECT_GT(allocations.load(), seal_before);
}

}  // namespace
}  // namespace kmesh::crypto
