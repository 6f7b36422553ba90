/*
 * tx.c — the canonical transaction encoding, its hash and signature, and the
 * ledger's name tables.
 *
 * The layout is in docs/formats/tx.md. The decoder is the only way bytes
 * from a peer become a ledger_tx, so it is strict: it accepts exactly the
 * encodings ledger_tx_encode produces, and every accepted buffer re-encodes
 * to the same bytes (tests/fuzz/fuzz_tx.c checks this). What the values mean
 * (kinds, modes, amounts, who may send what) is the state machine's business;
 * the decoder checks only what the encoding itself needs: lengths, the string
 * alphabet, proof encodings and booleans.
 */
#include "../base/plow.h"

#include "ledger.h"

#define TX_VERSION 1
#define TX_SIGN_DOMAIN "plow/tx/v1" /* hashed with its NUL */

/* ---- name tables ------------------------------------------------------------- */

static const char *const tx_type_names[] = {
    [LEDGER_TX_TRANSFER] = "transfer", [LEDGER_TX_STAKE] = "stake",         [LEDGER_TX_UNSTAKE] = "unstake",
    [LEDGER_TX_REGISTER] = "register", [LEDGER_TX_POST_TASK] = "post_task", [LEDGER_TX_CLAIM] = "claim",
    [LEDGER_TX_COMMIT] = "commit",     [LEDGER_TX_CHALLENGE] = "challenge", [LEDGER_TX_VERDICT] = "verdict",
    [LEDGER_TX_FINALIZE] = "finalize", [LEDGER_TX_EXPIRE] = "expire",       [LEDGER_TX_LABEL_REVEAL] = "label_reveal",
    [LEDGER_TX_GOLD_REVEAL] = "gold_reveal", [LEDGER_TX_DA_CHALLENGE] = "da_challenge",
    [LEDGER_TX_REVEAL] = "reveal", [LEDGER_TX_CHANNEL_OPEN] = "channel_open",
    [LEDGER_TX_CHANNEL_REDEEM] = "channel_redeem", [LEDGER_TX_CHANNEL_CLOSE] = "channel_close",
    [LEDGER_TX_RECEIPT_FRAUD] = "receipt_fraud",
};
_Static_assert(sizeof tx_type_names / sizeof tx_type_names[0] == LEDGER_TX_TYPE_END, "tx type names");

static const char *const kind_names[] = {
    [LEDGER_KIND_TRAIN] = "train", [LEDGER_KIND_LORA] = "lora",   [LEDGER_KIND_INFER] = "infer",
    [LEDGER_KIND_DPO] = "dpo",     [LEDGER_KIND_ROUND] = "round", [LEDGER_KIND_LABEL] = "label", [LEDGER_KIND_RL] = "rl",
};
_Static_assert(sizeof kind_names / sizeof kind_names[0] == LEDGER_KIND_END, "kind names");

static const char *const mode_names[] = {
    [LEDGER_MODE_REPLICATED] = "replicated", [LEDGER_MODE_OPTIMISTIC] = "optimistic",
};
_Static_assert(sizeof mode_names / sizeof mode_names[0] == LEDGER_MODE_END, "mode names");

static const char *const task_status_names[] = {
    [LEDGER_TASK_OPEN] = "open",           [LEDGER_TASK_CLAIMED] = "claimed",
    [LEDGER_TASK_COMMITTED] = "committed", [LEDGER_TASK_CHALLENGED] = "challenged",
    [LEDGER_TASK_RESOLVED] = "resolved",   [LEDGER_TASK_FINALIZED] = "finalized",
    [LEDGER_TASK_EXPIRED] = "expired",
};
_Static_assert(sizeof task_status_names / sizeof task_status_names[0] == LEDGER_TASK_STATUS_END,
               "task status names");

static const char *const slot_status_names[] = {
    [LEDGER_SLOT_EMPTY] = "empty",         [LEDGER_SLOT_CLAIMED] = "claimed", [LEDGER_SLOT_COMMITTED] = "committed",
    [LEDGER_SLOT_SLASHED] = "slashed",     [LEDGER_SLOT_FORFEITED] = "forfeited", [LEDGER_SLOT_PAID] = "paid",
    [LEDGER_SLOT_UNPAID] = "unpaid",       [LEDGER_SLOT_VOID] = "void",
};
_Static_assert(sizeof slot_status_names / sizeof slot_status_names[0] == LEDGER_SLOT_STATUS_END,
               "slot status names");

