/*
 * rules.c — the envelope every transaction passes (signature, nonce, fee)
 * and the bodies of the account and task-lifecycle transactions: transfer,
 * stake, unstake, register, post_task, claim, commit, expire (docs/ledger.md,
 * one table row per check; the code follows the table).
 */
#include "../base/plow.h"

#include <inttypes.h>

#include "ledger_internal.h"

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

int envelope(txn *x, const ledger_tx *tx, bool sig_checked, char err[PLOW_ERR_LEN]) {
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

int body_transfer(txn *x, const ledger_tx *tx, const uint8_t hash[32], char err[PLOW_ERR_LEN]) {
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

int body_stake(txn *x, const ledger_tx *tx, const uint8_t hash[32], char err[PLOW_ERR_LEN]) {
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

int body_unstake(txn *x, const ledger_tx *tx, const uint8_t hash[32], char err[PLOW_ERR_LEN]) {
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

int body_register(txn *x, const ledger_tx *tx, const uint8_t hash[32], char err[PLOW_ERR_LEN]) {
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

int body_post_task(txn *x, const ledger_tx *tx, const uint8_t hash[32], char err[PLOW_ERR_LEN]) {
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
    if (p->kind != LEDGER_KIND_LABEL && p->kind != LEDGER_KIND_INFER && p->steps >= LEDGER_LEAVES_MAX)
        return plow_error(err, "post_task: %" PRIu64 " steps: a reveal carries at most %d leaves (%d steps)", p->steps,
                          LEDGER_LEAVES_MAX, LEDGER_LEAVES_MAX - 1);
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

ledger_task *task_or_fail(txn *x, const uint8_t id[32], const char *what, char err[PLOW_ERR_LEN]) {
    ledger_task *t = get_task(x, id);
    if (!t) plow_error(err, "%s: no task %s", what, hx(id).s);
    return t;
}

/* The index of `worker`'s slot in t, or -1. */
int slot_of(const ledger_task *t, const uint8_t worker[32]) {
    for (int i = 0; i < t->p.replicas; i++)
        if (t->slots[i].status != LEDGER_SLOT_EMPTY && eq32(t->slots[i].worker, worker)) return i;
    return -1;
}

int body_claim(txn *x, const ledger_tx *tx, const uint8_t hash[32], char err[PLOW_ERR_LEN]) {
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

int body_commit(txn *x, const ledger_tx *tx, const uint8_t hash[32], char err[PLOW_ERR_LEN]) {
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
        memcpy(sl->trace_root, tx->u.commit.trace_root, 32);
        sl->n = tx->u.commit.n;
    } else {
        /* sealed (C9): only the commitment; the values come with the reveal */
        if (tx->u.commit.n != t->p.steps)
            return plow_error(err, "commit: n is %" PRIu64 ", the task has %" PRIu64 " steps", tx->u.commit.n,
                              t->p.steps);
        if (!is_zero(tx->u.commit.final_state, 32) || !is_zero(tx->u.commit.artifact, 32) ||
            !is_zero(tx->u.commit.manifest, 32) || tx->u.commit.checkpoint_every != 0)
            return plow_error(err, "commit: a sealed commitment is trace_root (the commitment) and n only: "
                                   "final_state, artifact, manifest and checkpoint_every must be zero (they come "
                                   "with the reveal)");
        if (is_zero(tx->u.commit.trace_root, 32)) return plow_error(err, "commit: the commitment is zero");
        memcpy(sl->commitment, tx->u.commit.trace_root, 32);
    }
    sl->status = LEDGER_SLOT_COMMITTED;
    sl->committed_at = h;
    bool all = true;
    for (int k = 0; k < t->p.replicas; k++) all &= t->slots[k].status == LEDGER_SLOT_COMMITTED;
    uint64_t wb = t->p.window_blocks;
    if (t->p.kind == LEDGER_KIND_ROUND) {
        /* Each slot stands alone, but reveals wait for every commit that can
         * still come: the last slot's, or the close of commits. */
        uint64_t from = all ? h : sat_add(label_commits_close(t), 1);
        t->window_end = sat_add(sat_add(from, wb), wb);
        if (all) t->status = t->open_challenges ? LEDGER_TASK_CHALLENGED : LEDGER_TASK_COMMITTED;
        return 0;
    }
    if (t->p.kind == LEDGER_KIND_LABEL && t->window_end == 0) {
        /* Until every slot commits, reveals wait for the last height any slot
         * could commit; the reveal window runs window_blocks after it. */
        t->window_end = sat_add(label_commits_close(t), wb);
    }
    if (!all) return 0;
    t->status = LEDGER_TASK_COMMITTED;
    /* LABEL: reveals until window_end. Sealed: reveals for window_blocks,
     * then window_blocks of challenges. */
    t->window_end = t->p.kind == LEDGER_KIND_LABEL ? sat_add(h, wb) : sat_add(sat_add(h, wb), wb);
    return 0;
}

bool ledger_sealed(const ledger_task *t) { return t->p.kind != LEDGER_KIND_LABEL; }

bool slot_revealed(const ledger_task *t, const ledger_slot *sl) {
    return sl->status == LEDGER_SLOT_COMMITTED && (!ledger_sealed(t) || sl->revealed_at != 0);
}

uint64_t ledger_reveal_from(const ledger_task *t) {
    uint64_t last = 0;
    int n = t->p.replicas <= LEDGER_MAX_REPLICAS ? t->p.replicas : LEDGER_MAX_REPLICAS;
    for (int k = 0; k < n; k++) {
        if (t->slots[k].status != LEDGER_SLOT_COMMITTED && t->slots[k].status != LEDGER_SLOT_SLASHED)
            return t->p.kind == LEDGER_KIND_ROUND ? sat_add(label_commits_close(t), 1) : UINT64_MAX;
        if (t->slots[k].committed_at > last) last = t->slots[k].committed_at;
    }
    return last;
}

uint64_t ledger_reveal_until(const ledger_task *t) {
    if (t->window_end == 0) return 0; /* nothing committed yet */
    return t->window_end >= t->p.window_blocks ? t->window_end - t->p.window_blocks : 0;
}

/* REVEAL (rows RV1-RV9): opens the sender's sealed commitment with its
 * values, salt and every leaf of its trace. */
int body_reveal(txn *x, const ledger_tx *tx, const uint8_t hash[32], char err[PLOW_ERR_LEN]) {
    (void)hash;
    uint64_t h = x->s->height;
    const __typeof__(tx->u.open) *o = &tx->u.open;
    ledger_task *t = task_or_fail(x, o->task, "reveal", err);
    if (!t) return -1;
    if (!ledger_sealed(t)) return plow_error(err, "reveal: a label task reveals with label_reveal");
    int i = slot_of(t, tx->sender);
    if (i < 0) return plow_error(err, "reveal: the sender holds no slot of task %s", hx(t->id).s);
    ledger_slot *sl = &t->slots[i];
    if (sl->status != LEDGER_SLOT_COMMITTED)
        return plow_error(err, "reveal: the sender's slot of task %s is %s, not committed", hx(t->id).s,
                          ledger_slot_status_name(sl->status));
    if (sl->revealed_at != 0)
        return plow_error(err, "reveal: slot %d of task %s revealed already at %" PRIu64, i, hx(t->id).s,
                          sl->revealed_at);
    uint64_t from = ledger_reveal_from(t), until = ledger_reveal_until(t);
    if (from == UINT64_MAX || h < from)
        return plow_error(err, "reveal: reveals of task %s open when every slot has committed%s", hx(t->id).s,
                          t->p.kind == LEDGER_KIND_ROUND ? " or commits close" : "");
    if (h > until) return plow_error(err, "reveal: the reveal deadline passed at %" PRIu64, until);
    uint8_t c[32];
    ledger_commitment(tx, (uint32_t)i, c);
    if (!eq32(c, sl->commitment))
        return plow_error(err, "reveal: the values and salt do not open slot %d's commitment with the sender's key", i);
    if (o->n != t->p.steps)
        return plow_error(err, "reveal: n is %" PRIu64 ", the task has %" PRIu64 " steps", o->n, t->p.steps);
    if (t->p.kind == LEDGER_KIND_INFER) {
        if (o->count != 0) return plow_error(err, "reveal: an inference reveal carries no leaves, not %u", o->count);
    } else {
        if (o->checkpoint_every < 1) return plow_error(err, "reveal: checkpoint_every must be at least 1");
        if (o->n >= LEDGER_LEAVES_MAX || o->count != o->n + 1)
            return plow_error(err, "reveal: %u leaves for a trace of %" PRIu64 " steps (n+1 needed)", o->count, o->n);
        uint8_t root[32];
        merkle_root(o->leaves, o->count, root);
        if (!eq32(root, o->trace_root))
            return plow_error(err, "reveal: the Merkle root of the leaves is not the trace root");
        if (!eq32(o->leaves + o->n * 32, o->final_state))
            return plow_error(err, "reveal: leaf %" PRIu64 " is not the final state", o->n);
    }
    memcpy(sl->trace_root, o->trace_root, 32);
    memcpy(sl->final_state, o->final_state, 32);
    memcpy(sl->artifact, o->artifact, 32);
    memcpy(sl->manifest, o->manifest, 32);
    sl->n = o->n;
    sl->checkpoint_every = o->checkpoint_every;
    sl->revealed_at = h;
    return 0;
}

int body_expire(txn *x, const ledger_tx *tx, const uint8_t hash[32], char err[PLOW_ERR_LEN]) {
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
    /* an unrunnable claim (or a round's dispute) is waited for: its ruling decides who forfeits */
    if (t->open_challenges && expire_challenges(x, t, "expire", err) != 0) return -1;
    for (int i = 0; i < t->p.replicas; i++) {
        ledger_slot *sl = &t->slots[i];
        if (sl->status == LEDGER_SLOT_CLAIMED) {
            if (forfeit_slot(x, t, sl, err) != 0) return -1;
        } else if (sl->status == LEDGER_SLOT_COMMITTED) {
            sl->status = LEDGER_SLOT_UNPAID;
            if (unlock_stake(get_account(x, sl->worker), t->p.worker_stake, err) != 0) return -1;
        }
    }
    if (refund_escrow(x, t, err) != 0) return -1;
    t->status = LEDGER_TASK_EXPIRED;
    return 0;
}
