#include "sim/kube/api_server.h"

#include <fstream>
#include <sstream>
#include <thread>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "sim/kube/testing/kube_objects.h"
#include "sim/kube/testing/test_http_client.h"

namespace kmesh::sim::kube {
namespace {

using nlohmann::json;

constexpr char kSecrets[] = "/api/v1/namespaces/kmesh-system/secrets";

class ApiServerTest : public ::testing::Test {
 protected:
  void SetUp() override { StartServer({}); }

  void StartServer(ApiServer::Options options) {
    server_.reset();
    auto started = ApiServer::Start(std::move(options));
    ASSERT_TRUE(started.ok()) << started.status();
    server_ = *std::move(started);
    auto ns = Client()->Send("POST", "/api/v1/namespaces",
                             R"({"apiVersion":"v1","kind":"Namespace",
                                 "metadata":{"name":"kmesh-system"}})");
    ASSERT_TRUE(ns.ok());
    ASSERT_EQ(ns->code, 201) << ns->body;
  }

  std::unique_ptr<TestHttpClient> Client() {
    auto client = TestHttpClient::Connect(server_->port());
    EXPECT_TRUE(client.ok()) << client.status();
    return client.ok() ? *std::move(client) : nullptr;
  }

  // One request on a fresh connection.
  TestHttpResponse Request(
      const std::string& method, const std::string& target,
      const std::string& body = "",
      const std::string& content_type = "application/json") {
    auto response = Client()->Send(method, target, body, content_type);
    EXPECT_TRUE(response.ok()) << response.status();
    return response.ok() ? *response : TestHttpResponse{};
  }

  static json Body(const TestHttpResponse& response) {
    json body = json::parse(response.body, nullptr, false);
    EXPECT_FALSE(body.is_discarded()) << response.body;
    return body;
  }

  static std::string SecretJson(const std::string& name,
                                const std::string& resource_version = "") {
    json secret = {{"apiVersion", "v1"},
                   {"kind", "Secret"},
                   {"metadata", {{"name", name}}},
                   {"type", "Opaque"},
                   {"data", {{"ipSec", "eyJzcGkiOjF9"}}}};
    if (!resource_version.empty()) {
      secret["metadata"]["resourceVersion"] = resource_version;
    }
    return secret.dump();
  }

  static uint64_t VersionOf(const json& object) {
    uint64_t version = 0;
    EXPECT_TRUE(absl::SimpleAtoi(
        object["metadata"]["resourceVersion"].get<std::string>(), &version));
    return version;
  }

  const ResourceType& Secrets() {
    return *server_->store().FindType("", "v1", "secrets");
  }

