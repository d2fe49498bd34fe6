#include "kmesh/crypto/random.h"

#include <cstdint>
#include <vector>

#include "gtest/gtest.h"

namespace kmesh::crypto {
namespace {

bool AllZero(absl::Span<const uint8_t> bytes) {
  for (uint8_t b : bytes) {
    if (b != 0) return false;
  }
  return true;
}

// A 16-byte all-zero run from a working CSPRNG has probability 2^-128: these
// checks fail only if bytes were not written.
TEST(RandomTest, FillRandomWritesTheWholeBuffer) {
  std::vector<uint8_t> buffer(1000, 0);
  FillRandom(absl::MakeSpan(buffer));
  const absl::Span<const uint8_t> all(buffer);
  EXPECT_FALSE(AllZero(all.first(16)));
  EXPECT_FALSE(AllZero(all.subspan(492, 16)));
  EXPECT_FALSE(AllZero(all.last(16)));
}

// An empty span writes nothing, wherever it points: into a buffer (whose
// bytes must stay as they were) or nowhere at all (a null data pointer must
// not be passed on to RAND_bytes).
TEST(RandomTest, FillRandomWritesNothingThroughAnEmptySpan) {
  std::vector<uint8_t> buffer(32, 0);
  FillRandom(absl::MakeSpan(buffer.data() + 8, 0));
  FillRandom(absl::MakeSpan(buffer).subspan(32));
  EXPECT_TRUE(AllZero(buffer));
  FillRandom(absl::Span<uint8_t>());
  FillRandom(absl::Span<uint8_t>(nullptr, 0));
  // The same buffer is filled once the span has a length.
  FillRandom(absl::MakeSpan(buffer.data() + 8, 16));
  EXPECT_TRUE(AllZero(absl::MakeConstSpan(buffer).first(8)));
  EXPECT_FALSE(AllZero(absl::MakeConstSpan(buffer).subspan(8, 16)));
  EXPECT_TRUE(AllZero(absl::MakeConstSpan(buffer).subspan(24)));
}

TEST(RandomTest, RandomSecretBytesAreFreshEachTime) {
  SecretBytes a = RandomSecretBytes(36);
  SecretBytes b = RandomSecretBytes(36);
  ASSERT_EQ(a.size(), 36u);
  ASSERT_EQ(b.size(), 36u);
  EXPECT_FALSE(AllZero(a.span()));
  EXPECT_FALSE(a.Equals(b));
  EXPECT_TRUE(RandomSecretBytes(0).empty());
}

}  // namespace
}  // namespace kmesh::crypto
