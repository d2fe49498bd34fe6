#include "kmesh/ipsec/key_file_watcher.h"

#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "kmesh/base/testing/test_directory.h"
#include "kmesh/crypto/encoding.h"
#include "kmesh/ipsec/testing/recording_event_sink.h"
#include "kmesh/ipsec/testing/test_psk.h"

namespace kmesh::ipsec {
namespace {

namespace fs = std::filesystem;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;
using ::testing::SizeIs;

constexpr std::chrono::milliseconds kNow{0};

// The bytes of TestPsk(seed), or of its first `size` bytes.
std::vector<uint8_t> KeyBytes(int seed, size_t size = 36) {
  const XfrmKey psk = TestPsk(seed);
  return std::vector<uint8_t>(psk.data(), psk.data() + size);
}

// The JSON Kmesh's Go tools write.
std::string KeyJson(int spi, const std::vector<uint8_t>& key,
                    const std::string& algorithm = "rfc4106(gcm(aes))",
                    int length = 128) {
  return absl::StrCat("{\"spi\":", spi, ",\"aeadKeyName\":\"", algorithm,
                      "\",\"aeadKey\":\"", crypto::Base64Encode(key),
                      "\",\"length\":", length, "}");
}

void WriteFile(const std::string& path, const std::string& content) {
  FILE* f = fopen(path.c_str(), "w");
  ASSERT_NE(f, nullptr) << path;
  ASSERT_EQ(fwrite(content.data(), 1, content.size(), f), content.size());
  ASSERT_EQ(fclose(f), 0);
}

// Writes `content` next to `path` and renames it into place, as editors and
// `kubectl cp` do.
void ReplaceFile(const std::string& path, const std::string& content) {
  WriteFile(path + ".tmp", content);
  ASSERT_EQ(rename((path + ".tmp").c_str(), path.c_str()), 0);
}

class KeyFileWatcherTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = ::kmesh::testing::NewTestDirectory("key_file_watcher_test");
  }
  void TearDown() override { fs::remove_all(root_); }

  // kubelet's projected-volume layout: <dir>/..<timestamp>/ipSec holds the
  // data, <dir>/..data -> ..<timestamp>, <dir>/ipSec -> ..data/ipSec. An
  // update writes a new timestamped directory, points a new symlink
  // ..data_tmp at it, renames that over ..data and removes the old directory.
  void KubeletProject(const std::string& dir, const std::string& content) {
    fs::create_directories(dir);
    std::string stamp = absl::StrCat("..2026_11_26_09_00_00.", ++generation_);
    fs::create_directory(dir + "/" + stamp);
    WriteFile(dir + "/" + stamp + "/ipSec", content);
    chmod((dir + "/" + stamp + "/ipSec").c_str(), 0644);
    fs::create_directory_symlink(stamp, dir + "/..data_tmp");
    std::error_code ignored;
    std::string old_stamp;
    if (fs::is_symlink(dir + "/..data")) {
      old_stamp = fs::read_symlink(dir + "/..data").string();
    }
    ASSERT_EQ(rename((dir + "/..data_tmp").c_str(), (dir + "/..data").c_str()),
              0);
    if (!fs::is_symlink(dir + "/ipSec")) {
      fs::create_symlink("..data/ipSec", dir + "/ipSec");
    }
    if (!old_stamp.empty()) fs::remove_all(dir + "/" + old_stamp);
  }

  // Starts a watcher of `path` that reports to sink_.
  KeyFileWatcher& StartWatcher(const std::string& path,
                               KeyFileWatcher::Options options = {}) {
    watcher_ = std::make_unique<KeyFileWatcher>(path, &sink_, options);
    EXPECT_TRUE(watcher_->Start().ok());
    return *watcher_;
  }
  // The SPIs of the keys reported so far, in order.
  std::vector<int32_t> ReportedSpis() const {
    std::vector<int32_t> spis;
    for (const RecordingEventSink::Key& key : sink_.keys()) {
      spis.push_back(key.spi);
    }
    return spis;
  }

