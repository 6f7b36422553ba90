/*
 * keccak.c — Keccak-256 as Ethereum uses it: Keccak-f[1600], rate 136 bytes,
 * the original 0x01 padding (FIPS 202's SHA3-256 pads with 0x06, so OpenSSL's
 * SHA3 gives other bytes). Written from the Keccak reference description;
 * checked against published vectors in tests/test_evm.c.
 *
 * Non-goals: other rates, SHAKE, speed beyond a plain loop (hashing here is
 * signatures, addresses and selectors: microseconds).
 */
#include "../base/plow.h"

#include "evm.h"

static const uint64_t RC[24] = {
    0x0000000000000001ULL, 0x0000000000008082ULL, 0x800000000000808aULL, 0x8000000080008000ULL,
    0x000000000000808bULL, 0x0000000080000001ULL, 0x8000000080008081ULL, 0x8000000000008009ULL,
    0x000000000000008aULL, 0x0000000000000088ULL, 0x0000000080008009ULL, 0x000000008000000aULL,
    0x000000008000808bULL, 0x800000000000008bULL, 0x8000000000008089ULL, 0x8000000000008003ULL,
    0x8000000000008002ULL, 0x8000000000000080ULL, 0x000000000000800aULL, 0x800000008000000aULL,
    0x8000000080008081ULL, 0x8000000000008080ULL, 0x0000000080000001ULL, 0x8000000080008008ULL,
};

/* Rotation offsets r[x + 5y] and the pi permutation, in the order lane
 * (x, y) moves to (y, 2x + 3y). */
static const unsigned ROT[25] = {0, 1, 62, 28, 27, 36, 44, 6, 55, 20, 3, 10, 43,
                                 25, 39, 41, 45, 15, 21, 8, 18, 2, 61, 56, 14};

static inline uint64_t rol(uint64_t v, unsigned r) { return r ? (v << r) | (v >> (64 - r)) : v; }

static void keccak_f(uint64_t a[25]) {
    for (int round = 0; round < 24; round++) {
        uint64_t c[5], d[5], b[25];
        for (int x = 0; x < 5; x++) c[x] = a[x] ^ a[x + 5] ^ a[x + 10] ^ a[x + 15] ^ a[x + 20];
        for (int x = 0; x < 5; x++) d[x] = c[(x + 4) % 5] ^ rol(c[(x + 1) % 5], 1);
        for (int i = 0; i < 25; i++) a[i] ^= d[i % 5];
        /* rho and pi: b[y, 2x+3y] = rol(a[x, y], r[x, y]) */
        for (int x = 0; x < 5; x++)
            for (int y = 0; y < 5; y++) b[y + 5 * ((2 * x + 3 * y) % 5)] = rol(a[x + 5 * y], ROT[x + 5 * y]);
        /* chi */
        for (int y = 0; y < 5; y++)
            for (int x = 0; x < 5; x++)
                a[x + 5 * y] = b[x + 5 * y] ^ (~b[(x + 1) % 5 + 5 * y] & b[(x + 2) % 5 + 5 * y]);
        a[0] ^= RC[round];
    }
}

static void absorb_block(keccak256_ctx *c, const uint8_t *p) {
    for (int i = 0; i < 17; i++) {
        uint64_t w = 0;
        for (int j = 7; j >= 0; j--) w = (w << 8) | p[8 * i + j]; /* lanes are little-endian */
        c->s[i] ^= w;
    }
    keccak_f(c->s);
}

void keccak256_init(keccak256_ctx *c) { memset(c, 0, sizeof *c); }

void keccak256_update(keccak256_ctx *c, const void *data, size_t n) {
    const uint8_t *p = data;
    while (n > 0) {
        size_t take = 136 - c->fill;
        if (take > n) take = n;
        memcpy(c->buf + c->fill, p, take);
        c->fill += take;
        p += take;
        n -= take;
        if (c->fill == 136) {
            absorb_block(c, c->buf);
            c->fill = 0;
        }
    }
}

void keccak256_final(keccak256_ctx *c, uint8_t out[32]) {
    memset(c->buf + c->fill, 0, 136 - c->fill);
    c->buf[c->fill] ^= 0x01;
    c->buf[135] ^= 0x80;
    absorb_block(c, c->buf);
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 8; j++) out[8 * i + j] = (uint8_t)(c->s[i] >> (8 * j));
    memset(c, 0, sizeof *c);
}

void keccak256(const void *data, size_t n, uint8_t out[32]) {
    keccak256_ctx c;
    keccak256_init(&c);
    keccak256_update(&c, data, n);
    keccak256_final(&c, out);
}
