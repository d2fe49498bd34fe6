// Whether memory would reach a core dump (testonly): the VmFlags of the
// mapping of /proc/self/smaps that holds an address, for tests that check
// key material lives on pages marked MADV_DONTDUMP (the kernel's "dd",
// VM_DONTDUMP).
#ifndef KMESH_CRYPTO_TESTING_CORE_DUMP_EXCLUSION_H_
#define KMESH_CRYPTO_TESTING_CORE_DUMP_EXCLUSION_H_

#include <string>

namespace kmesh::crypto::testing {

// The VmFlags of the mapping that holds `address` ("" when none does).
std::string VmFlagsOf(const void* address);

// True when the mapping holding `address` carries "dd".
bool ExcludedFromCoreDumps(const void* address);

}  // namespace kmesh::crypto::testing

#endif  // KMESH_CRYPTO_TESTING_CORE_DUMP_EXCLUSION_H_
