/*
 * evindex.c — the index of plow's contract events shared by the agents'
 * EVM backend and the node's chain indexer (evindex.h).
 */
#include "../base/plow.h"

#include <inttypes.h>

#include "evindex.h"

static void topic(const char *sig, uint8_t out[32]) { keccak256(sig, strlen(sig), out); }

void evm_index_init(evm_index *x, const uint8_t plow[ETH_ADDR_LEN]) {
    memset(x, 0, sizeof *x);
    memcpy(x->plow, plow, ETH_ADDR_LEN);
    topic("TaskPosted(bytes32,address," EVM_PARAMS_SIG ")", x->t_posted);
    topic("Claimed(bytes32,uint8,address)", x->t_claimed);
    topic("Committed(bytes32,uint8,address,bytes32)", x->t_committed);
    topic("Revealed(bytes32,uint8,address," EVM_VALUES_SIG ",bytes32,bytes32)", x->t_revealed);
    topic("ChallengeOpened(uint256,bytes32,(bytes32,uint64,uint8,uint8,uint8,bool,address,address,address,uint64,"
          "uint64,bytes32,bytes32,bytes32,bytes32),uint64,uint64)",
          x->t_opened);
    topic("ChallengeClosed(uint256,bytes32,uint8,bytes32)", x->t_closed);
    topic("SlotSettled(bytes32,uint8,address,uint8,uint64)", x->t_slot_settled);
    topic("TaskSettled(bytes32,uint8,uint64)", x->t_task_settled);
}

void evm_index_clear(evm_index *x) {
    x->n = 0;
    x->n_ch = 0;
}

void evm_index_release(evm_index *x) {
    free(x->tasks);
    free(x->chs);
    x->tasks = NULL;
    x->chs = NULL;
    x->n = x->cap = x->n_ch = x->cap_ch = 0;
}

int evm_index_log_task(const evm_index *x, const eth_log *l, uint8_t task[32]) {
    if (l->ntopics < 2 || memcmp(l->address, x->plow, ETH_ADDR_LEN) != 0) return -1;
    const uint8_t *t0 = l->topics[0];
    if (memcmp(t0, x->t_opened, 32) == 0 || memcmp(t0, x->t_closed, 32) == 0) {
        if (l->ntopics < 3) return -1;
        memcpy(task, l->topics[2], 32);
        return 0;
    }
    if (memcmp(t0, x->t_posted, 32) == 0 || memcmp(t0, x->t_claimed, 32) == 0 ||
        memcmp(t0, x->t_committed, 32) == 0 || memcmp(t0, x->t_revealed, 32) == 0 ||
        memcmp(t0, x->t_slot_settled, 32) == 0 || memcmp(t0, x->t_task_settled, 32) == 0) {
        memcpy(task, l->topics[1], 32);
        return 0;
    }
    return -1;
}

evm_ix_task *evm_index_task(evm_index *x, const uint8_t id[32]) {
    for (size_t i = 0; i < x->n; i++)
        if (memcmp(x->tasks[i].id, id, 32) == 0) return &x->tasks[i];
    return NULL;
}

uint64_t evm_word_u64(const uint8_t *w) {
    uint64_t v = 0;
    for (int i = 24; i < 32; i++) v = (v << 8) | w[i];
    return v;
}

bool evm_word_fits(const uint8_t *w, int bytes) {
    for (int i = 0; i < 32 - bytes; i++)
        if (w[i]) return false;
    return true;
}

static int params_from_words(const uint8_t *w, evm_params *p, char err[PLOW_ERR_LEN]) {
    if (!evm_word_fits(w, 20) || !evm_word_fits(w + 32, 1) || !evm_word_fits(w + 64, 1) || !evm_word_fits(w + 96, 1))
        return plow_error(err, "evm: a TaskPosted event with malformed params");
    for (int i = 4; i < 11; i++)
        if (!evm_word_fits(w + 32 * i, i < 8 ? 8 : 4)) return plow_error(err, "evm: a TaskPosted event with malformed params");
    memset(p, 0, sizeof *p);
    memcpy(p->requester, w + 12, ETH_ADDR_LEN);
    p->kind = w[63];
    p->mode = w[95];
    p->replicas = w[127];
    p->reward = evm_word_u64(w + 128);
    p->worker_stake = evm_word_u64(w + 160);
    p->min_bond = evm_word_u64(w + 192);
    p->steps = evm_word_u64(w + 224);
    p->claim_blocks = (uint32_t)evm_word_u64(w + 256);
    p->work_blocks = (uint32_t)evm_word_u64(w + 288);
    p->window_blocks = (uint32_t)evm_word_u64(w + 320);
    memcpy(p->spec, w + 352, 32);
    memcpy(p->salt, w + 384, 32);
    if (p->replicas < 1 || p->replicas > LEDGER_MAX_REPLICAS) return plow_error(err, "evm: a task with %u replicas", p->replicas);
    return 0;
}

