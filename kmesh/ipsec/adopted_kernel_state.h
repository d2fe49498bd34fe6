// AdoptedKernelState: what the kernel holds that this node's inputs no longer
// produce, kept as the kernel has it until it may go. One idea, three kinds:
//  - Adopted SAs: owned SAs whose key this node cannot derive. A restart
//    adopts every owned SA the kernel holds (Adopt); an outbound SA still in
//    use when its key is reclaimed is adopted from the layout as it stands
//    (Keep). Each is held for the peer it belongs to, or, after a restart,
//    for no peer until that peer appears (Claim: by address, and for an
//    inbound SA by the peer index in its mark).
//  - Adopted peer indices: the index in an adopted inbound SA's mark, given
//    back to the peer with that SA's source address, so a restart changes
//    no mark.
//  - Departed peers: deleted peers whose XFRM objects and decrypt marker
//    entries may still be in the kernel; their index stays taken until the
//    objects are gone.
// It is the one place where data flows backwards, from the kernel into the
// otherwise pure layout: a peer's adopted SAs are handed to LayoutPeer
// (PeerLayoutInput::adopted_sas), which takes from them the SAs it cannot
// derive. Not thread-safe; the controller calls it under its lock.
#ifndef KMESH_IPSEC_ADOPTED_KERNEL_STATE_H_
#define KMESH_IPSEC_ADOPTED_KERNEL_STATE_H_

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "kmesh/base/ip_address.h"
#include "kmesh/kernel/xfrm.h"

namespace kmesh::ipsec {

class AdoptedKernelState {
 public:
  // What the inbound SAs found at start carry.
  struct Found {
    std::set<uint16_t> peer_indices;
    std::set<int32_t> spis;
  };
  // Adopts `sas`, the owned SAs a dump found that no peer has claimed
  // (XfrmProgrammer::Unclaimed after the start-up reconcile); they replace
  // any adopted before and held for no peer.
  Found Adopt(std::vector<XfrmSa> sas);
  // The index a previous run gave the peer with one of `addresses` (the
  // first of them that has one), or 0.
  uint16_t IndexFor(const std::vector<IpAddress>& addresses) const;
  // Holds for `peer` the adopted SAs that are its: inbound SAs from one of
  // `addresses` under `index`, outbound SAs to one of `addresses`. They
  // replace what was held for it.
  void Claim(const std::string& peer, const std::vector<IpAddress>& addresses,
             uint16_t index);
  // The previous run's SAs no peer claimed are gone from the kernel (the
  // first complete reconcile deleted them), and so are their indices.
  void ForgetUnclaimed();

  // The SAs held for `peer`; nullptr when none.
  const std::vector<XfrmSa>* SasOf(const std::string& peer) const;
  // The SPIs of the inbound / outbound SAs held for `peer`, in the order
  // they were adopted.
  std::vector<int32_t> InboundSpisOf(const std::string& peer) const;
  std::vector<int32_t> OutboundSpisOf(const std::string& peer) const;
  // The SPIs of every inbound SA held for a peer (cached; recomputed only
  // after a change to the inbound SAs held).
  const std::set<int32_t>& InboundSpisOfPeers() const;

  // Adopts `sa`, an outbound SA to `peer` whose key is about to go.
  void Keep(const std::string& peer, const XfrmSa& sa);
  // The key of `spi` is held (again): no SA under it is adopted any more.
  void DropSpi(int32_t spi);
  // The inbound SAs under `spi` are reclaimed.
  void DropInboundSpi(int32_t spi);
  // `peer`'s outbound SAs under any SPI but `spi` and `retiring` are no
  // longer used.
  void DropOutboundExcept(const std::string& peer, int32_t spi,
                          const std::set<int32_t>& retiring = {});
  // Each peer with adopted outbound SAs, with their SPIs. Empty in the
  // common case (no restart, no reclaim of a key still in use).
  std::vector<std::pair<std::string, int32_t>> OutboundSpisOfPeers() const;

  // What is held for `peer` is wrong (it rebooted or changed addresses) or
  // gone (it was deleted).
  void ForgetPeer(const std::string& peer);
  // The same for every peer (this node's identity changed, or it shut
  // down).
  void ForgetAllPeers();

  struct Departed {
    uint16_t index = 0;
    // Its entries in the decrypt marker's peer map.
    std::vector<IpAddress> marked_addresses;
  };
  // `peer`, holding `departed.index`, was deleted; its objects may still be
  // in the kernel.
  void Depart(const std::string& peer, Departed departed);
  // `peer` is back before its objects were gone: its marker entries, or
  // nullopt when it had not departed.
  std::optional<std::vector<IpAddress>> Return(const std::string& peer);
  const std::map<std::string, Departed>& departed() const { return departed_; }
  // `peer`'s objects are gone: forgets it and returns its marker entries
  // (to be removed).
  std::vector<IpAddress> ForgetDeparted(const std::string& peer);
  void ForgetAllDeparted() { departed_.clear(); }

 private:
  // Removes the SAs held for `peer` that `drop` selects; forgets the peer
  // when none is left.
  template <typename Predicate>
  void DropIf(std::map<std::string, std::vector<XfrmSa>>::iterator peer,
              Predicate drop);

  // Adopted at start and not yet claimed by a peer.
  std::vector<XfrmSa> unclaimed_sas_;
  std::map<IpAddress, uint16_t> index_by_address_;
  // Held for a peer (a peer with none has no entry).
  std::map<std::string, std::vector<XfrmSa>> sas_by_peer_;
  // InboundSpisOfPeers(), recomputed when stale.
  mutable std::set<int32_t> inbound_spis_of_peers_;
  mutable bool inbound_spis_stale_ = false;
  std::map<std::string, Departed> departed_;
};

}  // namespace kmesh::ipsec

#endif  // KMESH_IPSEC_ADOPTED_KERNEL_STATE_H_
