// Refuses to compile kmesh/crypto against anything but BoringSSL. OpenSSL 3's
// headers also live in /usr/include/openssl, so a target that forgets to
// depend on @boringssl//:crypto would silently build against OpenSSL and then
// load two libcrypto copies with clashing symbols into one process. Every
// header in kmesh/crypto includes this one first; boringssl_guard_test.sh
// shows that it stops an OpenSSL build and lets a BoringSSL build through.
#ifndef KMESH_CRYPTO_BORINGSSL_GUARD_H_
#define KMESH_CRYPTO_BORINGSSL_GUARD_H_

// Present in both libraries; BoringSSL's defines OPENSSL_IS_BORINGSSL.
#include <openssl/crypto.h>

#ifndef OPENSSL_IS_BORINGSSL
#error \
    "kmesh/crypto needs BoringSSL: depend on @boringssl//:crypto (these are OpenSSL's headers)"
#endif

#endif  // KMESH_CRYPTO_BORINGSSL_GUARD_H_
