/*
 * challenge.c — disputes (docs/ledger.md, CHALLENGE, DA_CHALLENGE and
 * VERDICT rows): a step challenge names one step of a committed trace with
 * Merkle evidence and a bond; a data challenge demands a blob the
 * commitment promises; an unrunnable claim says the requester's task cannot
 * be run. The referee's verdict decides; whoever must act and does not
 * loses: a data challenge unanswered by its deadline slashes the accused, a
 * step challenge the referee never rules (past its void cap) voids the
 * slots it names, so a flooded referee never pays a cheater.
 */
#include "../base/plow.h"

#include <inttypes.h>

#include "ledger_internal.h"

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

/* The network's floor on every bond (the referee's work is paid for, rows
 * X18a and D6) and the bound on one challenger's open challenges (X21, D8). */
static int check_bond_and_limit(txn *x, const char *what, const uint8_t challenger[32], uint64_t bond,
                                char err[PLOW_ERR_LEN]) {
    const ledger_state *s = x->s;
    uint64_t floor;
    if (!plow_mul_u64(s->g.params.min_fee, LEDGER_BOND_FLOOR_FEES, &floor)) floor = UINT64_MAX;
    if (bond < floor)
        return plow_error(err, "%s: bond %" PRIu64 " is below the network's floor %" PRIu64 " (%d x min_fee)", what,
                          bond, floor, LEDGER_BOND_FLOOR_FEES);
    uint32_t open = 0;
    for (size_t i = 0; i < s->n_open; i++) open += eq32(s->open[i]->v.c.challenger, challenger);
    if (open >= LEDGER_OPEN_PER_CHALLENGER)
        return plow_error(err, "%s: the challenger has %u open challenges, the most one may hold", what, open);
    return 0;
}

/* The last height a step or unrunnable challenge can still be ruled: the
 * deadline plus LEDGER_VOID_FACTOR x verdict_blocks (finalize waits until
 * then). A data challenge has no grace: its deadline is the accused's. */
uint64_t ledger_challenge_void_at(const ledger_params *p, const ledger_challenge *c) {
    if (c->kind == LEDGER_CHK_DATA) return c->deadline;
    uint64_t grace;
    if (!plow_mul_u64(p->verdict_blocks, LEDGER_VOID_FACTOR, &grace)) grace = UINT64_MAX;
    return sat_add(c->deadline, grace);
}

uint64_t challenge_void_at(const ledger_state *s, const ledger_challenge *c) {
    return ledger_challenge_void_at(&s->g.params, c);
}

/* A new OPEN challenge record of task t (the caller checked everything). */
static ledger_challenge *challenge_open(txn *x, ledger_task *t, const ledger_tx *tx, const uint8_t hash[32],
                                        uint8_t kind, const uint8_t accused[32], uint64_t bond) {
    ledger_state *s = x->s;
    get_account(x, tx->sender)->balance -= bond;
    ledger_challenge *r = &txn_new(x, TAG_CHALLENGE, hash)->v.c;
    r->kind = kind;
    memcpy(r->task, t->id, 32);
    memcpy(r->challenger, tx->sender, 32);
    memcpy(r->accused, accused, 32);
    r->bond = bond;
    r->opened_at = s->height;
    r->deadline = sat_add(s->height, s->g.params.verdict_blocks);
    r->status = LEDGER_CH_OPEN;
    t->open_challenges++;
    /* A task still taking claims or commits keeps its status (a claim needs
     * OPEN); open_challenges counts the dispute all the same. */
    if (t->status != LEDGER_TASK_OPEN && t->status != LEDGER_TASK_CLAIMED) t->status = LEDGER_TASK_CHALLENGED;
    return r;
}

