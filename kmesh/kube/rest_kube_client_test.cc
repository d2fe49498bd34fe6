// The REST client against a scripted loopback server: paths, queries,
// status mapping, the retry policy, and watch stream framing. Behaviour
// against the simulated API server is in rest_kube_client_sim_test.cc.
#include "kmesh/kube/rest_kube_client.h"

#include <atomic>
#include <thread>
#include <tuple>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "kmesh/kube/kube_status.h"
#include "kmesh/kube/testing/loopback_http_server.h"
#include "kmesh/kube/testing/test_cluster_access.h"
#include "nlohmann/json.hpp"

namespace kmesh::kube {
namespace {

using std::chrono::milliseconds;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using testing::LoopbackHttpServer;
using testing::ReceivedRequest;
using testing::ScriptedResponse;
using testing::TestClusterAccess;

ScriptedResponse Json(int status, std::string body) {
  ScriptedResponse response;
  response.status = status;
  response.body = std::move(body);
  return response;
}

ScriptedResponse StatusBody(int code, const std::string& reason,
                            const std::string& message) {
  return Json(
      code, absl::StrCat(R"({"kind":"Status","apiVersion":"v1",)",
                         R"("status":"Failure","message":")", message,
                         R"(","reason":")", reason, R"(","code":)", code, "}"));
}

// A response script: one answer per request, in order; the last repeats.
class Script {
 public:
  explicit Script(std::vector<ScriptedResponse> answers)
      : answers_(std::move(answers)) {}
  ScriptedResponse operator()(const ReceivedRequest&) {
    absl::MutexLock lock(&mu_);
    return answers_[std::min(next_++, answers_.size() - 1)];
  }

 private:
  const std::vector<ScriptedResponse> answers_;
  absl::Mutex mu_;
  size_t next_ ABSL_GUARDED_BY(mu_) = 0;
};

class RestKubeClientTest : public ::testing::Test {
 protected:
  // Answers the requests with `answers`, in order; the last repeats.
  void Serve(std::vector<ScriptedResponse> answers) {
    auto script = std::make_shared<Script>(std::move(answers));
    server_ = LoopbackHttpServer::Start(
        [script](const ReceivedRequest& r) { return (*script)(r); });
    client_ = MakeClient(server_->url());
  }

  std::unique_ptr<RestKubeClient> MakeClient(const std::string& url) {
    RestKubeClientOptions options;
    options.retry_base_delay = milliseconds(100);
    options.retry_max_delay = milliseconds(2000);
    options.transport.request_timeout = milliseconds(5000);
    options.sleep = [this](milliseconds d) { sleeps_.push_back(d.count()); };
    options.retry_uniform = [this] { return jitter_; };
    options.max_queued_events = max_queued_events_;
    absl::StatusOr<std::unique_ptr<RestKubeClient>> client =
        RestKubeClient::ForCluster(TestClusterAccess(url), options);
    EXPECT_TRUE(client.ok()) << client.status();
    return *std::move(client);
  }

  // One answer for every request: a chunked body written by `body`.
  void ServeStream(decltype(ScriptedResponse::stream) body,
                   bool drop_after_stream = false) {
    ScriptedResponse streamed;
    streamed.stream = std::move(body);
    streamed.drop_after_stream = drop_after_stream;
    Serve({streamed});
  }

  // A watch of every node through `client` (client_ by default).
  std::unique_ptr<WatchStream> WatchNodes(RestKubeClient* client = nullptr) {
    absl::StatusOr<std::unique_ptr<WatchStream>> watch =
        (client ? client : client_.get())->Watch(NodesKind(), "", {});
    EXPECT_TRUE(watch.ok()) << watch.status();
    return watch.ok() ? *std::move(watch) : nullptr;
  }

  std::vector<std::string> Targets() const {
    std::vector<std::string> targets;
    for (const ReceivedRequest& r : server_->requests()) {
      targets.push_back(r.method + " " + r.target);
    }
    return targets;
  }

