/*
 * table.c — the state's record tables: sorted arrays of individually
 * allocated records keyed by id (binary search, key-order iteration,
 * pointers stable as a table grows: records are never deleted), and the
 * index of OPEN challenges derived from them.
 */
#include "../base/plow.h"

#include <inttypes.h>

#include "ledger_internal.h"

const uint8_t *rec_id(uint8_t tag, const srec *r) {
    switch (tag) {
    case TAG_ACCOUNT: return r->v.a.pk;
    case TAG_TASK: return r->v.t.id;
    case TAG_CHALLENGE: return r->v.c.id;
    case TAG_GOLD: return r->v.g.task;
    case TAG_LABELS: return r->v.l.task; /* task id, then the slot byte */
    case TAG_CHANNEL: return r->v.h.id;
    }
    PLOW_ASSERT(!"unknown record tag");
    return NULL;
}

size_t id_len(uint8_t tag) { return tag == TAG_LABELS ? 33 : 32; }

/* Records are allocated at the size of their own kind (an account is less
 * than half a task), so only these two may copy a record's value. */
size_t val_size(uint8_t tag) {
    switch (tag) {
    case TAG_ACCOUNT: return sizeof(ledger_account);
    case TAG_TASK: return sizeof(ledger_task);
    case TAG_CHALLENGE: return sizeof(ledger_challenge);
    case TAG_GOLD: return sizeof(ledger_gold);
    case TAG_LABELS: return sizeof(ledger_labels);
    case TAG_CHANNEL: return sizeof(ledger_channel);
    }
    PLOW_ASSERT(!"unknown record tag");
    return 0;
}

void val_copy(uint8_t tag, srec *dst, const srec *src) { memcpy(&dst->v, &src->v, val_size(tag)); }

table *table_of(ledger_state *s, uint8_t tag) {
    switch (tag) {
    case TAG_ACCOUNT: return &s->accounts;
    case TAG_TASK: return &s->tasks;
    case TAG_CHALLENGE: return &s->challenges;
    case TAG_GOLD: return &s->gold;
    case TAG_LABELS: return &s->labels;
    case TAG_CHANNEL: return &s->channels;
    }
    PLOW_ASSERT(!"unknown record tag");
    return NULL;
}

/* Binary search: the record with this id (idlen bytes), or NULL and *pos
 * where it belongs. */
srec *table_find(const table *t, const uint8_t *id, size_t *pos) {
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
srec *table_add(table *t, const srec *val) {
    size_t pos;
    PLOW_ASSERT(!table_find(t, rec_id(t->tag, val), &pos));
    srec *r = plow_calloc(1, offsetof(srec, v) + val_size(t->tag));
    val_copy(t->tag, r, val);
    r->stale = r->dirty = true;
    table_insert(t, pos, r);
    return r;
}

void table_free(table *t) {
    for (size_t i = 0; i < t->n; i++) free(t->r[i]);
    free(t->r);
}

/* Keeps s->open (the OPEN challenges, by id) in step with record r. */
void open_index_update(ledger_state *s, srec *r) {
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

void meta_changed(ledger_state *s) {
    s->meta_stale = s->meta_dirty = true;
    s->root_ok = false;
}