int body_challenge(txn *x, const ledger_tx *tx, const uint8_t hash[32], char err[PLOW_ERR_LEN]) {
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
    if (ia < 0 || !slot_revealed(t, &t->slots[ia]))
        return plow_error(err, "challenge: the accused holds no revealed slot of task %s", hx(t->id).s);
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
        if (io < 0 || !slot_revealed(t, &t->slots[io]))
            return plow_error(err, "challenge: the other worker holds no revealed slot of task %s", hx(t->id).s);
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
    if (check_bond_and_limit(x, "challenge", tx->sender, c->bond, err) != 0) return -1;
    ledger_account *ch = get_account(x, tx->sender);
    if (ch->balance < c->bond)
        return plow_error(err, "challenge: balance %" PRIu64 " cannot post the bond %" PRIu64, ch->balance, c->bond);
    for (size_t i = 0; i < s->n_open; i++) {
        const ledger_challenge *o = &s->open[i]->v.c;
        if (o->kind == LEDGER_CHK_STEP && eq32(o->task, t->id) && eq32(o->accused, c->accused) && o->step == j)
            return plow_error(err, "challenge: challenge %s already disputes step %" PRIu64 " of this worker",
                              hx(o->id).s, j);
    }
    if (txn_peek(x, TAG_CHALLENGE, hash)) return plow_error(err, "challenge: challenge %s exists already", hx(hash).s);
    if (t->open_challenges == UINT32_MAX) return plow_error(err, "challenge: too many open challenges");
    ledger_challenge *r = challenge_open(x, t, tx, hash, LEDGER_CHK_STEP, c->accused, c->bond);
    if (has_other) memcpy(r->other, c->other, 32);
    r->has_other = has_other;
    r->step = j;
    memcpy(r->state_blob, c->state_blob, 32);
    memcpy(r->leaf_prev, c->ev.leaf_prev, 32);
    memcpy(r->accused_leaf, c->ev.leaf, 32);
    if (has_other) memcpy(r->other_leaf, c->ev_other.leaf, 32);
    return 0;
}

/* DA_CHALLENGE (rows D1-D10): want != 0 demands a blob of the accused's
 * commitment (its manifest, or a file the manifest lists); want == 0 claims
 * the requester's task cannot be run (a claimant's defence against a task
 * posted to take its stake). */
int body_da_challenge(txn *x, const ledger_tx *tx, const uint8_t hash[32], char err[PLOW_ERR_LEN]) {
    ledger_state *s = x->s;
    uint64_t h = s->height;
    const __typeof__(tx->u.da) *d = &tx->u.da;
    ledger_task *t = task_or_fail(x, d->task, "da_challenge", err);
    if (!t) return -1;
    if (t->status == LEDGER_TASK_FINALIZED || t->status == LEDGER_TASK_EXPIRED)
        return plow_error(err, "da_challenge: task %s is %s already", hx(t->id).s, ledger_task_status_name(t->status));
    if (eq32(tx->sender, d->accused)) return plow_error(err, "da_challenge: a party cannot challenge itself");
    bool unrunnable = is_zero(d->want, 32);
    uint8_t kind = unrunnable ? LEDGER_CHK_UNRUNNABLE : LEDGER_CHK_DATA;
    if (unrunnable) {
        if (!eq32(d->accused, t->requester))
            return plow_error(err, "da_challenge: an unrunnable claim accuses the task's requester");
        if (slot_of(t, tx->sender) < 0)
            return plow_error(err, "da_challenge: only a worker holding a slot of task %s claims it unrunnable",
                              hx(t->id).s);
    } else {
        if (t->p.kind == LEDGER_KIND_LABEL)
            return plow_error(err, "da_challenge: a label task promises no blobs (its reveal carries the labels)");
        int ia = slot_of(t, d->accused);
        if (ia < 0 || !slot_revealed(t, &t->slots[ia]))
            return plow_error(err, "da_challenge: the accused holds no revealed slot of task %s", hx(t->id).s);
        if (t->window_end == 0 || h > t->window_end)
            return plow_error(err, "da_challenge: the challenge window of task %s is not open", hx(t->id).s);
    }
    if (d->bond < t->p.min_bond)
        return plow_error(err, "da_challenge: bond %" PRIu64 " is below the task's min_bond %" PRIu64, d->bond,
                          t->p.min_bond);
    if (check_bond_and_limit(x, "da_challenge", tx->sender, d->bond, err) != 0) return -1;
    const ledger_account *pa = peek_account(x, tx->sender);
    uint64_t balance = pa ? pa->balance : 0;
    if (balance < d->bond)
        return plow_error(err, "da_challenge: balance %" PRIu64 " cannot post the bond %" PRIu64, balance, d->bond);
    for (size_t i = 0; i < s->n_open; i++) {
        const ledger_challenge *o = &s->open[i]->v.c;
        if (o->kind == kind && eq32(o->task, t->id) && eq32(o->accused, d->accused) && eq32(o->state_blob, d->want))
            return plow_error(err, "da_challenge: challenge %s already demands this of the accused", hx(o->id).s);
    }
    if (txn_peek(x, TAG_CHALLENGE, hash)) return plow_error(err, "da_challenge: challenge %s exists already", hx(hash).s);
    if (t->open_challenges == UINT32_MAX) return plow_error(err, "da_challenge: too many open challenges");
    ledger_challenge *r = challenge_open(x, t, tx, hash, kind, d->accused, d->bond);
    memcpy(r->state_blob, d->want, 32);
    return 0;
}