  std::unique_ptr<ApiServer> server_;
};

TEST_F(ApiServerTest, CreateGetUpdateDeleteSecret) {
  TestHttpResponse created =
      Request("POST", kSecrets, SecretJson("kmesh-ipsec"));
  ASSERT_EQ(created.code, 201) << created.body;
  EXPECT_EQ(created.headers["content-type"], "application/json");
  json object = Body(created);
  EXPECT_EQ(object["metadata"]["namespace"], "kmesh-system");
  const std::string version = object["metadata"]["resourceVersion"];

  TestHttpResponse fetched =
      Request("GET", absl::StrCat(kSecrets, "/kmesh-ipsec"));
  ASSERT_EQ(fetched.code, 200);
  EXPECT_EQ(Body(fetched), object);

  TestHttpResponse updated =
      Request("PUT", absl::StrCat(kSecrets, "/kmesh-ipsec"),
              SecretJson("kmesh-ipsec", version));
  // Same content: a no-op, still 200 with the same version.
  ASSERT_EQ(updated.code, 200) << updated.body;
  json changed = object;
  changed["data"]["ipSec"] = "eyJzcGkiOjJ9";
  updated =
      Request("PUT", absl::StrCat(kSecrets, "/kmesh-ipsec"), changed.dump());
  ASSERT_EQ(updated.code, 200) << updated.body;
  EXPECT_GT(VersionOf(Body(updated)), VersionOf(object));

  TestHttpResponse deleted =
      Request("DELETE", absl::StrCat(kSecrets, "/kmesh-ipsec"));
  ASSERT_EQ(deleted.code, 200) << deleted.body;
  EXPECT_EQ(Body(deleted)["metadata"]["name"], "kmesh-ipsec");
  EXPECT_EQ(Request("GET", absl::StrCat(kSecrets, "/kmesh-ipsec")).code, 404);
  EXPECT_FALSE(
      server_->store().Get(Secrets(), "kmesh-system", "kmesh-ipsec").ok());
}

TEST_F(ApiServerTest, ErrorsAreStatusObjects) {
  TestHttpResponse missing =
      Request("GET", absl::StrCat(kSecrets, "/kmesh-ipsec"));
  ASSERT_EQ(missing.code, 404);
  json status = Body(missing);
  EXPECT_EQ(status["kind"], "Status");
  EXPECT_EQ(status["apiVersion"], "v1");
  EXPECT_EQ(status["status"], "Failure");
  EXPECT_EQ(status["reason"], "NotFound");
  EXPECT_EQ(status["code"], 404);
  EXPECT_EQ(status["message"], "secrets \"kmesh-ipsec\" not found");

  ASSERT_EQ(Request("POST", kSecrets, SecretJson("s")).code, 201);
  TestHttpResponse again = Request("POST", kSecrets, SecretJson("s"));
  EXPECT_EQ(again.code, 409);
  EXPECT_EQ(Body(again)["reason"], "AlreadyExists");

  TestHttpResponse stale =
      Request("PUT", absl::StrCat(kSecrets, "/s"), SecretJson("s", "1"));
  EXPECT_EQ(stale.code, 409);
  EXPECT_EQ(Body(stale)["reason"], "Conflict");

  TestHttpResponse bad_name = Request("POST", kSecrets, SecretJson("Bad_Name"));
  EXPECT_EQ(bad_name.code, 422);
  EXPECT_EQ(Body(bad_name)["reason"], "Invalid");

  TestHttpResponse no_namespace =
      Request("POST", "/api/v1/namespaces/absent/secrets", SecretJson("s"));
  EXPECT_EQ(no_namespace.code, 404);
  EXPECT_EQ(Body(no_namespace)["message"], "namespaces \"absent\" not found");

  EXPECT_EQ(Request("POST", kSecrets, "{not json").code, 400);
  EXPECT_EQ(Request("GET", "/api/v1/namespaces/kmesh-system/widgets").code,
            404);
  EXPECT_EQ(Request("POST", absl::StrCat(kSecrets, "/s"), SecretJson("s")).code,
            405);
  EXPECT_EQ(
      Request("GET", absl::StrCat(kSecrets, "?labelSelector=a%20in%20(x")).code,
      400);
}

TEST_F(ApiServerTest, ListsWithSelectorsAndAcrossNamespaces) {
  json labelled = Body(Request("POST", kSecrets, SecretJson("a")));
  labelled["metadata"]["labels"] = {{"app", "kmesh"}};
  ASSERT_EQ(Request("PUT", absl::StrCat(kSecrets, "/a"), labelled.dump()).code,
            200);
  ASSERT_EQ(
      Request("POST", "/api/v1/namespaces/default/secrets", SecretJson("b"))
          .code,
      201);

  TestHttpResponse all = Request("GET", "/api/v1/secrets");
  ASSERT_EQ(all.code, 200);
  json list = Body(all);
  EXPECT_EQ(list["kind"], "SecretList");
  EXPECT_EQ(list["apiVersion"], "v1");
  EXPECT_EQ(list["items"].size(), 2u);
  EXPECT_EQ(list["metadata"]["resourceVersion"],
            std::to_string(server_->store().CurrentResourceVersion()));

  json selected =
      Body(Request("GET", "/api/v1/secrets?labelSelector=app%3Dkmesh"));
  ASSERT_EQ(selected["items"].size(), 1u);
  EXPECT_EQ(selected["items"][0]["metadata"]["name"], "a");
  json by_field =
      Body(Request("GET", "/api/v1/secrets?fieldSelector=metadata.name%3Db"));
  ASSERT_EQ(by_field["items"].size(), 1u);
  EXPECT_EQ(by_field["items"][0]["metadata"]["namespace"], "default");
  json in_namespace = Body(Request("GET", kSecrets));
  EXPECT_EQ(in_namespace["items"].size(), 1u);
}

TEST_F(ApiServerTest, PatchesApplyAndKeepPreconditions) {
  json created = Body(Request("POST", kSecrets, SecretJson("s")));
  TestHttpResponse merged =
      Request("PATCH", absl::StrCat(kSecrets, "/s"),
              R"({"metadata":{"labels":{"istio.io/dataplane-mode":"Kmesh"}}})",
              "application/merge-patch+json");
  ASSERT_EQ(merged.code, 200) << merged.body;
  EXPECT_EQ(Body(merged)["metadata"]["labels"]["istio.io/dataplane-mode"],
            "Kmesh");
  EXPECT_EQ(Body(merged)["data"], created["data"]);

  TestHttpResponse strategic =
      Request("PATCH", absl::StrCat(kSecrets, "/s"),
              R"({"metadata":{"labels":{"istio.io/dataplane-mode":null}}})",
              "application/strategic-merge-patch+json");
  ASSERT_EQ(strategic.code, 200);
  EXPECT_FALSE(Body(strategic)["metadata"].contains("labels") &&
               Body(strategic)["metadata"]["labels"].contains(
                   "istio.io/dataplane-mode"));

  // A patch carrying an old resourceVersion is a precondition that fails.
  TestHttpResponse stale = Request(
      "PATCH", absl::StrCat(kSecrets, "/s"),
      json{{"metadata",
            {{"resourceVersion", created["metadata"]["resourceVersion"]}}}}
          .dump(),
      "application/merge-patch+json");
  EXPECT_EQ(stale.code, 409);

  EXPECT_EQ(Request("PATCH", absl::StrCat(kSecrets, "/s"), "{}",
                    "application/apply-patch+yaml")
                .code,
            415);
  EXPECT_EQ(Request("PATCH", absl::StrCat(kSecrets, "/absent"), "{}",
                    "application/merge-patch+json")
                .code,
            404);
}

TEST_F(ApiServerTest, DeletePreconditions) {
  json created = Body(Request("POST", kSecrets, SecretJson("s")));
  TestHttpResponse wrong_uid =
      Request("DELETE", absl::StrCat(kSecrets, "/s"),
              R"({"kind":"DeleteOptions","apiVersion":"v1",
                  "preconditions":{"uid":"not-it"}})");
  EXPECT_EQ(wrong_uid.code, 409);
  TestHttpResponse right_uid = Request(
      "DELETE", absl::StrCat(kSecrets, "/s"),
      json{{"preconditions", {{"uid", created["metadata"]["uid"]}}}}.dump());
  EXPECT_EQ(right_uid.code, 200);
}

