/*
 * overlay.c — a transaction's private view of the state: handlers take
 * copies of the records they read-modify-write (txn_get), may fail at any
 * point, and only txn_commit writes them back, so "a failed transaction
 * changes nothing but fee and nonce" is structural. Also the checked money
 * movements every rule uses (credit, burn, slash, unlock, refund).
 */
#include "../base/plow.h"

#include <inttypes.h>

#include "ledger_internal.h"

void txn_begin(txn *x, ledger_state *s) {
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
const srec *txn_peek(txn *x, uint8_t tag, const uint8_t *id) {
    pend *p = txn_find(x, tag, id);
    if (p) return &p->val;
    return table_find(table_of(x->s, tag), id, NULL);
}

/* The transaction's private copy of a record, or NULL if there is none. */
srec *txn_get(txn *x, uint8_t tag, const uint8_t *id) {
    pend *p = txn_find(x, tag, id);
    if (p) return &p->val;
    srec *orig = table_find(table_of(x->s, tag), id, NULL);
    return orig ? &txn_push(x, tag, orig)->val : NULL;
}

/* A new record (the caller checked there is none with this id). */
srec *txn_new(txn *x, uint8_t tag, const uint8_t *id) {
    PLOW_ASSERT(!txn_peek(x, tag, id));
    srec *r = &txn_push(x, tag, NULL)->val;
    switch (tag) {
    case TAG_ACCOUNT: memcpy(r->v.a.pk, id, 32); break;
    case TAG_TASK: memcpy(r->v.t.id, id, 32); break;
    case TAG_CHALLENGE: memcpy(r->v.c.id, id, 32); break;
    case TAG_GOLD: memcpy(r->v.g.task, id, 32); break;
    case TAG_CHANNEL: memcpy(r->v.h.id, id, 32); break;
    case TAG_LABELS:
        memcpy(r->v.l.task, id, 32);
        r->v.l.slot = id[32];
        break;
    }
    return r;
}

const ledger_account *peek_account(txn *x, const uint8_t pk[32]) {
    const srec *r = txn_peek(x, TAG_ACCOUNT, pk);
    return r ? &r->v.a : NULL;
}

/* An account to change, created (all zero) if it does not exist. Only call
 * it for an account about to change: a created account enters the root. */
ledger_account *get_account(txn *x, const uint8_t pk[32]) {
    srec *r = txn_get(x, TAG_ACCOUNT, pk);
    if (!r) r = txn_new(x, TAG_ACCOUNT, pk);
    return &r->v.a;
}

ledger_task *get_task(txn *x, const uint8_t id[32]) {
    srec *r = txn_get(x, TAG_TASK, id);
    return r ? &r->v.t : NULL;
}

ledger_challenge *get_challenge(txn *x, const uint8_t id[32]) {
    srec *r = txn_get(x, TAG_CHALLENGE, id);
    return r ? &r->v.c : NULL;
}

/* Writes the overlay back: the transaction's only way to change the state. */
void txn_commit(txn *x) {
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

void txn_discard(txn *x) { x->s->n_pool = 0; }

int credit(ledger_account *a, uint64_t amount, char err[PLOW_ERR_LEN]) {
    if (!plow_add_u64(a->balance, amount, &a->balance))
        return plow_error(err, "the balance of %s would overflow", hx(a->pk).s);
    return 0;
}

int burn(txn *x, uint64_t amount, char err[PLOW_ERR_LEN]) {
    if (!plow_add_u64(x->burned, amount, &x->burned)) return plow_error(err, "the burned total would overflow");
    return 0;
}

/* Releases a worker's locked stake (the stake stays its own). */
int unlock_stake(ledger_account *w, uint64_t amount, char err[PLOW_ERR_LEN]) {
    if (w->locked < amount)
        return plow_error(err, "inconsistent state: %s has %" PRIu64 " locked, %" PRIu64 " to unlock", hx(w->pk).s,
                          w->locked, amount);
    w->locked -= amount;
    return 0;
}

/* Takes `amount` of locked stake from worker w: pct% to `to`, the rest
 * burned (share = floor(amount * pct / 100), burn = amount - share). */
int slash(txn *x, const uint8_t worker[32], uint64_t amount, const uint8_t to[32], uint32_t pct,
                 char err[PLOW_ERR_LEN]) {
    ledger_account *w = get_account(x, worker);
    if (unlock_stake(w, amount, err) != 0) return -1;
    if (w->stake < amount) return plow_error(err, "inconsistent state: %s has less stake than it locked", hx(worker).s);
    w->stake -= amount;
    uint64_t share = pct_of(amount, pct);
    if (credit(get_account(x, to), share, err) != 0) return -1;
    return burn(x, amount - share, err);
}

/* Takes `amount` of locked stake from worker w and burns all of it: a
 * stake lost on a task never goes to its poster, who could otherwise profit
 * from work its own spec made impossible (issue 17; docs/ledger.md, Y). */
int burn_stake(txn *x, const uint8_t worker[32], uint64_t amount, char err[PLOW_ERR_LEN]) {
    ledger_account *w = get_account(x, worker);
    if (unlock_stake(w, amount, err) != 0) return -1;
    if (w->stake < amount) return plow_error(err, "inconsistent state: %s has less stake than it locked", hx(worker).s);
    w->stake -= amount;
    return burn(x, amount, err);
}

/* Moves the whole remaining escrow of t back to its requester. */
int refund_escrow(txn *x, ledger_task *t, char err[PLOW_ERR_LEN]) {
    uint64_t e = t->escrow;
    t->escrow = 0;
    return e ? credit(get_account(x, t->requester), e, err) : 0;
}

/* The sender's unbonding becomes balance once unbond_at has arrived. */
int mature(ledger_account *a, uint64_t height, char err[PLOW_ERR_LEN]) {
    if (a->unbonding == 0 || a->unbond_at > height) return 0;
    if (credit(a, a->unbonding, err) != 0) return -1;
    a->unbonding = 0;
    a->unbond_at = 0;
    return 0;
}