  std::string root_;
  int generation_ = 0;
  RecordingEventSink sink_;
  std::unique_ptr<KeyFileWatcher> watcher_;
};

TEST_F(KeyFileWatcherTest, AcceptsWhitespaceAndUnknownFields) {
  const std::string path = root_ + "/ipSec";
  WriteFile(path,
            absl::StrCat("{\n  \"length\": 128, \"spi\": 2, \"extra\": 1,\n",
                         "  \"aeadKey\": \"", crypto::Base64Encode(KeyBytes(3)),
                         "\", \"aeadKeyName\": \"rfc4106(gcm(aes))\"\n}\n"));
  StartWatcher(path);
  ASSERT_THAT(ReportedSpis(), ElementsAre(2));
  EXPECT_EQ(sink_.keys()[0].psk, TestPsk(3));
}

TEST_F(KeyFileWatcherTest, NoFileAtStartIsKeylessWithoutErrors) {
  KeyFileWatcher& watcher = StartWatcher(root_ + "/kmesh-ipsec/ipSec");
  EXPECT_FALSE(watcher.ProcessEvents(kNow));
  watcher.CheckNow();
  EXPECT_THAT(sink_.log(), IsEmpty());
  EXPECT_EQ(watcher.error_count(), 0);
}

TEST_F(KeyFileWatcherTest, ReadsAnExistingFileAtStart) {
  fs::create_directories(root_ + "/kmesh-ipsec");
  WriteFile(root_ + "/kmesh-ipsec/ipSec", KeyJson(1, KeyBytes(1)));
  StartWatcher(root_ + "/kmesh-ipsec/ipSec");
  ASSERT_THAT(ReportedSpis(), ElementsAre(1));
  EXPECT_EQ(sink_.keys()[0].psk, TestPsk(1));
}

TEST_F(KeyFileWatcherTest, DefaultPathIsRelativeToTheWorkingDirectory) {
  KeyFileWatcher watcher(kDefaultKeyFilePath, &sink_);
  EXPECT_EQ(watcher.path(),
            (fs::current_path() / "kmesh-ipsec" / "ipSec").string());
}

TEST_F(KeyFileWatcherTest, PicksUpTheFileWhenTheDirectoryAppearsLater) {
  KeyFileWatcher& watcher = StartWatcher(root_ + "/volumes/kmesh-ipsec/ipSec");
  fs::create_directory(root_ + "/volumes");
  EXPECT_TRUE(watcher.ProcessEvents(kNow));
  fs::create_directory(root_ + "/volumes/kmesh-ipsec");
  EXPECT_TRUE(watcher.ProcessEvents(kNow));
  EXPECT_THAT(sink_.keys(), IsEmpty());

  ReplaceFile(root_ + "/volumes/kmesh-ipsec/ipSec", KeyJson(1, KeyBytes(1)));
  EXPECT_TRUE(watcher.ProcessEvents(kNow));
  ASSERT_THAT(ReportedSpis(), ElementsAre(1));
  EXPECT_EQ(sink_.keys()[0].psk, TestPsk(1));
  EXPECT_EQ(watcher.error_count(), 0);
}

TEST_F(KeyFileWatcherTest, PicksUpAWholeTreeCreatedBetweenChecks) {
  KeyFileWatcher& watcher = StartWatcher(root_ + "/a/b/kmesh-ipsec/ipSec");
  KubeletProject(root_ + "/a/b/kmesh-ipsec", KeyJson(1, KeyBytes(1)));
  EXPECT_TRUE(watcher.ProcessEvents(kNow));
  EXPECT_THAT(ReportedSpis(), ElementsAre(1));
}