static evm_ix_slot *event_slot(evm_index *x, const eth_log *l, size_t min_words, char err[PLOW_ERR_LEN]) {
    if (l->ntopics < 3 || l->data_len < 32 * min_words || !evm_word_fits(l->data, 1)) {
        plow_error(err, "evm: a malformed slot event in block %" PRIu64, l->block);
        return NULL;
    }
    evm_ix_task *t = evm_index_task(x, l->topics[1]);
    uint8_t slot = l->data[31];
    if (!t || slot >= t->p.replicas) {
        plow_error(err, "evm: an event of an unknown task or slot in block %" PRIu64, l->block);
        return NULL;
    }
    return &t->slots[slot];
}

static int apply_opened(evm_index *x, const eth_log *l, char err[PLOW_ERR_LEN]);
static int apply_closed(evm_index *x, const eth_log *l, char err[PLOW_ERR_LEN]);

int evm_index_apply(evm_index *x, const eth_log *l, char err[PLOW_ERR_LEN]) {
    if (l->ntopics < 1 || memcmp(l->address, x->plow, ETH_ADDR_LEN) != 0) return 0;
    const uint8_t *t0 = l->topics[0];
    if (memcmp(t0, x->t_posted, 32) == 0) {
        if (l->ntopics < 3 || l->data_len < 13 * 32) return plow_error(err, "evm: a malformed TaskPosted event");
        if (evm_index_task(x, l->topics[1])) return 0;
        if (x->n == x->cap) {
            x->cap = x->cap ? 2 * x->cap : 32;
            x->tasks = plow_realloc(x->tasks, x->cap * sizeof *x->tasks);
        }
        evm_ix_task *t = &x->tasks[x->n];
        memset(t, 0, sizeof *t);
        memcpy(t->id, l->topics[1], 32);
        if (params_from_words(l->data, &t->p, err)) return -1;
        t->posted_at = l->block;
        x->n++;
        return 0;
    }
    if (memcmp(t0, x->t_claimed, 32) == 0) {
        evm_ix_slot *s = event_slot(x, l, 1, err);
        if (!s) return -1;
        memset(s, 0, sizeof *s);
        s->claimed = true;
        memcpy(s->worker, l->topics[2] + 12, ETH_ADDR_LEN);
        s->claimed_at = l->block;
        return 0;
    }
    if (memcmp(t0, x->t_committed, 32) == 0) {
        evm_ix_slot *s = event_slot(x, l, 2, err);
        if (!s) return -1;
        s->committed = true;
        s->committed_at = l->block;
        memcpy(s->commitment, l->data + 32, 32);
        return 0;
    }
    if (memcmp(t0, x->t_revealed, 32) == 0) {
        evm_ix_slot *s = event_slot(x, l, 1 + EVM_VALUES_WORDS + 2, err);
        if (!s) return -1;
        const uint8_t *w = l->data + 32;
        memcpy(s->v.trace_root, w, 32);
        memcpy(s->v.final_state, w + 32, 32);
        memcpy(s->v.artifact, w + 64, 32);
        memcpy(s->v.manifest, w + 96, 32);
        s->v.n = evm_word_u64(w + 128);
        s->v.checkpoint_every = (uint32_t)evm_word_u64(w + 160);
        memcpy(s->salt, w + 192, 32);
        memcpy(s->leaves_hash, w + 224, 32);
        memcpy(s->reveal_tx, l->tx_hash, 32);
        s->revealed = true;
        s->revealed_at = l->block;
        return 0;
    }
    if (memcmp(t0, x->t_opened, 32) == 0) return apply_opened(x, l, err);
    if (memcmp(t0, x->t_closed, 32) == 0) return apply_closed(x, l, err);
    return 0;
}

evm_ix_challenge *evm_index_challenge(evm_index *x, const uint8_t cid[32]) {
    for (size_t i = 0; i < x->n_ch; i++)
        if (memcmp(x->chs[i].cid, cid, 32) == 0) return &x->chs[i];
    return NULL;
}