static const char *const challenge_status_names[] = {
    [LEDGER_CH_OPEN] = "open", [LEDGER_CH_UPHELD] = "upheld", [LEDGER_CH_REJECTED] = "rejected",
    [LEDGER_CH_EXPIRED] = "expired",
};
_Static_assert(sizeof challenge_status_names / sizeof challenge_status_names[0] == LEDGER_CH_STATUS_END,
               "challenge status names");

static const char *const challenge_kind_names[] = {
    [LEDGER_CHK_STEP] = "step", [LEDGER_CHK_DATA] = "data", [LEDGER_CHK_UNRUNNABLE] = "unrunnable",
    [LEDGER_CHK_RECEIPT] = "receipt",
};
_Static_assert(sizeof challenge_kind_names / sizeof challenge_kind_names[0] == LEDGER_CHK_END, "challenge kinds");

static const char *const channel_status_names[] = {
    [LEDGER_CHAN_OPEN] = "open", [LEDGER_CHAN_CLOSING] = "closing", [LEDGER_CHAN_CLOSED] = "closed",
};
_Static_assert(sizeof channel_status_names / sizeof channel_status_names[0] == LEDGER_CHAN_STATUS_END,
               "channel status names");

/* Entries not listed above (index 0 of the 1-based enums) are NULL: "?". */
static const char *name_of(const char *const *names, size_t count, int v) {
    if (v < 0 || (size_t)v >= count || !names[v]) return "?";
    return names[v];
}
#define NAME_OF(table, v) name_of(table, sizeof table / sizeof table[0], v)

const char *ledger_tx_type_name(int type) { return NAME_OF(tx_type_names, type); }
const char *ledger_kind_name(int kind) { return NAME_OF(kind_names, kind); }
const char *ledger_mode_name(int mode) { return NAME_OF(mode_names, mode); }
const char *ledger_task_status_name(int status) { return NAME_OF(task_status_names, status); }
const char *ledger_slot_status_name(int status) { return NAME_OF(slot_status_names, status); }
const char *ledger_challenge_status_name(int status) { return NAME_OF(challenge_status_names, status); }
const char *ledger_challenge_kind_name(int kind) { return NAME_OF(challenge_kind_names, kind); }
const char *ledger_channel_status_name(int status) { return NAME_OF(channel_status_names, status); }

/* ---- encoding ------------------------------------------------------------------ */

static void put_u8(plow_buf *b, uint8_t v) { plow_buf_append(b, &v, 1); }
static void put_u16(plow_buf *b, uint16_t v) {
    uint8_t p[2] = {(uint8_t)v, (uint8_t)(v >> 8)};
    plow_buf_append(b, p, 2);
}
static void put_32(plow_buf *b, const uint8_t v[32]) { plow_buf_append(b, v, 32); }

/* The empty proof (artifact step, INFER) is the zeroed struct: n, index and
 * depth all 0. Anything else goes through merkle_proof_encode as is, and an
 * inconsistent proof is then refused by the decoder. */
static bool proof_is_empty(const merkle_proof *p) { return p->n == 0 && p->index == 0 && p->depth == 0; }

static void put_proof(plow_buf *b, const merkle_proof *p) {
    if (proof_is_empty(p)) {
        put_u16(b, 0);
        return;
    }
    plow_buf tmp = {0};
    merkle_proof_encode(p, &tmp);
    PLOW_ASSERT(tmp.len <= MERKLE_PROOF_MAX_LEN);
    put_u16(b, (uint16_t)tmp.len);
    plow_buf_append(b, tmp.data, tmp.len);
    plow_buf_release(&tmp);
}

static void put_evidence(plow_buf *b, const ledger_evidence *e) {
    put_32(b, e->leaf_prev);
    put_32(b, e->leaf);
    put_proof(b, &e->proof_prev);
    put_proof(b, &e->proof);
}

static bool all_zero(const uint8_t *p, size_t n) {
    uint8_t acc = 0;
    for (size_t i = 0; i < n; i++) acc |= p[i];
    return acc == 0;
}

static void put_register(plow_buf *b, const ledger_tx *tx) {
    size_t nl = strnlen(tx->u.reg.name, sizeof tx->u.reg.name);
    size_t cl = strnlen(tx->u.reg.caps, sizeof tx->u.reg.caps);
    put_u8(b, tx->u.reg.kind);
    put_u8(b, (uint8_t)nl);
    plow_buf_append(b, tx->u.reg.name, nl);
    put_u16(b, (uint16_t)cl);
    plow_buf_append(b, tx->u.reg.caps, cl);
}

