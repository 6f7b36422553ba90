/*
 * sodium.h for the WebAssembly build (-Isrc/wasm/include): the libsodium
 * calls of src/ledger/keys.c, so that addresses parse and format and
 * signatures verify (a signed receipt from `plow serve`) in wasm, where
 * Debian has no libsodium. Verification is src/wasm/ed25519.c, with
 * libsodium's rules (docs/platforms.md). Key generation and signing are not
 * available in wasm: nothing the wasm commands do signs; they abort if
 * reached.
 */
#ifndef PLOW_WASM_SODIUM_H
#define PLOW_WASM_SODIUM_H

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../ed25519.h"

#define crypto_sign_PUBLICKEYBYTES 32U
#define crypto_sign_SECRETKEYBYTES 64U
#define crypto_sign_BYTES 64U
#define crypto_sign_SEEDBYTES 32U

static inline int sodium_init(void) { return 0; }

static inline void sodium_memzero(void *p, size_t n) {
    volatile unsigned char *v = p;
    while (n--) *v++ = 0;
}

static inline int sodium_memcmp(const void *a, const void *b, size_t n) {
    const volatile unsigned char *x = a, *y = b;
    unsigned char d = 0;
    for (size_t i = 0; i < n; i++) d |= x[i] ^ y[i];
    return d ? -1 : 0;
}

static inline _Noreturn void wasm_no_signing(void) {
    fputs("plow: signing keys are not available in the WebAssembly build\n", stderr);
    abort();
}

static inline int crypto_sign_keypair(unsigned char *pk, unsigned char *sk) {
    (void)pk, (void)sk;
    wasm_no_signing();
}
static inline int crypto_sign_seed_keypair(unsigned char *pk, unsigned char *sk, const unsigned char *seed) {
    (void)pk, (void)sk, (void)seed;
    wasm_no_signing();
}
static inline int crypto_sign_detached(unsigned char *sig, unsigned long long *siglen, const unsigned char *m,
                                       unsigned long long mlen, const unsigned char *sk) {
    (void)sig, (void)siglen, (void)m, (void)mlen, (void)sk;
    wasm_no_signing();
}

static inline int crypto_sign_verify_detached(const unsigned char *sig, const unsigned char *m,
                                              unsigned long long mlen, const unsigned char *pk) {
    return wasm_ed25519_verify(sig, m, (size_t)mlen, pk) ? 0 : -1;
}

#endif
