// Reading the kernel's XFRM MIB: /proc/net/xfrm_stat (net/xfrm/xfrm_proc.c),
// one "<name><spaces>\t<value>" line per counter, in the kernel's order. The
// file exists only in kernels built with CONFIG_XFRM_STATISTICS; without it,
// reading is a NotFound KernelError that names the file and the missing
// option. /proc/net is /proc/self/net, so it shows the network namespace of
// the process (its main thread), which for the daemon is the node's. A line
// that is not a name and an unsigned decimal value is an InvalidArgument
// error that quotes the line. Pure except for the one read.
#ifndef KMESH_LINUX_XFRM_STAT_FILE_H_
#define KMESH_LINUX_XFRM_STAT_FILE_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "kmesh/kernel/xfrm.h"

namespace kmesh::linux_backend {

inline constexpr char kXfrmStatPath[] = "/proc/net/xfrm_stat";

// Parses the text of an xfrm_stat file; `path` names it in errors. Every
// non-blank line must be a counter; a file without any is an error too.
absl::StatusOr<XfrmStats> ParseXfrmStat(absl::string_view text,
                                        absl::string_view path);

// Reads and parses the xfrm_stat file at `path`.
absl::StatusOr<XfrmStats> ReadXfrmStatFile(const std::string& path);

}  // namespace kmesh::linux_backend

#endif  // KMESH_LINUX_XFRM_STAT_FILE_H_
