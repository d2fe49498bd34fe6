#include "kmesh/linux/bpf_marker_loader.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/magic.h>
#include <net/if.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <mutex>

#include "absl/strings/str_cat.h"
#include "glog/logging.h"
#include "kmesh/linux/bpf_errors.h"

namespace kmesh::linux_backend {
namespace {

constexpr char kEncryptProgramName[] = "kmesh_encrypt_marker";
constexpr char kDecryptProgramName[] = "kmesh_decrypt_marker";

// libbpf's diagnostics (verifier log, pinning problems) go to the daemon log.
// The netlink extended acks of tc calls ("Kernel error message: ...") are
// expected on idempotent attach/detach (clsact already there, no filter to
// remove) and the returned Status carries the errno, so they go to VLOG(1).
int LogLibbpf(enum libbpf_print_level level, const char* format, va_list args) {
  if (level == LIBBPF_DEBUG) return 0;
  char line[4096];
  const int n = std::vsnprintf(line, sizeof(line), format, args);
  std::string text(line);
  while (!text.empty() && text.back() == '\n') text.pop_back();
  if (text.find("Kernel error message:") != std::string::npos) {
    VLOG(1) << text;
  } else if (level == LIBBPF_WARN) {
    LOG(WARNING) << text;
  } else {
    LOG(INFO) << text;
  }
  return n;
}

void RouteLibbpfLogsOnce() {
  static std::once_flag once;
  std::call_once(once, [] { libbpf_set_print(LogLibbpf); });
}

// mkdir -p for a directory that must end up on a bpf filesystem.
absl::Status PreparePinDirectory(const std::string& directory) {
  for (size_t slash = 1; slash != std::string::npos;) {
    slash = directory.find('/', slash + 1);
    const std::string prefix = directory.substr(0, slash);
    if (mkdir(prefix.c_str(), 0700) != 0 && errno != EEXIST) {
      return BpfErrnoStatus(errno,
                            absl::StrCat("create pin directory ", prefix));
    }
  }
  struct statfs fs;
  if (statfs(directory.c_str(), &fs) != 0) {
    return BpfErrnoStatus(errno, absl::StrCat("statfs ", directory));
  }
  if (static_cast<unsigned long>(fs.f_type) != BPF_FS_MAGIC) {
    return absl::FailedPreconditionError(absl::StrCat(
        "pin directory ", directory,
        " is not on a bpf filesystem (mount -t bpf bpf /sys/fs/bpf)"));
  }
  return absl::OkStatus();
}

struct LoadedObject {
  bpf_object* object = nullptr;
  int program_fd = -1;
};

// Opens and loads one marker object; its maps are pinned in `pin_directory`
// when that is set (reusing maps already pinned there).
absl::StatusOr<LoadedObject> LoadObject(const std::string& path,
                                        const char* program_name,
                                        const std::string& pin_directory) {
  bpf_object* object = bpf_object__open_file(path.c_str(), nullptr);
  if (object == nullptr) {
    return BpfErrnoStatus(errno, absl::StrCat("open BPF object ", path));
  }
  if (!pin_directory.empty()) {
    bpf_map* map;
    bpf_object__for_each_map(map, object) {
      const std::string pin_path =
          absl::StrCat(pin_directory, "/", bpf_map__name(map));
      if (int err = bpf_map__set_pin_path(map, pin_path.c_str()); err != 0) {
        bpf_object__close(object);
        return BpfErrnoStatus(err, absl::StrCat("pin ", pin_path));
      }
    }
  }
  if (int err = bpf_object__load(object); err != 0) {
    bpf_object__close(object);
    absl::Status status = BpfErrnoStatus(
        err, absl::StrCat(
                 "load BPF object ", path,
                 pin_directory.empty()
                     ? ""
                     : absl::StrCat(" (maps pinned in ", pin_directory, ")")));
    if (err == -EPERM) return status;
    return absl::Status(
        status.code(),
        absl::StrCat(status.message(), "; libbpf's log has the details"));
  }
  bpf_program* program = bpf_object__find_program_by_name(object, program_name);
  if (program == nullptr) {
    bpf_object__close(object);
    return absl::InvalidArgumentError(
        absl::StrCat("BPF object ", path, " has no program ", program_name));
  }
  return LoadedObject{object, bpf_program__fd(program)};
}

// Pins `program_fd` as `directory`/`name`, replacing an older pin in one
// step (pinned under a temporary name, then renamed over it), so that a
// reader of the pin always finds a program.
absl::Status PinProgram(int program_fd, const std::string& directory,
                        const char* name) {
  const std::string path = absl::StrCat(directory, "/", name);
  // (bpffs refuses names with a dot.)
  const std::string staging = absl::StrCat(path, "_new");
  unlink(staging.c_str());
  if (bpf_obj_pin(program_fd, staging.c_str()) != 0) {
    return BpfErrnoStatus(errno, absl::StrCat("pin program ", staging));
  }
  if (rename(staging.c_str(), path.c_str()) != 0) {
    const int err = errno;
    unlink(staging.c_str());
    return BpfErrnoStatus(err, absl::StrCat("pin program ", path));
  }
  return absl::OkStatus();
}

int MapFd(bpf_object* object, const char* name) {
  bpf_map* map = bpf_object__find_map_by_name(object, name);
  return map == nullptr ? -1 : bpf_map__fd(map);
}

uint32_t HandleOf(MarkerProgram program) {
  return program == MarkerProgram::kEncrypt ? kEncryptMarkerTcHandle
                                            : kDecryptMarkerTcHandle;
}

bpf_tc_hook IngressHook(int ifindex) {
  bpf_tc_hook hook;
  std::memset(&hook, 0, sizeof(hook));
  hook.sz = sizeof(hook);
  hook.ifindex = ifindex;
  hook.attach_point = BPF_TC_INGRESS;
  return hook;
}

bpf_tc_opts FilterOpts(MarkerProgram program) {
  bpf_tc_opts opts;
  std::memset(&opts, 0, sizeof(opts));
  opts.sz = sizeof(opts);
  opts.handle = HandleOf(program);
  opts.priority = kMarkerTcPriority;
  return opts;
}

// "attach encrypt marker to eth0 (ifindex 2)".
std::string Subject(const char* action, MarkerProgram program,
                    const char* preposition, const std::string& interface,
                    int ifindex) {
  return absl::StrCat(
      action, " ", MarkerProgramName(program), " marker ", preposition, " ",
      interface, ifindex > 0 ? absl::StrCat(" (ifindex ", ifindex, ")") : "");
}

}  // namespace

const char* MarkerProgramName(MarkerProgram program) {
  return program == MarkerProgram::kEncrypt ? "encrypt" : "decrypt";
}

absl::StatusOr<std::unique_ptr<BpfMarkerLoader>> BpfMarkerLoader::Load(
    const BpfMarkerLoaderOptions& options) {
  RouteLibbpfLogsOnce();
  if (!options.pin_directory.empty()) {
    if (absl::Status s = PreparePinDirectory(options.pin_directory); !s.ok()) {
      return s;
    }
  }
  absl::StatusOr<LoadedObject> encrypt = LoadObject(
      options.encrypt_object_path, kEncryptProgramName, options.pin_directory);
  if (!encrypt.ok()) return encrypt.status();
  absl::StatusOr<LoadedObject> decrypt = LoadObject(
      options.decrypt_object_path, kDecryptProgramName, options.pin_directory);
  if (!decrypt.ok()) {
    bpf_object__close(encrypt->object);
    return decrypt.status();
  }
  MarkerMapFds fds;
  fds.peers = MapFd(decrypt->object, kPeerMapName);
  fds.peer_index = MapFd(decrypt->object, kPeerIndexMapName);
  fds.peer_index6 = MapFd(decrypt->object, kPeerIndex6MapName);
  fds.unmanaged = MapFd(encrypt->object, kUnmanagedMapName);
  fds.unmanaged_index = MapFd(encrypt->object, kUnmanagedIndexMapName);
  fds.unmanaged_index6 = MapFd(encrypt->object, kUnmanagedIndex6MapName);
  fds.encrypt_cidrs = MapFd(encrypt->object, kEncryptCidrMapName);
  fds.encrypt_cidr_index = MapFd(encrypt->object, kEncryptCidrIndexMapName);
  fds.encrypt_cidr_index6 = MapFd(encrypt->object, kEncryptCidrIndex6MapName);
  fds.cidr_lengths = MapFd(encrypt->object, kCidrLengthsMapName);
  if (!options.pin_directory.empty()) {
    if (absl::Status s = PinProgram(encrypt->program_fd, options.pin_directory,
                                    kEncryptProgramPinName);
        !s.ok()) {
      bpf_object__close(encrypt->object);
      bpf_object__close(decrypt->object);
      return s;
    }
  }
  absl::StatusOr<std::unique_ptr<BpfMarkerMaps>> maps =
      BpfMarkerMaps::FromFds(fds);
  if (!maps.ok()) {
    bpf_object__close(encrypt->object);
    bpf_object__close(decrypt->object);
    return maps.status();
  }
  return std::unique_ptr<BpfMarkerLoader>(new BpfMarkerLoader(
      encrypt->object, decrypt->object, encrypt->program_fd,
      decrypt->program_fd, *std::move(maps), options.pin_directory));
}

BpfMarkerLoader::BpfMarkerLoader(bpf_object* encrypt, bpf_object* decrypt,
                                 int encrypt_fd, int decrypt_fd,
                                 std::unique_ptr<BpfMarkerMaps> maps,
                                 std::string pin_directory)
    : encrypt_object_(encrypt),
      decrypt_object_(decrypt),
      encrypt_program_fd_(encrypt_fd),
      decrypt_program_fd_(decrypt_fd),
      maps_(std::move(maps)),
      pin_directory_(std::move(pin_directory)) {}

BpfMarkerLoader::~BpfMarkerLoader() {
  maps_.reset();
  bpf_object__close(encrypt_object_);
  bpf_object__close(decrypt_object_);
}

int BpfMarkerLoader::program_fd(MarkerProgram program) const {
  return program == MarkerProgram::kEncrypt ? encrypt_program_fd_
                                            : decrypt_program_fd_;
}

absl::Status AttachMarkerFilter(MarkerProgram program, int program_fd,
                                const std::string& interface) {
  const int ifindex = static_cast<int>(if_nametoindex(interface.c_str()));
  if (ifindex == 0) {
    return BpfErrnoStatus(errno,
                          Subject("attach", program, "to", interface, 0));
  }
  bpf_tc_hook hook = IngressHook(ifindex);
  // EEXIST: the interface already has a clsact qdisc (ours or another's).
  if (int err = bpf_tc_hook_create(&hook); err != 0 && err != -EEXIST) {
    return BpfErrnoStatus(
        err, absl::StrCat(Subject("attach", program, "to", interface, ifindex),
                          ": create clsact qdisc"));
  }
  bpf_tc_opts opts = FilterOpts(program);
  opts.prog_fd = program_fd;
  opts.flags = BPF_TC_F_REPLACE;
  if (int err = bpf_tc_attach(&hook, &opts); err != 0) {
    return BpfErrnoStatus(err,
                          Subject("attach", program, "to", interface, ifindex));
  }
  return absl::OkStatus();
}

absl::Status DetachMarkerFilter(MarkerProgram program,
                                const std::string& interface) {
  const int ifindex = static_cast<int>(if_nametoindex(interface.c_str()));
  if (ifindex == 0) {
    // The interface is gone, and its filters with it.
    if (errno == ENODEV || errno == ENXIO) return absl::OkStatus();
    return BpfErrnoStatus(errno,
                          Subject("detach", program, "from", interface, 0));
  }
  bpf_tc_hook hook = IngressHook(ifindex);
  bpf_tc_opts opts = FilterOpts(program);
  const int err = bpf_tc_detach(&hook, &opts);
  // ENOENT: no such filter; EINVAL: no clsact qdisc at all.
  if (err == 0 || err == -ENOENT || err == -EINVAL) return absl::OkStatus();
  return BpfErrnoStatus(err,
                        Subject("detach", program, "from", interface, ifindex));
}

absl::Status BpfMarkerLoader::Unpin() {
  if (pin_directory_.empty()) return absl::OkStatus();
  for (bpf_object* object : {encrypt_object_, decrypt_object_}) {
    bpf_map* map;
    bpf_object__for_each_map(map, object) {
      const char* path = bpf_map__pin_path(map);
      if (path == nullptr) continue;
      if (unlink(path) != 0 && errno != ENOENT) {
        return BpfErrnoStatus(errno, absl::StrCat("unpin ", path));
      }
    }
  }
  // The program pinned for kmesh-cni (see kEncryptProgramPinName).
  const std::string program_pin =
      absl::StrCat(pin_directory_, "/", kEncryptProgramPinName);
  if (unlink(program_pin.c_str()) != 0 && errno != ENOENT) {
    return BpfErrnoStatus(errno, absl::StrCat("unpin ", program_pin));
  }
  // Only the product's own pins were removed: anything else stays, and so
  // does the directory then.
  if (rmdir(pin_directory_.c_str()) != 0 && errno != ENOENT &&
      errno != ENOTEMPTY && errno != EEXIST) {
    return BpfErrnoStatus(errno, absl::StrCat("remove ", pin_directory_));
  }
  return absl::OkStatus();
}

absl::StatusOr<bool> IsMarkerFilterAttached(MarkerProgram program,
                                            int program_fd,
                                            const std::string& interface) {
  const int ifindex = static_cast<int>(if_nametoindex(interface.c_str()));
  if (ifindex == 0) {
    return BpfErrnoStatus(errno, Subject("query", program, "on", interface, 0));
  }
  bpf_tc_hook hook = IngressHook(ifindex);
  bpf_tc_opts opts = FilterOpts(program);
  const int err = bpf_tc_query(&hook, &opts);
  if (err == -ENOENT || err == -EINVAL) return false;
  if (err != 0) {
    return BpfErrnoStatus(err,
                          Subject("query", program, "on", interface, ifindex));
  }
  bpf_prog_info info;
  std::memset(&info, 0, sizeof(info));
  uint32_t length = sizeof(info);
  if (bpf_obj_get_info_by_fd(program_fd, &info, &length) != 0) {
    return BpfErrnoStatus(errno, "inspect marker program");
  }
  return opts.prog_id == info.id;
}

absl::Status BpfMarkerLoader::Attach(MarkerProgram program,
                                     const std::string& interface) {
  return AttachMarkerFilter(program, program_fd(program), interface);
}

absl::Status BpfMarkerLoader::Detach(MarkerProgram program,
                                     const std::string& interface) {
  return DetachMarkerFilter(program, interface);
}

absl::StatusOr<bool> BpfMarkerLoader::IsAttached(MarkerProgram program,
                                                 const std::string& interface) {
  return IsMarkerFilterAttached(program, program_fd(program), interface);
}

}  // namespace kmesh::linux_backend
