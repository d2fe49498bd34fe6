// kmesh-cni on a real kernel, chained the way a runtime chains it: Debian's
// reference `ptp` plugin (with `host-local` IPAM) creates the pod's veth in
// a network namespace of the test's own, and its result is the prevResult
// of the real kmesh-cni binary, which asks the simulated API server (on the
// test's own loopback) whether the pod is managed and attaches the encrypt
// program that a loader pinned the way kmesh-daemon pins it. The test runs
// in a fresh network namespace (the "host") and a private mount namespace
// with a bpf filesystem of its own, and deletes the pod namespaces it makes.
// Needs root and /usr/lib/cni/{ptp,host-local} (Debian's
// containernetworking-plugins); skips with the reason otherwise.
#include <unistd.h>

#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "kmesh/base/ip_address.h"
#include "kmesh/base/testing/shell_command.h"
#include "kmesh/base/testing/test_directory.h"
#include "kmesh/cni/cni_plugin.h"
#include "kmesh/linux/bpf_marker_loader.h"
#include "kmesh/linux/pinned_encrypt_marker.h"
#include "kmesh/linux/testing/private_bpf_filesystem.h"
#include "kmesh/linux/testing/private_namespaces.h"
#include "kmesh/linux/testing/test_markers.h"
#include "nlohmann/json.hpp"
#include "sim/kube/api_server.h"

namespace kmesh::cni {
namespace {

using Json = nlohmann::json;
using ::kmesh::testing::CommandSucceeds;
using ::testing::HasSubstr;

constexpr char kCniBin[] = "/usr/lib/cni";

struct PluginRun {
  int exit_code = -1;
  std::string out;
};

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

class KmeshCniNetnsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (geteuid() != 0) {
      GTEST_SKIP() << "needs root: network namespaces, tc, BPF and bpffs";
    }
    for (const char* plugin : {"ptp", "host-local"}) {
      if (access(absl::StrCat(kCniBin, "/", plugin).c_str(), X_OK) != 0) {
        GTEST_SKIP() << "needs " << kCniBin << "/" << plugin
                     << " (Debian's containernetworking-plugins; tools/setup "
                        "installs it)";
      }
    }
    if (!CommandSucceeds("command -v ip")) GTEST_SKIP() << "needs iproute2";
    auto bpffs = linux_backend::testing::PrivateBpfFilesystem::Create();
    if (!bpffs.ok()) GTEST_SKIP() << bpffs.status().message();
    bpffs_ = *std::move(bpffs);
    // One "host" namespace for the whole run: the REST client's I/O thread
    // is shared by the process and stays in the namespace it started in.
    static const bool in_host_netns =
        linux_backend::testing::EnterNewNetworkNamespace().ok() &&
        CommandSucceeds("ip link set lo up");
    ASSERT_TRUE(in_host_netns);

    dir_ = kmesh::testing::NewTestDirectory("kmesh-cni");
    pin_dir_ = bpffs_->path() + "/kmesh-ipsec";
    // kmesh-daemon's part: load the markers with pinned maps and program.
    auto loader = linux_backend::testing::LoadTestMarkers(pin_dir_);
    if (absl::IsPermissionDenied(loader.status())) {
      GTEST_SKIP() << loader.status().message();
    }
    ASSERT_TRUE(loader.ok()) << loader.status();
    loader_ = *std::move(loader);

    auto server = sim::kube::ApiServer::Start({});
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    kubeconfig_ = dir_ + "/kubeconfig";
    ASSERT_TRUE(server_->WriteKubeconfig(kubeconfig_).ok());
    CreateObject("namespaces", "",
                 {{"apiVersion", "v1"},
                  {"kind", "Namespace"},
                  {"metadata",
                   {{"name", "apps"},
                    {"labels", {{"istio.io/dataplane-mode", "Kmesh"}}}}}});
    CreateObject("namespaces", "",
                 {{"apiVersion", "v1"},
                  {"kind", "Namespace"},
                  {"metadata", {{"name", "plain"}}}});
    for (const auto& [ns, name] :
         {std::pair<std::string, std::string>{"apps", "web"},
          {"apps", "late"},
          {"plain", "db"}}) {
      CreateObject(
          "pods", ns,
          {{"apiVersion", "v1"},
           {"kind", "Pod"},
           {"metadata", {{"name", name}, {"namespace", ns}}},
           {"spec",
            {{"nodeName", "node1"},
             {"containers", {{{"name", "app"}, {"image", "busybox"}}}}}}});
    }
  }

