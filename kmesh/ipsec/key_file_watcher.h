// KeyFileWatcher: the daemon's source of the IPsec pre-shared key. The
// Kubernetes Secret kmesh-ipsec is mounted as a file (by default
// "kmesh-ipsec/ipSec" under the working directory) holding Kmesh's JSON
// ({"spi":1,"aeadKeyName":"rfc4106(gcm(aes))","aeadKey":"<base64>",
// "length":128}, parsed and validated by kmesh/api/ipsec_key_codec.h, the
// code kmeshctl uses to write it). The watcher reports every new valid key to
// an IpsecEventSink and every unreadable or malformed file as an error, keeping
// the last good key.
//
// Kubelet updates a projected secret without ever writing the file in place:
// it writes a new timestamped directory, then atomically renames a symlink
// "..data" to point at it; "ipSec" itself is a symlink "..data/ipSec". So the
// watcher uses inotify on the file's parent directory (create, rename, close
// after write, delete, attribute changes, the directory itself going away)
// plus a watch on the file the path currently resolves to (for in-place
// writes through a symlink), and on any of these events re-reads the file and
// compares the content with what it saw last: unchanged content is no event.
// When the parent directory does not exist yet (the pod started before the
// secret existed), the watcher watches the nearest existing ancestor instead
// and moves its watch down as directories appear, so the key is picked up
// the moment the file appears; without any file the daemon runs keyless and
// says so once in the log. As a safety net (lost events, inotify
// unavailable) Run() also re-reads the file every `resync_interval`.
//
// The file is opened non-blocking and read only when it is a regular file
// (symlinks are followed, as the projected-volume layout needs): a FIFO,
// socket, device or directory at the path is reported as an error instead
// of blocking the watcher's thread, and the watcher keeps watching.
//
// Threading: Start(), ProcessEvents() and CheckNow() must be called from one
// thread at a time (tests drive them directly; the daemon uses Run() on a
// thread of its own). Stop() and error_count() may be called from any thread.
// Buffers that held the file content or the key are wiped after use.
#ifndef KMESH_IPSEC_KEY_FILE_WATCHER_H_
#define KMESH_IPSEC_KEY_FILE_WATCHER_H_

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "kmesh/ipsec/ipsec_events.h"
#include "kmesh/kernel/xfrm_key.h"

namespace kmesh::ipsec {

// The key file path Kmesh uses, relative to the daemon's working directory.
inline constexpr char kDefaultKeyFilePath[] = "kmesh-ipsec/ipSec";

class KeyFileWatcher {
 public:
  // A valid key as read from the file.
  struct Key {
    int32_t spi = 0;
    XfrmKey psk;  // 36 bytes.
  };

  struct Options {
    // Re-read the file at least this often in Run(), whatever inotify says.
    std::chrono::milliseconds resync_interval{std::chrono::seconds(60)};
    // Files larger than this are rejected without being parsed.
    size_t max_file_size = 64 * 1024;
  };

  // `path` may be relative (resolved against the working directory at
  // construction). `sink` must outlive the watcher.
  KeyFileWatcher(std::string path, IpsecEventSink* sink);
  KeyFileWatcher(std::string path, IpsecEventSink* sink, Options options);
  ~KeyFileWatcher();
  KeyFileWatcher(const KeyFileWatcher&) = delete;
  KeyFileWatcher& operator=(const KeyFileWatcher&) = delete;

  // Sets up inotify and reads the file once (reporting the key if present).
  // Fails only when inotify cannot be set up at all; Run() then falls back to
  // re-reading every resync_interval.
  absl::Status Start();

  // Waits up to `timeout` for file system events, handles all pending ones
  // (re-reading the file when any arrived) and returns whether any did. A
  // zero timeout only handles what is already queued, so a test can change
  // the file and then call ProcessEvents(0ms) without sleeping.
  bool ProcessEvents(std::chrono::milliseconds timeout);

  // Re-reads the file now and reports a change, if any.
  void CheckNow();

  // Calls ProcessEvents() in a loop (CheckNow() whenever resync_interval
  // passes without events) until Stop(). Call Start() first.
  void Run();
  // Makes Run() return soon. Thread-safe; idempotent.
  void Stop();

  // How many times the file was found malformed or unreadable (the same bad
  // content or the same read error is counted once, not on every check).
  int64_t error_count() const { return error_count_.load(); }
  // The absolute path being watched.
  const std::string& path() const { return path_; }

 private:
  void UpdateWatches();
  void ReadAndReport();
  void ReportError(absl::Status error);

  const std::string path_;
  const std::string dir_;
  IpsecEventSink* const sink_;
  const Options options_;

  int inotify_fd_ = -1;
  int stop_fd_ = -1;  // eventfd that wakes Run() for Stop().
  // Watch descriptor -> watched path.
  std::map<int, std::string> watches_;

  // The raw content last read (wiped on change), and whether a file was
  // there at all. Used to report changes only.
  std::string last_content_;
  bool have_content_ = false;
  // The last good key reported to the sink.
  bool have_key_ = false;
  Key last_key_;
  // So "no key file" is logged once, not on every check.
  bool logged_missing_ = false;
  // The last read error reported, so a persistently unreadable file is
  // reported once.
  std::string last_read_error_;

  std::atomic<int64_t> error_count_{0};
  std::atomic<bool> stopping_{false};
};

}  // namespace kmesh::ipsec

#endif  // KMESH_IPSEC_KEY_FILE_WATCHER_H_