TEST_F(KeyFileWatcherTest, FollowsKubeletAtomicSymlinkSwaps) {
  const std::string dir = root_ + "/kmesh-ipsec";
  KubeletProject(dir, KeyJson(1, KeyBytes(1)));
  KeyFileWatcher& watcher = StartWatcher(dir + "/ipSec");
  for (int spi : {2, 3}) {
    KubeletProject(dir, KeyJson(spi, KeyBytes(spi)));
    EXPECT_TRUE(watcher.ProcessEvents(kNow));
    ASSERT_EQ(ReportedSpis().back(), spi);
    EXPECT_EQ(sink_.keys().back().psk, TestPsk(spi));
  }
  EXPECT_THAT(ReportedSpis(), ElementsAre(1, 2, 3));
  EXPECT_EQ(watcher.error_count(), 0);
}

TEST_F(KeyFileWatcherTest, FollowsInPlaceWritesToTheFileAndThroughItsSymlink) {
  fs::create_directories(root_ + "/plain");
  WriteFile(root_ + "/plain/ipSec", KeyJson(1, KeyBytes(1)));
  KubeletProject(root_ + "/projected", KeyJson(1, KeyBytes(1)));
  // Through the symlink the write lands in ..<timestamp>/ipSec, which the
  // directory watch cannot see.
  for (const std::string& dir : {root_ + "/plain", root_ + "/projected"}) {
    RecordingEventSink sink;
    KeyFileWatcher watcher(dir + "/ipSec", &sink);
    ASSERT_TRUE(watcher.Start().ok());
    WriteFile(dir + "/ipSec", KeyJson(2, KeyBytes(2)));
    EXPECT_TRUE(watcher.ProcessEvents(kNow)) << dir;
    EXPECT_THAT(sink.log(), ElementsAre("key 1", "key 2")) << dir;
  }
}

TEST_F(KeyFileWatcherTest, SameContentRewrittenIsNoEvent) {
  const std::string dir = root_ + "/kmesh-ipsec";
  KubeletProject(dir, KeyJson(1, KeyBytes(1)));
  KeyFileWatcher& watcher = StartWatcher(dir + "/ipSec");
  KubeletProject(dir, KeyJson(1, KeyBytes(1)));
  EXPECT_TRUE(watcher.ProcessEvents(kNow));
  WriteFile(dir + "/ipSec", KeyJson(1, KeyBytes(1)));
  EXPECT_TRUE(watcher.ProcessEvents(kNow));
  watcher.CheckNow();
  EXPECT_THAT(sink_.log(), ElementsAre("key 1"));
}

TEST_F(KeyFileWatcherTest, MalformedFilesKeepTheLastGoodKeyAndAreCounted) {
  const std::string dir = root_ + "/kmesh-ipsec";
  const std::vector<uint8_t> good = KeyBytes(0x41);
  const std::vector<uint8_t> other = KeyBytes(0x90);
  KubeletProject(dir, KeyJson(1, good));
  KeyFileWatcher& watcher = StartWatcher(dir + "/ipSec");
  ASSERT_THAT(ReportedSpis(), ElementsAre(1));

  const std::vector<std::string> bad_files = {
      // Truncated JSON still holding a key.
      KeyJson(2, other).substr(0, 70),
      KeyJson(2, other, "cbc(aes)"),
      KeyJson(2, KeyBytes(0x90, 35)),
      KeyJson(0, other),
  };
  int64_t expected_errors = 0;
  for (const std::string& bad : bad_files) {
    KubeletProject(dir, bad);
    EXPECT_TRUE(watcher.ProcessEvents(kNow));
    ++expected_errors;
    EXPECT_EQ(watcher.error_count(), expected_errors) << bad;
    const std::vector<absl::Status> errors = sink_.key_errors();
    ASSERT_THAT(errors, SizeIs(expected_errors));
    const std::string message(errors.back().message());
    EXPECT_THAT(message, HasSubstr(dir + "/ipSec"));
    EXPECT_THAT(message, HasSubstr("keeping the last good key"));
    for (const auto* bytes : {&good, &other}) {
      std::vector<uint8_t> short_key(bytes->begin(), bytes->end() - 1);
      for (const std::vector<uint8_t>& key : {*bytes, short_key}) {
        EXPECT_THAT(message, Not(HasSubstr(crypto::HexEncode(key))));
        EXPECT_THAT(message, Not(HasSubstr(crypto::Base64Encode(key))));
        // Any 8-character run of the base64 text would be a partial leak.
        EXPECT_THAT(message,
                    Not(HasSubstr(crypto::Base64Encode(key).substr(8, 8))));
      }
    }
  }
  EXPECT_THAT(ReportedSpis(), ElementsAre(1));  // The last good key stays.

  // The same malformed content seen again is not a new error.
  watcher.CheckNow();
  EXPECT_EQ(watcher.error_count(), expected_errors);

  // A good file again is picked up.
  KubeletProject(dir, KeyJson(2, other));
  EXPECT_TRUE(watcher.ProcessEvents(kNow));
  EXPECT_THAT(ReportedSpis(), ElementsAre(1, 2));
}

