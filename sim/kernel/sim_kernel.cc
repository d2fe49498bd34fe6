#include "sim/kernel/sim_kernel.h"

#include <algorithm>
#include <cerrno>

#include "absl/strings/str_cat.h"
#include "kmesh/kernel/kernel_error.h"
#include "sim/kernel/marker_decision_host.h"
#include "sim/net/icmp_too_big.h"
#include "sim/net/ip_packet.h"

namespace kmesh::sim {

const char* PacketFateName(PacketFate fate) {
  switch (fate) {
    case PacketFate::kDelivered:
      return "delivered";
    case PacketFate::kTransmitted:
      return "transmitted";
    case PacketFate::kNoRoute:
      return "no route";
    case PacketFate::kMalformed:
      return "malformed";
    case PacketFate::kXfrmOutPolBlock:
      return "XfrmOutPolBlock";
    case PacketFate::kXfrmOutNoStates:
      return "XfrmOutNoStates";
    case PacketFate::kXfrmOutPolError:
      return "XfrmOutPolError";
    case PacketFate::kXfrmOutStateSeqError:
      return "XfrmOutStateSeqError";
    case PacketFate::kXfrmOutStateInvalid:
      return "XfrmOutStateInvalid";
    case PacketFate::kXfrmInNoStates:
      return "XfrmInNoStates";
    case PacketFate::kXfrmInStateSeqError:
      return "XfrmInStateSeqError";
    case PacketFate::kXfrmInStateProtoError:
      return "XfrmInStateProtoError";
    case PacketFate::kXfrmInStateMismatch:
      return "XfrmInStateMismatch";
    case PacketFate::kXfrmInTmplMismatch:
      return "XfrmInTmplMismatch";
    case PacketFate::kXfrmInNoPols:
      return "XfrmInNoPols";
    case PacketFate::kXfrmInPolBlock:
      return "XfrmInPolBlock";
    case PacketFate::kFragNeeded:
      return "FragNeeded";
    case PacketFate::kMessageTooLong:
      return "EMSGSIZE";
    case PacketFate::kFragmentQueued:
      return "FragmentQueued";
    case PacketFate::kTtlExceeded:
      return "TtlExceeded";
  }
  return "?";
}

SimKernel::SimKernel(std::string node_name, uint32_t ifindex_base)
    : node_name_(std::move(node_name)),
      eth0_ifindex_(ifindex_base),
      next_ifindex_(ifindex_base + 1) {}

void SimKernel::AddNodeAddress(const IpAddress& address) {
  absl::MutexLock lock(&mu_);
  node_addresses_.push_back(address);
}

std::vector<IpAddress> SimKernel::node_addresses() const {
  absl::MutexLock lock(&mu_);
  return node_addresses_;
}

void SimKernel::SetUplink(Uplink uplink) {
  absl::MutexLock lock(&mu_);
  uplink_ = std::move(uplink);
}

void SimKernel::AddPod(const std::string& pod, const IpAddress& ip,
                       PodReceiver receiver) {
  absl::MutexLock lock(&mu_);
  Pod& p = pods_[ip];
  p.name = pod;
  p.ifname = "veth-" + pod;
  p.ifindex = next_ifindex_++;
  p.receiver = std::move(receiver);
}

void SimKernel::RemovePod(const IpAddress& ip) {
  absl::MutexLock lock(&mu_);
  pods_.erase(ip);
}

void SimKernel::SetRoute(const IpPrefix& prefix, const IpAddress& via) {
  absl::MutexLock lock(&mu_);
  routes_[prefix.length()][prefix.address()] = via;
}

void SimKernel::RemoveRoute(const IpPrefix& prefix) {
  absl::MutexLock lock(&mu_);
  auto bucket = routes_.find(prefix.length());
  if (bucket == routes_.end()) return;
  bucket->second.erase(prefix.address());
  if (bucket->second.empty()) routes_.erase(bucket);
}

void SimKernel::SetUplinkMtu(size_t mtu) {
  absl::MutexLock lock(&mu_);
  uplink_mtu_ = mtu;
}

size_t SimKernel::uplink_mtu() const {
  absl::MutexLock lock(&mu_);
  return uplink_mtu_;
}

void SimKernel::SetPodMtu(const IpAddress& pod_ip, size_t mtu) {
  absl::MutexLock lock(&mu_);
  auto it = pods_.find(pod_ip);
  if (it != pods_.end()) it->second.mtu = mtu;
}

size_t SimKernel::PodPathMtu(const IpAddress& pod_ip,
                             const IpAddress& dst) const {
  absl::MutexLock lock(&mu_);
  auto pod = pods_.find(pod_ip);
  if (pod == pods_.end()) return 0;
  size_t mtu = pod->second.mtu;
  auto learnt = pod_pmtu_.find({pod_ip, dst});
  if (learnt != pod_pmtu_.end() &&
      std::chrono::steady_clock::now() - learnt->second.second < kPmtuExpiry) {
    mtu = std::min(mtu, learnt->second.first);
  }
  return mtu;
}

uint64_t SimKernel::SnmpCounter(const std::string& name) const {
  absl::MutexLock lock(&mu_);
  auto it = snmp_.find(name);
  return it == snmp_.end() ? 0 : it->second;
}

std::map<std::string, uint64_t> SimKernel::SnmpCounters() const {
  absl::MutexLock lock(&mu_);
  return snmp_;
}

void SimKernel::Count(const char* counter, uint64_t n) {
  absl::MutexLock lock(&mu_);
  snmp_[counter] += n;
}

void SimKernel::SetEncryptMarker(const IpAddress& pod_ip, bool attached) {
  absl::MutexLock lock(&mu_);
  auto it = pods_.find(pod_ip);
  if (it != pods_.end()) it->second.encrypt_marker = attached;
}

absl::Status SimKernel::SetInterfaceEncryptMarker(const std::string& ifname,
                                                  bool attached) {
  absl::MutexLock lock(&mu_);
  bool found = false;
  for (auto& [ip, p] : pods_) {
    if (p.ifname != ifname) continue;
    p.encrypt_marker = attached;
    found = true;
  }
  if (found || !attached) return absl::OkStatus();
  return KernelError(
      ENODEV, absl::StrCat("attach the encrypt marker to ", ifname, " on node ",
                           node_name_, ": no such interface"));
}

absl::StatusOr<bool> SimKernel::InterfaceEncryptMarker(
    const std::string& ifname) const {
  absl::MutexLock lock(&mu_);
  for (const auto& [ip, p] : pods_) {
    if (p.ifname == ifname) return p.encrypt_marker;
  }
  return KernelError(ENODEV, absl::StrCat("query ", ifname, " on node ",
                                          node_name_, ": no such interface"));
}

void SimKernel::SetDecryptMarker(bool attached) {
  absl::MutexLock lock(&mu_);
  decrypt_marker_ = attached;
}

absl::Status SimKernel::SetDecryptMarker(
    bool attach, const std::vector<IpAddress>& node_addresses) {
  bool carried = false;
  for (const IpAddress& a : node_addresses) carried |= IsNodeAddress(a);
  if (!carried) {
    if (!attach) return absl::OkStatus();  // Not attached anywhere.
    return absl::NotFoundError(
        absl::StrCat("no interface of node ", node_name_,
                     " carries any of this node's InternalIP addresses"));
  }
  SetDecryptMarker(attach);
  return absl::OkStatus();
}

absl::Status SimKernel::DetachEncryptMarkerEverywhere() {
  absl::MutexLock lock(&mu_);
  for (auto& [ip, pod] : pods_) pod.encrypt_marker = false;
  return absl::OkStatus();
}

absl::Status SimKernel::RemoveMarkers() {
  SetDecryptMarker(false);
  absl::Status status;
  auto peers = marker_maps_.DumpPeers();
  if (!peers.ok()) return peers.status();
  for (const PeerMarkerEntry& e : *peers) {
    status.Update(marker_maps_.DeletePeer(e.address));
  }
  auto cidrs = marker_maps_.DumpEncryptCidrs();
  if (!cidrs.ok()) return cidrs.status();
  for (const IpPrefix& cidr : *cidrs) {
    status.Update(marker_maps_.DeleteEncryptCidr(cidr));
  }
  auto unmanaged = marker_maps_.DumpUnmanagedPods();
  if (!unmanaged.ok()) return unmanaged.status();
  for (const IpAddress& ip : *unmanaged) {
    status.Update(marker_maps_.DeleteUnmanagedPod(ip));
  }
  return status;
}

bool SimKernel::AnyMarkerAttached() const {
  absl::MutexLock lock(&mu_);
  if (decrypt_marker_) return true;
  for (const auto& [ip, pod] : pods_) {
    if (pod.encrypt_marker) return true;
  }
  return false;
}

bool SimKernel::SetVethEncryptMarker(const LocalPod& pod, bool attached) {
  absl::MutexLock lock(&mu_);
  std::string ifname;
  for (const IpAddress& ip : pod.ips) {
    auto it = pods_.find(ip);
    if (it != pods_.end()) {
      ifname = it->second.ifname;
      break;
    }
  }
  if (ifname.empty()) return false;
  // The hook sits on the veth: every address behind it is covered.
  for (auto& [ip, p] : pods_) {
    if (p.ifname == ifname) p.encrypt_marker = attached;
  }
  return true;
}

void SimKernel::FailNextEncryptAttaches(int count) {
  failing_attaches_ = count;
}

absl::Status SimKernel::PodVethAttachment::Attach(const LocalPod& pod) {
  for (int n = kernel_->failing_attaches_.load(); n > 0;) {
    if (kernel_->failing_attaches_.compare_exchange_weak(n, n - 1)) {
      return KernelError(
          ENOMEM, absl::StrCat("attach the encrypt marker for pod ", pod.ns,
                               "/", pod.name, " (injected)"));
    }
  }
  if (kernel_->SetVethEncryptMarker(pod, true)) return absl::OkStatus();
  return KernelError(ENODEV, absl::StrCat("attach the encrypt marker for pod ",
                                          pod.ns, "/", pod.name, " on node ",
                                          kernel_->node_name(), ": no veth"));
}

absl::Status SimKernel::PodVethAttachment::Detach(const LocalPod& pod) {
  kernel_->SetVethEncryptMarker(pod, false);  // A gone veth is detached.
  return absl::OkStatus();
}

uint32_t SimKernel::RunEncryptHook(absl::Span<const uint8_t> packet,
                                   uint32_t mark) {
  return RunEncryptMarkerOnIpPacket(marker_maps_, packet, mark);
}

uint32_t SimKernel::RunDecryptHook(absl::Span<const uint8_t> packet,
                                   uint32_t mark) {
  return RunDecryptMarkerOnIpPacket(marker_maps_, packet, mark);
}

void SimKernel::SetCaptureSink(CaptureSink sink) {
  absl::MutexLock lock(&mu_);
  capture_sink_ = std::move(sink);
}

void SimKernel::Capture(const std::string& ifname, uint32_t ifindex,
                        PacketDirection direction,
                        absl::Span<const uint8_t> packet) {
  CaptureSink sink;
  {
    absl::MutexLock lock(&mu_);
    sink = capture_sink_;
  }
  if (!sink) return;
  CapturedPacket c;
  c.time = std::chrono::system_clock::now();
  c.interface = ifname;
  c.ifindex = ifindex;
  c.direction = direction;
  c.packet.assign(packet.begin(), packet.end());
  sink(c);
}

bool SimKernel::decrypt_marker() const {
  absl::MutexLock lock(&mu_);
  return decrypt_marker_;
}

bool SimKernel::IsNodeAddress(const IpAddress& a) const {
  absl::MutexLock lock(&mu_);
  return std::find(node_addresses_.begin(), node_addresses_.end(), a) !=
         node_addresses_.end();
}

std::optional<IpAddress> SimKernel::RouteVia(const IpAddress& dst) const {
  // Longest prefix first: one hash lookup per prefix length in the table (a
  // node of a 1,000-node cluster has 999 routes but two lengths).
  absl::MutexLock lock(&mu_);
  const int bits = dst.byte_length() * 8;
  for (const auto& [length, by_network] : routes_) {
    if (length > bits) continue;
    auto it = by_network.find(IpPrefix(dst, length).address());
    if (it != by_network.end()) return it->second;
  }
  return std::nullopt;
}

std::shared_ptr<const EspTransform> SimKernel::TransformFor(const SaRef& sa) {
  absl::MutexLock lock(&mu_);
  auto it = transforms_.find(sa.handle.id);
  if (it != transforms_.end()) return it->second;
  auto t = EspTransform::Create(sa.sa);
  if (!t.ok()) return nullptr;
  // SAs come and go with rotations: drop transforms of deleted SAs now and
  // then so the cache stays the size of the SA table.
  if (transforms_.size() > 2 * xfrm_.sa_count() + 16) {
    for (auto i = transforms_.begin(); i != transforms_.end();) {
      if (!xfrm_.GetSaStats(SaHandle{i->first}).ok()) {
        i = transforms_.erase(i);
      } else {
        ++i;
      }
    }
  }
  auto shared = std::make_shared<const EspTransform>(*std::move(t));
  transforms_[sa.handle.id] = shared;
  return shared;
}

PacketFate SimKernel::PolicyCheck(XfrmDir dir, const IpAddress& src,
                                  const IpAddress& dst, uint8_t proto,
                                  uint32_t mark,
                                  const std::vector<XfrmSa>& sec_path) {
  // First, the packet must fit the selector of every SA that decrypted it
  // (xfrm_selector_match, which also refuses another family than the
  // selector's).
  for (auto sa = sec_path.rbegin(); sa != sec_path.rend(); ++sa) {
    if (!SaSelectorAdmits(*sa, src, dst, proto)) {
      xfrm_.IncrementStat(XfrmStat::kInStateMismatch);
      return PacketFate::kXfrmInStateMismatch;
    }
  }
  const auto policy = xfrm_.LookupPolicy(dir, src, dst, proto, mark);
  if (!policy) {
    // A packet that arrived through a tunnel-mode SA needs a policy that
    // accepts it (xfrm_secpath_reject); plaintext without one is allowed.
    if (!sec_path.empty()) {
      xfrm_.IncrementStat(XfrmStat::kInNoPols);
      return PacketFate::kXfrmInNoPols;
    }
    return PacketFate::kDelivered;
  }
  if (policy->action == XfrmAction::kBlock) {
    xfrm_.IncrementStat(XfrmStat::kInPolBlock);
    return PacketFate::kXfrmInPolBlock;
  }
  if (!InboundTemplatesAccept(policy->templates, sec_path)) {
    xfrm_.IncrementStat(XfrmStat::kInTmplMismatch);
    return PacketFate::kXfrmInTmplMismatch;
  }
  return PacketFate::kDelivered;
}

PacketFate SimKernel::SendFromPod(const IpAddress& pod_ip,
                                  std::vector<uint8_t> packet) {
  std::string ifname;
  uint32_t ifindex = 0;
  bool encrypt_marker = false;
  {
    absl::MutexLock lock(&mu_);
    auto it = pods_.find(pod_ip);
    if (it == pods_.end()) return PacketFate::kNoRoute;
    ifname = it->second.ifname;
    ifindex = it->second.ifindex;
    encrypt_marker = it->second.encrypt_marker;
  }
  auto ip = ParseIpHeader(packet);
  if (!ip.ok()) return PacketFate::kMalformed;
  // The pod's own stack sends nothing larger than its route's MTU (it
  // would fragment an IPv4 packet without DF; the simulated pods keep to
  // the path MTU instead, so that is refused too).
  if (packet.size() > PodPathMtu(pod_ip, ip->dst)) {
    return PacketFate::kMessageTooLong;
  }
  Capture(ifname, ifindex, PacketDirection::kIn, packet);
  uint32_t mark = 0;
  if (encrypt_marker) {
    mark = RunEncryptHook(packet, mark);
  }
  return Forward(std::move(packet), mark, {});
}

PacketFate SimKernel::Forward(std::vector<uint8_t> packet, uint32_t mark,
                              const std::vector<XfrmSa>& sec_path) {
  auto ip = ParseIpHeader(packet);
  if (!ip.ok()) return PacketFate::kMalformed;
  // ip_forward / ip6_forward: the fwd policy check, then the TTL: one that
  // would reach 0 here is answered with Time Exceeded.
  const PacketFate check =
      PolicyCheck(XfrmDir::kFwd, ip->src, ip->dst, ip->proto, mark, sec_path);
  if (check != PacketFate::kDelivered) return check;
  if (ip->ttl <= 1) return RefuseExpired(packet);

  std::optional<Pod> local;
  {
    absl::MutexLock lock(&mu_);
    auto it = pods_.find(ip->dst);
    if (it != pods_.end()) local = it->second;
  }
  if (local) {
    DecrementTtl(packet);
    return Deliver(*local, packet);
  }
  const auto via = RouteVia(ip->dst);
  if (!via) return PacketFate::kNoRoute;
  return Output(std::move(packet), mark, *via, /*forwarded=*/true);
}

PacketFate SimKernel::Output(std::vector<uint8_t> packet, uint32_t mark,
                             const IpAddress& next_hop, bool forwarded) {
  auto ip = ParseIpHeader(packet);
  if (!ip.ok()) return PacketFate::kMalformed;
  IpAddress hop = next_hop;
  using Verdict = SimXfrm::OutboundDecision::Verdict;
  SimXfrm::OutboundDecision decision =
      xfrm_.ResolveOutbound(ip->src, ip->dst, ip->proto, mark);
  if (decision.verdict == Verdict::kBlock) {
    xfrm_.IncrementStat(XfrmStat::kOutPolBlock);
    return PacketFate::kXfrmOutPolBlock;
  }
  if (decision.verdict == Verdict::kNoStates) {
    xfrm_.IncrementStat(XfrmStat::kOutNoStates);
    return PacketFate::kXfrmOutNoStates;
  }
  if (decision.verdict == Verdict::kPolError) {
    xfrm_.IncrementStat(XfrmStat::kOutPolError);
    return PacketFate::kXfrmOutPolError;
  }
  // The SAs to apply, innermost first.
  std::vector<SaRef> bundle = std::move(decision.bundle);
  // The route's MTU: eth0's, less what each tunnel adds (the xfrm bundle's
  // MTU). A packet with DF (or any IPv6 packet) that does not fit is
  // refused with an ICMP error; one without DF is encapsulated whole and
  // the outer packet fragmented. Where each refusal happens decides what
  // it counts and quotes, as on Linux: ip_forward checks an IPv4 packet
  // against the bundle's MTU before the TTL is decremented; ip6_forward
  // checks an IPv6 one against the device's MTU only, before the
  // decrement, and the tunnel's output (xfrm6_output) checks it against the
  // bundle's after it.
  const size_t link_mtu = uplink_mtu();
  size_t mtu = link_mtu;
  for (auto sa = bundle.rbegin(); sa != bundle.rend(); ++sa) {
    mtu = EspTransform::LargestInnerPacket(sa->sa.src.family(), mtu);
  }
  const bool v4 = ip->family == IpFamily::kV4;
  if (v4 && ip->dont_fragment && packet.size() > mtu) {
    return RefuseTooBig(packet, mtu, /*at_forward=*/true);
  }
  if (!v4 && packet.size() > link_mtu) {
    return RefuseTooBig(packet, link_mtu, /*at_forward=*/forwarded);
  }
  if (forwarded) DecrementTtl(packet);
  if (!v4 && packet.size() > mtu) {
    return RefuseTooBig(packet, mtu, /*at_forward=*/false);
  }
  for (const SaRef& sa : bundle) {
    auto seq = xfrm_.NextOutputSeq(sa.handle);
    if (absl::IsNotFound(seq.status())) {
      // Deleted since the lookup above (another thread): Linux finds the
      // state it holds a reference to dead in xfrm_output_one.
      xfrm_.IncrementStat(XfrmStat::kOutStateInvalid);
      return PacketFate::kXfrmOutStateInvalid;
    }
    if (!seq.ok()) {
      xfrm_.IncrementStat(XfrmStat::kOutStateSeqError);
      return PacketFate::kXfrmOutStateSeqError;
    }
    auto transform = TransformFor(sa);
    if (transform == nullptr) {
      xfrm_.IncrementStat(XfrmStat::kOutStateProtoError);
      return PacketFate::kXfrmOutNoStates;
    }
    const size_t inner_length = packet.size();
    // Encapsulated in the packet's own buffer, as the kernel does in the
    // skb's head- and tailroom; the outer header's TOS, flow label and DF
    // come from the inner one (EspTransform).
    if (!transform->EncapsulateInPlace(*seq, &packet).ok()) {
      xfrm_.IncrementStat(XfrmStat::kOutError);
      return PacketFate::kMalformed;
    }
    // An IPv4 packet without DF gets an identification (ip_select_ident);
    // one with DF keeps 0.
    const auto outer = ParseIpHeader(packet);
    if (outer.ok() && outer->family == IpFamily::kV4 && !outer->dont_fragment) {
      SetIpv4Id(packet, NextIpId());
    }
    (void)xfrm_.CountPacket(sa.handle, inner_length);
    mark = ApplyOutputMark(sa.sa, mark);
    hop = sa.sa.dst;
  }
  return Transmit(std::move(packet), hop);
}

uint16_t SimKernel::NextIpId() {
  absl::MutexLock lock(&mu_);
  if (next_ip_id_ == 0) ++next_ip_id_;  // 0 is what DF packets carry.
  return next_ip_id_++;
}

PacketFate SimKernel::Transmit(std::vector<uint8_t> packet,
                               const IpAddress& next_hop) {
  Uplink uplink;
  size_t mtu;
  {
    absl::MutexLock lock(&mu_);
    uplink = uplink_;
    mtu = uplink_mtu_;
  }
  std::vector<std::vector<uint8_t>> frames;
  if (packet.size() <= mtu) {
    frames.push_back(std::move(packet));
  } else {
    auto ip = ParseIpHeader(packet);
    if (!ip.ok()) return PacketFate::kMalformed;
    if (ip->family == IpFamily::kV6 || ip->dont_fragment) {
      // Only what this node originates gets here (forwarded packets were
      // refused in Output); the simulator does not fragment those.
      Count(ip->family == IpFamily::kV6 ? "Ip6FragFails" : "IpFragFails");
      return PacketFate::kFragNeeded;
    }
    // Fragments share the packet's identification; one without gets one.
    if (ip->id == 0) SetIpv4Id(packet, NextIpId());
    auto fragments = FragmentIpv4(packet, mtu);
    if (!fragments.ok()) {
      Count("IpFragFails");
      return PacketFate::kFragNeeded;
    }
    Count("IpFragOKs");
    Count("IpFragCreates", fragments->size());
    frames = *std::move(fragments);
  }
  for (std::vector<uint8_t>& frame : frames) {
    Capture("eth0", eth0_ifindex_, PacketDirection::kOut, frame);
    if (!uplink) return PacketFate::kNoRoute;
    uplink(next_hop, std::move(frame));
  }
  return PacketFate::kTransmitted;
}

std::optional<IpAddress> SimKernel::ErrorSource(IpFamily family) const {
  for (const IpAddress& a : node_addresses()) {
    if (a.family() == family) return a;
  }
  return std::nullopt;
}

PacketFate SimKernel::RefuseTooBig(const std::vector<uint8_t>& packet,
                                   size_t mtu, bool at_forward) {
  auto ip = ParseIpHeader(packet);
  if (!ip.ok()) return PacketFate::kMalformed;
  const bool v4 = ip->family == IpFamily::kV4;
  if (v4) {
    Count("IpFragFails");
  } else {
    if (at_forward) Count("Ip6InTooBigErrors");
    Count("Ip6FragFails");
  }
  const std::optional<IpAddress> reporter = ErrorSource(ip->family);
  // No ICMP error about an ICMP error; none without an address to send from.
  if (!reporter || ip->proto == (v4 ? kIpProtoIcmp : kIpProtoIcmpv6)) {
    return PacketFate::kFragNeeded;
  }
  Count(v4 ? "IcmpOutDestUnreachs" : "Icmp6OutPktTooBigs");
  (void)LocalOutput(BuildIcmpTooBig(*reporter, packet, mtu));
  return PacketFate::kFragNeeded;
}

PacketFate SimKernel::RefuseExpired(const std::vector<uint8_t>& packet) {
  auto ip = ParseIpHeader(packet);
  if (!ip.ok()) return PacketFate::kMalformed;
  const bool v4 = ip->family == IpFamily::kV4;
  Count(v4 ? "IpInHdrErrors" : "Ip6InHdrErrors");
  const std::optional<IpAddress> reporter = ErrorSource(ip->family);
  if (!reporter || ip->proto == (v4 ? kIpProtoIcmp : kIpProtoIcmpv6)) {
    return PacketFate::kTtlExceeded;
  }
  Count(v4 ? "IcmpOutTimeExcds" : "Icmp6OutTimeExcds");
  (void)LocalOutput(BuildIcmpTimeExceeded(*reporter, packet));
  return PacketFate::kTtlExceeded;
}

PacketFate SimKernel::LocalOutput(std::vector<uint8_t> packet) {
  auto ip = ParseIpHeader(packet);
  if (!ip.ok()) return PacketFate::kMalformed;
  // ip_select_ident: an IPv4 packet without DF gets an identification.
  if (ip->family == IpFamily::kV4 && !ip->dont_fragment && ip->id == 0) {
    SetIpv4Id(packet, NextIpId());
  }
  std::optional<Pod> local;
  {
    absl::MutexLock lock(&mu_);
    auto it = pods_.find(ip->dst);
    if (it != pods_.end()) local = it->second;
  }
  if (local) return Deliver(*local, packet);
  const auto via = RouteVia(ip->dst);
  if (!via) return PacketFate::kNoRoute;
  return Output(std::move(packet), 0, *via, /*forwarded=*/false);
}

PacketFate SimKernel::ReceiveFromWire(std::vector<uint8_t> packet,
                                      uint32_t mark) {
  auto ip = ParseIpHeader(packet);
  if (!ip.ok()) return PacketFate::kMalformed;
  Capture("eth0", eth0_ifindex_, PacketDirection::kIn, packet);
  if (ip->is_fragment() && IsNodeAddress(ip->dst)) {
    // ip_defrag before local delivery (and so before ESP input). The tc
    // hook saw each fragment; the mark that counts is the first fragment's,
    // whose headers are the whole packet's, so it runs on the whole below.
    Count("IpReasmReqds");
    absl::StatusOr<Ipv4Reassembler::Result> added;
    {
      absl::MutexLock lock(&mu_);
      added = reassembler_.Add(packet);
    }
    if (!added.ok()) {
      Count("IpReasmFails");
      return PacketFate::kMalformed;
    }
    if (added->failed > 0) Count("IpReasmFails", added->failed);
    if (!added->packet) return PacketFate::kFragmentQueued;
    Count("IpReasmOKs");
    packet = *std::move(added->packet);
    ip = ParseIpHeader(packet);
    if (!ip.ok()) return PacketFate::kMalformed;
  }
  if (decrypt_marker()) {
    mark = RunDecryptHook(packet, mark);
  }
  if (IsNodeAddress(ip->dst)) {
    if (ip->proto == kIpProtoEspNumber)
      return XfrmInput(std::move(packet), mark);
    return PolicyCheck(XfrmDir::kIn, ip->src, ip->dst, ip->proto, mark, {});
  }
  return Forward(std::move(packet), mark, {});
}

PacketFate SimKernel::XfrmInput(std::vector<uint8_t> packet, uint32_t mark) {
  auto header = ParseEspHeader(packet);
  if (!header.ok()) {
    xfrm_.IncrementStat(XfrmStat::kInHdrError);
    return PacketFate::kMalformed;
  }
  const auto sa = xfrm_.LookupInboundSa(header->outer_dst, header->spi,
                                        kIpProtoEspNumber, mark);
  if (!sa) {
    xfrm_.IncrementStat(XfrmStat::kInNoStates);
    return PacketFate::kXfrmInNoStates;
  }
  auto check = xfrm_.CheckReplay(sa->handle, header->seq_low);
  if (!check.ok() || check->verdict != ReplayVerdict::kOk) {
    xfrm_.IncrementStat(XfrmStat::kInStateSeqError);
    return PacketFate::kXfrmInStateSeqError;
  }
  auto transform = TransformFor(*sa);
  if (transform == nullptr) {
    xfrm_.IncrementStat(XfrmStat::kInStateProtoError);
    return PacketFate::kXfrmInStateProtoError;
  }
  const absl::Status opened =
      transform->DecapsulateInPlace(check->seq, &packet);
  if (!opened.ok()) {
    (void)xfrm_.CountIntegrityFailure(sa->handle);
    xfrm_.IncrementStat(XfrmStat::kInStateProtoError);
    return PacketFate::kXfrmInStateProtoError;
  }
  (void)xfrm_.AdvanceReplay(sa->handle, check->seq);
  std::vector<uint8_t>& inner = packet;  // Decrypted in place.
  // Congestion Experienced on the outer header reaches an ECN-capable inner
  // packet (xfrm4/6_remove_tunnel_encap, unless the SA says noecn).
  DecapsulateEcn(header->outer_tos, inner);
  (void)xfrm_.CountPacket(sa->handle, inner.size());
  mark = ApplyOutputMark(sa->sa, mark);

  // Tunnel mode: the inner packet is received again on the same device.
  Capture("eth0", eth0_ifindex_, PacketDirection::kIn, inner);
  if (decrypt_marker()) {
    mark = RunDecryptHook(inner, mark);
  }
  auto ip = ParseIpHeader(inner);
  if (!ip.ok()) return PacketFate::kMalformed;
  const std::vector<XfrmSa> sec_path = {sa->sa};
  if (IsNodeAddress(ip->dst)) {
    return PolicyCheck(XfrmDir::kIn, ip->src, ip->dst, ip->proto, mark,
                       sec_path);
  }
  return Forward(std::move(inner), mark, sec_path);
}

PacketFate SimKernel::Deliver(const Pod& pod,
                              absl::Span<const uint8_t> packet) {
  Capture(pod.ifname, pod.ifindex, PacketDirection::kOut, packet);
  // The pod's stack learns the path MTU (a route exception), never below
  // the minimum (552 for IPv4, 1,280 for IPv6) and never raising it.
  if (auto too_big = ParseIcmpTooBig(packet); too_big.ok()) {
    const size_t floor = too_big->to.is_v4() ? 552 : 1280;
    const size_t mtu = std::max<size_t>(too_big->mtu, floor);
    if (mtu < PodPathMtu(too_big->to, too_big->original_dst)) {
      absl::MutexLock lock(&mu_);
      pod_pmtu_[{too_big->to, too_big->original_dst}] = {
          mtu, std::chrono::steady_clock::now()};
    }
  }
  if (pod.receiver) pod.receiver(packet);
  return PacketFate::kDelivered;
}

}  // namespace kmesh::sim