/* RECEIPT_FRAUD (rows RF1-RF6): a receipt plow serve signed, claimed to
 * hold a token the model does not give. The ledger checks what it can — the
 * worker's signature binds it to the receipt's digest, the worker has stake
 * to lose, the bond — and the referee re-runs the one prefill (from the
 * blobs the claim names) and rules. */
int body_receipt_fraud(txn *x, const ledger_tx *tx, const uint8_t hash[32], char err[PLOW_ERR_LEN]) {
    ledger_state *s = x->s;
    const __typeof__(tx->u.fraud) *f = &tx->u.fraud;
    if (eq32(tx->sender, f->worker)) return plow_error(err, "receipt_fraud: a worker cannot accuse itself");
    if (!ledger_verify_sig(f->worker, f->digest, 32, f->sig))
        return plow_error(err, "receipt_fraud: the signature is not the worker's over this receipt digest");
    for (size_t i = 0; i < s->challenges.n; i++) { /* one claim per receipt, open or upheld */
        const ledger_challenge *o = &s->challenges.r[i]->v.c;
        if (o->kind != LEDGER_CHK_RECEIPT || !eq32(o->task, f->digest) || !eq32(o->accused, f->worker)) continue;
        if (o->status == LEDGER_CH_OPEN && s->height > challenge_void_at(s, o)) {
            /* RF3a: the referee never ruled it: it lapses, its bond back to its claimant */
            ledger_challenge *l = get_challenge(x, o->id);
            l->status = LEDGER_CH_EXPIRED;
            l->resolved_at = s->height;
            if (credit(get_account(x, l->challenger), l->bond, err) != 0) return -1;
            continue;
        }
        if (o->status == LEDGER_CH_OPEN || o->status == LEDGER_CH_UPHELD)
            return plow_error(err, "receipt_fraud: challenge %s already claims this receipt", hx(o->id).s);
    }
    const ledger_account *w = peek_account(x, f->worker);
    if (!w || w->stake <= w->locked) return plow_error(err, "receipt_fraud: the worker has no free stake to lose");
    if (check_bond_and_limit(x, "receipt_fraud", tx->sender, f->bond, err) != 0) return -1;
    const ledger_account *pa = peek_account(x, tx->sender);
    if (!pa || pa->balance < f->bond)
        return plow_error(err, "receipt_fraud: balance %" PRIu64 " cannot post the bond %" PRIu64, pa ? pa->balance : 0,
                          f->bond);
    if (txn_peek(x, TAG_CHALLENGE, hash)) return plow_error(err, "receipt_fraud: challenge %s exists already", hx(hash).s);
    get_account(x, tx->sender)->balance -= f->bond;
    ledger_challenge *r = &txn_new(x, TAG_CHALLENGE, hash)->v.c;
    r->kind = LEDGER_CHK_RECEIPT;
    memcpy(r->task, f->digest, 32);
    memcpy(r->challenger, tx->sender, 32);
    memcpy(r->accused, f->worker, 32);
    memcpy(r->state_blob, f->receipt_blob, 32);
    memcpy(r->leaf_prev, f->model_blob, 32);
    memcpy(r->accused_leaf, f->tokenizer_blob, 32);
    r->bond = f->bond;
    r->opened_at = s->height;
    r->deadline = sat_add(s->height, s->g.params.verdict_blocks);
    r->status = LEDGER_CH_OPEN;
    return 0;
}

