// Lists and watches as the real API server answers them, over HTTP: query
// parameters decoded as the parameter codec decodes them, ListOptions
// validation, pagination with continue tokens at a consistent snapshot (and
// their expiry), resourceVersion/resourceVersionMatch, field selectors per
// resource, timeoutSeconds, and BOOKMARK events.
#include <chrono>
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "sim/kube/api_server.h"
#include "sim/kube/testing/kube_objects.h"
#include "sim/kube/testing/test_http_client.h"

namespace kmesh::sim::kube {
namespace {

using nlohmann::json;

constexpr char kPods[] = "/api/v1/namespaces/demo/pods";

class ListWatchTest : public ::testing::Test {
 protected:
  void SetUp() override { StartServer({}); }

  void StartServer(ApiServer::Options options) {
    server_.reset();
    auto started = ApiServer::Start(std::move(options));
    ASSERT_TRUE(started.ok()) << started.status();
    server_ = *std::move(started);
    ASSERT_TRUE(CreateNamespace(server_->store(), "demo").ok());
  }

  std::unique_ptr<TestHttpClient> Client() {
    auto client = TestHttpClient::Connect(server_->port());
    EXPECT_TRUE(client.ok()) << client.status();
    return client.ok() ? *std::move(client) : nullptr;
  }

  TestHttpResponse Request(const std::string& method, const std::string& target,
                           const std::string& body = "") {
    auto response = Client()->Send(method, target, body);
    EXPECT_TRUE(response.ok()) << response.status();
    return response.ok() ? *response : TestHttpResponse{};
  }

  json Get(const std::string& target, int want_code = 200) {
    TestHttpResponse response = Request("GET", target);
    EXPECT_EQ(response.code, want_code) << target << ": " << response.body;
    json body = json::parse(response.body, nullptr, false);
    EXPECT_FALSE(body.is_discarded()) << response.body;
    return body;
  }

  void CreatePod(const std::string& name, const std::string& node) {
    json pod = {{"apiVersion", "v1"},
                {"kind", "Pod"},
                {"metadata", {{"name", name}}},
                {"spec",
                 {{"nodeName", node},
                  {"containers", {{{"name", "c"}, {"image", "busybox"}}}}}}};
    ASSERT_EQ(Request("POST", kPods, pod.dump()).code, 201);
  }

  uint64_t Current() { return server_->store().CurrentResourceVersion(); }

  static std::vector<std::string> Names(const json& list) {
    std::vector<std::string> names;
    for (const json& item : list["items"]) {
      names.push_back(item["metadata"]["name"]);
    }
    return names;
  }

  // The lines of a watch stream until it ends (or `max_lines`).
  std::vector<json> WatchLines(const std::string& target,
                               size_t max_lines = 100) {
    auto client = Client();
    auto head = client->StartStream(target);
    EXPECT_TRUE(head.ok()) << head.status();
    std::vector<json> lines;
    if (!head.ok()) return lines;
    EXPECT_EQ(head->code, 200);
    while (lines.size() < max_lines) {
      auto chunk = client->NextChunk();
      if (!chunk.ok() || !chunk->has_value()) break;
      lines.push_back(json::parse(**chunk, nullptr, false));
    }
    return lines;
  }

