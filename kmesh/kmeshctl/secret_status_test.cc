#include "kmesh/kmeshctl/secret_status.h"

#include <map>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "kmesh/kube/kube_status.h"
#include "kmesh/kube/testing/mock_kube_client.h"
#include "nlohmann/json.hpp"

namespace kmesh::kmeshctl {
namespace {

using Json = nlohmann::json;
using ::testing::_;
using ::testing::HasSubstr;
using ::testing::Invoke;
using ::testing::Not;
using ::testing::Return;

std::string SecretJson(int spi, const std::string& last_write = "") {
  const std::string ipsec = absl::StrCat(
      "{\"spi\":", spi,
      ",\"aeadKeyName\":\"rfc4106(gcm(aes))\",\"aeadKey\":"
      "\"ZmAffNB8OiONKwvz+a3+J3VZcz5ieMURZMlUG+hIDt5ldQrt\",\"length\":128}");
  Json secret = {{"apiVersion", "v1"},
                 {"kind", "Secret"},
                 {"metadata",
                  {{"name", "kmesh-ipsec"},
                   {"namespace", "kmesh-system"},
                   {"creationTimestamp", "2026-12-01T00:00:00Z"}}},
                 {"data", {{"ipSec", absl::Base64Escape(ipsec)}}}};
  if (!last_write.empty()) {
    // As a real API server tracks writers (kmeshctl's Update, then ours).
    secret["metadata"]["managedFields"] =
        Json::array({Json{{"manager", "kmeshctl"},
                          {"operation", "Update"},
                          {"time", "2026-12-01T00:00:00Z"}},
                     Json{{"manager", "kmeshctl"},
                          {"operation", "Update"},
                          {"time", last_write}}});
  }
  return secret.dump();
}

// A daemon's status document; tests change what they need.
Json DaemonStatus(const std::string& node, int spi) {
  Json d = Json::object();
  d["kind"] = "KmeshIpsecNodeStatus";
  d["node"] = node;
  d["targetSpi"] = spi;
  d["advertisedSpi"] = spi;
  d["keyAgeSeconds"] = 30.0;
  d["heldSpis"] = Json::array({spi});
  d["pendingReclaims"] = Json::array();
  d["peers"] = Json::array();
  Json spis = Json::object();
  spis["spi"] = spi;
  spis["inboundSas"] = 2;
  spis["outboundSas"] = 2;
  Json sa = Json::object();
  sa["peer"] = "x";
  sa["spi"] = spi;
  sa["outputSeq"] = 10u;
  sa["seqUsedFraction"] = 0.0;
  Json kernel = Json::object();
  kernel["spis"] = Json::array({spis});
  kernel["error"] = "";
  kernel["outboundSas"] = Json::array({sa});
  kernel["xfrmStatChangedSinceStart"] = Json::object();
  d["kernel"] = kernel;
  return d;
}

const absl::Time kNow = absl::FromUnixSeconds(1796601600);  // 2026-12-06

// A cluster of nodes a, b, c: what the API server and each daemon answer.
class SecretStatusTest : public ::testing::Test {
 protected:
  SecretStatusTest() {
    for (const char* n : {"a", "b", "c"}) {
      advertised_[n] = 2;
      daemons_[n] = DaemonStatus(n, 2);
    }
  }

