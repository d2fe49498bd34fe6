// RouteInterfaceFor: the interface the host routes an address through, as
// `ip route get` tells it (RTM_GETROUTE over rtnetlink, in the calling
// thread's network namespace). On a node the route to a local pod's IP leads
// to the host side of that pod's veth, which is where the encrypt marker is
// attached.
#ifndef KMESH_LINUX_ROUTE_LOOKUP_H_
#define KMESH_LINUX_ROUTE_LOOKUP_H_

#include <string>

#include "absl/status/statusor.h"
#include "kmesh/base/ip_address.h"

namespace kmesh::linux_backend {

// The name of the output interface for `ip`; NotFound when there is no route.
absl::StatusOr<std::string> RouteInterfaceFor(const IpAddress& ip);

}  // namespace kmesh::linux_backend

#endif  // KMESH_LINUX_ROUTE_LOOKUP_H_
