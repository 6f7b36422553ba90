/*
 * state.c — the ledger's state machine: accounts, tasks, challenges and the
 * meta record, the rules every transaction follows (docs/ledger.md, one
 * table row per rule; this file follows the table), the state root, and the
 * record encodings the node stores.
 *
 * Design:
 *   - three tables (accounts, tasks, challenges), each a sorted array of
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

#include "ledger.h"

#include "../label/label.h"

#define STATE_ROOT_DOMAIN "plow/state/v1" /* hashed with its NUL */

enum { TAG_ACCOUNT = 'a', TAG_CHALLENGE = 'c', TAG_GOLD = 'g', TAG_LABELS = 'l', TAG_META = 'm', TAG_TASK = 't' };

/* Value sizes (docs/ledger.md, "Records"). */
#define ACCOUNT_FIXED_LEN (6 * 8 + 1 + 1 + 2) /* without name and caps bytes */
#define ACCOUNT_MAX_LEN (ACCOUNT_FIXED_LEN + LEDGER_NAME_MAX + LEDGER_CAPS_MAX)
#define SLOT_LEN (1 + 32 + 8 + 8 + 4 * 32 + 8 + 4)
#define TASK_FIXED_LEN (32 + 32 + 3 + 4 * 8 + 3 * 4 + 1 + 3 * 8 + 4)
/* A LABEL task's extension after its slots: n_classes, redundancy,
 * gold_commit, min_gold_pct, gold_revealed, revealed, result, then u64 paid
 * per slot. */
#define LABEL_EXT_FIXED_LEN (4 + 4 + 32 + 4 + 1 + 1 + 32)
#define TASK_MAX_LEN (TASK_FIXED_LEN + LEDGER_MAX_REPLICAS * (SLOT_LEN + 8) + LABEL_EXT_FIXED_LEN)
#define CHALLENGE_LEN (4 * 32 + 1 + 4 * 8 + 4 * 32 + 1 + 32 + 8)
#define META_LEN (3 * 8)
#define LABELS_MAX_LEN (4 + LEDGER_LABELS_MAX)
#define GOLD_MAX_LEN (4 + 5 * LEDGER_GOLD_MAX)
#define VALUE_MAX_LEN LABELS_MAX_LEN
_Static_assert(LABELS_MAX_LEN >= TASK_MAX_LEN && LABELS_MAX_LEN >= ACCOUNT_MAX_LEN &&
                   LABELS_MAX_LEN >= CHALLENGE_LEN && LABELS_MAX_LEN >= GOLD_MAX_LEN,
               "largest value");
/* A labels record's id is its task id and slot byte, contiguous. */
_Static_assert(offsetof(ledger_labels, slot) == 32, "labels id layout");
#define ID_MAX_LEN 33

/* Limits on a task's block counts (claim, work, window). */
#define TASK_BLOCKS_MAX 1000000u

typedef struct srec {
    bool stale;        /* vhash must be recomputed */
    bool dirty;        /* changed since ledger_clear_dirty */
    uint8_t vhash[32]; /* SHA-256 of the encoded value */
    union {
        ledger_account a;
        ledger_task t;
        ledger_challenge c;
        ledger_gold g;
        ledger_labels l;
    } v;
} srec;

typedef struct table {
    uint8_t tag;
    size_t idlen; /* 32, or 33 for labels (task id + slot) */
    srec **r; /* sorted by id */
    size_t n, cap;
} table;

/* One record copied into a transaction's overlay. */
typedef struct pend {
    uint8_t tag;
    srec *orig; /* the state's record, NULL for a new one */
    srec val;
} pend;

struct ledger_state {
    ledger_genesis g; /* a deep copy */
    table accounts, challenges, tasks, gold, labels;
    srec **open; /* OPEN challenges, sorted by id (a derived index, not state) */
    size_t n_open, cap_open;
    uint64_t height, time_ms, burned;
    bool in_block;
    bool meta_stale, meta_dirty;
    uint8_t meta_vhash[32];
    bool root_ok;
    uint8_t root[32];
    /* the overlay's storage, reused from transaction to transaction */
    pend **pool;
    size_t n_pool, cap_pool;
};

/* ---- small helpers -------------------------------------------------------------------- */

static bool is_zero(const uint8_t *p, size_t n) {
    uint8_t acc = 0;
    for (size_t i = 0; i < n; i++) acc |= p[i];
    return acc == 0;
}

static bool eq32(const uint8_t *a, const uint8_t *b) { return memcmp(a, b, 32) == 0; }

/* The first 8 bytes of an id in hex: enough to tell ids apart in a message. */
typedef struct hexid {
    char s[17];
} hexid;
static hexid hx(const uint8_t *id) {
    hexid h;
    plow_hex(id, 8, h.s);
    return h;
}

/* a + b, or UINT64_MAX when that overflows: deadlines only (a deadline past
 * 2^64-1 never arrives, which is what the saturated value says). */
static uint64_t sat_add(uint64_t a, uint64_t b) {
    uint64_t r;
    return plow_add_u64(a, b, &r) ? r : UINT64_MAX;
}

/* floor(x * pct / 100) for pct <= 100, without overflow: x = 100q + r. */
static uint64_t pct_of(uint64_t x, uint32_t pct) {
    PLOW_ASSERT(pct <= 100);
    return (x / 100) * pct + (x % 100) * pct / 100;
}

static const uint8_t *rec_id(uint8_t tag, const srec *r) {
    switch (tag) {
    case TAG_ACCOUNT: return r->v.a.pk;
    case TAG_TASK: return r->v.t.id;
    case TAG_CHALLENGE: return r->v.c.id;
    case TAG_GOLD: return r->v.g.task;
    case TAG_LABELS: return r->v.l.task; /* task id, then the slot byte */
    }
    PLOW_ASSERT(!"unknown record tag");
    return NULL;
}

static size_t id_len(uint8_t tag) { return tag == TAG_LABELS ? 33 : 32; }

/* Records are allocated at the size of their own kind (an account is less
 * than half a task), so only these two may copy a record's value. */
static size_t val_size(uint8_t tag) {
    switch (tag) {
    case TAG_ACCOUNT: return sizeof(ledger_account);
    case TAG_TASK: return sizeof(ledger_task);
    case TAG_CHALLENGE: return sizeof(ledger_challenge);
    case TAG_GOLD: return sizeof(ledger_gold);
    case TAG_LABELS: return sizeof(ledger_labels);
    }
    PLOW_ASSERT(!"unknown record tag");
    return 0;
}

static void val_copy(uint8_t tag, srec *dst, const srec *src) { memcpy(&dst->v, &src->v, val_size(tag)); }

static table *table_of(ledger_state *s, uint8_t tag) {
    switch (tag) {
    case TAG_ACCOUNT: return &s->accounts;
    case TAG_TASK: return &s->tasks;
    case TAG_CHALLENGE: return &s->challenges;
    case TAG_GOLD: return &s->gold;
    case TAG_LABELS: return &s->labels;
    }
    PLOW_ASSERT(!"unknown record tag");
    return NULL;
}

/* ---- tables --------------------------------------------------------------------------- */

/* Binary search: the record with this id (idlen bytes), or NULL and *pos
 * where it belongs. */
static srec *table_find(const table *t, const uint8_t *id, size_t *pos) {
    size_t lo = 0, hi = t->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = memcmp(rec_id(t->tag, t->r[mid]), id, t->idlen);
        if (c == 0) {
            if (pos) *pos = mid;
            return t->r[mid];
        }
        if (c < 0) lo = mid + 1;
        else hi = mid;
    }
    if (pos) *pos = lo;
    return NULL;
}

static void table_insert(table *t, size_t pos, srec *r) {
    if (t->n == t->cap) {
        t->cap = t->cap ? t->cap * 2 : 64;
        size_t bytes;
        PLOW_ASSERT(plow_mul_size(t->cap, sizeof *t->r, &bytes));
        t->r = plow_realloc(t->r, bytes);
    }
    memmove(t->r + pos + 1, t->r + pos, (t->n - pos) * sizeof *t->r);
    t->r[pos] = r;
    t->n++;
}

/* A new record in the table (which must not hold its id yet). */
static srec *table_add(table *t, const srec *val) {
    size_t pos;
    PLOW_ASSERT(!table_find(t, rec_id(t->tag, val), &pos));
    srec *r = plow_calloc(1, offsetof(srec, v) + val_size(t->tag));
    val_copy(t->tag, r, val);
    r->stale = r->dirty = true;
    table_insert(t, pos, r);
    return r;
}

static void table_free(table *t) {
    for (size_t i = 0; i < t->n; i++) free(t->r[i]);
    free(t->r);
}

/* Keeps s->open (the OPEN challenges, by id) in step with record r. */
static void open_index_update(ledger_state *s, srec *r) {
    bool want = r->v.c.status == LEDGER_CH_OPEN;
    size_t lo = 0, hi = s->n_open;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = memcmp(s->open[mid]->v.c.id, r->v.c.id, 32);
        if (c == 0) {
            if (!want) {
                memmove(s->open + mid, s->open + mid + 1, (s->n_open - mid - 1) * sizeof *s->open);
                s->n_open--;
            }
            return;
        }
        if (c < 0) lo = mid + 1;
        else hi = mid;
    }
    if (!want) return;
    if (s->n_open == s->cap_open) {
        s->cap_open = s->cap_open ? s->cap_open * 2 : 16;
        s->open = plow_realloc(s->open, s->cap_open * sizeof *s->open);
    }
    memmove(s->open + lo + 1, s->open + lo, (s->n_open - lo) * sizeof *s->open);
    s->open[lo] = r;
    s->n_open++;
}

static void meta_changed(ledger_state *s) {
    s->meta_stale = s->meta_dirty = true;
    s->root_ok = false;
}

/* ---- record encodings (docs/ledger.md, "Records") ------------------------------------- */

typedef struct wr {
    uint8_t *p;
    size_t n;
} wr;
static void w_u8(wr *w, uint8_t v) { w->p[w->n++] = v; }
static void w_u16(wr *w, uint16_t v) {
    w->p[w->n++] = (uint8_t)v;
    w->p[w->n++] = (uint8_t)(v >> 8);
}
static void w_u32(wr *w, uint32_t v) {
    plow_put_u32(w->p + w->n, v);
    w->n += 4;
}
static void w_u64(wr *w, uint64_t v) {
    plow_put_u64(w->p + w->n, v);
    w->n += 8;
}
static void w_bytes(wr *w, const void *b, size_t n) {
    memcpy(w->p + w->n, b, n);
    w->n += n;
}

static size_t encode_account(const ledger_account *a, uint8_t *out) {
    wr w = {out, 0};
    w_u64(&w, a->balance);
    w_u64(&w, a->nonce);
    w_u64(&w, a->stake);
    w_u64(&w, a->locked);
    w_u64(&w, a->unbonding);
    w_u64(&w, a->unbond_at);
    w_u8(&w, a->profile);
    size_t nl = strnlen(a->name, LEDGER_NAME_MAX), cl = strnlen(a->caps, LEDGER_CAPS_MAX);
    w_u8(&w, (uint8_t)nl);
    w_bytes(&w, a->name, nl);
    w_u16(&w, (uint16_t)cl);
    w_bytes(&w, a->caps, cl);
    return w.n;
}

static void encode_params(wr *w, const ledger_task_params *p) {
    w_bytes(w, p->spec, 32);
    w_u8(w, p->kind);
    w_u8(w, p->mode);
    w_u8(w, p->replicas);
    w_u64(w, p->reward);
    w_u64(w, p->worker_stake);
    w_u64(w, p->min_bond);
    w_u64(w, p->steps);
    w_u32(w, p->claim_blocks);
    w_u32(w, p->work_blocks);
    w_u32(w, p->window_blocks);
}

