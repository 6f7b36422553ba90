/*
 * ed25519.h — Ed25519 signature verification (RFC 8032) in portable C, for
 * the WebAssembly build, where Debian has no libsodium (include/sodium.h).
 * The verdicts are libsodium's (crypto_sign_verify_detached, 1.0.18): a
 * signature is refused if S >= L, if R or the public key has small order, if
 * the key's encoding is not canonical or not a curve point, and otherwise
 * accepted exactly when the encoding of [S]B - [h]A equals R, h =
 * SHA-512(R || A || M) mod L. tests/test_wasm.c compares it with libsodium.
 */
#ifndef PLOW_WASM_ED25519_H
#define PLOW_WASM_ED25519_H

#include <stdbool.h>
#include <stddef.h>

bool wasm_ed25519_verify(const unsigned char sig[64], const unsigned char *msg, size_t n,
                         const unsigned char pk[32]);

/* SHA-512 (FIPS 180-4), what verification hashes with. */
void wasm_sha512(const void *data, size_t n, unsigned char out[64]);

#endif