TEST_F(ApiServerTest, ServesKmeshNodeInfos) {
  const std::string base =
      "/apis/kmesh.net/v1alpha1/namespaces/kmesh-system/kmeshnodeinfos";
  TestHttpResponse created =
      Request("POST", base, KmeshNodeInfoObject("node1").dump());
  ASSERT_EQ(created.code, 201) << created.body;
  json all = Body(Request("GET", "/apis/kmesh.net/v1alpha1/kmeshnodeinfos"));
  EXPECT_EQ(all["kind"], "KmeshNodeInfoList");
  ASSERT_EQ(all["items"].size(), 1u);
  // Custom resources keep kind and apiVersion in list items.
  EXPECT_EQ(all["items"][0]["kind"], "KmeshNodeInfo");
  EXPECT_EQ(all["items"][0]["spec"]["podCIDRS"][0], "10.244.1.0/24");
  TestHttpResponse missing = Request("GET", base + "/node2");
  EXPECT_EQ(Body(missing)["message"],
            "kmeshnodeinfos.kmesh.net \"node2\" not found");
}

TEST_F(ApiServerTest, NodesAndNamespacesAreClusterScoped) {
  ASSERT_EQ(Request("POST", "/api/v1/nodes",
                    R"({"metadata":{"name":"node1"},
                        "status":{"nodeInfo":{"bootID":"b"}}})")
                .code,
            201);
  json node = Body(Request("GET", "/api/v1/nodes/node1"));
  EXPECT_EQ(node["kind"], "Node");
  EXPECT_EQ(node["status"]["nodeInfo"]["bootID"], "b");
  EXPECT_EQ(Request("GET", "/api/v1/namespaces/kmesh-system").code, 200);
  EXPECT_EQ(Request("GET", "/api/v1/namespaces/default/nodes/node1").code, 404);
  TestHttpResponse pods = Request("GET", "/api/v1/pods");
  EXPECT_EQ(Body(pods)["kind"], "PodList");
}

