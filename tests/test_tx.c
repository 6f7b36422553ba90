/*
 * test_tx.c — the ledger's codec layer: transactions (encoding, decoding,
 * hashing, signing), addresses, key files, the genesis file, block headers
 * and the name tables.
 *
 * The references are independent of src/ledger: the known-answer
 * transaction is written byte by byte from docs/formats/tx.md, and its hash,
 * signature and address were computed with Python (hashlib and the
 * `cryptography` package's Ed25519), not with libsodium. Then the decoders
 * get every truncation, one extra byte, and each malformation the format
 * forbids; the signature every flipped bit, another chain and another key;
 * the address every single-character typo.
 */
#include "../src/base/plow.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../src/ledger/ledger.h"
#include "test.h"

/* xorshift64*: a fixed, seeded stream. */
static uint64_t rng_next(uint64_t *s) {
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 2685821657736338717ULL;
}

static void fill_random(uint8_t *p, size_t n, uint64_t *s) {
    for (size_t i = 0; i < n; i++) p[i] = (uint8_t)(rng_next(s) >> 56);
}

static uint64_t rand_u64(uint64_t *s) {
    /* Mix small and huge values so both ends of each field are exercised. */
    uint64_t x = rng_next(s);
    switch (x & 3) {
    case 0: return 0;
    case 1: return x >> 56;
    case 2: return UINT64_MAX - (x >> 60);
    default: return rng_next(s);
    }
}

static bool has(const char *err, const char *what) {
    if (strstr(err, what)) return true;
    fprintf(stderr, "    expected \"%s\" in: %s\n", what, err);
    return false;
}

/* ---- building transactions ------------------------------------------------- */

/* A proof of a random leaf of a random tree (1..40 leaves), or, one time in
 * four, the empty proof. The path beyond depth is left zero. */
static void rand_proof(merkle_proof *p, uint64_t *s) {
    memset(p, 0, sizeof *p);
    if (rng_next(s) % 4 == 0) return;
    uint8_t leaves[40 * 32];
    size_t n = 1 + rng_next(s) % 40;
    fill_random(leaves, n * 32, s);
    char err[PLOW_ERR_LEN];
    PLOW_ASSERT(merkle_prove(leaves, n, rng_next(s) % n, p, err) == 0);
}

static void rand_evidence(ledger_evidence *e, uint64_t *s) {
    fill_random(e->leaf_prev, 32, s);
    fill_random(e->leaf, 32, s);
    rand_proof(&e->proof_prev, s);
    rand_proof(&e->proof, s);
}

/* A random text of n bytes: ASCII printable, plus some two- and
 * three-byte UTF-8 characters. */
static void rand_text(char *out, size_t n, uint64_t *s) {
    size_t i = 0;
    while (i < n) {
        uint64_t r = rng_next(s);
        if (n - i >= 3 && r % 7 == 0) {
            memcpy(out + i, "\xe2\x82\xac", 3); /* € */
            i += 3;
        } else if (n - i >= 2 && r % 7 == 1) {
            memcpy(out + i, "\xc3\xa9", 2); /* é */
            i += 2;
        } else {
            out[i++] = (char)(0x20 + (r >> 8) % 95);
        }
    }
    out[n] = 0;
}

/* A transaction of `type` with random fields; the struct starts zeroed and
 * only the type's fields are set, so a decoded copy compares equal with
 * memcmp. `with_other` picks a two-sided challenge. */
static void rand_tx(ledger_tx *tx, int type, bool with_other, uint64_t *s) {
    memset(tx, 0, sizeof *tx);
    tx->type = (uint8_t)type;
    fill_random(tx->sender, 32, s);
    tx->nonce = rand_u64(s);
    tx->fee = rand_u64(s);
    fill_random(tx->sig, 64, s);
    switch (type) {
    case LEDGER_TX_TRANSFER:
        fill_random(tx->u.transfer.to, 32, s);
        tx->u.transfer.amount = rand_u64(s);
        break;
    case LEDGER_TX_STAKE:
    case LEDGER_TX_UNSTAKE:
        tx->u.stake.amount = rand_u64(s);
        break;
    case LEDGER_TX_REGISTER:
        tx->u.reg.kind = (uint8_t)rng_next(s);
        rand_text(tx->u.reg.name, 1 + rng_next(s) % LEDGER_NAME_MAX, s);
        rand_text(tx->u.reg.caps, rng_next(s) % (LEDGER_CAPS_MAX + 1), s);
        break;
    case LEDGER_TX_POST_TASK:
        fill_random(tx->u.post.spec, 32, s);
        tx->u.post.kind = (uint8_t)rng_next(s);
        tx->u.post.mode = (uint8_t)rng_next(s);
        tx->u.post.replicas = (uint8_t)rng_next(s);
        tx->u.post.reward = rand_u64(s);
        tx->u.post.worker_stake = rand_u64(s);
        tx->u.post.min_bond = rand_u64(s);
        tx->u.post.steps = rand_u64(s);
        tx->u.post.claim_blocks = (uint32_t)rand_u64(s);
        tx->u.post.work_blocks = (uint32_t)rand_u64(s);
        tx->u.post.window_blocks = (uint32_t)rand_u64(s);
        if (rng_next(s) % 3 == 0) tx->u.post.kind = LEDGER_KIND_LABEL; /* the kind with more fields */
        if (tx->u.post.kind == LEDGER_KIND_LABEL) {
            tx->u.post.n_classes = (uint32_t)rand_u64(s);
            tx->u.post.redundancy = (uint32_t)rand_u64(s);
            fill_random(tx->u.post.gold_commit, 32, s);
            tx->u.post.min_gold_pct = (uint32_t)rand_u64(s);
        }
        break;
    case LEDGER_TX_CLAIM:
    case LEDGER_TX_FINALIZE:
    case LEDGER_TX_EXPIRE:
        fill_random(tx->u.ref.task, 32, s);
        break;
    case LEDGER_TX_COMMIT:
        fill_random(tx->u.commit.task, 32, s);
        fill_random(tx->u.commit.trace_root, 32, s);
        fill_random(tx->u.commit.final_state, 32, s);
        fill_random(tx->u.commit.artifact, 32, s);
        fill_random(tx->u.commit.manifest, 32, s);
        tx->u.commit.n = rand_u64(s);
        tx->u.commit.checkpoint_every = (uint32_t)rand_u64(s);
        break;
    case LEDGER_TX_CHALLENGE:
        fill_random(tx->u.challenge.task, 32, s);
        fill_random(tx->u.challenge.accused, 32, s);
        if (with_other) {
            fill_random(tx->u.challenge.other, 32, s);
            tx->u.challenge.other[0] |= 1;
        }
        tx->u.challenge.step = rand_u64(s);
        tx->u.challenge.bond = rand_u64(s);
        fill_random(tx->u.challenge.state_blob, 32, s);
        rand_evidence(&tx->u.challenge.ev, s);
        if (with_other) rand_evidence(&tx->u.challenge.ev_other, s);
        break;
    case LEDGER_TX_VERDICT:
        fill_random(tx->u.verdict.challenge, 32, s);
        fill_random(tx->u.verdict.computed, 32, s);
        tx->u.verdict.prev_ok = (uint8_t)(rng_next(s) % 3);
        break;
    case LEDGER_TX_LABEL_REVEAL: {
        fill_random(tx->u.reveal.task, 32, s);
        fill_random(tx->u.reveal.salt, 32, s);
        uint64_t r = rng_next(s) % 4;
        tx->u.reveal.count = r == 0 ? 0 : r == 1 ? LEDGER_LABELS_MAX : (uint32_t)(1 + rng_next(s) % 300);
        fill_random(tx->u.reveal.labels, tx->u.reveal.count, s);
        break;
    }
    case LEDGER_TX_GOLD_REVEAL: {
        fill_random(tx->u.gold.task, 32, s);
        fill_random(tx->u.gold.salt, 32, s);
        uint64_t r = rng_next(s) % 4;
        tx->u.gold.count = r == 0 ? 0 : r == 1 ? LEDGER_GOLD_MAX : (uint32_t)(1 + rng_next(s) % 100);
        for (uint32_t i = 0; i < tx->u.gold.count; i++) tx->u.gold.items[i] = (uint32_t)rand_u64(s);
        fill_random(tx->u.gold.labels, tx->u.gold.count, s);
        break;
    }
    case LEDGER_TX_DA_CHALLENGE:
        fill_random(tx->u.da.task, 32, s);
        fill_random(tx->u.da.accused, 32, s);
        if (rng_next(s) & 1) fill_random(tx->u.da.want, 32, s); /* else zeros: an unrunnable claim */
        tx->u.da.bond = rand_u64(s);
        break;
    case LEDGER_TX_REVEAL: {
        fill_random(tx->u.open.task, 32, s);
        fill_random(tx->u.open.trace_root, 32, s);
        fill_random(tx->u.open.final_state, 32, s);
        fill_random(tx->u.open.artifact, 32, s);
        fill_random(tx->u.open.manifest, 32, s);
        tx->u.open.n = rand_u64(s);
        tx->u.open.checkpoint_every = (uint32_t)rand_u64(s);
        fill_random(tx->u.open.salt, 32, s);
        uint64_t r = rng_next(s) % 4;
        tx->u.open.count = r == 0 ? 0 : r == 1 ? LEDGER_LEAVES_MAX : (uint32_t)(1 + rng_next(s) % 40);
        fill_random(tx->u.open.leaves, (size_t)tx->u.open.count * 32, s);
        break;
    }
    case LEDGER_TX_CHANNEL_OPEN:
        fill_random(tx->u.chan_open.worker, 32, s);
        tx->u.chan_open.deposit = rand_u64(s);
        tx->u.chan_open.dispute_blocks = (uint32_t)rand_u64(s);
        break;
    case LEDGER_TX_CHANNEL_REDEEM:
        fill_random(tx->u.chan_redeem.channel, 32, s);
        tx->u.chan_redeem.amount = rand_u64(s);
        fill_random(tx->u.chan_redeem.sig, 64, s);
        break;
    case LEDGER_TX_CHANNEL_CLOSE: fill_random(tx->u.chan_close.channel, 32, s); break;
    case LEDGER_TX_RECEIPT_FRAUD:
        fill_random(tx->u.fraud.worker, 32, s);
        fill_random(tx->u.fraud.digest, 32, s);
        fill_random(tx->u.fraud.sig, 64, s);
        fill_random(tx->u.fraud.receipt_blob, 32, s);
        fill_random(tx->u.fraud.model_blob, 32, s);
        fill_random(tx->u.fraud.tokenizer_blob, 32, s);
        tx->u.fraud.bond = rand_u64(s);
        break;
    default:
        PLOW_ASSERT(!"bad type");
    }
}

