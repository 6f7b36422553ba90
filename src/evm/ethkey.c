/*
 * ethkey.c — secp256k1 keys, Ethereum addresses (EIP-55), RLP and signed
 * EIP-1559 transactions.
 *
 * The curve arithmetic is libsecp256k1's (Debian's libsecp256k1-dev, with
 * its recovery module); this file only frames bytes. Signatures are
 * RFC 6979 deterministic and low-s, as every Ethereum node requires.
 *
 * Non-goals: legacy and EIP-2930 transactions, non-empty access lists, blob
 * transactions.
 */
#include "../base/plow.h"

#include "evm.h"

#include <pthread.h>
#include <secp256k1.h>
#include <secp256k1_recovery.h>
#include <sodium.h>

static secp256k1_context *g_ctx;
static pthread_once_t g_once = PTHREAD_ONCE_INIT;

static void ctx_init(void) {
    g_ctx = secp256k1_context_create(SECP256K1_CONTEXT_NONE);
    PLOW_ASSERT(g_ctx);
    uint8_t seed[32];
    PLOW_ASSERT(sodium_init() >= 0);
    randombytes_buf(seed, sizeof seed);
    PLOW_ASSERT(secp256k1_context_randomize(g_ctx, seed) == 1); /* blinding against side channels */
}

static secp256k1_context *ctx(void) {
    pthread_once(&g_once, ctx_init);
    return g_ctx;
}

void eth_addr_from_pub(const uint8_t pub[64], uint8_t addr[ETH_ADDR_LEN]) {
    uint8_t h[32];
    keccak256(pub, 64, h);
    memcpy(addr, h + 12, ETH_ADDR_LEN);
}

int eth_key_from_secret(eth_key *k, const uint8_t secret[32], char err[PLOW_ERR_LEN]) {
    memset(k, 0, sizeof *k);
    if (!secp256k1_ec_seckey_verify(ctx(), secret))
        return plow_error(err, "eth: the secret key is zero or not below the curve order");
    secp256k1_pubkey pk;
    if (!secp256k1_ec_pubkey_create(ctx(), &pk, secret)) return plow_error(err, "eth: cannot derive the public key");
    uint8_t ser[65];
    size_t len = sizeof ser;
    secp256k1_ec_pubkey_serialize(ctx(), ser, &len, &pk, SECP256K1_EC_UNCOMPRESSED);
    PLOW_ASSERT(len == 65 && ser[0] == 4);
    memcpy(k->secret, secret, 32);
    memcpy(k->pub, ser + 1, 64);
    eth_addr_from_pub(k->pub, k->addr);
    return 0;
}

int eth_key_generate(eth_key *k, char err[PLOW_ERR_LEN]) {
    uint8_t s[32];
    PLOW_ASSERT(sodium_init() >= 0);
    for (int tries = 0; tries < 16; tries++) {
        randombytes_buf(s, sizeof s);
        if (secp256k1_ec_seckey_verify(ctx(), s)) {
            int rc = eth_key_from_secret(k, s, err);
            sodium_memzero(s, sizeof s);
            return rc;
        }
    }
    return plow_error(err, "eth: the random source gave no valid key");
}

void eth_key_wipe(eth_key *k) { sodium_memzero(k, sizeof *k); }

void eth_addr_checksum(const uint8_t addr[ETH_ADDR_LEN], char out[43]) {
    char lower[41];
    plow_hex(addr, ETH_ADDR_LEN, lower);
    uint8_t h[32];
    keccak256(lower, 40, h);
    out[0] = '0';
    out[1] = 'x';
    for (int i = 0; i < 40; i++) {
        int nib = (h[i / 2] >> (i % 2 ? 0 : 4)) & 15;
        char ch = lower[i];
        out[2 + i] = (ch >= 'a' && nib >= 8) ? (char)(ch - 'a' + 'A') : ch;
    }
    out[42] = 0;
}