  std::unique_ptr<ApiServer> server_;
};

// Booleans as runtime.Convert_Slice_string_To_bool: only "0" and "false" (any
// case) are false; the Python client's "True" is a watch.
TEST_F(ListWatchTest, BooleanQueryParametersAsKubernetesDecodesThem) {
  CreatePod("a", "n1");
  for (const char* value : {"True", "true", "1", "t", "TRUE", "yes", ""}) {
    auto client = Client();
    auto head = client->StartStream(
        absl::StrCat(kPods, "?timeoutSeconds=1&watch=", value));
    ASSERT_TRUE(head.ok()) << value;
    EXPECT_EQ(head->headers["transfer-encoding"], "chunked") << value;
    auto chunk = client->NextChunk();
    ASSERT_TRUE(chunk.ok() && chunk->has_value()) << value;
    EXPECT_EQ(json::parse(**chunk)["type"], "ADDED") << value;
  }
  for (const char* value : {"0", "false", "False", "FALSE"}) {
    json list = Get(absl::StrCat(kPods, "?watch=", value));
    EXPECT_EQ(list["kind"], "PodList") << value;
  }
  // Of a repeated parameter the first counts (url.Values.Get).
  EXPECT_EQ(Get(absl::StrCat(kPods, "?watch=false&watch=true"))["kind"],
            "PodList");
}

TEST_F(ListWatchTest, IntegerQueryParametersWithStrconvErrors) {
  json status = Get(absl::StrCat(kPods, "?limit=abc"), 400);
  EXPECT_EQ(status["reason"], "BadRequest");
  EXPECT_EQ(status["message"],
            "strconv.ParseInt: parsing \"abc\": invalid syntax");
  EXPECT_EQ(Get(absl::StrCat(kPods, "?limit="), 400)["message"],
            "strconv.ParseInt: parsing \"\": invalid syntax");
  EXPECT_EQ(
      Get(absl::StrCat(kPods, "?limit=99999999999999999999"), 400)["message"],
      "strconv.ParseInt: parsing \"99999999999999999999\": value out "
      "of range");
  EXPECT_EQ(
      Get(absl::StrCat(kPods, "?watch=1&timeoutSeconds=1.5"), 400)["message"],
      "strconv.ParseInt: parsing \"1.5\": invalid syntax");
  // A negative limit is no limit.
  CreatePod("a", "n1");
  CreatePod("b", "n1");
  EXPECT_EQ(Names(Get(absl::StrCat(kPods, "?limit=-1"))).size(), 2u);
}

TEST_F(ListWatchTest, PaginationFollowsContinueTokensAtOneSnapshot) {
  for (const char* name : {"p0", "p1", "p2", "p3", "p4"}) CreatePod(name, "n");
  const uint64_t listed_at = Current();
  json page = Get(absl::StrCat(kPods, "?limit=2"));
  EXPECT_EQ(Names(page), (std::vector<std::string>{"p0", "p1"}));
  EXPECT_EQ(page["metadata"]["resourceVersion"], absl::StrCat(listed_at));
  EXPECT_EQ(page["metadata"]["remainingItemCount"], 3);
  // The token is etcd3's: base64url of {"v","rv","start"}.
  std::string token = page["metadata"]["continue"];
  std::string decoded;
  ASSERT_TRUE(absl::WebSafeBase64Unescape(token, &decoded));
  EXPECT_EQ(decoded, absl::StrCat("{\"v\":\"meta.k8s.io/v1\",\"rv\":",
                                  listed_at, ",\"start\":\"p1\\u0000\"}"));

  // Changes after the first page do not show in the next ones.
  const json p2_before = Get(absl::StrCat(kPods, "/p2"));
  CreatePod("p2a", "n");
  ASSERT_EQ(Request("DELETE", absl::StrCat(kPods, "/p3")).code, 200);
  json p2 = p2_before;
  p2["metadata"]["labels"] = {{"changed", "yes"}};
  p2["metadata"].erase("resourceVersion");
  ASSERT_EQ(Request("PUT", absl::StrCat(kPods, "/p2"), p2.dump()).code, 200);
  page = Get(absl::StrCat(kPods, "?limit=2&continue=", token));
  EXPECT_EQ(Names(page), (std::vector<std::string>{"p2", "p3"}));
  EXPECT_EQ(page["items"][0]["metadata"], p2_before["metadata"]);
  EXPECT_EQ(page["metadata"]["resourceVersion"], absl::StrCat(listed_at));
  EXPECT_EQ(page["metadata"]["remainingItemCount"], 1);
  // Also an object deleted since that sorts after every current one.
  ASSERT_EQ(Request("DELETE", absl::StrCat(kPods, "/p4")).code, 200);
  page = Get(absl::StrCat(kPods, "?limit=2&continue=",
                          page["metadata"]["continue"].get<std::string>()));
  EXPECT_EQ(Names(page), (std::vector<std::string>{"p4"}));
  EXPECT_FALSE(page["metadata"].contains("continue"));
  EXPECT_FALSE(page["metadata"].contains("remainingItemCount"));

  // A selector: pages fill with matches; no remainingItemCount.
  page = Get(absl::StrCat(kPods, "?limit=1&fieldSelector=metadata.name%3Dp2"));
  EXPECT_EQ(Names(page), (std::vector<std::string>{"p2"}));
  // As etcd3: more keys follow (p2a), so a token, though none matches.
  EXPECT_TRUE(page["metadata"].contains("continue"));
  EXPECT_FALSE(page["metadata"].contains("remainingItemCount"));
}

// Across namespaces pages follow etcd's key order, "namespace/name" as
// bytes: "demo-b/..." sorts before "demo/...".
TEST_F(ListWatchTest, AllNamespacesPagesInKeyOrder) {
  ASSERT_TRUE(CreateNamespace(server_->store(), "demo-b").ok());
  CreatePod("z", "n");
  json pod = {{"apiVersion", "v1"},
              {"kind", "Pod"},
              {"metadata", {{"name", "a"}}},
              {"spec", {{"containers", {{{"name", "c"}, {"image", "i"}}}}}}};
  ASSERT_EQ(Request("POST", "/api/v1/namespaces/demo-b/pods", pod.dump()).code,
            201);
  json page = Get("/api/v1/pods?limit=1");
  EXPECT_EQ(page["items"][0]["metadata"]["namespace"], "demo-b");
  std::string decoded;
  ASSERT_TRUE(absl::WebSafeBase64Unescape(
      page["metadata"]["continue"].get<std::string>(), &decoded));
  EXPECT_NE(decoded.find(R"("start":"demo-b/a\u0000")"), std::string::npos)
      << decoded;
  page = Get(absl::StrCat("/api/v1/pods?limit=1&continue=",
                          page["metadata"]["continue"].get<std::string>()));
  EXPECT_EQ(page["items"][0]["metadata"]["namespace"], "demo");
  EXPECT_FALSE(page["metadata"].contains("continue"));
}

TEST_F(ListWatchTest, ContinueTokenErrors) {
  CreatePod("p0", "n");
  CreatePod("p1", "n");
  json page = Get(absl::StrCat(kPods, "?limit=1"));
  const std::string token = page["metadata"]["continue"];
  EXPECT_EQ(
      Get(absl::StrCat(kPods, "?limit=1&resourceVersion=5&continue=", token),
          400)["message"],
      "specifying resource version is not allowed when using continue");
  auto encode = [](const std::string& text) {
    std::string out;
    absl::WebSafeBase64Escape(text, &out);
    return out;
  };
  EXPECT_EQ(
      Get(absl::StrCat(kPods, "?continue=",
                       encode(R"({"v":"meta.k8s.io/v1","rv":0,"start":"a"})")),
          400)["message"],
      "invalid continue token: continue key is not valid: incorrect encoded "
      "start resourceVersion (version meta.k8s.io/v1)");
  EXPECT_EQ(
      Get(absl::StrCat(kPods, "?continue=",
                       encode(R"({"v":"meta.k8s.io/v1","rv":3,"start":""})")),
          400)["message"],
      "invalid continue token: continue key is not valid: encoded start key "
      "empty (version meta.k8s.io/v1)");
  EXPECT_EQ(Get(absl::StrCat(kPods, "?continue=",
                             encode(R"({"v":"v2","rv":3,"start":"a"})")),
                400)["message"],
            "invalid continue token: continue key is not valid: server does "
            "not recognize this encoded version v2");
  EXPECT_EQ(Get(absl::StrCat(
                    kPods, "?continue=",
                    encode(R"({"v":"meta.k8s.io/v1","rv":3,"start":"../x"})")),
                400)["message"],
            "invalid continue token: continue key is not valid: ../x");
  json status = Get(absl::StrCat(kPods, "?continue=%25%25"), 400);
  EXPECT_EQ(status["reason"], "BadRequest");
  EXPECT_EQ(status["message"].get<std::string>().rfind(
                "invalid continue token: continue key is not valid", 0),
            0u);
}

TEST_F(ListWatchTest, ContinueTokenAtACompactedVersionIsExpired) {
  ApiServer::Options options;
  options.store.history_limit = 3;
  StartServer(options);
  for (const char* name : {"p0", "p1", "p2"}) CreatePod(name, "n");
  json page = Get(absl::StrCat(kPods, "?limit=1"));
  const std::string token = page["metadata"]["continue"];
  for (const char* name : {"q0", "q1", "q2", "q3"}) CreatePod(name, "n");
  json status = Get(absl::StrCat(kPods, "?limit=1&continue=", token), 410);
  EXPECT_EQ(status["reason"], "Expired");
  EXPECT_EQ(status["message"],
            "The provided continue parameter is too old to display a "
            "consistent list result. You can start a new list without the "
            "continue parameter, or use the continue token in this response "
            "to retrieve the remainder of the results. Continuing with the "
            "provided token results in an inconsistent list - objects that "
            "were created, modified, or deleted between the time the first "
            "chunk was returned and now may show up in the list.");
  // Its token continues at the latest state (rv -1).
  std::string decoded;
  ASSERT_TRUE(absl::WebSafeBase64Unescape(
      status["metadata"]["continue"].get<std::string>(), &decoded));
  EXPECT_EQ(decoded, R"({"v":"meta.k8s.io/v1","rv":-1,"start":"p0\u0000"})");
  page = Get(absl::StrCat(kPods, "?limit=10&continue=",
                          status["metadata"]["continue"].get<std::string>()));
  EXPECT_EQ(Names(page),
            (std::vector<std::string>{"p1", "p2", "q0", "q1", "q2", "q3"}));
  // An Exact list at a compacted version.
  EXPECT_EQ(
      Get(absl::StrCat(kPods, "?resourceVersion=2&resourceVersionMatch=Exact"),
          410)["message"],
      "The resourceVersion for the provided list is too old.");
}

TEST_F(ListWatchTest, ResourceVersionAndMatch) {
  CreatePod("p0", "n");
  const uint64_t before = Current();
  CreatePod("p1", "n");
  // Exact: the state at that version.
  json list = Get(absl::StrCat(kPods, "?resourceVersion=", before,
                               "&resourceVersionMatch=Exact"));
  EXPECT_EQ(Names(list), (std::vector<std::string>{"p0"}));
  EXPECT_EQ(list["metadata"]["resourceVersion"], absl::StrCat(before));
  // Legacy: with a limit, resourceVersion N is exact too.
  EXPECT_EQ(
      Names(Get(absl::StrCat(kPods, "?limit=5&resourceVersion=", before))),
      (std::vector<std::string>{"p0"}));
  // NotOlderThan (and no match, without a limit): the latest.
  EXPECT_EQ(Names(Get(absl::StrCat(kPods, "?resourceVersion=", before,
                                   "&resourceVersionMatch=NotOlderThan"))),
            (std::vector<std::string>{"p0", "p1"}));
  // resourceVersion=0 is served from the watch cache: limit ignored.
  list = Get(absl::StrCat(kPods, "?limit=1&resourceVersion=0"));
  EXPECT_EQ(Names(list), (std::vector<std::string>{"p0", "p1"}));
  EXPECT_FALSE(list["metadata"].contains("continue"));
  // A version not reached yet.
  json status =
      Get(absl::StrCat(kPods, "?resourceVersion=", Current() + 10), 504);
  EXPECT_EQ(status["reason"], "Timeout");
  EXPECT_EQ(status["message"],
            absl::StrCat("Too large resource version: ", Current() + 10,
                         ", current: ", Current()));
  EXPECT_EQ(status["details"]["causes"][0]["reason"],
            "ResourceVersionTooLarge");

  // A resourceVersion that is no number: the watch cache returns the
  // storage error as it is (500, no reason); etcd3's list wraps it in a 400.
  const char kInvalidRv[] =
      "resourceVersion: Invalid value: \"abc\": strconv.ParseUint: parsing "
      "\"abc\": invalid syntax";
  status = Get(absl::StrCat(kPods, "?resourceVersion=abc"), 500);
  EXPECT_EQ(status["message"], kInvalidRv);
  EXPECT_FALSE(status.contains("reason"));
  EXPECT_EQ(
      Get(absl::StrCat(kPods, "?watch=1&resourceVersion=abc"), 500)["message"],
      kInvalidRv);
  EXPECT_EQ(
      Get(absl::StrCat(kPods, "?limit=1&resourceVersion=abc"), 400)["message"],
      absl::StrCat("invalid resource version: ", kInvalidRv));

  // ValidateListOptions: 422 Invalid on ListOptions.meta.k8s.io.
  status = Get(absl::StrCat(kPods, "?resourceVersionMatch=Exact"), 422);
  EXPECT_EQ(status["reason"], "Invalid");
  EXPECT_EQ(status["message"],
            "ListOptions.meta.k8s.io \"\" is invalid: resourceVersionMatch: "
            "Forbidden: resourceVersionMatch is forbidden unless "
            "resourceVersion is provided");
  EXPECT_EQ(status["details"]["group"], "meta.k8s.io");
  EXPECT_EQ(status["details"]["kind"], "ListOptions");
  EXPECT_EQ(
      Get(absl::StrCat(kPods, "?resourceVersion=0&resourceVersionMatch=Exact"),
          422)["message"],
      "ListOptions.meta.k8s.io \"\" is invalid: resourceVersionMatch: "
      "Forbidden: resourceVersionMatch \"exact\" is forbidden for "
      "resourceVersion \"0\"");
  EXPECT_EQ(
      Get(absl::StrCat(kPods, "?resourceVersion=1&resourceVersionMatch=Newest"),
          422)["message"],
      "ListOptions.meta.k8s.io \"\" is invalid: resourceVersionMatch: "
      "Unsupported value: \"Newest\": supported values: \"Exact\", "
      "\"NotOlderThan\", \"\"");
  EXPECT_EQ(Get(absl::StrCat(kPods,
                             "?watch=1&resourceVersion=1&"
                             "resourceVersionMatch=NotOlderThan"),
                422)["message"],
            "ListOptions.meta.k8s.io \"\" is invalid: resourceVersionMatch: "
            "Forbidden: resourceVersionMatch is forbidden for watch unless "
            "sendInitialEvents is provided");
  EXPECT_EQ(Get(absl::StrCat(kPods, "?sendInitialEvents=true"), 422)["message"],
            "ListOptions.meta.k8s.io \"\" is invalid: sendInitialEvents: "
            "Forbidden: sendInitialEvents is forbidden for list");
}

// sendInitialEvents (WatchList) is refused as a server with the WatchList
// feature gate off refuses it; client-go then falls back to list+watch.
TEST_F(ListWatchTest, SendInitialEventsIsRefusedAsWithoutWatchList) {
  json status = Get(absl::StrCat(kPods,
                                 "?watch=1&sendInitialEvents=true&"
                                 "allowWatchBookmarks=true&"
                                 "resourceVersionMatch=NotOlderThan"),
                    422);
  EXPECT_EQ(status["message"],
            "ListOptions.meta.k8s.io \"\" is invalid: sendInitialEvents: "
            "Forbidden: sendInitialEvents is forbidden for watch unless the "
            "WatchList feature gate is enabled");
  EXPECT_EQ(status["details"]["causes"][0]["field"], "sendInitialEvents");
  EXPECT_EQ(status["details"]["causes"][0]["reason"], "FieldValueForbidden");
  EXPECT_EQ(
      Get(absl::StrCat(kPods, "?watch=1&sendInitialEvents=true"),
          422)["message"],
      "ListOptions.meta.k8s.io \"\" is invalid: [resourceVersionMatch: "
      "Forbidden: sendInitialEvents requires setting resourceVersionMatch to "
      "NotOlderThan, sendInitialEvents: Forbidden: sendInitialEvents is "
      "forbidden for watch unless the WatchList feature gate is enabled]");
}

TEST_F(ListWatchTest, FieldSelectorsOnListsAndWatches) {
  CreatePod("a1", "node-a");
  CreatePod("b1", "node-b");
  EXPECT_EQ(
      Names(Get(absl::StrCat(kPods, "?fieldSelector=spec.nodeName%3Dnode-a"))),
      (std::vector<std::string>{"a1"}));
  // spec.host is the old name of spec.nodeName.
  EXPECT_EQ(
      Names(Get(absl::StrCat(kPods, "?fieldSelector=spec.host%3Dnode-b"))),
      (std::vector<std::string>{"b1"}));
  EXPECT_EQ(Names(Get(absl::StrCat(kPods,
                                   "?fieldSelector=spec.hostNetwork%3Dfalse,"
                                   "metadata.name!%3Da1"))),
            (std::vector<std::string>{"b1"}));
  json status =
      Get(absl::StrCat(kPods, "?fieldSelector=spec.priority%3D1"), 400);
  EXPECT_EQ(status["reason"], "BadRequest");
  EXPECT_EQ(status["message"], "field label not supported: spec.priority");
  EXPECT_EQ(Get(absl::StrCat(kPods, "?watch=1&fieldSelector=spec.x%3D1"),
                400)["message"],
            "field label not supported: spec.x");
  EXPECT_EQ(
      Get("/api/v1/nodes?fieldSelector=metadata.namespace%3Dx", 400)["message"],
      "field label not supported: metadata.namespace");
  EXPECT_EQ(Get("/api/v1/namespaces/demo/configmaps?fieldSelector=data.x%3D1",
                400)["message"],
            "\"data.x\" is not a known field selector: only "
            "\"metadata.name\", \"metadata.namespace\"");

  // A watch sees only node-a's pods.
  std::vector<json> lines =
      WatchLines(absl::StrCat(kPods,
                              "?watch=true&timeoutSeconds=1&fieldSelector="
                              "spec.nodeName%3Dnode-a"));
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(lines[0]["object"]["metadata"]["name"], "a1");
}

TEST_F(ListWatchTest, NegativeTimeoutEndsTheWatchAtOnce) {
  CreatePod("a", "n");
  const auto start = std::chrono::steady_clock::now();
  std::vector<json> lines = WatchLines(absl::StrCat(
      kPods, "?watch=1&timeoutSeconds=-1&resourceVersion=", Current()));
  EXPECT_TRUE(lines.empty());
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(1));
}

// The cacher sends a bookmark 2 s before the watch's deadline: the only one
// when the interval (a minute) is longer than the watch.
TEST_F(ListWatchTest, BookmarkBeforeTheTimeout) {
  CreatePod("a", "n");
  const uint64_t at = Current();
  const auto start = std::chrono::steady_clock::now();
  std::vector<json> lines = WatchLines(
      absl::StrCat(kPods,
                   "?watch=1&allowWatchBookmarks=true&timeoutSeconds=3&"
                   "resourceVersion=",
                   at));
  const auto elapsed = std::chrono::steady_clock::now() - start;
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(lines[0],
            json::parse(absl::StrCat(
                R"({"type":"BOOKMARK","object":{"kind":"Pod","apiVersion":"v1",
                    "metadata":{"resourceVersion":")",
                at,
                R"(","creationTimestamp":null},"spec":{"containers":null},
                    "status":{}}})")));
  EXPECT_GE(elapsed, std::chrono::milliseconds(2900));
  // Without allowWatchBookmarks: none.
  EXPECT_TRUE(WatchLines(absl::StrCat(kPods,
                                      "?watch=1&timeoutSeconds=3&"
                                      "resourceVersion=",
                                      at))
                  .empty());
}

TEST_F(ListWatchTest, PeriodicBookmarksCarryTheLatestVersion) {
  ApiServer::Options options;
  options.bookmark_interval = std::chrono::milliseconds(200);
  StartServer(options);
  CreatePod("a", "n");
  auto client = Client();
  auto head = client->StartStream(absl::StrCat(
      kPods, "?watch=1&allowWatchBookmarks=1&resourceVersion=", Current()));
  ASSERT_TRUE(head.ok());
  auto next = [&] {
    auto chunk = client->NextChunk();
    EXPECT_TRUE(chunk.ok() && chunk->has_value());
    return chunk.ok() && chunk->has_value() ? json::parse(**chunk) : json();
  };
  json bookmark = next();
  EXPECT_EQ(bookmark["type"], "BOOKMARK");
  EXPECT_EQ(bookmark["object"]["metadata"]["resourceVersion"],
            absl::StrCat(Current()));
  // A change elsewhere (another namespace's pods are other pods; a secret is
  // another type) moves the store's version: the next bookmark reports it.
  ASSERT_TRUE(CreateNamespace(server_->store(), "other").ok());
  const uint64_t moved = Current();
  json event;
  do {
    event = next();
  } while (event["type"] == "BOOKMARK" &&
           event["object"]["metadata"]["resourceVersion"] !=
               absl::StrCat(moved));
  EXPECT_EQ(event["type"], "BOOKMARK");
  // Events still come in order between bookmarks.
  CreatePod("b", "n");
  do {
    event = next();
  } while (event["type"] == "BOOKMARK");
  EXPECT_EQ(event["type"], "ADDED");
  EXPECT_EQ(event["object"]["metadata"]["name"], "b");
}

}  // namespace
}  // namespace kmesh::sim::kube
