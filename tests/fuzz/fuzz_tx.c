/*
 * fuzz_tx.c — libFuzzer target for the ledger's decoders: transactions,
 * block headers, genesis files and addresses.
 *
 *   clang -std=c17 -g -O1 -fsanitize=fuzzer,address,undefined \
 *       tests/fuzz/fuzz_tx.c src/ledger/tx.c src/ledger/keys.c src/ledger/genesis.c \
 *       src/ledger/block.c src/merkle/merkle.c src/base/plow.c \
 *       -lcjson -lcrypto -lsodium -o fuzz_tx && ./fuzz_tx -max_total_time=60 CORPUS_DIR
 *
 * Every input goes to every decoder (they share no state). Any input may be
 * rejected; none may crash. The transaction and header encodings are
 * canonical, so an accepted input must encode back to exactly its own bytes,
 * and an accepted genesis must be internally consistent.
 *
 * Random bytes rarely make a valid challenge (four Merkle proofs) or a
 * reveal whose count matches its bytes, so the
 * input also drives a generator: it builds a valid transaction of any type
 * from the bytes (which must decode), then damages its encoding at places
 * the input picks (which must decode canonically or be refused).
 */
#include "../../src/base/plow.h"

#include <strings.h>

#include "../../src/ledger/ledger.h"

#define FUZZ_CHECK(c) ((c) ? (void)0 : abort())

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_tx(const uint8_t *data, size_t size) {
    char err[PLOW_ERR_LEN];
    ledger_tx tx;
    err[0] = 0;
    if (ledger_tx_decode(&tx, data, size, err) != 0) {
        FUZZ_CHECK(err[0]);
        return;
    }
    plow_buf b = {0};
    ledger_tx_encode(&tx, &b);
    FUZZ_CHECK(b.len == size && memcmp(b.data, data, size) == 0);
    plow_buf_release(&b);
    /* Strings are NUL-terminated within their arrays. */
    if (tx.type == LEDGER_TX_REGISTER)
        FUZZ_CHECK(memchr(tx.u.reg.name, 0, sizeof tx.u.reg.name) && memchr(tx.u.reg.caps, 0, sizeof tx.u.reg.caps));
    uint8_t h[32], chain[32] = {0};
    ledger_tx_hash(&tx, h);
    (void)ledger_tx_verify(&tx, chain);
}

static void check_block(const uint8_t *data, size_t size) {
    char err[PLOW_ERR_LEN];
    ledger_block_header h;
    err[0] = 0;
    if (ledger_block_decode(&h, data, size, err) != 0) {
        FUZZ_CHECK(err[0]);
        return;
    }
    uint8_t out[LEDGER_BLOCK_HEADER_LEN];
    ledger_block_encode(&h, out);
    FUZZ_CHECK(size == LEDGER_BLOCK_HEADER_LEN && memcmp(out, data, size) == 0);
}

static void check_genesis(const uint8_t *data, size_t size) {
    char err[PLOW_ERR_LEN];
    ledger_genesis g;
    err[0] = 0;
    if (ledger_genesis_parse(&g, data, size, err) != 0) {
        FUZZ_CHECK(err[0] && g.accounts == NULL && g.n_accounts == 0);
        return;
    }
    uint64_t total = 0;
    for (size_t i = 0; i < g.n_accounts; i++) {
        FUZZ_CHECK(plow_add_u64(total, g.accounts[i].balance, &total));
        FUZZ_CHECK(plow_add_u64(total, g.accounts[i].stake, &total));
        for (size_t j = 0; j < i; j++) FUZZ_CHECK(memcmp(g.accounts[i].pk, g.accounts[j].pk, LEDGER_PK_LEN) != 0);
    }
    FUZZ_CHECK(total == g.supply);
    size_t cl = strlen(g.chain);
    FUZZ_CHECK(cl >= 1 && cl < sizeof g.chain);
    FUZZ_CHECK(g.params.slash_challenger_pct <= 100 && g.params.bond_accused_pct <= 100);
    uint8_t id[32];
    plow_sha256_once(data, size, id);
    FUZZ_CHECK(memcmp(id, g.chain_id, 32) == 0);
    ledger_genesis_release(&g);
}

/* Hands out the input's bytes; zeros once it runs out. */
typedef struct source {
    const uint8_t *p;
    size_t n;
} source;