static void put_post(plow_buf *b, const ledger_task_params *p) {
    put_32(b, p->spec);
    put_u8(b, p->kind);
    put_u8(b, p->mode);
    put_u8(b, p->replicas);
    plow_buf_u64(b, p->reward);
    plow_buf_u64(b, p->worker_stake);
    plow_buf_u64(b, p->min_bond);
    plow_buf_u64(b, p->steps);
    plow_buf_u32(b, p->claim_blocks);
    plow_buf_u32(b, p->work_blocks);
    plow_buf_u32(b, p->window_blocks);
    if (p->kind == LEDGER_KIND_LABEL) { /* the only kind with more parameters */
        plow_buf_u32(b, p->n_classes);
        plow_buf_u32(b, p->redundancy);
        put_32(b, p->gold_commit);
        plow_buf_u32(b, p->min_gold_pct);
    }
}

static void put_commit(plow_buf *b, const ledger_tx *tx) {
    put_32(b, tx->u.commit.task);
    put_32(b, tx->u.commit.trace_root);
    put_32(b, tx->u.commit.final_state);
    put_32(b, tx->u.commit.artifact);
    put_32(b, tx->u.commit.manifest);
    plow_buf_u64(b, tx->u.commit.n);
    plow_buf_u32(b, tx->u.commit.checkpoint_every);
}

/* The REVEAL's values, in the order the commitment hashes them. */
static void put_values(plow_buf *b, const ledger_tx *tx) {
    put_32(b, tx->u.open.trace_root);
    put_32(b, tx->u.open.final_state);
    put_32(b, tx->u.open.artifact);
    put_32(b, tx->u.open.manifest);
    plow_buf_u64(b, tx->u.open.n);
    plow_buf_u32(b, tx->u.open.checkpoint_every);
}

static void put_reveal(plow_buf *b, const ledger_tx *tx) {
    uint32_t n = tx->u.open.count;
    put_32(b, tx->u.open.task);
    put_values(b, tx);
    put_32(b, tx->u.open.salt);
    plow_buf_u32(b, n);
    plow_buf_append(b, tx->u.open.leaves, (size_t)(n < LEDGER_LEAVES_MAX ? n : LEDGER_LEAVES_MAX) * 32);
}

void ledger_commitment(const ledger_tx *reveal, uint32_t slot, uint8_t out[32]) {
    plow_buf b = {0};
    static const char domain[] = "plow/commit/v2";
    plow_buf_append(&b, domain, sizeof domain); /* with its NUL */
    put_32(&b, reveal->u.open.task);
    plow_buf_u32(&b, slot);
    plow_buf_append(&b, reveal->sender, LEDGER_PK_LEN);
    put_values(&b, reveal);
    put_32(&b, reveal->u.open.salt);
    plow_sha256_once(b.data, b.len, out);
    plow_buf_release(&b);
}

static void put_challenge(plow_buf *b, const ledger_tx *tx) {
    put_32(b, tx->u.challenge.task);
    plow_buf_append(b, tx->u.challenge.accused, LEDGER_PK_LEN);
    plow_buf_append(b, tx->u.challenge.other, LEDGER_PK_LEN);
    plow_buf_u64(b, tx->u.challenge.step);
    plow_buf_u64(b, tx->u.challenge.bond);
    put_32(b, tx->u.challenge.state_blob);
    put_evidence(b, &tx->u.challenge.ev);
    if (!all_zero(tx->u.challenge.other, LEDGER_PK_LEN)) put_evidence(b, &tx->u.challenge.ev_other);
}

/* A count over the limit is written as is (with the labels the struct
 * holds), so the decoder refuses it rather than it being cut. */
static void put_label_reveal(plow_buf *b, const ledger_tx *tx) {
    uint32_t n = tx->u.reveal.count;
    put_32(b, tx->u.reveal.task);
    put_32(b, tx->u.reveal.salt);
    plow_buf_u32(b, n);
    plow_buf_append(b, tx->u.reveal.labels, n < LEDGER_LABELS_MAX ? n : LEDGER_LABELS_MAX);
}

static void put_gold_reveal(plow_buf *b, const ledger_tx *tx) {
    uint32_t n = tx->u.gold.count;
    put_32(b, tx->u.gold.task);
    put_32(b, tx->u.gold.salt);
    plow_buf_u32(b, n);
    for (uint32_t i = 0; i < n && i < LEDGER_GOLD_MAX; i++) {
        plow_buf_u32(b, tx->u.gold.items[i]);
        put_u8(b, tx->u.gold.labels[i]);
    }
}

