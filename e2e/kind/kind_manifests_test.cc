// The kind manifests, checked as far as a machine without a container engine
// allows: the real kubectl applies the KmeshNodeInfo CRD the daemon ships
// and every manifest in e2e/kind/manifests/ to the simulated API server,
// which validates them as Kubernetes does; the objects are read back and
// checked for what the daemon needs (the start command and flags, the key
// file where the daemon reads it, host network, privileges, the node name).
// Then the daemon itself (kmesh-daemon-sim, the production code path on a
// simulated kernel) is started the way the DaemonSet's container would start
// it — its command, working directory, NODE_NAME and the Secret volume at its
// mount path, written as kubelet writes it — and every API request it makes
// is compared with what the RBAC manifests grant its ServiceAccount: nothing
// it does is denied, nothing granted goes unused. Negative cases: what the
// real API server rejects, with the message kubectl prints for it. Skipped
// when kubectl is not installed. kind itself, the image and a real kubelet
// are not exercised here (docs/kind.md).
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "gtest/gtest.h"
#include "kmesh/api/ipsec_key_codec.h"
#include "kmesh/base/poll_until.h"
#include "kmesh/crypto/secret_bytes.h"
#include "kmesh/daemon/daemon_flags.h"
#include "kmesh/telemetry/testing/http_test_client.h"
#include "nlohmann/json.hpp"
#include "sim/cluster/projected_volume_writer.h"
#include "sim/kube/api_server.h"
#include "sim/kube/request_handler.h"
#include "sim/kube/testing/kubectl_runner.h"

namespace kmesh::e2e {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using sim::kube::KubectlResult;
using sim::kube::KubectlRunner;

constexpr char kCrd[] = "kmesh/daemon/crd/kmeshnodeinfo_crd.yaml";
constexpr char kManifests[] = "e2e/kind/manifests/";
constexpr char kDaemonSetManifest[] = "e2e/kind/manifests/20-daemonset.yaml";
constexpr char kRbacManifest[] = "e2e/kind/manifests/10-rbac.yaml";
constexpr char kUninstallManifest[] = "e2e/kind/uninstall/kmesh-uninstall.yaml";
constexpr char kRunScript[] = "e2e/kind/run.sh";
constexpr char kDockerfile[] = "e2e/kind/Dockerfile";
constexpr char kStartKmesh[] = "kmesh/daemon/start_kmesh.sh";
constexpr char kDaemonSim[] = "sim/daemon/kmesh-daemon-sim";
constexpr char kNamespace[] = "kmesh-system";
constexpr char kBootId[] = "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0";

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// How long a daemon may take to react to the API server or its key file.
constexpr std::chrono::seconds kReactionLimit(30);

// The element of `list` whose `key` is `value`, or null.
const json* Find(const json& list, const std::string& key,
                 const std::string& value) {
  if (!list.is_array()) return nullptr;
  for (const json& item : list) {
    if (item.is_object() && item.value(key, "") == value) return &item;
  }
  return nullptr;
}

std::set<std::string> Strings(const json& list) {
  std::set<std::string> out;
  if (list.is_array()) {
    for (const json& item : list) out.insert(item.get<std::string>());
  }
  return out;
}

// One permission: verb on group/resource, in `ns` ("" = cluster-wide).
using Permission =
    std::tuple<std::string, std::string, std::string, std::string>;

std::string Describe(const Permission& p) {
  return absl::StrCat(std::get<0>(p), " ",
                      std::get<1>(p).empty() ? "core" : std::get<1>(p), "/",
                      std::get<2>(p), " in ",
                      std::get<3>(p).empty() ? "(cluster)" : std::get<3>(p));
}

class KindManifestsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!KubectlRunner::Available()) {
      GTEST_SKIP() << KubectlRunner::UnavailableReason();
    }
    dir_ = KubectlRunner::NewWorkDir("kind_manifests");
    ASSERT_FALSE(dir_.empty());
    auto server = sim::kube::ApiServer::Start({});
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    kubeconfig_ = (dir_ / "kubeconfig").string();
    ASSERT_TRUE(server_->WriteKubeconfig(kubeconfig_).ok());
    kubectl_ = std::make_unique<KubectlRunner>(kubeconfig_, dir_.string());
  }

  void TearDown() override {
    if (daemon_pid_ > 0) {
      kill(daemon_pid_, SIGKILL);
      waitpid(daemon_pid_, nullptr, 0);
    }
  }

  std::string KubectlOk(const std::vector<std::string>& args) {
    KubectlResult result = kubectl_->Run(args);
    EXPECT_EQ(result.exit_code, 0)
        << "kubectl " << absl::StrJoin(args, " ") << "\nstdout: " << result.out
        << "\nstderr: " << result.err;
    return result.out;
  }

  // What run.sh applies before the daemon runs: the CRD, then the directory.
  void ApplyDeployment() {
    KubectlOk({"apply", "-f", kCrd});
    KubectlOk({"apply", "-f", kManifests});
  }

  // An object read back with kubectl, as a user would see it.
  json Get(const std::string& resource, const std::string& name,
           const std::string& ns = "") {
    std::vector<std::string> args = {"get", resource, name, "-o", "json"};
    if (!ns.empty()) args.insert(args.end(), {"-n", ns});
    json object = json::parse(KubectlOk(args), nullptr, false);
    EXPECT_FALSE(object.is_discarded()) << resource << " " << name;
    return object;
  }

  json DaemonContainer(const json& ds) {
    const json& containers = ds["spec"]["template"]["spec"]["containers"];
    EXPECT_EQ(containers.size(), 1u);
    return containers.empty() ? json::object() : containers[0];
  }

  // A copy of a manifest with `edit` applied to its text, for negative cases.
  std::string EditedManifest(const std::string& source, const std::string& from,
                             const std::string& to) {
    std::string text = ReadFile(source);
    size_t at = text.find(from);
    EXPECT_NE(at, std::string::npos) << from << " not in " << source;
    if (at != std::string::npos) text.replace(at, from.size(), to);
    std::string path = (dir_ / fs::path(source).filename()).string();
    std::ofstream(path) << text;
    return path;
  }

  fs::path dir_;
  std::string kubeconfig_;
  std::unique_ptr<sim::kube::ApiServer> server_;
  std::unique_ptr<KubectlRunner> kubectl_;
  pid_t daemon_pid_ = -1;
};