static size_t encode_task(const ledger_task *t, uint8_t *out) {
    wr w = {out, 0};
    w_bytes(&w, t->requester, 32);
    encode_params(&w, &t->p);
    w_u8(&w, t->status);
    w_u64(&w, t->posted_at);
    w_u64(&w, t->escrow);
    w_u64(&w, t->window_end);
    w_u32(&w, t->open_challenges);
    PLOW_ASSERT(t->p.replicas >= 1 && t->p.replicas <= LEDGER_MAX_REPLICAS);
    for (int i = 0; i < t->p.replicas; i++) {
        const ledger_slot *sl = &t->slots[i];
        w_u8(&w, sl->status);
        w_bytes(&w, sl->worker, 32);
        w_u64(&w, sl->claimed_at);
        w_u64(&w, sl->committed_at);
        w_bytes(&w, sl->trace_root, 32);
        w_bytes(&w, sl->final_state, 32);
        w_bytes(&w, sl->artifact, 32);
        w_bytes(&w, sl->manifest, 32);
        w_u64(&w, sl->n);
        w_u32(&w, sl->checkpoint_every);
    }
    if (t->p.kind == LEDGER_KIND_LABEL) { /* added with the kind: other tasks' records are unchanged */
        w_u32(&w, t->p.n_classes);
        w_u32(&w, t->p.redundancy);
        w_bytes(&w, t->p.gold_commit, 32);
        w_u32(&w, t->p.min_gold_pct);
        w_u8(&w, t->gold_revealed);
        w_u8(&w, t->revealed);
        w_bytes(&w, t->result, 32);
        for (int i = 0; i < t->p.replicas; i++) w_u64(&w, t->paid[i]);
    }
    return w.n;
}

static size_t encode_gold(const ledger_gold *g, uint8_t *out) {
    wr w = {out, 0};
    PLOW_ASSERT(g->count <= LEDGER_GOLD_MAX);
    w_u32(&w, g->count);
    for (uint32_t i = 0; i < g->count; i++) {
        w_u32(&w, g->items[i]);
        w_u8(&w, g->labels[i]);
    }
    return w.n;
}

static size_t encode_labels(const ledger_labels *l, uint8_t *out) {
    wr w = {out, 0};
    PLOW_ASSERT(l->count <= LEDGER_LABELS_MAX);
    w_u32(&w, l->count);
    w_bytes(&w, l->labels, l->count);
    return w.n;
}

static size_t encode_challenge(const ledger_challenge *c, uint8_t *out) {
    wr w = {out, 0};
    w_bytes(&w, c->task, 32);
    w_bytes(&w, c->challenger, 32);
    w_bytes(&w, c->accused, 32);
    w_bytes(&w, c->other, 32);
    w_u8(&w, c->has_other ? 1 : 0);
    w_u64(&w, c->step);
    w_u64(&w, c->bond);
    w_u64(&w, c->opened_at);
    w_u64(&w, c->deadline);
    w_bytes(&w, c->state_blob, 32);
    w_bytes(&w, c->leaf_prev, 32);
    w_bytes(&w, c->accused_leaf, 32);
    w_bytes(&w, c->other_leaf, 32);
    w_u8(&w, c->status);
    w_bytes(&w, c->computed, 32);
    w_u64(&w, c->resolved_at);
    return w.n;
}

static size_t encode_meta(const ledger_state *s, uint8_t *out) {
    wr w = {out, 0};
    w_u64(&w, s->height);
    w_u64(&w, s->time_ms);
    w_u64(&w, s->burned);
    return w.n;
}

static size_t encode_value(uint8_t tag, const srec *r, uint8_t *out) {
    size_t n = 0;
    switch (tag) {
    case TAG_ACCOUNT: n = encode_account(&r->v.a, out); break;
    case TAG_TASK: n = encode_task(&r->v.t, out); break;
    case TAG_CHALLENGE: n = encode_challenge(&r->v.c, out); break;
    case TAG_GOLD: n = encode_gold(&r->v.g, out); break;
    case TAG_LABELS: n = encode_labels(&r->v.l, out); break;
    default: PLOW_ASSERT(!"unknown record tag");
    }
    PLOW_ASSERT(n <= VALUE_MAX_LEN);
    return n;
}

/* Decoding: a reader that checks the exact length up front (every layout
 * is fixed once its variable counts are known). */
typedef struct rd {
    const uint8_t *p;
    size_t n;
} rd;
static uint8_t r_u8(rd *r) { return r->p[r->n++]; }
static uint16_t r_u16(rd *r) {
    uint16_t v = (uint16_t)(r->p[r->n] | r->p[r->n + 1] << 8);
    r->n += 2;
    return v;
}
static uint32_t r_u32(rd *r) {
    uint32_t v = plow_get_u32(r->p + r->n);
    r->n += 4;
    return v;
}
static uint64_t r_u64(rd *r) {
    uint64_t v = plow_get_u64(r->p + r->n);
    r->n += 8;
    return v;
}
static void r_bytes(rd *r, void *out, size_t n) {
    memcpy(out, r->p + r->n, n);
    r->n += n;
}

static int decode_account(ledger_account *a, const uint8_t *val, size_t len, char err[PLOW_ERR_LEN]) {
    if (len < ACCOUNT_FIXED_LEN)
        return plow_error(err, "account record of %zu bytes, at least %d expected", len, ACCOUNT_FIXED_LEN);
    rd r = {val, 0};
    a->balance = r_u64(&r);
    a->nonce = r_u64(&r);
    a->stake = r_u64(&r);
    a->locked = r_u64(&r);
    a->unbonding = r_u64(&r);
    a->unbond_at = r_u64(&r);
    a->profile = r_u8(&r);
    size_t nl = r_u8(&r);
    if (nl > LEDGER_NAME_MAX)
        return plow_error(err, "account record: a name of %zu bytes (at most %d)", nl, LEDGER_NAME_MAX);
    if (len < ACCOUNT_FIXED_LEN + nl) return plow_error(err, "account record of %zu bytes is truncated", len);
    r_bytes(&r, a->name, nl);
    a->name[nl] = 0;
    size_t cl = r_u16(&r);
    if (cl > LEDGER_CAPS_MAX)
        return plow_error(err, "account record: capabilities of %zu bytes (at most %d)", cl, LEDGER_CAPS_MAX);
    if (len != ACCOUNT_FIXED_LEN + nl + cl)
        return plow_error(err, "account record of %zu bytes, %zu expected", len, ACCOUNT_FIXED_LEN + nl + cl);
    r_bytes(&r, a->caps, cl);
    a->caps[cl] = 0;
    if (memchr(a->name, 0, nl) || memchr(a->caps, 0, cl))
        return plow_error(err, "account record: a NUL inside the name or capabilities");
    if (a->profile != 0 && a->profile != LEDGER_PERSON && a->profile != LEDGER_AGENT)
        return plow_error(err, "account record: unknown profile kind %u", a->profile);
    if (a->profile == 0 && (nl != 0 || cl != 0))
        return plow_error(err, "account record: an unregistered account with a name");
    if (a->profile != 0 && nl == 0) return plow_error(err, "account record: a registered account without a name");
    if (a->locked > a->stake)
        return plow_error(err, "account record: locked %" PRIu64 " exceeds stake %" PRIu64, a->locked, a->stake);
    return 0;
}

static int decode_task(ledger_task *t, const uint8_t *val, size_t len, char err[PLOW_ERR_LEN]) {
    if (len < TASK_FIXED_LEN)
        return plow_error(err, "task record of %zu bytes, at least %d expected", len, TASK_FIXED_LEN);
    rd r = {val, 0};
    r_bytes(&r, t->requester, 32);
    ledger_task_params *p = &t->p;
    r_bytes(&r, p->spec, 32);
    p->kind = r_u8(&r);
    p->mode = r_u8(&r);
    p->replicas = r_u8(&r);
    p->reward = r_u64(&r);
    p->worker_stake = r_u64(&r);
    p->min_bond = r_u64(&r);
    p->steps = r_u64(&r);
    p->claim_blocks = r_u32(&r);
    p->work_blocks = r_u32(&r);
    p->window_blocks = r_u32(&r);
    t->status = r_u8(&r);
    t->posted_at = r_u64(&r);
    t->escrow = r_u64(&r);
    t->window_end = r_u64(&r);
    t->open_challenges = r_u32(&r);
    if (p->kind < LEDGER_KIND_TRAIN || p->kind >= LEDGER_KIND_END)
        return plow_error(err, "task record: unknown kind %u", p->kind);
    if (p->kind == LEDGER_KIND_ROUND) {
        if (p->mode != LEDGER_MODE_OPTIMISTIC) return plow_error(err, "task record: a round task in mode %u", p->mode);
        if (p->replicas < 1 || p->replicas > LEDGER_MAX_REPLICAS)
            return plow_error(err, "task record: a round task with %u participants", p->replicas);
    } else if (p->mode == LEDGER_MODE_OPTIMISTIC) {
        if (p->replicas != 1) return plow_error(err, "task record: an optimistic task with %u replicas", p->replicas);
    } else if (p->mode == LEDGER_MODE_REPLICATED) {
        if (p->replicas < 2 || p->replicas > LEDGER_MAX_REPLICAS)
            return plow_error(err, "task record: a replicated task with %u replicas", p->replicas);
    } else {
        return plow_error(err, "task record: unknown mode %u", p->mode);
    }
    if (t->status < LEDGER_TASK_OPEN || t->status >= LEDGER_TASK_STATUS_END)
        return plow_error(err, "task record: unknown status %u", t->status);
    if (p->kind == LEDGER_KIND_LABEL && p->mode != LEDGER_MODE_REPLICATED)
        return plow_error(err, "task record: a label task in mode %u", p->mode);
    size_t want = TASK_FIXED_LEN + (size_t)p->replicas * SLOT_LEN;
    if (p->kind == LEDGER_KIND_LABEL) want += LABEL_EXT_FIXED_LEN + (size_t)p->replicas * 8;
    if (len != want)
        return plow_error(err, "task record of %zu bytes, %zu expected for %u replicas", len, want, p->replicas);
    for (int i = 0; i < p->replicas; i++) {
        ledger_slot *sl = &t->slots[i];
        sl->status = r_u8(&r);
        r_bytes(&r, sl->worker, 32);
        sl->claimed_at = r_u64(&r);
        sl->committed_at = r_u64(&r);
        r_bytes(&r, sl->trace_root, 32);
        r_bytes(&r, sl->final_state, 32);
        r_bytes(&r, sl->artifact, 32);
        r_bytes(&r, sl->manifest, 32);
        sl->n = r_u64(&r);
        sl->checkpoint_every = r_u32(&r);
        if (sl->status >= LEDGER_SLOT_STATUS_END)
            return plow_error(err, "task record: slot %d has unknown status %u", i, sl->status);
    }
    if (p->kind != LEDGER_KIND_LABEL) return 0;
    p->n_classes = r_u32(&r);
    p->redundancy = r_u32(&r);
    r_bytes(&r, p->gold_commit, 32);
    p->min_gold_pct = r_u32(&r);
    t->gold_revealed = r_u8(&r);
    t->revealed = r_u8(&r);
    r_bytes(&r, t->result, 32);
    for (int i = 0; i < p->replicas; i++) t->paid[i] = r_u64(&r);
    if (p->n_classes < 2 || p->n_classes > LEDGER_LABEL_CLASSES_MAX)
        return plow_error(err, "task record: a label task with %u classes", p->n_classes);
    if (p->redundancy < 1 || p->redundancy > p->replicas)
        return plow_error(err, "task record: a label task with redundancy %u for %u labelers", p->redundancy,
                          p->replicas);
    if (p->min_gold_pct > 100) return plow_error(err, "task record: min_gold_pct %u above 100", p->min_gold_pct);
    if (t->gold_revealed > 1) return plow_error(err, "task record: gold_revealed is %u", t->gold_revealed);
    if (p->replicas < 8 && t->revealed >> p->replicas)
        return plow_error(err, "task record: slots revealed beyond the %u labelers", p->replicas);
    return 0;
}

static int decode_gold(ledger_gold *g, const uint8_t *val, size_t len, char err[PLOW_ERR_LEN]) {
    if (len < 4) return plow_error(err, "gold record of %zu bytes, at least 4 expected", len);
    rd r = {val, 0};
    uint32_t n = r_u32(&r);
    if (n > LEDGER_GOLD_MAX) return plow_error(err, "gold record of %u items (at most %d)", n, LEDGER_GOLD_MAX);
    if (len != 4 + 5 * (size_t)n) return plow_error(err, "gold record of %zu bytes, %zu expected", len, 4 + 5 * (size_t)n);
    g->count = n;
    for (uint32_t i = 0; i < n; i++) {
        g->items[i] = r_u32(&r);
        g->labels[i] = r_u8(&r);
        if (i > 0 && g->items[i] <= g->items[i - 1])
            return plow_error(err, "gold record: item %u is not after item %u", g->items[i], g->items[i - 1]);
    }
    return 0;
}

