#include "kmesh/base/json_depth.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace kmesh {
namespace {

using ::testing::HasSubstr;

std::string Nested(int levels, char open = '[', char close = ']') {
  return std::string(levels, open) + std::string(levels, close);
}

TEST(JsonDepthTest, AcceptsUpToTheLimit) {
  EXPECT_TRUE(CheckJsonDepth("").ok());
  EXPECT_TRUE(CheckJsonDepth("1").ok());
  EXPECT_TRUE(CheckJsonDepth(Nested(kMaxJsonDepth)).ok());
  EXPECT_TRUE(CheckJsonDepth(R"({"a":{"b":[1,[2]]}})", 4).ok());
  // Siblings do not add up.
  EXPECT_TRUE(CheckJsonDepth("[[1],[2],[3],{\"a\":1}]", 2).ok());
}

TEST(JsonDepthTest, RefusesDeeperNestingWithAClearError) {
  absl::Status status = CheckJsonDepth(Nested(kMaxJsonDepth + 1));
  EXPECT_TRUE(absl::IsInvalidArgument(status)) << status;
  EXPECT_THAT(status.message(), HasSubstr("nested more than 100 levels"));
  EXPECT_FALSE(CheckJsonDepth(R"({"a":{"b":[1,[2]]}})", 3).ok());
  EXPECT_FALSE(CheckJsonDepth(Nested(50, '{', '}'), 49).ok());
}

TEST(JsonDepthTest, BracketsInStringsDoNotCount) {
  const std::string in_string = "{\"a\":\"" + std::string(1000, '[') + "\\\"" +
                                std::string(1000, '{') + "\\\\\",\"b\":[]}";
  EXPECT_TRUE(CheckJsonDepth(in_string, 2).ok());
  // After an escaped backslash the string ends at the next quote.
  EXPECT_FALSE(CheckJsonDepth(R"(["\\",[[]]])", 2).ok());
}

// A million '[' (1 MB) parses without recursion in nlohmann, but dumping,
// copying or comparing the result would overflow the stack: refused first.
TEST(JsonDepthTest, AMillionOpenBracketsAreRefusedWithoutACrash) {
  const std::string deep = Nested(1000000);
  EXPECT_FALSE(CheckJsonDepth(deep).ok());
  EXPECT_TRUE(ParseJsonWithinDepth(deep).is_discarded());
  EXPECT_TRUE(ParseJsonWithinDepth(std::string(1000000, '[')).is_discarded());
}

TEST(JsonDepthTest, ParsesWhatIsShallowEnough) {
  nlohmann::json parsed = ParseJsonWithinDepth(R"({"a":[1,2,{"b":null}]})");
  ASSERT_TRUE(parsed.is_object());
  EXPECT_EQ(parsed["a"][1], 2);
  EXPECT_TRUE(ParseJsonWithinDepth("{\"a\":").is_discarded());
  EXPECT_TRUE(ParseJsonWithinDepth(Nested(kMaxJsonDepth)).is_array());
}

}  // namespace
}  // namespace kmesh