TEST_F(KindManifestsTest, EveryManifestAppliesAndReappliesUnchanged) {
  ApplyDeployment();
  for (const auto& [resource, name, ns] :
       std::vector<std::tuple<std::string, std::string, std::string>>{
           {"customresourcedefinition", "kmeshnodeinfos.kmesh.net", ""},
           {"namespace", kNamespace, ""},
           {"serviceaccount", "kmesh", kNamespace},
           {"clusterrole", "kmesh-ipsec", ""},
           {"clusterrolebinding", "kmesh-ipsec", ""},
           {"role", "kmesh-ipsec", kNamespace},
           {"rolebinding", "kmesh-ipsec", kNamespace},
           {"daemonset", "kmesh", kNamespace}}) {
    EXPECT_EQ(Get(resource, name, ns)["metadata"]["name"], name) << resource;
  }
  // Applying the same files again changes nothing.
  std::string again = KubectlOk({"apply", "-f", kManifests});
  for (absl::string_view line :
       absl::StrSplit(again, '\n', absl::SkipEmpty())) {
    EXPECT_TRUE(absl::EndsWith(line, " unchanged")) << line;
  }
  // The workload run.sh deploys afterwards is valid too.
  KubectlOk({"apply", "-f", "e2e/kind/workload.yaml"});
}

TEST_F(KindManifestsTest, RunShAppliesTheDaemonsCrdAndTheManifestDirectory) {
  std::vector<std::string> applied;
  for (absl::string_view line :
       absl::StrSplit(ReadFile(kRunScript), '\n', absl::SkipEmpty())) {
    if (absl::StartsWith(line, "kubectl apply -f ")) {
      applied.emplace_back(line.substr(strlen("kubectl apply -f ")));
    }
  }
  ASSERT_GE(applied.size(), 2u);
  // The CRD comes from kmesh/daemon/crd (one source), before the DaemonSet.
  EXPECT_EQ(applied[0], absl::StrCat("\"$repo/", kCrd, "\""));
  EXPECT_EQ(applied[1], "manifests/");
}

