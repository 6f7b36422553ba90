/*
 * ed25519.c — Ed25519 verification (RFC 8032 section 5.1.7) with the
 * checks of libsodium (see ed25519.h), and the SHA-512 it needs (FIPS 180-4),
 * written for plow from the specifications. Everything here handles public
 * data (a signature, a key, a message), so nothing needs to be constant-time.
 *
 * Field elements mod p = 2^255 - 19 are 16 signed 64-bit limbs of 16 bits
 * (limb i weighs 2^(16 i)); 2^256 = 38 (mod p) folds the top back. Points are
 * extended twisted-Edwards coordinates (X:Y:Z:T), x = X/Z, y = Y/Z, xy = T/Z,
 * on -x^2 + y^2 = 1 + d x^2 y^2. The constants d, sqrt(-1) and the base
 * point are computed at first use from their definitions.
 */
#include "ed25519.h"

#include <stdint.h>
#include <string.h>

/* ---- SHA-512 ------------------------------------------------------------------ */

static const uint64_t K512[80] = {
    0x428a2f98d728ae22ULL, 0x7137449123ef65cdULL, 0xb5c0fbcfec4d3b2fULL, 0xe9b5dba58189dbbcULL,
    0x3956c25bf348b538ULL, 0x59f111f1b605d019ULL, 0x923f82a4af194f9bULL, 0xab1c5ed5da6d8118ULL,
    0xd807aa98a3030242ULL, 0x12835b0145706fbeULL, 0x243185be4ee4b28cULL, 0x550c7dc3d5ffb4e2ULL,
    0x72be5d74f27b896fULL, 0x80deb1fe3b1696b1ULL, 0x9bdc06a725c71235ULL, 0xc19bf174cf692694ULL,
    0xe49b69c19ef14ad2ULL, 0xefbe4786384f25e3ULL, 0x0fc19dc68b8cd5b5ULL, 0x240ca1cc77ac9c65ULL,
    0x2de92c6f592b0275ULL, 0x4a7484aa6ea6e483ULL, 0x5cb0a9dcbd41fbd4ULL, 0x76f988da831153b5ULL,
    0x983e5152ee66dfabULL, 0xa831c66d2db43210ULL, 0xb00327c898fb213fULL, 0xbf597fc7beef0ee4ULL,
    0xc6e00bf33da88fc2ULL, 0xd5a79147930aa725ULL, 0x06ca6351e003826fULL, 0x142929670a0e6e70ULL,
    0x27b70a8546d22ffcULL, 0x2e1b21385c26c926ULL, 0x4d2c6dfc5ac42aedULL, 0x53380d139d95b3dfULL,
    0x650a73548baf63deULL, 0x766a0abb3c77b2a8ULL, 0x81c2c92e47edaee6ULL, 0x92722c851482353bULL,
    0xa2bfe8a14cf10364ULL, 0xa81a664bbc423001ULL, 0xc24b8b70d0f89791ULL, 0xc76c51a30654be30ULL,
    0xd192e819d6ef5218ULL, 0xd69906245565a910ULL, 0xf40e35855771202aULL, 0x106aa07032bbd1b8ULL,
    0x19a4c116b8d2d0c8ULL, 0x1e376c085141ab53ULL, 0x2748774cdf8eeb99ULL, 0x34b0bcb5e19b48a8ULL,
    0x391c0cb3c5c95a63ULL, 0x4ed8aa4ae3418acbULL, 0x5b9cca4f7763e373ULL, 0x682e6ff3d6b2b8a3ULL,
    0x748f82ee5defb2fcULL, 0x78a5636f43172f60ULL, 0x84c87814a1f0ab72ULL, 0x8cc702081a6439ecULL,
    0x90befffa23631e28ULL, 0xa4506cebde82bde9ULL, 0xbef9a3f7b2c67915ULL, 0xc67178f2e372532bULL,
    0xca273eceea26619cULL, 0xd186b8c721c0c207ULL, 0xeada7dd6cde0eb1eULL, 0xf57d4f7fee6ed178ULL,
    0x06f067aa72176fbaULL, 0x0a637dc5a2c898a6ULL, 0x113f9804bef90daeULL, 0x1b710b35131c471bULL,
    0x28db77f523047d84ULL, 0x32caab7b40c72493ULL, 0x3c9ebe0a15c9bebcULL, 0x431d67c49c100d4cULL,
    0x4cc5d4becb3e42b6ULL, 0x597f299cfc657e2aULL, 0x5fcb6fab3ad6faecULL, 0x6c44198c4a475817ULL,
};