/* The verdict on a receipt claim (V-R rows): 1, the receipt holds a token
 * the model does not give: the worker's free stake is slashed to the
 * challenger (slash_challenger_pct, the rest burned) and the bond comes
 * back; 0, it does not (or the claim's blobs are not the receipt, model and
 * tokenizer it names): the bond is lost as for any rejected challenge. */
static int verdict_receipt(txn *x, ledger_challenge *c, uint8_t ruling, char err[PLOW_ERR_LEN]) {
    ledger_state *s = x->s;
    if (ruling > 1) return plow_error(err, "verdict: prev_ok is %u, must be 0 or 1 on a receipt claim", ruling);
    if (ruling == 0) {
        c->status = LEDGER_CH_REJECTED;
        uint64_t share = pct_of(c->bond, s->g.params.bond_accused_pct);
        return credit(get_account(x, c->accused), share, err) != 0 ? -1 : burn(x, c->bond - share, err);
    }
    c->status = LEDGER_CH_UPHELD;
    ledger_account *w = get_account(x, c->accused);
    uint64_t amount = w->stake > w->locked ? w->stake - w->locked : 0; /* the stake its tasks do not hold */
    w->stake -= amount;
    uint64_t share = pct_of(amount, s->g.params.slash_challenger_pct);
    if (credit(get_account(x, c->challenger), share, err) != 0 || burn(x, amount - share, err) != 0) return -1;
    return credit(get_account(x, c->challenger), c->bond, err);
}

/* A verdict found `worker` wrong: its committed slot is slashed (a slot
 * slashed by an earlier verdict is not slashed twice). */
