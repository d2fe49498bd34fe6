#include "kmesh/linux/linux_node_backends.h"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>
#include <set>

#include "absl/strings/str_cat.h"
#include "glog/logging.h"
#include "kmesh/kernel/refcounted_encrypt_attachment.h"
#include "kmesh/linux/bpf_filesystem.h"
#include "kmesh/linux/bpf_marker_loader.h"
#include "kmesh/linux/netlink_xfrm.h"
#include "kmesh/linux/route_lookup.h"

namespace kmesh::linux_backend {
namespace {

// The encrypt marker on the host interface each managed local pod is routed
// through: its own veth, or an interface several pods share (a bridge), which
// RefcountedEncryptAttachment keeps marked while any of them is managed.
class RouteInterfaceHooks : public InterfaceMarkerHooks {
 public:
  explicit RouteInterfaceHooks(BpfMarkerLoader* loader) : loader_(loader) {}

  absl::StatusOr<std::string> InterfaceOf(const LocalPod& pod) override {
    if (pod.ips.empty()) {
      return absl::NotFoundError(
          absl::StrCat("pod ", pod.ns, "/", pod.name, " has no IP"));
    }
    auto ifname = RouteInterfaceFor(pod.ips[0]);
    if (!ifname.ok()) return ifname.status();
    if (ifname->rfind("veth", 0) != 0 && ifname->rfind("cali", 0) != 0 &&
        ifname->rfind("lxc", 0) != 0) {
      // A bridge (cni0, docker0, ...) or an uplink: the marker there sees
      // every pod behind it (the targets map still decides what is marked).
      LOG(WARNING) << "pod " << pod.ns << "/" << pod.name << " is routed via "
                   << *ifname
                   << ", not a per-pod veth: the encrypt marker there is "
                      "shared by every pod behind it";
    }
    return ifname;
  }
  absl::Status AttachTo(const std::string& ifname) override {
    return loader_->Attach(MarkerProgram::kEncrypt, ifname);
  }
  absl::Status DetachFrom(const std::string& ifname) override {
    return loader_->Detach(MarkerProgram::kEncrypt, ifname);
  }

 private:
  BpfMarkerLoader* const loader_;
};

class LinuxNodeBackends : public NodeBackends {
 public:
  LinuxNodeBackends(std::unique_ptr<NetlinkXfrm> xfrm,
                    std::unique_ptr<BpfMarkerLoader> loader)
      : xfrm_(std::move(xfrm)),
        loader_(std::move(loader)),
        hooks_(loader_.get()),
        attachment_(&hooks_) {}

  XfrmKernel& xfrm() override { return *xfrm_; }
  MarkerMaps& marker_maps() override { return loader_->maps(); }
  EncryptMarkerAttachment& encrypt_marker_attachment() override {
    return attachment_;
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

  absl::Status DetachEncryptMarkerEverywhere() override {
    return DetachEverywhere(MarkerProgram::kEncrypt);
  }

  absl::Status RemoveMarkers() override {
    if (absl::Status s = DetachEverywhere(MarkerProgram::kDecrypt); !s.ok()) {
      return s;
    }
    return loader_->Unpin();
  }

 private:
  // Removes the loader's filter for `program` from every interface (only
  // its own handle and priority: other tc programs stay).
  absl::Status DetachEverywhere(MarkerProgram program) {
    struct if_nameindex* names = ::if_nameindex();
    if (names == nullptr) {
      return absl::InternalError(
          absl::StrCat("list interfaces: ", std::strerror(errno)));
    }
    absl::Status first;
    for (struct if_nameindex* i = names; i->if_index != 0; ++i) {
      absl::Status s = loader_->Detach(program, i->if_name);
      if (!s.ok() && first.ok()) first = s;
    }
    if_freenameindex(names);
    return first;
  }

  std::unique_ptr<NetlinkXfrm> xfrm_;
  std::unique_ptr<BpfMarkerLoader> loader_;
  RouteInterfaceHooks hooks_;
  RefcountedEncryptAttachment attachment_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<NodeBackends>> MakeLinuxNodeBackends(
    const LinuxNodeBackendsOptions& config) {
  // A fresh host may have no bpf filesystem: mount one, as start_kmesh.sh
  // does in Kmesh. (An empty --bpf-pin-dir pins nothing.)
  if (!config.bpf_pin_dir.empty()) {
    absl::StatusOr<BpfFilesystem> bpffs =
        EnsureBpfFilesystem(config.bpf_pin_dir);
    if (!bpffs.ok()) return bpffs.status();
    if (bpffs->mounted_now) {
      LOG(INFO) << "mounted a bpf filesystem at " << bpffs->mount_point
                << " (there was none); in a container the pinned maps "
                   "outlive a restart only if this is the host's directory, "
                   "mounted with mountPropagation: Bidirectional";
    }
  }
  auto xfrm = NetlinkXfrm::Open();
  if (!xfrm.ok()) return xfrm.status();
  BpfMarkerLoaderOptions options;
  options.encrypt_object_path = config.bpf_object_dir + "/encrypt_marker.bpf.o";
  options.decrypt_object_path = config.bpf_object_dir + "/decrypt_marker.bpf.o";
  options.pin_directory = config.bpf_pin_dir;
  auto loader = BpfMarkerLoader::Load(options);
  if (!loader.ok()) return loader.status();
  return std::unique_ptr<NodeBackends>(
      new LinuxNodeBackends(*std::move(xfrm), *std::move(loader)));
}

}  // namespace kmesh::linux_backend
