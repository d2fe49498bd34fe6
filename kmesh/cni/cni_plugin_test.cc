// RunCniPlugin against a fake API server and a fake kernel: the protocol
// (commands, variables, versions, error codes, prevResult passed on) and the
// plugin's decisions (managed or not, fail closed, idempotent DEL, CHECK).
#include "kmesh/cni/cni_plugin.h"

#include <map>
#include <set>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace kmesh::cni {
namespace {

using Json = nlohmann::json;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

// Pods and namespaces by "ns/name" and "name"; Get only.
class FakeKube : public kube::KubeClient {
 public:
  absl::StatusOr<std::string> Get(const kube::ResourceKind& kind,
                                  const std::string& ns,
                                  const std::string& name) override {
    ++gets;
    if (unavailable) return absl::UnavailableError("connection refused");
    const auto& objects =
        kind.plural == kube::PodsKind().plural ? pods : namespaces;
    auto it = objects.find(ns.empty() ? name : ns + "/" + name);
    if (it == objects.end()) return absl::NotFoundError("not found");
    return it->second;
  }
  absl::StatusOr<kube::ObjectList> List(const kube::ResourceKind&,
                                        const std::string&,
                                        const kube::ListOptions&) override {
    return absl::UnimplementedError("List");
  }
  absl::StatusOr<std::string> Create(const kube::ResourceKind&,
                                     const std::string&,
                                     const std::string&) override {
    return absl::UnimplementedError("Create");
  }
  absl::StatusOr<std::string> Update(const kube::ResourceKind&,
                                     const std::string&, const std::string&,
                                     const std::string&) override {
    return absl::UnimplementedError("Update");
  }
  absl::Status Delete(const kube::ResourceKind&, const std::string&,
                      const std::string&) override {
    return absl::UnimplementedError("Delete");
  }
  absl::StatusOr<std::unique_ptr<kube::WatchStream>> Watch(
      const kube::ResourceKind&, const std::string&,
      const kube::ListOptions&) override {
    return absl::UnimplementedError("Watch");
  }

  void AddPod(const std::string& ns, const std::string& name,
              const std::string& mode) {
    Json labels = Json::object();
    if (!mode.empty()) labels["istio.io/dataplane-mode"] = mode;
    pods[ns + "/" + name] =
        Json{{"metadata",
              {{"namespace", ns}, {"name", name}, {"labels", labels}}}}
            .dump();
  }
  void AddNamespace(const std::string& name, const std::string& mode) {
    Json labels = Json::object();
    if (!mode.empty()) labels["istio.io/dataplane-mode"] = mode;
    namespaces[name] =
        Json{{"metadata", {{"name", name}, {"labels", labels}}}}.dump();
  }

  std::map<std::string, std::string> pods, namespaces;
  bool unavailable = false;
  int gets = 0;
};

class FakeMarker : public HostInterfaceMarker {
 public:
  explicit FakeMarker(FakeMarker* state) : state_(state) {}
  absl::Status AttachTo(const std::string& ifname) override {
    if (state_->fail) return absl::PermissionDeniedError("injected EPERM");
    state_->attached.insert(ifname);
    return absl::OkStatus();
  }
  absl::Status DetachFrom(const std::string& ifname) override {
    if (state_->fail) return absl::PermissionDeniedError("injected EPERM");
    state_->attached.erase(ifname);
    return absl::OkStatus();
  }
  absl::StatusOr<bool> IsAttached(const std::string& ifname) override {
    return state_->attached.count(ifname) > 0;
  }
  bool IsBridge(const std::string& ifname) override {
    return state_->bridges.count(ifname) > 0;
  }
  std::set<std::string> attached, bridges;
  bool fail = false;

 private:
  FakeMarker* const state_;
};

// A ptp-style result: the host veth, and eth0 in the sandbox.
Json PtpResult(const std::string& version = "1.0.0") {
  return Json{{"cniVersion", version},
              {"interfaces",
               {{{"name", "veth1234"}, {"mac", "aa:bb:cc:dd:ee:01"}},
                {{"name", "eth0"},
                 {"mac", "aa:bb:cc:dd:ee:02"},
                 {"sandbox", "/var/run/netns/pod"}}}},
              {"ips", {{{"address", "10.244.1.5/24"}, {"interface", 1}}}}};
}

class CniPluginTest : public ::testing::Test {
 protected:
  CniPluginTest() : marker_(&marker_) {
    backends_.kube = [this](const CniNetConf&)
        -> absl::StatusOr<std::unique_ptr<kube::KubeClient>> {
      return std::unique_ptr<kube::KubeClient>(new Forwarding(&kube_));
    };
    backends_.marker = [this](const CniNetConf&)
        -> absl::StatusOr<std::unique_ptr<HostInterfaceMarker>> {
      return std::unique_ptr<HostInterfaceMarker>(new FakeMarker(&marker_));
    };
    kube_.AddNamespace("apps", "Kmesh");
    kube_.AddNamespace("plain", "");
    kube_.AddPod("apps", "web", "");
    kube_.AddPod("apps", "optout", "none");
    kube_.AddPod("plain", "db", "");
  }