TEST_F(KindManifestsTest, DaemonSetRunsStartKmeshWithExactlyTheIpsecFlags) {
  ApplyDeployment();
  json ds = Get("daemonset", "kmesh", kNamespace);
  json container = DaemonContainer(ds);
  // Exactly the walk-through's command line, with no shell in between: the
  // daemon (exec'd by start_kmesh.sh) is then the process kubelet signals.
  std::vector<std::string> command = container["command"];
  std::vector<std::string> args = container["args"];
  EXPECT_EQ(command, (std::vector<std::string>{"./start_kmesh.sh"}));
  EXPECT_EQ(args,
            (std::vector<std::string>{
                "--mode=dual-engine", "--enable-bypass=false",
                "--enable-ipsec=true", "--status-address=[$(HOST_IP)]:15200"}));
  // kubelet expands $(HOST_IP) from the downward API; the port is declared
  // (named "status", what kmeshctl's pod proxy and the readiness probe use)
  // and Prometheus is told where to scrape.
  const json* host_ip = Find(container["env"], "name", "HOST_IP");
  ASSERT_NE(host_ip, nullptr);
  EXPECT_EQ((*host_ip)["valueFrom"]["fieldRef"]["fieldPath"], "status.hostIP");
  const json* port = Find(container["ports"], "name", "status");
  ASSERT_NE(port, nullptr);
  EXPECT_EQ((*port)["containerPort"], 15200);
  EXPECT_EQ((*port)["hostPort"], 15200);
  EXPECT_EQ(container["readinessProbe"]["httpGet"]["path"], "/readyz");
  const json& annotations = ds["spec"]["template"]["metadata"]["annotations"];
  EXPECT_EQ(annotations["prometheus.io/scrape"], "true");
  EXPECT_EQ(annotations["prometheus.io/port"], "15200");
  EXPECT_EQ(annotations["prometheus.io/path"], "/metrics");
  EXPECT_NE(ReadFile(kStartKmesh).find("\nexec \"$daemon\" \"$@\""),
            std::string::npos);

  // ./start_kmesh.sh and the daemon are in the image's working directory,
  // and so are the eBPF objects the daemon loads (--bpf-object-dir).
  const std::string workdir = container["workingDir"];
  const std::string dockerfile = ReadFile(kDockerfile);
  EXPECT_NE(dockerfile.find("\nWORKDIR " + workdir + "\n"), std::string::npos);
  // `docker run` without arguments starts the same way.
  EXPECT_NE(
      dockerfile.find("\nENTRYPOINT [\"./start_kmesh.sh\"]\nCMD "
                      "[\"--mode=dual-engine\", \"--enable-bypass=false\", "
                      "\"--enable-ipsec=true\"]\n"),
      std::string::npos)
      << dockerfile;
  std::set<std::string> copied_to_workdir;
  bool bpf_copied = false;
  for (absl::string_view line :
       absl::StrSplit(dockerfile, '\n', absl::SkipEmpty())) {
    if (!absl::StartsWith(line, "COPY ")) continue;
    std::vector<std::string> words =
        absl::StrSplit(line.substr(5), ' ', absl::SkipWhitespace());
    if (words.back() == workdir + "/") {
      copied_to_workdir.insert(words.begin(), words.end() - 1);
    }
    if (words.back() == absl::StrCat(workdir, "/",
                                     daemon::DaemonConfig().bpf_object_dir,
                                     "/")) {
      bpf_copied = true;
    }
  }
  EXPECT_TRUE(copied_to_workdir.count("start_kmesh.sh")) << dockerfile;
  EXPECT_TRUE(copied_to_workdir.count("kmesh-daemon")) << dockerfile;
  EXPECT_TRUE(bpf_copied) << dockerfile;
}

TEST_F(KindManifestsTest, SecretIsMountedWhereTheDaemonReadsItsKey) {
  ApplyDeployment();
  json ds = Get("daemonset", "kmesh", kNamespace);
  json container = DaemonContainer(ds);
  const json& volumes = ds["spec"]["template"]["spec"]["volumes"];
  const json* key_volume = nullptr;
  for (const json& volume : volumes) {
    // (The init container mounts kmesh-cni's token Secret.)
    if (volume.contains("secret") &&
        Find(container["volumeMounts"], "name", volume.value("name", "")) !=
            nullptr) {
      key_volume = &volume;
    }
  }
  ASSERT_NE(key_volume, nullptr) << volumes;
  const json& secret = (*key_volume)["secret"];
  EXPECT_EQ(secret["secretName"], "kmesh-ipsec");
  // Optional: the daemon starts before `kmeshctl secret create`.
  EXPECT_EQ(secret.value("optional", false), true);
  // Every key of the Secret lands under its own name (ipSec).
  EXPECT_FALSE(secret.contains("items")) << secret;
  // The key file is the daemon's (root's) alone: 0400, not the API server's
  // default 0644.
  EXPECT_EQ(secret.value("defaultMode", -1), 0400) << secret;
  const json* mount = Find(container["volumeMounts"], "name",
                           (*key_volume)["name"].get<std::string>());
  ASSERT_NE(mount, nullptr);
  // A subPath mount would never see a rotated key (kubelet does not update
  // subPath mounts).
  EXPECT_FALSE(mount->contains("subPath"));
  EXPECT_EQ(mount->value("readOnly", false), true);
  const std::string key_file_in_pod =
      absl::StrCat((*mount)["mountPath"].get<std::string>(), "/ipSec");
  const std::string key_file_daemon_reads =
      absl::StrCat(container["workingDir"].get<std::string>(), "/",
                   daemon::DaemonConfig().ipsec_key_file);
  EXPECT_EQ(key_file_in_pod, key_file_daemon_reads);
}