  // Lets a scripted server that waits for it go on; outlives the server.
  absl::Notification release_;
  std::unique_ptr<LoopbackHttpServer> server_;
  std::unique_ptr<RestKubeClient> client_;
  std::vector<int64_t> sleeps_;
  // What the retry jitter's random source returns (0: no jitter).
  double jitter_ = 0;
  size_t max_queued_events_ = 1024;
};

TEST(ResourcePathTest, FollowsTheApiLayout) {
  EXPECT_EQ(ResourcePath(SecretsKind(), "kmesh-system", "kmesh-ipsec"),
            "/api/v1/namespaces/kmesh-system/secrets/kmesh-ipsec");
  EXPECT_EQ(ResourcePath(SecretsKind(), "", ""), "/api/v1/secrets");
  EXPECT_EQ(ResourcePath(NodesKind(), "ignored", "node-1"),
            "/api/v1/nodes/node-1");
  EXPECT_EQ(ResourcePath(KmeshNodeInfosKind(), "kmesh-system", ""),
            "/apis/kmesh.net/v1alpha1/namespaces/kmesh-system/kmeshnodeinfos");
  EXPECT_EQ(UrlEncode("a=b,c!=d e/f"), "a%3Db%2Cc%21%3Dd%20e%2Ff");
}

TEST_F(RestKubeClientTest, GetReturnsTheObject) {
  Serve({Json(200, R"({"kind":"Node","metadata":{"name":"n1"}})")});
  absl::StatusOr<std::string> node = client_->Get(NodesKind(), "", "n1");
  ASSERT_TRUE(node.ok()) << node.status();
  EXPECT_EQ(*node, R"({"kind":"Node","metadata":{"name":"n1"}})");
  EXPECT_THAT(Targets(), ElementsAre("GET /api/v1/nodes/n1"));
}

TEST_F(RestKubeClientTest, ErrorsCarryTheServersReasonMessageAndUrl) {
  struct Case {
    int code;
    std::string reason;
    absl::StatusCode expected;
  };
  for (const Case& c : std::vector<Case>{
           {404, "NotFound", absl::StatusCode::kNotFound},
           {409, "AlreadyExists", absl::StatusCode::kAlreadyExists},
           {409, "Conflict", absl::StatusCode::kAborted},
           {403, "Forbidden", absl::StatusCode::kPermissionDenied},
           {401, "Unauthorized", absl::StatusCode::kUnauthenticated},
           {422, "Invalid", absl::StatusCode::kInvalidArgument}}) {
    SCOPED_TRACE(c.reason);
    Serve({StatusBody(c.code, c.reason, "the server's own words")});
    absl::StatusOr<std::string> created =
        client_->Create(SecretsKind(), "ns", R"({"metadata":{"name":"s"}})");
    ASSERT_FALSE(created.ok());
    EXPECT_EQ(created.status().code(), c.expected);
    EXPECT_THAT(created.status().message(),
                ::testing::AllOf(
                    HasSubstr("the server's own words"),
                    HasSubstr(absl::StrCat("POST ", server_->url(),
                                           "/api/v1/namespaces/ns/secrets"))));
    EXPECT_EQ(server_->requests().size(), 1u);  // Never retried.
  }
}

TEST_F(RestKubeClientTest, NonJsonErrorBodyIsQuoted) {
  Serve({Json(404, "404 page not found")});
  absl::StatusOr<std::string> got = client_->Get(NodesKind(), "", "x");
  EXPECT_TRUE(absl::IsNotFound(got.status()));
  EXPECT_THAT(got.status().message(), HasSubstr("404 page not found"));
}

TEST_F(RestKubeClientTest, ListEncodesTheSelectorAndCompletesItems) {
  Serve({Json(200,
              R"({"kind":"SecretList","metadata":{"resourceVersion":"77"},
      "items":[{"metadata":{"name":"a","namespace":"ns"}},
               {"metadata":{"name":"b","namespace":"ns"}}]})")});
  ListOptions options;
  options.label_selector = "app=kmesh,tier!=web";
  absl::StatusOr<ObjectList> list = client_->List(SecretsKind(), "ns", options);
  ASSERT_TRUE(list.ok()) << list.status();
  EXPECT_EQ(list->resource_version, "77");
  EXPECT_THAT(
      list->items,
      ElementsAre(
          R"({"apiVersion":"v1","kind":"Secret","metadata":{"name":"a","namespace":"ns"}})",
          R"({"apiVersion":"v1","kind":"Secret","metadata":{"name":"b","namespace":"ns"}})"));
  EXPECT_THAT(Targets(),
              ElementsAre("GET /api/v1/namespaces/ns/secrets?labelSelector="
                          "app%3Dkmesh%2Ctier%21%3Dweb"));
}

TEST_F(RestKubeClientTest, NamespacedKindsNeedANamespace) {
  Serve({Json(200, "{}")});
  EXPECT_TRUE(
      absl::IsInvalidArgument(client_->Get(SecretsKind(), "", "x").status()));
  EXPECT_TRUE(server_->requests().empty());
}

TEST_F(RestKubeClientTest, ReadRetriesAfterServerErrorWithBackoff) {
  Serve({StatusBody(500, "InternalError", "etcd hiccup"),
         StatusBody(502, "", "bad gateway"), Json(200, R"({"ok":1})")});
  absl::StatusOr<std::string> got = client_->Get(NodesKind(), "", "n");
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(server_->requests().size(), 3u);
  EXPECT_THAT(sleeps_, ElementsAre(100, 200));
}

TEST_F(RestKubeClientTest, RetryDelaysAreJittered) {
  jitter_ = 0.5;  // Each delay is 1.5 times its base.
  Serve({StatusBody(503, "ServiceUnavailable", "down for maintenance")});
  EXPECT_FALSE(client_->Get(NodesKind(), "", "n").ok());
  EXPECT_THAT(sleeps_, ElementsAre(150, 300, 600));
}

TEST_F(RestKubeClientTest, ListSendsPagingAndFieldSelectorAndReturnsContinue) {
  Serve({Json(200,
              R"({"kind":"PodList","metadata":{"resourceVersion":"9",
      "continue":"tok/1"},"items":[{"metadata":{"name":"a","namespace":"ns"}}]})"),
         StatusBody(410, "Expired",
                    "The provided continue parameter is too old")});
  ListOptions options;
  options.field_selector = "spec.nodeName=node-1";
  options.limit = 500;
  absl::StatusOr<ObjectList> list = client_->List(PodsKind(), "", options);
  ASSERT_TRUE(list.ok()) << list.status();
  EXPECT_EQ(list->continue_token, "tok/1");
  EXPECT_EQ(list->items.size(), 1u);
  options.continue_token = list->continue_token;
  list = client_->List(PodsKind(), "", options);
  EXPECT_TRUE(IsGone(list.status())) << list.status();
  EXPECT_THAT(Targets(),
              ElementsAre("GET /api/v1/pods?fieldSelector=spec.nodeName%3D"
                          "node-1&limit=500",
                          "GET /api/v1/pods?fieldSelector=spec.nodeName%3D"
                          "node-1&limit=500&continue=tok%2F1"));
}