static int decode_labels(ledger_labels *l, const uint8_t *val, size_t len, char err[PLOW_ERR_LEN]) {
    if (len < 4) return plow_error(err, "labels record of %zu bytes, at least 4 expected", len);
    uint32_t n = plow_get_u32(val);
    if (n > LEDGER_LABELS_MAX)
        return plow_error(err, "labels record of %u labels (at most %d)", n, LEDGER_LABELS_MAX);
    if (len != 4 + (size_t)n) return plow_error(err, "labels record of %zu bytes, %zu expected", len, 4 + (size_t)n);
    l->count = n;
    memcpy(l->labels, val + 4, n);
    return 0;
}

static int decode_challenge(ledger_challenge *c, const uint8_t *val, size_t len, char err[PLOW_ERR_LEN]) {
    if (len != CHALLENGE_LEN) return plow_error(err, "challenge record of %zu bytes, %d expected", len, CHALLENGE_LEN);
    rd r = {val, 0};
    r_bytes(&r, c->task, 32);
    r_bytes(&r, c->challenger, 32);
    r_bytes(&r, c->accused, 32);
    r_bytes(&r, c->other, 32);
    uint8_t ho = r_u8(&r);
    c->step = r_u64(&r);
    c->bond = r_u64(&r);
    c->opened_at = r_u64(&r);
    c->deadline = r_u64(&r);
    r_bytes(&r, c->state_blob, 32);
    r_bytes(&r, c->leaf_prev, 32);
    r_bytes(&r, c->accused_leaf, 32);
    r_bytes(&r, c->other_leaf, 32);
    c->status = r_u8(&r);
    r_bytes(&r, c->computed, 32);
    c->resolved_at = r_u64(&r);
    if (ho > 1) return plow_error(err, "challenge record: has_other is %u, must be 0 or 1", ho);
    c->has_other = ho == 1;
    if (!c->has_other && !is_zero(c->other, 32))
        return plow_error(err, "challenge record: an other worker without has_other");
    if (c->status < LEDGER_CH_OPEN || c->status >= LEDGER_CH_STATUS_END)
        return plow_error(err, "challenge record: unknown status %u", c->status);
    return 0;
}

/* ---- lifecycle ------------------------------------------------------------------------ */

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
    table *tabs[] = {&s->accounts, &s->tasks, &s->challenges, &s->gold, &s->labels};
    const uint8_t tags[] = {TAG_ACCOUNT, TAG_TASK, TAG_CHALLENGE, TAG_GOLD, TAG_LABELS};
    for (size_t k = 0; k < 5; k++) {
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
    return ok ? sum : UINT64_MAX;
}

/* ---- the overlay ---------------------------------------------------------------------- */

typedef struct txn {
    ledger_state *s;
    uint64_t burned;
} txn;

static void txn_begin(txn *x, ledger_state *s) {
    x->s = s;
    x->burned = s->burned;
    s->n_pool = 0;
}

static pend *txn_find(txn *x, uint8_t tag, const uint8_t *id) {
    ledger_state *s = x->s;
    for (size_t i = 0; i < s->n_pool; i++)
        if (s->pool[i]->tag == tag && memcmp(rec_id(tag, &s->pool[i]->val), id, id_len(tag)) == 0) return s->pool[i];
    return NULL;
}

static pend *txn_push(txn *x, uint8_t tag, srec *orig) {
    ledger_state *s = x->s;
    if (s->n_pool == s->cap_pool) {
        size_t cap = s->cap_pool ? s->cap_pool * 2 : 8;
        s->pool = plow_realloc(s->pool, cap * sizeof *s->pool);
        for (size_t i = s->cap_pool; i < cap; i++) s->pool[i] = plow_alloc(sizeof(pend));
        s->cap_pool = cap;
    }
    pend *p = s->pool[s->n_pool++];
    p->tag = tag;
    p->orig = orig;
    memset(&p->val, 0, sizeof p->val);
    if (orig) val_copy(tag, &p->val, orig);
    return p;
}

/* A record as this transaction sees it (its own copy if it took one), or
 * NULL. Read-only: take a copy (txn_get) before changing anything. */
static const srec *txn_peek(txn *x, uint8_t tag, const uint8_t *id) {
    pend *p = txn_find(x, tag, id);
    if (p) return &p->val;
    return table_find(table_of(x->s, tag), id, NULL);
}

/* The transaction's private copy of a record, or NULL if there is none. */
static srec *txn_get(txn *x, uint8_t tag, const uint8_t *id) {
    pend *p = txn_find(x, tag, id);
    if (p) return &p->val;
    srec *orig = table_find(table_of(x->s, tag), id, NULL);
    return orig ? &txn_push(x, tag, orig)->val : NULL;
}

/* A new record (the caller checked there is none with this id). */
static srec *txn_new(txn *x, uint8_t tag, const uint8_t *id) {
    PLOW_ASSERT(!txn_peek(x, tag, id));
    srec *r = &txn_push(x, tag, NULL)->val;
    switch (tag) {
    case TAG_ACCOUNT: memcpy(r->v.a.pk, id, 32); break;
    case TAG_TASK: memcpy(r->v.t.id, id, 32); break;
    case TAG_CHALLENGE: memcpy(r->v.c.id, id, 32); break;
    case TAG_GOLD: memcpy(r->v.g.task, id, 32); break;
    case TAG_LABELS:
        memcpy(r->v.l.task, id, 32);
        r->v.l.slot = id[32];
        break;
    }
    return r;
}

static const ledger_account *peek_account(txn *x, const uint8_t pk[32]) {
    const srec *r = txn_peek(x, TAG_ACCOUNT, pk);
    return r ? &r->v.a : NULL;
}

/* An account to change, created (all zero) if it does not exist. Only call
 * it for an account about to change: a created account enters the root. */
static ledger_account *get_account(txn *x, const uint8_t pk[32]) {
    srec *r = txn_get(x, TAG_ACCOUNT, pk);
    if (!r) r = txn_new(x, TAG_ACCOUNT, pk);
    return &r->v.a;
}

static ledger_task *get_task(txn *x, const uint8_t id[32]) {
    srec *r = txn_get(x, TAG_TASK, id);
    return r ? &r->v.t : NULL;
}

static ledger_challenge *get_challenge(txn *x, const uint8_t id[32]) {
    srec *r = txn_get(x, TAG_CHALLENGE, id);
    return r ? &r->v.c : NULL;
}

/* Writes the overlay back: the transaction's only way to change the state. */
static void txn_commit(txn *x) {
    ledger_state *s = x->s;
    for (size_t i = 0; i < s->n_pool; i++) {
        pend *p = s->pool[i];
        srec *r = p->orig;
        if (r) {
            val_copy(p->tag, r, &p->val);
            r->stale = r->dirty = true;
        } else {
            r = table_add(table_of(s, p->tag), &p->val);
        }
        if (p->tag == TAG_CHALLENGE) open_index_update(s, r);
    }
    s->n_pool = 0;
    if (x->burned != s->burned) {
        s->burned = x->burned;
        meta_changed(s);
    }
    s->root_ok = false;
}

static void txn_discard(txn *x) { x->s->n_pool = 0; }

/* ---- money movements (all checked; a failure fails the transaction) ------------------- */

static int credit(ledger_account *a, uint64_t amount, char err[PLOW_ERR_LEN]) {
    if (!plow_add_u64(a->balance, amount, &a->balance))
        return plow_error(err, "the balance of %s would overflow", hx(a->pk).s);
    return 0;
}

static int burn(txn *x, uint64_t amount, char err[PLOW_ERR_LEN]) {
    if (!plow_add_u64(x->burned, amount, &x->burned)) return plow_error(err, "the burned total would overflow");
    return 0;
}

/* Releases a worker's locked stake (the stake stays its own). */
static int unlock_stake(ledger_account *w, uint64_t amount, char err[PLOW_ERR_LEN]) {
    if (w->locked < amount)
        return plow_error(err, "inconsistent state: %s has %" PRIu64 " locked, %" PRIu64 " to unlock", hx(w->pk).s,
                          w->locked, amount);
    w->locked -= amount;
    return 0;
}

/* Takes `amount` of locked stake from worker w: pct% to `to`, the rest
 * burned (share = floor(amount * pct / 100), burn = amount - share). */
static int slash(txn *x, const uint8_t worker[32], uint64_t amount, const uint8_t to[32], uint32_t pct,
                 char err[PLOW_ERR_LEN]) {
    ledger_account *w = get_account(x, worker);
    if (unlock_stake(w, amount, err) != 0) return -1;
    if (w->stake < amount) return plow_error(err, "inconsistent state: %s has less stake than it locked", hx(worker).s);
    w->stake -= amount;
    uint64_t share = pct_of(amount, pct);
    if (credit(get_account(x, to), share, err) != 0) return -1;
    return burn(x, amount - share, err);
}

/* Moves the whole remaining escrow of t back to its requester. */
static int refund_escrow(txn *x, ledger_task *t, char err[PLOW_ERR_LEN]) {
    uint64_t e = t->escrow;
    t->escrow = 0;
    return e ? credit(get_account(x, t->requester), e, err) : 0;
}

/* The sender's unbonding becomes balance once unbond_at has arrived. */
static int mature(ledger_account *a, uint64_t height, char err[PLOW_ERR_LEN]) {
    if (a->unbonding == 0 || a->unbond_at > height) return 0;
    if (credit(a, a->unbonding, err) != 0) return -1;
    a->unbonding = 0;
    a->unbond_at = 0;
    return 0;
}

/* ---- labeling: assignment, commitments, aggregation (docs/ledger.md, "Labeling") -------- */

bool ledger_label_assigned(uint64_t item, uint32_t slot, uint32_t replicas, uint32_t redundancy) {
    if (replicas == 0 || redundancy > replicas || slot >= replicas) return false;
    return (item % replicas + slot) % replicas < redundancy;
}

/* Items i in [0, x) with i mod R < r: whole cycles of R give r each. */
static uint64_t label_below(uint64_t x, uint32_t replicas, uint32_t redundancy) {
    uint64_t rest = x % replicas;
    return x / replicas * redundancy + (rest < redundancy ? rest : redundancy);
}

/* Slot s labels i iff (i + s) mod R < r: the items j = i + s in [s, s + N)
 * with j mod R < r. */
uint64_t ledger_label_slot_count(uint64_t n_items, uint32_t replicas, uint32_t redundancy, uint32_t slot) {
    if (replicas == 0 || redundancy > replicas || slot >= replicas) return 0;
    uint64_t end = sat_add(n_items, slot); /* n_items <= 2^64 - 1 - 7 in any real task */
    return label_below(end, replicas, redundancy) - label_below(slot, replicas, redundancy);
}

uint64_t ledger_label_slot_items(uint64_t n_items, uint32_t replicas, uint32_t redundancy, uint32_t slot,
                                 uint32_t *items, size_t cap) {
    uint64_t n = ledger_label_slot_count(n_items, replicas, redundancy, slot);
    size_t k = 0;
    for (uint64_t i = 0; i < n_items && k < cap && k < n; i++)
        if (ledger_label_assigned(i, slot, replicas, redundancy)) items[k++] = (uint32_t)i;
    return n;
}

void ledger_label_commitment(const uint8_t task[32], const uint8_t labeler[LEDGER_PK_LEN], const uint8_t *labels,
                             size_t count, const uint8_t salt[32], uint8_t out[32]) {
    static const char domain[] = "plow/labels/v1"; /* hashed with its NUL */
    plow_sha256 *h = plow_sha256_new();
    plow_sha256_update(h, domain, sizeof domain);
    plow_sha256_update(h, task, 32);
    plow_sha256_update(h, labeler, LEDGER_PK_LEN);
    if (count) plow_sha256_update(h, labels, count);
    plow_sha256_update(h, salt, 32);
    plow_sha256_final(h, out);
}

void ledger_gold_commitment(const uint8_t salt[32], uint32_t count, const uint32_t *items, const uint8_t *labels,
                            uint8_t out[32]) {
    static const char domain[] = "plow/gold/v1"; /* hashed with its NUL */
    plow_sha256 *h = plow_sha256_new();
    plow_sha256_update(h, domain, sizeof domain);
    plow_sha256_update(h, salt, 32);
    uint8_t b[5];
    plow_put_u32(b, count);
    plow_sha256_update(h, b, 4);
    for (uint32_t i = 0; i < count; i++) {
        plow_put_u32(b, items[i]);
        b[4] = labels[i];
        plow_sha256_update(h, b, 5);
    }
    plow_sha256_final(h, out);
}

