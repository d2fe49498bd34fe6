// The volume layout and update sequence must be kubelet's, since the
// daemon's key-file watcher is written against it: files reached through
// "name -> ..data/name", "..data" a symlink to a timestamped directory, and
// an update that becomes visible in one rename(2) of "..data_tmp" over
// "..data" (never a write into the file the reader has open).
#include "sim/cluster/projected_volume_writer.h"

#include <stdlib.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "kmesh/base/testing/test_directory.h"

namespace kmesh::sim {
namespace {

using std::chrono::system_clock;

VolumePayload Payload(std::map<std::string, std::string> files) {
  VolumePayload p;
  for (auto& [k, v] : files) p.emplace(k, crypto::SecretBytes::CopyFrom(v));
  return p;
}

std::string Read(const std::string& path) {
  std::ifstream in(path);
  return std::string((std::istreambuf_iterator<char>(in)), {});
}

std::string Link(const std::string& path) {
  char buf[4096];
  const ssize_t n = readlink(path.c_str(), buf, sizeof(buf));
  return n < 0 ? "" : std::string(buf, n);
}

bool Exists(const std::string& path) {
  struct stat st;
  return lstat(path.c_str(), &st) == 0;
}

class ProjectedVolumeWriterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = ::kmesh::testing::NewTestDirectory("projected_volume_test");
    dir_ = root_ + "/node1/kmesh-ipsec";
    ProjectedVolumeWriter::Options options;
    options.wall_clock = [this] { return now_; };
    writer_ = std::make_unique<ProjectedVolumeWriter>(dir_, options);
  }
  void TearDown() override { std::filesystem::remove_all(root_); }

  std::string root_, dir_;
  // 2026-11-26 09:00:00 UTC.
  system_clock::time_point now_ = system_clock::from_time_t(1795683600);
  std::unique_ptr<ProjectedVolumeWriter> writer_;
};