typedef struct sha512 {
    uint64_t h[8];
    uint64_t len;
    uint8_t buf[128];
    size_t nbuf;
} sha512;

static inline uint64_t rotr64(uint64_t x, int n) { return x >> n | x << (64 - n); }

static void sha512_block(uint64_t h[8], const uint8_t *p) {
    uint64_t w[80];
    for (int t = 0; t < 16; t++) {
        w[t] = 0;
        for (int i = 0; i < 8; i++) w[t] = w[t] << 8 | p[8 * t + i];
    }
    for (int t = 16; t < 80; t++) {
        uint64_t s0 = rotr64(w[t - 15], 1) ^ rotr64(w[t - 15], 8) ^ (w[t - 15] >> 7);
        uint64_t s1 = rotr64(w[t - 2], 19) ^ rotr64(w[t - 2], 61) ^ (w[t - 2] >> 6);
        w[t] = w[t - 16] + s0 + w[t - 7] + s1;
    }
    uint64_t v[8];
    memcpy(v, h, sizeof v);
    for (int t = 0; t < 80; t++) {
        uint64_t e = v[4], a = v[0];
        uint64_t t1 = v[7] + (rotr64(e, 14) ^ rotr64(e, 18) ^ rotr64(e, 41)) + ((e & v[5]) ^ (~e & v[6])) + K512[t] + w[t];
        uint64_t t2 = (rotr64(a, 28) ^ rotr64(a, 34) ^ rotr64(a, 39)) + ((a & v[1]) ^ (a & v[2]) ^ (v[1] & v[2]));
        memmove(v + 1, v, 7 * sizeof v[0]);
        v[4] += t1;
        v[0] = t1 + t2;
    }
    for (int i = 0; i < 8; i++) h[i] += v[i];
}

static void sha512_init(sha512 *s) {
    static const uint64_t iv[8] = {0x6a09e667f3bcc908ULL, 0xbb67ae8584caa73bULL, 0x3c6ef372fe94f82bULL, 0xa54ff53a5f1d36f1ULL, 0x510e527fade682d1ULL, 0x9b05688c2b3e6c1fULL, 0x1f83d9abfb41bd6bULL, 0x5be0cd19137e2179ULL};
    memcpy(s->h, iv, sizeof iv);
    s->len = 0;
    s->nbuf = 0;
}

static void sha512_update(sha512 *s, const void *data, size_t n) {
    const uint8_t *p = data;
    s->len += n;
    while (n > 0) {
        size_t take = 128 - s->nbuf < n ? 128 - s->nbuf : n;
        memcpy(s->buf + s->nbuf, p, take);
        s->nbuf += take, p += take, n -= take;
        if (s->nbuf == 128) {
            sha512_block(s->h, s->buf);
            s->nbuf = 0;
        }
    }
}

static void sha512_final(sha512 *s, uint8_t out[64]) {
    uint64_t bits = s->len * 8;
    uint8_t pad[144] = {0x80};
    size_t npad = (s->nbuf < 112 ? 112 : 240) - s->nbuf; /* to 112 mod 128, then a 128-bit length */
    for (int i = 0; i < 8; i++) pad[npad + 8 + (size_t)i] = (uint8_t)(bits >> (56 - 8 * i));
    sha512_update(s, pad, npad + 16);
    for (int i = 0; i < 8; i++)
        for (int j = 0; j < 8; j++) out[8 * i + j] = (uint8_t)(s->h[i] >> (56 - 8 * j));
}

