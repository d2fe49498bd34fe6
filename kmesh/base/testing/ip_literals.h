// Addresses and prefixes from literals, for tests (testonly): Ip("10.0.0.1"),
// Cidr("10.244.0.0/24"). A literal that does not parse is a bug in the test:
// it aborts the test binary, naming the literal.
#ifndef KMESH_BASE_TESTING_IP_LITERALS_H_
#define KMESH_BASE_TESTING_IP_LITERALS_H_

#include <string>

#include "kmesh/base/ip_address.h"

namespace kmesh::testing {

IpAddress Ip(const std::string& text);
IpPrefix Cidr(const std::string& text);

}  // namespace kmesh::testing

#endif  // KMESH_BASE_TESTING_IP_LITERALS_H_