TEST_F(KindManifestsTest, DaemonRunsOnTheHostNetworkPrivilegedWithItsNodeName) {
  ApplyDeployment();
  json ds = Get("daemonset", "kmesh", kNamespace);
  const json& pod = ds["spec"]["template"]["spec"];
  json container = DaemonContainer(ds);
  // XFRM state and tc programs of the node itself.
  EXPECT_EQ(pod.value("hostNetwork", false), true);
  // CAP_NET_ADMIN for XFRM and tc, CAP_BPF/CAP_SYS_ADMIN for eBPF.
  EXPECT_EQ(container["securityContext"].value("privileged", false), true);
  // Every node, control plane included.
  EXPECT_NE(Find(pod["tolerations"], "operator", "Exists"), nullptr);
  const json* node_name = Find(container["env"], "name", "NODE_NAME");
  ASSERT_NE(node_name, nullptr);
  EXPECT_EQ((*node_name)["valueFrom"]["fieldRef"]["fieldPath"],
            "spec.nodeName");
  // The pinned maps survive a restart: bpffs from the host covers the pin
  // directory, and a bpffs the daemon mounts there itself (a host without
  // one) propagates back to the host.
  const std::string pin_dir = daemon::DaemonConfig().bpf_pin_dir;
  bool pins_on_host = false;
  for (const json& mount : container["volumeMounts"]) {
    const json* volume = Find(pod["volumes"], "name", mount["name"]);
    if (volume == nullptr || !volume->contains("hostPath")) continue;
    const std::string path = mount["mountPath"];
    if (absl::StartsWith(pin_dir, path + "/") &&
        (*volume)["hostPath"]["path"] == path &&
        mount.value("mountPropagation", "") == "Bidirectional") {
      pins_on_host = true;
    }
  }
  EXPECT_TRUE(pins_on_host) << pin_dir;
  EXPECT_EQ(pod["serviceAccountName"], "kmesh");
  EXPECT_EQ(pod["restartPolicy"], "Always");
}

TEST_F(KindManifestsTest, BindingsGrantTheDaemonSetsServiceAccount) {
  ApplyDeployment();
  json ds = Get("daemonset", "kmesh", kNamespace);
  const std::string account =
      ds["spec"]["template"]["spec"]["serviceAccountName"];
  EXPECT_EQ(Get("serviceaccount", account, kNamespace)["metadata"]["name"],
            account);
  json cluster_binding = Get("clusterrolebinding", "kmesh-ipsec");
  json binding = Get("rolebinding", "kmesh-ipsec", kNamespace);
  for (const json* b : {&cluster_binding, &binding}) {
    ASSERT_EQ((*b)["subjects"].size(), 1u);
    EXPECT_EQ((*b)["subjects"][0]["kind"], "ServiceAccount");
    EXPECT_EQ((*b)["subjects"][0]["name"], account);
    EXPECT_EQ((*b)["subjects"][0]["namespace"], kNamespace);
  }
  EXPECT_EQ(cluster_binding["roleRef"]["kind"], "ClusterRole");
  EXPECT_EQ(binding["roleRef"]["kind"], "Role");
}

