#include "sim/kube/request_handler.h"

#include <memory>
#include <string>

#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
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

}  // namespace
}  // namespace kmesh::sim::kube