  void TearDown() override {
    for (const std::string& ns : netns_) {
      CommandSucceeds("ip netns del " + ns);
    }
    loader_.reset();
    server_.reset();
    bpffs_.reset();
  }

  // Through the plugin's own client for the kubeconfig.
  void CreateObject(const std::string& plural, const std::string& ns,
                    const Json& object) {
    CniNetConf conf;
    conf.kubeconfig = kubeconfig_;
    auto client = KubeClientForNetConf(conf);
    ASSERT_TRUE(client.ok()) << client.status();
    const kube::ResourceKind& kind =
        plural == "pods" ? kube::PodsKind() : kube::NamespacesKind();
    auto created = (*client)->Create(kind, ns, object.dump());
    ASSERT_TRUE(created.ok()) << created.status();
  }

  // A pod's network namespace, as the runtime makes it.
  std::string NewPodNetns(const std::string& name) {
    const std::string ns = absl::StrCat("kmcni", getpid(), "-", name);
    EXPECT_TRUE(CommandSucceeds("ip netns add " + ns));
    netns_.push_back(ns);
    return ns;
  }

  // Runs one plugin binary as a runtime does.
  PluginRun Run(const std::string& binary, const std::string& command,
                const std::string& netns, const std::string& pod_ns,
                const std::string& pod, const Json& conf) {
    const std::string conf_file = dir_ + "/conf.json";
    const std::string out_file = dir_ + "/out.json";
    std::ofstream(conf_file) << conf.dump();
    const std::string env = absl::StrCat(
        "env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin CNI_COMMAND=", command,
        " CNI_CONTAINERID=", netns, " CNI_NETNS=/run/netns/", netns,
        " CNI_IFNAME=eth0 CNI_PATH=", kCniBin,
        " 'CNI_ARGS=IgnoreUnknown=1;K8S_POD_NAMESPACE=", pod_ns,
        ";K8S_POD_NAME=", pod, "'");
    PluginRun run;
    const std::string script = absl::StrCat(env, " ", binary, " <", conf_file,
                                            " >", out_file, "; echo $?");
    run.exit_code = std::atoi(::kmesh::testing::CommandOutput(script).c_str());
    run.out = ReadFile(out_file);
    return run;
  }

  Json PtpConf(const std::string& version = "1.0.0") const {
    return {{"cniVersion", version},
            {"name", "kind"},
            {"type", "ptp"},
            {"ipMasq", false},
            {"ipam",
             {{"type", "host-local"},
              {"dataDir", dir_ + "/ipam"},
              {"ranges", {{{{"subnet", "10.251.0.0/24"}}}}},
              {"routes", {{{"dst", "0.0.0.0/0"}}}}}}};
  }
  Json KmeshConf(const Json& prev_result, const std::string& pin_dir = "",
                 const std::string& version = "1.0.0") const {
    return {{"cniVersion", version},
            {"name", "kind"},
            {"type", "kmesh-cni"},
            {"kubeconfig", kubeconfig_},
            {"bpfPinDir", pin_dir.empty() ? pin_dir_ : pin_dir},
            {"prevResult", prev_result}};
  }
  static std::string KmeshCni() {
    char cwd[4096];
    return absl::StrCat(getcwd(cwd, sizeof(cwd)), "/kmesh/cni/kmesh-cni");
  }
  // ptp's ADD for a new pod namespace: its result.
  Json PtpAdd(const std::string& netns, const std::string& pod_ns,
              const std::string& pod, const std::string& version = "1.0.0") {
    PluginRun ptp = Run(absl::StrCat(kCniBin, "/ptp"), "ADD", netns, pod_ns,
                        pod, PtpConf(version));
    EXPECT_EQ(ptp.exit_code, 0) << ptp.out;
    return Json::parse(ptp.out, nullptr, false);
  }
  // XfrmOutPolBlock of the test's ("host") namespace.
  static long OutPolicyBlocks() {
    std::ifstream stat("/proc/thread-self/net/xfrm_stat");
    std::string name;
    long value;
    while (stat >> name >> value) {
      if (name == "XfrmOutPolBlock") return value;
    }
    return -1;
  }
  static std::string HostVeth(const Json& result) {
    for (const Json& i : result["interfaces"]) {
      if (!i.contains("sandbox")) return i["name"];
    }
    return "";
  }