TEST_F(RestKubeClientTest, WatchNeverSendsPagingParameters) {
  ServeStream([](const auto&) {});
  ListOptions options;
  options.field_selector = "spec.nodeName=n";
  options.limit = 10;
  options.continue_token = "x";
  ASSERT_TRUE(client_->Watch(PodsKind(), "", options).ok());
  EXPECT_THAT(Targets(), ElementsAre("GET /api/v1/pods?watch=1&"
                                     "allowWatchBookmarks=true&"
                                     "fieldSelector=spec.nodeName%3Dn"));
}

TEST_F(RestKubeClientTest, ReadHonoursRetryAfterOnTooManyRequests) {
  ScriptedResponse throttled = StatusBody(429, "TooManyRequests", "slow down");
  throttled.headers = {{"Retry-After", "1"}};
  Serve({throttled, Json(200, "{}")});
  ASSERT_TRUE(client_->Get(NodesKind(), "", "n").ok());
  EXPECT_THAT(sleeps_, ElementsAre(1000));
}

TEST_F(RestKubeClientTest, ReadGivesUpAfterTheLastAttempt) {
  Serve({StatusBody(503, "ServiceUnavailable", "down for maintenance")});
  absl::StatusOr<ObjectList> list = client_->List(NodesKind(), "", {});
  ASSERT_FALSE(list.ok());
  EXPECT_TRUE(IsRetryable(list.status()));
  EXPECT_THAT(list.status().message(), HasSubstr("down for maintenance"));
  EXPECT_EQ(server_->requests().size(), 4u);
  EXPECT_THAT(sleeps_, ElementsAre(100, 200, 400));
}

TEST_F(RestKubeClientTest, WriteIsNotRetriedAfterAServerError) {
  Serve({StatusBody(500, "InternalError", "maybe applied"), Json(200, "{}")});
  absl::StatusOr<std::string> updated =
      client_->Update(SecretsKind(), "ns", "s", R"({"metadata":{"name":"s"}})");
  ASSERT_FALSE(updated.ok());
  EXPECT_TRUE(absl::IsUnavailable(updated.status()));
  EXPECT_EQ(server_->requests().size(), 1u);
  EXPECT_TRUE(sleeps_.empty());
}

