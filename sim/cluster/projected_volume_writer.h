// ProjectedVolumeWriter: writes a Secret's data into a directory exactly the
// way kubelet's AtomicWriter (pkg/volume/util/atomic_writer.go) updates a
// secret volume, so the daemon's key-file watcher meets the same file-system
// events it meets in a real pod:
//   1. the payload goes into a fresh directory named after the UTC time,
//      "..2026_11_26_09_00_00.<random digits>" (os.MkdirTemp with the
//      prefix time.Now().UTC().Format("..2006_01_02_15_04_05.")), mode 0755,
//      files with the volume's defaultMode (Options::file_mode; the API
//      server defaults a secret volume's defaultMode to 0644);
//   2. a symlink "..data_tmp" -> that directory is created and renamed over
//      "..data" with rename(2), the one atomic step;
//   3. each user-visible name ("ipSec") is a symlink "..data/ipSec", created
//      if missing; names no longer in the payload are removed;
//   4. the previous timestamped directory is removed.
// Writing a payload equal to what is there changes nothing (no new directory,
// no events), as in kubelet. An empty payload (a deleted secret mounted with
// `optional: true`) leaves "..data" pointing at an empty directory and no
// user-visible files. Payload names must be plain relative names (no "..",
// no leading "..", no "/"); others are InvalidArgument, as kubelet refuses
// them. Not thread-safe: one writer per directory.
#ifndef SIM_CLUSTER_PROJECTED_VOLUME_WRITER_H_
#define SIM_CLUSTER_PROJECTED_VOLUME_WRITER_H_

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <map>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "kmesh/crypto/secret_bytes.h"

namespace kmesh::sim {

// File name -> content. Content is key material here: kept in SecretBytes.
using VolumePayload = std::map<std::string, crypto::SecretBytes>;

class ProjectedVolumeWriter {
 public:
  struct Options {
    // Wall clock for the timestamped directory names; system clock if unset.
    std::function<std::chrono::system_clock::time_point()> wall_clock;
    // The secret volume's defaultMode: the mode of every file written
    // (kubelet writes the file, then chmods it to this).
    mode_t file_mode = 0644;
  };

  // `dir` is the volume's mount point; it is created (with parents) if
  // missing.
  explicit ProjectedVolumeWriter(std::string dir);
  ProjectedVolumeWriter(std::string dir, Options options);

  // Makes `dir` show exactly `payload`. Returns whether anything changed.
  absl::StatusOr<bool> Write(const VolumePayload& payload);

  // Removes everything in the volume, as a reboot empties the tmpfs a
  // secret volume lives on. The directory itself stays.
  absl::Status Clear();

  // What "..data" points at now ("" when never written).
  std::string CurrentDataDir() const;
  const std::string& dir() const { return dir_; }

 private:
  absl::StatusOr<std::string> NewTimestampDir() const;

  const std::string dir_;
  const Options options_;
};

}  // namespace kmesh::sim

#endif  // SIM_CLUSTER_PROJECTED_VOLUME_WRITER_H_