  std::unique_ptr<linux_backend::testing::PrivateBpfFilesystem> bpffs_;
  std::unique_ptr<linux_backend::BpfMarkerLoader> loader_;
  std::unique_ptr<sim::kube::ApiServer> server_;
  std::string dir_, pin_dir_, kubeconfig_;
  std::vector<std::string> netns_;
};

TEST_F(KmeshCniNetnsTest, ManagedPodIsMarkedBeforeItRunsAndUnmarkedOnDel) {
  const std::string netns = NewPodNetns("web");
  const Json ptp = PtpAdd(netns, "apps", "web");
  const std::string veth = HostVeth(ptp);
  ASSERT_FALSE(veth.empty()) << ptp.dump();

  PluginRun add = Run(KmeshCni(), "ADD", netns, "apps", "web", KmeshConf(ptp));
  ASSERT_EQ(add.exit_code, 0) << add.out;
  // The chain's result: ptp's, passed on.
  Json result = Json::parse(add.out);
  EXPECT_EQ(result["interfaces"], ptp["interfaces"]);
  EXPECT_EQ(result["ips"], ptp["ips"]);
  // The daemon's own program (same maps) runs on the pod's host veth.
  absl::StatusOr<bool> attached =
      loader_->IsAttached(linux_backend::MarkerProgram::kEncrypt, veth);
  ASSERT_TRUE(attached.ok()) << attached.status();
  EXPECT_TRUE(*attached);

  PluginRun check =
      Run(KmeshCni(), "CHECK", netns, "apps", "web", KmeshConf(ptp));
  EXPECT_EQ(check.exit_code, 0) << check.out;

  PluginRun del = Run(KmeshCni(), "DEL", netns, "apps", "web", KmeshConf(ptp));
  EXPECT_EQ(del.exit_code, 0) << del.out;
  EXPECT_FALSE(
      *loader_->IsAttached(linux_backend::MarkerProgram::kEncrypt, veth));
  // DEL again: still success.
  del = Run(KmeshCni(), "DEL", netns, "apps", "web", KmeshConf(ptp));
  EXPECT_EQ(del.exit_code, 0) << del.out;
  // CHECK now finds the marker missing.
  check = Run(KmeshCni(), "CHECK", netns, "apps", "web", KmeshConf(ptp));
  EXPECT_NE(check.exit_code, 0);
  EXPECT_EQ(Json::parse(check.out)["code"], 101) << check.out;

  PluginRun ptp_del = Run(absl::StrCat(kCniBin, "/ptp"), "DEL", netns, "apps",
                          "web", PtpConf());
  EXPECT_EQ(ptp_del.exit_code, 0) << ptp_del.out;
  // The veth is gone; DEL of kmesh-cni still succeeds.
  del = Run(KmeshCni(), "DEL", netns, "apps", "web", KmeshConf(ptp));
  EXPECT_EQ(del.exit_code, 0) << del.out;
}

TEST_F(KmeshCniNetnsTest, UnmanagedPodIsNotMarked) {
  const std::string netns = NewPodNetns("db");
  const Json ptp = PtpAdd(netns, "plain", "db");
  PluginRun add = Run(KmeshCni(), "ADD", netns, "plain", "db", KmeshConf(ptp));
  ASSERT_EQ(add.exit_code, 0) << add.out;
  EXPECT_FALSE(*loader_->IsAttached(linux_backend::MarkerProgram::kEncrypt,
                                    HostVeth(ptp)));
}