// The daemon, started as the DaemonSet starts it, against the API server
// holding the applied manifests: every request it makes is one the RBAC
// manifests allow its ServiceAccount, and every permission they grant is one
// it used. It runs keyless, gets the key (spi 1) when the Secret appears in
// its volume, follows a rotation (spi 2), keeps its record on SIGTERM, and
// the uninstall DaemonSet's `kmesh-daemon uninstall` deletes it.
TEST_F(KindManifestsTest, RbacGrantsExactlyWhatTheDaemonUses) {
  ApplyDeployment();
  sim::kube::ObjectStore& store = server_->store();
  auto type = [&](const std::string& group, const std::string& plural) {
    return *store.FindType(group, group == "kmesh.net" ? "v1alpha1" : "v1",
                           plural);
  };
  const std::string node = "kind-worker";
  json node_object = {
      {"metadata", {{"name", node}}},
      {"spec", {{"podCIDRs", {"10.244.1.0/24"}}}},
      {"status",
       {{"addresses", {{{"type", "InternalIP"}, {"address", "172.18.0.3"}}}},
        {"nodeInfo", {{"bootID", kBootId}}}}}};
  ASSERT_TRUE(store.Create(type("", "nodes"), "", node_object).ok());

  // The pod's file system: its working directory with start_kmesh.sh (as the
  // image has it) and the Secret volume at its mount path.
  json ds = Get("daemonset", "kmesh", kNamespace);
  json container = DaemonContainer(ds);
  const fs::path root = dir_ / "pod";
  const fs::path workdir =
      root /
      fs::path(container["workingDir"].get<std::string>()).relative_path();
  fs::create_directories(workdir);
  fs::copy_file(kStartKmesh, workdir / "start_kmesh.sh");
  fs::permissions(workdir / "start_kmesh.sh", fs::perms::owner_all);
  const json* key_volume = nullptr;
  for (const json& volume : ds["spec"]["template"]["spec"]["volumes"]) {
    if (volume.contains("secret") &&
        Find(container["volumeMounts"], "name", volume.value("name", "")) !=
            nullptr) {
      key_volume = &volume;
    }
  }
  ASSERT_NE(key_volume, nullptr);
  const std::string secret_name = (*key_volume)["secret"]["secretName"];
  const json* mount = Find(container["volumeMounts"], "name",
                           (*key_volume)["name"].get<std::string>());
  ASSERT_NE(mount, nullptr);
  // kubelet gives the files the volume's defaultMode.
  sim::ProjectedVolumeWriter::Options volume_options;
  volume_options.file_mode = (*key_volume)["secret"].value("defaultMode", 0644);
  sim::ProjectedVolumeWriter volume(
      (root /
       fs::path((*mount)["mountPath"].get<std::string>()).relative_path())
          .string(),
      volume_options);
  // kubelet: an optional Secret that does not exist yet is an empty volume.
  ASSERT_TRUE(volume.Write({}).ok());

  // The operator's `kmeshctl secret create` and kubelet's projection of it,
  // done in-process, so that every HTTP request from here on is the daemon's.
  auto put_key = [&](int spi, uint8_t fill) {
    crypto::SecretBytes key(api::kIpsecAeadKeySize);
    for (size_t i = 0; i < key.size(); ++i) key.mutable_data()[i] = fill;
    auto config = api::MakeIpsecKeyConfig(spi, std::move(key));
    ASSERT_TRUE(config.ok()) << config.status();
    auto text = api::SerializeIpsecKeyJson(*config);
    ASSERT_TRUE(text.ok()) << text.status();
    json secret = {{"metadata", {{"name", secret_name}}},
                   {"data", {{"ipSec", absl::Base64Escape(*text)}}}};
    auto existing = store.Get(type("", "secrets"), kNamespace, secret_name);
    auto written =
        existing.ok()
            ? store.Update(type("", "secrets"), kNamespace, secret_name, secret)
            : store.Create(type("", "secrets"), kNamespace, secret);
    ASSERT_TRUE(written.ok()) << written.status();
    sim::VolumePayload payload;
    payload["ipSec"] = crypto::SecretBytes::CopyFrom(*text);
    ASSERT_TRUE(volume.Write(payload).ok());
  };
  auto published_spi = [&]() -> int {
    auto record =
        store.Get(type("kmesh.net", "kmeshnodeinfos"), kNamespace, node);
    return record.ok() ? (*record)["spec"].value("spi", 0) : -1;
  };

  // Start it: the container's command and args in its working directory,
  // NODE_NAME from the downward API (spec.nodeName is the node it runs on).
  // The API server is reached through KUBECONFIG instead of the pod's
  // service-account credentials.
  const std::string log = (dir_ / "daemon.log").string();
  const std::string daemon_binary = fs::absolute(kDaemonSim).string();
  // kubelet's $(VAR) expansion of args from the container's env: the node's
  // address (status.hostIP) is loopback here.
  std::vector<std::string> argv = container["command"];
  for (const json& arg : container["args"]) {
    argv.push_back(absl::StrReplaceAll(arg.get<std::string>(),
                                       {{"$(HOST_IP)", "127.0.0.1"}}));
  }
  const json* node_env = Find(container["env"], "name", "NODE_NAME");
  ASSERT_NE(node_env, nullptr);
  ASSERT_EQ((*node_env)["valueFrom"]["fieldRef"]["fieldPath"], "spec.nodeName");
  std::vector<std::string> env = {
      "NODE_NAME=" + node, "KUBECONFIG=" + kubeconfig_,
      "KMESH_DAEMON=" + daemon_binary, "PATH=/usr/bin:/bin"};
  // The uninstall DaemonSet (applied now: every request logged from here
  // on is the daemon's or the uninstall's); same ServiceAccount.
  KubectlOk({"apply", "-f", kUninstallManifest});
  json uninstall_ds = Get("daemonset", "kmesh-uninstall", kNamespace);
  EXPECT_EQ(uninstall_ds["spec"]["template"]["spec"]["serviceAccountName"],
            ds["spec"]["template"]["spec"]["serviceAccountName"]);
  const json& inits =
      uninstall_ds["spec"]["template"]["spec"]["initContainers"];
  // kmesh-cni leaves the CNI chain first, then the daemon's uninstall.
  ASSERT_EQ(inits.size(), 2u);
  EXPECT_EQ(inits[0]["name"], "uninstall-cni");
  EXPECT_EQ(inits[0]["command"],
            json({"/kmesh/install_cni.sh", "--uninstall"}));
  const json& uninstaller = inits[1];
  EXPECT_EQ(uninstaller["name"], "uninstall");
  std::vector<std::string> uninstall_argv = uninstaller["command"];
  for (const json& arg : uninstaller["args"]) uninstall_argv.push_back(arg);
  const json* uninstall_node_env =
      Find(uninstaller["env"], "name", "NODE_NAME");
  ASSERT_NE(uninstall_node_env, nullptr);
  EXPECT_EQ((*uninstall_node_env)["valueFrom"]["fieldRef"]["fieldPath"],
            "spec.nodeName");
  server_->ClearRequestLog();
  daemon_pid_ = fork();
  ASSERT_GE(daemon_pid_, 0);
  if (daemon_pid_ == 0) {
    if (chdir(workdir.c_str()) != 0) _exit(126);
    std::vector<char*> c_argv, c_env;
    for (std::string& a : argv) c_argv.push_back(a.data());
    c_argv.push_back(nullptr);
    for (std::string& e : env) c_env.push_back(e.data());
    c_env.push_back(nullptr);
    if (freopen(log.c_str(), "w", stderr) == nullptr) _exit(126);
    execve(c_argv[0], c_argv.data(), c_env.data());
    _exit(127);
  }
  auto daemon_log = [&] { return ReadFile(log); };
  ASSERT_TRUE(PollUntil(
      [&] { return daemon_log().find("IPsec running") != std::string::npos; },
      kReactionLimit))
      << daemon_log();
  EXPECT_EQ(published_spi(), -1) << "keyless: nothing to advertise";
  put_key(1, 0x11);
  ASSERT_TRUE(PollUntil([&] { return published_spi() == 1; }, kReactionLimit))
      << daemon_log();
  put_key(2, 0x22);
  ASSERT_TRUE(PollUntil([&] { return published_spi() == 2; }, kReactionLimit))
      << daemon_log();
  // The declared port serves what the readiness probe, Prometheus (the
  // annotations) and kmeshctl's pod proxy ask for.
  {
    telemetry::testing::HttpTestClient probe("127.0.0.1", 15200);
    ASSERT_TRUE(probe.status().ok()) << probe.status() << daemon_log();
    auto health = probe.Request("GET", "/healthz");
    ASSERT_TRUE(health.has_value());
    EXPECT_EQ(health->result_int(), 200);
    auto ready = probe.Request("GET", "/readyz");
    ASSERT_TRUE(ready.has_value());
    EXPECT_EQ(ready->result_int(), 200) << ready->body();
    auto metrics = probe.Request("GET", "/metrics");
    ASSERT_TRUE(metrics.has_value());
    EXPECT_NE(metrics->body().find("\nkmesh_ipsec_advertised_spi 2\n"),
              std::string::npos)
        << metrics->body();
    auto node_status = probe.Request("GET", "/v1/ipsec/status");
    ASSERT_TRUE(node_status.has_value());
    EXPECT_EQ(json::parse(node_status->body(), nullptr, false)["advertisedSpi"],
              2);
  }
  ASSERT_EQ(kill(daemon_pid_, SIGTERM), 0);
  int status = 0;
  ASSERT_EQ(waitpid(daemon_pid_, &status, 0), daemon_pid_);
  daemon_pid_ = -1;
  ASSERT_TRUE(WIFEXITED(status)) << daemon_log();
  EXPECT_EQ(WEXITSTATUS(status), 0) << daemon_log();
  EXPECT_EQ(published_spi(), 2) << "SIGTERM keeps the record (hitless restart)";

  // Removal is explicit: the uninstall DaemonSet's init container (read
  // above), started as kubelet starts it, deletes the node's record.
  for (int run = 0; run < 2; ++run) {  // kubelet may run it again
    daemon_pid_ = fork();
    ASSERT_GE(daemon_pid_, 0);
    if (daemon_pid_ == 0) {
      if (chdir(workdir.c_str()) != 0) _exit(126);
      std::vector<char*> c_argv, c_env;
      for (std::string& a : uninstall_argv) c_argv.push_back(a.data());
      c_argv.push_back(nullptr);
      for (std::string& e : env) c_env.push_back(e.data());
      c_env.push_back(nullptr);
      if (freopen(log.c_str(), "w", stderr) == nullptr) _exit(126);
      execve(c_argv[0], c_argv.data(), c_env.data());
      _exit(127);
    }
    ASSERT_EQ(waitpid(daemon_pid_, &status, 0), daemon_pid_);
    daemon_pid_ = -1;
    ASSERT_TRUE(WIFEXITED(status)) << daemon_log();
    EXPECT_EQ(WEXITSTATUS(status), 0) << daemon_log();
    EXPECT_EQ(published_spi(), -1) << "uninstall deletes the record";
  }

  // What it did, as an authorizer sees each request.
  sim::kube::RequestHandler resolver(&store, std::chrono::seconds(1),
                                     "127.0.0.1:0");
  std::set<Permission> used;
  for (const auto& request : server_->RequestLog()) {
    sim::kube::ApiTarget target =
        resolver.Resolve({request.method, request.path, request.query});
    ASSERT_TRUE(target.is_resource && target.type != nullptr)
        << request.method << " " << request.path;
    used.insert({target.verb, target.type->group, target.type->plural,
                 target.type->namespaced ? target.ns : ""});
  }

  // What the manifests grant its ServiceAccount: a ClusterRoleBinding's
  // rules hold everywhere, a RoleBinding's in its namespace.
  const std::string account =
      ds["spec"]["template"]["spec"]["serviceAccountName"];
  std::set<Permission> granted;
  auto grant = [&](const json& role, const std::string& ns) {
    for (const json& rule : role["rules"]) {
      EXPECT_FALSE(rule.contains("resourceNames")) << rule;
      for (const std::string& group : Strings(rule["apiGroups"])) {
        for (const std::string& resource : Strings(rule["resources"])) {
          for (const std::string& verb : Strings(rule["verbs"])) {
            EXPECT_NE(group, "*");
            EXPECT_NE(resource, "*");
            EXPECT_NE(verb, "*");
            granted.insert({verb, group, resource, ns});
          }
        }
      }
    }
  };
  auto binds_account = [&](const json& binding) {
    for (const json& subject : binding["subjects"]) {
      if (subject["kind"] == "ServiceAccount" && subject["name"] == account &&
          subject["namespace"] == kNamespace) {
        return true;
      }
    }
    return false;
  };
  auto bindings = store.List(
      type("rbac.authorization.k8s.io", "clusterrolebindings"), "", {});
  ASSERT_TRUE(bindings.ok());
  for (const json& binding : bindings->items) {
    if (!binds_account(binding)) continue;
    auto role = store.Get(type("rbac.authorization.k8s.io", "clusterroles"), "",
                          binding["roleRef"]["name"]);
    ASSERT_TRUE(role.ok()) << role.status();
    grant(*role, "");
  }
  auto role_bindings =
      store.List(type("rbac.authorization.k8s.io", "rolebindings"), "", {});
  ASSERT_TRUE(role_bindings.ok());
  for (const json& binding : role_bindings->items) {
    if (!binds_account(binding)) continue;
    const std::string ns = binding["metadata"]["namespace"];
    const bool cluster_role = binding["roleRef"]["kind"] == "ClusterRole";
    auto role = store.Get(type("rbac.authorization.k8s.io",
                               cluster_role ? "clusterroles" : "roles"),
                          cluster_role ? "" : ns, binding["roleRef"]["name"]);
    ASSERT_TRUE(role.ok()) << role.status();
    grant(*role, ns);
  }

  auto allowed = [&](const Permission& p) {
    const auto& [verb, group, resource, ns] = p;
    return granted.count({verb, group, resource, ""}) > 0 ||
           (!ns.empty() && granted.count(p) > 0);
  };
  for (const Permission& p : used) {
    EXPECT_TRUE(allowed(p)) << "the daemon needs " << Describe(p)
                            << ", which the RBAC manifests do not grant";
  }
  for (const Permission& p : granted) {
    EXPECT_TRUE(used.count(p) > 0)
        << "granted but never used (or broader than used): " << Describe(p);
  }
  for (const Permission& p : granted) {
    EXPECT_NE(std::get<2>(p), "secrets") << "the key comes as a volume";
  }
}