void ledger_label_outcome_release(ledger_label_outcome *o) {
    if (!o) return;
    free(o->map);
    memset(o, 0, sizeof *o);
}

/* A probability as ppm rounded down, clamped to [0, 10^6] (NaN: 0). */
static uint32_t ppm_of(double x) {
    if (!(x > 0)) return 0;
    if (x >= 1) return LABEL_PPM;
    return (uint32_t)(x * (double)LABEL_PPM);
}

/* Checks the inputs against the task; fills *n_answers. */
static int label_inputs_check(const ledger_task *t, const ledger_labels *const revealed[LEDGER_MAX_REPLICAS],
                              const ledger_gold *gold, size_t *n_answers, char err[PLOW_ERR_LEN]) {
    const ledger_task_params *p = &t->p;
    if (p->kind != LEDGER_KIND_LABEL)
        return plow_error(err, "label: a %s task, not a label task", ledger_kind_name(p->kind));
    if (p->replicas < 1 || p->replicas > LEDGER_MAX_REPLICAS || p->redundancy < 1 || p->redundancy > p->replicas ||
        p->n_classes < 2 || p->n_classes > LEDGER_LABEL_CLASSES_MAX || p->steps < 1 ||
        p->steps > LEDGER_LABEL_ITEMS_MAX || p->min_gold_pct > 100)
        return plow_error(err, "label: the task's parameters are out of range");
    *n_answers = 0;
    for (uint32_t s = 0; s < LEDGER_MAX_REPLICAS; s++) {
        const ledger_labels *l = revealed[s];
        if (!l) continue;
        if (s >= p->replicas) return plow_error(err, "label: labels of slot %u, the task has %u", s, p->replicas);
        uint64_t want = ledger_label_slot_count(p->steps, p->replicas, p->redundancy, s);
        if (l->count != want || l->count > LEDGER_LABELS_MAX)
            return plow_error(err, "label: slot %u revealed %u labels for %" PRIu64 " items", s, l->count, want);
        for (uint32_t k = 0; k < l->count; k++)
            if (l->labels[k] >= p->n_classes)
                return plow_error(err, "label: slot %u: label %u out of range (%u classes)", s, l->labels[k],
                                  p->n_classes);
        *n_answers += l->count;
    }
    if (gold) {
        if (gold->count > LEDGER_GOLD_MAX) return plow_error(err, "label: %u gold items", gold->count);
        for (uint32_t g = 0; g < gold->count; g++) {
            if (gold->items[g] >= p->steps || (g > 0 && gold->items[g] <= gold->items[g - 1]) ||
                gold->labels[g] >= p->n_classes)
                return plow_error(err, "label: gold entry %u (item %u, label %u) does not fit the task", g,
                                  gold->items[g], gold->labels[g]);
        }
    }
    return 0;
}

int ledger_label_aggregate(const ledger_task *t, const ledger_labels *const revealed[LEDGER_MAX_REPLICAS],
                           const ledger_gold *gold, ledger_label_outcome *out, char err[PLOW_ERR_LEN]) {
    memset(out, 0, sizeof *out);
    size_t n_ans = 0;
    if (label_inputs_check(t, revealed, gold, &n_ans, err) != 0) return -1;
    const ledger_task_params *p = &t->p;
    uint32_t N = (uint32_t)p->steps, R = p->replicas, K = p->n_classes;
    int rc = -1;
    label_answer *ans = NULL, *kept = NULL;
    label_gold *lg = NULL;
    uint32_t *items = NULL;
    size_t n_kept = 0, n_gold = gold ? gold->count : 0;
    label_ds_result ds;
    memset(&ds, 0, sizeof ds);
    out->n_items = N;
    out->map = plow_alloc(N);
    memset(out->map, LEDGER_LABEL_NONE, N);

    /* answers in slot order, then item order */
    if (n_ans) ans = plow_calloc(n_ans, sizeof *ans);
    items = plow_calloc(LEDGER_LABELS_MAX, sizeof *items);
    size_t j = 0;
    for (uint32_t s = 0; s < R; s++) {
        const ledger_labels *l = revealed[s];
        if (!l) continue;
        ledger_label_slot_items(N, R, p->redundancy, s, items, LEDGER_LABELS_MAX);
        for (uint32_t k = 0; k < l->count; k++) ans[j++] = (label_answer){items[k], s, l->labels[k]};
    }
    if (n_gold) {
        lg = plow_calloc(n_gold, sizeof *lg);
        for (size_t g = 0; g < n_gold; g++) lg[g] = (label_gold){gold->items[g], gold->labels[g]};
    }
    label_problem pr = {N, R, K, ans, n_ans};
    if (n_ans && n_gold) {
        label_gold_score sc[LEDGER_MAX_REPLICAS];
        if (label_gold_scores(&pr, lg, n_gold, p->min_gold_pct * 10000u, 1, sc, err) != 0) goto out;
        for (uint32_t s = 0; s < R; s++) {
            out->flagged[s] = sc[s].flagged;
            out->gold_answered[s] = sc[s].answered;
            out->gold_correct[s] = sc[s].correct;
        }
    }
    if (n_ans && label_answers_filter(&pr, out->flagged, &kept, &n_kept, err) != 0) goto out;
    if (n_kept == 0) {
        /* nothing left to aggregate: the gold items keep their known label */
        for (size_t g = 0; g < n_gold; g++) out->map[lg[g].item] = (uint8_t)lg[g].label;
    } else {
        label_problem pk = {N, R, K, kept, n_kept};
        label_ds_params prm = {.max_iter = LEDGER_LABEL_ITERS, .tol = 1e-7, .smoothing = 1.0};
        if (label_ds_run(&pk, lg, n_gold, &prm, &ds, err) != 0) goto out;
        for (uint32_t i = 0; i < N; i++)
            out->map[i] = ds.map[i] == LABEL_NONE ? LEDGER_LABEL_NONE : (uint8_t)ds.map[i];
        out->iterations = ds.iterations;
        uint64_t w[LEDGER_MAX_REPLICAS], pay[LEDGER_MAX_REPLICAS], rest, budget;
        uint32_t payees = 0;
        for (uint32_t s = 0; s < R; s++) {
            payees += revealed[s] && !out->flagged[s];
            if (!out->flagged[s]) out->accuracy_ppm[s] = ppm_of(ds.accuracy[s]);
        }
        if (label_pay_weights(&ds, out->flagged, w, err) != 0) goto out;
        if (!plow_mul_u64(p->reward, payees, &budget)) {
            plow_error(err, "label: reward x %u labelers overflows", payees);
            goto out;
        }
        if (label_pay_split(w, R, budget, pay, &rest, err) != 0) goto out;
        for (uint32_t s = 0; s < R; s++) out->pay[s] = pay[s] < p->reward ? pay[s] : p->reward;
    }
    plow_sha256_once(out->map, N, out->result);
    rc = 0;
out:
    label_ds_result_release(&ds);
    free(ans);
    free(kept);
    free(lg);
    free(items);
    if (rc != 0) ledger_label_outcome_release(out);
    return rc;
}

/* ---- the envelope ---------------------------------------------------------------------- */

/* Everything a transaction must satisfy to be included at all, given the
 * sender's nonce to expect and its balance after maturing. */
static int envelope_check(const ledger_state *s, const ledger_tx *tx, bool check_sig, uint64_t want_nonce,
                          uint64_t balance, char err[PLOW_ERR_LEN]) {
    if (tx->type < 1 || tx->type >= LEDGER_TX_TYPE_END) return plow_error(err, "unknown transaction type %u", tx->type);
    if (check_sig && !ledger_tx_verify(tx, s->g.chain_id))
        return plow_error(err, "bad signature: not signed by the sender for this chain");
    if (tx->nonce < want_nonce)
        return plow_error(err, "nonce %" PRIu64 " already used: the sender's next nonce is %" PRIu64, tx->nonce,
                          want_nonce);
    if (tx->nonce > want_nonce)
        return plow_error(err, "nonce %" PRIu64 " leaves a gap: the sender's next nonce is %" PRIu64, tx->nonce,
                          want_nonce);
    if (tx->nonce == UINT64_MAX) return plow_error(err, "the sender's nonces are exhausted");
    if (tx->fee < s->g.params.min_fee)
        return plow_error(err, "fee %" PRIu64 " is below the minimum %" PRIu64, tx->fee, s->g.params.min_fee);
    if (balance < tx->fee) return plow_error(err, "balance %" PRIu64 " cannot pay the fee %" PRIu64, balance, tx->fee);
    return 0;
}

int ledger_check_tx(const ledger_state *s, const ledger_tx *tx, uint64_t expected_nonce, bool check_sig,
                    char err[PLOW_ERR_LEN]) {
    const srec *r = table_find(&s->accounts, tx->sender, NULL);
    ledger_account a;
    if (r) a = r->v.a;
    else memset(&a, 0, sizeof a);
    /* the fee may come from unbonding that has matured by now */
    if (a.unbonding && a.unbond_at <= s->height && !plow_add_u64(a.balance, a.unbonding, &a.balance))
        return plow_error(err, "the sender's balance would overflow");
    return envelope_check(s, tx, check_sig, expected_nonce, a.balance, err);
}

static int envelope(txn *x, const ledger_tx *tx, bool sig_checked, char err[PLOW_ERR_LEN]) {
    ledger_state *s = x->s;
    const ledger_account *pa = peek_account(x, tx->sender);
    ledger_account a;
    if (pa) a = *pa;
    else {
        memset(&a, 0, sizeof a);
        memcpy(a.pk, tx->sender, 32);
    }
    if (mature(&a, s->height, err) != 0) return -1;
    if (envelope_check(s, tx, !sig_checked, a.nonce, a.balance, err) != 0) return -1;
    ledger_account *sender = get_account(x, tx->sender);
    *sender = a; /* matured */
    sender->balance -= tx->fee;
    sender->nonce++;
    return credit(get_account(x, s->g.operator_pk), tx->fee, err);
}

/* ---- transaction bodies (docs/ledger.md, one row per check) ------------------------------ */

typedef int (*body_fn)(txn *x, const ledger_tx *tx, const uint8_t hash[32], char err[PLOW_ERR_LEN]);

static int body_transfer(txn *x, const ledger_tx *tx, const uint8_t hash[32], char err[PLOW_ERR_LEN]) {
    (void)hash;
    uint64_t amount = tx->u.transfer.amount;
    if (amount == 0) return plow_error(err, "transfer: the amount must be positive");
    ledger_account *from = get_account(x, tx->sender);
    if (from->balance < amount)
        return plow_error(err, "transfer: balance %" PRIu64 " is less than the amount %" PRIu64, from->balance, amount);
    from->balance -= amount;
    ledger_account *to = get_account(x, tx->u.transfer.to);
    if (!plow_add_u64(to->balance, amount, &to->balance))
        return plow_error(err, "transfer: the balance of %s would overflow", hx(to->pk).s);
    return 0;
}

static int body_stake(txn *x, const ledger_tx *tx, const uint8_t hash[32], char err[PLOW_ERR_LEN]) {
    (void)hash;
    uint64_t amount = tx->u.stake.amount;
    if (amount == 0) return plow_error(err, "stake: the amount must be positive");
    ledger_account *a = get_account(x, tx->sender);
    if (a->balance < amount)
        return plow_error(err, "stake: balance %" PRIu64 " is less than the amount %" PRIu64, a->balance, amount);
    a->balance -= amount;
    if (!plow_add_u64(a->stake, amount, &a->stake)) return plow_error(err, "stake: the stake would overflow");
    return 0;
}

static int body_unstake(txn *x, const ledger_tx *tx, const uint8_t hash[32], char err[PLOW_ERR_LEN]) {
    (void)hash;
    uint64_t amount = tx->u.stake.amount;
    if (amount == 0) return plow_error(err, "unstake: the amount must be positive");
    ledger_account *a = get_account(x, tx->sender);
    if (amount > a->stake) return plow_error(err, "unstake: %" PRIu64 " exceeds the stake %" PRIu64, amount, a->stake);
    uint64_t free_stake = a->stake - a->locked;
    if (amount > free_stake)
        return plow_error(err, "unstake: stake is locked by open tasks: %" PRIu64 " free", free_stake);
    a->stake -= amount;
    if (!plow_add_u64(a->unbonding, amount, &a->unbonding)) return plow_error(err, "unstake: unbonding would overflow");
    a->unbond_at = sat_add(x->s->height, x->s->g.params.unbond_blocks);
    return 0;
}