int slash_slot(txn *x, ledger_task *t, const uint8_t worker[32], const uint8_t challenger[32],
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

int body_verdict(txn *x, const ledger_tx *tx, const uint8_t hash[32], char err[PLOW_ERR_LEN]) {
    (void)hash;
    ledger_state *s = x->s;
    if (!eq32(tx->sender, s->g.operator_pk)) return plow_error(err, "verdict: only the referee (operator) may rule");
    ledger_challenge *c = get_challenge(x, tx->u.verdict.challenge);
    if (!c) return plow_error(err, "verdict: no challenge %s", hx(tx->u.verdict.challenge).s);
    if (c->status != LEDGER_CH_OPEN)
        return plow_error(err, "verdict: challenge %s is %s, not open", hx(c->id).s,
                          ledger_challenge_status_name(c->status));
    uint64_t until = challenge_void_at(s, c);
    if (s->height > until) return plow_error(err, "verdict: verdict deadline passed at %" PRIu64, until);
    uint8_t ruling = tx->u.verdict.prev_ok;
    if (c->kind == LEDGER_CHK_RECEIPT) {
        memcpy(c->computed, tx->u.verdict.computed, 32);
        c->resolved_at = s->height;
        return verdict_receipt(x, c, ruling, err);
    }
    if (ruling > LEDGER_RULING_UNRUNNABLE || (ruling == LEDGER_RULING_UNRUNNABLE && c->kind == LEDGER_CHK_DATA))
        return plow_error(err, "verdict: prev_ok is %u, must be 0 or 1%s", ruling,
                          c->kind == LEDGER_CHK_DATA ? " on a data challenge" : " or 2");
    ledger_task *t = get_task(x, c->task);
    if (!t) return plow_error(err, "inconsistent state: challenge %s names no task", hx(c->id).s);
    memcpy(c->computed, tx->u.verdict.computed, 32);
    c->resolved_at = s->height;
    if (ruling == LEDGER_RULING_UNRUNNABLE) {
        /* the poster's fault: nobody forfeits, nobody is paid, the bond goes back */
        c->status = LEDGER_CH_UPHELD;
        if (credit(get_account(x, c->challenger), c->bond, err) != 0 || challenge_closed(t, err) != 0) return -1;
        return void_task(x, t, c->id, err);
    }
    if (c->kind != LEDGER_CHK_STEP) {
        /* data: available (1) or not promised (0); unrunnable claim: the task runs (1 or 0) */
        c->status = LEDGER_CH_REJECTED;
        uint64_t share = pct_of(c->bond, s->g.params.bond_accused_pct);
        if (credit(get_account(x, c->accused), share, err) != 0 || burn(x, c->bond - share, err) != 0) return -1;
        return challenge_closed(t, err);
    }
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
    return challenge_closed(t, err);
}

/* A slot settled with neither pay nor slash: its stake unlocked. */
static int void_slot(txn *x, ledger_task *t, const uint8_t worker[32], char err[PLOW_ERR_LEN]) {
    int i = slot_of(t, worker);
    if (i < 0) return 0; /* the requester (an unrunnable claim) */
    ledger_slot *sl = &t->slots[i];
    if (sl->status != LEDGER_SLOT_COMMITTED && sl->status != LEDGER_SLOT_CLAIMED) return 0;
    sl->status = LEDGER_SLOT_VOID;
    return unlock_stake(get_account(x, sl->worker), t->p.worker_stake, err);
}

/* Closes one OPEN challenge of t that can no longer be ruled (or whose task
 * ended): a data challenge unanswered -> UPHELD, the accused slashed; any
 * other -> EXPIRED, the bond back and (step) the slots it names voided. */
static int lapse(txn *x, ledger_task *t, ledger_challenge *c, bool void_named, char err[PLOW_ERR_LEN]) {
    c->resolved_at = x->s->height;
    if (credit(get_account(x, c->challenger), c->bond, err) != 0) return -1;
    if (c->kind == LEDGER_CHK_DATA && void_named) {
        c->status = LEDGER_CH_UPHELD;
        if (slash_slot(x, t, c->accused, c->challenger, err) != 0) return -1;
    } else {
        c->status = LEDGER_CH_EXPIRED;
        if (void_named && c->kind == LEDGER_CHK_STEP &&
            (void_slot(x, t, c->accused, err) != 0 || (c->has_other && void_slot(x, t, c->other, err) != 0)))
            return -1;
    }
    return challenge_closed(t, err);
}

/* The referee ruled t unrunnable: every held slot is voided (stake
 * unlocked, no forfeit), the other open challenges lapse with their bonds
 * back, the whole escrow goes back to the requester; task EXPIRED. */
int void_task(txn *x, ledger_task *t, const uint8_t ruled[32], char err[PLOW_ERR_LEN]) {
    ledger_state *s = x->s;
    for (size_t i = 0; i < s->n_open; i++) {
        const ledger_challenge *o = &s->open[i]->v.c;
        if (!eq32(o->task, t->id) || eq32(o->id, ruled)) continue;
        if (lapse(x, t, get_challenge(x, o->id), false, err) != 0) return -1;
    }
    for (int i = 0; i < t->p.replicas; i++)
        if (void_slot(x, t, t->slots[i].worker, err) != 0) return -1;
    if (refund_escrow(x, t, err) != 0) return -1;
    t->status = LEDGER_TASK_EXPIRED;
    return 0;
}

/* Finalize's (and expire's) step 1: nothing settles while a challenge of t
 * can still be ruled (F6); each that can no longer be lapses (F6a). */
int expire_challenges(txn *x, ledger_task *t, const char *what, char err[PLOW_ERR_LEN]) {
    ledger_state *s = x->s;
    uint64_t h = s->height;
    for (size_t i = 0; i < s->n_open; i++) {
        const ledger_challenge *o = &s->open[i]->v.c;
        if (!eq32(o->task, t->id)) continue;
        uint64_t until = challenge_void_at(s, o);
        if (h <= until)
            return plow_error(err, "%s: %s challenge %s awaits its verdict until %" PRIu64, what,
                              ledger_challenge_kind_name(o->kind), hx(o->id).s, until);
    }
    for (size_t i = 0; i < s->n_open; i++) {
        if (!eq32(s->open[i]->v.c.task, t->id)) continue;
        if (lapse(x, t, get_challenge(x, s->open[i]->v.c.id), true, err) != 0) return -1;
    }
    if (t->open_challenges != 0)
        return plow_error(err, "inconsistent state: task %s counts open challenges it has not", hx(t->id).s);
    return 0;
}