/* A challenge whose two proofs are never empty (for truncation tests that
 * must cut inside a proof). */
static void full_challenge(ledger_tx *tx, bool with_other, uint64_t *s) {
    do rand_tx(tx, LEDGER_TX_CHALLENGE, with_other, s);
    while (tx->u.challenge.ev.proof.n == 0 || tx->u.challenge.ev.proof_prev.n == 0 ||
           (with_other && (tx->u.challenge.ev_other.proof.n == 0 || tx->u.challenge.ev_other.proof_prev.n == 0)));
}

static int decode_buf(const plow_buf *b, char err[PLOW_ERR_LEN]) {
    ledger_tx d;
    err[0] = 0;
    return ledger_tx_decode(&d, b->data, b->len, err);
}

/* ---- transactions ------------------------------------------------------------ */

static void test_tx_roundtrip(void) {
    uint64_t s = 0x7478726f756e64ULL;
    char err[PLOW_ERR_LEN];
    for (int type = 1; type < LEDGER_TX_TYPE_END; type++) {
        for (int rep = 0; rep < 40; rep++) {
            ledger_tx tx, d;
            rand_tx(&tx, type, rep & 1, &s);
            plow_buf b = {0}, c = {0}, u = {0};
            ledger_tx_encode(&tx, &b);
            ledger_tx_encode_unsigned(&tx, &u);
            CHECK(b.len == u.len + LEDGER_SIG_LEN && memcmp(b.data, u.data, u.len) == 0);
            CHECK(memcmp(b.data + u.len, tx.sig, 64) == 0);
            CHECK(b.len <= LEDGER_TX_MAX);
            int rc = ledger_tx_decode(&d, b.data, b.len, err);
            CHECKF(rc == 0, "%s: %s", ledger_tx_type_name(type), err);
            if (rc != 0) goto next;
            CHECKF(memcmp(&d, &tx, sizeof tx) == 0, "%s: decoded fields differ", ledger_tx_type_name(type));
            ledger_tx_encode(&d, &c);
            CHECK(c.len == b.len && memcmp(c.data, b.data, b.len) == 0);
            uint8_t h1[32], h2[32];
            ledger_tx_hash(&tx, h1);
            plow_sha256_once(u.data, u.len, h2);
            CHECK(memcmp(h1, h2, 32) == 0);
        next:
            plow_buf_release(&b);
            plow_buf_release(&c);
            plow_buf_release(&u);
        }
    }
    /* The limits themselves. */
    ledger_tx tx, d;
    rand_tx(&tx, LEDGER_TX_REGISTER, false, &s);
    memset(tx.u.reg.name, 'n', LEDGER_NAME_MAX);
    memset(tx.u.reg.caps, 'c', LEDGER_CAPS_MAX);
    plow_buf b = {0};
    ledger_tx_encode(&tx, &b);
    CHECKF(ledger_tx_decode(&d, b.data, b.len, err) == 0, "%s", err);
    CHECK(strlen(d.u.reg.name) == LEDGER_NAME_MAX && strlen(d.u.reg.caps) == LEDGER_CAPS_MAX);
    plow_buf_release(&b);
    tx.u.reg.caps[0] = 0; /* no capabilities at all */
    ledger_tx_encode(&tx, &b);
    CHECKF(ledger_tx_decode(&d, b.data, b.len, err) == 0, "%s", err);
    CHECK(d.u.reg.caps[0] == 0);
    plow_buf_release(&b);
}

/* One transfer written byte by byte from the spec; the hash, address and
 * signature were computed with Python's hashlib and cryptography (Ed25519),
 * from the seed 01 02 .. 20 and chain id cc..cc. */
static void test_tx_known_answer(void) {
    static const char pk_hex[] = "79b5562e8fe654f94078b112e8a98ba7901f853ae695bed7e0e3910bad049664";
    static const char addr_want[] =
        "plow79b5562e8fe654f94078b112e8a98ba7901f853ae695bed7e0e3910bad04966486833515";
    static const char hash_hex[] = "0b291e74a9fa0131c6b4291d32ee3fe7603e17059ac8e2330f12009ae2cae66c";
    static const char sig_hex[] = "d364384882c28775f6147b38cf5485ab5a53693992695d1cc45f1a90b6ccb897"
                                  "fea98d2028217b2596cab71d838bbde29c979432f703d564f2149929a742c907";
    uint8_t seed[32], chain[32], pk[32], want_hash[32], want_sig[64];
    for (int i = 0; i < 32; i++) seed[i] = (uint8_t)(i + 1);
    memset(chain, 0xcc, 32);
    PLOW_ASSERT(plow_unhex(pk_hex, pk, 32) == 0 && plow_unhex(hash_hex, want_hash, 32) == 0 &&
                plow_unhex(sig_hex, want_sig, 64) == 0);

    ledger_key k;
    ledger_key_from_seed(&k, seed);
    CHECK(memcmp(k.pk, pk, 32) == 0);
    char addr[LEDGER_ADDR_STR_LEN];
    ledger_addr_format(k.pk, addr);
    CHECKF(strcmp(addr, addr_want) == 0, "%s", addr);

    /* version 1, type 1, sender, nonce 7, fee 3, to 22.., amount 1000000 */
    uint8_t want[154];
    size_t o = 0;
    want[o++] = 0x01;
    want[o++] = 0x01;
    memcpy(want + o, pk, 32), o += 32;
    const uint8_t nonce[8] = {7, 0, 0, 0, 0, 0, 0, 0}, fee[8] = {3, 0, 0, 0, 0, 0, 0, 0};
    const uint8_t amount[8] = {0x40, 0x42, 0x0f, 0, 0, 0, 0, 0}; /* 1000000 = 0x0f4240 */
    memcpy(want + o, nonce, 8), o += 8;
    memcpy(want + o, fee, 8), o += 8;
    memset(want + o, 0x22, 32), o += 32;
    memcpy(want + o, amount, 8), o += 8;
    CHECK(o == 90);
    memcpy(want + o, want_sig, 64), o += 64;

    ledger_tx tx;
    memset(&tx, 0, sizeof tx);
    tx.type = LEDGER_TX_TRANSFER;
    memset(tx.sender, 0xee, 32); /* overwritten by signing */
    tx.nonce = 7;
    tx.fee = 3;
    memset(tx.u.transfer.to, 0x22, 32);
    tx.u.transfer.amount = 1000000;
    ledger_tx_sign(&tx, &k, chain);
    CHECK(memcmp(tx.sender, pk, 32) == 0);
    CHECK(memcmp(tx.sig, want_sig, 64) == 0);
    uint8_t h[32];
    ledger_tx_hash(&tx, h);
    CHECK(memcmp(h, want_hash, 32) == 0);
    plow_buf b = {0};
    ledger_tx_encode(&tx, &b);
    CHECK(b.len == sizeof want && memcmp(b.data, want, sizeof want) == 0);
    plow_buf_release(&b);
    CHECK(ledger_tx_verify(&tx, chain));

    /* The signed message, rebuilt here and checked with libsodium directly. */
    uint8_t pre[11 + 32 + 32], digest[32];
    memcpy(pre, "plow/tx/v1", 11); /* with its NUL */
    memcpy(pre + 11, chain, 32);
    memcpy(pre + 43, want_hash, 32);
    plow_sha256_once(pre, sizeof pre, digest);
    CHECK(crypto_sign_verify_detached(want_sig, digest, 32, pk) == 0);

    /* An address built from a pk that is not even a curve point: the format
     * does not care (vector from Python). */
    uint8_t seq[32];
    for (int i = 0; i < 32; i++) seq[i] = (uint8_t)i;
    ledger_addr_format(seq, addr);
    CHECK(strcmp(addr, "plow000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f6dd0988b") == 0);
    ledger_key_wipe(&k);
}

/* Offsets in an encoding: the body starts after the 50-byte header. */
#define BODY 50

/* The bodies the labeling kinds added, byte by byte from docs/formats/tx.md;
 * the other kinds' post_task is unchanged (193 bytes) whatever the label
 * fields of the struct hold. */