int eth_addr_parse(const char *s, uint8_t addr[ETH_ADDR_LEN], char err[PLOW_ERR_LEN]) {
    if (!s || strncmp(s, "0x", 2) != 0 || strlen(s) != 42)
        return plow_error(err, "eth: an address is 0x followed by 40 hex digits");
    bool upper = false, lower = false;
    char low[41];
    for (int i = 0; i < 40; i++) {
        char c = s[2 + i];
        if (c >= 'A' && c <= 'F') upper = true, c = (char)(c - 'A' + 'a');
        else if (c >= 'a' && c <= 'f') lower = true;
        else if (!(c >= '0' && c <= '9')) return plow_error(err, "eth: '%s' is not a hex address", s);
        low[i] = c;
    }
    low[40] = 0;
    if (plow_unhex(low, addr, ETH_ADDR_LEN)) return plow_error(err, "eth: '%s' is not a hex address", s);
    if (upper && lower) {
        char want[43];
        eth_addr_checksum(addr, want);
        if (strcmp(want, s) != 0) return plow_error(err, "eth: address '%s' fails its EIP-55 checksum", s);
    }
    return 0;
}

int eth_sign_hash(const eth_key *k, const uint8_t hash[32], uint8_t r[32], uint8_t s[32], int *v,
                  char err[PLOW_ERR_LEN]) {
    secp256k1_ecdsa_recoverable_signature sig;
    if (!secp256k1_ecdsa_sign_recoverable(ctx(), &sig, hash, k->secret, NULL, NULL))
        return plow_error(err, "eth: signing failed");
    uint8_t rs[64];
    int recid = 0;
    secp256k1_ecdsa_recoverable_signature_serialize_compact(ctx(), rs, &recid, &sig);
    memcpy(r, rs, 32);
    memcpy(s, rs + 32, 32);
    *v = recid;
    return 0;
}

int eth_recover(const uint8_t hash[32], const uint8_t r[32], const uint8_t s[32], int v,
                uint8_t addr[ETH_ADDR_LEN], char err[PLOW_ERR_LEN]) {
    if (v != 0 && v != 1) return plow_error(err, "eth: the recovery id must be 0 or 1");
    uint8_t rs[64];
    memcpy(rs, r, 32);
    memcpy(rs + 32, s, 32);
    secp256k1_ecdsa_recoverable_signature sig;
    if (!secp256k1_ecdsa_recoverable_signature_parse_compact(ctx(), &sig, rs, v))
        return plow_error(err, "eth: malformed signature");
    /* High s is malleable: Ethereum (EIP-2) refuses it, so do we. */
    secp256k1_ecdsa_signature plain;
    secp256k1_ecdsa_recoverable_signature_convert(ctx(), &plain, &sig);
    if (secp256k1_ecdsa_signature_normalize(ctx(), NULL, &plain))
        return plow_error(err, "eth: signature has a high s value");
    secp256k1_pubkey pk;
    if (!secp256k1_ecdsa_recover(ctx(), &pk, &sig, hash)) return plow_error(err, "eth: signature does not recover a key");
    uint8_t ser[65];
    size_t len = sizeof ser;
    secp256k1_ec_pubkey_serialize(ctx(), ser, &len, &pk, SECP256K1_EC_UNCOMPRESSED);
    eth_addr_from_pub(ser + 1, addr);
    return 0;
}

/* ---- RLP ---- */

static void put_len(plow_buf *b, uint8_t base, size_t n) {
    if (n < 56) {
        uint8_t h = (uint8_t)(base + n);
        plow_buf_append(b, &h, 1);
        return;
    }
    uint8_t be[8];
    int k = 0;
    for (size_t x = n; x; x >>= 8) k++;
    for (int i = 0; i < k; i++) be[i] = (uint8_t)(n >> (8 * (k - 1 - i)));
    uint8_t h = (uint8_t)(base + 55 + k);
    plow_buf_append(b, &h, 1);
    plow_buf_append(b, be, (size_t)k);
}