  CommandResult RunStatus(
      SecretOutputFormat format = SecretOutputFormat::kText) {
    EXPECT_CALL(client_, Get(_, "kmesh-system", "kmesh-ipsec"))
        .WillRepeatedly(Return(SecretJson(stored_spi_, last_write_)));
    EXPECT_CALL(client_, List(_, _, _))
        .WillRepeatedly(Invoke([this](const kube::ResourceKind& kind,
                                      const std::string&,
                                      const kube::ListOptions& options)
                                   -> absl::StatusOr<kube::ObjectList> {
          kube::ObjectList list;
          if (kind.plural == "nodes") {
            for (const auto& [n, spi] : advertised_) {
              if (no_node_.count(n)) continue;
              Json node = {{"metadata", {{"name", n}}}};
              node["metadata"]["creationTimestamp"] =
                  node_created_.count(n) ? node_created_[n]
                                         : "2026-01-01T00:00:00Z";
              list.items.push_back(node.dump());
            }
          } else if (kind.plural == "kmeshnodeinfos") {
            for (const auto& [n, spi] : advertised_) {
              if (spi < 0) continue;  // No record.
              list.items.push_back(
                  Json({{"metadata", {{"name", n}}}, {"spec", {{"spi", spi}}}})
                      .dump());
            }
          } else if (kind.plural == "pods") {
            EXPECT_EQ(options.label_selector, "app=kmesh");
            for (const auto& [n, spi] : advertised_) {
              if (without_pod_.count(n) || no_node_.count(n)) continue;
              list.items.push_back(
                  Json({{"metadata", {{"name", "kmesh-" + n}}},
                        {"spec",
                         {{"nodeName", n},
                          {"containers",
                           {{{"name", "kmesh"},
                             {"ports",
                              {{{"name", "status"},
                                {"containerPort", 16000}}}}}}}}}})
                      .dump());
            }
          }
          return list;
        }));
    EXPECT_CALL(client_, ProxyGet("kmesh-system", _, 16000, "/v1/ipsec/status"))
        .WillRepeatedly(Invoke(
            [this](const std::string&, const std::string& pod, int,
                   const std::string&) -> absl::StatusOr<kube::ProxyResponse> {
              const std::string node = pod.substr(6);
              if (proxy_errors_.count(node)) return proxy_errors_[node];
              if (responses_.count(node)) return responses_[node];
              kube::ProxyResponse response;
              response.code = 200;
              response.content_type = "application/json";
              response.body = raw_answers_.count(node) ? raw_answers_[node]
                                                       : daemons_[node].dump();
              return response;
            }));
    SecretStatusOptions options;
    options.output = format;
    options.lag_threshold = absl::Minutes(1);
    options.now = kNow;
    return SecretStatus(client_, options);
  }

