#include "sim/cluster/projected_volume_writer.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <random>
#include <set>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "openssl/mem.h"

namespace kmesh::sim {
namespace {

constexpr char kDataDirName[] = "..data";
constexpr char kDataDirTmpName[] = "..data_tmp";

absl::Status Errno(const std::string& what, const std::string& path) {
  return absl::ErrnoToStatus(errno, absl::StrCat(what, " ", path));
}

absl::Status MakeDirs(const std::string& path) {
  std::string partial;
  for (size_t pos = 0; pos != std::string::npos;) {
    pos = path.find('/', pos + 1);
    partial = path.substr(0, pos);
    if (partial.empty()) continue;
    if (::mkdir(partial.c_str(), 0755) != 0 && errno != EEXIST) {
      return Errno("mkdir", partial);
    }
  }
  return absl::OkStatus();
}

absl::Status RemoveTree(const std::string& path) {
  struct stat st;
  if (::lstat(path.c_str(), &st) != 0) {
    return errno == ENOENT ? absl::OkStatus() : Errno("lstat", path);
  }
  if (S_ISDIR(st.st_mode)) {
    DIR* d = ::opendir(path.c_str());
    if (d == nullptr) return Errno("opendir", path);
    std::vector<std::string> children;
    while (struct dirent* e = ::readdir(d)) {
      const std::string name = e->d_name;
      if (name != "." && name != "..") children.push_back(name);
    }
    ::closedir(d);
    for (const std::string& c : children) {
      if (auto s = RemoveTree(path + "/" + c); !s.ok()) return s;
    }
    if (::rmdir(path.c_str()) != 0) return Errno("rmdir", path);
    return absl::OkStatus();
  }
  if (::unlink(path.c_str()) != 0) return Errno("unlink", path);
  return absl::OkStatus();
}

absl::StatusOr<std::string> ReadLink(const std::string& path) {
  char buf[4096];
  const ssize_t n = ::readlink(path.c_str(), buf, sizeof(buf) - 1);
  if (n < 0) return Errno("readlink", path);
  return std::string(buf, n);
}

// Whether `path` holds exactly `content` (constant-time compare).
bool FileEquals(const std::string& path, const crypto::SecretBytes& content) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  std::vector<uint8_t> buf(content.size() + 1);
  size_t got = 0;
  while (got < buf.size()) {
    const ssize_t n = ::read(fd, buf.data() + got, buf.size() - got);
    if (n <= 0) break;
    got += n;
  }
  ::close(fd);
  const bool equal = got == content.size() &&
                     content.Equals(absl::MakeConstSpan(buf.data(), got));
  OPENSSL_cleanse(buf.data(), buf.size());
  return equal;
}

absl::Status WriteFile(const std::string& path,
                       const crypto::SecretBytes& content, mode_t mode) {
  // Created owner-only, then given its mode: never readable by others
  // while the content is being written.
  const int fd =
      ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) return Errno("create", path);
  size_t done = 0;
  while (done < content.size()) {
    const ssize_t n = ::write(fd, content.data() + done, content.size() - done);
    if (n < 0) {
      const absl::Status s = Errno("write", path);
      ::close(fd);
      return s;
    }
    done += n;
  }
  if (::fchmod(fd, mode) != 0) {
    const absl::Status s = Errno("chmod", path);
    ::close(fd);
    return s;
  }
  if (::close(fd) != 0) return Errno("close", path);
  return absl::OkStatus();
}

absl::Status ValidateName(const std::string& name) {
  if (name.empty() || absl::StartsWith(name, "..") ||
      absl::StrContains(name, "/") || name == ".") {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid volume file name \"", name, "\""));
  }
  return absl::OkStatus();
}

}  // namespace

ProjectedVolumeWriter::ProjectedVolumeWriter(std::string dir)
    : ProjectedVolumeWriter(std::move(dir), Options()) {}

ProjectedVolumeWriter::ProjectedVolumeWriter(std::string dir, Options options)
    : dir_(std::move(dir)), options_(std::move(options)) {}

std::string ProjectedVolumeWriter::CurrentDataDir() const {
  auto target = ReadLink(dir_ + "/" + kDataDirName);
  return target.ok() ? *target : "";
}