/* ---- the field GF(2^255 - 19) ------------------------------------------------------ */

typedef int64_t fe[16];

static void fe_set(fe o, int64_t v) {
    memset(o, 0, sizeof(fe));
    o[0] = v;
}

/* Limbs back to [0, 2^16), the carry out of the top limb folded in as 38x. */
static void fe_carry(fe o) {
    for (int pass = 0; pass < 2; pass++)
        for (int i = 0; i < 16; i++) {
            int64_t low = o[i] & 0xffff, c = (o[i] - low) / 65536; /* exact: floor division */
            o[i] = low;
            if (i < 15) o[i + 1] += c;
            else o[0] += 38 * c;
        }
}

static void fe_add(fe o, const fe a, const fe b) {
    for (int i = 0; i < 16; i++) o[i] = a[i] + b[i];
}

static void fe_sub(fe o, const fe a, const fe b) {
    for (int i = 0; i < 16; i++) o[i] = a[i] - b[i];
}

static void fe_mul(fe o, const fe a, const fe b) {
    int64_t t[31] = {0};
    for (int i = 0; i < 16; i++)
        for (int j = 0; j < 16; j++) t[i + j] += a[i] * b[j];
    for (int i = 0; i < 15; i++) t[i] += 38 * t[i + 16];
    memcpy(o, t, sizeof(fe));
    fe_carry(o);
}

/* a^e, e little-endian bytes (32) */
static void fe_pow(fe o, const fe a, const uint8_t e[32]) {
    fe r, b;
    fe_set(r, 1);
    memcpy(b, a, sizeof b);
    for (int bit = 255; bit >= 0; bit--) {
        fe_mul(r, r, r);
        if (e[bit / 8] >> (bit % 8) & 1) fe_mul(r, r, b);
    }
    memcpy(o, r, sizeof r);
}

/* p - 2 + k, little-endian (k small): the exponents used below */
static void exponent(uint8_t e[32], int low, uint8_t top) {
    memset(e, 0xff, 32);
    e[0] = (uint8_t)low;
    e[31] = top;
}

static void fe_inv(fe o, const fe a) {
    uint8_t e[32];
    exponent(e, 0xeb, 0x7f); /* p - 2 */
    fe_pow(o, a, e);
}

/* The canonical 32 bytes (value mod p, little-endian). */
static void fe_pack(uint8_t out[32], const fe a) {
    fe t;
    memcpy(t, a, sizeof t);
    for (bool normal = false; !normal;) { /* until 0 <= value < 2^256, every limb in [0, 2^16) */
        fe_carry(t);
        normal = true;
        for (int i = 0; i < 16; i++) normal = normal && t[i] >= 0 && t[i] < 65536;
    }
    static const int64_t p[16] = {0xffed, 0xffff, 0xffff, 0xffff, 0xffff, 0xffff, 0xffff, 0xffff,
                                  0xffff, 0xffff, 0xffff, 0xffff, 0xffff, 0xffff, 0xffff, 0x7fff};
    for (int round = 0; round < 3; round++) { /* value < 2^256 < 3p: subtract p while value >= p */
        fe d;
        int64_t borrow = 0;
        for (int i = 0; i < 16; i++) {
            d[i] = t[i] - p[i] - borrow;
            borrow = d[i] < 0;
            d[i] += borrow * 65536;
        }
        if (!borrow) memcpy(t, d, sizeof t);
    }
    for (int i = 0; i < 16; i++) {
        out[2 * i] = (uint8_t)(t[i] & 0xff);
        out[2 * i + 1] = (uint8_t)(t[i] >> 8);
    }
}

static bool fe_equal(const fe a, const fe b) {
    uint8_t x[32], y[32];
    fe_pack(x, a);
    fe_pack(y, b);
    return memcmp(x, y, 32) == 0;
}

static int fe_parity(const fe a) {
    uint8_t x[32];
    fe_pack(x, a);
    return x[0] & 1;
}