  kube::MockKubeClient client_;
  int stored_spi_ = 2;
  std::map<std::string, int> advertised_;  // -1: no KmeshNodeInfo.
  std::map<std::string, Json> daemons_;
  std::map<std::string, std::string> raw_answers_;
  std::map<std::string, absl::Status> proxy_errors_;
  std::map<std::string, kube::ProxyResponse> responses_;
  std::set<std::string> without_pod_;
  std::set<std::string> no_node_;  // A KmeshNodeInfo, but no Node.
  std::map<std::string, std::string> node_created_;
  std::string last_write_;  // managedFields' newest time; "" = none.
};

TEST_F(SecretStatusTest, AllOnTheStoredSpiIsHealthy) {
  CommandResult r = RunStatus();
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_THAT(r.out, HasSubstr("Rollout of spi 2: complete, every node (3)"));
  EXPECT_THAT(r.out, HasSubstr("Old keys: none held"));
  EXPECT_THAT(r.out, Not(HasSubstr("Problems:")));
  EXPECT_EQ(r.err, "");
}

TEST_F(SecretStatusTest, ALaggingNodeIsNamedAndAProblemOnlyPastTheThreshold) {
  advertised_["c"] = 1;
  daemons_["c"] = DaemonStatus("c", 1);
  daemons_["a"]["keyAgeSeconds"] = 20.0;  // Within the 1 min threshold.
  daemons_["b"]["keyAgeSeconds"] = 10.0;
  CommandResult within = RunStatus();
  EXPECT_EQ(within.exit_code, 0) << within.out;
  EXPECT_THAT(within.out,
              HasSubstr("Rollout of spi 2: in progress for 20s; 1 of 3 nodes "
                        "lag: c (advertises spi 1)"));

  daemons_["a"]["keyAgeSeconds"] = 75.0;
  CommandResult past = RunStatus();
  EXPECT_EQ(past.exit_code, kStatusExitProblems) << past.out;
  EXPECT_THAT(past.out, HasSubstr("c: lags: advertises spi 1, the secret holds "
                                  "spi 2 (for 1m15s, threshold 1m0s)"));
  Json j = Json::parse(RunStatus(SecretOutputFormat::kJson).out);
  EXPECT_EQ(j["rotation"]["lagging"], Json::array({"c"}));
  EXPECT_EQ(j["rotation"]["keyOutForSeconds"], 75.0);
  EXPECT_FALSE(j["healthy"].get<bool>());
}

TEST_F(SecretStatusTest, ANodeWithoutARecordLags) {
  advertised_["c"] = -1;
  daemons_["a"]["keyAgeSeconds"] = 300.0;
  CommandResult r = RunStatus();
  EXPECT_EQ(r.exit_code, kStatusExitProblems);
  EXPECT_THAT(r.out, HasSubstr("c (no KmeshNodeInfo)"));
  EXPECT_THAT(r.out, HasSubstr("c: lags: has no KmeshNodeInfo"));
}

// The worst rotation failure: no daemon ever takes the new key. The
// Secret's last write (managedFields) dates the rollout, so every node is
// reported once past the threshold; and a daemon that cannot use its key
// file says so.
TEST_F(SecretStatusTest, NoDaemonTakingTheKeyIsAProblemByTheSecretsWriteTime) {
  for (const char* n : {"a", "b", "c"}) {
    advertised_[n] = 1;
    daemons_[n] = DaemonStatus(n, 1);
  }
  last_write_ = absl::FormatTime(absl::RFC3339_full, kNow - absl::Minutes(10),
                                 absl::UTCTimeZone());
  CommandResult r = RunStatus();
  EXPECT_EQ(r.exit_code, kStatusExitProblems) << r.out;
  EXPECT_THAT(r.out, HasSubstr("Rollout of spi 2: in progress for 10m0s; 3 of "
                               "3 nodes lag"));
  for (const char* n : {"a", "b", "c"}) {
    EXPECT_THAT(r.out, HasSubstr(absl::StrCat(n, ": lags: advertises spi 1")));
  }
  daemons_["b"]["reconcile"] = Json{{"keyFileErrors", 4}};
  r = RunStatus();
  EXPECT_THAT(r.out, HasSubstr("b: its daemon cannot use its key file (4 "
                               "errors since it started; see its log) and "
                               "does not have spi 2"));
  // Without managedFields nothing dates it: not reported as lagging (yet).
  last_write_ = "";
  daemons_["b"]["reconcile"] = Json{{"keyFileErrors", 0}};
  r = RunStatus();
  EXPECT_EQ(r.exit_code, 0) << r.out;
  EXPECT_THAT(r.out, HasSubstr("(no daemon has reported the key yet)"));
}

// A node that joined a minute ago is measured from its own creation, not
// from a rollout days old.
TEST_F(SecretStatusTest, ANewNodeIsMeasuredFromItsOwnCreation) {
  last_write_ = absl::FormatTime(absl::RFC3339_full, kNow - absl::Hours(72),
                                 absl::UTCTimeZone());
  advertised_["d"] = -1;  // Its daemon has not published yet.
  daemons_["d"] = DaemonStatus("d", 2);
  node_created_["d"] = absl::FormatTime(
      absl::RFC3339_full, kNow - absl::Seconds(30), absl::UTCTimeZone());
  CommandResult r = RunStatus();
  EXPECT_EQ(r.exit_code, 0) << r.out;
  EXPECT_THAT(r.out, HasSubstr("1 of 4 nodes lag: d (no KmeshNodeInfo)"));
  node_created_["d"] = absl::FormatTime(
      absl::RFC3339_full, kNow - absl::Minutes(3), absl::UTCTimeZone());
  r = RunStatus();
  EXPECT_EQ(r.exit_code, kStatusExitProblems);
  EXPECT_THAT(r.out, HasSubstr("d: lags: has no KmeshNodeInfo, the secret "
                               "holds spi 2 (for 3m0s, threshold 1m0s)"));
}

// A deleted node leaves its KmeshNodeInfo (a stopping daemon keeps it): it
// is reported as stale, once, and is not a lagging node.
TEST_F(SecretStatusTest, ARecordWithoutANodeIsStaleNotLagging) {
  advertised_["gone"] = 1;
  no_node_.insert("gone");
  CommandResult r = RunStatus();
  EXPECT_EQ(r.exit_code, kStatusExitProblems);
  EXPECT_THAT(r.out, HasSubstr("Rollout of spi 2: complete, every node (3)"));
  EXPECT_THAT(r.out, HasSubstr("gone: a KmeshNodeInfo without a Node or a "
                               "daemon (a deleted node's?): kubectl delete "
                               "kmeshnodeinfo -n kmesh-system gone"));
  EXPECT_THAT(r.out, HasSubstr("stale record (no Node)"));
  EXPECT_THAT(r.out, Not(HasSubstr("gone: no daemon pod")));
  Json j = Json::parse(RunStatus(SecretOutputFormat::kJson).out);
  EXPECT_TRUE(j["rotation"]["lagging"].empty());
}

TEST_F(SecretStatusTest, OldKeysAwaitingReclaimAreShownWithTheirTime) {
  for (const char* n : {"a", "b", "c"}) {
    daemons_[n]["heldSpis"] = Json::array({1, 2});
    daemons_[n]["pendingReclaims"] =
        Json::array({Json{{"spi", 1}, {"dueInSeconds", 250.0}}});
  }
  CommandResult r = RunStatus();
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_THAT(r.out,
              HasSubstr("Old keys: spi 1 still held, reclaimed within 4m10s"));
  EXPECT_THAT(r.out, HasSubstr("spi 1 in 4m10s"));
  // One node holds spi 1 with no reclaim scheduled: no promise of a time.
  daemons_["c"]["pendingReclaims"] = Json::array();
  r = RunStatus();
  EXPECT_THAT(r.out, HasSubstr("Old keys: spi 1 still held (reclaim waits "
                               "until every peer moved past it)"));
}

// MAX OUT SEQ is one SA's: the one closest to running out, with its own
// sequence number (not the busiest ESN SA's number next to another's share).
TEST_F(SecretStatusTest, MaxOutSeqDescribesOneSa) {
  Json esn = daemons_["a"]["kernel"]["outboundSas"][0];
  esn["outputSeq"] = 900000u;
  esn["seqUsedFraction"] = 0.0;
  Json busy = daemons_["a"]["kernel"]["outboundSas"][0];
  busy["outputSeq"] = 2147483648u;
  busy["seqUsedFraction"] = 0.5;
  daemons_["a"]["kernel"]["outboundSas"] = Json::array({esn, busy});
  CommandResult r = RunStatus();
  EXPECT_THAT(r.out, HasSubstr("2147483648 (50.00%)"));
  busy["outputSeq"] = 50u;
  daemons_["a"]["kernel"]["outboundSas"] = Json::array({esn, busy});
  r = RunStatus();
  EXPECT_THAT(r.out, HasSubstr(" 50 (50.00%)"));
  EXPECT_THAT(r.out, Not(HasSubstr("900000 (50.00%)")));
}

TEST_F(SecretStatusTest, DaemonFailuresAreNamedPerNode) {
  proxy_errors_["a"] = absl::UnavailableError(
      "error trying to reach service: dial tcp 10.0.0.1:15200: connect: "
      "connection refused");
  without_pod_.insert("b");
  raw_answers_["c"] = "<html>not a status</html>";
  CommandResult r = RunStatus();
  EXPECT_EQ(r.exit_code, kStatusExitProblems);
  EXPECT_THAT(r.out, HasSubstr("a: daemon kmesh-a not reachable: error trying "
                               "to reach service"));
  EXPECT_THAT(r.out, HasSubstr("b: no daemon pod (app=kmesh) on this node"));
  EXPECT_THAT(r.out, HasSubstr("c: daemon kmesh-c answered something that is "
                               "not its status (is port 16000 the status "
                               "port?)"));
  EXPECT_THAT(r.out, HasSubstr("daemon unreachable"));
  EXPECT_THAT(r.out, HasSubstr("no daemon pod\n"));
  EXPECT_THAT(r.out, HasSubstr("not a daemon status\n"));
}

TEST_F(SecretStatusTest, ANon200AnswerCarriesTheDaemonsMessage) {
  responses_["a"] = kube::ProxyResponse{
      503, "application/json",
      "{\"kind\":\"Status\",\"message\":\"the IPsec agent is not running "
      "yet\"}"};
  CommandResult r = RunStatus();
  EXPECT_EQ(r.exit_code, kStatusExitProblems);
  EXPECT_THAT(r.out, HasSubstr("a: daemon kmesh-a answered HTTP 503: the IPsec "
                               "agent is not running yet"));
}

TEST_F(SecretStatusTest, KernelTroubleIsAProblem) {
  daemons_["a"]["kernel"]["xfrmStatChangedSinceStart"]["XfrmInNoStates"] = 3u;
  daemons_["b"]["kernel"]["outboundSas"][0]["seqUsedFraction"] = 0.95;
  daemons_["b"]["kernel"]["outboundSas"][0]["peer"] = "c";
  daemons_["c"]["kernel"]["error"] = "dump SAs: EPERM";
  daemons_["c"]["peers"] = Json::array({Json{
      {"name", "a"}, {"state", "error"}, {"problem", "add SA: ENOBUFS"}}});
  CommandResult r = RunStatus();
  EXPECT_EQ(r.exit_code, kStatusExitProblems);
  EXPECT_THAT(r.out, HasSubstr("a: xfrm_stat error counters rose since the "
                               "daemon started: XfrmInNoStates +3"));
  EXPECT_THAT(r.out, HasSubstr("b: outbound SA to c spi 2 used 95% of its "
                               "sequence numbers"));
  EXPECT_THAT(r.out, HasSubstr("c: kernel not readable: dump SAs: EPERM"));
  EXPECT_THAT(r.out, HasSubstr("c: peer a not programmed: add SA: ENOBUFS"));
  EXPECT_THAT(r.out, HasSubstr("XfrmInNoStates+3"));
}

TEST_F(SecretStatusTest, ARejectedPeerRecordIsAProblem) {
  daemons_["a"]["rejectedRecords"] =
      Json::array({Json{{"name", "c"},
                        {"reason", "pod_cidr_not_on_node"},
                        {"detail",
                         "KmeshNodeInfo c: spec.podCIDRS has 10.244.1.0/24, "
                         "which is not within its Node's spec.podCIDRs"}}});
  CommandResult r = RunStatus();
  EXPECT_EQ(r.exit_code, kStatusExitProblems);
  EXPECT_THAT(r.out, HasSubstr("a: rejects the KmeshNodeInfo of c "
                               "(pod_cidr_not_on_node): KmeshNodeInfo c: "
                               "spec.podCIDRS has 10.244.1.0/24"));
}

// A daemon of another version, a proxy's error page or garbage: that node's
// daemon is reported, nothing throws, the others are still read.
TEST_F(SecretStatusTest, MalformedDaemonDocumentsAreReportedNotThrown) {
  const std::vector<std::pair<std::string, Json>> mutations = {
      {"peers", Json::array({Json::array({"name", "a"})})},
      {"peers", Json::array({Json{{"name", 7}}})},
      {"heldSpis", "1,2"},
      {"targetSpi", "2"},
      {"pendingReclaims", Json::array({Json{{"spi", 1}}})},
      {"kernel", Json{{"outboundSas", Json::array({Json{{"peer", 3}}})}}},
      {"kernel", Json{{"outboundSas",
                       Json::array({Json{
                           {"peer", "x"}, {"spi", 1}, {"outputSeq", -5}}})}}},
      {"kernel", Json{{"xfrmStatChangedSinceStart", Json{{"X", "many"}}}}},
      {"kernel", Json{{"spis", Json::array({Json{{"spi", "one"}}})}}},
      {"kernel", "broken"},
  };
  for (const auto& [field, value] : mutations) {
    daemons_["a"] = DaemonStatus("a", 2);
    daemons_["a"][field] = value;
    CommandResult r = RunStatus();
    EXPECT_EQ(r.exit_code, kStatusExitProblems) << field << " " << value.dump();
    EXPECT_THAT(r.out, HasSubstr("a: daemon kmesh-a answered a status this "
                                 "kmeshctl cannot read: " +
                                 field))
        << r.out;
    EXPECT_THAT(r.out, HasSubstr("\nb     2 "));
  }
}

TEST_F(SecretStatusTest, NoSecretIsExitOneWithTheFix) {
  EXPECT_CALL(client_, Get(_, "kmesh-system", "kmesh-ipsec"))
      .WillOnce(Return(kube::StatusFromHttp(
          404, "NotFound", "secrets \"kmesh-ipsec\" not found")));
  SecretStatusOptions options;
  CommandResult r = SecretStatus(client_, options);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("kmeshctl secret create"));
}

TEST_F(SecretStatusTest, NeverPrintsKeyMaterial) {
  const std::string key_b64 =
      "ZmAffNB8OiONKwvz+a3+J3VZcz5ieMURZMlUG+hIDt5ldQrt";
  const std::string key_hex = "66601f7cd07c3a238d2b0bf3f9adfe27";
  for (auto format : {SecretOutputFormat::kText, SecretOutputFormat::kJson}) {
    CommandResult r = RunStatus(format);
    EXPECT_THAT(r.out, Not(HasSubstr(key_b64)));
    EXPECT_THAT(r.out, Not(HasSubstr(key_hex)));
    EXPECT_THAT(r.out, Not(HasSubstr("aeadKey\"")));
  }
}

}  // namespace
}  // namespace kmesh::kmeshctl