absl::Status ProjectedVolumeWriter::Clear() {
  DIR* d = ::opendir(dir_.c_str());
  if (d == nullptr) {
    return errno == ENOENT ? absl::OkStatus() : Errno("opendir", dir_);
  }
  std::vector<std::string> children;
  while (struct dirent* e = ::readdir(d)) {
    const std::string name = e->d_name;
    if (name != "." && name != "..") children.push_back(name);
  }
  ::closedir(d);
  for (const std::string& c : children) {
    if (auto s = RemoveTree(dir_ + "/" + c); !s.ok()) return s;
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> ProjectedVolumeWriter::NewTimestampDir() const {
  const auto now = options_.wall_clock ? options_.wall_clock()
                                       : std::chrono::system_clock::now();
  const time_t t = std::chrono::system_clock::to_time_t(now);
  struct tm tm;
  gmtime_r(&t, &tm);
  const std::string prefix = absl::StrFormat(
      "..%04d_%02d_%02d_%02d_%02d_%02d.", tm.tm_year + 1900, tm.tm_mon + 1,
      tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
  // os.MkdirTemp: the prefix plus a random decimal number, retried on EEXIST.
  std::random_device random;
  for (int attempt = 0; attempt < 100; ++attempt) {
    const std::string name = absl::StrCat(prefix, random());
    const std::string path = dir_ + "/" + name;
    if (::mkdir(path.c_str(), 0700) == 0) {
      if (::chmod(path.c_str(), 0755) != 0) return Errno("chmod", path);
      return name;
    }
    if (errno != EEXIST) return Errno("mkdir", path);
  }
  return absl::InternalError(
      absl::StrCat("no free timestamped directory name in ", dir_));
}

absl::StatusOr<bool> ProjectedVolumeWriter::Write(
    const VolumePayload& payload) {
  for (const auto& [name, content] : payload) {
    if (auto s = ValidateName(name); !s.ok()) return s;
  }
  if (auto s = MakeDirs(dir_); !s.ok()) return s;

  // (1) What is there now: the old data dir and the user-visible names.
  const std::string old_data_dir = CurrentDataDir();
  std::set<std::string> visible;
  if (DIR* d = ::opendir(dir_.c_str())) {
    while (struct dirent* e = ::readdir(d)) {
      const std::string name = e->d_name;
      if (!absl::StartsWith(name, ".")) visible.insert(name);
    }
    ::closedir(d);
  }
  std::set<std::string> to_remove;
  for (const std::string& name : visible) {
    if (!payload.count(name)) to_remove.insert(name);
  }

  // (2) Unchanged payload: nothing to do.
  if (!old_data_dir.empty() && to_remove.empty()) {
    bool same = true;
    for (const auto& [name, content] : payload) {
      struct stat st;
      same = same && visible.count(name) &&
             ::lstat((dir_ + "/" + name).c_str(), &st) == 0 &&
             FileEquals(dir_ + "/" + old_data_dir + "/" + name, content);
    }
    // The old data dir must hold nothing else either.
    if (same) {
      size_t files = 0;
      if (DIR* d = ::opendir((dir_ + "/" + old_data_dir).c_str())) {
        while (struct dirent* e = ::readdir(d)) {
          const std::string name = e->d_name;
          if (name != "." && name != "..") ++files;
        }
        ::closedir(d);
      }
      if (files == payload.size()) return false;
    }
  }

  // (3) The new timestamped directory with the payload.
  auto ts_dir = NewTimestampDir();
  if (!ts_dir.ok()) return ts_dir.status();
  for (const auto& [name, content] : payload) {
    if (auto s = WriteFile(dir_ + "/" + *ts_dir + "/" + name, content,
                           options_.file_mode);
        !s.ok()) {
      (void)RemoveTree(dir_ + "/" + *ts_dir);
      return s;
    }
  }

  // (4) ..data_tmp -> ts dir, renamed over ..data: the atomic switch.
  const std::string tmp_link = dir_ + "/" + kDataDirTmpName;
  ::unlink(tmp_link.c_str());
  if (::symlink(ts_dir->c_str(), tmp_link.c_str()) != 0) {
    return Errno("symlink", tmp_link);
  }
  const std::string data_link = dir_ + "/" + kDataDirName;
  if (::rename(tmp_link.c_str(), data_link.c_str()) != 0) {
    return Errno("rename", tmp_link);
  }

  // (5) User-visible symlinks for new names; (6) removed names go.
  for (const auto& [name, content] : payload) {
    const std::string link = dir_ + "/" + name;
    struct stat st;
    if (::lstat(link.c_str(), &st) == 0) continue;
    const std::string target = absl::StrCat(kDataDirName, "/", name);
    if (::symlink(target.c_str(), link.c_str()) != 0) {
      return Errno("symlink", link);
    }
  }
  for (const std::string& name : to_remove) {
    if (auto s = RemoveTree(dir_ + "/" + name); !s.ok()) return s;
  }

  // (7) The old data.
  if (!old_data_dir.empty() && old_data_dir != *ts_dir) {
    if (auto s = RemoveTree(dir_ + "/" + old_data_dir); !s.ok()) return s;
  }
  return true;
}

}  // namespace kmesh::sim