/* Everything but the signature. Strings are written up to their NUL, at
 * most one byte past their limit, so an over-long string encodes and is
 * then refused by the decoder rather than silently cut. */
void ledger_tx_encode_unsigned(const ledger_tx *tx, plow_buf *b) {
    put_u8(b, TX_VERSION);
    put_u8(b, tx->type);
    plow_buf_append(b, tx->sender, LEDGER_PK_LEN);
    plow_buf_u64(b, tx->nonce);
    plow_buf_u64(b, tx->fee);
    switch (tx->type) {
    case LEDGER_TX_TRANSFER:
        plow_buf_append(b, tx->u.transfer.to, LEDGER_PK_LEN);
        plow_buf_u64(b, tx->u.transfer.amount);
        break;
    case LEDGER_TX_STAKE:
    case LEDGER_TX_UNSTAKE: plow_buf_u64(b, tx->u.stake.amount); break;
    case LEDGER_TX_REGISTER: put_register(b, tx); break;
    case LEDGER_TX_POST_TASK: put_post(b, &tx->u.post); break;
    case LEDGER_TX_CLAIM:
    case LEDGER_TX_FINALIZE:
    case LEDGER_TX_EXPIRE: put_32(b, tx->u.ref.task); break;
    case LEDGER_TX_COMMIT: put_commit(b, tx); break;
    case LEDGER_TX_CHALLENGE: put_challenge(b, tx); break;
    case LEDGER_TX_VERDICT:
        put_32(b, tx->u.verdict.challenge);
        put_32(b, tx->u.verdict.computed);
        put_u8(b, tx->u.verdict.prev_ok);
        break;
    case LEDGER_TX_LABEL_REVEAL: put_label_reveal(b, tx); break;
    case LEDGER_TX_GOLD_REVEAL: put_gold_reveal(b, tx); break;
    case LEDGER_TX_REVEAL: put_reveal(b, tx); break;
    case LEDGER_TX_DA_CHALLENGE:
        put_32(b, tx->u.da.task);
        plow_buf_append(b, tx->u.da.accused, LEDGER_PK_LEN);
        put_32(b, tx->u.da.want);
        plow_buf_u64(b, tx->u.da.bond);
        break;
    case LEDGER_TX_CHANNEL_OPEN:
        plow_buf_append(b, tx->u.chan_open.worker, LEDGER_PK_LEN);
        plow_buf_u64(b, tx->u.chan_open.deposit);
        plow_buf_u32(b, tx->u.chan_open.dispute_blocks);
        break;
    case LEDGER_TX_CHANNEL_REDEEM:
        put_32(b, tx->u.chan_redeem.channel);
        plow_buf_u64(b, tx->u.chan_redeem.amount);
        plow_buf_append(b, tx->u.chan_redeem.sig, LEDGER_SIG_LEN);
        break;
    case LEDGER_TX_CHANNEL_CLOSE: put_32(b, tx->u.chan_close.channel); break;
    case LEDGER_TX_RECEIPT_FRAUD:
        plow_buf_append(b, tx->u.fraud.worker, LEDGER_PK_LEN);
        put_32(b, tx->u.fraud.digest);
        plow_buf_append(b, tx->u.fraud.sig, LEDGER_SIG_LEN);
        put_32(b, tx->u.fraud.receipt_blob);
        put_32(b, tx->u.fraud.model_blob);
        put_32(b, tx->u.fraud.tokenizer_blob);
        plow_buf_u64(b, tx->u.fraud.bond);
        break;
    default: break; /* an unknown type has no body; the decoder refuses it */
    }
}

void ledger_tx_encode(const ledger_tx *tx, plow_buf *b) {
    ledger_tx_encode_unsigned(tx, b);
    plow_buf_append(b, tx->sig, LEDGER_SIG_LEN);
}

/* ---- decoding ---------------------------------------------------------------------- */

typedef struct reader {
    const uint8_t *p;
    size_t len, off;
    bool short_read; /* a read ran past the end: the first one is reported */
    const char *what; /* the field being read when it did */
} reader;