TEST_F(RestKubeClientTest,
       WriteIsNotRetriedWhenTheConnectionDropsAfterSending) {
  ScriptedResponse dropped;
  dropped.drop = true;
  Serve({dropped, Json(201, "{}")});
  absl::Status deleted = client_->Delete(SecretsKind(), "ns", "s");
  EXPECT_TRUE(absl::IsUnavailable(deleted)) << deleted;
  EXPECT_EQ(server_->requests().size(), 1u);
}

TEST_F(RestKubeClientTest, WriteIsRetriedOnServiceUnavailableAndThrottling) {
  Serve({StatusBody(503, "ServiceUnavailable", "starting"),
         StatusBody(429, "TooManyRequests", "slow down"),
         Json(201, R"({"created":1})")});
  absl::StatusOr<std::string> created =
      client_->Create(SecretsKind(), "ns", R"({"metadata":{"name":"s"}})");
  ASSERT_TRUE(created.ok()) << created.status();
  EXPECT_EQ(*created, R"({"created":1})");
  EXPECT_EQ(server_->requests().size(), 3u);
}

TEST_F(RestKubeClientTest, WriteIsRetriedWhenNothingCouldBeSent) {
  Serve({Json(200, "{}")});
  const std::string url = server_->url();
  server_.reset();
  std::unique_ptr<RestKubeClient> client = MakeClient(url);
  absl::StatusOr<std::string> created =
      client->Create(SecretsKind(), "ns", "{}");
  ASSERT_FALSE(created.ok());
  EXPECT_THAT(created.status().message(),
              HasSubstr("cannot reach the API server at " + url));
  EXPECT_EQ(sleeps_.size(), 3u);  // Four attempts.
}

// Watch framing: events split anywhere across chunks, very long lines.
TEST_F(RestKubeClientTest, WatchReassemblesEventsSplitAcrossChunks) {
  const std::string big_value(1 << 20, 'x');  // A 1 MiB object.
  std::string body;
  for (int i = 1; i <= 3; ++i) {
    absl::StrAppend(&body, R"({"type":"ADDED","object":{"metadata":{"name":"o)",
                    i, R"(","resourceVersion":")", i, R"("}}})", "\n");
  }
  absl::StrAppend(
      &body,
      R"({"type":"MODIFIED","object":{"metadata":{"name":"o1","resourceVersion":"4"},"data":")",
      big_value, R"("}})", "\n");
  absl::StrAppend(
      &body,
      R"({"type":"BOOKMARK","object":{"metadata":{"resourceVersion":"5"}}})",
      "\n");
  absl::StrAppend(
      &body,
      R"({"type":"DELETED","object":{"metadata":{"name":"o2","resourceVersion":"6"}}})");
  ServeStream([body](const auto& write) {
    // Awkward piece sizes, so lines and even UTF-8/JSON tokens split.
    for (size_t i = 0; i < body.size();) {
      const size_t n = (i < 600) ? 7 : 65521;
      write(body.substr(i, n));
      i += n;
    }
  });
  ListOptions options;
  options.resource_version = "0";
  options.timeout = std::chrono::seconds(30);
  absl::StatusOr<std::unique_ptr<WatchStream>> watch =
      client_->Watch(SecretsKind(), "ns", options);
  ASSERT_TRUE(watch.ok()) << watch.status();
  std::vector<WatchEventType> types;
  std::vector<size_t> sizes;
  for (;;) {
    absl::StatusOr<WatchEvent> event = (*watch)->Next(milliseconds(10000));
    if (!event.ok()) {
      // The server ended the body: the connection is over.
      EXPECT_TRUE(absl::IsUnavailable(event.status())) << event.status();
      break;
    }
    types.push_back(event->type);
    sizes.push_back(event->ObjectText().size());
  }
  EXPECT_THAT(types,
              ElementsAre(WatchEventType::kAdded, WatchEventType::kAdded,
                          WatchEventType::kAdded, WatchEventType::kModified,
                          WatchEventType::kBookmark, WatchEventType::kDeleted));
  ASSERT_EQ(sizes.size(), 6u);
  EXPECT_GT(sizes[3], big_value.size());
  EXPECT_THAT(Targets(),
              ElementsAre("GET /api/v1/namespaces/ns/secrets?watch=1&"
                          "allowWatchBookmarks=true&resourceVersion=0&"
                          "timeoutSeconds=30"));
}