/* The low 255 bits of s (the top bit is a point encoding's sign of x). */
static void fe_unpack(fe o, const uint8_t s[32]) {
    for (int i = 0; i < 16; i++) o[i] = s[2 * i] | (int64_t)s[2 * i + 1] << 8;
    o[15] &= 0x7fff;
}

/* ---- the curve ------------------------------------------------------------------- */

typedef struct point {
    fe X, Y, Z, T;
} point;

static fe D, D2, SQRTM1;
static point BASE;
static bool ready;

static void point_add(point *o, const point *p, const point *q) {
    fe a, b, c, d, e, f, g, h, t;
    fe_sub(a, p->Y, p->X);
    fe_sub(t, q->Y, q->X);
    fe_mul(a, a, t);
    fe_add(b, p->Y, p->X);
    fe_add(t, q->Y, q->X);
    fe_mul(b, b, t);
    fe_mul(c, p->T, q->T);
    fe_mul(c, c, D2);
    fe_mul(d, p->Z, q->Z);
    fe_add(d, d, d);
    fe_sub(e, b, a);
    fe_sub(f, d, c);
    fe_add(g, d, c);
    fe_add(h, b, a);
    fe_mul(o->X, e, f);
    fe_mul(o->Y, g, h);
    fe_mul(o->T, e, h);
    fe_mul(o->Z, f, g);
}

static void point_identity(point *o) {
    fe_set(o->X, 0);
    fe_set(o->Y, 1);
    fe_set(o->Z, 1);
    fe_set(o->T, 0);
}

/* [k]P, k 32 little-endian bytes */
static void point_mul(point *o, const point *p, const uint8_t k[32]) {
    point r;
    point_identity(&r);
    for (int bit = 255; bit >= 0; bit--) {
        point_add(&r, &r, &r);
        if (k[bit / 8] >> (bit % 8) & 1) point_add(&r, &r, p);
    }
    *o = r;
}

static bool point_is_identity(const point *p) {
    fe zero;
    fe_set(zero, 0);
    return fe_equal(p->X, zero) && fe_equal(p->Y, p->Z);
}

static void point_encode(uint8_t out[32], const point *p) {
    fe zi, x, y;
    fe_inv(zi, p->Z);
    fe_mul(x, p->X, zi);
    fe_mul(y, p->Y, zi);
    fe_pack(out, y);
    out[31] ^= (uint8_t)(fe_parity(x) << 7);
}

/* x from y and the sign bit: x^2 = (y^2 - 1) / (d y^2 + 1). False if there
 * is no such x (not a point). */
static bool point_decode(point *o, const uint8_t s[32]) {
    fe y, u, v, w, x, t, one;
    fe_set(one, 1);
    fe_unpack(y, s);
    fe_mul(u, y, y);
    fe_mul(v, u, D);
    fe_sub(u, u, one);
    fe_add(v, v, one);
    fe_inv(t, v);
    fe_mul(w, u, t); /* x^2 */
    uint8_t e[32];
    exponent(e, 0xfe, 0x0f); /* (p + 3) / 8 = 2^252 - 2 */
    fe_pow(x, w, e);
    fe_mul(t, x, x);
    if (!fe_equal(t, w)) {
        fe_mul(x, x, SQRTM1);
        fe_mul(t, x, x);
        if (!fe_equal(t, w)) return false;
    }
    if (fe_parity(x) != s[31] >> 7) {
        fe zero;
        fe_set(zero, 0);
        fe_sub(x, zero, x);
    }
    memcpy(o->X, x, sizeof x);
    memcpy(o->Y, y, sizeof y);
    fe_set(o->Z, 1);
    fe_mul(o->T, x, y);
    return true;
}

static bool small_order(const point *p) {
    point q = *p;
    for (int i = 0; i < 3; i++) point_add(&q, &q, &q);
    return point_is_identity(&q);
}