TEST_F(ApiServerTest, Discovery) {
  json api = Body(Request("GET", "/api"));
  EXPECT_EQ(api["kind"], "APIVersions");
  EXPECT_EQ(api["versions"], json({"v1"}));
  json core = Body(Request("GET", "/api/v1"));
  EXPECT_EQ(core["groupVersion"], "v1");
  bool has_secrets = false;
  for (const json& resource : core["resources"]) {
    if (resource["name"] == "secrets") {
      has_secrets = true;
      EXPECT_EQ(resource["kind"], "Secret");
      EXPECT_EQ(resource["namespaced"], true);
    }
  }
  EXPECT_TRUE(has_secrets);
  json groups = Body(Request("GET", "/apis"));
  EXPECT_EQ(groups["kind"], "APIGroupList");
  std::vector<std::string> names;
  for (const json& group : groups["groups"]) names.push_back(group["name"]);
  EXPECT_NE(std::find(names.begin(), names.end(), "kmesh.net"), names.end());
  EXPECT_NE(std::find(names.begin(), names.end(), "apiextensions.k8s.io"),
            names.end());
  json kmesh = Body(Request("GET", "/apis/kmesh.net/v1alpha1"));
  EXPECT_EQ(kmesh["resources"][0]["name"], "kmeshnodeinfos");
  EXPECT_EQ(Body(Request("GET", "/apis/kmesh.net"))["kind"], "APIGroup");
  EXPECT_EQ(Body(Request("GET", "/version"))["major"], "1");
  EXPECT_EQ(Request("GET", "/openapi/v2").code, 404);
  EXPECT_EQ(Request("GET", "/apis/nothing.io/v1").code, 404);
}

TEST_F(ApiServerTest, OpenApiV3SaysFieldValidationIsServerSide) {
  // kubectl reads this to skip client-side schema validation (there is no
  // /openapi/v2), which is what lets a plain `kubectl apply -f` work.
  json root = Body(Request("GET", "/openapi/v3"));
  ASSERT_TRUE(root["paths"].contains("api/v1")) << root.dump();
  ASSERT_TRUE(root["paths"].contains("apis/kmesh.net/v1alpha1"));
  std::string url = root["paths"]["api/v1"]["serverRelativeURL"];
  json core = Body(Request("GET", url));
  json patch =
      core["paths"]["/api/v1/namespaces/{namespace}/secrets/{name}"]["patch"];
  EXPECT_EQ(patch["x-kubernetes-group-version-kind"]["kind"], "Secret");
  EXPECT_EQ(patch["parameters"][0]["name"], "fieldValidation");
  EXPECT_EQ(Request("GET", "/openapi/v3/apis/nothing.io/v1").code, 404);
}

