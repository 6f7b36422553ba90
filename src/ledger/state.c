/*
 * state.c — the ledger's state machine as a whole: a state's lifecycle,
 * blocks (ledger_apply_tx runs the envelope, then the transaction's rule
 * body from one table), the state root, and the lookups. The rules
 * themselves (docs/ledger.md, one table row per rule) live in rules.c,
 * challenge.c, settle.c and labeling.c; ledger_internal.h maps the files.
 *
 * Design:
 *   - record tables (accounts, tasks, challenges, gold, labels: table.c) (accounts, tasks, challenges), each a sorted array of
 *     pointers to individually allocated records, keyed by their 32-byte id:
 *     lookups are binary searches, iteration is in key order, pointers stay
 *     valid as the tables grow (records are never deleted);
 *   - every record caches SHA-256 of its encoded value; a change marks it
 *     stale (for the root) and dirty (for storage), so the root after a block
 *     re-encodes only what the block touched and then streams 65 bytes per
 *     record into one SHA-256;
 *   - a transaction runs against an overlay: handlers take private copies of
 *     the records they read-modify-write (txn_*), may fail at any point, and
 *     only a success copies the overlay back. "A failed transaction changes
 *     nothing but fee and nonce" is thereby structural: the envelope (fee,
 *     nonce, maturing) is one overlay committed before the body's runs.
 *
 * Non-goals: I/O (the node stores records), signature batching (the node
 * verifies on admission and passes sig_checked), thread safety (one writer).
 */
#include "../base/plow.h"

#include <inttypes.h>

#include "ledger_internal.h"

static srec *account_add(ledger_state *s, const uint8_t pk[32]) {
    srec v;
    memset(&v, 0, sizeof v);
    memcpy(v.v.a.pk, pk, 32);
    return table_add(&s->accounts, &v);
}

static int cmp_account_rec(const void *a, const void *b) {
    return memcmp((*(srec *const *)a)->v.a.pk, (*(srec *const *)b)->v.a.pk, 32);
}

/* A state at height 0 from a validated genesis (ledger_genesis_parse checks
 * what is asserted here: distinct accounts, supply = their sum, percentages
 * <= 100). The genesis is copied; the caller keeps its own. */
ledger_state *ledger_state_new(const ledger_genesis *g) {
    PLOW_ASSERT(g->params.slash_challenger_pct <= 100 && g->params.bond_accused_pct <= 100);
    ledger_state *s = plow_calloc(1, sizeof *s);
    s->g = *g;
    s->g.accounts = NULL;
    if (g->n_accounts) {
        size_t bytes;
        PLOW_ASSERT(plow_mul_size(g->n_accounts, sizeof *g->accounts, &bytes));
        s->g.accounts = plow_alloc(bytes);
        memcpy(s->g.accounts, g->accounts, bytes);
    }
    table *tabs[] = {&s->accounts, &s->tasks, &s->challenges, &s->gold, &s->labels, &s->channels};
    const uint8_t tags[] = {TAG_ACCOUNT, TAG_TASK, TAG_CHALLENGE, TAG_GOLD, TAG_LABELS, TAG_CHANNEL};
    for (size_t k = 0; k < 6; k++) {
        tabs[k]->tag = tags[k];
        tabs[k]->idlen = id_len(tags[k]);
    }
    /* Appended, then sorted once: inserting 10^5 genesis accounts one by
     * one in key order would move O(n^2) pointers. */
    uint64_t supply = 0;
    table *t = &s->accounts;
    t->cap = g->n_accounts + 1;
    t->r = plow_calloc(t->cap, sizeof *t->r);
    for (size_t i = 0; i < g->n_accounts; i++) {
        const ledger_genesis_account *ga = &g->accounts[i];
        srec *r = plow_calloc(1, offsetof(srec, v) + sizeof(ledger_account));
        memcpy(r->v.a.pk, ga->pk, 32);
        r->v.a.balance = ga->balance;
        r->v.a.stake = ga->stake;
        r->stale = r->dirty = true;
        t->r[t->n++] = r;
        PLOW_ASSERT(plow_add_u64(supply, ga->balance, &supply) && plow_add_u64(supply, ga->stake, &supply));
    }
    PLOW_ASSERT(supply == g->supply);
    qsort(t->r, t->n, sizeof *t->r, cmp_account_rec);
    for (size_t i = 1; i < t->n; i++) PLOW_ASSERT(memcmp(t->r[i - 1]->v.a.pk, t->r[i]->v.a.pk, 32) != 0);
    /* The operator earns every fee: its account exists from the start. */
    if (!table_find(&s->accounts, g->operator_pk, NULL)) account_add(s, g->operator_pk);
    s->time_ms = g->time_ms;
    meta_changed(s);
    return s;
}

