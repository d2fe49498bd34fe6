// Test PSKs (testonly): deterministic 36-byte pre-shared keys, one per seed,
// for every test and benchmark of the IPsec daemon that needs keys. Distinct
// seeds give distinct keys.
#ifndef KMESH_IPSEC_TESTING_TEST_PSK_H_
#define KMESH_IPSEC_TESTING_TEST_PSK_H_

#include "kmesh/kernel/xfrm_key.h"

namespace kmesh::ipsec {

XfrmKey TestPsk(int seed);

}  // namespace kmesh::ipsec

#endif  // KMESH_IPSEC_TESTING_TEST_PSK_H_
