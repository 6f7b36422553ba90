/*
 * sha256.h — SHA-256 (FIPS 180-4) in portable C, for the WebAssembly build
 * only: Debian ships libcrypto (and libsodium) for no wasm target, so the wasm
 * engine hashes with this. Native builds keep using libcrypto; the unit test
 * wasm_sha256_vectors checks this one against the NIST vectors and against
 * libcrypto on random inputs (docs/platforms.md).
 */
#ifndef PLOW_WASM_SHA256_H
#define PLOW_WASM_SHA256_H

#include <stddef.h>
#include <stdint.h>

typedef struct wasm_sha256 {
    uint32_t h[8];
    uint64_t len; /* bytes hashed so far */
    uint8_t buf[64];
    size_t nbuf;
} wasm_sha256;

void wasm_sha256_init(wasm_sha256 *s);
void wasm_sha256_update(wasm_sha256 *s, const void *data, size_t n);
void wasm_sha256_final(wasm_sha256 *s, uint8_t out[32]);

#endif