void ledger_state_free(ledger_state *s) {
    if (!s) return;
    table_free(&s->accounts);
    table_free(&s->tasks);
    table_free(&s->challenges);
    table_free(&s->gold);
    table_free(&s->labels);
    table_free(&s->channels);
    free(s->open);
    for (size_t i = 0; i < s->cap_pool; i++) free(s->pool[i]);
    free(s->pool);
    free(s->g.accounts);
    free(s);
}

const ledger_genesis *ledger_state_genesis(const ledger_state *s) { return &s->g; }

uint64_t ledger_state_height(const ledger_state *s) { return s->height; }

uint64_t ledger_state_time(const ledger_state *s) { return s->time_ms; }

uint64_t ledger_state_burned(const ledger_state *s) { return s->burned; }

/* Saturates at UINT64_MAX, which only a state that breaks the supply
 * invariant (records loaded by hand) can reach. */
uint64_t ledger_state_holdings(const ledger_state *s) {
    uint64_t sum = 0;
    bool ok = true;
    for (size_t i = 0; i < s->accounts.n; i++) {
        const ledger_account *a = &s->accounts.r[i]->v.a;
        ok = ok && plow_add_u64(sum, a->balance, &sum) && plow_add_u64(sum, a->stake, &sum) &&
             plow_add_u64(sum, a->unbonding, &sum);
    }
    for (size_t i = 0; i < s->tasks.n; i++) ok = ok && plow_add_u64(sum, s->tasks.r[i]->v.t.escrow, &sum);
    for (size_t i = 0; i < s->n_open; i++) ok = ok && plow_add_u64(sum, s->open[i]->v.c.bond, &sum);
    for (size_t i = 0; i < s->channels.n; i++) { /* a channel's escrow: what is left of its deposit */
        const ledger_channel *h = &s->channels.r[i]->v.h;
        if (h->status != LEDGER_CHAN_CLOSED) ok = ok && plow_add_u64(sum, h->deposit - h->redeemed, &sum);
    }
    return ok ? sum : UINT64_MAX;
}

static const body_fn bodies[] = {
    [LEDGER_TX_TRANSFER] = body_transfer, [LEDGER_TX_STAKE] = body_stake,         [LEDGER_TX_UNSTAKE] = body_unstake,
    [LEDGER_TX_REGISTER] = body_register, [LEDGER_TX_POST_TASK] = body_post_task, [LEDGER_TX_CLAIM] = body_claim,
    [LEDGER_TX_COMMIT] = body_commit,     [LEDGER_TX_CHALLENGE] = body_challenge, [LEDGER_TX_VERDICT] = body_verdict,
    [LEDGER_TX_FINALIZE] = body_finalize, [LEDGER_TX_EXPIRE] = body_expire,
    [LEDGER_TX_LABEL_REVEAL] = body_label_reveal, [LEDGER_TX_GOLD_REVEAL] = body_gold_reveal,
    [LEDGER_TX_DA_CHALLENGE] = body_da_challenge, [LEDGER_TX_REVEAL] = body_reveal,
    [LEDGER_TX_CHANNEL_OPEN] = body_channel_open, [LEDGER_TX_CHANNEL_REDEEM] = body_channel_redeem,
    [LEDGER_TX_CHANNEL_CLOSE] = body_channel_close, [LEDGER_TX_RECEIPT_FRAUD] = body_receipt_fraud,
};
_Static_assert(sizeof bodies / sizeof bodies[0] == LEDGER_TX_TYPE_END, "a rule body for every transaction type");