static void setup(void) {
    fe a, b;
    fe_set(a, 121666);
    fe_inv(b, a);
    fe_set(a, -121665);
    fe_mul(D, a, b); /* d = -121665 / 121666 */
    fe_add(D2, D, D);
    uint8_t e[32];
    exponent(e, 0xfb, 0x1f); /* (p - 1) / 4 = 2^253 - 5 */
    fe_set(a, 2);
    fe_pow(SQRTM1, a, e); /* 2 is a non-residue, so 2^((p-1)/4) is a square root of -1 */
    fe_set(a, 5);
    fe_inv(b, a);
    fe_set(a, 4);
    fe_mul(a, a, b); /* the base point: y = 4/5, x even */
    uint8_t s[32];
    fe_pack(s, a);
    point_decode(&BASE, s);
    ready = true;
}

/* ---- scalars mod L = 2^252 + 27742317777372353535851937790883648493 ------------------ */

static const uint8_t L_BYTES[32] = {0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7,
                                    0xa2, 0xde, 0xf9, 0xde, 0x14, 0,    0,    0,    0,    0,    0,
                                    0,    0,    0,    0,    0,    0,    0,    0,    0,    0x10};

/* a < b for 32-byte little-endian numbers */
static bool less_le(const uint8_t a[32], const uint8_t b[32]) {
    for (int i = 31; i >= 0; i--)
        if (a[i] != b[i]) return a[i] < b[i];
    return false;
}

/* x (n little-endian bytes) mod L, bit by bit: r = 2r + bit, minus L when >= L. */
static void reduce_mod_l(uint8_t out[32], const uint8_t *x, size_t n) {
    uint8_t r[32] = {0};
    for (size_t bit = 8 * n; bit-- > 0;) {
        int carry = x[bit / 8] >> (bit % 8) & 1;
        for (int i = 0; i < 32; i++) {
            int v = r[i] << 1 | carry;
            r[i] = (uint8_t)v;
            carry = v >> 8;
        }
        if (!less_le(r, L_BYTES)) {
            int borrow = 0;
            for (int i = 0; i < 32; i++) {
                int v = r[i] - L_BYTES[i] - borrow;
                borrow = v < 0;
                r[i] = (uint8_t)(v + 256 * borrow);
            }
        }
    }
    memcpy(out, r, 32);
}

/* ---- verification ------------------------------------------------------------------ */

bool wasm_ed25519_verify(const unsigned char sig[64], const unsigned char *msg, size_t n,
                         const unsigned char pk[32]) {
    if (!ready) setup();
    if (!less_le(sig + 32, L_BYTES)) return false; /* S >= L */
    point R, A;
    if (point_decode(&R, sig) && small_order(&R)) return false;
    /* the key: a canonical encoding (y < p), a point, not of small order */
    uint8_t y[32];
    memcpy(y, pk, 32);
    y[31] &= 0x7f;
    static const uint8_t P_BYTES[32] = {0xed, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                                        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                                        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f};
    if (!less_le(y, P_BYTES) || !point_decode(&A, pk) || small_order(&A)) return false;
    sha512 s;
    uint8_t h[64], k[32];
    sha512_init(&s);
    sha512_update(&s, sig, 32);
    sha512_update(&s, pk, 32);
    sha512_update(&s, msg, n);
    sha512_final(&s, h);
    reduce_mod_l(k, h, 64);
    point sb, ha;
    point_mul(&sb, &BASE, sig + 32);
    point_mul(&ha, &A, k);
    fe zero;
    fe_set(zero, 0);
    fe_sub(ha.X, zero, ha.X); /* -[h]A */
    fe_sub(ha.T, zero, ha.T);
    point_add(&sb, &sb, &ha);
    uint8_t check[32];
    point_encode(check, &sb);
    return memcmp(check, sig, 32) == 0;
}

/* SHA-512 for the tests (tests/test_wasm.c). */
void wasm_sha512(const void *data, size_t n, unsigned char out[64]) {
    sha512 s;
    sha512_init(&s);
    sha512_update(&s, data, n);
    sha512_final(&s, out);
}
