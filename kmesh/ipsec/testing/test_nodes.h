// Test nodes (testonly): NodeViews for tests and benchmarks of the IPsec
// daemon. TestNodeView(i) derives a distinct name, addresses, pod CIDRs and
// boot ID from the node's number, so clusters of any size can be built;
// MakeNodeView spells a node out. Boot IDs are 36 characters, as the key
// derivation requires.
#ifndef KMESH_IPSEC_TESTING_TEST_NODES_H_
#define KMESH_IPSEC_TESTING_TEST_NODES_H_

#include <string>
#include <vector>

#include "kmesh/base/ip_address.h"
#include "kmesh/ipsec/node_view.h"

namespace kmesh::ipsec {

// A 36-character boot ID, different per (node, generation): a node that
// reboots gets the next generation.
std::string TestBootId(int node, int generation = 0);

// Node i: node-i, 10.0.<i/200>.<i%200+1> (and fd00::<i+1> when dual stack),
// pod CIDR 10.<100+i/200>.<i%200>.0/24 (and fd00:244:<i>::/64), boot ID
// TestBootId(i, generation), no SPI.
NodeView TestNodeView(int i, bool dual_stack = false, int generation = 0);

// A node with exactly these fields (no SPI). The addresses and CIDRs must
// parse.
NodeView MakeNodeView(const std::string& name,
                      const std::vector<std::string>& addresses,
                      const std::string& boot_id,
                      const std::vector<std::string>& pod_cidrs);

// A pod address inside the node's first pod CIDR of `family` (the default
// IpAddress when it has none).
IpAddress PodIp(const NodeView& node, IpFamily family);

}  // namespace kmesh::ipsec

#endif  // KMESH_IPSEC_TESTING_TEST_NODES_H_