void rlp_put_bytes(plow_buf *b, const uint8_t *p, size_t n) {
    if (n == 1 && p[0] < 0x80) {
        plow_buf_append(b, p, 1);
        return;
    }
    put_len(b, 0x80, n);
    if (n) plow_buf_append(b, p, n);
}

void rlp_put_u64(plow_buf *b, uint64_t v) {
    uint8_t be[8];
    eth_put_be64(be, v);
    int z = 0;
    while (z < 8 && be[z] == 0) z++;
    rlp_put_bytes(b, be + z, (size_t)(8 - z));
}

void rlp_put_u256(plow_buf *b, const uint8_t be[32]) {
    int z = 0;
    while (z < 32 && be[z] == 0) z++;
    rlp_put_bytes(b, be + z, (size_t)(32 - z));
}

void rlp_wrap_list(plow_buf *b, size_t start) {
    size_t n = b->len - start;
    plow_buf h = {0};
    put_len(&h, 0xc0, n);
    plow_buf_append(b, h.data, h.len); /* grow, then shift right */
    memmove(b->data + start + h.len, b->data + start, n);
    memcpy(b->data + start, h.data, h.len);
    plow_buf_release(&h);
}

int rlp_next(const uint8_t *p, size_t n, rlp_item *it, size_t *used, char err[PLOW_ERR_LEN]) {
    if (n == 0) return plow_error(err, "rlp: truncated: no item");
    uint8_t h = p[0];
    size_t hl, len;
    if (h < 0x80) {
        it->is_list = false;
        it->data = p;
        it->len = 1;
        *used = 1;
        return 0;
    }
    bool list = h >= 0xc0;
    uint8_t base = list ? 0xc0 : 0x80;
    if (h - base < 56) {
        hl = 1;
        len = (size_t)(h - base);
    } else {
        size_t k = (size_t)(h - base - 55);
        if (k > 8 || 1 + k > n) return plow_error(err, "rlp: truncated length");
        if (p[1] == 0) return plow_error(err, "rlp: length with a leading zero");
        len = 0;
        for (size_t i = 0; i < k; i++) {
            if (len >> 56) return plow_error(err, "rlp: length too large");
            len = (len << 8) | p[1 + i];
        }
        if (len < 56) return plow_error(err, "rlp: long form for a short item");
        hl = 1 + k;
    }
    if (len > n - hl) return plow_error(err, "rlp: truncated: item of %zu bytes, %zu left", len, n - hl);
    if (!list && len == 1 && p[hl] < 0x80) return plow_error(err, "rlp: a single byte below 0x80 must encode itself");
    it->is_list = list;
    it->data = p + hl;
    it->len = len;
    *used = hl + len;
    return 0;
}

int rlp_item_u64(const rlp_item *it, uint64_t *v, char err[PLOW_ERR_LEN]) {
    if (it->is_list) return plow_error(err, "rlp: expected an integer, got a list");
    if (it->len > 8) return plow_error(err, "rlp: integer wider than 64 bits");
    if (it->len > 0 && it->data[0] == 0) return plow_error(err, "rlp: integer with a leading zero");
    uint64_t x = 0;
    for (size_t i = 0; i < it->len; i++) x = (x << 8) | it->data[i];
    *v = x;
    return 0;
}

/* ---- EIP-1559 ---- */

static void tx_fields(plow_buf *b, const eth_tx *tx) {
    rlp_put_u64(b, tx->chain_id);
    rlp_put_u64(b, tx->nonce);
    rlp_put_u64(b, tx->max_priority_fee);
    rlp_put_u64(b, tx->max_fee);
    rlp_put_u64(b, tx->gas);
    rlp_put_bytes(b, tx->has_to ? tx->to : NULL, tx->has_to ? ETH_ADDR_LEN : 0);
    rlp_put_u256(b, tx->value);
    rlp_put_bytes(b, tx->data, tx->data_len);
    size_t al = b->len; /* empty access list */
    rlp_wrap_list(b, al);
}