static void test_tx_label_layout(void) {
    char err[PLOW_ERR_LEN];
    ledger_tx tx, d;
    memset(&tx, 0, sizeof tx);
    tx.type = LEDGER_TX_POST_TASK;
    tx.u.post.kind = LEDGER_KIND_TRAIN;
    tx.u.post.mode = LEDGER_MODE_OPTIMISTIC;
    tx.u.post.replicas = 1;
    tx.u.post.n_classes = 5; /* not a field of a train task */
    tx.u.post.gold_commit[3] = 9;
    plow_buf b = {0}, c = {0};
    ledger_tx_encode(&tx, &b);
    CHECK(b.len == 193);
    tx.u.post.n_classes = 0;
    tx.u.post.gold_commit[3] = 0;
    ledger_tx_encode(&tx, &c);
    CHECK(c.len == 193 && memcmp(b.data, c.data, 193) == 0);
    plow_buf_release(&b);
    plow_buf_release(&c);
    for (int k = LEDGER_KIND_DPO; k <= LEDGER_KIND_ROUND; k++) {
        tx.u.post.kind = (uint8_t)k;
        ledger_tx_encode(&tx, &b);
        CHECK(b.len == 193 && b.data[BODY + 32] == k);
        plow_buf_release(&b);
    }
    /* label: the four extra fields after window_blocks */
    tx.u.post.kind = LEDGER_KIND_LABEL;
    tx.u.post.mode = LEDGER_MODE_REPLICATED;
    tx.u.post.replicas = 4;
    tx.u.post.window_blocks = 0x01020304;
    tx.u.post.n_classes = 6;
    tx.u.post.redundancy = 3;
    memset(tx.u.post.gold_commit, 0xab, 32);
    tx.u.post.min_gold_pct = 40;
    ledger_tx_encode(&tx, &b);
    CHECK(b.len == 237);
    size_t o = BODY + 32 + 3 + 4 * 8 + 8; /* window_blocks */
    CHECK(plow_get_u32(b.data + o) == 0x01020304);
    CHECK(plow_get_u32(b.data + o + 4) == 6 && plow_get_u32(b.data + o + 8) == 3);
    CHECK(b.data[o + 12] == 0xab && b.data[o + 43] == 0xab && plow_get_u32(b.data + o + 44) == 40);
    CHECKF(ledger_tx_decode(&d, b.data, b.len, err) == 0, "%s", err);
    CHECK(memcmp(&d, &tx, sizeof tx) == 0);
    /* a label post cut to the length of the others' is truncated */
    memmove(b.data + 129, b.data + 173, 64);
    CHECK(ledger_tx_decode(&d, b.data, 193, err) == -1 && has(err, "truncated"));
    plow_buf_release(&b);

    /* label_reveal: task, salt, u32 count, the labels */
    memset(&tx, 0, sizeof tx);
    tx.type = LEDGER_TX_LABEL_REVEAL;
    memset(tx.u.reveal.task, 0x11, 32);
    memset(tx.u.reveal.salt, 0x33, 32);
    tx.u.reveal.count = 5;
    memcpy(tx.u.reveal.labels, "\x00\x01\x02\x03\x01", 5);
    ledger_tx_encode(&tx, &b);
    CHECK(b.len == 182 + 5 && b.data[1] == 12);
    CHECK(b.data[BODY] == 0x11 && b.data[BODY + 32] == 0x33 && plow_get_u32(b.data + BODY + 64) == 5);
    CHECK(memcmp(b.data + BODY + 68, "\x00\x01\x02\x03\x01", 5) == 0);
    CHECKF(ledger_tx_decode(&d, b.data, b.len, err) == 0, "%s", err);
    CHECK(memcmp(&d, &tx, sizeof tx) == 0);
    plow_buf_release(&b);

    /* reveal: task, 4 x 32 values, u64 n, u32 checkpoint_every, salt, u32
     * count, the leaves; and the commitment it opens */
    memset(&tx, 0, sizeof tx);
    tx.type = LEDGER_TX_REVEAL;
    memset(tx.u.open.task, 0x11, 32);
    memset(tx.u.open.trace_root, 0x21, 32);
    memset(tx.u.open.final_state, 0x22, 32);
    memset(tx.u.open.artifact, 0x23, 32);
    memset(tx.u.open.manifest, 0x24, 32);
    tx.u.open.n = 2;
    tx.u.open.checkpoint_every = 7;
    memset(tx.u.open.salt, 0x55, 32);
    tx.u.open.count = 3;
    memset(tx.u.open.leaves, 0x66, 96);
    ledger_tx_encode(&tx, &b);
    CHECK(b.len == BODY + 32 + 128 + 12 + 32 + 4 + 96 + 64 && b.data[1] == LEDGER_TX_REVEAL);
    CHECK(b.data[BODY + 32] == 0x21 && b.data[BODY + 128] == 0x24 && plow_get_u64(b.data + BODY + 160) == 2);
    CHECK(plow_get_u32(b.data + BODY + 168) == 7 && b.data[BODY + 172] == 0x55);
    CHECK(plow_get_u32(b.data + BODY + 204) == 3 && b.data[BODY + 208] == 0x66);
    CHECKF(ledger_tx_decode(&d, b.data, b.len, err) == 0, "%s", err);
    CHECK(memcmp(&d, &tx, sizeof tx) == 0);
    plow_buf_release(&b);
    {
        /* the commitment: SHA-256 of the documented preimage; the slot, the
         * key, any value and the salt change it; the leaves do not */
        plow_buf pre = {0};
        plow_buf_append(&pre, "plow/commit/v2", 15);
        plow_buf_append(&pre, tx.u.open.task, 32);
        plow_buf_u32(&pre, 1);
        plow_buf_append(&pre, tx.sender, 32);
        plow_buf_append(&pre, tx.u.open.trace_root, 32);
        plow_buf_append(&pre, tx.u.open.final_state, 32);
        plow_buf_append(&pre, tx.u.open.artifact, 32);
        plow_buf_append(&pre, tx.u.open.manifest, 32);
        plow_buf_u64(&pre, 2);
        plow_buf_u32(&pre, 7);
        plow_buf_append(&pre, tx.u.open.salt, 32);
        uint8_t want[32], got[32], other[32];
        plow_sha256_once(pre.data, pre.len, want);
        plow_buf_release(&pre);
        ledger_commitment(&tx, 1, got);
        CHECK(memcmp(got, want, 32) == 0);
        ledger_commitment(&tx, 0, other);
        CHECK(memcmp(other, want, 32) != 0);
        ledger_tx t2 = tx;
        t2.sender[0] ^= 1;
        ledger_commitment(&t2, 1, other);
        CHECK(memcmp(other, want, 32) != 0);
        t2 = tx;
        t2.u.open.salt[31] ^= 1;
        ledger_commitment(&t2, 1, other);
        CHECK(memcmp(other, want, 32) != 0);
        t2 = tx;
        t2.u.open.checkpoint_every = 8;
        ledger_commitment(&t2, 1, other);
        CHECK(memcmp(other, want, 32) != 0);
        t2 = tx;
        t2.u.open.leaves[0] ^= 1;
        ledger_commitment(&t2, 1, other);
        CHECK(memcmp(other, want, 32) == 0);
    }

    /* gold_reveal: task, salt, u32 count, count x (u32 item, u8 label) */
    memset(&tx, 0, sizeof tx);
    tx.type = LEDGER_TX_GOLD_REVEAL;
    memset(tx.u.gold.task, 0x11, 32);
    memset(tx.u.gold.salt, 0x44, 32);
    tx.u.gold.count = 3;
    const uint32_t items[3] = {1, 5, 0x01020304};
    const uint8_t labels[3] = {2, 0, 1};
    memcpy(tx.u.gold.items, items, sizeof items);
    memcpy(tx.u.gold.labels, labels, 3);
    ledger_tx_encode(&tx, &b);
    CHECK(b.len == 182 + 15 && b.data[1] == 13);
    CHECK(plow_get_u32(b.data + BODY + 64) == 3 && plow_get_u32(b.data + BODY + 68) == 1 && b.data[BODY + 72] == 2);
    CHECK(plow_get_u32(b.data + BODY + 78) == 0x01020304 && b.data[BODY + 82] == 1);
    CHECKF(ledger_tx_decode(&d, b.data, b.len, err) == 0, "%s", err);
    CHECK(memcmp(&d, &tx, sizeof tx) == 0);
    plow_buf_release(&b);
    /* the largest of each fits a transaction */
    tx.u.gold.count = LEDGER_GOLD_MAX;
    ledger_tx_encode(&tx, &b);
    CHECK(b.len == 182 + 5 * LEDGER_GOLD_MAX && b.len <= LEDGER_TX_MAX);
    plow_buf_release(&b);
}

/* Every strict prefix of every type's encoding is refused, and so is the
 * encoding with one more byte. */
static void test_tx_truncation(void) {
    uint64_t s = 0x7472756e63ULL;
    char err[PLOW_ERR_LEN];
    for (int type = 1; type <= LEDGER_TX_TYPE_END; type++) {
        ledger_tx tx;
        /* type END stands for the second challenge shape (with "other"). */
        if (type == LEDGER_TX_CHALLENGE || type == LEDGER_TX_TYPE_END)
            full_challenge(&tx, type == LEDGER_TX_TYPE_END, &s);
        else
            rand_tx(&tx, type, false, &s);
        plow_buf b = {0};
        ledger_tx_encode(&tx, &b);
        int accepted = 0;
        for (size_t n = 0; n < b.len; n++) {
            ledger_tx d;
            err[0] = 0;
            if (ledger_tx_decode(&d, b.data, n, err) == 0) accepted++;
            else CHECK(err[0] != 0);
        }
        CHECKF(accepted == 0, "%s: %d truncations accepted", ledger_tx_type_name(tx.type), accepted);
        uint8_t *longer = plow_alloc(b.len + 1);
        memcpy(longer, b.data, b.len);
        longer[b.len] = 0;
        ledger_tx d;
        CHECK(ledger_tx_decode(&d, longer, b.len + 1, err) == -1 && has(err, "trailing"));
        free(longer);
        plow_buf_release(&b);
    }
    /* A challenge without "other" followed by a complete second evidence. */
    ledger_tx tx, d;
    full_challenge(&tx, true, &s);
    plow_buf b = {0};
    ledger_tx_encode(&tx, &b);
    memset(tx.u.challenge.other, 0, 32);
    plow_buf c = {0};
    ledger_tx_encode(&tx, &c);
    CHECK(c.len < b.len);
    memset(b.data + 2 + 32 + 16 + 64, 0, 32); /* zero "other" in the longer one */
    CHECK(ledger_tx_decode(&d, b.data, b.len, err) == -1 && has(err, "trailing"));
    plow_buf_release(&b);
    plow_buf_release(&c);
}