static int body_register(txn *x, const ledger_tx *tx, const uint8_t hash[32], char err[PLOW_ERR_LEN]) {
    (void)hash;
    uint8_t kind = tx->u.reg.kind;
    if (kind != LEDGER_PERSON && kind != LEDGER_AGENT)
        return plow_error(err, "register: profile kind %u is neither person (1) nor agent (2)", kind);
    const char *name = tx->u.reg.name, *caps = tx->u.reg.caps;
    if (!memchr(name, 0, sizeof tx->u.reg.name) || !memchr(caps, 0, sizeof tx->u.reg.caps))
        return plow_error(err, "register: name or capabilities not terminated");
    size_t nl = strlen(name);
    if (nl < 1 || nl > LEDGER_NAME_MAX)
        return plow_error(err, "register: a name of %zu bytes (1..%d allowed)", nl, LEDGER_NAME_MAX);
    ledger_account *a = get_account(x, tx->sender);
    a->profile = kind;
    memset(a->name, 0, sizeof a->name);
    memset(a->caps, 0, sizeof a->caps);
    memcpy(a->name, name, nl);
    memcpy(a->caps, caps, strlen(caps));
    return 0;
}

static int check_blocks(const char *what, uint32_t v, char err[PLOW_ERR_LEN]) {
    if (v < 1 || v > TASK_BLOCKS_MAX)
        return plow_error(err, "post_task: %s is %u, must be in 1..%u", what, v, TASK_BLOCKS_MAX);
    return 0;
}

/* A LABEL task's own parameters (docs/ledger.md, rows PL1-PL6). */
static int check_label_params(const ledger_task_params *p, char err[PLOW_ERR_LEN]) {
    if (p->steps > LEDGER_LABEL_ITEMS_MAX)
        return plow_error(err, "post_task: a label task has 1..%d items, not %" PRIu64, LEDGER_LABEL_ITEMS_MAX,
                          p->steps);
    if (p->n_classes < 2 || p->n_classes > LEDGER_LABEL_CLASSES_MAX)
        return plow_error(err, "post_task: a label task has 2..%d classes, not %u", LEDGER_LABEL_CLASSES_MAX,
                          p->n_classes);
    if (p->redundancy < 1 || p->redundancy > p->replicas)
        return plow_error(err, "post_task: redundancy %u is not in 1..%u (the labelers)", p->redundancy, p->replicas);
    if (p->min_gold_pct > 100) return plow_error(err, "post_task: min_gold_pct %u is above 100", p->min_gold_pct);
    for (uint32_t sl = 0; sl < p->replicas; sl++) {
        uint64_t c = ledger_label_slot_count(p->steps, p->replicas, p->redundancy, sl);
        if (c > LEDGER_LABELS_MAX)
            return plow_error(err, "post_task: a labeler would get %" PRIu64 " items, more than one reveal carries (%d)",
                              c, LEDGER_LABELS_MAX);
    }
    uint64_t cells = p->steps * p->replicas * p->n_classes; /* <= 65536 * 8 * 64: no overflow */
    if (cells > LEDGER_LABEL_CELLS_MAX)
        return plow_error(err, "post_task: %" PRIu64 " items x %u labelers x %u classes is more than %u to aggregate",
                          p->steps, p->replicas, p->n_classes, LEDGER_LABEL_CELLS_MAX);
    return 0;
}

static int body_post_task(txn *x, const ledger_tx *tx, const uint8_t hash[32], char err[PLOW_ERR_LEN]) {
    const ledger_task_params *p = &tx->u.post;
    if (p->kind < LEDGER_KIND_TRAIN || p->kind >= LEDGER_KIND_END)
        return plow_error(err, "post_task: unknown kind %u", p->kind);
    if (p->kind == LEDGER_KIND_ROUND) {
        /* P participants, each slot an optimistic training run of its own */
        if (p->mode != LEDGER_MODE_OPTIMISTIC)
            return plow_error(err, "post_task: a round task is optimistic (each slot is checked on its own), not mode %u",
                              p->mode);
        if (p->replicas < 1 || p->replicas > LEDGER_MAX_REPLICAS)
            return plow_error(err, "post_task: a round task needs 1..%d participants, not %u", LEDGER_MAX_REPLICAS,
                              p->replicas);
    } else if (p->kind == LEDGER_KIND_LABEL && p->mode != LEDGER_MODE_REPLICATED) {
        return plow_error(err, "post_task: a label task is replicated (its labelers share the items), not mode %u",
                          p->mode);
    } else if (p->mode == LEDGER_MODE_REPLICATED) {
        if (p->replicas < 2 || p->replicas > LEDGER_MAX_REPLICAS)
            return plow_error(err, "post_task: a replicated task needs 2..%d replicas, not %u", LEDGER_MAX_REPLICAS,
                              p->replicas);
    } else if (p->mode == LEDGER_MODE_OPTIMISTIC) {
        if (p->replicas != 1)
            return plow_error(err, "post_task: an optimistic task has 1 replica, not %u", p->replicas);
    } else {
        return plow_error(err, "post_task: unknown mode %u", p->mode);
    }
    if (p->steps < 1 || p->steps == UINT64_MAX)
        return plow_error(err, "post_task: steps must be in 1..2^64-2, not %" PRIu64, p->steps);
    if (p->reward == 0) return plow_error(err, "post_task: the reward must be positive");
    if (check_blocks("claim_blocks", p->claim_blocks, err) || check_blocks("work_blocks", p->work_blocks, err) ||
        check_blocks("window_blocks", p->window_blocks, err))
        return -1;
    if (p->kind == LEDGER_KIND_LABEL && check_label_params(p, err) != 0) return -1;
    uint64_t escrow;
    if (!plow_mul_u64(p->reward, p->replicas, &escrow))
        return plow_error(err, "post_task: reward %" PRIu64 " x %u replicas overflows", p->reward, p->replicas);
    ledger_account *a = get_account(x, tx->sender);
    if (a->balance < escrow)
        return plow_error(err, "post_task: balance %" PRIu64 " cannot escrow %" PRIu64, a->balance, escrow);
    if (txn_peek(x, TAG_TASK, hash)) return plow_error(err, "post_task: task %s exists already", hx(hash).s);
    a->balance -= escrow;
    ledger_task *t = &txn_new(x, TAG_TASK, hash)->v.t;
    memcpy(t->requester, tx->sender, 32);
    t->p = *p;
    if (p->kind != LEDGER_KIND_LABEL) { /* not encoded for other kinds: never stored either */
        t->p.n_classes = t->p.redundancy = t->p.min_gold_pct = 0;
        memset(t->p.gold_commit, 0, 32);
    }
    t->status = LEDGER_TASK_OPEN;
    t->posted_at = x->s->height;
    t->escrow = escrow;
    return 0;
}

static ledger_task *task_or_fail(txn *x, const uint8_t id[32], const char *what, char err[PLOW_ERR_LEN]) {
    ledger_task *t = get_task(x, id);
    if (!t) plow_error(err, "%s: no task %s", what, hx(id).s);
    return t;
}

/* The index of `worker`'s slot in t, or -1. */
static int slot_of(const ledger_task *t, const uint8_t worker[32]) {
    for (int i = 0; i < t->p.replicas; i++)
        if (t->slots[i].status != LEDGER_SLOT_EMPTY && eq32(t->slots[i].worker, worker)) return i;
    return -1;
}

static int body_claim(txn *x, const ledger_tx *tx, const uint8_t hash[32], char err[PLOW_ERR_LEN]) {
    (void)hash;
    uint64_t h = x->s->height;
    ledger_task *t = task_or_fail(x, tx->u.ref.task, "claim", err);
    if (!t) return -1;
    if (t->status == LEDGER_TASK_CLAIMED) return plow_error(err, "claim: task %s has no free slot", hx(t->id).s);
    if (t->status != LEDGER_TASK_OPEN)
        return plow_error(err, "claim: task %s is %s, not open", hx(t->id).s, ledger_task_status_name(t->status));
    uint64_t until = sat_add(t->posted_at, t->p.claim_blocks);
    if (h > until) return plow_error(err, "claim: claim deadline passed at %" PRIu64, until);
    if (eq32(tx->sender, t->requester)) return plow_error(err, "claim: the requester cannot claim its own task");
    const ledger_account *pa = peek_account(x, tx->sender);
    if (!pa || pa->profile == 0) return plow_error(err, "claim: the worker is not registered (send register first)");
    if (slot_of(t, tx->sender) >= 0)
        return plow_error(err, "claim: the worker already holds a slot of task %s", hx(t->id).s);
    uint64_t free_stake = pa->stake >= pa->locked ? pa->stake - pa->locked : 0;
    if (free_stake < t->p.worker_stake)
        return plow_error(err, "claim: insufficient free stake: %" PRIu64 " free, %" PRIu64 " needed", free_stake,
                          t->p.worker_stake);
    int i = 0;
    while (i < t->p.replicas && t->slots[i].status != LEDGER_SLOT_EMPTY) i++;
    if (i == t->p.replicas) return plow_error(err, "claim: task %s has no free slot", hx(t->id).s);
    ledger_account *w = get_account(x, tx->sender);
    if (!plow_add_u64(w->locked, t->p.worker_stake, &w->locked))
        return plow_error(err, "claim: locked stake would overflow");
    ledger_slot *sl = &t->slots[i];
    sl->status = LEDGER_SLOT_CLAIMED;
    memcpy(sl->worker, tx->sender, 32);
    sl->claimed_at = h;
    if (i + 1 == t->p.replicas) t->status = LEDGER_TASK_CLAIMED; /* slots fill in order */
    return 0;
}

/* The last height at which any slot of t can commit: claims end at
 * posted_at + claim_blocks and a claim has work_blocks to commit. */
static uint64_t label_commits_close(const ledger_task *t) {
    return sat_add(sat_add(t->posted_at, t->p.claim_blocks), t->p.work_blocks);
}

uint64_t ledger_label_reveal_from(const ledger_task *t) {
    uint64_t last = 0;
    int n = t->p.replicas <= LEDGER_MAX_REPLICAS ? t->p.replicas : LEDGER_MAX_REPLICAS;
    for (int k = 0; k < n; k++) {
        if (t->slots[k].status != LEDGER_SLOT_COMMITTED) return sat_add(label_commits_close(t), 1);
        if (t->slots[k].committed_at > last) last = t->slots[k].committed_at;
    }
    return last;
}

static int body_commit(txn *x, const ledger_tx *tx, const uint8_t hash[32], char err[PLOW_ERR_LEN]) {
    (void)hash;
    uint64_t h = x->s->height;
    ledger_task *t = task_or_fail(x, tx->u.commit.task, "commit", err);
    if (!t) return -1;
    int i = slot_of(t, tx->sender);
    if (i < 0) return plow_error(err, "commit: the sender holds no slot of task %s", hx(t->id).s);
    ledger_slot *sl = &t->slots[i];
    if (sl->status != LEDGER_SLOT_CLAIMED)
        return plow_error(err, "commit: the sender's slot of task %s is %s, not claimed", hx(t->id).s,
                          ledger_slot_status_name(sl->status));
    uint64_t until = sat_add(sl->claimed_at, t->p.work_blocks);
    if (h > until) return plow_error(err, "commit: commit deadline passed at %" PRIu64, until);
    if (t->p.kind == LEDGER_KIND_LABEL) {
        uint64_t c = ledger_label_slot_count(t->p.steps, t->p.replicas, t->p.redundancy, (uint32_t)i);
        if (tx->u.commit.n != c)
            return plow_error(err, "commit: n is %" PRIu64 ", slot %d labels %" PRIu64 " items", tx->u.commit.n, i, c);
        if (!is_zero(tx->u.commit.final_state, 32) || !is_zero(tx->u.commit.artifact, 32) ||
            !is_zero(tx->u.commit.manifest, 32) || tx->u.commit.checkpoint_every != 0)
            return plow_error(err, "commit: a label commitment is trace_root and n only: final_state, artifact, "
                                   "manifest and checkpoint_every must be zero");
    } else {
        if (tx->u.commit.n != t->p.steps)
            return plow_error(err, "commit: n is %" PRIu64 ", the task has %" PRIu64 " steps", tx->u.commit.n,
                              t->p.steps);
        if (t->p.kind != LEDGER_KIND_INFER && tx->u.commit.checkpoint_every < 1)
            return plow_error(err, "commit: checkpoint_every must be at least 1");
    }
    sl->status = LEDGER_SLOT_COMMITTED;
    sl->committed_at = h;
    memcpy(sl->trace_root, tx->u.commit.trace_root, 32);
    memcpy(sl->final_state, tx->u.commit.final_state, 32);
    memcpy(sl->artifact, tx->u.commit.artifact, 32);
    memcpy(sl->manifest, tx->u.commit.manifest, 32);
    sl->n = tx->u.commit.n;
    sl->checkpoint_every = tx->u.commit.checkpoint_every;
    if (t->p.kind == LEDGER_KIND_ROUND) {
        /* Each slot stands alone: the window runs from the last commit, and
         * the round settles without the slots that never commit. */
        t->window_end = sat_add(h, t->p.window_blocks);
        for (int k = 0; k < t->p.replicas; k++)
            if (t->slots[k].status == LEDGER_SLOT_EMPTY || t->slots[k].status == LEDGER_SLOT_CLAIMED) return 0;
        t->status = t->open_challenges ? LEDGER_TASK_CHALLENGED : LEDGER_TASK_COMMITTED;
        return 0;
    }
    if (t->p.kind == LEDGER_KIND_LABEL && t->window_end == 0) {
        /* Until every slot commits, reveals wait for the last height any slot
         * could commit; the reveal window runs window_blocks after it. */
        t->window_end = sat_add(label_commits_close(t), t->p.window_blocks);
    }
    for (int k = 0; k < t->p.replicas; k++)
        if (t->slots[k].status != LEDGER_SLOT_COMMITTED) return 0;
    t->status = LEDGER_TASK_COMMITTED;
    t->window_end = sat_add(h, t->p.window_blocks);
    return 0;
}