TEST_F(ProjectedVolumeWriterTest, LaysOutFilesTheWayKubeletDoes) {
  auto changed = writer_->Write(Payload({{"ipSec", "{\"spi\":1}"}}));
  ASSERT_TRUE(changed.ok()) << changed.status();
  EXPECT_TRUE(*changed);
  const std::string data = Link(dir_ + "/..data");
  EXPECT_TRUE(
      std::regex_match(data, std::regex(R"(\.\.2026_11_26_09_00_00\.[0-9]+)")))
      << data;
  EXPECT_EQ(writer_->CurrentDataDir(), data);
  EXPECT_EQ(Link(dir_ + "/ipSec"), "..data/ipSec");
  EXPECT_EQ(Read(dir_ + "/ipSec"), "{\"spi\":1}");
  struct stat st;
  ASSERT_EQ(stat((dir_ + "/" + data).c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0755u);
  ASSERT_EQ(stat((dir_ + "/" + data + "/ipSec").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0644u);
  EXPECT_FALSE(Exists(dir_ + "/..data_tmp"));
}

// The volume's defaultMode (0400 in the Kmesh DaemonSet) is the files'
// mode, as kubelet's atomic writer sets it.
TEST_F(ProjectedVolumeWriterTest, FilesGetTheVolumesDefaultMode) {
  ProjectedVolumeWriter::Options options;
  options.file_mode = 0400;
  ProjectedVolumeWriter writer(dir_, options);
  ASSERT_TRUE(writer.Write(Payload({{"ipSec", "v1"}})).ok());
  struct stat st;
  ASSERT_EQ(stat((dir_ + "/ipSec").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0400u);
  EXPECT_EQ(Read(dir_ + "/ipSec"), "v1");
}

TEST_F(ProjectedVolumeWriterTest, UpdateSwapsDataDirAndRemovesTheOldOne) {
  ASSERT_TRUE(writer_->Write(Payload({{"ipSec", "v1"}})).ok());
  const std::string first = writer_->CurrentDataDir();
  now_ += std::chrono::seconds(61);
  ASSERT_TRUE(*writer_->Write(Payload({{"ipSec", "v2"}})));
  const std::string second = writer_->CurrentDataDir();
  EXPECT_NE(first, second);
  EXPECT_TRUE(std::regex_match(
      second, std::regex(R"(\.\.2026_11_26_09_01_01\.[0-9]+)")));
  EXPECT_FALSE(Exists(dir_ + "/" + first));
  EXPECT_EQ(Read(dir_ + "/ipSec"), "v2");
  EXPECT_EQ(Link(dir_ + "/ipSec"), "..data/ipSec");
}

TEST_F(ProjectedVolumeWriterTest, TheSwitchIsOneRenameOverData) {
  ASSERT_TRUE(writer_->Write(Payload({{"ipSec", "v1"}})).ok());
  const int fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  ASSERT_GE(fd, 0);
  ASSERT_GE(inotify_add_watch(fd, dir_.c_str(),
                              IN_CREATE | IN_DELETE | IN_MOVED_FROM |
                                  IN_MOVED_TO | IN_MODIFY | IN_CLOSE_WRITE),
            0);
  ASSERT_TRUE(*writer_->Write(Payload({{"ipSec", "v2"}})));
  std::vector<std::string> events;
  alignas(inotify_event) char buf[8192];
  ssize_t n;
  while ((n = read(fd, buf, sizeof(buf))) > 0) {
    for (char* p = buf; p < buf + n;) {
      auto* e = reinterpret_cast<inotify_event*>(p);
      std::string what = (e->mask & IN_CREATE)       ? "create "
                         : (e->mask & IN_DELETE)     ? "delete "
                         : (e->mask & IN_MOVED_FROM) ? "moved_from "
                         : (e->mask & IN_MOVED_TO)   ? "moved_to "
                                                     : "other ";
      const std::string name = e->len ? e->name : "";
      // Timestamped directory names vary; fold them.
      events.push_back(what + (name.rfind("..2026", 0) == 0 ? "<ts>" : name));
      p += sizeof(inotify_event) + e->len;
    }
  }
  close(fd);
  // kubelet's sequence, as inotify on the volume directory reports it.
  EXPECT_EQ(events,
            (std::vector<std::string>{"create <ts>", "create ..data_tmp",
                                      "moved_from ..data_tmp",
                                      "moved_to ..data", "delete <ts>"}));
}

TEST_F(ProjectedVolumeWriterTest, UnchangedPayloadChangesNothing) {
  ASSERT_TRUE(writer_->Write(Payload({{"ipSec", "v1"}})).ok());
  const std::string first = writer_->CurrentDataDir();
  auto changed = writer_->Write(Payload({{"ipSec", "v1"}}));
  ASSERT_TRUE(changed.ok());
  EXPECT_FALSE(*changed);
  EXPECT_EQ(writer_->CurrentDataDir(), first);
}

TEST_F(ProjectedVolumeWriterTest, NamesLeavingThePayloadDisappear) {
  ASSERT_TRUE(writer_->Write(Payload({{"ipSec", "k"}, {"extra", "x"}})).ok());
  EXPECT_TRUE(Exists(dir_ + "/extra"));
  ASSERT_TRUE(*writer_->Write(Payload({{"ipSec", "k"}})));
  EXPECT_FALSE(Exists(dir_ + "/extra"));
  // An empty payload (deleted optional secret): no file, ..data stays.
  ASSERT_TRUE(*writer_->Write(VolumePayload()));
  EXPECT_FALSE(Exists(dir_ + "/ipSec"));
  EXPECT_TRUE(Exists(dir_ + "/..data"));
}

TEST_F(ProjectedVolumeWriterTest, RefusesNamesKubeletRefuses) {
  for (const char* bad : {"..data", "../x", "a/b", "", ".."}) {
    EXPECT_EQ(writer_->Write(Payload({{bad, "x"}})).status().code(),
              absl::StatusCode::kInvalidArgument)
        << bad;
  }
  EXPECT_EQ(writer_->CurrentDataDir(), "");
}

}  // namespace
}  // namespace kmesh::sim