TEST_F(RestKubeClientTest, WatchTimeoutKeepsTheStreamUsable) {
  ServeStream(
      [this](const auto& write) {
        write(R"({"type":"ADDED","object":{"metadata":{"name":"a"}}})"
              "\n");
        release_.WaitForNotification();
        write(R"({"type":"ADDED","object":{"metadata":{"name":"b"}}})"
              "\n");
      },
      /*drop_after_stream=*/true);
  std::unique_ptr<WatchStream> watch = WatchNodes();
  ASSERT_NE(watch, nullptr);
  absl::StatusOr<WatchEvent> event = watch->Next(milliseconds(10000));
  ASSERT_TRUE(event.ok()) << event.status();
  EXPECT_THAT(event->ObjectText(), HasSubstr("\"a\""));
  // Nothing more until the server sends again: a timeout, not an end.
  event = watch->Next(milliseconds(20));
  EXPECT_TRUE(absl::IsDeadlineExceeded(event.status())) << event.status();
  release_.Notify();
  event = watch->Next(milliseconds(10000));
  ASSERT_TRUE(event.ok()) << event.status();
  EXPECT_THAT(event->ObjectText(), HasSubstr("\"b\""));
  // Then the connection drops without the final chunk.
  event = watch->Next(milliseconds(10000));
  EXPECT_TRUE(absl::IsUnavailable(event.status())) << event.status();
  // And stays ended.
  event = watch->Next(milliseconds(1));
  EXPECT_TRUE(absl::IsUnavailable(event.status())) << event.status();
}

TEST_F(RestKubeClientTest, WatchGoneIsOutOfRangeAfterEarlierEvents) {
  ServeStream([](const auto& write) {
    write(
        R"({"type":"ADDED","object":{"metadata":{"name":"a"}}})"
        "\n"
        R"json({"type":"ERROR","object":{"kind":"Status","status":"Failure","message":"too old resource version: 1 (5)","reason":"Expired","code":410}})json"
        "\n");
  });
  std::unique_ptr<WatchStream> watch = WatchNodes();
  ASSERT_NE(watch, nullptr);
  absl::StatusOr<WatchEvent> event = watch->Next(milliseconds(10000));
  ASSERT_TRUE(event.ok()) << event.status();
  event = watch->Next(milliseconds(10000));
  EXPECT_TRUE(IsGone(event.status())) << event.status();
  EXPECT_THAT(event.status().message(), HasSubstr("too old resource version"));
}

TEST_F(RestKubeClientTest, WatchReadsOddEventsSafelyAndStopsAtGarbage) {
  ServeStream([](const auto& write) {
    // A non-410 error with a mistyped code, blank lines, then garbage.
    write(R"({"type":"ERROR","object":{"code":"500","message":7}})"
          "\n\n  \n"
          R"({"type":"ADDED","object":{"metadata":{"name":"a"}}})"
          "\n"
          "<html>proxy error</html>\n"
          R"({"type":"ADDED","object":{"metadata":{"name":"never"}}})"
          "\n");
  });
  std::unique_ptr<WatchStream> watch = WatchNodes();
  ASSERT_NE(watch, nullptr);
  absl::StatusOr<WatchEvent> event = watch->Next(milliseconds(10000));
  ASSERT_TRUE(event.ok()) << event.status();
  EXPECT_EQ(event->type, WatchEventType::kError);
  event = watch->Next(milliseconds(10000));
  ASSERT_TRUE(event.ok()) << event.status();
  EXPECT_EQ(event->type, WatchEventType::kAdded);
  event = watch->Next(milliseconds(10000));
  EXPECT_TRUE(absl::IsUnavailable(event.status())) << event.status();
  EXPECT_THAT(event.status().message(), HasSubstr("malformed watch event"));
}

TEST_F(RestKubeClientTest, WatchRefusesALineLongerThanTheLimit) {
  ServeStream([](const auto& write) {
    write(R"({"type":"ADDED","object":{"metadata":{"name":"a"}}})"
          "\n");
    // 5000 bytes and no newline yet.
    for (int i = 0; i < 5; ++i) write(std::string(1000, ' '));
  });
  RestKubeClientOptions options;
  options.max_watch_line = 4096;
  absl::StatusOr<std::unique_ptr<RestKubeClient>> client =
      RestKubeClient::ForCluster(TestClusterAccess(server_->url()), options);
  ASSERT_TRUE(client.ok()) << client.status();
  std::unique_ptr<WatchStream> watch = WatchNodes(client->get());
  ASSERT_NE(watch, nullptr);
  EXPECT_TRUE(watch->Next(milliseconds(10000)).ok());
  absl::StatusOr<WatchEvent> event = watch->Next(milliseconds(10000));
  EXPECT_TRUE(absl::IsUnavailable(event.status())) << event.status();
  EXPECT_THAT(event.status().message(), HasSubstr("longer than 4096 bytes"));
}

