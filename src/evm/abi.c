/*
 * abi.c — the Solidity ABI's calldata for the few shapes plow's contracts
 * take: 32-byte words (uint256, address, bytes32) in the head, and dynamic
 * `bytes`, `bytes32[]` and `uint256[]` as an offset in the head and their
 * length and contents in the tail.
 *
 * A tuple with dynamic members is encoded by its own abi_enc (begun with
 * no signature) and placed with abi_tuple; an array of static tuples is
 * abi_tuples. Non-goals: deeper nesting, decoding anything but words.
 */
#include "../base/plow.h"

#include "evm.h"

void abi_selector(const char *signature, uint8_t out[4]) {
    uint8_t h[32];
    keccak256(signature, strlen(signature), h);
    memcpy(out, h, 4);
}

void abi_begin(abi_enc *e, const char *signature, size_t head_words) {
    memset(e, 0, sizeof *e);
    e->nhead = head_words;
    if (!signature) return; /* constructor arguments, a tuple, abi.encode */
    uint8_t sel[4];
    abi_selector(signature, sel);
    plow_buf_append(&e->head, sel, 4);
    e->sel = 4;
}

void abi_word(abi_enc *e, const uint8_t w[32]) { plow_buf_append(&e->head, w, 32); }

static void u64_word(uint64_t v, uint8_t w[32]) {
    memset(w, 0, 32);
    eth_put_be64(w + 24, v);
}

void abi_u64(abi_enc *e, uint64_t v) {
    uint8_t w[32];
    u64_word(v, w);
    abi_word(e, w);
}

void abi_addr(abi_enc *e, const uint8_t a[ETH_ADDR_LEN]) {
    uint8_t w[32] = {0};
    memcpy(w + 12, a, ETH_ADDR_LEN);
    abi_word(e, w);
}

/* The head word that points at the next tail entry. */
static void tail_offset(abi_enc *e) { abi_u64(e, (uint64_t)(e->nhead * 32 + e->tail.len)); }

void abi_bytes(abi_enc *e, const uint8_t *p, size_t n) {
    tail_offset(e);
    uint8_t w[32];
    u64_word(n, w);
    plow_buf_append(&e->tail, w, 32);
    if (n) plow_buf_append(&e->tail, p, n);
    static const uint8_t zero[32] = {0};
    if (n % 32) plow_buf_append(&e->tail, zero, 32 - n % 32);
}

void abi_words(abi_enc *e, const uint8_t *wds, size_t nwords) {
    tail_offset(e);
    uint8_t w[32];
    u64_word(nwords, w);
    plow_buf_append(&e->tail, w, 32);
    if (nwords) plow_buf_append(&e->tail, wds, nwords * 32);
}

void abi_u64s(abi_enc *e, const uint64_t *v, size_t n) {
    tail_offset(e);
    uint8_t w[32];
    u64_word(n, w);
    plow_buf_append(&e->tail, w, 32);
    for (size_t i = 0; i < n; i++) {
        u64_word(v[i], w);
        plow_buf_append(&e->tail, w, 32);
    }
}

void abi_tuple(abi_enc *e, abi_enc *sub) {
    tail_offset(e);
    PLOW_ASSERT(sub->sel == 0 && sub->head.len == 32 * sub->nhead);
    plow_buf_append(&e->tail, sub->head.data, sub->head.len);
    if (sub->tail.len) plow_buf_append(&e->tail, sub->tail.data, sub->tail.len);
    abi_release(sub);
}

void abi_tuples(abi_enc *e, const uint8_t *w, size_t count, size_t words_each) {
    tail_offset(e);
    uint8_t len[32];
    u64_word(count, len);
    plow_buf_append(&e->tail, len, 32);
    if (count) plow_buf_append(&e->tail, w, count * words_each * 32);
}

void abi_end(abi_enc *e, plow_buf *out) {
    PLOW_ASSERT(e->head.len == e->sel + 32 * e->nhead);
    *out = e->head;
    if (e->tail.len) plow_buf_append(out, e->tail.data, e->tail.len);
    plow_buf_release(&e->tail);
    memset(e, 0, sizeof *e);
}

void abi_release(abi_enc *e) {
    plow_buf_release(&e->head);
    plow_buf_release(&e->tail);
}

int abi_get_word(const uint8_t *data, size_t n, size_t i, uint8_t w[32], char err[PLOW_ERR_LEN]) {
    if (n / 32 <= i) return plow_error(err, "abi: the result has %zu words, word %zu asked", n / 32, i);
    memcpy(w, data + 32 * i, 32);
    return 0;
}

int abi_get_u64(const uint8_t *data, size_t n, size_t i, uint64_t *v, char err[PLOW_ERR_LEN]) {
    if (n / 32 <= i) return plow_error(err, "abi: the result has %zu words, word %zu asked", n / 32, i);
    const uint8_t *w = data + 32 * i;
    for (int k = 0; k < 24; k++)
        if (w[k]) return plow_error(err, "abi: word %zu does not fit 64 bits", i);
    *v = eth_get_be64(w + 24);
    return 0;
}
