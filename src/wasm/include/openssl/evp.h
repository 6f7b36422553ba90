/*
 * openssl/evp.h for the WebAssembly build (-Isrc/wasm/include): the few
 * EVP digest calls plow makes (src/base/plow.c, src/merkle/merkle.c), SHA-256
 * only, backed by src/wasm/sha256.c. Debian has no libcrypto for wasm; this
 * keeps the callers free of #ifdefs. Not OpenSSL: no other digest exists.
 */
#ifndef PLOW_WASM_OPENSSL_EVP_H
#define PLOW_WASM_OPENSSL_EVP_H

#include <stdlib.h>

#include "../../sha256.h"

typedef struct { int sha256; } EVP_MD;
typedef struct { wasm_sha256 s; } EVP_MD_CTX;
typedef struct engine_st ENGINE;
typedef struct ossl_lib_ctx_st OSSL_LIB_CTX;
typedef struct ossl_param_st OSSL_PARAM;

static const EVP_MD wasm_evp_sha256_md = {1};

static inline const EVP_MD *EVP_sha256(void) { return &wasm_evp_sha256_md; }
static inline EVP_MD *EVP_MD_fetch(OSSL_LIB_CTX *c, const char *name, const char *props) {
    (void)c, (void)props;
    return name && name[0] == 'S' ? (EVP_MD *)&wasm_evp_sha256_md : NULL; /* "SHA2-256" */
}
static inline void EVP_MD_free(EVP_MD *md) { (void)md; }
static inline EVP_MD_CTX *EVP_MD_CTX_new(void) { return calloc(1, sizeof(EVP_MD_CTX)); }
static inline void EVP_MD_CTX_free(EVP_MD_CTX *c) { free(c); }
static inline int EVP_DigestInit_ex(EVP_MD_CTX *c, const EVP_MD *md, ENGINE *e) {
    (void)e;
    if (md != &wasm_evp_sha256_md) return 0;
    wasm_sha256_init(&c->s);
    return 1;
}
static inline int EVP_DigestInit_ex2(EVP_MD_CTX *c, const EVP_MD *md, const OSSL_PARAM *p) {
    (void)p;
    return EVP_DigestInit_ex(c, md, NULL);
}
static inline int EVP_DigestUpdate(EVP_MD_CTX *c, const void *d, size_t n) {
    wasm_sha256_update(&c->s, d, n);
    return 1;
}
static inline int EVP_DigestFinal_ex(EVP_MD_CTX *c, unsigned char *out, unsigned int *len) {
    wasm_sha256_final(&c->s, out);
    if (len) *len = 32;
    return 1;
}

#endif