/* Checks one side's evidence for step j against that worker's committed
 * slot (docs/ledger.md, CHALLENGE). `who` names the side in messages. */
static int check_evidence(const ledger_task *t, const ledger_slot *sl, uint64_t j, const ledger_evidence *ev,
                          const char *who, char err[PLOW_ERR_LEN]) {
    if (t->p.kind == LEDGER_KIND_INFER) {
        if (j != 1) return plow_error(err, "challenge: an inference task is disputed at step 1, not %" PRIu64, j);
        if (!eq32(ev->leaf_prev, sl->trace_root) || !eq32(ev->leaf, sl->final_state))
            return plow_error(err, "challenge: forged proof: the %s's leaves are not its receipt and output hash", who);
        return 0;
    }
    uint64_t n = sl->n; /* < UINT64_MAX: post_task refuses more steps and commit needs n == steps */
    if (j < 1 || j > n + 1) return plow_error(err, "challenge: step %" PRIu64 " is not in 1..%" PRIu64, j, n + 1);
    if (j == n + 1) {
        if (!eq32(ev->leaf_prev, sl->final_state) || !eq32(ev->leaf, sl->artifact))
            return plow_error(err, "challenge: forged proof: the %s's leaves are not its final state and artifact",
                              who);
        return 0;
    }
    if (!merkle_verify(sl->trace_root, n + 1, j - 1, ev->leaf_prev, &ev->proof_prev))
        return plow_error(err, "challenge: forged proof: leaf %" PRIu64 " is not in the %s's trace", j - 1, who);
    if (!merkle_verify(sl->trace_root, n + 1, j, ev->leaf, &ev->proof))
        return plow_error(err, "challenge: forged proof: leaf %" PRIu64 " is not in the %s's trace", j, who);
    return 0;
}

static int body_challenge(txn *x, const ledger_tx *tx, const uint8_t hash[32], char err[PLOW_ERR_LEN]) {
    ledger_state *s = x->s;
    uint64_t h = s->height;
    const __typeof__(tx->u.challenge) *c = &tx->u.challenge;
    ledger_task *t = task_or_fail(x, c->task, "challenge", err);
    if (!t) return -1;
    if (t->p.kind == LEDGER_KIND_LABEL)
        return plow_error(err, "challenge: a label task has no step to re-execute (gold and Dawid-Skene settle it)");
    bool open_round = t->p.kind == LEDGER_KIND_ROUND && t->window_end != 0 && t->status != LEDGER_TASK_FINALIZED &&
                      t->status != LEDGER_TASK_EXPIRED;
    if (!open_round && t->status != LEDGER_TASK_COMMITTED && t->status != LEDGER_TASK_CHALLENGED &&
        t->status != LEDGER_TASK_RESOLVED)
        return plow_error(err, "challenge: task %s is %s: nothing committed to challenge", hx(t->id).s,
                          ledger_task_status_name(t->status));
    if (h > t->window_end) return plow_error(err, "challenge: challenge window closed at %" PRIu64, t->window_end);
    if (eq32(tx->sender, c->accused)) return plow_error(err, "challenge: a worker cannot challenge itself");
    int ia = slot_of(t, c->accused);
    if (ia < 0 || t->slots[ia].status != LEDGER_SLOT_COMMITTED)
        return plow_error(err, "challenge: the accused holds no committed slot of task %s", hx(t->id).s);
    uint64_t j = c->step;
    if (check_evidence(t, &t->slots[ia], j, &c->ev, "accused", err) != 0) return -1;
    if (t->p.kind == LEDGER_KIND_INFER && !eq32(c->state_blob, t->slots[ia].trace_root))
        return plow_error(err, "challenge: the state blob of an inference dispute is the accused's receipt");
    bool has_other = !is_zero(c->other, 32);
    if (has_other) {
        if (t->p.mode != LEDGER_MODE_REPLICATED)
            return plow_error(err, "challenge: naming an other worker is for replicated tasks only");
        if (eq32(c->other, c->accused)) return plow_error(err, "challenge: the other worker is the accused");
        int io = slot_of(t, c->other);
        if (io < 0 || t->slots[io].status != LEDGER_SLOT_COMMITTED)
            return plow_error(err, "challenge: the other worker holds no committed slot of task %s", hx(t->id).s);
        if (check_evidence(t, &t->slots[io], j, &c->ev_other, "other worker", err) != 0) return -1;
        /* Leaf j-1 must be agreed, except where the referee needs no agreed
         * state: step 1 (state 0 is rebuilt from the spec, so a worker that
         * started from other weights is caught there) and inference (the
         * referee derives the honest tokens from the spec). */
        bool rebuilt = j == 1 || t->p.kind == LEDGER_KIND_INFER;
        if (!rebuilt && !eq32(c->ev_other.leaf_prev, c->ev.leaf_prev))
            return plow_error(err, "challenge: the two workers do not agree on leaf %" PRIu64, j - 1);
        if (eq32(c->ev_other.leaf, c->ev.leaf))
            return plow_error(err, "challenge: the two workers agree on leaf %" PRIu64 ": nothing to dispute", j);
    } else if (c->bond < t->p.min_bond) {
        return plow_error(err, "challenge: bond %" PRIu64 " is below the task's min_bond %" PRIu64, c->bond,
                          t->p.min_bond);
    }
    ledger_account *ch = get_account(x, tx->sender);
    if (ch->balance < c->bond)
        return plow_error(err, "challenge: balance %" PRIu64 " cannot post the bond %" PRIu64, ch->balance, c->bond);
    for (size_t i = 0; i < s->n_open; i++) {
        const ledger_challenge *o = &s->open[i]->v.c;
        if (eq32(o->task, t->id) && eq32(o->accused, c->accused) && o->step == j)
            return plow_error(err, "challenge: challenge %s already disputes step %" PRIu64 " of this worker",
                              hx(o->id).s, j);
    }
    if (txn_peek(x, TAG_CHALLENGE, hash)) return plow_error(err, "challenge: challenge %s exists already", hx(hash).s);
    if (t->open_challenges == UINT32_MAX) return plow_error(err, "challenge: too many open challenges");
    ch->balance -= c->bond;
    ledger_challenge *r = &txn_new(x, TAG_CHALLENGE, hash)->v.c;
    memcpy(r->task, t->id, 32);
    memcpy(r->challenger, tx->sender, 32);
    memcpy(r->accused, c->accused, 32);
    if (has_other) memcpy(r->other, c->other, 32);
    r->has_other = has_other;
    r->step = j;
    r->bond = c->bond;
    r->opened_at = h;
    r->deadline = sat_add(h, s->g.params.verdict_blocks);
    memcpy(r->state_blob, c->state_blob, 32);
    memcpy(r->leaf_prev, c->ev.leaf_prev, 32);
    memcpy(r->accused_leaf, c->ev.leaf, 32);
    if (has_other) memcpy(r->other_leaf, c->ev_other.leaf, 32);
    r->status = LEDGER_CH_OPEN;
    t->open_challenges++;
    /* A round still taking claims or commits keeps its status (a claim needs
     * OPEN); open_challenges counts the dispute all the same. */
    if (t->status != LEDGER_TASK_OPEN && t->status != LEDGER_TASK_CLAIMED) t->status = LEDGER_TASK_CHALLENGED;
    return 0;
}

/* A verdict found `worker` wrong: its committed slot is slashed (a slot
 * slashed by an earlier verdict is not slashed twice). */
static int slash_slot(txn *x, ledger_task *t, const uint8_t worker[32], const uint8_t challenger[32],
                      char err[PLOW_ERR_LEN]) {
    int i = slot_of(t, worker);
    if (i < 0) return plow_error(err, "inconsistent state: %s holds no slot of task %s", hx(worker).s, hx(t->id).s);
    if (t->slots[i].status == LEDGER_SLOT_SLASHED) return 0;
    if (t->slots[i].status != LEDGER_SLOT_COMMITTED)
        return plow_error(err, "inconsistent state: slot %d of task %s is %s", i, hx(t->id).s,
                          ledger_slot_status_name(t->slots[i].status));
    t->slots[i].status = LEDGER_SLOT_SLASHED;
    return slash(x, worker, t->p.worker_stake, challenger, x->s->g.params.slash_challenger_pct, err);
}

static int challenge_closed(ledger_task *t, char err[PLOW_ERR_LEN]) {
    if (t->open_challenges == 0)
        return plow_error(err, "inconsistent state: task %s has no open challenge", hx(t->id).s);
    if (--t->open_challenges == 0 && t->status == LEDGER_TASK_CHALLENGED) t->status = LEDGER_TASK_RESOLVED;
    return 0;
}

static int body_verdict(txn *x, const ledger_tx *tx, const uint8_t hash[32], char err[PLOW_ERR_LEN]) {
    (void)hash;
    ledger_state *s = x->s;
    if (!eq32(tx->sender, s->g.operator_pk)) return plow_error(err, "verdict: only the referee (operator) may rule");
    ledger_challenge *c = get_challenge(x, tx->u.verdict.challenge);
    if (!c) return plow_error(err, "verdict: no challenge %s", hx(tx->u.verdict.challenge).s);
    if (c->status != LEDGER_CH_OPEN)
        return plow_error(err, "verdict: challenge %s is %s, not open", hx(c->id).s,
                          ledger_challenge_status_name(c->status));
    if (s->height > c->deadline) return plow_error(err, "verdict: verdict deadline passed at %" PRIu64, c->deadline);
    if (tx->u.verdict.prev_ok > 1)
        return plow_error(err, "verdict: prev_ok is %u, must be 0 or 1", tx->u.verdict.prev_ok);
    ledger_task *t = get_task(x, c->task);
    if (!t) return plow_error(err, "inconsistent state: challenge %s names no task", hx(c->id).s);
    const uint8_t *computed = tx->u.verdict.computed;
    bool accused_wrong = false, other_wrong = false;
    if (tx->u.verdict.prev_ok) {
        accused_wrong = !eq32(computed, c->accused_leaf);
        other_wrong = c->has_other && !eq32(computed, c->other_leaf);
    }
    if (accused_wrong && slash_slot(x, t, c->accused, c->challenger, err) != 0) return -1;
    if (other_wrong && slash_slot(x, t, c->other, c->challenger, err) != 0) return -1;
    if (accused_wrong || other_wrong) {
        c->status = LEDGER_CH_UPHELD;
        if (credit(get_account(x, c->challenger), c->bond, err) != 0) return -1;
    } else {
        c->status = LEDGER_CH_REJECTED;
        uint64_t share = pct_of(c->bond, s->g.params.bond_accused_pct);
        if (credit(get_account(x, c->accused), share, err) != 0 || burn(x, c->bond - share, err) != 0) return -1;
    }
    memcpy(c->computed, computed, 32);
    c->resolved_at = s->height;
    return challenge_closed(t, err);
}

/* Finalize's step 1: each OPEN challenge of t (which must all be past their
 * deadline: F6) expires and its bond goes back. */