TEST_F(ApiServerTest, DeleteCollectionDeletesWhatTheSelectorSelects) {
  json labelled = json::parse(SecretJson("a"));
  labelled["metadata"]["labels"] = {{"app", "kmesh"}};
  ASSERT_EQ(Request("POST", kSecrets, labelled.dump()).code, 201);
  ASSERT_EQ(Request("POST", kSecrets, SecretJson("b")).code, 201);
  TestHttpResponse deleted =
      Request("DELETE", absl::StrCat(kSecrets, "?labelSelector=app%3Dkmesh"));
  ASSERT_EQ(deleted.code, 200) << deleted.body;
  EXPECT_EQ(Body(deleted)["items"].size(), 1u);
  json left = Body(Request("GET", kSecrets));
  ASSERT_EQ(left["items"].size(), 1u);
  EXPECT_EQ(left["items"][0]["metadata"]["name"], "b");
}

TEST_F(ApiServerTest, KeepAliveServesSeveralRequestsOnOneConnection) {
  auto client = Client();
  for (int i = 0; i < 3; ++i) {
    auto response = client->Send("GET", "/version");
    ASSERT_TRUE(response.ok()) << response.status();
    EXPECT_EQ(response->code, 200);
  }
}

TEST_F(ApiServerTest, WatchStreamsEventsInOrderAsChunks) {
  const uint64_t from = server_->store().CurrentResourceVersion();
  auto client = Client();
  auto head = client->StartStream(
      absl::StrCat(kSecrets, "?watch=1&resourceVersion=", from));
  ASSERT_TRUE(head.ok()) << head.status();
  EXPECT_EQ(head->code, 200);
  EXPECT_EQ(head->headers["transfer-encoding"], "chunked");
  EXPECT_EQ(head->headers["content-type"], "application/json");
  ASSERT_TRUE(server_->WaitForOpenWatches(1, std::chrono::seconds(10)));

  // Changes made while the watch is open, over HTTP and directly.
  json created = Body(Request("POST", kSecrets, SecretJson("s")));
  created["data"]["more"] = "eA==";
  ASSERT_EQ(Request("PUT", absl::StrCat(kSecrets, "/s"), created.dump()).code,
            200);
  ASSERT_EQ(Request("POST", "/api/v1/namespaces/default/secrets",
                    SecretJson("elsewhere"))
                .code,
            201);
  ASSERT_TRUE(server_->store().Delete(Secrets(), "kmesh-system", "s").ok());

  std::vector<std::string> types;
  uint64_t last_version = from;
  for (int i = 0; i < 3; ++i) {
    auto chunk = client->NextChunk();
    ASSERT_TRUE(chunk.ok()) << chunk.status();
    ASSERT_TRUE(chunk->has_value());
    // One event per chunk, one JSON document per line.
    const std::string& line = **chunk;
    ASSERT_EQ(line.back(), '\n');
    EXPECT_EQ(line.find('\n'), line.size() - 1);
    json event = json::parse(line);
    types.push_back(event["type"]);
    EXPECT_EQ(event["object"]["kind"], "Secret");
    EXPECT_EQ(event["object"]["metadata"]["name"], "s");
    uint64_t version = VersionOf(event["object"]);
    EXPECT_GT(version, last_version);
    last_version = version;
  }
  EXPECT_EQ(types, (std::vector<std::string>{"ADDED", "MODIFIED", "DELETED"}));
}

TEST_F(ApiServerTest, WatchFromNowListsCurrentStateFirst) {
  ASSERT_EQ(Request("POST", kSecrets, SecretJson("existing")).code, 201);
  auto client = Client();
  auto head = client->StartStream(absl::StrCat(kSecrets, "?watch=true"));
  ASSERT_TRUE(head.ok());
  auto chunk = client->NextChunk();
  ASSERT_TRUE(chunk.ok() && chunk->has_value());
  json event = json::parse(**chunk);
  EXPECT_EQ(event["type"], "ADDED");
  EXPECT_EQ(event["object"]["metadata"]["name"], "existing");
}