static const uint8_t *take(reader *r, size_t n, const char *what) {
    if (r->short_read) return NULL;
    if (r->len - r->off < n) {
        r->short_read = true;
        r->what = what;
        return NULL;
    }
    const uint8_t *p = r->p + r->off;
    r->off += n;
    return p;
}
static uint8_t get_u8(reader *r, const char *what) {
    const uint8_t *p = take(r, 1, what);
    return p ? p[0] : 0;
}
static uint16_t get_u16(reader *r, const char *what) {
    const uint8_t *p = take(r, 2, what);
    return p ? (uint16_t)(p[0] | p[1] << 8) : 0;
}
static uint32_t get_u32(reader *r, const char *what) {
    const uint8_t *p = take(r, 4, what);
    return p ? plow_get_u32(p) : 0;
}
static uint64_t get_u64(reader *r, const char *what) {
    const uint8_t *p = take(r, 8, what);
    return p ? plow_get_u64(p) : 0;
}
static void get_bytes(reader *r, uint8_t *out, size_t n, const char *what) {
    const uint8_t *p = take(r, n, what);
    if (p) memcpy(out, p, n);
}

static int truncated(const reader *r, char err[PLOW_ERR_LEN]) {
    return plow_error(err, "transaction truncated: %zu bytes end inside %s", r->len, r->what);
}

/* Valid UTF-8 (shortest form, no surrogates, <= U+10FFFF) without control
 * characters: C0 (including NUL and newline), DEL and C1 (U+0080..U+009F).
 * Returns NULL or what is wrong. */