  std::map<std::string, std::string> Env(const std::string& command,
                                         const std::string& ns = "apps",
                                         const std::string& pod = "web") {
    return {{"CNI_COMMAND", command},
            {"CNI_CONTAINERID", "c0ffee"},
            {"CNI_NETNS", "/var/run/netns/pod"},
            {"CNI_IFNAME", "eth0"},
            {"CNI_PATH", "/opt/cni/bin"},
            {"CNI_ARGS", absl::StrCat("IgnoreUnknown=1;K8S_POD_NAMESPACE=", ns,
                                      ";K8S_POD_NAME=", pod,
                                      ";K8S_POD_INFRA_CONTAINER_ID=c0ffee")}};
  }
  std::string Conf(const std::string& version = "1.0.0",
                   bool with_prev = true) {
    Json conf = {{"cniVersion", version},
                 {"name", "kind"},
                 {"type", "kmesh-cni"},
                 {"kubeconfig", "/etc/cni/net.d/kmesh-cni-kubeconfig"}};
    if (with_prev) conf["prevResult"] = PtpResult(version);
    return conf.dump();
  }
  CniOutcome Run(const std::map<std::string, std::string>& env,
                 const std::string& conf) {
    return RunCniPlugin(env, conf, backends_);
  }
  static int Code(const CniOutcome& o) {
    return Json::parse(o.stdout_text).at("code").get<int>();
  }

  // Hands calls on to the test's FakeKube (the plugin owns its client).
  class Forwarding : public FakeKube {
   public:
    explicit Forwarding(FakeKube* to) : to_(to) {}
    absl::StatusOr<std::string> Get(const kube::ResourceKind& kind,
                                    const std::string& ns,
                                    const std::string& name) override {
      return to_->Get(kind, ns, name);
    }

   private:
    FakeKube* const to_;
  };