TEST_F(KmeshCniNetnsTest, ManagedPodFailsClosedWithoutThePinnedMarker) {
  const std::string netns = NewPodNetns("late");
  const Json ptp = PtpAdd(netns, "apps", "late");
  // As on a node whose daemon has not started yet: nothing pinned there.
  PluginRun add = Run(KmeshCni(), "ADD", netns, "apps", "late",
                      KmeshConf(ptp, bpffs_->path() + "/not-pinned"));
  EXPECT_NE(add.exit_code, 0);
  Json error = Json::parse(add.out);
  EXPECT_EQ(error["code"], 100) << add.out;
  EXPECT_THAT(error["msg"].get<std::string>(), HasSubstr("not pinned"));
  EXPECT_FALSE(*loader_->IsAttached(linux_backend::MarkerProgram::kEncrypt,
                                    HostVeth(ptp)));
}

// The point of it all, on a real kernel: the pod's very first packet to an
// encrypt target is marked. The host forwards towards a network nobody
// answers on (a veth whose peer has no address), and an XFRM block policy
// for the encrypt mark counts what is marked.
TEST_F(KmeshCniNetnsTest, FirstPacketOfAManagedPodIsMarked) {
  for (const char* command :
       {"ip link add kmout0 type veth peer name kmout1",
        "ip link set kmout0 up", "ip link set kmout1 up",
        "ip addr add 10.253.0.1/24 dev kmout0",
        "ip xfrm policy add src 0.0.0.0/0 dst 0.0.0.0/0 dir out mark 0xe0 "
        "mask 0xffffffff action block"}) {
    ASSERT_TRUE(CommandSucceeds(command)) << command;
  }
  ASSERT_TRUE(loader_->maps()
                  .UpsertEncryptCidr(*IpPrefix::Parse("10.253.0.0/24"))
                  .ok());
  const std::string netns = NewPodNetns("first");
  const Json ptp = PtpAdd(netns, "apps", "web");
  const auto ping = [&] {
    CommandSucceeds("ip netns exec " + netns + " ping -n -c 1 -W 1 10.253.0.2");
  };
  const long before = OutPolicyBlocks();
  ASSERT_GE(before, 0);
  ping();  // No marker yet: forwarded unmarked (and never answered).
  EXPECT_EQ(OutPolicyBlocks(), before);

  PluginRun add = Run(KmeshCni(), "ADD", netns, "apps", "web", KmeshConf(ptp));
  ASSERT_EQ(add.exit_code, 0) << add.out;
  ping();  // The first packet after ADD is marked.
  EXPECT_EQ(OutPolicyBlocks(), before + 1);

  CommandSucceeds("ip xfrm policy flush");
  CommandSucceeds("ip link del kmout0");
}

// kindnet's conflist says 0.3.1; ptp answers in the configuration's version
// and kmesh-cni passes that result on in the same version.
TEST_F(KmeshCniNetnsTest, OlderCniVersionsChainToo) {
  for (const char* version_name : {"0.3.1", "0.4.0"}) {
    const std::string version = version_name;
    SCOPED_TRACE(version);
    const std::string netns = NewPodNetns("v" + version.substr(2, 1));
    const Json ptp = PtpAdd(netns, "apps", "web", version);
    ASSERT_EQ(ptp.value("cniVersion", ""), version) << ptp.dump();
    PluginRun add = Run(KmeshCni(), "ADD", netns, "apps", "web",
                        KmeshConf(ptp, "", version));
    ASSERT_EQ(add.exit_code, 0) << add.out;
    EXPECT_EQ(Json::parse(add.out)["cniVersion"], version);
    EXPECT_TRUE(*loader_->IsAttached(linux_backend::MarkerProgram::kEncrypt,
                                     HostVeth(ptp)));
  }
}

TEST_F(KmeshCniNetnsTest, VersionAnswersAsTheSpecSays) {
  PluginRun version =
      Run(KmeshCni(), "VERSION", "none", "", "", Json{{"cniVersion", "1.0.0"}});
  ASSERT_EQ(version.exit_code, 0) << version.out;
  EXPECT_EQ(Json::parse(version.out)["supportedVersions"],
            Json({"0.3.0", "0.3.1", "0.4.0", "1.0.0"}));
}

}  // namespace
}  // namespace kmesh::cni
