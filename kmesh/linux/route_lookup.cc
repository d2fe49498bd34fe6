#include "kmesh/linux/route_lookup.h"

#include <libmnl/libmnl.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "absl/strings/str_cat.h"

namespace kmesh::linux_backend {

absl::StatusOr<std::string> RouteInterfaceFor(const IpAddress& ip) {
  mnl_socket* nl = mnl_socket_open(NETLINK_ROUTE);
  if (nl == nullptr || mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0) {
    if (nl) mnl_socket_close(nl);
    return absl::InternalError(
        absl::StrCat("route lookup socket: ", std::strerror(errno)));
  }
  std::vector<uint8_t> buf(MNL_SOCKET_BUFFER_SIZE);
  nlmsghdr* nlh = mnl_nlmsg_put_header(buf.data());
  nlh->nlmsg_type = RTM_GETROUTE;
  nlh->nlmsg_flags = NLM_F_REQUEST;
  nlh->nlmsg_seq = 1;
  auto* rtm =
      static_cast<rtmsg*>(mnl_nlmsg_put_extra_header(nlh, sizeof(rtmsg)));
  rtm->rtm_family = ip.is_v4() ? AF_INET : AF_INET6;
  rtm->rtm_dst_len = ip.byte_length() * 8;
  mnl_attr_put(nlh, RTA_DST, ip.byte_length(), ip.bytes().data());
  uint32_t oif = 0;
  absl::Status status;
  if (mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) < 0) {
    status = absl::InternalError(
        absl::StrCat("route lookup: ", std::strerror(errno)));
  } else {
    const ssize_t n = mnl_socket_recvfrom(nl, buf.data(), buf.size());
    auto on_route = [](const nlmsghdr* msg, void* data) -> int {
      mnl_attr_parse(
          msg, sizeof(rtmsg),
          [](const nlattr* attr, void* out) -> int {
            if (mnl_attr_get_type(attr) == RTA_OIF) {
              *static_cast<uint32_t*>(out) = mnl_attr_get_u32(attr);
            }
            return MNL_CB_OK;
          },
          data);
      return MNL_CB_OK;
    };
    if (n < 0 || mnl_cb_run(buf.data(), n, 1, mnl_socket_get_portid(nl),
                            on_route, &oif) < 0) {
      status = absl::NotFoundError(absl::StrCat("no route to ", ip.ToString(),
                                                ": ", std::strerror(errno)));
    }
  }
  mnl_socket_close(nl);
  if (!status.ok()) return status;
  char name[IF_NAMESIZE];
  if (oif == 0 || if_indextoname(oif, name) == nullptr) {
    return absl::NotFoundError(
        absl::StrCat("no interface routes to ", ip.ToString()));
  }
  return std::string(name);
}

}  // namespace kmesh::linux_backend
