#include "e2e/vm/kernel_test_env.h"

#include <unistd.h>

#include <cstdio>
#include <cstdlib>

namespace kmesh::e2e {
namespace {

std::string IpBinary() {
  for (const char* p : {"/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip", "/bin/ip"}) {
    if (access(p, X_OK) == 0) return p;
  }
  return "ip";
}

}  // namespace

bool EspRequired() {
  const char* v = std::getenv("KMESH_VM_EXPECT_ESP");
  return v != nullptr && std::string(v) == "1";
}

std::string RunIp(const std::string& args) {
  std::string out;
  FILE* p = popen((IpBinary() + " " + args + " 2>&1").c_str(), "r");
  if (p == nullptr) return out;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), p)) > 0) out.append(buf, n);
  pclose(p);
  return out;
}

}  // namespace kmesh::e2e