TEST_F(KeyFileWatcherTest, ReturningToTheLastGoodKeyAfterAnErrorIsNoEvent) {
  const std::string path = root_ + "/ipSec";
  WriteFile(path, KeyJson(1, KeyBytes(1)));
  KeyFileWatcher& watcher = StartWatcher(path);
  ReplaceFile(path, "{");
  EXPECT_TRUE(watcher.ProcessEvents(kNow));
  ReplaceFile(path, KeyJson(1, KeyBytes(1)));
  EXPECT_TRUE(watcher.ProcessEvents(kNow));
  EXPECT_THAT(ReportedSpis(), ElementsAre(1));
  EXPECT_EQ(watcher.error_count(), 1);
}

TEST_F(KeyFileWatcherTest, RemovedFileKeepsTheKeyAndReappearingIsPickedUp) {
  const std::string dir = root_ + "/kmesh-ipsec";
  fs::create_directories(dir);
  WriteFile(dir + "/ipSec", KeyJson(1, KeyBytes(1)));
  KeyFileWatcher& watcher = StartWatcher(dir + "/ipSec");

  fs::remove_all(dir);
  EXPECT_TRUE(watcher.ProcessEvents(kNow));
  EXPECT_THAT(sink_.log(), ElementsAre("key 1"));

  KubeletProject(dir, KeyJson(2, KeyBytes(2)));
  EXPECT_TRUE(watcher.ProcessEvents(kNow));
  EXPECT_THAT(ReportedSpis(), ElementsAre(1, 2));
}

TEST_F(KeyFileWatcherTest, OversizedFileIsAnError) {
  const std::string path = root_ + "/ipSec";
  WriteFile(path, std::string(100, ' ') + KeyJson(1, KeyBytes(1)));
  KeyFileWatcher::Options options;
  options.max_file_size = 64;
  StartWatcher(path, options);
  EXPECT_THAT(sink_.keys(), IsEmpty());
  ASSERT_THAT(sink_.key_errors(), SizeIs(1));
  EXPECT_THAT(sink_.key_errors()[0].message(),
              HasSubstr("larger than 64 bytes"));
}

TEST_F(KeyFileWatcherTest, UnreadablePathIsReportedOnce) {
  // A directory where the file should be: open() works, read() fails.
  fs::create_directories(root_ + "/kmesh-ipsec/ipSec");
  KeyFileWatcher& watcher = StartWatcher(root_ + "/kmesh-ipsec/ipSec");
  watcher.CheckNow();
  watcher.CheckNow();
  ASSERT_THAT(sink_.key_errors(), SizeIs(1));
  EXPECT_EQ(watcher.error_count(), 1);
  EXPECT_THAT(sink_.key_errors()[0].message(), HasSubstr("cannot read"));

  // Replaced by a real file: picked up.
  fs::remove(root_ + "/kmesh-ipsec/ipSec");
  WriteFile(root_ + "/kmesh-ipsec/ipSec", KeyJson(1, KeyBytes(1)));
  EXPECT_TRUE(watcher.ProcessEvents(kNow));
  EXPECT_THAT(ReportedSpis(), ElementsAre(1));
}

