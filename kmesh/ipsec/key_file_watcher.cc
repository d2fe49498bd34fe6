#include "kmesh/ipsec/key_file_watcher.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <openssl/mem.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <set>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "glog/logging.h"
#include "kmesh/api/ipsec_key_codec.h"

namespace kmesh::ipsec {
namespace {

// Events on the key file's directory that may mean the file changed.
constexpr uint32_t kDirectoryMask = IN_CREATE | IN_MOVED_TO | IN_MOVED_FROM |
                                    IN_CLOSE_WRITE | IN_DELETE | IN_ATTRIB |
                                    IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR;
// Events on an ancestor while the directory does not exist yet.
constexpr uint32_t kAncestorMask = IN_CREATE | IN_MOVED_TO | IN_DELETE_SELF |
                                   IN_MOVE_SELF | IN_ATTRIB | IN_ONLYDIR;
// Events on the file the path resolves to (in-place writes through a link).
constexpr uint32_t kFileMask =
    IN_CLOSE_WRITE | IN_DELETE_SELF | IN_MOVE_SELF | IN_ATTRIB;

void Wipe(std::string* s) {
  if (!s->empty()) OPENSSL_cleanse(s->data(), s->size());
  s->clear();
}

std::string Absolute(std::string path) {
  if (!path.empty() && path[0] == '/') return path;
  char cwd[PATH_MAX];
  if (getcwd(cwd, sizeof(cwd)) == nullptr) return path;
  return absl::StrCat(cwd, "/", path);
}

std::string Parent(const std::string& path) {
  size_t slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

bool IsDirectory(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

std::string ErrnoText(int error) { return std::strerror(error); }

struct ReadResult {
  absl::Status status;  // NotFound when there is no file.
  std::string content;
};

// What a file that is not a regular file is, for messages.
const char* FileTypeName(mode_t mode) {
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISFIFO(mode)) return "a FIFO";
  if (S_ISSOCK(mode)) return "a socket";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  return "not a regular file";
}

// Reads at most max_size + 1 bytes of the regular file at `path` (following
// symlinks: kubelet's "ipSec" -> "..data/ipSec" -> "..<timestamp>/ipSec").
// Opened non-blocking, so a FIFO or a device at the path cannot block the
// watcher's thread in open() or read(); anything but a regular file is
// refused before a byte is read.
ReadResult ReadFileBounded(const std::string& path, size_t max_size) {
  ReadResult result;
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
  if (fd < 0) {
    int error = errno;
    if (error == ENOENT || error == ENOTDIR) {
      result.status =
          absl::NotFoundError(absl::StrCat("no IPsec key file at ", path));
    } else {
      result.status = absl::UnavailableError(absl::StrCat(
          "cannot open IPsec key file ", path, ": ", ErrnoText(error)));
    }
    return result;
  }
  struct stat st;
  if (fstat(fd, &st) != 0) {
    result.status = absl::UnavailableError(absl::StrCat(
        "cannot read IPsec key file ", path, ": ", ErrnoText(errno)));
    close(fd);
    return result;
  }
  if (!S_ISREG(st.st_mode)) {
    result.status = absl::FailedPreconditionError(
        absl::StrCat("cannot read IPsec key file ", path, ": it is ",
                     FileTypeName(st.st_mode), ", not a regular file"));
    close(fd);
    return result;
  }
  if (st.st_size > 0 && static_cast<uint64_t>(st.st_size) > max_size) {
    result.status = absl::InvalidArgumentError(absl::StrCat(
        "IPsec key file ", path, " is larger than ", max_size, " bytes"));
    close(fd);
    return result;
  }
  // One fixed allocation so no stray copy of the key is left by growth.
  std::string buffer(max_size + 1, '\0');
  size_t length = 0;
  while (length < buffer.size()) {
    ssize_t n = read(fd, buffer.data() + length, buffer.size() - length);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      result.status = absl::UnavailableError(absl::StrCat(
          "cannot read IPsec key file ", path, ": ", ErrnoText(errno)));
      break;
    }
    if (n == 0) break;
    length += static_cast<size_t>(n);
  }
  close(fd);
  if (result.status.ok() && length > max_size) {
    result.status = absl::InvalidArgumentError(absl::StrCat(
        "IPsec key file ", path, " is larger than ", max_size, " bytes"));
  }
  if (result.status.ok()) result.content.assign(buffer.data(), length);
  OPENSSL_cleanse(buffer.data(), buffer.size());
  return result;
}

bool SameBytes(const std::string& a, const std::string& b) {
  return a.size() == b.size() &&
         CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

// The key file content as a key, validated by the codec kmeshctl shares.
absl::StatusOr<KeyFileWatcher::Key> ParseKeyFile(const std::string& content) {
  absl::StatusOr<api::IpsecKeyConfig> config = api::ParseIpsecKeyJson(content);
  if (!config.ok()) return config.status();
  KeyFileWatcher::Key key;
  key.spi = config->spi;
  key.psk = XfrmKey(config->aead_key.data(), config->aead_key.size());
  return key;
}

}  // namespace

KeyFileWatcher::KeyFileWatcher(std::string path, IpsecEventSink* sink)
    : KeyFileWatcher(std::move(path), sink, Options()) {}

KeyFileWatcher::KeyFileWatcher(std::string path, IpsecEventSink* sink,
                               Options options)
    : path_(Absolute(std::move(path))),
      dir_(Parent(path_)),
      sink_(sink),
      options_(options) {
  stop_fd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
}

KeyFileWatcher::~KeyFileWatcher() {
  if (inotify_fd_ >= 0) close(inotify_fd_);
  if (stop_fd_ >= 0) close(stop_fd_);
  Wipe(&last_content_);
}

absl::Status KeyFileWatcher::Start() {
  absl::Status status;
  if (inotify_fd_ < 0) {
    inotify_fd_ = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (inotify_fd_ < 0) {
      status = absl::UnavailableError(absl::StrCat(
          "inotify unavailable (", ErrnoText(errno), "); re-reading ", path_,
          " every ", options_.resync_interval.count(), " ms instead"));
      LOG(WARNING) << status.message();
    }
  }
  UpdateWatches();
  ReadAndReport();
  return status;
}

void KeyFileWatcher::UpdateWatches() {
  if (inotify_fd_ < 0) return;
  std::map<int, std::string> next;
  std::set<int> added;
  auto add = [&](const std::string& path, uint32_t mask) {
    int wd = inotify_add_watch(inotify_fd_, path.c_str(), mask);
    if (wd < 0) return false;
    next[wd] = path;
    added.insert(wd);
    return true;
  };
  // A directory can appear between looking for it and watching its parent,
  // so after watching an ancestor, look again; a few rounds settle it.
  for (int attempt = 0; attempt < 8; ++attempt) {
    next.clear();
    if (add(dir_, kDirectoryMask)) {
      char resolved[PATH_MAX];
      if (realpath(path_.c_str(), resolved) != nullptr) {
        add(resolved, kFileMask);
      }
      break;
    }
    std::string ancestor = Parent(dir_);
    while (ancestor != "/" && !IsDirectory(ancestor)) {
      ancestor = Parent(ancestor);
    }
    if (!add(ancestor, kAncestorMask)) continue;
    // The path component just below the watched ancestor.
    std::string child = dir_;
    while (Parent(child) != ancestor && child != "/") child = Parent(child);
    if (!IsDirectory(child)) break;
  }
  for (const auto& [wd, path] : watches_) added.insert(wd);
  for (int wd : added) {
    if (next.count(wd) == 0) inotify_rm_watch(inotify_fd_, wd);
  }
  watches_ = std::move(next);
}

bool KeyFileWatcher::ProcessEvents(std::chrono::milliseconds timeout) {
  pollfd fds[2];
  int count = 0;
  if (inotify_fd_ >= 0) fds[count++] = {inotify_fd_, POLLIN, 0};
  if (stop_fd_ >= 0) fds[count++] = {stop_fd_, POLLIN, 0};
  int ready = poll(fds, count, static_cast<int>(timeout.count()));
  if (ready <= 0 || inotify_fd_ < 0 || !(fds[0].revents & POLLIN)) {
    return false;
  }
  // Drain the queue; which event it was does not matter, since the file is
  // re-read and compared anyway.
  alignas(inotify_event) char buffer[16 * 1024];
  bool any = false;
  while (true) {
    ssize_t n = read(inotify_fd_, buffer, sizeof(buffer));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    any = true;
  }
  if (!any) return false;
  UpdateWatches();
  ReadAndReport();
  return true;
}

void KeyFileWatcher::CheckNow() {
  UpdateWatches();
  ReadAndReport();
}

void KeyFileWatcher::Run() {
  // Every event already re-reads the file, so a re-read is only due after a
  // whole quiet interval.
  while (!stopping_.load()) {
    if (!ProcessEvents(options_.resync_interval) && !stopping_.load()) {
      CheckNow();
    }
  }
}

void KeyFileWatcher::Stop() {
  stopping_.store(true);
  if (stop_fd_ >= 0) {
    uint64_t one = 1;
    ssize_t ignored = write(stop_fd_, &one, sizeof(one));
    (void)ignored;
  }
}

void KeyFileWatcher::ReadAndReport() {
  ReadResult read = ReadFileBounded(path_, options_.max_file_size);
  if (absl::IsNotFound(read.status)) {
    if (have_content_) {
      LOG(WARNING) << "IPsec key file " << path_
                   << " was removed; keeping the last key";
      Wipe(&last_content_);
      have_content_ = false;
    } else if (!logged_missing_ && !have_key_) {
      LOG(INFO) << "No IPsec key file at " << path_
                << "; running without a key until it appears";
    }
    logged_missing_ = true;
    last_read_error_.clear();
    return;
  }
  logged_missing_ = false;
  if (!read.status.ok()) {
    // The same unreadable state is reported once, not on every check.
    std::string text(read.status.message());
    if (text != last_read_error_) {
      last_read_error_ = text;
      ReportError(read.status);
    }
    Wipe(&last_content_);
    have_content_ = false;
    return;
  }
  last_read_error_.clear();
  if (have_content_ && SameBytes(read.content, last_content_)) {
    Wipe(&read.content);
    return;
  }
  Wipe(&last_content_);
  last_content_ = std::move(read.content);
  have_content_ = true;

  absl::StatusOr<Key> key = ParseKeyFile(last_content_);
  if (!key.ok()) {
    ReportError(absl::InvalidArgumentError(absl::StrCat(
        "IPsec key file ", path_, " is malformed: ", key.status().message(),
        have_key_ ? "; keeping the last good key"
                  : "; running without a key")));
    return;
  }
  if (have_key_ && key->spi == last_key_.spi && key->psk == last_key_.psk) {
    return;
  }
  LOG(INFO) << "IPsec key with SPI " << key->spi << " read from " << path_;
  last_key_ = std::move(*key);
  have_key_ = true;
  sink_->OnKeyChanged(last_key_.spi, last_key_.psk);
}

void KeyFileWatcher::ReportError(absl::Status error) {
  error_count_.fetch_add(1);
  LOG(ERROR) << error.message();
  sink_->OnKeyFileError(error);
}

}  // namespace kmesh::ipsec
