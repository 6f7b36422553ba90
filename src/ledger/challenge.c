/*
 * challenge.c — disputes: a challenge names one step of a committed trace
 * with Merkle evidence and a bond, the referee's verdict slashes whoever is
 * wrong, and a challenge nobody ruled expires at finalize (docs/ledger.md,
 * CHALLENGE and VERDICT rows).
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
int expire_challenges(txn *x, ledger_task *t, char err[PLOW_ERR_LEN]) {
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