// A FIFO at the key path must not block the watcher: a blocking open()
// would wait forever for a writer. The read is done on a thread of the
// test's, so that the old behaviour fails the test instead of hanging it
// (the FIFO is then opened for writing to release it).
TEST_F(KeyFileWatcherTest, FifoIsRefusedWithoutBlockingAndALaterFileIsRead) {
  const std::string dir = root_ + "/kmesh-ipsec";
  fs::create_directories(dir);
  const std::string path = dir + "/ipSec";
  ASSERT_EQ(mkfifo(path.c_str(), 0600), 0);
  watcher_ = std::make_unique<KeyFileWatcher>(path, &sink_);
  absl::Notification started;
  std::thread starter([&] {
    EXPECT_TRUE(watcher_->Start().ok());
    started.Notify();
  });
  const bool returned =
      started.WaitForNotificationWithTimeout(absl::Seconds(10));
  if (!returned) {
    // Release the blocked open() so the thread can be joined.
    const int writer = open(path.c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC);
    if (writer >= 0) close(writer);
  }
  starter.join();
  ASSERT_TRUE(returned) << "the watcher blocked on a FIFO at the key path";
  EXPECT_THAT(sink_.keys(), IsEmpty());
  ASSERT_THAT(sink_.key_errors(), SizeIs(1));
  EXPECT_THAT(sink_.key_errors()[0].message(), HasSubstr("a FIFO"));
  EXPECT_THAT(sink_.key_errors()[0].message(), HasSubstr("not a regular file"));

  // Replaced by a good file (kubelet's projection): picked up.
  fs::remove(path);
  KubeletProject(dir, KeyJson(1, KeyBytes(1)));
  EXPECT_TRUE(watcher_->ProcessEvents(kNow));
  EXPECT_THAT(ReportedSpis(), ElementsAre(1));
}

TEST_F(KeyFileWatcherTest, RunPicksUpChangesUntilStopped) {
  const std::string path = root_ + "/ipSec";
  KeyFileWatcher& watcher = StartWatcher(path);
  std::thread runner([&watcher] { watcher.Run(); });
  ReplaceFile(path, KeyJson(1, KeyBytes(1)));
  watcher.Stop();
  runner.join();
  // Whether Run() saw the event before Stop() is a race; a final check after
  // the thread is gone must find the key either way, exactly once.
  watcher.CheckNow();
  EXPECT_THAT(ReportedSpis(), ElementsAre(1));
}

// Stop() must wake a Run() that is waiting for events: with a resync
// interval of an hour, nothing else would end the wait. The key written
// after Run() started can only reach the sink through Run(), so once it has
// arrived Run() is inside its loop, and it returns only because of Stop().
TEST_F(KeyFileWatcherTest, StopWakesARunThatIsWaitingForEvents) {
  const std::string path = root_ + "/ipSec";
  KeyFileWatcher::Options options;
  options.resync_interval = std::chrono::hours(1);
  KeyFileWatcher& watcher = StartWatcher(path, options);
  std::thread runner([&watcher] { watcher.Run(); });
  ReplaceFile(path, KeyJson(1, KeyBytes(1)));
  const bool picked_up = sink_.WaitForEvents(1);
  const absl::Time stopped = absl::Now();
  watcher.Stop();
  runner.join();
  ASSERT_TRUE(picked_up) << "Run() did not pick up the key";
  EXPECT_LT(absl::Now() - stopped, absl::Seconds(10));
  EXPECT_THAT(ReportedSpis(), ElementsAre(1));
}

}  // namespace
}  // namespace kmesh::ipsec