static void test_tx_refusals(void) {
    uint64_t s = 0x726566757365ULL;
    char err[PLOW_ERR_LEN];
    ledger_tx tx, d;
    plow_buf b = {0};

    /* version, type */
    rand_tx(&tx, LEDGER_TX_STAKE, false, &s);
    ledger_tx_encode(&tx, &b);
    CHECK(decode_buf(&b, err) == 0);
    const uint8_t versions[] = {0, 2, 255};
    for (size_t i = 0; i < sizeof versions; i++) {
        b.data[0] = versions[i];
        CHECK(decode_buf(&b, err) == -1 && has(err, "version"));
    }
    b.data[0] = 1;
    const uint8_t types[] = {0, LEDGER_TX_TYPE_END, LEDGER_TX_TYPE_END + 1, 255};
    for (size_t i = 0; i < sizeof types; i++) {
        b.data[1] = types[i];
        CHECK(decode_buf(&b, err) == -1 && has(err, "unknown transaction type"));
    }
    CHECK(ledger_tx_decode(&d, b.data, 0, err) == -1 && has(err, "empty"));
    plow_buf_release(&b);

    /* over LEDGER_TX_MAX, even if it starts like a transaction */
    uint8_t *big = plow_calloc(LEDGER_TX_MAX + 1, 1);
    big[0] = 1, big[1] = LEDGER_TX_STAKE;
    CHECK(ledger_tx_decode(&d, big, LEDGER_TX_MAX + 1, err) == -1 && has(err, "more than"));
    free(big);

    /* register: name length 0 and 65, caps 513 */
    rand_tx(&tx, LEDGER_TX_REGISTER, false, &s);
    strcpy(tx.u.reg.name, "ab");
    strcpy(tx.u.reg.caps, "{}");
    ledger_tx_encode(&tx, &b);
    CHECK(decode_buf(&b, err) == 0);
    plow_buf_release(&b);
    tx.u.reg.name[0] = 0;
    ledger_tx_encode(&tx, &b);
    CHECK(decode_buf(&b, err) == -1 && has(err, "name of 0 bytes"));
    plow_buf_release(&b);
    memset(tx.u.reg.name, 'x', LEDGER_NAME_MAX + 1); /* unterminated: encodes 65 bytes */
    ledger_tx_encode(&tx, &b);
    CHECK(decode_buf(&b, err) == -1 && has(err, "name of 65 bytes"));
    plow_buf_release(&b);
    strcpy(tx.u.reg.name, "ok");
    memset(tx.u.reg.caps, 'c', LEDGER_CAPS_MAX + 1);
    ledger_tx_encode(&tx, &b);
    CHECK(decode_buf(&b, err) == -1 && has(err, "capabilities of 513 bytes"));
    plow_buf_release(&b);

    /* register: bytes that are not printable UTF-8, in the name and in caps */
    static const struct {
        const char *bytes;
        size_t n;
        const char *why;
    } bad_text[] = {
        {"a\nb", 3, "control"},          {"a\tb", 3, "control"},
        {"a\x7f", 2, "control"},         {"a\0b", 3, "control"},
        {"\x1b[31m", 5, "control"},      {"\xc2\x85", 2, "control"}, /* U+0085, C1 */
        {"\xff", 1, "UTF-8"},            {"\xc0\x80", 2, "UTF-8"},   /* overlong NUL */
        {"\xe0\x80\xaf", 3, "UTF-8"},    /* overlong '/' */
        {"\xed\xa0\x80", 3, "UTF-8"},    /* surrogate */
        {"\xf4\x90\x80\x80", 4, "UTF-8"}, /* > U+10FFFF */
        {"\xc3", 1, "UTF-8"},            /* cut */
        {"\xe2\x82", 2, "UTF-8"},        {"\x80", 1, "UTF-8"},
    };
    for (size_t field = 0; field < 2; field++) {
        for (size_t i = 0; i < sizeof bad_text / sizeof bad_text[0]; i++) {
            /* name_len and caps_len as the encoder writes them, then patched bytes */
            plow_buf e = {0};
            uint8_t head[BODY];
            ledger_tx_encode_unsigned(&tx, &e);
            memcpy(head, e.data, BODY);
            plow_buf_release(&e);
            plow_buf_append(&e, head, BODY);
            const char *name = field == 0 ? bad_text[i].bytes : "ok";
            size_t nl = field == 0 ? bad_text[i].n : 2;
            const char *caps = field == 1 ? bad_text[i].bytes : "";
            size_t cl = field == 1 ? bad_text[i].n : 0;
            uint8_t kind = 1, nlb = (uint8_t)nl, cll[2] = {(uint8_t)cl, 0};
            plow_buf_append(&e, &kind, 1);
            plow_buf_append(&e, &nlb, 1);
            plow_buf_append(&e, name, nl);
            plow_buf_append(&e, cll, 2);
            plow_buf_append(&e, caps, cl);
            plow_buf_append(&e, tx.sig, 64);
            CHECKF(decode_buf(&e, err) == -1 && has(err, bad_text[i].why), "field %zu text %zu", field, i);
            CHECK(has(err, field == 0 ? "name" : "capabilities"));
            plow_buf_release(&e);
        }
    }

    /* reveal: a leaf count over LEDGER_LEAVES_MAX, even when the bytes that
     * follow would fit it; the largest reveal fits LEDGER_TX_MAX; one leaf
     * short is truncated */
    rand_tx(&tx, LEDGER_TX_REVEAL, false, &s);
    tx.u.open.count = LEDGER_LEAVES_MAX;
    ledger_tx_encode(&tx, &b);
    CHECK(b.len <= LEDGER_TX_MAX && decode_buf(&b, err) == 0);
    plow_buf_release(&b);
    tx.u.open.count = LEDGER_LEAVES_MAX + 1;
    ledger_tx_encode(&tx, &b);
    CHECK(decode_buf(&b, err) == -1 && has(err, "more than"));
    plow_buf_release(&b);
    tx.u.open.count = UINT32_MAX;
    ledger_tx_encode(&tx, &b);
    CHECK(decode_buf(&b, err) == -1 && has(err, "more than"));
    plow_buf_release(&b);
    tx.u.open.count = 3;
    ledger_tx_encode(&tx, &b);
    memmove(b.data + b.len - 64 - 32, b.data + b.len - 64, 64);
    b.len -= 32;
    CHECK(decode_buf(&b, err) == -1 && has(err, "truncated") && has(err, "signature"));
    plow_buf_release(&b);
    tx.u.open.count = 3;
    ledger_tx_encode(&tx, &b);
    b.len -= 64 + 17; /* cut inside the leaves */
    CHECK(decode_buf(&b, err) == -1 && has(err, "truncated") && has(err, "leaves"));
    plow_buf_release(&b);

    /* label_reveal and gold_reveal: a count over what one transaction carries,
     * even when the bytes that follow would fit it */
    for (int type = LEDGER_TX_LABEL_REVEAL; type <= LEDGER_TX_GOLD_REVEAL; type++) {
        rand_tx(&tx, type, false, &s);
        uint32_t max = type == LEDGER_TX_LABEL_REVEAL ? LEDGER_LABELS_MAX : LEDGER_GOLD_MAX;
        if (type == LEDGER_TX_LABEL_REVEAL) tx.u.reveal.count = max;
        else tx.u.gold.count = max;
        ledger_tx_encode(&tx, &b);
        CHECK(b.len <= LEDGER_TX_MAX && decode_buf(&b, err) == 0);
        plow_buf_release(&b);
        if (type == LEDGER_TX_LABEL_REVEAL) tx.u.reveal.count = max + 1;
        else tx.u.gold.count = max + 1;
        ledger_tx_encode(&tx, &b); /* writes the count, and max entries */
        CHECK(decode_buf(&b, err) == -1 && has(err, "more than"));
        plow_buf_release(&b);
        if (type == LEDGER_TX_LABEL_REVEAL) tx.u.reveal.count = UINT32_MAX;
        else tx.u.gold.count = UINT32_MAX;
        ledger_tx_encode(&tx, &b);
        CHECK(decode_buf(&b, err) == -1 && has(err, "more than"));
        plow_buf_release(&b);
        /* one entry fewer than the count says: truncated, naming the field */
        if (type == LEDGER_TX_LABEL_REVEAL) tx.u.reveal.count = 10;
        else tx.u.gold.count = 10;
        ledger_tx_encode(&tx, &b);
        size_t entry = type == LEDGER_TX_LABEL_REVEAL ? 1 : 5;
        memmove(b.data + b.len - 64 - entry, b.data + b.len - 64, 64);
        b.len -= entry;
        CHECK(decode_buf(&b, err) == -1 && has(err, "truncated") && has(err, "signature"));
        plow_buf_release(&b);
    }

    /* verdict: prev_ok must be 0, 1 or 2 (unrunnable) */
    rand_tx(&tx, LEDGER_TX_VERDICT, false, &s);
    for (int v = 0; v < 256; v++) {
        tx.u.verdict.prev_ok = (uint8_t)v;
        ledger_tx_encode(&tx, &b);
        int rc = decode_buf(&b, err);
        CHECKF(v <= 2 ? rc == 0 : rc == -1 && has(err, "prev_ok"), "prev_ok %d", v);
        plow_buf_release(&b);
    }
}

