// EnsureBpfFilesystem on this machine's kernel, each case in a private mount
// namespace (nothing reaches the host's mounts) under the test's own
// directory: it mounts where none was, leaves an existing bpffs alone, and
// refuses with the fix spelled out where it cannot mount. Needs root.
#include "kmesh/linux/bpf_filesystem.h"

#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gtest/gtest.h"
#include "kmesh/linux/testing/private_bpf_filesystem.h"
#include "kmesh/linux/testing/unprivileged_child.h"

namespace kmesh::linux_backend {
namespace {

// How many bpf filesystems are mounted exactly at `path` (this thread's view).
int BpfMountsAt(const std::string& path) {
  std::ifstream in("/proc/thread-self/mountinfo");
  int count = 0;
  for (std::string line; std::getline(in, line);) {
    // "id parent major:minor root mount-point options ... - fstype source ..."
    const std::vector<std::string> fields = absl::StrSplit(line, ' ');
    const size_t dash = line.find(" - ");
    if (fields.size() < 5 || dash == std::string::npos) continue;
    if (fields[4] == path && line.compare(dash + 3, 4, "bpf ") == 0) ++count;
  }
  return count;
}

class BpfFilesystemTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "needs root to mount";
    absl::Status entered = testing::EnterPrivateMountNamespace();
    if (!entered.ok()) GTEST_SKIP() << entered;
    // Under /tmp: one case runs unprivileged and must reach it.
    absl::StatusOr<std::string> dir = ::kmesh::testing::MakeTestDirectory(
        "kmesh-bpf-filesystem-test", "/tmp");
    ASSERT_TRUE(dir.ok()) << dir.status();
    dir_ = *dir;
  }
  void TearDown() override {
    if (dir_.empty()) return;
    // Innermost first; the namespace is private, so this is ours alone.
    for (int i = 0; i < 4; ++i) umount2((dir_ + "/fs/bpf").c_str(), MNT_DETACH);
    std::filesystem::remove_all(dir_);
  }
  std::string dir_;
};

TEST_F(BpfFilesystemTest, MountsOneOnTheParentWhereNoneWas) {
  const std::string parent = dir_ + "/fs/bpf";
  const std::string pin = parent + "/kmesh-ipsec";
  ASSERT_FALSE(IsOnBpfFilesystem(dir_));

  absl::StatusOr<BpfFilesystem> ensured = EnsureBpfFilesystem(pin);
  ASSERT_TRUE(ensured.ok()) << ensured.status();
  EXPECT_EQ(ensured->mount_point, parent);
  EXPECT_TRUE(ensured->mounted_now);
  EXPECT_TRUE(IsOnBpfFilesystem(parent));
  EXPECT_EQ(BpfMountsAt(parent), 1);
  // The pin directory itself is left to the loader, and can be made.
  EXPECT_FALSE(std::filesystem::exists(pin));
  ASSERT_EQ(mkdir(pin.c_str(), 0700), 0);
  EXPECT_TRUE(IsOnBpfFilesystem(pin));
}

TEST_F(BpfFilesystemTest, CalledAgainItMountsNothingMore) {
  const std::string parent = dir_ + "/fs/bpf";
  ASSERT_TRUE(EnsureBpfFilesystem(parent + "/kmesh-ipsec").ok());
  // Again, with a trailing slash and a doubled one: the same directory.
  absl::StatusOr<BpfFilesystem> again =
      EnsureBpfFilesystem(dir_ + "/fs//bpf/kmesh-ipsec/");
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_FALSE(again->mounted_now);
  EXPECT_EQ(again->mount_point, parent);
  EXPECT_EQ(BpfMountsAt(parent), 1);
}

TEST_F(BpfFilesystemTest, AnExistingBpfFilesystemIsLeftAlone) {
  const std::string parent = dir_ + "/fs/bpf";
  std::filesystem::create_directories(parent);
  ASSERT_EQ(mount("bpf", parent.c_str(), "bpf", 0, nullptr), 0);
  // Both when the pin directory is below the mount and when it is the mount.
  for (const std::string& pin : {parent + "/kmesh-ipsec", parent}) {
    absl::StatusOr<BpfFilesystem> ensured = EnsureBpfFilesystem(pin);
    ASSERT_TRUE(ensured.ok()) << pin << ": " << ensured.status();
    EXPECT_FALSE(ensured->mounted_now) << pin;
  }
  EXPECT_EQ(BpfMountsAt(parent), 1);
}

TEST_F(BpfFilesystemTest, AParentThatIsAFileIsRefused) {
  const std::string file = dir_ + "/file";
  std::ofstream(file) << "x";
  absl::StatusOr<BpfFilesystem> ensured =
      EnsureBpfFilesystem(file + "/kmesh-ipsec");
  ASSERT_EQ(ensured.status().code(), absl::StatusCode::kFailedPrecondition)
      << ensured.status();
  EXPECT_NE(ensured.status().message().find("not a directory"),
            std::string::npos)
      << ensured.status();
  EXPECT_NE(ensured.status().message().find("--bpf-pin-dir"),
            std::string::npos);
}

// Without CAP_SYS_ADMIN the mount fails, and the error says how to fix it.
TEST_F(BpfFilesystemTest, WithoutThePrivilegeItRefusesAndSaysWhatToDo) {
  const std::string parent = dir_ + "/fs/bpf";
  std::filesystem::create_directories(parent);
  // The unprivileged child must be able to reach the directory.
  ASSERT_EQ(chmod(dir_.c_str(), 0755), 0);
  ASSERT_EQ(chmod((dir_ + "/fs").c_str(), 0755), 0);
  absl::StatusOr<std::string> report = testing::RunAsNobody([&parent] {
    return EnsureBpfFilesystem(parent + "/kmesh-ipsec").status().ToString();
  });
  ASSERT_TRUE(report.ok()) << report.status();
  for (const std::string& part :
       {std::string("FAILED_PRECONDITION"),
        absl::StrCat("no bpf filesystem at ", parent), std::string("EPERM"),
        std::string("CAP_SYS_ADMIN"), absl::StrCat("mount -t bpf bpf ", parent),
        std::string("--bpf-pin-dir")}) {
    EXPECT_NE(report->find(part), std::string::npos)
        << "missing \"" << part << "\" in: " << *report;
  }
  EXPECT_FALSE(IsOnBpfFilesystem(parent));
}

TEST(BpfFilesystemPathTest, RelativePathsAndTheRootAreRefused) {
  for (const char* pin : {"", "bpf/kmesh-ipsec", "/", "//"}) {
    EXPECT_EQ(EnsureBpfFilesystem(pin).status().code(),
              absl::StatusCode::kInvalidArgument)
        << "\"" << pin << "\"";
  }
}

}  // namespace
}  // namespace kmesh::linux_backend