/* ChallengeOpened(uint256 indexed cid, bytes32 indexed task, Dispute d, uint64 deadline, uint64 voidAt) */
static int apply_opened(evm_index *x, const eth_log *l, char err[PLOW_ERR_LEN]) {
    if (l->ntopics < 3 || l->data_len < 32 * (EVM_DISPUTE_WORDS + 2))
        return plow_error(err, "evm: a malformed ChallengeOpened event in block %" PRIu64, l->block);
    if (evm_index_challenge(x, l->topics[1])) return 0;
    const uint8_t *w = l->data;
    static const int small[] = {2, 3, 4, 5}; /* kind, slots, has_other: one byte each */
    for (size_t i = 0; i < sizeof small / sizeof small[0]; i++)
        if (!evm_word_fits(w + 32 * small[i], 1)) return plow_error(err, "evm: a malformed dispute");
    if (x->n_ch == x->cap_ch) {
        x->cap_ch = x->cap_ch ? 2 * x->cap_ch : 16;
        x->chs = plow_realloc(x->chs, x->cap_ch * sizeof *x->chs);
    }
    evm_ix_challenge *c = &x->chs[x->n_ch];
    memset(c, 0, sizeof *c);
    memcpy(c->cid, l->topics[1], 32);
    evm_dispute *d = &c->d;
    memcpy(d->task, w, 32);
    d->worker_stake = evm_word_u64(w + 32);
    d->kind = w[95];
    d->accused_slot = w[127];
    d->other_slot = w[159];
    d->has_other = w[191] != 0;
    memcpy(d->challenger, w + 192 + 12, ETH_ADDR_LEN);
    memcpy(d->accused, w + 224 + 12, ETH_ADDR_LEN);
    memcpy(d->other, w + 256 + 12, ETH_ADDR_LEN);
    d->step = evm_word_u64(w + 288);
    d->bond = evm_word_u64(w + 320);
    memcpy(d->state_blob, w + 352, 32);
    memcpy(d->leaf_prev, w + 384, 32);
    memcpy(d->accused_leaf, w + 416, 32);
    memcpy(d->other_leaf, w + 448, 32);
    c->deadline = evm_word_u64(w + 480);
    c->void_at = evm_word_u64(w + 512);
    c->opened_at = l->block;
    c->status = EVM_C_OPEN;
    x->n_ch++;
    return 0;
}

/* ChallengeClosed(uint256 indexed cid, bytes32 indexed task, uint8 status, bytes32 computed) */
static int apply_closed(evm_index *x, const eth_log *l, char err[PLOW_ERR_LEN]) {
    if (l->ntopics < 3 || l->data_len < 64 || !evm_word_fits(l->data, 1))
        return plow_error(err, "evm: a malformed ChallengeClosed event in block %" PRIu64, l->block);
    evm_ix_challenge *c = evm_index_challenge(x, l->topics[1]);
    if (!c) return plow_error(err, "evm: a ChallengeClosed of an unknown challenge in block %" PRIu64, l->block);
    c->status = l->data[31];
    memcpy(c->computed, l->data + 32, 32);
    c->resolved_at = l->block;
    return 0;
}


static const uint8_t slot_status_of[] = {
    [EVM_S_EMPTY] = LEDGER_SLOT_EMPTY,   [EVM_S_CLAIMED] = LEDGER_SLOT_CLAIMED,     [EVM_S_COMMITTED] = LEDGER_SLOT_COMMITTED,
    [EVM_S_REVEALED] = LEDGER_SLOT_COMMITTED, [EVM_S_PAID] = LEDGER_SLOT_PAID,      [EVM_S_UNPAID] = LEDGER_SLOT_UNPAID,
    [EVM_S_SLASHED] = LEDGER_SLOT_SLASHED, [EVM_S_FORFEITED] = LEDGER_SLOT_FORFEITED, [EVM_S_VOID] = LEDGER_SLOT_VOID,
};

void evm_addr_pk(const uint8_t addr[ETH_ADDR_LEN], uint8_t pk[32]) {
    memset(pk, 0, 32);
    memcpy(pk, addr, ETH_ADDR_LEN);
}

static void map_pk(evm_pk_of_fn pk_of, void *ctx, const uint8_t addr[ETH_ADDR_LEN], uint8_t pk[32]) {
    if (pk_of)
        pk_of(addr, pk, ctx);
    else
        evm_addr_pk(addr, pk);
}

int evm_ledger_account(eth_rpc *c, const evm_deployment *d, const uint8_t addr[ETH_ADDR_LEN], const uint8_t pk[32],
                       ledger_account *out, char err[PLOW_ERR_LEN]) {
    evm_account ac;
    uint8_t profile = 0;
    uint64_t agent_id = 0;
    if (evm_get_account(c, d, addr, &ac, err) || evm_get_profile(c, d, addr, &profile, &agent_id, err)) return -1;
    memset(out, 0, sizeof *out);
    memcpy(out->pk, pk, 32);
    out->balance = ac.balance;
    out->stake = ac.stake;
    out->locked = ac.locked;
    out->unbonding = ac.unbonding;
    out->profile = profile;
    return 0;
}