// A million nested arrays (2 MB, well under the 16 MiB line cap) in a watch
// event, a list or a get: refused with a clear error before anything
// recursive (the consumer's dump(), copies) meets them. Before, the event
// was delivered and List() re-serialised the item: a stack overflow.
std::string DeeplyNested() {
  return std::string(1000000, '[') + std::string(1000000, ']');
}

TEST_F(RestKubeClientTest, WatchRefusesDeeplyNestedEvents) {
  ServeStream([](const auto& write) {
    write(R"({"type":"ADDED","object":{"metadata":{"name":"a"}}})"
          "\n");
    write(absl::StrCat(
        R"({"type":"ADDED","object":{"metadata":{"name":"b"},"x":)",
        DeeplyNested(), "}}\n"));
  });
  std::unique_ptr<WatchStream> watch = WatchNodes();
  ASSERT_NE(watch, nullptr);
  EXPECT_TRUE(watch->Next(milliseconds(10000)).ok());
  absl::StatusOr<WatchEvent> event = watch->Next(milliseconds(10000));
  ASSERT_FALSE(event.ok()) << "a deeply nested event was delivered";
  EXPECT_TRUE(absl::IsUnavailable(event.status())) << event.status();
  EXPECT_THAT(event.status().message(),
              HasSubstr("nested more than 100 levels deep"));
}

TEST_F(RestKubeClientTest, ListAndGetRefuseDeeplyNestedObjects) {
  Serve(
      {Json(200, absl::StrCat(R"({"items":[{"x":)", DeeplyNested(), "}]})"))});
  absl::StatusOr<ObjectList> list = client_->List(SecretsKind(), "ns", {});
  ASSERT_FALSE(list.ok());
  EXPECT_THAT(list.status().message(),
              HasSubstr("nested more than 100 levels deep"));
  absl::StatusOr<std::string> node = client_->Get(NodesKind(), "", "n1");
  ASSERT_FALSE(node.ok());
  EXPECT_THAT(node.status().message(),
              HasSubstr("nested more than 100 levels deep"));
}

// A consumer slower than the server: the queue stays bounded, the server's
// writes block (reading from the socket paused), and every event arrives,
// in order, once the consumer reads.
TEST_F(RestKubeClientTest, WatchQueueIsBoundedAndPushesBackWithoutDropping) {
  constexpr int kEvents = 20000;  // ~20 MB: more than the socket buffers.
  const std::string padding(1000, 'p');
  auto written = std::make_shared<std::atomic<int>>(0);
  max_queued_events_ = 8;
  ServeStream([written, padding](const auto& write) {
    for (int i = 1; i <= kEvents; ++i) {
      write(absl::StrCat(R"({"type":"ADDED","object":{"metadata":{"name":"o)",
                         i, R"(","resourceVersion":")", i, R"("},"pad":")",
                         padding, R"("}})", "\n"));
      written->store(i);
    }
  });
  std::unique_ptr<WatchStream> watch = WatchNodes();
  ASSERT_NE(watch, nullptr);
  // Nobody reads for a while: the server gets stuck well before the end.
  absl::SleepFor(absl::Milliseconds(500));
  const int stuck_at = written->load();
  absl::SleepFor(absl::Milliseconds(200));
  EXPECT_LT(written->load(), kEvents);
  EXPECT_EQ(written->load(), stuck_at);
  // Then every event arrives, in order.
  int expected = 1;
  for (; expected <= kEvents; ++expected) {
    absl::StatusOr<WatchEvent> event = watch->Next(milliseconds(10000));
    ASSERT_TRUE(event.ok()) << event.status() << " at " << expected;
    ASSERT_NE(event->parsed, nullptr);
    ASSERT_EQ((*event->parsed)["metadata"]["resourceVersion"],
              std::to_string(expected));
  }
  EXPECT_EQ(written->load(), kEvents);
}