int ledger_begin_block(ledger_state *s, uint64_t height, uint64_t time_ms, char err[PLOW_ERR_LEN]) {
    if (s->height == UINT64_MAX || height != s->height + 1)
        return plow_error(err, "block height %" PRIu64 ", expected %" PRIu64, height, s->height + 1);
    if (time_ms < s->time_ms)
        return plow_error(err, "block time %" PRIu64 " ms is before the previous block's %" PRIu64, time_ms,
                          s->time_ms);
    s->height = height;
    s->time_ms = time_ms;
    s->in_block = true;
    meta_changed(s);
    return 0;
}

ledger_tx_result ledger_apply_tx(ledger_state *s, const ledger_tx *tx, bool sig_checked, char err[PLOW_ERR_LEN]) {
    if (!s->in_block) {
        plow_error(err, "no block started (ledger_begin_block)");
        return LEDGER_TX_INVALID;
    }
    txn x;
    txn_begin(&x, s);
    if (envelope(&x, tx, sig_checked, err) != 0) {
        txn_discard(&x);
        return LEDGER_TX_INVALID;
    }
    txn_commit(&x);
    uint8_t hash[32];
    ledger_tx_hash(tx, hash);
    txn_begin(&x, s);
    if (bodies[tx->type](&x, tx, hash, err) != 0) {
        txn_discard(&x);
        return LEDGER_TX_FAILED;
    }
    txn_commit(&x);
    return LEDGER_TX_OK;
}

void ledger_end_block(ledger_state *s, uint8_t state_root[32]) {
    s->in_block = false;
    meta_changed(s); /* the meta record is written with every block */
    ledger_state_root(s, state_root);
}

/* Streams key || value hash of every record of t into sha, re-hashing the
 * stale values first. The 65-byte entries go through a batch buffer: one
 * SHA-256 update per record costs more in calls than in hashing. */
static void hash_records(plow_sha256 *sha, table *t) {
    enum { ENTRY_MAX = 1 + ID_MAX_LEN + 32, BATCH = 1024 };
    uint8_t buf[VALUE_MAX_LEN], batch[ENTRY_MAX * BATCH];
    size_t entry = 1 + t->idlen + 32, nb = 0;
    for (size_t i = 0; i < t->n; i++) {
        srec *r = t->r[i];
        if (r->stale) {
            plow_sha256_once(buf, encode_value(t->tag, r, buf), r->vhash);
            r->stale = false;
        }
        uint8_t *e = batch + nb * entry;
        e[0] = t->tag;
        memcpy(e + 1, rec_id(t->tag, r), t->idlen);
        memcpy(e + 1 + t->idlen, r->vhash, 32);
        if (++nb == BATCH) {
            plow_sha256_update(sha, batch, nb * entry);
            nb = 0;
        }
    }
    if (nb) plow_sha256_update(sha, batch, nb * entry);
}

/* SHA-256("plow/state/v1" 0x00 || for each record in key order: key ||
 * SHA-256(value)); keys sort by tag first: accounts, challenges, gold,
 * channels, labels, meta, tasks. A chain without LABEL tasks has no gold or
 * labels records, one without payment channels no channel records, so its
 * roots are what they were before those records existed. */
