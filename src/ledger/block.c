/*
 * block.c — the block header's fixed 152-byte encoding and its hash.
 *
 *   u32 version (1) | u64 height | u64 time_ms | prev[32] | tx_root[32] |
 *   results[32] | state_root[32] | u32 n_txs          (little-endian)
 *
 * A block's hash is SHA-256 of these bytes; the next block names it as prev.
 * The header carries no signature: the operator's signature over the hash is
 * the node's business (docs/api.md).
 */
#include "../base/plow.h"

#include "ledger.h"

#define BLOCK_VERSION 1

_Static_assert(LEDGER_BLOCK_HEADER_LEN == 4 + 8 + 8 + 32 * 4 + 4, "header length");

/* Writes the header as is (any version): decode refuses what it cannot read. */
void ledger_block_encode(const ledger_block_header *h, uint8_t out[LEDGER_BLOCK_HEADER_LEN]) {
    uint8_t *p = out;
    plow_put_u32(p, h->version), p += 4;
    plow_put_u64(p, h->height), p += 8;
    plow_put_u64(p, h->time_ms), p += 8;
    memcpy(p, h->prev, 32), p += 32;
    memcpy(p, h->tx_root, 32), p += 32;
    memcpy(p, h->results, 32), p += 32;
    memcpy(p, h->state_root, 32), p += 32;
    plow_put_u32(p, h->n_txs), p += 4;
    PLOW_ASSERT(p == out + LEDGER_BLOCK_HEADER_LEN);
}

/* Exactly LEDGER_BLOCK_HEADER_LEN bytes of version 1; every other field is
 * taken as is (heights, times and roots are checked against the chain by
 * whoever follows it). */
int ledger_block_decode(ledger_block_header *h, const uint8_t *buf, size_t len, char err[PLOW_ERR_LEN]) {
    memset(h, 0, sizeof *h);
    if (len != LEDGER_BLOCK_HEADER_LEN)
        return plow_error(err, "block header of %zu bytes, expected %d", len, LEDGER_BLOCK_HEADER_LEN);
    uint32_t version = plow_get_u32(buf);
    if (version != BLOCK_VERSION)
        return plow_error(err, "block header version %u, this build reads version %d", version, BLOCK_VERSION);
    const uint8_t *p = buf + 4;
    h->version = version;
    h->height = plow_get_u64(p), p += 8;
    h->time_ms = plow_get_u64(p), p += 8;
    memcpy(h->prev, p, 32), p += 32;
    memcpy(h->tx_root, p, 32), p += 32;
    memcpy(h->results, p, 32), p += 32;
    memcpy(h->state_root, p, 32), p += 32;
    h->n_txs = plow_get_u32(p);
    return 0;
}

void ledger_block_hash(const ledger_block_header *h, uint8_t out[32]) {
    uint8_t b[LEDGER_BLOCK_HEADER_LEN];
    ledger_block_encode(h, b);
    plow_sha256_once(b, sizeof b, out);
}

void ledger_block_release(ledger_block *b) {
    if (!b) return;
    for (uint32_t i = 0; b->txs && i < b->n_txs; i++) plow_buf_release(&b->txs[i]);
    for (uint32_t i = 0; b->errors && i < b->n_txs; i++) free(b->errors[i]);
    free(b->txs);
    free(b->results);
    free(b->errors);
    memset(b, 0, sizeof *b);
}