void eth_tx_signing_hash(const eth_tx *tx, uint8_t out[32]) {
    plow_buf b = {0};
    uint8_t type = 2;
    plow_buf_append(&b, &type, 1);
    tx_fields(&b, tx);
    rlp_wrap_list(&b, 1);
    keccak256(b.data, b.len, out);
    plow_buf_release(&b);
}

int eth_tx_sign(const eth_tx *tx, const eth_key *k, plow_buf *raw, uint8_t hash[32],
                char err[PLOW_ERR_LEN]) {
    uint8_t h[32], r[32], s[32];
    int v;
    eth_tx_signing_hash(tx, h);
    if (eth_sign_hash(k, h, r, s, &v, err)) return -1;
    size_t start = raw->len;
    uint8_t type = 2;
    plow_buf_append(raw, &type, 1);
    tx_fields(raw, tx);
    rlp_put_u64(raw, (uint64_t)v);
    rlp_put_u256(raw, r);
    rlp_put_u256(raw, s);
    rlp_wrap_list(raw, start + 1);
    keccak256(raw->data + start, raw->len - start, hash);
    return 0;
}

/* A big-endian integer of at most 32 bytes, canonical, right-aligned in out. */
static int item_u256(const rlp_item *it, uint8_t out[32], char err[PLOW_ERR_LEN]) {
    if (it->is_list || it->len > 32) return plow_error(err, "rlp: expected an integer of at most 256 bits");
    if (it->len > 0 && it->data[0] == 0) return plow_error(err, "rlp: integer with a leading zero");
    memset(out, 0, 32);
    memcpy(out + 32 - it->len, it->data, it->len);
    return 0;
}

int eth_tx_decode(const uint8_t *raw, size_t n, eth_tx *tx, uint8_t from[ETH_ADDR_LEN],
                  char err[PLOW_ERR_LEN]) {
    memset(tx, 0, sizeof *tx);
    if (n < 1 || raw[0] != 2) return plow_error(err, "eth: not a type-2 (EIP-1559) transaction");
    rlp_item list, f[12];
    size_t used;
    if (rlp_next(raw + 1, n - 1, &list, &used, err)) return -1;
    if (!list.is_list || used != n - 1) return plow_error(err, "eth: a transaction is one RLP list and nothing after it");
    size_t off = 0;
    int k = 0;
    while (off < list.len) {
        if (k == 12) return plow_error(err, "eth: too many transaction fields");
        if (rlp_next(list.data + off, list.len - off, &f[k], &used, err)) return -1;
        off += used;
        k++;
    }
    if (k != 12) return plow_error(err, "eth: a type-2 transaction has 12 fields, this one %d", k);
    uint64_t v;
    if (rlp_item_u64(&f[0], &tx->chain_id, err) || rlp_item_u64(&f[1], &tx->nonce, err) ||
        rlp_item_u64(&f[2], &tx->max_priority_fee, err) || rlp_item_u64(&f[3], &tx->max_fee, err) ||
        rlp_item_u64(&f[4], &tx->gas, err) || rlp_item_u64(&f[9], &v, err))
        return -1;
    if (f[5].is_list || (f[5].len != 0 && f[5].len != ETH_ADDR_LEN)) return plow_error(err, "eth: bad 'to' field");
    tx->has_to = f[5].len == ETH_ADDR_LEN;
    if (tx->has_to) memcpy(tx->to, f[5].data, ETH_ADDR_LEN);
    if (item_u256(&f[6], tx->value, err)) return -1;
    if (f[7].is_list) return plow_error(err, "eth: bad data field");
    tx->data = f[7].data;
    tx->data_len = f[7].len;
    if (!f[8].is_list || f[8].len != 0) return plow_error(err, "eth: only an empty access list is supported");
    if (v > 1) return plow_error(err, "eth: yParity must be 0 or 1");
    uint8_t r[32], s[32], h[32];
    if (item_u256(&f[10], r, err) || item_u256(&f[11], s, err)) return -1;
    eth_tx_signing_hash(tx, h);
    return eth_recover(h, r, s, (int)v, from, err);
}
