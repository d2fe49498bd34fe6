#include "kmesh/crypto/secret_bytes.h"

#include <algorithm>
#include <cstdint>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "gtest/gtest.h"
#include "kmesh/crypto/testing/core_dump_exclusion.h"

namespace kmesh::crypto {
namespace {

// What the wipe observer saw: the bytes of each buffer at the moment it was
// wiped, just before it was freed.
std::vector<std::vector<uint8_t>>* wiped_buffers = nullptr;

void RecordWipedBuffer(const uint8_t* data, size_t size) {
  wiped_buffers->emplace_back(data, data + size);
}

bool AllZero(const std::vector<uint8_t>& bytes) {
  for (uint8_t b : bytes) {
    if (b != 0) return false;
  }
  return true;
}

class SecretBytesWipeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    wiped_buffers = &seen_;
    SecretBytes::SetWipeObserverForTesting(&RecordWipedBuffer);
  }
  void TearDown() override {
    SecretBytes::SetWipeObserverForTesting(nullptr);
    wiped_buffers = nullptr;
  }
  std::vector<std::vector<uint8_t>> seen_;
};

const std::vector<uint8_t> kKey = {0xde, 0xad, 0xbe, 0xef, 0x01, 0x02, 0x03};

TEST_F(SecretBytesWipeTest, DestructorWipesBeforeFreeing) {
  { SecretBytes secret{absl::MakeConstSpan(kKey)}; }
  ASSERT_EQ(seen_.size(), 1u);
  EXPECT_EQ(seen_[0].size(), kKey.size());
  EXPECT_TRUE(AllZero(seen_[0]));
}

TEST_F(SecretBytesWipeTest, MoveAssignmentWipesTheOldBuffer) {
  SecretBytes target{absl::MakeConstSpan(kKey)};
  SecretBytes source(3);
  target = std::move(source);
  ASSERT_EQ(seen_.size(), 1u);
  EXPECT_EQ(seen_[0].size(), kKey.size());
  EXPECT_TRUE(AllZero(seen_[0]));
  EXPECT_EQ(target.size(), 3u);
  EXPECT_TRUE(source.empty());  // NOLINT(bugprone-use-after-move)
}

TEST_F(SecretBytesWipeTest, MoveConstructionTransfersWithoutCopying) {
  SecretBytes source{absl::MakeConstSpan(kKey)};
  const uint8_t* buffer = source.data();
  SecretBytes target(std::move(source));
  EXPECT_EQ(target.data(), buffer);
  EXPECT_TRUE(source.empty());  // NOLINT(bugprone-use-after-move)
  EXPECT_TRUE(seen_.empty());   // Nothing freed, so nothing wiped yet.
}

TEST_F(SecretBytesWipeTest, ClearWipes) {
  SecretBytes secret{absl::MakeConstSpan(kKey)};
  secret.Clear();
  EXPECT_TRUE(secret.empty());
  ASSERT_EQ(seen_.size(), 1u);
  EXPECT_TRUE(AllZero(seen_[0]));
}

TEST(SecretBytesTest, TakeAndWipeWipesTheSourceString) {
  // Long enough to live on the heap, so clear() keeps the buffer we inspect.
  std::string source(64, 'k');
  const char* buffer = source.data();
  SecretBytes secret = SecretBytes::TakeAndWipe(&source);
  EXPECT_EQ(secret.size(), 64u);
  EXPECT_TRUE(secret.Equals(SecretBytes::CopyFrom(std::string(64, 'k'))));
  EXPECT_TRUE(source.empty());
  ASSERT_EQ(source.data(), buffer) << "buffer was reallocated; cannot check";
  // Reads the old contents through the still-allocated buffer (capacity is
  // unchanged by clear()).
  for (size_t i = 0; i < 64; ++i) ASSERT_NE(buffer[i], 'k') << i;
}

