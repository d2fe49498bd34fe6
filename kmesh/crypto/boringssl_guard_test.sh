#!/bin/bash
# Shows that boringssl_guard.h does its job: compiled against OpenSSL 3's
# headers (the system include path) it must stop with its #error; compiled
# against BoringSSL's headers (what @boringssl//:crypto exposes) it must pass.
set -u
guard="$1"
cxx="${CXX:-c++}"
tmp="${TEST_TMPDIR:-$(mktemp -d)}"

if [[ ! -f /usr/include/openssl/crypto.h ]]; then
  echo "FAIL: OpenSSL headers not found in /usr/include/openssl;" \
    "this check needs them to show the guard rejects OpenSSL" >&2
  exit 1
fi

if "$cxx" -std=c++17 -fsyntax-only -x c++ "$guard" 2>"$tmp/openssl.err"; then
  echo "FAIL: boringssl_guard.h compiled against OpenSSL's headers" >&2
  exit 1
fi
if ! grep -q "kmesh/crypto needs BoringSSL" "$tmp/openssl.err"; then
  echo "FAIL: compiling against OpenSSL failed, but not with the guard's #error:" >&2
  cat "$tmp/openssl.err" >&2
  exit 1
fi
echo "PASS: rejected OpenSSL headers with the guard's #error"

if ! "$cxx" -std=c++17 -fsyntax-only -I/usr/include/android -x c++ "$guard" \
    2>"$tmp/boringssl.err"; then
  echo "FAIL: boringssl_guard.h did not compile against BoringSSL's headers:" >&2
  cat "$tmp/boringssl.err" >&2
  exit 1
fi
echo "PASS: accepted BoringSSL headers"