TEST_F(RestKubeClientTest, WatchEventsCarryTheDecodedObject) {
  ServeStream([](const auto& write) {
    write(R"({"type":"BOOKMARK","object":{"kind":"Pod","apiVersion":"v1",)"
          R"("metadata":{"resourceVersion":"12"}}})"
          "\n");
  });
  std::unique_ptr<WatchStream> watch = WatchNodes();
  ASSERT_NE(watch, nullptr);
  absl::StatusOr<WatchEvent> event = watch->Next(milliseconds(10000));
  ASSERT_TRUE(event.ok()) << event.status();
  EXPECT_EQ(event->type, WatchEventType::kBookmark);
  ASSERT_NE(event->parsed, nullptr);
  EXPECT_EQ((*event->parsed)["metadata"]["resourceVersion"], "12");
  EXPECT_EQ(
      event->ObjectText(),
      R"({"apiVersion":"v1","kind":"Pod","metadata":{"resourceVersion":"12"}})");
}

TEST_F(RestKubeClientTest, WatchOpenErrorIsMapped) {
  Serve({StatusBody(403, "Forbidden", "cannot watch nodes")});
  absl::StatusOr<std::unique_ptr<WatchStream>> watch =
      client_->Watch(NodesKind(), "", {});
  ASSERT_FALSE(watch.ok());
  EXPECT_TRUE(IsForbidden(watch.status()));
  EXPECT_THAT(watch.status().message(), HasSubstr("cannot watch nodes"));
}

TEST_F(RestKubeClientTest, CloseUnblocksNextFromAnotherThread) {
  ServeStream([this](const auto&) { release_.WaitForNotification(); });
  std::unique_ptr<WatchStream> watch = WatchNodes();
  ASSERT_NE(watch, nullptr);
  absl::Status result;
  std::thread reader(
      [&] { result = watch->Next(milliseconds(60000)).status(); });
  watch->Close();
  reader.join();
  release_.Notify();
  EXPECT_TRUE(absl::IsCancelled(result)) << result;
}

TEST(PodProxyTargetTest, EscapesSegmentsAndKeepsTheQuery) {
  EXPECT_EQ(*PodProxyTarget("kmesh-system", "kmesh-abc", 15200,
                            "/status/a b%?verbose=1&x=y%20z"),
            "/api/v1/namespaces/kmesh-system/pods/kmesh-abc:15200/proxy/"
            "status/a%20b%25?verbose=1&x=y%20z");
  EXPECT_EQ(*PodProxyTarget("ns", "p", 0, "/"),
            "/api/v1/namespaces/ns/pods/p/proxy/");
  EXPECT_EQ(*PodProxyTarget("ns", "p", 0, "/x?q=a b#c"),
            "/api/v1/namespaces/ns/pods/p/proxy/x?q=a%20b%23c");
}

TEST(PodProxyTargetTest, RefusesWhatIsNotARequestForOnePod) {
  for (const auto& [ns, pod, port, path] :
       std::vector<std::tuple<std::string, std::string, int, std::string>>{
           {"ns", "p", 80, "status"},
           {"ns", "p", 80, ""},
           {"ns", "p", 80, "/a/../../secrets"},
           {"ns", "p", 80, "/./x"},
           {"", "p", 80, "/x"},
           {"ns", "", 80, "/x"},
           {"ns", "p:80", 80, "/x"},
           {"ns", "p", -1, "/x"},
           {"ns", "p", 65536, "/x"}}) {
    absl::StatusOr<std::string> target = PodProxyTarget(ns, pod, port, path);
    EXPECT_TRUE(absl::IsInvalidArgument(target.status()))
        << ns << " " << pod << " " << port << " " << path << ": "
        << target.status();
  }
}

TEST_F(RestKubeClientTest, ProxyGetPassesThePodsAnswerThrough) {
  ScriptedResponse metrics = Json(500, "daemon: xfrm dump failed\n");
  metrics.headers = {{"Content-Type", "text/plain; charset=utf-8"}};
  Serve({metrics});
  absl::StatusOr<ProxyResponse> got =
      client_->ProxyGet("kmesh-system", "kmesh-a", 15200, "/status?x=1");
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->code, 500);
  EXPECT_EQ(got->content_type, "text/plain; charset=utf-8");
  EXPECT_EQ(got->body, "daemon: xfrm dump failed\n");
  // The pod's own 500 is an answer, not a failure: not retried.
  EXPECT_THAT(Targets(), ElementsAre("GET /api/v1/namespaces/kmesh-system/"
                                     "pods/kmesh-a:15200/proxy/status?x=1"));
  EXPECT_TRUE(sleeps_.empty());
}

