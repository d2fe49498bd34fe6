// The official Kubernetes Python client (Debian's python3-kubernetes)
// against the simulated API server: testing/python_client_check.py, run as
// a subprocess with a kubeconfig for an in-process server on loopback,
// creates pods, lists them with limit=2 following continue tokens, lists by
// the field selector spec.nodeName, and watches with bookmarks and
// timeout_seconds while it changes a pod; then lists and watches Nodes,
// Namespaces, Secrets and KmeshNodeInfo custom objects likewise. The script
// asserts what it sees and prints a summary, checked here again with the
// store's state. Skipped when /usr/bin/python3 cannot import the client.
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "sim/kube/api_server.h"
#include "sim/kube/testing/kubectl_runner.h"

namespace kmesh::sim::kube {
namespace {

using nlohmann::json;

constexpr char kPython[] = "/usr/bin/python3";
constexpr char kScript[] = "sim/kube/testing/python_client_check.py";

struct ProcessResult {
  int exit_code = -1;
  std::string out;
  std::string err;
};

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// Runs `argv` with a minimal environment, its output through files in `dir`.
ProcessResult RunProcess(std::vector<std::string> argv,
                         const std::string& dir) {
  const std::string out_path = dir + "/stdout";
  const std::string err_path = dir + "/stderr";
  std::vector<char*> c_argv;
  for (std::string& arg : argv) c_argv.push_back(arg.data());
  c_argv.push_back(nullptr);
  std::string home = "HOME=" + dir;
  std::string path = "PATH=/usr/bin:/bin";
  char* envp[] = {home.data(), path.data(), nullptr};
  ProcessResult result;
  pid_t pid = fork();
  if (pid < 0) return result;
  if (pid == 0) {
    int out = open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    int err = open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    dup2(out, 1);
    dup2(err, 2);
    execve(argv[0].c_str(), c_argv.data(), envp);
    _exit(127);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  result.out = ReadFile(out_path);
  result.err = ReadFile(err_path);
  return result;
}

TEST(PythonClientCompatTest, PaginationFieldSelectorAndWatchWithBookmarks) {
  const std::string dir = KubectlRunner::NewWorkDir("python_client");
  ASSERT_FALSE(dir.empty());
  if (RunProcess({kPython, "-c", "import kubernetes"}, dir).exit_code != 0) {
    GTEST_SKIP() << kPython
                 << " cannot import kubernetes (apt-get install "
                    "python3-kubernetes)";
  }
  ApiServer::Options options;
  // The real cacher sends one a minute; the watch here lasts 4 s.
  options.bookmark_interval = std::chrono::milliseconds(500);
  auto server = ApiServer::Start(options);
  ASSERT_TRUE(server.ok()) << server.status();
  const std::string kubeconfig = dir + "/kubeconfig";
  ASSERT_TRUE((*server)->WriteKubeconfig(kubeconfig).ok());

  ProcessResult result = RunProcess({kPython, kScript, kubeconfig}, dir);
  ASSERT_EQ(result.exit_code, 0)
      << "stdout: " << result.out << "\nstderr: " << result.err;
  json summary = json::parse(result.out, nullptr, false);
  ASSERT_TRUE(summary.is_object()) << result.out;
  EXPECT_EQ(summary["page_sizes"], json({2, 2, 2}));
  EXPECT_EQ(summary["paginated_names"].size(), 6u);
  EXPECT_EQ(summary["node_a_pods"], json({"pod-0", "pod-1", "pod-2"}));
  EXPECT_EQ(summary["unsupported_field"]["status"], 400);
  EXPECT_EQ(summary["watch_events"],
            json::parse(R"([["ADDED", "watched"], ["MODIFIED", "watched"],
                            ["DELETED", "watched"]])"));
  EXPECT_GE(summary["bookmarks"].get<int>(), 1);
  // A real bookmark: nothing but kind, apiVersion and the resourceVersion
  // (with Go's zero values of a Pod).
  EXPECT_EQ(summary["bookmark_object"]["metadata"].size(), 2u)
      << summary["bookmark_object"];
  EXPECT_FALSE(summary["bookmark_object"]["metadata"].contains("name"));

  // The product's other objects.
  EXPECT_EQ(summary["unschedulable_nodes"], json::array({"node-c"}));
  EXPECT_EQ(summary["opaque_secrets"], json::array({"opaque"}));
  EXPECT_EQ(summary["kmeshnodeinfos"],
            json::array({"node-a", "node-b", "node-c"}));

  // What the client did is what the store holds.
  ObjectStore& store = (*server)->store();
  const ResourceType& pods = *store.FindType("", "v1", "pods");
  absl::StatusOr<ListResult> left = store.List(pods, "pyclient", {});
  ASSERT_TRUE(left.ok());
  EXPECT_EQ(left->items.size(), 6u);
}

}  // namespace
}  // namespace kmesh::sim::kube