void evm_reveal_fill(ledger_tx *tx, const uint8_t task[32], const evm_values *v, const uint8_t salt[32],
                     const uint8_t *leaves, size_t count) {
    memcpy(tx->u.open.task, task, 32);
    memcpy(tx->u.open.trace_root, v->trace_root, 32);
    memcpy(tx->u.open.final_state, v->final_state, 32);
    memcpy(tx->u.open.artifact, v->artifact, 32);
    memcpy(tx->u.open.manifest, v->manifest, 32);
    tx->u.open.n = v->n;
    tx->u.open.checkpoint_every = v->checkpoint_every;
    memcpy(tx->u.open.salt, salt, 32);
    tx->u.open.count = (uint32_t)count;
    memcpy(tx->u.open.leaves, leaves, count * 32);
}

uint8_t evm_ledger_slot_status(uint8_t evm_status) {
    return evm_status <= EVM_S_VOID ? slot_status_of[evm_status] : LEDGER_SLOT_STATUS_END;
}

int evm_ix_task_record(const evm_ix_task *it, const evm_task_state *stp, evm_pk_of_fn pk_of, void *ctx,
                       ledger_task *t, char err[PLOW_ERR_LEN]) {
    const evm_task_state st = *stp;
    memset(t, 0, sizeof *t);
    memcpy(t->id, it->id, 32);
    map_pk(pk_of, ctx, it->p.requester, t->requester);
    ledger_task_params *p = &t->p;
    memcpy(p->spec, it->p.spec, 32);
    p->kind = it->p.kind;
    p->mode = it->p.mode;
    p->replicas = it->p.replicas;
    p->reward = it->p.reward;
    p->worker_stake = it->p.worker_stake;
    p->min_bond = it->p.min_bond;
    p->steps = it->p.steps;
    p->claim_blocks = it->p.claim_blocks;
    p->work_blocks = it->p.work_blocks;
    p->window_blocks = it->p.window_blocks;
    if (st.status < LEDGER_TASK_OPEN || st.status >= LEDGER_TASK_STATUS_END)
        return plow_error(err, "evm: task with status %u", st.status);
    t->status = st.status;
    t->posted_at = it->posted_at;
    t->window_end = st.window_end;
    t->open_challenges = st.open_challenges;
    bool settled = st.status == LEDGER_TASK_FINALIZED || st.status == LEDGER_TASK_EXPIRED;
    t->escrow = settled ? 0 : it->p.reward * it->p.replicas;
    for (int i = 0; i < it->p.replicas; i++) {
        const evm_ix_slot *s = &it->slots[i];
        ledger_slot *o = &t->slots[i];
        if (st.slot[i] > EVM_S_VOID) return plow_error(err, "evm: slot status %u", st.slot[i]);
        o->status = slot_status_of[st.slot[i]];
        if (!s->claimed) continue;
        map_pk(pk_of, ctx, s->worker, o->worker);
        o->claimed_at = s->claimed_at;
        o->committed_at = s->committed_at;
        memcpy(o->commitment, s->commitment, 32);
        if (s->revealed) {
            memcpy(o->trace_root, s->v.trace_root, 32);
            memcpy(o->final_state, s->v.final_state, 32);
            memcpy(o->artifact, s->v.artifact, 32);
            memcpy(o->manifest, s->v.manifest, 32);
            o->n = s->v.n;
            o->checkpoint_every = s->v.checkpoint_every;
            o->revealed_at = s->revealed_at;
        }
    }
    return 0;
}

void evm_ix_challenge_record(const evm_ix_challenge *c, evm_pk_of_fn pk_of, void *ctx, ledger_challenge *o) {
    memset(o, 0, sizeof *o);
    memcpy(o->id, c->cid, 32);
    o->kind = c->d.kind == 1 ? LEDGER_CHK_DATA : c->d.kind == 2 ? LEDGER_CHK_UNRUNNABLE : LEDGER_CHK_STEP;
    memcpy(o->task, c->d.task, 32);
    map_pk(pk_of, ctx, c->d.challenger, o->challenger);
    map_pk(pk_of, ctx, c->d.accused, o->accused);
    o->has_other = c->d.has_other;
    if (c->d.has_other) map_pk(pk_of, ctx, c->d.other, o->other);
    o->step = c->d.step;
    o->bond = c->d.bond;
    o->opened_at = c->opened_at;
    o->deadline = c->deadline;
    memcpy(o->state_blob, c->d.state_blob, 32);
    memcpy(o->leaf_prev, c->d.leaf_prev, 32);
    memcpy(o->accused_leaf, c->d.accused_leaf, 32);
    memcpy(o->other_leaf, c->d.other_leaf, 32);
    o->status = c->status; /* EVM_C_* are the ledger's numbers */
    memcpy(o->computed, c->computed, 32);
    o->resolved_at = c->resolved_at;
}