TEST_F(RestKubeClientTest, ProxyGetMapsTheApiServersFailures) {
  Serve({StatusBody(404, "NotFound", R"(pods \"kmesh-a\" not found)")});
  absl::StatusOr<ProxyResponse> got =
      client_->ProxyGet("kmesh-system", "kmesh-a", 0, "/status");
  EXPECT_TRUE(absl::IsNotFound(got.status())) << got.status();
  EXPECT_THAT(got.status().message(), HasSubstr("kmesh-system/kmesh-a"));

  Serve({StatusBody(403, "Forbidden",
                    R"(pods \"kmesh-a\" is forbidden: User \"u\" cannot get )"
                    R"(resource \"pods/proxy\" in API group \"\" in the )"
                    R"(namespace \"kmesh-system\")")});
  got = client_->ProxyGet("kmesh-system", "kmesh-a", 0, "/status");
  EXPECT_TRUE(absl::IsPermissionDenied(got.status())) << got.status();
  EXPECT_THAT(got.status().message(),
              HasSubstr("the verb \"get\" on the resource \"pods/proxy\" in "
                        "the namespace \"kmesh-system\""));
  EXPECT_EQ(server_->requests().size(), 1u);
}

// A pod that cannot be reached costs one request, not four: the caller
// (kmeshctl) reports the node instead of waiting minutes for it.
TEST_F(RestKubeClientTest, ProxyGetIsTriedOnceWhenThePodCannotBeReached) {
  for (const char* message :
       {"error trying to reach service: dial tcp 10.0.0.5:15200: connect: "
        "connection refused",
        "error trying to reach service: dial tcp 10.0.0.5:15200: i/o "
        "timeout"}) {
    sleeps_.clear();
    Serve({StatusBody(503, "ServiceUnavailable", message), Json(200, "ok")});
    absl::StatusOr<ProxyResponse> got =
        client_->ProxyGet("kmesh-system", "kmesh-a", 15200, "/status");
    EXPECT_TRUE(absl::IsUnavailable(got.status())) << got.status();
    EXPECT_THAT(got.status().message(), HasSubstr(message));
    EXPECT_EQ(server_->requests().size(), 1u) << message;
    EXPECT_TRUE(sleeps_.empty()) << message;
  }

  // Nor when the connection drops without an answer.
  ScriptedResponse dropped;
  dropped.drop = true;
  Serve({dropped, Json(200, "ok")});
  absl::StatusOr<ProxyResponse> got =
      client_->ProxyGet("kmesh-system", "kmesh-a", 15200, "/status");
  EXPECT_TRUE(absl::IsUnavailable(got.status())) << got.status();
  EXPECT_EQ(server_->requests().size(), 1u);
  EXPECT_TRUE(sleeps_.empty());
}

TEST_F(RestKubeClientTest, ProxyGetIsTriedOnceAfterARequestTimeout) {
  server_ = LoopbackHttpServer::Start([this](const ReceivedRequest&) {
    release_.WaitForNotificationWithTimeout(absl::Seconds(30));
    return Json(200, "late");
  });
  RestKubeClientOptions options;
  options.transport.request_timeout = milliseconds(300);
  options.sleep = [this](milliseconds d) { sleeps_.push_back(d.count()); };
  absl::StatusOr<std::unique_ptr<RestKubeClient>> client =
      RestKubeClient::ForCluster(TestClusterAccess(server_->url()), options);
  ASSERT_TRUE(client.ok()) << client.status();
  absl::StatusOr<ProxyResponse> got =
      (*client)->ProxyGet("kmesh-system", "kmesh-a", 15200, "/status");
  EXPECT_TRUE(absl::IsUnavailable(got.status())) << got.status();
  EXPECT_TRUE(sleeps_.empty());
  release_.Notify();
  EXPECT_EQ(server_->requests().size(), 1u);
}

TEST_F(RestKubeClientTest, ProxyGetRefusesABadPathWithoutARequest) {
  Serve({Json(200, "ok")});
  EXPECT_TRUE(absl::IsInvalidArgument(
      client_->ProxyGet("kmesh-system", "kmesh-a", 0, "status").status()));
  EXPECT_TRUE(server_->requests().empty());
}

}  // namespace
}  // namespace kmesh::kube