  FakeKube kube_;
  FakeMarker marker_;
  CniBackends backends_;
};

TEST_F(CniPluginTest, VersionListsTheSupportedVersions) {
  CniOutcome o = Run({{"CNI_COMMAND", "VERSION"}}, R"({"cniVersion":"0.4.0"})");
  EXPECT_EQ(o.exit_code, 0);
  Json v = Json::parse(o.stdout_text);
  EXPECT_EQ(v["cniVersion"], "0.4.0");
  EXPECT_EQ(v["supportedVersions"], Json({"0.3.0", "0.3.1", "0.4.0", "1.0.0"}));
}

TEST_F(CniPluginTest, AddAttachesToAManagedPodsHostVethAndPassesTheResultOn) {
  for (const char* version : {"0.3.0", "0.3.1", "0.4.0", "1.0.0"}) {
    marker_.attached.clear();
    CniOutcome o = Run(Env("ADD"), Conf(version));
    ASSERT_EQ(o.exit_code, 0) << version << ": " << o.stdout_text;
    EXPECT_THAT(marker_.attached, ElementsAre("veth1234")) << version;
    Json result = Json::parse(o.stdout_text);
    EXPECT_EQ(result["cniVersion"], version);
    EXPECT_EQ(result["interfaces"], PtpResult()["interfaces"]);
    EXPECT_EQ(result["ips"], PtpResult()["ips"]);
  }
}

TEST_F(CniPluginTest, UnmanagedPodsAreLeftAlone) {
  for (const auto& [ns, pod] :
       {std::pair<std::string, std::string>{"plain", "db"},
        {"apps", "optout"}}) {
    CniOutcome o = Run(Env("ADD", ns, pod), Conf());
    ASSERT_EQ(o.exit_code, 0) << o.stdout_text;
    EXPECT_THAT(marker_.attached, IsEmpty()) << ns << "/" << pod;
  }
  // Not a Kubernetes pod at all: no API call.
  auto env = Env("ADD");
  env.erase("CNI_ARGS");
  const int gets = kube_.gets;
  EXPECT_EQ(Run(env, Conf()).exit_code, 0);
  EXPECT_EQ(kube_.gets, gets);
  EXPECT_THAT(marker_.attached, IsEmpty());
}

TEST_F(CniPluginTest, PodLabelInAnUnlabelledNamespaceIsManaged) {
  kube_.AddPod("plain", "opted-in", "Kmesh");
  EXPECT_EQ(Run(Env("ADD", "plain", "opted-in"), Conf()).exit_code, 0);
  EXPECT_THAT(marker_.attached, ElementsAre("veth1234"));
}

TEST_F(CniPluginTest, AddFailsClosed) {
  // The kernel refuses: the pod must not start unmarked.
  marker_.fail = true;
  CniOutcome o = Run(Env("ADD"), Conf());
  EXPECT_NE(o.exit_code, 0);
  EXPECT_EQ(Code(o), kCniMarkerFailed);
  EXPECT_THAT(o.stdout_text, HasSubstr("veth1234"));
  marker_.fail = false;

  // The API server cannot say whether the pod is managed: try again later.
  kube_.unavailable = true;
  o = Run(Env("ADD"), Conf());
  EXPECT_NE(o.exit_code, 0);
  EXPECT_EQ(Code(o), kCniTryAgainLater);
  kube_.unavailable = false;

  // No per-pod host interface (only a bridge): refused for a managed pod.
  marker_.bridges = {"veth1234"};
  o = Run(Env("ADD"), Conf());
  EXPECT_EQ(Code(o), kCniNoHostInterface);
  EXPECT_THAT(marker_.attached, IsEmpty());
}

TEST_F(CniPluginTest, BridgesInPrevResultAreSkipped) {
  Json conf = Json::parse(Conf());
  conf["prevResult"]["interfaces"].insert(
      conf["prevResult"]["interfaces"].begin(), Json{{"name", "cni0"}});
  marker_.bridges = {"cni0"};
  ASSERT_EQ(Run(Env("ADD"), conf.dump()).exit_code, 0);
  EXPECT_THAT(marker_.attached, ElementsAre("veth1234"));
}

TEST_F(CniPluginTest, DelIsIdempotentAndNeedsNoApiServer) {
  ASSERT_EQ(Run(Env("ADD"), Conf()).exit_code, 0);
  kube_.unavailable = true;
  CniOutcome o = Run(Env("DEL"), Conf());
  EXPECT_EQ(o.exit_code, 0) << o.stdout_text;
  EXPECT_THAT(marker_.attached, IsEmpty());
  EXPECT_EQ(Run(Env("DEL"), Conf()).exit_code, 0);  // Again.
  // Without prevResult, or without a netns: nothing to do, success.
  auto env = Env("DEL");
  env.erase("CNI_NETNS");
  EXPECT_EQ(Run(env, Conf("1.0.0", false)).exit_code, 0);
}

TEST_F(CniPluginTest, CheckVerifiesTheAttachment) {
  CniOutcome o = Run(Env("CHECK"), Conf());
  EXPECT_EQ(Code(o), kCniMarkerNotAttached);
  ASSERT_EQ(Run(Env("ADD"), Conf()).exit_code, 0);
  EXPECT_EQ(Run(Env("CHECK"), Conf()).exit_code, 0);
  EXPECT_EQ(Run(Env("CHECK", "plain", "db"), Conf()).exit_code, 0);
  // CHECK does not exist before 0.4.0.
  EXPECT_EQ(Code(Run(Env("CHECK"), Conf("0.3.1"))), kCniIncompatibleVersion);
}

TEST_F(CniPluginTest, ProtocolErrorsCarryTheSpecsCodes) {
  EXPECT_EQ(Code(Run({}, Conf())), kCniInvalidEnvironment);
  EXPECT_EQ(Code(Run({{"CNI_COMMAND", "GC"}}, Conf())), kCniInvalidEnvironment);
  auto env = Env("ADD");
  env.erase("CNI_CONTAINERID");
  EXPECT_EQ(Code(Run(env, Conf())), kCniInvalidEnvironment);
  env = Env("ADD");
  env.erase("CNI_NETNS");
  EXPECT_EQ(Code(Run(env, Conf())), kCniInvalidEnvironment);
  EXPECT_EQ(Code(Run(Env("ADD"), "not json")), kCniDecodeFailure);
  EXPECT_EQ(Code(Run(Env("ADD"), Conf("0.2.0"))), kCniIncompatibleVersion);
  EXPECT_EQ(Code(Run(Env("ADD"), R"({"cniVersion":"1.0.0","type":"x"})")),
            kCniInvalidConfig);
  // A chained plugin with nothing before it.
  CniOutcome o = Run(Env("ADD"), Conf("1.0.0", false));
  EXPECT_EQ(Code(o), kCniInvalidConfig);
  Json error = Json::parse(o.stdout_text);
  EXPECT_EQ(error["cniVersion"], "1.0.0");
  EXPECT_THAT(error["msg"].get<std::string>(), HasSubstr("prevResult"));
  EXPECT_TRUE(error.contains("details"));
}

}  // namespace
}  // namespace kmesh::cni