TEST_F(ApiServerTest, WatchHonoursLabelSelector) {
  auto client = Client();
  auto head = client->StartStream(absl::StrCat(
      kSecrets, "?watch=1&labelSelector=app%3Dkmesh&resourceVersion=",
      server_->store().CurrentResourceVersion()));
  ASSERT_TRUE(head.ok());
  ASSERT_TRUE(server_->WaitForOpenWatches(1, std::chrono::seconds(10)));
  ASSERT_EQ(Request("POST", kSecrets, SecretJson("unlabelled")).code, 201);
  json labelled = json::parse(SecretJson("labelled"));
  labelled["metadata"]["labels"] = {{"app", "kmesh"}};
  ASSERT_EQ(Request("POST", kSecrets, labelled.dump()).code, 201);
  auto chunk = client->NextChunk();
  ASSERT_TRUE(chunk.ok() && chunk->has_value());
  EXPECT_EQ(json::parse(**chunk)["object"]["metadata"]["name"], "labelled");
}

TEST_F(ApiServerTest, WatchEndsWithFinalChunkAtTimeout) {
  auto client = Client();
  auto head = client->StartStream(
      absl::StrCat(kSecrets, "?watch=1&timeoutSeconds=1&resourceVersion=",
                   server_->store().CurrentResourceVersion()));
  ASSERT_TRUE(head.ok());
  auto chunk = client->NextChunk();
  ASSERT_TRUE(chunk.ok()) << chunk.status();
  EXPECT_FALSE(chunk->has_value());  // The terminating zero-length chunk.
  // The connection stays usable.
  auto after = client->Send("GET", "/version");
  ASSERT_TRUE(after.ok()) << after.status();
  EXPECT_EQ(after->code, 200);
}

TEST_F(ApiServerTest, WatchFromCompactedVersionGetsExpiredErrorEvent) {
  ApiServer::Options options;
  options.store.history_limit = 2;
  StartServer(options);
  for (int i = 0; i < 4; ++i) {
    ASSERT_EQ(
        Request("POST", kSecrets, SecretJson("s" + std::to_string(i))).code,
        201);
  }
  auto client = Client();
  auto head =
      client->StartStream(absl::StrCat(kSecrets, "?watch=1&resourceVersion=1"));
  ASSERT_TRUE(head.ok());
  EXPECT_EQ(head->code, 200);
  auto chunk = client->NextChunk();
  ASSERT_TRUE(chunk.ok() && chunk->has_value()) << chunk.status();
  json event = json::parse(**chunk);
  EXPECT_EQ(event["type"], "ERROR");
  EXPECT_EQ(event["object"]["kind"], "Status");
  EXPECT_EQ(event["object"]["code"], 410);
  EXPECT_EQ(event["object"]["reason"], "Expired");
  auto end = client->NextChunk();
  ASSERT_TRUE(end.ok());
  EXPECT_FALSE(end->has_value());
}

TEST_F(ApiServerTest, FailNextFailsMatchingRequestsOnly) {
  server_->FailNext(2, 503, {"GET", kSecrets});
  EXPECT_EQ(Request("GET", "/api/v1/namespaces/default/secrets").code, 200);
  EXPECT_EQ(Request("POST", kSecrets, SecretJson("s")).code, 201);
  TestHttpResponse failed = Request("GET", kSecrets);
  EXPECT_EQ(failed.code, 503);
  EXPECT_EQ(Body(failed)["reason"], "ServiceUnavailable");
  EXPECT_EQ(Request("GET", absl::StrCat(kSecrets, "/s")).code, 503);
  EXPECT_EQ(Request("GET", absl::StrCat(kSecrets, "/s")).code, 200);

  server_->FailNext(1, 429);
  TestHttpResponse throttled = Request("GET", "/version");
  EXPECT_EQ(throttled.code, 429);
  EXPECT_EQ(throttled.headers["retry-after"], "1");

  std::vector<ApiServer::RequestRecord> log = server_->RequestLog();
  ASSERT_GE(log.size(), 6u);
  const ApiServer::RequestRecord& last = log.back();
  EXPECT_EQ(last.method, "GET");
  EXPECT_EQ(last.path, "/version");
  EXPECT_EQ(last.code, 429);
  EXPECT_EQ(log[log.size() - 2].code, 200);
  EXPECT_EQ(log[log.size() - 3].code, 503);
  server_->ClearRequestLog();
  EXPECT_TRUE(server_->RequestLog().empty());
}