TEST_F(KindManifestsTest, MismatchedSelectorIsRejectedAsKubernetesRejectsIt) {
  KubectlOk({"apply", "-f", "e2e/kind/manifests/00-namespace.yaml"});
  std::string manifest = EditedManifest(
      kDaemonSetManifest,
      "  template:\n    metadata:\n      labels:\n        app: kmesh",
      "  template:\n    metadata:\n      labels:\n        app: other");
  KubectlResult rejected = kubectl_->Run({"apply", "-f", manifest});
  EXPECT_NE(rejected.exit_code, 0);
  // What kubectl prints for the real API server's 422 (built from the
  // Status details' causes).
  EXPECT_EQ(
      rejected.err,
      "The DaemonSet \"kmesh\" is invalid: spec.template.metadata.labels: "
      "Invalid value: map[string]string{\"app\":\"other\"}: `selector` "
      "does not match template `labels`\n");
  EXPECT_FALSE(server_->store()
                   .Get(*server_->store().FindType("apps", "v1", "daemonsets"),
                        kNamespace, "kmesh")
                   .ok());
}

TEST_F(KindManifestsTest, DaemonSetSelectorCannotChangeOnReapply) {
  ApplyDeployment();
  std::string text = ReadFile(kDaemonSetManifest);
  // Both the selector and the template's labels move to app: kmesh-v2.
  std::string changed = text;
  for (size_t at = changed.find("app: kmesh\n"); at != std::string::npos;
       at = changed.find("app: kmesh\n", at + 1)) {
    changed.replace(at, strlen("app: kmesh\n"), "app: kmesh-v2\n");
  }
  std::string manifest = (dir_ / "20-daemonset.yaml").string();
  std::ofstream(manifest) << changed;
  KubectlResult rejected = kubectl_->Run({"apply", "-f", manifest});
  EXPECT_NE(rejected.exit_code, 0);
  EXPECT_EQ(rejected.err,
            "The DaemonSet \"kmesh\" is invalid: spec.selector: Invalid "
            "value: v1.LabelSelector{MatchLabels:map[string]string{\"app\":"
            "\"kmesh-v2\"}, MatchExpressions:[]v1.LabelSelectorRequirement("
            "nil)}: field is immutable\n");
  EXPECT_EQ(Get("daemonset", "kmesh",
                kNamespace)["spec"]["selector"]["matchLabels"]["app"],
            "kmesh");
}

