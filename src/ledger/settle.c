/*
 * settle.c — settlement of training-like and round tasks: finalize pays
 * the unslashed slots and forfeits the stalled ones (rows F*, FR*); LABEL
 * tasks settle in labeling.c.
 */
#include "../base/plow.h"

#include <inttypes.h>

#include "ledger_internal.h"

/* A stalled slot loses its stake, all of it burned: nothing to the
 * requester, whose spec may be why the work could not be done (the ledger
 * cannot read the spec to tell). */
int forfeit_slot(txn *x, ledger_task *t, ledger_slot *sl, char err[PLOW_ERR_LEN]) {
    sl->status = LEDGER_SLOT_FORFEITED;
    return burn_stake(x, sl->worker, t->p.worker_stake, err);
}

int pay_slot(txn *x, ledger_task *t, ledger_slot *sl, uint64_t amount, char err[PLOW_ERR_LEN]) {
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
    if (expire_challenges(x, t, "finalize", err) != 0) return -1;
    for (int i = 0; i < t->p.replicas; i++) {
        ledger_slot *sl = &t->slots[i];
        if (sl->status == LEDGER_SLOT_CLAIMED || (sl->status == LEDGER_SLOT_COMMITTED && !slot_revealed(t, sl))) {
            if (forfeit_slot(x, t, sl, err) != 0) return -1; /* never committed, or never revealed */
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

int body_finalize(txn *x, const ledger_tx *tx, const uint8_t hash[32], char err[PLOW_ERR_LEN]) {
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
    if (expire_challenges(x, t, "finalize", err) != 0) return -1;
    /* A slot that never revealed its sealed commitment forfeits (F9). */
    for (int i = 0; i < t->p.replicas; i++) {
        ledger_slot *sl = &t->slots[i];
        if (sl->status == LEDGER_SLOT_COMMITTED && !slot_revealed(t, sl) && forfeit_slot(x, t, sl, err) != 0) return -1;
    }
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
