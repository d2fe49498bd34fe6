#include "kmesh/base/testing/ip_literals.h"

#include <cstdlib>
#include <iostream>

namespace kmesh::testing {
namespace {

template <typename T>
T OrDie(absl::StatusOr<T> parsed, const std::string& text) {
  if (!parsed.ok()) {
    std::cerr << "bad test literal \"" << text << "\": " << parsed.status()
              << std::endl;
    std::abort();
  }
  return *std::move(parsed);
}

}  // namespace

IpAddress Ip(const std::string& text) {
  return OrDie(IpAddress::Parse(text), text);
}

IpPrefix Cidr(const std::string& text) {
  return OrDie(IpPrefix::Parse(text), text);
}

}  // namespace kmesh::testing
