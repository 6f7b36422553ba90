/*
 * record.c — the canonical encodings of the state's records (docs/ledger.md,
 * "Records"): what the state root hashes and what the node stores, and
 * the persistence calls that hand them to the store and load them back.
 * Decoders check every length and range: a stored record is input.
 */
#include "../base/plow.h"

#include <inttypes.h>

#include "ledger_internal.h"

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
        w_bytes(&w, sl->commitment, 32);
        w_u64(&w, sl->revealed_at);
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
    w_u8(&w, c->kind);
    return w.n;
}

static size_t encode_channel(const ledger_channel *h, uint8_t *out) {
    wr w = {out, 0};
    w_bytes(&w, h->client, 32);
    w_bytes(&w, h->worker, 32);
    w_u64(&w, h->deposit);
    w_u64(&w, h->redeemed);
    w_u32(&w, h->dispute_blocks);
    w_u8(&w, h->status);
    w_u64(&w, h->opened_at);
    w_u64(&w, h->close_at);
    return w.n;
}

size_t encode_meta(const ledger_state *s, uint8_t *out) {
    wr w = {out, 0};
    w_u64(&w, s->height);
    w_u64(&w, s->time_ms);
    w_u64(&w, s->burned);
    return w.n;
}

size_t encode_value(uint8_t tag, const srec *r, uint8_t *out) {
    size_t n = 0;
    switch (tag) {
    case TAG_ACCOUNT: n = encode_account(&r->v.a, out); break;
    case TAG_TASK: n = encode_task(&r->v.t, out); break;
    case TAG_CHALLENGE: n = encode_challenge(&r->v.c, out); break;
    case TAG_GOLD: n = encode_gold(&r->v.g, out); break;
    case TAG_LABELS: n = encode_labels(&r->v.l, out); break;
    case TAG_CHANNEL: n = encode_channel(&r->v.h, out); break;
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
        r_bytes(&r, sl->commitment, 32);
        sl->revealed_at = r_u64(&r);
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
    c->kind = r_u8(&r);
    if (c->kind >= LEDGER_CHK_END) return plow_error(err, "challenge record: unknown kind %u", c->kind);
    if (ho > 1) return plow_error(err, "challenge record: has_other is %u, must be 0 or 1", ho);
    c->has_other = ho == 1;
    if (!c->has_other && !is_zero(c->other, 32))
        return plow_error(err, "challenge record: an other worker without has_other");
    if (c->status < LEDGER_CH_OPEN || c->status >= LEDGER_CH_STATUS_END)
        return plow_error(err, "challenge record: unknown status %u", c->status);
    return 0;
}

static int decode_channel(ledger_channel *h, const uint8_t *val, size_t len, char err[PLOW_ERR_LEN]) {
    if (len != CHANNEL_LEN) return plow_error(err, "channel record of %zu bytes, %d expected", len, CHANNEL_LEN);
    rd r = {val, 0};
    r_bytes(&r, h->client, 32);
    r_bytes(&r, h->worker, 32);
    h->deposit = r_u64(&r);
    h->redeemed = r_u64(&r);
    h->dispute_blocks = r_u32(&r);
    h->status = r_u8(&r);
    h->opened_at = r_u64(&r);
    h->close_at = r_u64(&r);
    if (h->status < LEDGER_CHAN_OPEN || h->status >= LEDGER_CHAN_STATUS_END)
        return plow_error(err, "channel record: unknown status %u", h->status);
    if (h->redeemed > h->deposit) return plow_error(err, "channel record: redeemed more than the deposit");
    return 0;
}

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
    each_dirty_in(&s->channels, fn, arg);
    each_dirty_in(&s->labels, fn, arg);
    if (s->meta_dirty) {
        uint8_t key = TAG_META, buf[META_LEN];
        fn(&key, 1, buf, encode_meta(s, buf), arg);
    }
    each_dirty_in(&s->tasks, fn, arg);
}

void ledger_clear_dirty(ledger_state *s) {
    table *ts[] = {&s->accounts, &s->challenges, &s->tasks, &s->gold, &s->labels, &s->channels};
    for (size_t k = 0; k < 6; k++)
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
    if (tag != TAG_ACCOUNT && tag != TAG_TASK && tag != TAG_CHALLENGE && tag != TAG_GOLD && tag != TAG_LABELS &&
        tag != TAG_CHANNEL)
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
    case TAG_CHANNEL: rc = decode_channel(&v.v.h, val, vlen, err); break;
    default: rc = decode_labels(&v.v.l, val, vlen, err); break;
    }
    if (rc != 0) return -1;
    switch (tag) {
    case TAG_ACCOUNT: memcpy(v.v.a.pk, key + 1, 32); break;
    case TAG_TASK: memcpy(v.v.t.id, key + 1, 32); break;
    case TAG_CHALLENGE: memcpy(v.v.c.id, key + 1, 32); break;
    case TAG_GOLD: memcpy(v.v.g.task, key + 1, 32); break;
    case TAG_CHANNEL: memcpy(v.v.h.id, key + 1, 32); break;
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
