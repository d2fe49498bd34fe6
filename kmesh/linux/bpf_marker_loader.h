// BpfMarkerLoader: the Linux side of the eBPF markers. It opens and loads the
// two compiled marker objects (//bpf:encrypt_marker.bpf.o and
// //bpf:decrypt_marker.bpf.o) with libbpf, owns their maps (pinned under a
// bpffs directory when asked, so that a restarted daemon finds the same maps
// and entries), and attaches each program with tc on the ingress hook of named
// interfaces (clsact qdisc, direct action, a fixed handle and priority per
// program, so the loader only ever touches its own filters). Attach and detach
// are idempotent: attaching again replaces the filter, detaching what is not
// there (or from an interface that is gone) succeeds. It works in the calling
// thread's network namespace. Errors name the interface and the errno; a
// missing privilege says so ("BPF not permitted: run as root with
// CAP_BPF/CAP_NET_ADMIN").
#ifndef KMESH_LINUX_BPF_MARKER_LOADER_H_
#define KMESH_LINUX_BPF_MARKER_LOADER_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "kmesh/linux/bpf_marker_maps.h"

struct bpf_object;

namespace kmesh::linux_backend {

enum class MarkerProgram {
  kEncrypt,  // tc ingress on the host side of managed pods' veths.
  kDecrypt,  // tc ingress on the node interfaces that carry its addresses.
};

const char* MarkerProgramName(MarkerProgram program);

struct BpfMarkerLoaderOptions {
  // The compiled objects (bazel: //bpf:encrypt_marker.bpf.o and
  // //bpf:decrypt_marker.bpf.o).
  std::string encrypt_object_path;
  std::string decrypt_object_path;
  // When set, the maps are pinned in this directory (created if missing; it
  // must be on a bpf filesystem, e.g. /sys/fs/bpf/kmesh-ipsec), and maps
  // already pinned there are reused with their entries. Empty: the maps live
  // as long as the loader and the attached programs.
  std::string pin_directory;
};

// The tc filters the loader owns: ingress, this handle and priority.
inline constexpr uint32_t kMarkerTcPriority = 1;
inline constexpr uint32_t kEncryptMarkerTcHandle = 0xe0;
inline constexpr uint32_t kDecryptMarkerTcHandle = 0xd0;

// When the maps are pinned, the loaded encrypt program is pinned beside them
// under this name, so that kmesh-cni (kmesh/cni) can attach the very same
// program (with its maps) to a new pod's veth before the pod runs. A newer
// daemon replaces the pin atomically.
inline constexpr char kEncryptProgramPinName[] = "encrypt_marker_prog";

// The loader's tc filter for `program` on `interface`, with a program given
// by its fd (the loader's own, or one opened from a pin). Same semantics as
// the methods below.
absl::Status AttachMarkerFilter(MarkerProgram program, int program_fd,
                                const std::string& interface);
absl::Status DetachMarkerFilter(MarkerProgram program,
                                const std::string& interface);
absl::StatusOr<bool> IsMarkerFilterAttached(MarkerProgram program,
                                            int program_fd,
                                            const std::string& interface);

class BpfMarkerLoader {
 public:
  // Opens and loads both objects (the verifier runs here).
  static absl::StatusOr<std::unique_ptr<BpfMarkerLoader>> Load(
      const BpfMarkerLoaderOptions& options);

  // Closes the objects. Attached filters stay (they hold the programs), so a
  // daemon restart does not interrupt marking; call Detach to remove them.
  ~BpfMarkerLoader();

  BpfMarkerLoader(const BpfMarkerLoader&) = delete;
  BpfMarkerLoader& operator=(const BpfMarkerLoader&) = delete;

  // Attaches `program` to the tc ingress hook of `interface`, creating the
  // clsact qdisc when missing and replacing the loader's own filter if one is
  // there. NotFound when the interface does not exist.
  absl::Status Attach(MarkerProgram program, const std::string& interface);

  // Removes the loader's filter for `program` from `interface`; succeeds when
  // there is none or the interface is gone. The clsact qdisc is left in place
  // (other programs may use it).
  absl::Status Detach(MarkerProgram program, const std::string& interface);

  // Removes the maps' pins (and the pin directory when that leaves it
  // empty), for `kmesh-daemon uninstall`; the maps themselves go when the
  // last program using them is detached and the loader closed. Succeeds
  // when nothing is pinned.
  absl::Status Unpin();

  // Whether the loader's filter on `interface` runs this loader's `program`.
  absl::StatusOr<bool> IsAttached(MarkerProgram program,
                                  const std::string& interface);

  // The loaded program, for BPF_PROG_TEST_RUN and inspection.
  int program_fd(MarkerProgram program) const;

  // The maps of the loaded objects, as the daemon's MarkerMaps.
  BpfMarkerMaps& maps() { return *maps_; }

 private:
  BpfMarkerLoader(bpf_object* encrypt, bpf_object* decrypt, int encrypt_fd,
                  int decrypt_fd, std::unique_ptr<BpfMarkerMaps> maps,
                  std::string pin_directory);

  bpf_object* encrypt_object_;
  bpf_object* decrypt_object_;
  int encrypt_program_fd_;
  int decrypt_program_fd_;
  std::unique_ptr<BpfMarkerMaps> maps_;
  const std::string pin_directory_;
};

}  // namespace kmesh::linux_backend

#endif  // KMESH_LINUX_BPF_MARKER_LOADER_H_