static uint8_t byte(source *s) {
    if (s->n == 0) return 0;
    s->n--;
    return *s->p++;
}
static void bytes(source *s, uint8_t *out, size_t n) {
    for (size_t i = 0; i < n; i++) out[i] = byte(s);
}
static uint64_t u64(source *s) {
    uint8_t b[8];
    bytes(s, b, 8);
    return plow_get_u64(b);
}

/* Printable ASCII of the input's choosing, 1..max bytes (0..max if may_be_empty). */
static void text(source *s, char *out, size_t max, bool may_be_empty) {
    size_t n = byte(s) | (size_t)byte(s) << 8;
    n = may_be_empty ? n % (max + 1) : 1 + n % max;
    for (size_t i = 0; i < n; i++) out[i] = (char)(0x20 + byte(s) % 95);
    out[n] = 0;
}

static void proof(source *s, merkle_proof *p) {
    memset(p, 0, sizeof *p);
    uint8_t n = byte(s) % 24;
    if (n == 0) return; /* the empty proof */
    uint8_t leaves[23 * 32];
    bytes(s, leaves, (size_t)n * 32);
    char err[PLOW_ERR_LEN];
    FUZZ_CHECK(merkle_prove(leaves, n, byte(s) % n, p, err) == 0);
}

static void evidence(source *s, ledger_evidence *e) {
    bytes(s, e->leaf_prev, 32);
    bytes(s, e->leaf, 32);
    proof(s, &e->proof_prev);
    proof(s, &e->proof);
}

static void build_tx(source *s, ledger_tx *tx) {
    memset(tx, 0, sizeof *tx);
    tx->type = (uint8_t)(1 + byte(s) % LEDGER_TX_TYPE_COUNT);
    bytes(s, tx->sender, 32);
    tx->nonce = u64(s);
    tx->fee = u64(s);
    switch (tx->type) {
    case LEDGER_TX_TRANSFER:
        bytes(s, tx->u.transfer.to, 32);
        tx->u.transfer.amount = u64(s);
        break;
    case LEDGER_TX_STAKE:
    case LEDGER_TX_UNSTAKE: tx->u.stake.amount = u64(s); break;
    case LEDGER_TX_REGISTER:
        tx->u.reg.kind = byte(s);
        text(s, tx->u.reg.name, LEDGER_NAME_MAX, false);
        text(s, tx->u.reg.caps, LEDGER_CAPS_MAX, true);
        break;
    case LEDGER_TX_POST_TASK:
        bytes(s, tx->u.post.spec, 32);
        tx->u.post.kind = byte(s);
        tx->u.post.mode = byte(s);
        tx->u.post.replicas = byte(s);
        tx->u.post.reward = u64(s);
        tx->u.post.worker_stake = u64(s);
        tx->u.post.min_bond = u64(s);
        tx->u.post.steps = u64(s);
        tx->u.post.claim_blocks = (uint32_t)u64(s);
        tx->u.post.work_blocks = (uint32_t)u64(s);
        tx->u.post.window_blocks = (uint32_t)u64(s);
        if (tx->u.post.kind == LEDGER_KIND_LABEL) { /* the kind with more fields */
            tx->u.post.n_classes = (uint32_t)u64(s);
            tx->u.post.redundancy = (uint32_t)u64(s);
            bytes(s, tx->u.post.gold_commit, 32);
            tx->u.post.min_gold_pct = (uint32_t)u64(s);
        }
        break;
    case LEDGER_TX_CLAIM:
    case LEDGER_TX_FINALIZE:
    case LEDGER_TX_EXPIRE: bytes(s, tx->u.ref.task, 32); break;
    case LEDGER_TX_COMMIT:
        bytes(s, tx->u.commit.task, 32);
        bytes(s, tx->u.commit.trace_root, 32);
        bytes(s, tx->u.commit.final_state, 32);
        bytes(s, tx->u.commit.artifact, 32);
        bytes(s, tx->u.commit.manifest, 32);
        tx->u.commit.n = u64(s);
        tx->u.commit.checkpoint_every = (uint32_t)u64(s);
        break;
    case LEDGER_TX_CHALLENGE:
        bytes(s, tx->u.challenge.task, 32);
        bytes(s, tx->u.challenge.accused, 32);
        if (byte(s) & 1) {
            bytes(s, tx->u.challenge.other, 32);
            tx->u.challenge.other[0] |= 1;
        }
        tx->u.challenge.step = u64(s);
        tx->u.challenge.bond = u64(s);
        bytes(s, tx->u.challenge.state_blob, 32);
        evidence(s, &tx->u.challenge.ev);
        if (tx->u.challenge.other[0]) evidence(s, &tx->u.challenge.ev_other);
        break;
    case LEDGER_TX_VERDICT:
        bytes(s, tx->u.verdict.challenge, 32);
        bytes(s, tx->u.verdict.computed, 32);
        tx->u.verdict.prev_ok = byte(s) & 1;
        break;
    case LEDGER_TX_LABEL_REVEAL:
        bytes(s, tx->u.reveal.task, 32);
        bytes(s, tx->u.reveal.salt, 32);
        tx->u.reveal.count = (uint32_t)((byte(s) | (size_t)byte(s) << 8) % (LEDGER_LABELS_MAX + 1));
        bytes(s, tx->u.reveal.labels, tx->u.reveal.count);
        break;
    case LEDGER_TX_GOLD_REVEAL:
        bytes(s, tx->u.gold.task, 32);
        bytes(s, tx->u.gold.salt, 32);
        tx->u.gold.count = (uint32_t)((byte(s) | (size_t)byte(s) << 8) % (LEDGER_GOLD_MAX + 1));
        for (uint32_t i = 0; i < tx->u.gold.count; i++) {
            tx->u.gold.items[i] = (uint32_t)u64(s);
            tx->u.gold.labels[i] = byte(s);
        }
        break;
    case LEDGER_TX_DA_CHALLENGE:
        bytes(s, tx->u.da.task, 32);
        bytes(s, tx->u.da.accused, 32);
        bytes(s, tx->u.da.want, 32);
        tx->u.da.bond = u64(s);
        break;
    case LEDGER_TX_REVEAL:
        bytes(s, tx->u.open.task, 32);
        bytes(s, tx->u.open.trace_root, 32);
        bytes(s, tx->u.open.final_state, 32);
        bytes(s, tx->u.open.artifact, 32);
        bytes(s, tx->u.open.manifest, 32);
        tx->u.open.n = u64(s);
        tx->u.open.checkpoint_every = (uint32_t)u64(s);
        bytes(s, tx->u.open.salt, 32);
        tx->u.open.count = (uint32_t)((byte(s) | (size_t)byte(s) << 8) % (LEDGER_LEAVES_MAX + 1));
        bytes(s, tx->u.open.leaves, (size_t)tx->u.open.count * 32);
        break;
    }
    bytes(s, tx->sig, 64);
}