/* Each proof slot of a challenge gets encodings merkle_proof_decode refuses. */
static void test_tx_bad_proofs(void) {
    uint64_t s = 0x70726f6f6673ULL;
    char err[PLOW_ERR_LEN];
    ledger_tx tx;
    full_challenge(&tx, true, &s);
    /* A valid proof to corrupt: leaf 5 of 13 (depth 4). */
    uint8_t leaves[13 * 32];
    fill_random(leaves, sizeof leaves, &s);
    merkle_proof good;
    PLOW_ASSERT(merkle_prove(leaves, 13, 5, &good, err) == 0);
    plow_buf gp = {0};
    merkle_proof_encode(&good, &gp);
    PLOW_ASSERT(gp.len == MERKLE_PROOF_HEADER_LEN + 4 * 32);

    /* The encoding up to the first proof: header, body fields, leaves. */
    const size_t pre = BODY + 32 * 3 + 16 + 32 + 64;
    plow_buf full = {0};
    ledger_tx_encode(&tx, &full);

    enum { N_CASES = 8 };
    for (int slot = 0; slot < 4; slot++) {
        for (int c = 0; c < N_CASES; c++) {
            uint8_t p[MERKLE_PROOF_MAX_LEN + 64];
            size_t pl = gp.len;
            memcpy(p, gp.data, gp.len);
            const char *why = NULL;
            switch (c) {
            case 0: p[0] = 2, why = "version"; break;
            case 1: memset(p + 1, 0, 8), why = "at least one leaf"; break;              /* n = 0 */
            case 2: p[9] = 13, why = "out of range"; break;                      /* index = n */
            case 3: p[17] = 3, pl -= 32, why = "merkle proof"; break;               /* depth 3 */
            case 4: pl -= 1, why = "merkle proof"; break;                          /* short path */
            case 5: p[pl++] = 0, why = "merkle proof"; break;                      /* long path */
            case 6: pl = 17, why = "merkle proof"; break;                          /* short header */
            case 7: pl = MERKLE_PROOF_MAX_LEN + 1, why = "more than a proof"; break; /* too long */
            }
            /* Rebuild: the prefix, then the four proofs with slot `slot` replaced. */
            ledger_tx t2 = tx;
            merkle_proof *slots[4] = {&t2.u.challenge.ev.proof_prev, &t2.u.challenge.ev.proof,
                                      &t2.u.challenge.ev_other.proof_prev, &t2.u.challenge.ev_other.proof};
            plow_buf e = {0};
            plow_buf_append(&e, full.data, pre);
            for (int k = 0; k < 4; k++) {
                if (k == 2) {
                    plow_buf_append(&e, t2.u.challenge.ev_other.leaf_prev, 32);
                    plow_buf_append(&e, t2.u.challenge.ev_other.leaf, 32);
                }
                if (k == slot) {
                    uint8_t l2[2] = {(uint8_t)pl, (uint8_t)(pl >> 8)};
                    plow_buf_append(&e, l2, 2);
                    if (c == 7) {
                        uint8_t *junk = plow_calloc(pl, 1);
                        plow_buf_append(&e, junk, pl);
                        free(junk);
                    } else {
                        plow_buf_append(&e, p, pl);
                    }
                } else {
                    plow_buf q = {0};
                    merkle_proof_encode(slots[k], &q);
                    uint8_t l2[2] = {(uint8_t)q.len, (uint8_t)(q.len >> 8)};
                    plow_buf_append(&e, l2, 2);
                    plow_buf_append(&e, q.data, q.len);
                    plow_buf_release(&q);
                }
            }
            plow_buf_append(&e, tx.sig, 64);
            CHECKF(decode_buf(&e, err) == -1 && has(err, why), "slot %d case %d", slot, c);
            plow_buf_release(&e);
            /* Case 0 with the good proof restored decodes: the harness builds valid input. */
            if (c == 0) {
                plow_buf g = {0};
                plow_buf_append(&g, full.data, pre);
                for (int k = 0; k < 4; k++) {
                    if (k == 2) {
                        plow_buf_append(&g, t2.u.challenge.ev_other.leaf_prev, 32);
                        plow_buf_append(&g, t2.u.challenge.ev_other.leaf, 32);
                    }
                    const merkle_proof *use = k == slot ? &good : slots[k];
                    plow_buf q = {0};
                    merkle_proof_encode(use, &q);
                    uint8_t l2[2] = {(uint8_t)q.len, (uint8_t)(q.len >> 8)};
                    plow_buf_append(&g, l2, 2);
                    plow_buf_append(&g, q.data, q.len);
                    plow_buf_release(&q);
                }
                plow_buf_append(&g, tx.sig, 64);
                CHECKF(decode_buf(&g, err) == 0, "slot %d: %s", slot, err);
                plow_buf_release(&g);
            }
        }
    }
    /* An empty proof (length 0) decodes to the zeroed struct and re-encodes as 0. */
    ledger_tx d;
    memset(&tx.u.challenge.ev.proof, 0, sizeof(merkle_proof));
    plow_buf e = {0};
    ledger_tx_encode(&tx, &e);
    CHECK(ledger_tx_decode(&d, e.data, e.len, err) == 0);
    CHECK(d.u.challenge.ev.proof.n == 0 && d.u.challenge.ev.proof.depth == 0);
    plow_buf_release(&e);
    plow_buf_release(&full);
    plow_buf_release(&gp);
}

/* Flipping any bit of a signed transaction makes it either undecodable or
 * unverifiable; so do another chain id and another key. */
static void test_tx_signatures(void) {
    uint64_t s = 0x7369676e73ULL;
    char err[PLOW_ERR_LEN];
    uint8_t chain[32], chain2[32], seed[32];
    fill_random(chain, 32, &s);
    memcpy(chain2, chain, 32);
    chain2[31] ^= 1;
    fill_random(seed, 32, &s);
    ledger_key k, k2;
    ledger_key_from_seed(&k, seed);
    seed[0] ^= 1;
    ledger_key_from_seed(&k2, seed);
    CHECK(memcmp(k.pk, k2.pk, 32) != 0);

    int checked = 0;
    for (int type = 1; type < LEDGER_TX_TYPE_END; type++) {
        ledger_tx tx, d;
        rand_tx(&tx, type, true, &s);
        ledger_tx_sign(&tx, &k, chain);
        CHECK(memcmp(tx.sender, k.pk, 32) == 0);
        CHECKF(ledger_tx_verify(&tx, chain), "%s", ledger_tx_type_name(type));
        CHECK(!ledger_tx_verify(&tx, chain2));
        /* another key's signature, or the sender swapped for another key */
        ledger_tx o = tx;
        ledger_tx_sign(&o, &k2, chain);
        CHECK(ledger_tx_verify(&o, chain));
        memcpy(o.sender, k.pk, 32);
        CHECK(!ledger_tx_verify(&o, chain));
        o = tx;
        memcpy(o.sender, k2.pk, 32);
        CHECK(!ledger_tx_verify(&o, chain));
        /* the signature does not cover itself: the hash ignores it */
        uint8_t h1[32], h2[32];
        ledger_tx_hash(&tx, h1);
        o = tx;
        o.sig[0] ^= 1;
        ledger_tx_hash(&o, h2);
        CHECK(memcmp(h1, h2, 32) == 0);

        plow_buf b = {0};
        ledger_tx_encode(&tx, &b);
        CHECK(ledger_tx_decode(&d, b.data, b.len, err) == 0 && ledger_tx_verify(&d, chain));
        /* Every bit of a transfer, one bit per byte elsewhere (the bit moves). */
        size_t bits = type == LEDGER_TX_TRANSFER ? 8 * b.len : b.len;
        for (size_t i = 0; i < bits; i++) {
            size_t byte = type == LEDGER_TX_TRANSFER ? i / 8 : i;
            int bit = type == LEDGER_TX_TRANSFER ? (int)(i % 8) : (int)(i % 8);
            b.data[byte] ^= (uint8_t)(1u << bit);
            if (ledger_tx_decode(&d, b.data, b.len, err) == 0) {
                CHECKF(!ledger_tx_verify(&d, chain), "%s: byte %zu bit %d", ledger_tx_type_name(type), byte, bit);
                checked++;
            }
            b.data[byte] ^= (uint8_t)(1u << bit);
        }
        plow_buf_release(&b);
    }
    CHECK(checked > 1000);
    ledger_key_wipe(&k);
    ledger_key_wipe(&k2);
    uint8_t zero[sizeof k] = {0};
    CHECK(memcmp(&k, zero, sizeof k) == 0);

    /* The raw signing primitives. */
    ledger_key g1, g2;
    ledger_key_generate(&g1);
    ledger_key_generate(&g2);
    CHECK(memcmp(g1.pk, g2.pk, 32) != 0);
    uint8_t sig[64];
    const uint8_t msg[] = "plow";
    ledger_sign(&g1, msg, sizeof msg, sig);
    CHECK(ledger_verify_sig(g1.pk, msg, sizeof msg, sig));
    CHECK(!ledger_verify_sig(g2.pk, msg, sizeof msg, sig));
    CHECK(!ledger_verify_sig(g1.pk, msg, sizeof msg - 1, sig));
    sig[63] ^= 0x80;
    CHECK(!ledger_verify_sig(g1.pk, msg, sizeof msg, sig));
    ledger_key_wipe(&g1);
    ledger_key_wipe(&g2);
    CHECK(ledger_crypto_init(err) == 0);
}

/* ---- addresses ------------------------------------------------------------------ */