static int expire_challenges(txn *x, ledger_task *t, char err[PLOW_ERR_LEN]) {
    ledger_state *s = x->s;
    uint64_t h = s->height;
    for (size_t i = 0; i < s->n_open; i++) {
        if (!eq32(s->open[i]->v.c.task, t->id)) continue;
        ledger_challenge *c = get_challenge(x, s->open[i]->v.c.id);
        if (h <= c->deadline)
            return plow_error(err, "finalize: challenge %s awaits its verdict until %" PRIu64, hx(c->id).s,
                              c->deadline);
        c->status = LEDGER_CH_EXPIRED;
        c->resolved_at = h;
        if (credit(get_account(x, c->challenger), c->bond, err) != 0 || challenge_closed(t, err) != 0) return -1;
    }
    if (t->open_challenges != 0)
        return plow_error(err, "inconsistent state: task %s counts open challenges it has not", hx(t->id).s);
    return 0;
}

/* A stalled slot loses its stake as on expire: pct to the requester, the
 * rest burned. */
static int forfeit_slot(txn *x, ledger_task *t, ledger_slot *sl, char err[PLOW_ERR_LEN]) {
    sl->status = LEDGER_SLOT_FORFEITED;
    return slash(x, sl->worker, t->p.worker_stake, t->requester, x->s->g.params.slash_challenger_pct, err);
}

static int pay_slot(txn *x, ledger_task *t, ledger_slot *sl, uint64_t amount, char err[PLOW_ERR_LEN]) {
    if (t->escrow < amount) return plow_error(err, "inconsistent state: task %s escrow is short", hx(t->id).s);
    t->escrow -= amount;
    return credit(get_account(x, sl->worker), amount, err);
}

/* finalize of a ROUND task (rows FR1-FR4): every participant that
 * committed and was not slashed is paid; the others do not hold it up. */
static int finalize_round(txn *x, ledger_task *t, char err[PLOW_ERR_LEN]) {
    uint64_t h = x->s->height;
    if (t->status == LEDGER_TASK_FINALIZED || t->status == LEDGER_TASK_EXPIRED)
        return plow_error(err, "finalize: task %s is %s already", hx(t->id).s, ledger_task_status_name(t->status));
    bool any = false;
    for (int i = 0; i < t->p.replicas; i++)
        any |= t->slots[i].status == LEDGER_SLOT_COMMITTED || t->slots[i].status == LEDGER_SLOT_SLASHED;
    if (!any) return plow_error(err, "finalize: nothing to finalize: no slot committed; send expire");
    uint64_t claim_until = sat_add(t->posted_at, t->p.claim_blocks);
    for (int i = 0; i < t->p.replicas; i++)
        if (t->slots[i].status == LEDGER_SLOT_EMPTY && h <= claim_until)
            return plow_error(err, "finalize: round task %s can still be claimed until %" PRIu64, hx(t->id).s,
                              claim_until);
    for (int i = 0; i < t->p.replicas; i++) {
        uint64_t until = sat_add(t->slots[i].claimed_at, t->p.work_blocks);
        if (t->slots[i].status == LEDGER_SLOT_CLAIMED && h <= until)
            return plow_error(err, "finalize: slot %d of round task %s can still commit until %" PRIu64, i,
                              hx(t->id).s, until);
    }
    if (h <= t->window_end) return plow_error(err, "finalize: challenge window open until %" PRIu64, t->window_end);
    if (expire_challenges(x, t, err) != 0) return -1;
    for (int i = 0; i < t->p.replicas; i++) {
        ledger_slot *sl = &t->slots[i];
        if (sl->status == LEDGER_SLOT_CLAIMED) {
            if (forfeit_slot(x, t, sl, err) != 0) return -1;
        } else if (sl->status == LEDGER_SLOT_COMMITTED) {
            if (unlock_stake(get_account(x, sl->worker), t->p.worker_stake, err) != 0 ||
                pay_slot(x, t, sl, t->p.reward, err) != 0)
                return -1;
            sl->status = LEDGER_SLOT_PAID;
        }
    }
    if (refund_escrow(x, t, err) != 0) return -1;
    t->status = LEDGER_TASK_FINALIZED;
    return 0;
}

/* finalize of a LABEL task (rows FL1-FL3): the labelers who never revealed
 * forfeit, the aggregation (ledger_label_aggregate) decides who is slashed
 * on gold and what each of the others is paid. */
static int finalize_label(txn *x, ledger_task *t, char err[PLOW_ERR_LEN]) {
    uint64_t h = x->s->height;
    if (t->status == LEDGER_TASK_FINALIZED || t->status == LEDGER_TASK_EXPIRED)
        return plow_error(err, "finalize: task %s is %s already", hx(t->id).s, ledger_task_status_name(t->status));
    if (t->window_end == 0) return plow_error(err, "finalize: nothing to finalize: no slot committed; send expire");
    if (h <= t->window_end)
        return plow_error(err, "finalize: the labelers' reveal window is open until %" PRIu64, t->window_end);
    uint64_t gold_until = sat_add(t->window_end, t->p.window_blocks);
    if (!t->gold_revealed && h <= gold_until)
        return plow_error(err, "finalize: the requester may reveal its gold until %" PRIu64, gold_until);
    const ledger_labels *rev[LEDGER_MAX_REPLICAS] = {0};
    uint8_t id[33];
    memcpy(id, t->id, 32);
    for (int i = 0; i < t->p.replicas; i++) {
        if (!(t->revealed >> i & 1)) continue;
        id[32] = (uint8_t)i;
        const srec *r = txn_peek(x, TAG_LABELS, id);
        if (!r || t->slots[i].status != LEDGER_SLOT_COMMITTED)
            return plow_error(err, "inconsistent state: slot %d of task %s revealed no labels", i, hx(t->id).s);
        rev[i] = &r->v.l;
    }
    const ledger_gold *gold = NULL;
    if (t->gold_revealed) {
        const srec *r = txn_peek(x, TAG_GOLD, t->id);
        if (!r) return plow_error(err, "inconsistent state: task %s revealed no gold", hx(t->id).s);
        gold = &r->v.g;
    }
    ledger_label_outcome o;
    char e[PLOW_ERR_LEN];
    if (ledger_label_aggregate(t, rev, gold, &o, e) != 0)
        return plow_error(err, "inconsistent state: task %s: %s", hx(t->id).s, e);
    int rc = -1;
    for (int i = 0; i < t->p.replicas; i++) {
        ledger_slot *sl = &t->slots[i];
        if (sl->status == LEDGER_SLOT_CLAIMED || (sl->status == LEDGER_SLOT_COMMITTED && !rev[i])) {
            if (forfeit_slot(x, t, sl, err) != 0) goto out;
        } else if (sl->status == LEDGER_SLOT_COMMITTED && o.flagged[i]) {
            sl->status = LEDGER_SLOT_SLASHED;
            if (slash(x, sl->worker, t->p.worker_stake, t->requester, x->s->g.params.slash_challenger_pct, err) != 0)
                goto out;
        } else if (sl->status == LEDGER_SLOT_COMMITTED) {
            if (unlock_stake(get_account(x, sl->worker), t->p.worker_stake, err) != 0 ||
                pay_slot(x, t, sl, o.pay[i], err) != 0)
                goto out;
            t->paid[i] = o.pay[i];
            sl->status = o.pay[i] ? LEDGER_SLOT_PAID : LEDGER_SLOT_UNPAID;
        }
    }
    memcpy(t->result, o.result, 32);
    if (refund_escrow(x, t, err) != 0) goto out;
    t->status = LEDGER_TASK_FINALIZED;
    rc = 0;
out:
    ledger_label_outcome_release(&o);
    return rc;
}

static int body_finalize(txn *x, const ledger_tx *tx, const uint8_t hash[32], char err[PLOW_ERR_LEN]) {
    (void)hash;
    ledger_state *s = x->s;
    uint64_t h = s->height;
    ledger_task *t = task_or_fail(x, tx->u.ref.task, "finalize", err);
    if (!t) return -1;
    if (t->p.kind == LEDGER_KIND_ROUND) return finalize_round(x, t, err);
    if (t->p.kind == LEDGER_KIND_LABEL) return finalize_label(x, t, err);
    int committed = 0;
    for (int i = 0; i < t->p.replicas; i++) committed += t->slots[i].status == LEDGER_SLOT_COMMITTED;
    switch (t->status) {
    case LEDGER_TASK_OPEN:
    case LEDGER_TASK_CLAIMED:
        if (committed == 0) return plow_error(err, "finalize: nothing to finalize: no slot committed; send expire");
        return plow_error(err, "finalize: task %s has %d of %u slots committed; send expire after height %" PRIu64,
                          hx(t->id).s, committed, t->p.replicas,
                          sat_add(sat_add(t->posted_at, t->p.claim_blocks), t->p.work_blocks));
    case LEDGER_TASK_FINALIZED:
    case LEDGER_TASK_EXPIRED:
        return plow_error(err, "finalize: task %s is %s already", hx(t->id).s, ledger_task_status_name(t->status));
    }
    if (h <= t->window_end) return plow_error(err, "finalize: challenge window open until %" PRIu64, t->window_end);
    /* Challenges the referee let pass their deadline expire: bonds back. */
    if (expire_challenges(x, t, err) != 0) return -1;
    /* The unslashed results agree (trivially so for one): each is paid.
     * Otherwise nobody proved who is wrong: nobody is paid. */
    const ledger_slot *first = NULL;
    bool agree = true;
    for (int i = 0; i < t->p.replicas; i++) {
        const ledger_slot *sl = &t->slots[i];
        if (sl->status != LEDGER_SLOT_COMMITTED) continue;
        if (!first) first = sl;
        else if (!eq32(sl->final_state, first->final_state) || !eq32(sl->artifact, first->artifact)) agree = false;
    }
    for (int i = 0; i < t->p.replicas; i++) {
        ledger_slot *sl = &t->slots[i];
        if (sl->status != LEDGER_SLOT_COMMITTED) continue; /* slashed: its reward goes back */
        ledger_account *w = get_account(x, sl->worker);
        if (unlock_stake(w, t->p.worker_stake, err) != 0) return -1;
        if (agree) {
            if (t->escrow < t->p.reward)
                return plow_error(err, "inconsistent state: task %s escrow is short", hx(t->id).s);
            t->escrow -= t->p.reward;
            if (credit(w, t->p.reward, err) != 0) return -1;
            sl->status = LEDGER_SLOT_PAID;
        } else {
            sl->status = LEDGER_SLOT_UNPAID;
        }
    }
    if (refund_escrow(x, t, err) != 0) return -1;
    t->status = LEDGER_TASK_FINALIZED;
    return 0;
}

static int body_expire(txn *x, const ledger_tx *tx, const uint8_t hash[32], char err[PLOW_ERR_LEN]) {
    (void)hash;
    ledger_state *s = x->s;
    ledger_task *t = task_or_fail(x, tx->u.ref.task, "expire", err);
    if (!t) return -1;
    if (t->status == LEDGER_TASK_FINALIZED || t->status == LEDGER_TASK_EXPIRED)
        return plow_error(err, "expire: task %s is %s already", hx(t->id).s, ledger_task_status_name(t->status));
    if (t->status != LEDGER_TASK_OPEN && t->status != LEDGER_TASK_CLAIMED)
        return plow_error(err, "expire: task %s is %s: every slot committed; send finalize", hx(t->id).s,
                          ledger_task_status_name(t->status));
    if (t->p.kind == LEDGER_KIND_ROUND || t->p.kind == LEDGER_KIND_LABEL) {
        /* these settle without the missing slots: what was committed is paid */
        for (int i = 0; i < t->p.replicas; i++)
            if (t->slots[i].status == LEDGER_SLOT_COMMITTED || t->slots[i].status == LEDGER_SLOT_SLASHED)
                return plow_error(err, "expire: task %s has committed slots; send finalize", hx(t->id).s);
    }
    uint64_t until = sat_add(sat_add(t->posted_at, t->p.claim_blocks), t->p.work_blocks);
    if (s->height <= until) return plow_error(err, "expire: task can still be committed until %" PRIu64, until);
    for (int i = 0; i < t->p.replicas; i++) {
        ledger_slot *sl = &t->slots[i];
        if (sl->status == LEDGER_SLOT_CLAIMED) {
            sl->status = LEDGER_SLOT_FORFEITED;
            if (slash(x, sl->worker, t->p.worker_stake, t->requester, s->g.params.slash_challenger_pct, err) != 0)
                return -1;
        } else if (sl->status == LEDGER_SLOT_COMMITTED) {
            sl->status = LEDGER_SLOT_UNPAID;
            if (unlock_stake(get_account(x, sl->worker), t->p.worker_stake, err) != 0) return -1;
        }
    }
    if (refund_escrow(x, t, err) != 0) return -1;
    t->status = LEDGER_TASK_EXPIRED;
    return 0;
}