static const char *check_text(const uint8_t *s, size_t n) {
    size_t i = 0;
    while (i < n) {
        uint8_t c = s[i];
        if (c < 0x20 || c == 0x7f) return "a control character";
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t extra;
        uint32_t cp, min;
        if (c >= 0xc2 && c <= 0xdf) extra = 1, cp = c & 0x1f, min = 0x80;
        else if (c >= 0xe0 && c <= 0xef) extra = 2, cp = c & 0x0f, min = 0x800;
        else if (c >= 0xf0 && c <= 0xf4) extra = 3, cp = c & 0x07, min = 0x10000;
        else return "invalid UTF-8";
        if (n - i - 1 < extra) return "invalid UTF-8";
        for (size_t k = 1; k <= extra; k++) {
            uint8_t d = s[i + k];
            if ((d & 0xc0) != 0x80) return "invalid UTF-8";
            cp = cp << 6 | (d & 0x3f);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return "invalid UTF-8";
        if (cp >= 0x80 && cp <= 0x9f) return "a control character";
        i += 1 + extra;
    }
    return NULL;
}

static int get_text(reader *r, char *out, size_t n, const char *what, char err[PLOW_ERR_LEN]) {
    const uint8_t *p = take(r, n, what);
    if (!p) return truncated(r, err);
    const char *bad = check_text(p, n);
    if (bad) return plow_error(err, "register: the %s holds %s", what, bad);
    memcpy(out, p, n);
    out[n] = 0;
    return 0;
}

/* One proof: u16 length, then that many bytes of merkle_proof_encode, or
 * length 0 for the empty proof. `side` and `leaf` name it in errors. */
static int get_proof(reader *r, merkle_proof *p, const char *side, const char *leaf, char err[PLOW_ERR_LEN]) {
    uint16_t n = get_u16(r, "a proof length");
    if (r->short_read) return truncated(r, err);
    if (n == 0) {
        memset(p, 0, sizeof *p);
        return 0;
    }
    if (n > MERKLE_PROOF_MAX_LEN)
        return plow_error(err, "challenge: the %s's proof of leaf %s is %u bytes, more than a proof's %d", side, leaf,
                          n, MERKLE_PROOF_MAX_LEN);
    const uint8_t *b = take(r, n, "a proof");
    if (!b) return truncated(r, err);
    char inner[PLOW_ERR_LEN];
    if (merkle_proof_decode(p, b, n, inner) != 0)
        return plow_error(err, "challenge: the %s's proof of leaf %s: %s", side, leaf, inner);
    return 0;
}

static int get_evidence(reader *r, ledger_evidence *e, const char *side, char err[PLOW_ERR_LEN]) {
    get_bytes(r, e->leaf_prev, 32, "a leaf j-1");
    get_bytes(r, e->leaf, 32, "a leaf j");
    if (get_proof(r, &e->proof_prev, side, "j-1", err) != 0) return -1;
    return get_proof(r, &e->proof, side, "j", err);
}

static int get_register(reader *r, ledger_tx *tx, char err[PLOW_ERR_LEN]) {
    tx->u.reg.kind = get_u8(r, "the profile kind");
    uint8_t nl = get_u8(r, "the name length");
    if (r->short_read) return 0;
    if (nl < 1 || nl > LEDGER_NAME_MAX)
        return plow_error(err, "register: a name of %u bytes (1..%d allowed)", nl, LEDGER_NAME_MAX);
    if (get_text(r, tx->u.reg.name, nl, "name", err) != 0) return -1;
    uint16_t cl = get_u16(r, "the capabilities length");
    if (r->short_read) return 0;
    if (cl > LEDGER_CAPS_MAX)
        return plow_error(err, "register: capabilities of %u bytes (at most %d allowed)", cl, LEDGER_CAPS_MAX);
    return get_text(r, tx->u.reg.caps, cl, "capabilities", err);
}

static void get_post(reader *r, ledger_task_params *p) {
    get_bytes(r, p->spec, 32, "the spec hash");
    p->kind = get_u8(r, "the kind");
    p->mode = get_u8(r, "the mode");
    p->replicas = get_u8(r, "the replicas");
    p->reward = get_u64(r, "the reward");
    p->worker_stake = get_u64(r, "the worker stake");
    p->min_bond = get_u64(r, "the minimum bond");
    p->steps = get_u64(r, "the steps");
    p->claim_blocks = get_u32(r, "claim_blocks");
    p->work_blocks = get_u32(r, "work_blocks");
    p->window_blocks = get_u32(r, "window_blocks");
    if (p->kind == LEDGER_KIND_LABEL) {
        p->n_classes = get_u32(r, "n_classes");
        p->redundancy = get_u32(r, "the redundancy");
        get_bytes(r, p->gold_commit, 32, "the gold commitment");
        p->min_gold_pct = get_u32(r, "min_gold_pct");
    }
}

static void get_commit(reader *r, ledger_tx *tx) {
    get_bytes(r, tx->u.commit.task, 32, "the task id");
    get_bytes(r, tx->u.commit.trace_root, 32, "the trace root");
    get_bytes(r, tx->u.commit.final_state, 32, "the final state");
    get_bytes(r, tx->u.commit.artifact, 32, "the artifact hash");
    get_bytes(r, tx->u.commit.manifest, 32, "the manifest hash");
    tx->u.commit.n = get_u64(r, "n");
    tx->u.commit.checkpoint_every = get_u32(r, "checkpoint_every");
}

static int get_reveal(reader *r, ledger_tx *tx, char err[PLOW_ERR_LEN]) {
    get_bytes(r, tx->u.open.task, 32, "the task id");
    get_bytes(r, tx->u.open.trace_root, 32, "the trace root");
    get_bytes(r, tx->u.open.final_state, 32, "the final state");
    get_bytes(r, tx->u.open.artifact, 32, "the artifact hash");
    get_bytes(r, tx->u.open.manifest, 32, "the manifest hash");
    tx->u.open.n = get_u64(r, "n");
    tx->u.open.checkpoint_every = get_u32(r, "checkpoint_every");
    get_bytes(r, tx->u.open.salt, 32, "the salt");
    uint32_t n = get_u32(r, "the leaf count");
    if (r->short_read) return 0;
    if (n > LEDGER_LEAVES_MAX)
        return plow_error(err, "reveal: %u leaves, more than the %d a reveal carries", n, LEDGER_LEAVES_MAX);
    tx->u.open.count = n;
    get_bytes(r, tx->u.open.leaves, (size_t)n * 32, "the leaves");
    return 0;
}

static int get_challenge(reader *r, ledger_tx *tx, char err[PLOW_ERR_LEN]) {
    get_bytes(r, tx->u.challenge.task, 32, "the task id");
    get_bytes(r, tx->u.challenge.accused, LEDGER_PK_LEN, "the accused");
    get_bytes(r, tx->u.challenge.other, LEDGER_PK_LEN, "the other worker");
    tx->u.challenge.step = get_u64(r, "the step");
    tx->u.challenge.bond = get_u64(r, "the bond");
    get_bytes(r, tx->u.challenge.state_blob, 32, "the state blob hash");
    if (r->short_read) return 0;
    if (get_evidence(r, &tx->u.challenge.ev, "accused", err) != 0) return -1;
    if (!all_zero(tx->u.challenge.other, LEDGER_PK_LEN) &&
        get_evidence(r, &tx->u.challenge.ev_other, "other worker", err) != 0)
        return -1;
    return 0;
}

static int get_verdict(reader *r, ledger_tx *tx, char err[PLOW_ERR_LEN]) {
    get_bytes(r, tx->u.verdict.challenge, 32, "the challenge id");
    get_bytes(r, tx->u.verdict.computed, 32, "the computed leaf");
    tx->u.verdict.prev_ok = get_u8(r, "prev_ok");
    if (!r->short_read && tx->u.verdict.prev_ok > LEDGER_RULING_UNRUNNABLE)
        return plow_error(err, "verdict: prev_ok is %u, must be 0, 1 or %d", tx->u.verdict.prev_ok,
                          LEDGER_RULING_UNRUNNABLE);
    return 0;
}

static int get_label_reveal(reader *r, ledger_tx *tx, char err[PLOW_ERR_LEN]) {
    get_bytes(r, tx->u.reveal.task, 32, "the task id");
    get_bytes(r, tx->u.reveal.salt, 32, "the salt");
    uint32_t n = get_u32(r, "the label count");
    if (r->short_read) return 0;
    if (n > LEDGER_LABELS_MAX)
        return plow_error(err, "label_reveal: %u labels, more than the %d a reveal carries", n, LEDGER_LABELS_MAX);
    tx->u.reveal.count = n;
    get_bytes(r, tx->u.reveal.labels, n, "the labels");
    return 0;
}

static int get_gold_reveal(reader *r, ledger_tx *tx, char err[PLOW_ERR_LEN]) {
    get_bytes(r, tx->u.gold.task, 32, "the task id");
    get_bytes(r, tx->u.gold.salt, 32, "the salt");
    uint32_t n = get_u32(r, "the gold count");
    if (r->short_read) return 0;
    if (n > LEDGER_GOLD_MAX)
        return plow_error(err, "gold_reveal: %u gold items, more than the %d a reveal carries", n, LEDGER_GOLD_MAX);
    tx->u.gold.count = n;
    for (uint32_t i = 0; i < n && !r->short_read; i++) {
        tx->u.gold.items[i] = get_u32(r, "a gold item");
        tx->u.gold.labels[i] = get_u8(r, "a gold label");
    }
    return 0;
}

/* The body after the envelope; a short read is reported by the caller. */
static int get_body(reader *r, ledger_tx *tx, char err[PLOW_ERR_LEN]) {
    switch (tx->type) {
    case LEDGER_TX_TRANSFER:
        get_bytes(r, tx->u.transfer.to, LEDGER_PK_LEN, "the recipient");
        tx->u.transfer.amount = get_u64(r, "the amount");
        return 0;
    case LEDGER_TX_STAKE:
    case LEDGER_TX_UNSTAKE: tx->u.stake.amount = get_u64(r, "the amount"); return 0;
    case LEDGER_TX_REGISTER: return get_register(r, tx, err);
    case LEDGER_TX_POST_TASK: get_post(r, &tx->u.post); return 0;
    case LEDGER_TX_CLAIM:
    case LEDGER_TX_FINALIZE:
    case LEDGER_TX_EXPIRE: get_bytes(r, tx->u.ref.task, 32, "the task id"); return 0;
    case LEDGER_TX_COMMIT: get_commit(r, tx); return 0;
    case LEDGER_TX_CHALLENGE: return get_challenge(r, tx, err);
    case LEDGER_TX_VERDICT: return get_verdict(r, tx, err);
    case LEDGER_TX_LABEL_REVEAL: return get_label_reveal(r, tx, err);
    case LEDGER_TX_GOLD_REVEAL: return get_gold_reveal(r, tx, err);
    case LEDGER_TX_REVEAL: return get_reveal(r, tx, err);
    case LEDGER_TX_DA_CHALLENGE:
        get_bytes(r, tx->u.da.task, 32, "the task id");
        get_bytes(r, tx->u.da.accused, LEDGER_PK_LEN, "the accused");
        get_bytes(r, tx->u.da.want, 32, "the blob hash");
        tx->u.da.bond = get_u64(r, "the bond");
        return 0;
    case LEDGER_TX_CHANNEL_OPEN:
        get_bytes(r, tx->u.chan_open.worker, LEDGER_PK_LEN, "the worker");
        tx->u.chan_open.deposit = get_u64(r, "the deposit");
        tx->u.chan_open.dispute_blocks = get_u32(r, "the dispute blocks");
        return 0;
    case LEDGER_TX_CHANNEL_REDEEM:
        get_bytes(r, tx->u.chan_redeem.channel, 32, "the channel id");
        tx->u.chan_redeem.amount = get_u64(r, "the amount");
        get_bytes(r, tx->u.chan_redeem.sig, LEDGER_SIG_LEN, "the voucher signature");
        return 0;
    case LEDGER_TX_CHANNEL_CLOSE: get_bytes(r, tx->u.chan_close.channel, 32, "the channel id"); return 0;
    case LEDGER_TX_RECEIPT_FRAUD:
        get_bytes(r, tx->u.fraud.worker, LEDGER_PK_LEN, "the worker");
        get_bytes(r, tx->u.fraud.digest, 32, "the receipt digest");
        get_bytes(r, tx->u.fraud.sig, LEDGER_SIG_LEN, "the worker's signature");
        get_bytes(r, tx->u.fraud.receipt_blob, 32, "the receipt blob");
        get_bytes(r, tx->u.fraud.model_blob, 32, "the model blob");
        get_bytes(r, tx->u.fraud.tokenizer_blob, 32, "the tokenizer blob");
        tx->u.fraud.bond = get_u64(r, "the bond");
        return 0;
    }
    PLOW_ASSERT(!"unreachable: type checked by the caller");
    return -1;
}

/* Parses exactly len bytes. On failure *tx is zeroed and err says the first
 * thing wrong; signatures are not checked here (ledger_tx_verify). */
int ledger_tx_decode(ledger_tx *tx, const uint8_t *buf, size_t len, char err[PLOW_ERR_LEN]) {
    memset(tx, 0, sizeof *tx);
    if (len > LEDGER_TX_MAX)
        return plow_error(err, "transaction of %zu bytes, more than the %d allowed", len, LEDGER_TX_MAX);
    reader r = {.p = buf, .len = len};
    int rc = -1;
    uint8_t version = get_u8(&r, "the version");
    if (r.short_read) {
        plow_error(err, "empty transaction");
        goto out;
    }
    if (version != TX_VERSION) {
        plow_error(err, "transaction version %u, this build reads version %d", version, TX_VERSION);
        goto out;
    }
    tx->type = get_u8(&r, "the type");
    if (r.short_read) {
        truncated(&r, err);
        goto out;
    }
    if (tx->type == 0 || tx->type >= LEDGER_TX_TYPE_END) {
        plow_error(err, "unknown transaction type %u", tx->type);
        goto out;
    }
    get_bytes(&r, tx->sender, LEDGER_PK_LEN, "the sender");
    tx->nonce = get_u64(&r, "the nonce");
    tx->fee = get_u64(&r, "the fee");
    if (get_body(&r, tx, err) != 0) goto out;
    get_bytes(&r, tx->sig, LEDGER_SIG_LEN, "the signature");
    if (r.short_read) {
        truncated(&r, err);
        goto out;
    }
    if (r.off != len) {
        plow_error(err, "%zu trailing bytes after the %s transaction", len - r.off, ledger_tx_type_name(tx->type));
        goto out;
    }
    rc = 0;
out:
    if (rc != 0) memset(tx, 0, sizeof *tx);
    return rc;
}

/* ---- hash and signature ---------------------------------------------------------------- */

/* SHA-256 of the unsigned encoding: the transaction's id (a task's id is
 * its post_task hash, a challenge's its challenge hash). */
void ledger_tx_hash(const ledger_tx *tx, uint8_t out[32]) {
    plow_buf b = {0};
    ledger_tx_encode_unsigned(tx, &b);
    plow_sha256_once(b.data, b.len, out);
    plow_buf_release(&b);
}

/* The 32 bytes actually signed: SHA-256("plow/tx/v1" 0x00 || chain_id || tx
 * hash). The domain keeps a transaction signature from ever being a valid
 * signature of anything else plow signs; the chain id stops replay on
 * another chain. */
static void signing_digest(const ledger_tx *tx, const uint8_t chain_id[32], uint8_t out[32]) {
    static const char domain[] = TX_SIGN_DOMAIN;
    uint8_t h[32];
    ledger_tx_hash(tx, h);
    plow_sha256 *s = plow_sha256_new();
    plow_sha256_update(s, domain, sizeof domain);
    plow_sha256_update(s, chain_id, 32);
    plow_sha256_update(s, h, 32);
    plow_sha256_final(s, out);
}

/* Sets tx->sender to k's public key (overwriting whatever was there: the key
 * decides who sends), then writes tx->sig. */
void ledger_tx_sign(ledger_tx *tx, const ledger_key *k, const uint8_t chain_id[32]) {
    memcpy(tx->sender, k->pk, LEDGER_PK_LEN);
    uint8_t d[32];
    signing_digest(tx, chain_id, d);
    ledger_sign(k, d, sizeof d, tx->sig);
}

/* True iff tx->sig is tx->sender's signature of this transaction on this chain. */
bool ledger_tx_verify(const ledger_tx *tx, const uint8_t chain_id[32]) {
    uint8_t d[32];
    signing_digest(tx, chain_id, d);
    return ledger_verify_sig(tx->sender, d, sizeof d, tx->sig);
}