void ledger_state_root(ledger_state *s, uint8_t root[32]) {
    if (!s->root_ok) {
        static const char domain[] = STATE_ROOT_DOMAIN;
        plow_sha256 *sha = plow_sha256_new();
        plow_sha256_update(sha, domain, sizeof domain);
        hash_records(sha, &s->accounts);
        hash_records(sha, &s->challenges);
        hash_records(sha, &s->gold);
        hash_records(sha, &s->channels);
        hash_records(sha, &s->labels);
        if (s->meta_stale) {
            uint8_t buf[META_LEN];
            plow_sha256_once(buf, encode_meta(s, buf), s->meta_vhash);
            s->meta_stale = false;
        }
        uint8_t tag = TAG_META;
        plow_sha256_update(sha, &tag, 1);
        plow_sha256_update(sha, s->meta_vhash, 32);
        hash_records(sha, &s->tasks);
        plow_sha256_final(sha, s->root);
        s->root_ok = true;
    }
    memcpy(root, s->root, 32);
}

bool ledger_get_account(const ledger_state *s, const uint8_t pk[LEDGER_PK_LEN], ledger_account *out) {
    const srec *r = table_find(&s->accounts, pk, NULL);
    if (r) *out = r->v.a;
    return r != NULL;
}

bool ledger_get_task(const ledger_state *s, const uint8_t id[32], ledger_task *out) {
    const srec *r = table_find(&s->tasks, id, NULL);
    if (r) *out = r->v.t;
    return r != NULL;
}

bool ledger_get_challenge(const ledger_state *s, const uint8_t id[32], ledger_challenge *out) {
    const srec *r = table_find(&s->challenges, id, NULL);
    if (r) *out = r->v.c;
    return r != NULL;
}

bool ledger_get_labels(const ledger_state *s, const uint8_t task[32], uint32_t slot, ledger_labels *out) {
    if (slot >= LEDGER_MAX_REPLICAS) return false;
    uint8_t id[33];
    memcpy(id, task, 32);
    id[32] = (uint8_t)slot;
    const srec *r = table_find(&s->labels, id, NULL);
    if (r) *out = r->v.l;
    return r != NULL;
}

bool ledger_get_channel(const ledger_state *s, const uint8_t id[32], ledger_channel *out) {
    const srec *r = table_find(&s->channels, id, NULL);
    if (r) *out = r->v.h;
    return r != NULL;
}

bool ledger_get_gold(const ledger_state *s, const uint8_t task[32], ledger_gold *out) {
    const srec *r = table_find(&s->gold, task, NULL);
    if (r) *out = r->v.g;
    return r != NULL;
}

void ledger_each_task(const ledger_state *s, bool (*fn)(const ledger_task *t, void *arg), void *arg) {
    for (size_t i = 0; i < s->tasks.n; i++)
        if (!fn(&s->tasks.r[i]->v.t, arg)) return;
}

void ledger_each_challenge(const ledger_state *s, bool (*fn)(const ledger_challenge *c, void *arg), void *arg) {
    for (size_t i = 0; i < s->challenges.n; i++)
        if (!fn(&s->challenges.r[i]->v.c, arg)) return;
}

void ledger_each_account(const ledger_state *s, bool (*fn)(const ledger_account *a, void *arg), void *arg) {
    for (size_t i = 0; i < s->accounts.n; i++)
        if (!fn(&s->accounts.r[i]->v.a, arg)) return;
}

uint64_t ledger_task_deadline(const ledger_task *t) {
    switch (t->status) {
    case LEDGER_TASK_OPEN: return t->posted_at + t->p.claim_blocks;
    case LEDGER_TASK_CLAIMED: {
        uint64_t d = 0;
        for (int s = 0; s < t->p.replicas && s < LEDGER_MAX_REPLICAS; s++)
            if (t->slots[s].status == LEDGER_SLOT_CLAIMED && t->slots[s].claimed_at + t->p.work_blocks > d)
                d = t->slots[s].claimed_at + t->p.work_blocks;
        return d;
    }
    case LEDGER_TASK_COMMITTED:
    case LEDGER_TASK_CHALLENGED:
    case LEDGER_TASK_RESOLVED: return t->window_end;
    default: return 0;
    }
}
