// XfrmBackend: chooses the XfrmKernel the daemon programs, by name
// (--xfrm-backend). "sim" is the in-memory simulated kernel (sim/kernel's
// SimXfrm): nothing reaches the host's XFRM tables, which is what the
// simulated cluster and a dry run want. "linux" (XFRM over netlink) arrives
// with the Linux backend; until then it is a clear error. This file is the
// only place in kmesh/ that links the simulator, and only until the netlink
// backend exists.
#ifndef KMESH_DAEMON_XFRM_BACKEND_H_
#define KMESH_DAEMON_XFRM_BACKEND_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "kmesh/kernel/xfrm.h"

namespace kmesh::daemon {

absl::StatusOr<std::unique_ptr<XfrmKernel>> MakeXfrmBackend(
    const std::string& name);

}  // namespace kmesh::daemon

#endif  // KMESH_DAEMON_XFRM_BACKEND_H_
