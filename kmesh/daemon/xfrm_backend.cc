#include "kmesh/daemon/xfrm_backend.h"

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "sim/kernel/sim_xfrm.h"

namespace kmesh::daemon {

absl::StatusOr<std::unique_ptr<XfrmKernel>> MakeXfrmBackend(
    const std::string& name) {
  if (name == "sim") return std::make_unique<sim::SimXfrm>();
  if (name == "linux") {
    return absl::UnimplementedError(
        "--xfrm-backend=linux: the netlink XFRM backend is not built into "
        "this daemon yet; use --xfrm-backend=sim (in-memory, programs "
        "nothing on the host)");
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "--xfrm-backend=", name, ": unknown backend (expected sim or linux)"));
}

}  // namespace kmesh::daemon