TEST_F(ApiServerTest, DropWatchesCutsStreamsWithoutFinalChunk) {
  auto client = Client();
  auto head = client->StartStream(absl::StrCat(
      kSecrets,
      "?watch=1&resourceVersion=", server_->store().CurrentResourceVersion()));
  ASSERT_TRUE(head.ok());
  ASSERT_TRUE(server_->WaitForOpenWatches(1, std::chrono::seconds(10)));
  ASSERT_EQ(Request("POST", kSecrets, SecretJson("s")).code, 201);
  auto first = client->NextChunk();
  ASSERT_TRUE(first.ok() && first->has_value());
  server_->DropWatches();
  auto cut = client->NextChunk();
  EXPECT_TRUE(absl::IsUnavailable(cut.status())) << cut.status();
  // Other requests are unaffected, and new watches work.
  EXPECT_EQ(Request("GET", kSecrets).code, 200);
}

TEST_F(ApiServerTest, SimulateRestartCutsEverythingRefusesThenExpiresWatches) {
  ASSERT_EQ(Request("POST", kSecrets, SecretJson("a")).code, 201);
  const uint64_t before = server_->store().CurrentResourceVersion();
  auto client = Client();
  auto head = client->StartStream(
      absl::StrCat(kSecrets, "?watch=1&resourceVersion=", before));
  ASSERT_TRUE(head.ok());
  ASSERT_TRUE(server_->WaitForOpenWatches(1, std::chrono::seconds(10)));
  auto idle = Client();  // A keep-alive connection with no request pending.
  ASSERT_TRUE(idle->Send("GET", kSecrets).ok());
  ASSERT_EQ(Request("POST", kSecrets, SecretJson("b")).code, 201);

  server_->SimulateRestart(std::chrono::milliseconds(300));
  auto cut = client->NextChunk();
  while (cut.ok() && cut->has_value()) cut = client->NextChunk();
  EXPECT_FALSE(cut.ok()) << "the watch ended cleanly";
  EXPECT_FALSE(idle->Send("GET", kSecrets).ok());
  // While it restarts nobody answers.
  auto during = TestHttpClient::Connect(server_->port());
  EXPECT_FALSE(during.ok() && (*during)->Send("GET", kSecrets).ok());
  std::this_thread::sleep_for(std::chrono::milliseconds(400));
  // Back: the objects are all there; a watch from before is 410 Gone (an
  // ERROR event), one from now works.
  TestHttpResponse list = Request("GET", kSecrets);
  ASSERT_EQ(list.code, 200);
  EXPECT_EQ(Body(list)["items"].size(), 2u);
  auto old_watch = Client()->Send(
      "GET", absl::StrCat(kSecrets, "?watch=1&resourceVersion=", before));
  ASSERT_TRUE(old_watch.ok());
  EXPECT_NE(old_watch->body.find("\"code\":410"), std::string::npos)
      << old_watch->body;
  auto fresh = Client();
  EXPECT_TRUE(
      fresh
          ->StartStream(absl::StrCat(kSecrets, "?watch=1&resourceVersion=",
                                     server_->store().CurrentResourceVersion()))
          .ok());
}

