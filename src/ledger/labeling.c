/*
 * labeling.c — LABEL tasks (docs/ledger.md, "Labeling"): the assignment
 * of items to labelers, the label and gold commitments, the deterministic
 * aggregation (gold filter, Dawid-Skene, pay split), and the rules of
 * post_task's label parameters, label_reveal, gold_reveal and finalize.
 */
#include "../base/plow.h"

#include <inttypes.h>

#include "ledger_internal.h"

#include "../label/label.h"

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

/* A LABEL task's own parameters (docs/ledger.md, rows PL1-PL6). */
int check_label_params(const ledger_task_params *p, char err[PLOW_ERR_LEN]) {
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

/* The last height at which any slot of t can commit: claims end at
 * posted_at + claim_blocks and a claim has work_blocks to commit. */
uint64_t label_commits_close(const ledger_task *t) {
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

/* finalize of a LABEL task (rows FL1-FL3): the labelers who never revealed
 * forfeit, the aggregation (ledger_label_aggregate) decides who is slashed
 * on gold and what each of the others is paid. */
int finalize_label(txn *x, ledger_task *t, char err[PLOW_ERR_LEN]) {
    uint64_t h = x->s->height;
    if (t->status == LEDGER_TASK_FINALIZED || t->status == LEDGER_TASK_EXPIRED)
        return plow_error(err, "finalize: task %s is %s already", hx(t->id).s, ledger_task_status_name(t->status));
    if (t->window_end == 0) return plow_error(err, "finalize: nothing to finalize: no slot committed; send expire");
    if (h <= t->window_end)
        return plow_error(err, "finalize: the labelers' reveal window is open until %" PRIu64, t->window_end);
    uint64_t gold_until = sat_add(t->window_end, t->p.window_blocks);
    if (!t->gold_revealed && h <= gold_until)
        return plow_error(err, "finalize: the requester may reveal its gold until %" PRIu64, gold_until);
    if (t->open_challenges && expire_challenges(x, t, "finalize", err) != 0) return -1;
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
            /* burned: the gold is the requester's own answer key, and wrong
             * gold must not pay it the honest labelers' stakes */
            sl->status = LEDGER_SLOT_SLASHED;
            if (burn_stake(x, sl->worker, t->p.worker_stake, err) != 0) goto out;
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

int body_label_reveal(txn *x, const ledger_tx *tx, const uint8_t hash[32], char err[PLOW_ERR_LEN]) {
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

int body_gold_reveal(txn *x, const ledger_tx *tx, const uint8_t hash[32], char err[PLOW_ERR_LEN]) {
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