/* The generated transaction decodes to itself; damaged copies (a byte
 * changed, a cut, an insertion) decode canonically or are refused. */
static void check_structured(const uint8_t *data, size_t size) {
    source s = {data, size};
    ledger_tx tx, d;
    build_tx(&s, &tx);
    plow_buf b = {0};
    ledger_tx_encode(&tx, &b);
    char err[PLOW_ERR_LEN];
    FUZZ_CHECK(b.len <= LEDGER_TX_MAX);
    FUZZ_CHECK(ledger_tx_decode(&d, b.data, b.len, err) == 0);
    FUZZ_CHECK(memcmp(&d, &tx, sizeof tx) == 0);
    for (int round = 0; round < 4 && s.n >= 3; round++) {
        size_t at = (byte(&s) | (size_t)byte(&s) << 8) % b.len;
        uint8_t op = byte(&s);
        uint8_t *m = plow_alloc(b.len + 1);
        memcpy(m, b.data, b.len);
        size_t ml = b.len;
        if (op % 3 == 0) m[at] ^= (uint8_t)(op | 1);
        else if (op % 3 == 1) ml = at;
        else {
            memmove(m + at + 1, m + at, b.len - at);
            m[at] = op;
            ml++;
        }
        check_tx(m, ml);
        free(m);
    }
    plow_buf_release(&b);
}

/* An accepted address formats back to itself, up to the case of its digits. */
static void check_addr(const uint8_t *data, size_t size) {
    char s[LEDGER_ADDR_STR_LEN + 1];
    if (size > LEDGER_ADDR_STR_LEN) return;
    memcpy(s, data, size);
    s[size] = 0;
    char err[PLOW_ERR_LEN];
    uint8_t pk[LEDGER_PK_LEN];
    if (ledger_addr_parse(s, pk, err) != 0) return;
    char back[LEDGER_ADDR_STR_LEN];
    ledger_addr_format(pk, back);
    FUZZ_CHECK(strcasecmp(back, s) == 0 && memcmp(s, "plow", 4) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    check_tx(data, size);
    check_block(data, size);
    check_genesis(data, size);
    check_addr(data, size);
    check_structured(data, size);
    return 0;
}