TEST(SecretBytesTest, HoldsACopy) {
  std::vector<uint8_t> bytes = kKey;
  SecretBytes secret{absl::MakeConstSpan(bytes)};
  bytes[0] = 0;
  ASSERT_EQ(secret.size(), kKey.size());
  EXPECT_EQ(std::vector<uint8_t>(secret.data(), secret.data() + secret.size()),
            kKey);
}

TEST(SecretBytesTest, SizedConstructorZeroFills) {
  SecretBytes secret(36);
  ASSERT_EQ(secret.size(), 36u);
  for (uint8_t b : secret.span()) EXPECT_EQ(b, 0);
  SecretBytes empty(0);
  EXPECT_TRUE(empty.empty());
  EXPECT_EQ(empty.data(), nullptr);
}

TEST(SecretBytesTest, Equals) {
  SecretBytes a{absl::MakeConstSpan(kKey)};
  SecretBytes b = a.Clone();
  EXPECT_NE(a.data(), b.data());
  EXPECT_TRUE(a.Equals(b));
  EXPECT_TRUE(a.Equals(absl::MakeConstSpan(kKey)));
  b.mutable_data()[6] ^= 0x80;
  EXPECT_FALSE(a.Equals(b));
  SecretBytes shorter{absl::MakeConstSpan(kKey).first(6)};
  EXPECT_FALSE(a.Equals(shorter));
  EXPECT_FALSE(shorter.Equals(a));
  EXPECT_TRUE(SecretBytes().Equals(SecretBytes(0)));
  EXPECT_FALSE(SecretBytes().Equals(a));
}

TEST(SecretBytesTest, DebugStringShowsOnlyTheSize) {
  SecretBytes secret =
      SecretBytes::CopyFrom("hunter2-key-material-36-bytes-long!!");
  EXPECT_EQ(secret.DebugString(), "<36 secret bytes>");
}

// Not printable, not copyable: compile-time properties checked here.
template <typename T, typename = void>
struct IsStreamable : std::false_type {};
template <typename T>
struct IsStreamable<T, std::void_t<decltype(std::declval<std::ostream&>()
                                            << std::declval<const T&>())>>
    : std::true_type {};

static_assert(!IsStreamable<SecretBytes>::value,
              "SecretBytes must not be printable with operator<<");
static_assert(IsStreamable<std::string>::value,
              "the IsStreamable check itself must work");
static_assert(!std::is_copy_constructible_v<SecretBytes>);
static_assert(!std::is_copy_assignable_v<SecretBytes>);
static_assert(std::is_nothrow_move_constructible_v<SecretBytes>);
static_assert(!std::is_convertible_v<SecretBytes, std::string>);

// Key pages must not reach a core dump: the mapping holding a key's bytes
// carries the kernel's "dd" (VM_DONTDUMP) flag, for small keys and large
// buffers alike, and for a buffer reused after another was freed.
TEST(SecretBytesTest, KeyPagesAreExcludedFromCoreDumps) {
  for (size_t size : {size_t{1}, size_t{36}, size_t{2048}, size_t{10000}}) {
    SecretBytes secret(size);
    const std::string flags = testing::VmFlagsOf(secret.data());
    ASSERT_FALSE(flags.empty()) << "no mapping holds the key, size " << size;
    EXPECT_TRUE(testing::ExcludedFromCoreDumps(secret.data()))
        << "size " << size << ": VmFlags:" << flags;
  }
}

TEST(SecretBytesTest, FreedBuffersAreReusedZeroed) {
  std::vector<SecretBytes> many;
  for (int i = 0; i < 5000; ++i) {
    SecretBytes secret(36);
    secret.mutable_data()[0] = 0xff;
    secret.mutable_data()[35] = 0xff;
    many.push_back(std::move(secret));
  }
  many.clear();
  for (int i = 0; i < 5000; ++i) {
    SecretBytes secret(36);
    for (size_t j = 0; j < secret.size(); ++j) {
      ASSERT_EQ(secret.data()[j], 0) << i << " " << j;
    }
    many.push_back(std::move(secret));
  }
}

}  // namespace
}  // namespace kmesh::crypto