static int body_label_reveal(txn *x, const ledger_tx *tx, const uint8_t hash[32], char err[PLOW_ERR_LEN]) {
    (void)hash;
    uint64_t h = x->s->height;
    const __typeof__(tx->u.reveal) *rv = &tx->u.reveal;
    ledger_task *t = task_or_fail(x, rv->task, "label_reveal", err);
    if (!t) return -1;
    if (t->p.kind != LEDGER_KIND_LABEL)
        return plow_error(err, "label_reveal: task %s is a %s task, not a label task", hx(t->id).s,
                          ledger_kind_name(t->p.kind));
    int i = slot_of(t, tx->sender);
    if (i < 0) return plow_error(err, "label_reveal: the sender holds no slot of task %s", hx(t->id).s);
    ledger_slot *sl = &t->slots[i];
    if (sl->status != LEDGER_SLOT_COMMITTED)
        return plow_error(err, "label_reveal: the sender's slot of task %s is %s, not committed", hx(t->id).s,
                          ledger_slot_status_name(sl->status));
    if (t->revealed >> i & 1) return plow_error(err, "label_reveal: slot %d of task %s revealed already", i, hx(t->id).s);
    uint64_t from = ledger_label_reveal_from(t);
    if (h < from)
        return plow_error(err, "label_reveal: slots can still commit until %" PRIu64 ": reveal after that", from - 1);
    if (h > t->window_end) return plow_error(err, "label_reveal: reveal window closed at %" PRIu64, t->window_end);
    uint64_t want = ledger_label_slot_count(t->p.steps, t->p.replicas, t->p.redundancy, (uint32_t)i);
    if (rv->count != want || rv->count > LEDGER_LABELS_MAX)
        return plow_error(err, "label_reveal: %u labels, slot %d labels %" PRIu64 " items", rv->count, i, want);
    for (uint32_t k = 0; k < rv->count; k++)
        if (rv->labels[k] >= t->p.n_classes)
            return plow_error(err, "label_reveal: label %u (the slot's item %u) is out of range (%u classes)",
                              rv->labels[k], k, t->p.n_classes);
    uint8_t c[32];
    ledger_label_commitment(t->id, tx->sender, rv->labels, rv->count, rv->salt, c);
    if (!eq32(c, sl->trace_root))
        return plow_error(err, "label_reveal: the labels and salt do not open the slot's commitment");
    uint8_t id[33];
    memcpy(id, t->id, 32);
    id[32] = (uint8_t)i;
    if (txn_peek(x, TAG_LABELS, id))
        return plow_error(err, "inconsistent state: slot %d of task %s has labels already", i, hx(t->id).s);
    ledger_labels *l = &txn_new(x, TAG_LABELS, id)->v.l;
    l->count = rv->count;
    memcpy(l->labels, rv->labels, rv->count);
    t->revealed |= (uint8_t)(1u << i);
    return 0;
}

static int body_gold_reveal(txn *x, const ledger_tx *tx, const uint8_t hash[32], char err[PLOW_ERR_LEN]) {
    (void)hash;
    uint64_t h = x->s->height;
    const __typeof__(tx->u.gold) *g = &tx->u.gold;
    ledger_task *t = task_or_fail(x, g->task, "gold_reveal", err);
    if (!t) return -1;
    if (t->p.kind != LEDGER_KIND_LABEL)
        return plow_error(err, "gold_reveal: task %s is a %s task, not a label task", hx(t->id).s,
                          ledger_kind_name(t->p.kind));
    if (!eq32(tx->sender, t->requester))
        return plow_error(err, "gold_reveal: only the requester reveals the gold of task %s", hx(t->id).s);
    if (t->status == LEDGER_TASK_FINALIZED || t->status == LEDGER_TASK_EXPIRED)
        return plow_error(err, "gold_reveal: task %s is %s already", hx(t->id).s, ledger_task_status_name(t->status));
    if (t->window_end == 0) return plow_error(err, "gold_reveal: nothing committed to task %s yet", hx(t->id).s);
    if (h <= t->window_end)
        return plow_error(err, "gold_reveal: the labelers may reveal until %" PRIu64 ": reveal the gold after that",
                          t->window_end);
    uint64_t until = sat_add(t->window_end, t->p.window_blocks);
    if (h > until) return plow_error(err, "gold_reveal: the gold deadline passed at %" PRIu64, until);
    if (t->gold_revealed) return plow_error(err, "gold_reveal: the gold of task %s is revealed already", hx(t->id).s);
    if (g->count > LEDGER_GOLD_MAX)
        return plow_error(err, "gold_reveal: %u gold items, more than %d", g->count, LEDGER_GOLD_MAX);
    for (uint32_t k = 0; k < g->count; k++) {
        if (g->items[k] >= t->p.steps)
            return plow_error(err, "gold_reveal: gold item %u is out of range (%" PRIu64 " items)", g->items[k],
                              t->p.steps);
        if (k > 0 && g->items[k] <= g->items[k - 1])
            return plow_error(err, "gold_reveal: gold items must be strictly increasing: %u after %u", g->items[k],
                              g->items[k - 1]);
        if (g->labels[k] >= t->p.n_classes)
            return plow_error(err, "gold_reveal: gold label %u of item %u is out of range (%u classes)", g->labels[k],
                              g->items[k], t->p.n_classes);
    }
    uint8_t c[32];
    ledger_gold_commitment(g->salt, g->count, g->items, g->labels, c);
    if (!eq32(c, t->p.gold_commit))
        return plow_error(err, "gold_reveal: the gold does not match the task's gold commitment");
    if (txn_peek(x, TAG_GOLD, t->id))
        return plow_error(err, "inconsistent state: task %s has a gold record already", hx(t->id).s);
    ledger_gold *r = &txn_new(x, TAG_GOLD, t->id)->v.g;
    r->count = g->count;
    memcpy(r->items, g->items, g->count * sizeof *g->items);
    memcpy(r->labels, g->labels, g->count);
    t->gold_revealed = 1;
    return 0;
}

static const body_fn bodies[] = {
    [LEDGER_TX_TRANSFER] = body_transfer, [LEDGER_TX_STAKE] = body_stake,         [LEDGER_TX_UNSTAKE] = body_unstake,
    [LEDGER_TX_REGISTER] = body_register, [LEDGER_TX_POST_TASK] = body_post_task, [LEDGER_TX_CLAIM] = body_claim,
    [LEDGER_TX_COMMIT] = body_commit,     [LEDGER_TX_CHALLENGE] = body_challenge, [LEDGER_TX_VERDICT] = body_verdict,
    [LEDGER_TX_FINALIZE] = body_finalize, [LEDGER_TX_EXPIRE] = body_expire,
    [LEDGER_TX_LABEL_REVEAL] = body_label_reveal, [LEDGER_TX_GOLD_REVEAL] = body_gold_reveal,
};
_Static_assert(sizeof bodies / sizeof bodies[0] == LEDGER_TX_TYPE_END, "a body per transaction type");

/* ---- blocks and transactions ------------------------------------------------------------ */

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
 * labels, meta, tasks. A chain without LABEL tasks has no gold or labels
 * records, so its roots are what they were before those records existed. */
void ledger_state_root(ledger_state *s, uint8_t root[32]) {
    if (!s->root_ok) {
        static const char domain[] = STATE_ROOT_DOMAIN;
        plow_sha256 *sha = plow_sha256_new();
        plow_sha256_update(sha, domain, sizeof domain);
        hash_records(sha, &s->accounts);
        hash_records(sha, &s->challenges);
        hash_records(sha, &s->gold);
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

/* ---- lookups ---------------------------------------------------------------------------- */

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

/* ---- persistence -------------------------------------------------------------------------- */

typedef void (*record_fn)(const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen, void *arg);

static void each_dirty_in(const table *t, record_fn fn, void *arg) {
    uint8_t key[1 + ID_MAX_LEN], buf[VALUE_MAX_LEN];
    key[0] = t->tag;
    for (size_t i = 0; i < t->n; i++) {
        const srec *r = t->r[i];
        if (!r->dirty) continue;
        memcpy(key + 1, rec_id(t->tag, r), t->idlen);
        fn(key, 1 + t->idlen, buf, encode_value(t->tag, r, buf), arg);
    }
}

void ledger_each_dirty(const ledger_state *s, record_fn fn, void *arg) {
    each_dirty_in(&s->accounts, fn, arg);
    each_dirty_in(&s->challenges, fn, arg);
    each_dirty_in(&s->gold, fn, arg);
    each_dirty_in(&s->labels, fn, arg);
    if (s->meta_dirty) {
        uint8_t key = TAG_META, buf[META_LEN];
        fn(&key, 1, buf, encode_meta(s, buf), arg);
    }
    each_dirty_in(&s->tasks, fn, arg);
}

void ledger_clear_dirty(ledger_state *s) {
    table *ts[] = {&s->accounts, &s->challenges, &s->tasks, &s->gold, &s->labels};
    for (size_t k = 0; k < 5; k++)
        for (size_t i = 0; i < ts[k]->n; i++) ts[k]->r[i]->dirty = false;
    s->meta_dirty = false;
}

/* Inserts or replaces one stored record. The record is not dirty (it is
 * what the store holds); the root is recomputed on the next request. */
int ledger_load_record(ledger_state *s, const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen,
                       char err[PLOW_ERR_LEN]) {
    if (klen == 0) return plow_error(err, "state record with an empty key");
    uint8_t tag = key[0];
    if (tag == TAG_META) {
        if (klen != 1) return plow_error(err, "meta record key of %zu bytes, 1 expected", klen);
        if (vlen != META_LEN) return plow_error(err, "meta record of %zu bytes, %d expected", vlen, META_LEN);
        s->height = plow_get_u64(val);
        s->time_ms = plow_get_u64(val + 8);
        s->burned = plow_get_u64(val + 16);
        s->in_block = false;
        meta_changed(s);
        s->meta_dirty = false;
        return 0;
    }
    if (tag != TAG_ACCOUNT && tag != TAG_TASK && tag != TAG_CHALLENGE && tag != TAG_GOLD && tag != TAG_LABELS)
        return plow_error(err, "state record with unknown tag 0x%02x", tag);
    if (klen != 1 + id_len(tag))
        return plow_error(err, "'%c' record key of %zu bytes, %zu expected", tag, klen, 1 + id_len(tag));
    if (tag == TAG_LABELS && key[33] >= LEDGER_MAX_REPLICAS)
        return plow_error(err, "labels record of slot %u (at most %d slots)", key[33], LEDGER_MAX_REPLICAS);
    srec v;
    memset(&v, 0, sizeof v);
    int rc;
    switch (tag) {
    case TAG_ACCOUNT: rc = decode_account(&v.v.a, val, vlen, err); break;
    case TAG_TASK: rc = decode_task(&v.v.t, val, vlen, err); break;
    case TAG_CHALLENGE: rc = decode_challenge(&v.v.c, val, vlen, err); break;
    case TAG_GOLD: rc = decode_gold(&v.v.g, val, vlen, err); break;
    default: rc = decode_labels(&v.v.l, val, vlen, err); break;
    }
    if (rc != 0) return -1;
    switch (tag) {
    case TAG_ACCOUNT: memcpy(v.v.a.pk, key + 1, 32); break;
    case TAG_TASK: memcpy(v.v.t.id, key + 1, 32); break;
    case TAG_CHALLENGE: memcpy(v.v.c.id, key + 1, 32); break;
    case TAG_GOLD: memcpy(v.v.g.task, key + 1, 32); break;
    case TAG_LABELS:
        memcpy(v.v.l.task, key + 1, 32);
        v.v.l.slot = key[33];
        break;
    }
    table *t = table_of(s, tag);
    srec *r = table_find(t, key + 1, NULL);
    if (r) val_copy(tag, r, &v);
    else r = table_add(t, &v);
    r->stale = true;
    r->dirty = false;
    if (tag == TAG_CHALLENGE) open_index_update(s, r);
    s->root_ok = false;
    return 0;
}