TEST_F(ApiServerTest, StopEndsOpenWatches) {
  auto client = Client();
  auto head = client->StartStream(absl::StrCat(kSecrets, "?watch=1"));
  ASSERT_TRUE(head.ok());
  ASSERT_TRUE(server_->WaitForOpenWatches(1, std::chrono::seconds(10)));
  server_->Stop();
  EXPECT_FALSE(client->NextChunk().ok());
  EXPECT_FALSE(
      TestHttpClient::Connect(server_->port()).ok() &&
      (*TestHttpClient::Connect(server_->port()))->Send("GET", "/api").ok());
}

TEST_F(ApiServerTest, BearerTokenRequired) {
  server_->RequireBearerToken("s3cret");
  TestHttpResponse anonymous = Request("GET", kSecrets);
  EXPECT_EQ(anonymous.code, 401);
  EXPECT_EQ(Body(anonymous)["reason"], "Unauthorized");
  auto with_token = Client()->Send("GET", kSecrets, "", "",
                                   {{"Authorization", "Bearer s3cret"}});
  ASSERT_TRUE(with_token.ok());
  EXPECT_EQ(with_token->code, 200);
  auto wrong_token = Client()->Send("GET", kSecrets, "", "",
                                    {{"Authorization", "Bearer other"}});
  ASSERT_TRUE(wrong_token.ok());
  EXPECT_EQ(wrong_token->code, 401);
}

TEST_F(ApiServerTest, ForbidSaysWhatRbacWouldSay) {
  ASSERT_EQ(Request("POST", kSecrets, SecretJson("kmesh-ipsec")).code, 201);
  server_->Forbid("get", "secrets");
  TestHttpResponse denied =
      Request("GET", absl::StrCat(kSecrets, "/kmesh-ipsec"));
  EXPECT_EQ(denied.code, 403);
  json status = Body(denied);
  EXPECT_EQ(status["reason"], "Forbidden");
  EXPECT_EQ(status["message"],
            "secrets \"kmesh-ipsec\" is forbidden: User \"system:anonymous\" "
            "cannot get resource \"secrets\" in API group \"\" in the "
            "namespace \"kmesh-system\"");
  EXPECT_EQ(Request("GET", kSecrets).code, 200);  // list is another verb.
  server_->ClearFaults();
  EXPECT_EQ(Request("GET", absl::StrCat(kSecrets, "/kmesh-ipsec")).code, 200);
}

TEST_F(ApiServerTest, ResponseDelayDelaysResponses) {
  server_->SetResponseDelay(std::chrono::milliseconds(50));
  auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(Request("GET", "/version").code, 200);
  EXPECT_GE(std::chrono::steady_clock::now() - start,
            std::chrono::milliseconds(50));
}

// A delay given a duration ends by itself, whoever would have undone it.
TEST_F(ApiServerTest, ResponseDelayForAWhileEndsByItself) {
  server_->SetResponseDelay(std::chrono::milliseconds(300),
                            std::chrono::milliseconds(100));
  auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(Request("GET", "/version").code, 200);
  EXPECT_GE(std::chrono::steady_clock::now() - start,
            std::chrono::milliseconds(300));
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  start = std::chrono::steady_clock::now();
  EXPECT_EQ(Request("GET", "/version").code, 200);
  EXPECT_LT(std::chrono::steady_clock::now() - start,
            std::chrono::milliseconds(300));
}

TEST_F(ApiServerTest, WritesKubeconfigPointingAtItself) {
  const std::string path =
      absl::StrCat(::testing::TempDir(), "/api_server_test_kubeconfig");
  ASSERT_TRUE(server_->WriteKubeconfig(path).ok());
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  EXPECT_NE(text.str().find(absl::StrCat("server: \"", server_->url(), "\"")),
            std::string::npos)
      << text.str();
  EXPECT_NE(text.str().find("current-context: kmesh-sim"), std::string::npos);
  EXPECT_EQ(server_->url(), absl::StrCat("http://127.0.0.1:", server_->port()));
}

}  // namespace
}  // namespace kmesh::sim::kube