static void test_addr(void) {
    uint64_t s = 0x61646472ULL;
    char err[PLOW_ERR_LEN], a[LEDGER_ADDR_STR_LEN];
    uint8_t pk[32], got[32];
    for (int rep = 0; rep < 20; rep++) {
        fill_random(pk, 32, &s);
        ledger_addr_format(pk, a);
        CHECK(strlen(a) == LEDGER_ADDR_STR_LEN - 1 && strncmp(a, "plow", 4) == 0);
        for (const char *p = a + 4; *p; p++) CHECK((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f'));
        CHECK(ledger_addr_parse(a, got, err) == 0 && memcmp(got, pk, 32) == 0);
        /* upper-case hex is the same address */
        char up[LEDGER_ADDR_STR_LEN];
        strcpy(up, a);
        for (char *p = up + 4; *p; p++)
            if (*p >= 'a' && *p <= 'f') *p = (char)(*p - 'a' + 'A');
        CHECK(ledger_addr_parse(up, got, err) == 0 && memcmp(got, pk, 32) == 0);
    }

    /* Every single-character substitution is refused, except a case change. */
    fill_random(pk, 32, &s);
    ledger_addr_format(pk, a);
    static const char alphabet[] = "0123456789abcdefABCDEFgxzGPLOW ./-+_";
    size_t tried = 0;
    for (size_t i = 0; i < LEDGER_ADDR_STR_LEN - 1; i++) {
        for (const char *c = alphabet; *c; c++) {
            if (*c == a[i]) continue;
            bool case_change = i >= 4 && ((*c >= 'A' && *c <= 'F' && *c - 'A' + 'a' == a[i]));
            char t[LEDGER_ADDR_STR_LEN];
            strcpy(t, a);
            t[i] = *c;
            int rc = ledger_addr_parse(t, got, err);
            if (case_change) {
                CHECK(rc == 0 && memcmp(got, pk, 32) == 0);
            } else {
                CHECKF(rc == -1, "typo at %zu ('%c') accepted", i, *c);
                tried++;
            }
        }
    }
    CHECK(tried > 2000);
    /* Adjacent transpositions of different digits. */
    for (size_t i = 4; i + 1 < LEDGER_ADDR_STR_LEN - 1; i++) {
        if (a[i] == a[i + 1]) continue;
        char t[LEDGER_ADDR_STR_LEN];
        strcpy(t, a);
        t[i] = a[i + 1], t[i + 1] = a[i];
        CHECKF(ledger_addr_parse(t, got, err) == -1, "transposition at %zu accepted", i);
    }
    /* The errors say what is wrong. */
    char t[LEDGER_ADDR_STR_LEN + 8];
    strcpy(t, a);
    t[40] = a[40] == '0' ? '1' : '0';
    CHECK(ledger_addr_parse(t, got, err) == -1 && has(err, "checksum mismatch: mistyped address?"));
    strcpy(t, a);
    t[74] = a[74] == '0' ? '1' : '0';
    CHECK(ledger_addr_parse(t, got, err) == -1 && has(err, "checksum mismatch"));
    strcpy(t, a);
    t[10] = 'g';
    CHECK(ledger_addr_parse(t, got, err) == -1 && has(err, "'g' at position 11 is not a hex digit"));
    t[10] = '\x01';
    CHECK(ledger_addr_parse(t, got, err) == -1 && has(err, "byte 0x01"));
    strcpy(t, a);
    memcpy(t, "PLOW", 4);
    CHECK(ledger_addr_parse(t, got, err) == -1 && has(err, "start with \"plow\""));
    memcpy(t, "plox", 4);
    CHECK(ledger_addr_parse(t, got, err) == -1 && has(err, "start with \"plow\""));
    strcpy(t, a);
    t[75] = 0;
    CHECK(ledger_addr_parse(t, got, err) == -1 && has(err, "75 characters"));
    strcpy(t, a);
    strcat(t, "0");
    CHECK(ledger_addr_parse(t, got, err) == -1 && has(err, "more than 76"));
    CHECK(ledger_addr_parse("", got, err) == -1 && has(err, "0 characters"));
    CHECK(ledger_addr_parse(a + 4, got, err) == -1 && has(err, "72 characters"));
}

/* ---- key files ----------------------------------------------------------------- */

static void key_path(char *out, size_t n, const char *name) {
    snprintf(out, n, "%s/%s", test_tmpdir(), name);
}

/* Writes `text` to a new file with the given mode (exactly: chmod after). */
static void write_mode(const char *path, const char *text, mode_t mode) {
    unlink(path);
    int fd = open(path, O_CREAT | O_EXCL | O_WRONLY, 0600);
    PLOW_ASSERT(fd >= 0);
    size_t n = strlen(text);
    PLOW_ASSERT(write(fd, text, n) == (ssize_t)n);
    close(fd);
    PLOW_ASSERT(chmod(path, mode) == 0);
}

static void test_key_files(void) {
    char err[PLOW_ERR_LEN], path[512];
    uint8_t seed[32];
    uint64_t s = 0x6b657973ULL;
    fill_random(seed, 32, &s);
    ledger_key k, l;
    ledger_key_from_seed(&k, seed);
    key_path(path, sizeof path, "tx_a.key");
    unlink(path);
    CHECKF(ledger_key_save(&k, path, err) == 0, "%s", err);
    struct stat st;
    CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600);
    CHECKF(ledger_key_load(&l, path, err) == 0, "%s", err);
    CHECK(memcmp(&k, &l, sizeof k) == 0);

    /* The file is the documented JSON. */
    uint8_t *data;
    size_t size;
    PLOW_ASSERT(plow_read_file(path, 4096, &data, &size, err) == 0);
    char addr[LEDGER_ADDR_STR_LEN], seed_hex[65], want[256];
    ledger_addr_format(k.pk, addr);
    plow_hex(seed, 32, seed_hex);
    snprintf(want, sizeof want, "{\"format\": \"plow.key.v1\", \"address\": \"%s\", \"seed\": \"%s\"}\n", addr,
             seed_hex);
    CHECK(size == strlen(want) && memcmp(data, want, size) == 0);
    free(data);

    /* Never overwrites, not even with the same key; the file is unchanged. */
    ledger_key other;
    ledger_key_generate(&other);
    CHECK(ledger_key_save(&other, path, err) == -1 && has(err, "exists: refusing to overwrite a key"));
    CHECK(ledger_key_save(&k, path, err) == -1);
    CHECK(ledger_key_load(&l, path, err) == 0 && memcmp(l.pk, k.pk, 32) == 0);

    /* Any group or other bit is refused. */
    const mode_t modes[] = {0644, 0640, 0604, 0660, 0610, 0601};
    for (size_t i = 0; i < sizeof modes / sizeof modes[0]; i++) {
        PLOW_ASSERT(chmod(path, modes[i]) == 0);
        CHECKF(ledger_key_load(&l, path, err) == -1 && has(err, "readable by others: chmod 600"), "mode %o",
               (unsigned)modes[i]);
    }
    PLOW_ASSERT(chmod(path, 0400) == 0);
    CHECK(ledger_key_load(&l, path, err) == 0);
    CHECK(ledger_key_load(&l, "/nonexistent/plow.key", err) == -1 && has(err, "cannot open"));
    CHECK(ledger_key_save(&k, "/nonexistent/plow.key", err) == -1 && has(err, "cannot create"));

    /* Malformed files, all mode 0600. */
    char other_addr[LEDGER_ADDR_STR_LEN], bad_addr[LEDGER_ADDR_STR_LEN];
    ledger_addr_format(other.pk, other_addr);
    strcpy(bad_addr, addr);
    bad_addr[20] = bad_addr[20] == '0' ? '1' : '0';
    char text[1024];
    key_path(path, sizeof path, "tx_bad.key");
    struct {
        const char *fmt_addr; /* the address to write, or NULL for addr */
        const char *templ;    /* %s: address, then seed */
        const char *why;
    } bad[] = {
        {NULL, "not json", "not a key file"},
        {NULL, "[\"%s\", \"%s\"]", "not a key file"},
        {NULL, "{\"format\": \"plow.key.v1\", \"address\": \"%s\", \"seed\": \"%s\"", "not a key file"},
        {NULL, "{\"format\": \"plow.key.v1\", \"address\": \"%s\", \"seed\": \"%s\"} x", "not a key file"},
        {NULL, "{\"format\": \"plow.key.v1\", \"address\": \"%s\"}%.0s", "not a key file"},
        {NULL, "{\"format\": \"plow.key.v1\", \"address\": \"%s\", \"seed\": \"%s\", \"x\": 1}", "not a key file"},
        {NULL, "{\"format\": \"plow.key.v1\", \"address\": \"%s\", \"seed\": \"%s\", \"seed\": \"00\"}",
         "not a key file"},
        {NULL, "{\"format\": \"plow.key.v2\", \"address\": \"%s\", \"seed\": \"%s\"}", "unknown key format"},
        {NULL, "{\"format\": 1, \"address\": \"%s\", \"seed\": \"%s\"}", "not a key file"},
        {NULL, "{\"format\": \"plow.key.v1\", \"address\": \"%s\", \"seed\": \"%.62s\"}", "64 hex digits"},
        {NULL, "{\"format\": \"plow.key.v1\", \"address\": \"%s\", \"seed\": \"%sff\"}", "64 hex digits"},
        {NULL, "{\"format\": \"plow.key.v1\", \"address\": \"%s\", \"seed\": \"zz%.62s\"}", "64 hex digits"},
        {"other", "{\"format\": \"plow.key.v1\", \"address\": \"%s\", \"seed\": \"%s\"}", "does not give"},
        {"bad", "{\"format\": \"plow.key.v1\", \"address\": \"%s\", \"seed\": \"%s\"}", "checksum mismatch"},
        {NULL, "{\"format\": \"plow.key.v1\\u0000x\", \"address\": \"%s\", \"seed\": \"%s\"}", "backslash"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        const char *ad = !bad[i].fmt_addr ? addr : bad[i].fmt_addr[0] == 'o' ? other_addr : bad_addr;
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
#pragma GCC diagnostic ignored "-Wformat-extra-args"
        snprintf(text, sizeof text, bad[i].templ, ad, seed_hex);
#pragma GCC diagnostic pop
        write_mode(path, text, 0600);
        memset(&l, 0x55, sizeof l);
        CHECKF(ledger_key_load(&l, path, err) == -1 && has(err, bad[i].why), "case %zu", i);
        uint8_t zero[sizeof l] = {0};
        CHECKF(memcmp(&l, zero, sizeof l) == 0, "case %zu: key not wiped", i);
    }
    /* A NUL inside the file hides nothing. */
    snprintf(text, sizeof text, "{\"format\": \"plow.key.v1\", \"address\": \"%s\", \"seed\": \"%s\"}", addr, seed_hex);
    unlink(path);
    int fd = open(path, O_CREAT | O_EXCL | O_WRONLY, 0600);
    PLOW_ASSERT(fd >= 0);
    size_t tl = strlen(text);
    PLOW_ASSERT(write(fd, text, tl) == (ssize_t)tl && write(fd, "\0x", 2) == 2);
    close(fd);
    CHECK(ledger_key_load(&l, path, err) == -1 && has(err, "NUL"));
    /* The well-formed version of the same text loads (hand-written spacing). */
    write_mode(path, text, 0600);
    CHECK(ledger_key_load(&l, path, err) == 0 && memcmp(l.pk, k.pk, 32) == 0);
    /* A directory is not a key. */
    key_path(path, sizeof path, "tx_dir.key");
    mkdir(path, 0700);
    CHECK(ledger_key_load(&l, path, err) == -1);
    ledger_key_wipe(&k);
    ledger_key_wipe(&l);
    ledger_key_wipe(&other);
}

/* ---- genesis ----------------------------------------------------------------------- */

static char g_addr[3][LEDGER_ADDR_STR_LEN];

static void genesis_keys(void) {
    for (int i = 0; i < 3; i++) {
        uint8_t seed[32];
        memset(seed, 0x40 + i, 32);
        ledger_key k;
        ledger_key_from_seed(&k, seed);
        ledger_addr_format(k.pk, g_addr[i]);
        ledger_key_wipe(&k);
    }
}

static int parse_text(ledger_genesis *g, const char *text, char err[PLOW_ERR_LEN]) {
    err[0] = 0;
    return ledger_genesis_parse(g, (const uint8_t *)text, strlen(text), err);
}

/* A genesis with one field replaced: `params` and `accounts` are the raw
 * JSON for those members, the rest is fixed. */
static void genesis_text(char *out, size_t n, const char *chain, const char *time_ms, const char *op,
                         const char *params, const char *accounts) {
    snprintf(out, n, "{\"chain\": %s, \"time_ms\": %s, \"operator\": %s, \"params\": %s, \"accounts\": %s}\n",
             chain, time_ms, op, params, accounts);
}

#define GOOD_PARAMS                                                                                          \
    "{\"unbond_blocks\": \"20\", \"verdict_blocks\": \"50\", \"min_fee\": \"1\", \"slash_challenger_pct\": 50, " \
    "\"bond_accused_pct\": 50}"

static void test_genesis(void) {
    genesis_keys();
    char err[PLOW_ERR_LEN], text[4096], op[100], accounts[1024];
    snprintf(op, sizeof op, "\"%s\"", g_addr[0]);
    snprintf(accounts, sizeof accounts,
             "[{\"address\": \"%s\", \"balance\": \"1000000\", \"stake\": \"0\"},"
             " {\"address\": \"%s\", \"balance\": \"5\", \"stake\": \"18446744073709551609\"},"
             " {\"address\": \"%s\", \"balance\": \"0\"}]",
             g_addr[0], g_addr[1], g_addr[2]);
    genesis_text(text, sizeof text, "\"plow-local\"", "\"1700000000000\"", op, GOOD_PARAMS, "[]");
    ledger_genesis g;
    CHECKF(parse_text(&g, text, err) == 0, "%s", err);
    CHECK(g.n_accounts == 0 && g.supply == 0 && g.accounts == NULL);
    ledger_genesis_release(&g);

    /* Overflow: 1000000 + 5 + (2^64 - 7) > 2^64 - 1 */
    genesis_text(text, sizeof text, "\"plow-local\"", "\"1700000000000\"", op, GOOD_PARAMS, accounts);
    CHECK(parse_text(&g, text, err) == -1 && has(err, "overflows"));
    CHECK(g.accounts == NULL && g.n_accounts == 0);

    snprintf(accounts, sizeof accounts,
             "[{\"address\": \"%s\", \"balance\": \"1000000\", \"stake\": \"0\"},"
             " {\"address\": \"%s\", \"balance\": \"5\", \"stake\": \"18446744073708551610\"},"
             " {\"address\": \"%s\", \"balance\": \"0\"}]",
             g_addr[0], g_addr[1], g_addr[2]);
    genesis_text(text, sizeof text, "\"plow-local\"", "\"1700000000000\"", op, GOOD_PARAMS, accounts);
    CHECKF(parse_text(&g, text, err) == 0, "%s", err);
    CHECK(strcmp(g.chain, "plow-local") == 0 && g.time_ms == 1700000000000ULL);
    uint8_t pk[32];
    PLOW_ASSERT(ledger_addr_parse(g_addr[0], pk, err) == 0);
    CHECK(memcmp(g.operator_pk, pk, 32) == 0);
    CHECK(g.params.unbond_blocks == 20 && g.params.verdict_blocks == 50 && g.params.min_fee == 1 &&
          g.params.slash_challenger_pct == 50 && g.params.bond_accused_pct == 50);
    CHECK(g.n_accounts == 3);
    if (g.n_accounts == 3) {
        CHECK(memcmp(g.accounts[0].pk, pk, 32) == 0 && g.accounts[0].balance == 1000000 && g.accounts[0].stake == 0);
        CHECK(g.accounts[1].balance == 5 && g.accounts[1].stake == 18446744073708551610ULL);
        CHECK(g.accounts[2].balance == 0 && g.accounts[2].stake == 0);
    }
    CHECK(g.supply == UINT64_MAX); /* 1000000 + 5 + 18446744073708551609 + 1... */
    uint8_t id[32];
    plow_sha256_once(text, strlen(text), id);
    CHECK(memcmp(g.chain_id, id, 32) == 0);
    ledger_genesis_release(&g);
    ledger_genesis_release(&g); /* twice is fine */

    /* One more byte of whitespace: same chain, different id. */
    char text2[4200];
    snprintf(text2, sizeof text2, "%s ", text);
    CHECK(parse_text(&g, text2, err) == 0 && memcmp(g.chain_id, id, 32) != 0);
    ledger_genesis_release(&g);

    /* Each malformation on its own. */
    char dup[1024], badaddr_acc[1024], bad_op[100];
    snprintf(dup, sizeof dup,
             "[{\"address\": \"%s\", \"balance\": \"1\"}, {\"address\": \"%s\", \"balance\": \"2\"},"
             " {\"address\": \"%s\", \"balance\": \"3\"}]",
             g_addr[1], g_addr[2], g_addr[1]);
    char bad_addr[LEDGER_ADDR_STR_LEN];
    strcpy(bad_addr, g_addr[1]);
    bad_addr[30] = bad_addr[30] == 'a' ? 'b' : 'a';
    snprintf(badaddr_acc, sizeof badaddr_acc, "[{\"address\": \"%s\", \"balance\": \"1\"}]", bad_addr);
    snprintf(bad_op, sizeof bad_op, "\"%s\"", bad_addr);
    char acc_tmpl[256];
    snprintf(acc_tmpl, sizeof acc_tmpl, "[{\"address\": \"%s\", \"balance\": %%s}]", g_addr[1]);
    static const char *const amounts_bad[][2] = {
        {"1000", "decimal string"},
        {"\"-1\"", "not a non-negative"},
        {"\"+1\"", "not a non-negative"},
        {"\"01\"", "leading zero"},
        {"\"\"", "empty"},
        {"\"1.0\"", "not a non-negative"},
        {"\"1e3\"", "not a non-negative"},
        {"\" 1\"", "not a non-negative"},
        {"\"18446744073709551616\"", "larger than"},
        {"\"99999999999999999999999\"", "larger than"},
        {"null", "decimal string"},
    };
    for (size_t i = 0; i < sizeof amounts_bad / sizeof amounts_bad[0]; i++) {
        char acc[512];
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
        snprintf(acc, sizeof acc, acc_tmpl, amounts_bad[i][0]);
#pragma GCC diagnostic pop
        genesis_text(text, sizeof text, "\"plow-local\"", "\"1\"", op, GOOD_PARAMS, acc);
        CHECKF(parse_text(&g, text, err) == -1 && has(err, amounts_bad[i][1]) && has(err, "accounts[0].balance"),
               "amount %s", amounts_bad[i][0]);
        /* and as time_ms */
        genesis_text(text, sizeof text, "\"plow-local\"", amounts_bad[i][0], op, GOOD_PARAMS, "[]");
        CHECKF(parse_text(&g, text, err) == -1 && has(err, "time_ms"), "time_ms %s", amounts_bad[i][0]);
    }
    {
        char acc[512];
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
        snprintf(acc, sizeof acc, acc_tmpl, "\"18446744073709551615\"");
#pragma GCC diagnostic pop
        genesis_text(text, sizeof text, "\"plow-local\"", "\"0\"", op, GOOD_PARAMS, acc);
        CHECKF(parse_text(&g, text, err) == 0 && g.supply == UINT64_MAX, "%s", err);
        ledger_genesis_release(&g);
    }

    struct {
        const char *chain, *time_ms, *op, *params, *accounts, *why;
    } cases[] = {
        {"\"plow-local\"", "\"1\"", op, GOOD_PARAMS, dup, "listed twice"},
        {"\"plow-local\"", "\"12\\u0000junk\"", op, GOOD_PARAMS, "[]", "\\u0000"},
        {"\"plow\\u0000local\"", "\"1\"", op, GOOD_PARAMS, "[]", "\\u0000"},
        {"\"plow-local\"", "\"1\"", op, GOOD_PARAMS, badaddr_acc, "accounts[0].address: bad address: checksum"},
        {"\"plow-local\"", "\"1\"", bad_op, GOOD_PARAMS, "[]", "operator: bad address"},
        {"\"plow-local\"", "\"1\"", "\"plow1234\"", GOOD_PARAMS, "[]", "operator: bad address"},
        {"\"plow-local\"", "\"1\"", "7", GOOD_PARAMS, "[]", "operator"},
        {"\"\"", "\"1\"", op, GOOD_PARAMS, "[]", "chain"},
        {"\"0123456789012345678901234567890123456789012345678901234567890123\"", "\"1\"", op, GOOD_PARAMS, "[]",
         "64 bytes"},
        {"\"plow\\nlocal\"", "\"1\"", op, GOOD_PARAMS, "[]", "printable"},
        {"\"plow local\"", "\"1\"", op, GOOD_PARAMS, "[]", "printable"},
        {"\"plow\\u00e9\"", "\"1\"", op, GOOD_PARAMS, "[]", "printable"},
        {"5", "\"1\"", op, GOOD_PARAMS, "[]", "chain must be a string"},
        {"\"plow-local\"", "\"1\"", op, GOOD_PARAMS, "{}", "accounts must be a JSON array"},
        {"\"plow-local\"", "\"1\"", op, GOOD_PARAMS, "[1]", "accounts[0] must be a JSON object"},
        {"\"plow-local\"", "\"1\"", op, "[]", "[]", "params must be a JSON object"},
        {"\"plow-local\"", "\"1\"", op,
         "{\"unbond_blocks\": \"20\", \"verdict_blocks\": \"50\", \"min_fee\": \"1\", \"slash_challenger_pct\": 101, "
         "\"bond_accused_pct\": 50}",
         "[]", "slash_challenger_pct"},
        {"\"plow-local\"", "\"1\"", op,
         "{\"unbond_blocks\": \"20\", \"verdict_blocks\": \"50\", \"min_fee\": \"1\", \"slash_challenger_pct\": 50, "
         "\"bond_accused_pct\": -1}",
         "[]", "bond_accused_pct"},
        {"\"plow-local\"", "\"1\"", op,
         "{\"unbond_blocks\": \"20\", \"verdict_blocks\": \"50\", \"min_fee\": \"1\", \"slash_challenger_pct\": 50.5, "
         "\"bond_accused_pct\": 50}",
         "[]", "slash_challenger_pct"},
        {"\"plow-local\"", "\"1\"", op,
         "{\"unbond_blocks\": \"20\", \"verdict_blocks\": \"50\", \"min_fee\": \"1\", \"slash_challenger_pct\": \"50\", "
         "\"bond_accused_pct\": 50}",
         "[]", "slash_challenger_pct"},
        {"\"plow-local\"", "\"1\"", op,
         "{\"unbond_blocks\": 20, \"verdict_blocks\": \"50\", \"min_fee\": \"1\", \"slash_challenger_pct\": 50, "
         "\"bond_accused_pct\": 50}",
         "[]", "params.unbond_blocks: must be a decimal string"},
        {"\"plow-local\"", "\"1\"", op,
         "{\"unbond_blocks\": \"20\", \"verdict_blocks\": \"50\", \"slash_challenger_pct\": 50, "
         "\"bond_accused_pct\": 50}",
         "[]", "missing field \"min_fee\""},
        {"\"plow-local\"", "\"1\"", op,
         "{\"unbond_blocks\": \"20\", \"verdict_blocks\": \"50\", \"min_fee\": \"1\", \"min_fees\": \"1\", "
         "\"slash_challenger_pct\": 50, \"bond_accused_pct\": 50}",
         "[]", "unknown field \"min_fees\""},
        {"\"plow-local\"", "\"1\"", op,
         "{\"unbond_blocks\": \"20\", \"verdict_blocks\": \"50\", \"min_fee\": \"1\", \"min_fee\": \"2\", "
         "\"slash_challenger_pct\": 50, \"bond_accused_pct\": 50}",
         "[]", "appears twice"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        genesis_text(text, sizeof text, cases[i].chain, cases[i].time_ms, cases[i].op, cases[i].params,
                     cases[i].accounts);
        memset(&g, 0x55, sizeof g);
        CHECKF(parse_text(&g, text, err) == -1 && has(err, cases[i].why), "case %zu", i);
        CHECK(g.accounts == NULL);
    }
    /* An escaped backslash before "u0000" is not the NUL escape: the chain is
     * named a\u0000 (7 printable bytes). */
    genesis_text(text, sizeof text, "\"a\\\\u0000\"", "\"1\"", op, GOOD_PARAMS, "[]");
    CHECKF(parse_text(&g, text, err) == 0 && strcmp(g.chain, "a\\u0000") == 0, "%s", err);
    ledger_genesis_release(&g);
    /* account objects: unknown field, missing balance */
    snprintf(accounts, sizeof accounts, "[{\"address\": \"%s\", \"balance\": \"1\", \"bal\": \"2\"}]", g_addr[1]);
    genesis_text(text, sizeof text, "\"plow-local\"", "\"1\"", op, GOOD_PARAMS, accounts);
    CHECK(parse_text(&g, text, err) == -1 && has(err, "accounts[0]: unknown field \"bal\""));
    snprintf(accounts, sizeof accounts, "[{\"address\": \"%s\", \"stake\": \"2\"}]", g_addr[1]);
    genesis_text(text, sizeof text, "\"plow-local\"", "\"1\"", op, GOOD_PARAMS, accounts);
    CHECK(parse_text(&g, text, err) == -1 && has(err, "missing field \"balance\""));

    /* Whole-file malformations. */
    static const char *const broken[] = {
        "", "{", "[]", "null", "{\"chain\": \"x\"", "{} {}", "{}",
    };
    for (size_t i = 0; i < sizeof broken / sizeof broken[0]; i++)
        CHECKF(parse_text(&g, broken[i], err) == -1 && err[0], "broken %zu", i);
    genesis_text(text, sizeof text, "\"plow-local\"", "\"1\"", op, GOOD_PARAMS, "[]");
    CHECK(parse_text(&g, text, err) == 0);
    ledger_genesis_release(&g);
    size_t tl = strlen(text);
    text[tl - 1] = 0; /* drop the newline, then put a NUL and junk after the JSON */
    char withnul[4200];
    memcpy(withnul, text, tl - 1);
    memcpy(withnul + tl - 1, "\0junk", 5);
    CHECK(ledger_genesis_parse(&g, (const uint8_t *)withnul, tl + 4, err) == -1 && has(err, "NUL"));
    snprintf(withnul, sizeof withnul, "%s x", text);
    CHECK(parse_text(&g, withnul, err) == -1 && has(err, "not valid JSON"));
    genesis_text(text, sizeof text, "\"plow-local\"", "\"1\"", op, GOOD_PARAMS, "[]");
    snprintf(withnul, sizeof withnul, "%.*s, \"extra\": 1}", (int)(strlen(text) - 2), text);
    CHECK(parse_text(&g, withnul, err) == -1 && has(err, "unknown field \"extra\""));
    snprintf(withnul, sizeof withnul, "%.*s, \"chain\": \"other\"}", (int)(strlen(text) - 2), text);
    CHECK(parse_text(&g, withnul, err) == -1 && has(err, "\"chain\" appears twice"));
}

/* ---- blocks -------------------------------------------------------------------------- */

static void test_block_header(void) {
    uint64_t s = 0x626c6f636bULL;
    char err[PLOW_ERR_LEN];
    ledger_block_header h, d;
    memset(&h, 0, sizeof h);
    h.version = 1;
    h.height = 0x0102030405060708ULL;
    h.time_ms = 1700000000123ULL;
    fill_random(h.prev, 32, &s);
    fill_random(h.tx_root, 32, &s);
    fill_random(h.results, 32, &s);
    fill_random(h.state_root, 32, &s);
    h.n_txs = 0xa0b0c0d0;
    uint8_t b[LEDGER_BLOCK_HEADER_LEN];
    ledger_block_encode(&h, b);
    /* The layout, offset by offset. */
    const uint8_t ver[4] = {1, 0, 0, 0}, height[8] = {8, 7, 6, 5, 4, 3, 2, 1}, n_txs[4] = {0xd0, 0xc0, 0xb0, 0xa0};
    uint8_t t[8];
    plow_put_u64(t, 1700000000123ULL);
    CHECK(memcmp(b, ver, 4) == 0 && memcmp(b + 4, height, 8) == 0 && memcmp(b + 12, t, 8) == 0);
    CHECK(memcmp(b + 20, h.prev, 32) == 0 && memcmp(b + 52, h.tx_root, 32) == 0 &&
          memcmp(b + 84, h.results, 32) == 0 && memcmp(b + 116, h.state_root, 32) == 0 &&
          memcmp(b + 148, n_txs, 4) == 0);
    CHECK(ledger_block_decode(&d, b, sizeof b, err) == 0 && memcmp(&d, &h, sizeof h) == 0);
    uint8_t h1[32], h2[32];
    ledger_block_hash(&h, h1);
    plow_sha256_once(b, sizeof b, h2);
    CHECK(memcmp(h1, h2, 32) == 0);
    /* every field changes the hash */
    for (size_t i = 0; i < sizeof b; i++) {
        b[i] ^= 0x10;
        if (ledger_block_decode(&d, b, sizeof b, err) == 0) {
            ledger_block_hash(&d, h2);
            CHECK(memcmp(h1, h2, 32) != 0);
        } else {
            CHECK(i < 4 && has(err, "version"));
        }
        b[i] ^= 0x10;
    }
    CHECK(ledger_block_decode(&d, b, sizeof b - 1, err) == -1 && has(err, "151 bytes"));
    uint8_t longer[LEDGER_BLOCK_HEADER_LEN + 1] = {0};
    memcpy(longer, b, sizeof b);
    CHECK(ledger_block_decode(&d, longer, sizeof longer, err) == -1 && has(err, "153 bytes"));
    CHECK(ledger_block_decode(&d, b, 0, err) == -1);
    h.version = 2;
    ledger_block_encode(&h, b);
    CHECK(ledger_block_decode(&d, b, sizeof b, err) == -1 && has(err, "version 2"));
}

/* ---- name tables ------------------------------------------------------------------------ */

static void test_names(void) {
    static const char *const types[] = {"?", "transfer", "stake", "unstake", "register", "post_task", "claim",
                                        "commit", "challenge", "verdict", "finalize", "expire", "label_reveal",
                                        "gold_reveal", "da_challenge", "reveal", "channel_open", "channel_redeem",
                                        "channel_close", "receipt_fraud"};
    _Static_assert(sizeof types / sizeof types[0] == LEDGER_TX_TYPE_END, "a name per type");
    for (int i = 0; i < LEDGER_TX_TYPE_END; i++) CHECK(strcmp(ledger_tx_type_name(i), types[i]) == 0);
    CHECK(strcmp(ledger_tx_type_name(LEDGER_TX_TYPE_END), "?") == 0 && strcmp(ledger_tx_type_name(-1), "?") == 0 &&
          strcmp(ledger_tx_type_name(1000), "?") == 0);
    CHECK(strcmp(ledger_kind_name(LEDGER_KIND_TRAIN), "train") == 0 &&
          strcmp(ledger_kind_name(LEDGER_KIND_LORA), "lora") == 0 &&
          strcmp(ledger_kind_name(LEDGER_KIND_INFER), "infer") == 0 &&
          strcmp(ledger_kind_name(LEDGER_KIND_DPO), "dpo") == 0 &&
          strcmp(ledger_kind_name(LEDGER_KIND_ROUND), "round") == 0 &&
          strcmp(ledger_kind_name(LEDGER_KIND_LABEL), "label") == 0 && strcmp(ledger_kind_name(0), "?") == 0 &&
          strcmp(ledger_kind_name(LEDGER_KIND_END), "?") == 0);
    CHECK(strcmp(ledger_mode_name(LEDGER_MODE_REPLICATED), "replicated") == 0 &&
          strcmp(ledger_mode_name(LEDGER_MODE_OPTIMISTIC), "optimistic") == 0 &&
          strcmp(ledger_mode_name(0), "?") == 0 && strcmp(ledger_mode_name(LEDGER_MODE_END), "?") == 0);
    static const char *const ts[] = {"?", "open", "claimed", "committed", "challenged", "resolved", "finalized",
                                     "expired"};
    for (int i = 0; i < LEDGER_TASK_STATUS_END; i++) CHECK(strcmp(ledger_task_status_name(i), ts[i]) == 0);
    CHECK(strcmp(ledger_task_status_name(LEDGER_TASK_STATUS_END), "?") == 0);
    static const char *const ss[] = {"empty", "claimed", "committed", "slashed", "forfeited", "paid", "unpaid", "void"};
    for (int i = 0; i < LEDGER_SLOT_STATUS_END; i++) CHECK(strcmp(ledger_slot_status_name(i), ss[i]) == 0);
    CHECK(strcmp(ledger_slot_status_name(LEDGER_SLOT_STATUS_END), "?") == 0 &&
          strcmp(ledger_slot_status_name(-1), "?") == 0);
    static const char *const cs[] = {"?", "open", "upheld", "rejected", "expired"};
    for (int i = 0; i < LEDGER_CH_STATUS_END; i++) CHECK(strcmp(ledger_challenge_status_name(i), cs[i]) == 0);
    CHECK(strcmp(ledger_challenge_status_name(LEDGER_CH_STATUS_END), "?") == 0);
}

const test_case tx_tests[] = {
    {"tx_roundtrip", test_tx_roundtrip},
    {"tx_known_answer", test_tx_known_answer},
    {"tx_label_layout", test_tx_label_layout},
    {"tx_truncation", test_tx_truncation},
    {"tx_refusals", test_tx_refusals},
    {"tx_bad_proofs", test_tx_bad_proofs},
    {"tx_signatures", test_tx_signatures},
    {"tx_addr", test_addr},
    {"tx_key_files", test_key_files},
    {"tx_genesis", test_genesis},
    {"tx_block_header", test_block_header},
    {"tx_names", test_names},
    {NULL, NULL},
};