TEST_F(KindManifestsTest, EditedDaemonSetReappliesAsAPatch) {
  ApplyDeployment();
  std::string manifest = EditedManifest(
      kDaemonSetManifest, "image: kmesh-ipsec:dev", "image: kmesh-ipsec:v2");
  EXPECT_NE(KubectlOk({"apply", "-f", manifest}).find("configured"),
            std::string::npos);
  json ds = Get("daemonset", "kmesh", kNamespace);
  json container = DaemonContainer(ds);
  EXPECT_EQ(container["image"], "kmesh-ipsec:v2");
  // kubectl sent only the changed field of the container (matched by name):
  // everything else in it stays.
  EXPECT_EQ(container["command"], json({"./start_kmesh.sh"}));
  EXPECT_EQ(container["args"].size(), 4u);
  EXPECT_EQ(container["ports"].size(), 1u);
  EXPECT_NE(Find(container["env"], "name", "NODE_NAME"), nullptr);
  EXPECT_EQ(container["volumeMounts"].size(), 2u);
  EXPECT_EQ(ds["metadata"]["generation"], 2);
}

TEST_F(KindManifestsTest, ClusterRoleBindingRoleRefCannotChangeOnReapply) {
  ApplyDeployment();
  std::string manifest = EditedManifest(
      kRbacManifest, "  kind: ClusterRole\n  name: kmesh-ipsec\nsubjects",
      "  kind: ClusterRole\n  name: cluster-admin\nsubjects");
  KubectlResult rejected = kubectl_->Run({"apply", "-f", manifest});
  EXPECT_NE(rejected.exit_code, 0);
  EXPECT_NE(rejected.err.find(
                "The ClusterRoleBinding \"kmesh-ipsec\" is invalid: roleRef: "
                "Invalid value: rbac.RoleRef{APIGroup:"
                "\"rbac.authorization.k8s.io\", Kind:\"ClusterRole\", "
                "Name:\"cluster-admin\"}: cannot change roleRef\n"),
            std::string::npos)
      << rejected.err;
}

TEST_F(KindManifestsTest, NamespacedObjectsNeedTheirNamespaceFirst) {
  KubectlResult rejected = kubectl_->Run({"apply", "-f", kDaemonSetManifest});
  EXPECT_NE(rejected.exit_code, 0);
  EXPECT_NE(
      rejected.err.find(absl::StrCat(
          "Error from server (NotFound): error when creating \"",
          kDaemonSetManifest, "\": namespaces \"kmesh-system\" not found")),
      std::string::npos)
      << rejected.err;
}

}  // namespace
}  // namespace kmesh::e2e
