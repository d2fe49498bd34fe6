#include "kmesh/ipsec/key_file_watcher.h"

#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "kmesh/crypto/encoding.h"

namespace kmesh::ipsec {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;
using ::testing::SizeIs;

constexpr std::chrono::milliseconds kNow{0};

struct KeyEvent {
  int32_t spi;
  XfrmKey psk;
};

// Records what the watcher reports.
class RecordingSink : public IpsecEventSink {
 public:
  void OnKeyChanged(int32_t spi, const XfrmKey& psk) override {
    keys.push_back({spi, psk});
  }
  void OnKeyFileError(const absl::Status& error) override {
    errors.push_back(error);
  }
  void OnPeerUpsert(const NodeView&) override {}
  void OnPeerDelete(const std::string&) override {}

  std::vector<KeyEvent> keys;
  std::vector<absl::Status> errors;
};

std::vector<uint8_t> KeyBytes(uint8_t seed, size_t size = 36) {
  std::vector<uint8_t> bytes(size);
  for (size_t i = 0; i < size; ++i) bytes[i] = static_cast<uint8_t>(seed + i);
  return bytes;
}

XfrmKey Key(uint8_t seed) {
  std::vector<uint8_t> bytes = KeyBytes(seed);
  return XfrmKey(bytes.data(), bytes.size());
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
    char pattern[] = "/tmp/key_file_watcher_test.XXXXXX";
    const char* dir = mkdtemp(pattern);
    ASSERT_NE(dir, nullptr);
    root_ = dir;
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

  std::string root_;
  int generation_ = 0;
};

TEST_F(KeyFileWatcherTest, AcceptsWhitespaceAndUnknownFields) {
  const std::string path = root_ + "/ipSec";
  WriteFile(path,
            absl::StrCat("{\n  \"length\": 128, \"spi\": 2, \"extra\": 1,\n",
                         "  \"aeadKey\": \"", crypto::Base64Encode(KeyBytes(3)),
                         "\", \"aeadKeyName\": \"rfc4106(gcm(aes))\"\n}\n"));
  RecordingSink sink;
  KeyFileWatcher watcher(path, &sink);
  ASSERT_TRUE(watcher.Start().ok());
  ASSERT_THAT(sink.keys, SizeIs(1));
  EXPECT_EQ(sink.keys[0].spi, 2);
  EXPECT_EQ(sink.keys[0].psk, Key(3));
}

TEST_F(KeyFileWatcherTest, NoFileAtStartIsKeylessWithoutErrors) {
  RecordingSink sink;
  KeyFileWatcher watcher(root_ + "/kmesh-ipsec/ipSec", &sink);
  ASSERT_TRUE(watcher.Start().ok());
  EXPECT_FALSE(watcher.ProcessEvents(kNow));
  watcher.CheckNow();
  EXPECT_THAT(sink.keys, IsEmpty());
  EXPECT_THAT(sink.errors, IsEmpty());
  EXPECT_EQ(watcher.error_count(), 0);
}

TEST_F(KeyFileWatcherTest, ReadsAnExistingFileAtStart) {
  fs::create_directories(root_ + "/kmesh-ipsec");
  WriteFile(root_ + "/kmesh-ipsec/ipSec", KeyJson(1, KeyBytes(1)));
  RecordingSink sink;
  KeyFileWatcher watcher(root_ + "/kmesh-ipsec/ipSec", &sink);
  ASSERT_TRUE(watcher.Start().ok());
  ASSERT_THAT(sink.keys, SizeIs(1));
  EXPECT_EQ(sink.keys[0].spi, 1);
  EXPECT_EQ(sink.keys[0].psk, Key(1));
}

TEST_F(KeyFileWatcherTest, DefaultPathIsRelativeToTheWorkingDirectory) {
  RecordingSink sink;
  KeyFileWatcher watcher(kDefaultKeyFilePath, &sink);
  EXPECT_EQ(watcher.path(),
            (fs::current_path() / "kmesh-ipsec" / "ipSec").string());
}

TEST_F(KeyFileWatcherTest, PicksUpTheFileWhenTheDirectoryAppearsLater) {
  RecordingSink sink;
  KeyFileWatcher watcher(root_ + "/volumes/kmesh-ipsec/ipSec", &sink);
  ASSERT_TRUE(watcher.Start().ok());

  fs::create_directory(root_ + "/volumes");
  EXPECT_TRUE(watcher.ProcessEvents(kNow));
  fs::create_directory(root_ + "/volumes/kmesh-ipsec");
  EXPECT_TRUE(watcher.ProcessEvents(kNow));
  EXPECT_THAT(sink.keys, IsEmpty());

  ReplaceFile(root_ + "/volumes/kmesh-ipsec/ipSec", KeyJson(1, KeyBytes(1)));
  EXPECT_TRUE(watcher.ProcessEvents(kNow));
  ASSERT_THAT(sink.keys, SizeIs(1));
  EXPECT_EQ(sink.keys[0].psk, Key(1));
  EXPECT_EQ(watcher.error_count(), 0);
}

TEST_F(KeyFileWatcherTest, PicksUpAWholeTreeCreatedBetweenChecks) {
  RecordingSink sink;
  KeyFileWatcher watcher(root_ + "/a/b/kmesh-ipsec/ipSec", &sink);
  ASSERT_TRUE(watcher.Start().ok());
  KubeletProject(root_ + "/a/b/kmesh-ipsec", KeyJson(1, KeyBytes(1)));
  EXPECT_TRUE(watcher.ProcessEvents(kNow));
  ASSERT_THAT(sink.keys, SizeIs(1));
  EXPECT_EQ(sink.keys[0].spi, 1);
}

TEST_F(KeyFileWatcherTest, FollowsKubeletAtomicSymlinkSwaps) {
  const std::string dir = root_ + "/kmesh-ipsec";
  KubeletProject(dir, KeyJson(1, KeyBytes(1)));
  RecordingSink sink;
  KeyFileWatcher watcher(dir + "/ipSec", &sink);
  ASSERT_TRUE(watcher.Start().ok());
  ASSERT_THAT(sink.keys, SizeIs(1));

  KubeletProject(dir, KeyJson(2, KeyBytes(2)));
  EXPECT_TRUE(watcher.ProcessEvents(kNow));
  ASSERT_THAT(sink.keys, SizeIs(2));
  EXPECT_EQ(sink.keys[1].spi, 2);
  EXPECT_EQ(sink.keys[1].psk, Key(2));

  KubeletProject(dir, KeyJson(3, KeyBytes(3)));
  EXPECT_TRUE(watcher.ProcessEvents(kNow));
  ASSERT_THAT(sink.keys, SizeIs(3));
  EXPECT_EQ(sink.keys[2].spi, 3);
  EXPECT_EQ(watcher.error_count(), 0);
}

TEST_F(KeyFileWatcherTest, FollowsInPlaceWrites) {
  const std::string path = root_ + "/ipSec";
  WriteFile(path, KeyJson(1, KeyBytes(1)));
  RecordingSink sink;
  KeyFileWatcher watcher(path, &sink);
  ASSERT_TRUE(watcher.Start().ok());
  WriteFile(path, KeyJson(2, KeyBytes(2)));
  EXPECT_TRUE(watcher.ProcessEvents(kNow));
  ASSERT_THAT(sink.keys, SizeIs(2));
  EXPECT_EQ(sink.keys[1].spi, 2);
}

TEST_F(KeyFileWatcherTest, FollowsInPlaceWritesThroughTheSymlink) {
  const std::string dir = root_ + "/kmesh-ipsec";
  KubeletProject(dir, KeyJson(1, KeyBytes(1)));
  RecordingSink sink;
  KeyFileWatcher watcher(dir + "/ipSec", &sink);
  ASSERT_TRUE(watcher.Start().ok());
  // Written into ..<timestamp>/ipSec, which the directory watch cannot see.
  WriteFile(dir + "/ipSec", KeyJson(2, KeyBytes(2)));
  EXPECT_TRUE(watcher.ProcessEvents(kNow));
  ASSERT_THAT(sink.keys, SizeIs(2));
  EXPECT_EQ(sink.keys[1].spi, 2);
}

TEST_F(KeyFileWatcherTest, SameContentRewrittenIsNoEvent) {
  const std::string dir = root_ + "/kmesh-ipsec";
  KubeletProject(dir, KeyJson(1, KeyBytes(1)));
  RecordingSink sink;
  KeyFileWatcher watcher(dir + "/ipSec", &sink);
  ASSERT_TRUE(watcher.Start().ok());
  ASSERT_THAT(sink.keys, SizeIs(1));

  KubeletProject(dir, KeyJson(1, KeyBytes(1)));
  EXPECT_TRUE(watcher.ProcessEvents(kNow));
  WriteFile(dir + "/ipSec", KeyJson(1, KeyBytes(1)));
  EXPECT_TRUE(watcher.ProcessEvents(kNow));
  watcher.CheckNow();
  EXPECT_THAT(sink.keys, SizeIs(1));
  EXPECT_THAT(sink.errors, IsEmpty());
}

TEST_F(KeyFileWatcherTest, MalformedFilesKeepTheLastGoodKeyAndAreCounted) {
  const std::string dir = root_ + "/kmesh-ipsec";
  const std::vector<uint8_t> good = KeyBytes(0x41);
  const std::vector<uint8_t> other = KeyBytes(0x90);
  KubeletProject(dir, KeyJson(1, good));
  RecordingSink sink;
  KeyFileWatcher watcher(dir + "/ipSec", &sink);
  ASSERT_TRUE(watcher.Start().ok());
  ASSERT_THAT(sink.keys, SizeIs(1));

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
    ASSERT_THAT(sink.errors, SizeIs(expected_errors));
    const std::string message(sink.errors.back().message());
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
  EXPECT_THAT(sink.keys, SizeIs(1));  // The last good key stays.

  // The same malformed content seen again is not a new error.
  watcher.CheckNow();
  EXPECT_EQ(watcher.error_count(), expected_errors);

  // A good file again is picked up.
  KubeletProject(dir, KeyJson(2, other));
  EXPECT_TRUE(watcher.ProcessEvents(kNow));
  ASSERT_THAT(sink.keys, SizeIs(2));
  EXPECT_EQ(sink.keys[1].spi, 2);
}

TEST_F(KeyFileWatcherTest, ReturningToTheLastGoodKeyAfterAnErrorIsNoEvent) {
  const std::string path = root_ + "/ipSec";
  WriteFile(path, KeyJson(1, KeyBytes(1)));
  RecordingSink sink;
  KeyFileWatcher watcher(path, &sink);
  ASSERT_TRUE(watcher.Start().ok());
  ReplaceFile(path, "{");
  EXPECT_TRUE(watcher.ProcessEvents(kNow));
  ReplaceFile(path, KeyJson(1, KeyBytes(1)));
  EXPECT_TRUE(watcher.ProcessEvents(kNow));
  EXPECT_THAT(sink.keys, SizeIs(1));
  EXPECT_EQ(watcher.error_count(), 1);
}

TEST_F(KeyFileWatcherTest, RemovedFileKeepsTheKeyAndReappearingIsPickedUp) {
  const std::string dir = root_ + "/kmesh-ipsec";
  fs::create_directories(dir);
  WriteFile(dir + "/ipSec", KeyJson(1, KeyBytes(1)));
  RecordingSink sink;
  KeyFileWatcher watcher(dir + "/ipSec", &sink);
  ASSERT_TRUE(watcher.Start().ok());

  fs::remove_all(dir);
  EXPECT_TRUE(watcher.ProcessEvents(kNow));
  EXPECT_THAT(sink.keys, SizeIs(1));
  EXPECT_THAT(sink.errors, IsEmpty());

  KubeletProject(dir, KeyJson(2, KeyBytes(2)));
  EXPECT_TRUE(watcher.ProcessEvents(kNow));
  ASSERT_THAT(sink.keys, SizeIs(2));
  EXPECT_EQ(sink.keys[1].spi, 2);
}

TEST_F(KeyFileWatcherTest, OversizedFileIsAnError) {
  const std::string path = root_ + "/ipSec";
  WriteFile(path, std::string(100, ' ') + KeyJson(1, KeyBytes(1)));
  RecordingSink sink;
  KeyFileWatcher::Options options;
  options.max_file_size = 64;
  KeyFileWatcher watcher(path, &sink, options);
  ASSERT_TRUE(watcher.Start().ok());
  EXPECT_THAT(sink.keys, IsEmpty());
  ASSERT_THAT(sink.errors, SizeIs(1));
  EXPECT_THAT(sink.errors[0].message(), HasSubstr("larger than 64 bytes"));
}

TEST_F(KeyFileWatcherTest, UnreadablePathIsReportedOnce) {
  // A directory where the file should be: open() works, read() fails.
  fs::create_directories(root_ + "/kmesh-ipsec/ipSec");
  RecordingSink sink;
  KeyFileWatcher watcher(root_ + "/kmesh-ipsec/ipSec", &sink);
  ASSERT_TRUE(watcher.Start().ok());
  watcher.CheckNow();
  watcher.CheckNow();
  ASSERT_THAT(sink.errors, SizeIs(1));
  EXPECT_EQ(watcher.error_count(), 1);
  EXPECT_THAT(sink.errors[0].message(), HasSubstr("cannot read"));

  // Replaced by a real file: picked up.
  fs::remove(root_ + "/kmesh-ipsec/ipSec");
  WriteFile(root_ + "/kmesh-ipsec/ipSec", KeyJson(1, KeyBytes(1)));
  EXPECT_TRUE(watcher.ProcessEvents(kNow));
  EXPECT_THAT(sink.keys, SizeIs(1));
}

TEST_F(KeyFileWatcherTest, RunPicksUpChangesUntilStopped) {
  const std::string path = root_ + "/ipSec";
  RecordingSink sink;
  KeyFileWatcher watcher(path, &sink);
  ASSERT_TRUE(watcher.Start().ok());
  std::thread runner([&watcher] { watcher.Run(); });
  ReplaceFile(path, KeyJson(1, KeyBytes(1)));
  watcher.Stop();
  runner.join();
  // Whether Run() saw the event before Stop() is a race; a final check after
  // the thread is gone must find the key either way, exactly once.
  watcher.CheckNow();
  ASSERT_THAT(sink.keys, SizeIs(1));
  EXPECT_EQ(sink.keys[0].spi, 1);
}

TEST_F(KeyFileWatcherTest, RunReturnsAfterStop) {
  RecordingSink sink;
  KeyFileWatcher watcher(root_ + "/kmesh-ipsec/ipSec", &sink);
  ASSERT_TRUE(watcher.Start().ok());
  std::thread runner([&watcher] { watcher.Run(); });
  watcher.Stop();
  runner.join();  // Hangs (and the test times out) if Stop() is not seen.
  SUCCEED();
}

}  // namespace
}  // namespace kmesh::ipsec
