#include "kmesh/daemon/linux_node_backends.h"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <libmnl/libmnl.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>
#include <set>

#include "absl/strings/str_cat.h"
#include "glog/logging.h"
#include "kmesh/linux/bpf_filesystem.h"
#include "kmesh/linux/bpf_marker_loader.h"
#include "kmesh/linux/netlink_xfrm.h"

namespace kmesh::daemon {
namespace {

using linux_backend::BpfMarkerLoader;
using linux_backend::MarkerProgram;

// The encrypt marker on each managed local pod's host-side veth.
class VethEncryptAttachment : public workload::EncryptMarkerAttachment {
 public:
  explicit VethEncryptAttachment(BpfMarkerLoader* loader) : loader_(loader) {}

  absl::Status Attach(const workload::LocalPod& pod) override {
    auto ifname = Interface(pod);
    if (!ifname.ok()) return ifname.status();
    return loader_->Attach(MarkerProgram::kEncrypt, *ifname);
  }
  absl::Status Detach(const workload::LocalPod& pod) override {
    auto ifname = Interface(pod);
    if (!ifname.ok()) {
      // The pod and its veth are gone: nothing is attached any more.
      return absl::IsNotFound(ifname.status()) ? absl::OkStatus()
                                               : ifname.status();
    }
    return loader_->Detach(MarkerProgram::kEncrypt, *ifname);
  }

 private:
  absl::StatusOr<std::string> Interface(const workload::LocalPod& pod) {
    if (pod.ips.empty()) {
      return absl::NotFoundError(
          absl::StrCat("pod ", pod.ns, "/", pod.name, " has no IP"));
    }
    auto ifname = RouteInterfaceFor(pod.ips[0]);
    if (!ifname.ok()) return ifname.status();
    if (ifname->rfind("veth", 0) != 0 && ifname->rfind("cali", 0) != 0 &&
        ifname->rfind("lxc", 0) != 0) {
      // A bridge (cni0, docker0, ...) or an uplink: attaching there would
      // mark other pods' traffic too.
      LOG(WARNING) << "pod " << pod.ns << "/" << pod.name << " is routed via "
                   << *ifname << ", not a per-pod veth";
    }
    return ifname;
  }
  BpfMarkerLoader* const loader_;
};

class LinuxNodeBackends : public NodeBackends {
 public:
  LinuxNodeBackends(std::unique_ptr<linux_backend::NetlinkXfrm> xfrm,
                    std::unique_ptr<BpfMarkerLoader> loader)
      : xfrm_(std::move(xfrm)),
        loader_(std::move(loader)),
        attachment_(loader_.get()) {}

  XfrmKernel* xfrm() override { return xfrm_.get(); }
  MarkerMaps* markers() override { return &loader_->maps(); }
  workload::EncryptMarkerAttachment* encrypt_attachment() override {
    return &attachment_;
  }

  absl::Status SetDecryptMarker(
      bool attach, const std::vector<IpAddress>& node_addresses) override {
    std::set<std::string> interfaces;
    ifaddrs* list = nullptr;
    if (getifaddrs(&list) != 0) {
      return absl::InternalError(
          absl::StrCat("getifaddrs: ", std::strerror(errno)));
    }
    for (ifaddrs* i = list; i != nullptr; i = i->ifa_next) {
      if (i->ifa_addr == nullptr) continue;
      const int family = i->ifa_addr->sa_family;
      IpAddress a;
      if (family == AF_INET) {
        a = IpAddress::FromBytes(
            IpFamily::kV4,
            reinterpret_cast<const uint8_t*>(
                &reinterpret_cast<sockaddr_in*>(i->ifa_addr)->sin_addr));
      } else if (family == AF_INET6) {
        a = IpAddress::FromBytes(
            IpFamily::kV6,
            reinterpret_cast<const uint8_t*>(
                &reinterpret_cast<sockaddr_in6*>(i->ifa_addr)->sin6_addr));
      } else {
        continue;
      }
      for (const IpAddress& n : node_addresses) {
        if (n == a) interfaces.insert(i->ifa_name);
      }
    }
    freeifaddrs(list);
    if (attach && interfaces.empty()) {
      return absl::NotFoundError(
          "no interface carries any of this node's InternalIP addresses");
    }
    absl::Status first;
    for (const std::string& ifname : interfaces) {
      absl::Status s = attach
                           ? loader_->Attach(MarkerProgram::kDecrypt, ifname)
                           : loader_->Detach(MarkerProgram::kDecrypt, ifname);
      if (!s.ok() && first.ok()) first = s;
      if (s.ok()) {
        LOG(INFO) << (attach ? "attached" : "detached")
                  << " the decrypt marker on " << ifname;
      }
    }
    return first;
  }

 private:
  std::unique_ptr<linux_backend::NetlinkXfrm> xfrm_;
  std::unique_ptr<BpfMarkerLoader> loader_;
  VethEncryptAttachment attachment_;
};

}  // namespace

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

absl::StatusOr<std::unique_ptr<NodeBackends>> MakeLinuxNodeBackends(
    const DaemonConfig& config) {
  // A fresh host may have no bpf filesystem: mount one, as start_kmesh.sh
  // does in Kmesh. (An empty --bpf-pin-dir pins nothing.)
  if (!config.bpf_pin_dir.empty()) {
    absl::StatusOr<linux_backend::BpfFilesystem> bpffs =
        linux_backend::EnsureBpfFilesystem(config.bpf_pin_dir);
    if (!bpffs.ok()) return bpffs.status();
    if (bpffs->mounted_now) {
      LOG(INFO) << "mounted a bpf filesystem at " << bpffs->mount_point
                << " (there was none); in a container the pinned maps "
                   "outlive a restart only if this is the host's directory, "
                   "mounted with mountPropagation: Bidirectional";
    }
  }
  auto xfrm = linux_backend::NetlinkXfrm::Open();
  if (!xfrm.ok()) return xfrm.status();
  linux_backend::BpfMarkerLoaderOptions options;
  options.encrypt_object_path = config.bpf_object_dir + "/encrypt_marker.bpf.o";
  options.decrypt_object_path = config.bpf_object_dir + "/decrypt_marker.bpf.o";
  options.pin_directory = config.bpf_pin_dir;
  auto loader = BpfMarkerLoader::Load(options);
  if (!loader.ok()) return loader.status();
  return std::unique_ptr<NodeBackends>(
      new LinuxNodeBackends(*std::move(xfrm), *std::move(loader)));
}

}  // namespace kmesh::daemon
