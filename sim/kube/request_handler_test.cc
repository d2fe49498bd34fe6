#include "sim/kube/request_handler.h"

#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "sim/kube/api_error.h"
#include "sim/kube/object_store.h"

namespace kmesh::sim::kube {
namespace {

using nlohmann::json;

// What a watch line was before objects were serialised once per event: the
// whole envelope through nlohmann's dump. kubectl and RestKubeClient parse
// these bytes, so the shared serialisation must reproduce them exactly.
std::string EnvelopeDump(EventType type, const json& object) {
  return json{{"type", EventTypeName(type)}, {"object", object}}.dump() + "\n";
}

TEST(RequestHandlerTest, WatchEventLineIsTheEnvelopeJsonByteForByte) {
  const json objects[] = {
      json::object(),
      {{"apiVersion", "kmesh.net/v1alpha1"},
       {"kind", "KmeshNodeInfo"},
       {"metadata",
        {{"name", "node-1"},
         {"namespace", "kmesh-system"},
         {"labels", {{"a/b", "x y"}}},
         {"resourceVersion", "42"}}},
       {"spec",
        {{"spi", 7},
         {"ratio", 0.25},
         {"negative", -3},
         {"big", 18446744073709551615ULL},
         {"empty", json::array()},
         {"none", nullptr},
         {"flag", true},
         {"addresses", {"10.0.0.1", "fd00::1"}},
         {"text",
          "quote \" backslash \\ tab \t newline \n ctrl \x01 "
          "utf-8 \xc3\xa9 \xe2\x82\xac"}}}},
  };
  for (const json& object : objects) {
    for (EventType type :
         {EventType::kAdded, EventType::kModified, EventType::kDeleted}) {
      WatchEvent event{type, std::make_shared<const ObjectSnapshot>(object)};
      EXPECT_EQ(RequestHandler::WatchEventLine(event),
                EnvelopeDump(type, object));
    }
  }
}

// Bytes that are not UTF-8 (a "%FF" in a request's path, a protobuf body's
// string) make nlohmann's dump() throw, which killed the connection thread:
// every response path replaces them with U+FFFD instead.
TEST(RequestHandlerTest, InvalidUtf8IsReplacedInEveryResponse) {
  constexpr char kReplacement[] = "\xEF\xBF\xBD";
  const json object = {{"kind", "ConfigMap"},
                       {"data",
                        {{"k",
                          "a\xFF"
                          "b"}}}};
  WatchEvent event{EventType::kAdded,
                   std::make_shared<const ObjectSnapshot>(object)};
  std::string line;
  ASSERT_NO_THROW(line = RequestHandler::WatchEventLine(event));
  EXPECT_NE(line.find(absl::StrCat("a", kReplacement, "b")), std::string::npos)
      << line;

  ASSERT_NO_THROW(line = RequestHandler::WatchErrorLine(
                      BadRequest("bad selector \"\xFF\"")));
  EXPECT_NE(line.find(kReplacement), std::string::npos) << line;

  ApiResponse response;
  ASSERT_NO_THROW(response =
                      RequestHandler::ErrorResponse(NotFound("pods", "\xFF")));
  EXPECT_EQ(response.code, 404);
  json status = json::parse(response.body, nullptr, false);
  ASSERT_TRUE(status.is_object()) << response.body;
  EXPECT_EQ(status["message"],
            absl::StrCat("pods \"", kReplacement, "\" not found"));

  ASSERT_NO_THROW(
      response = RequestHandler::ErrorResponse(InvalidWithCauses(
          "Secret", "", "s\xFF", {"metadata.name: Invalid value"})));
  EXPECT_EQ(response.code, 422);
  status = json::parse(response.body, nullptr, false);
  ASSERT_TRUE(status.is_object()) << response.body;
  EXPECT_EQ(status["details"]["name"], absl::StrCat("s", kReplacement));
}

}  // namespace
}  // namespace kmesh::sim::kube
