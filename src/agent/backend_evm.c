/*
 * backend_evm.c — plow's contracts on an EVM chain as an agent's settlement
 * backend (backend.h). The agent's secp256k1 key signs its own EIP-1559
 * transactions (src/evm/chain.h); reads combine the contracts' events
 * (indexed here, incrementally from the deployment block: a task's params,
 * its slots' workers, commitments and revealed values) with the contracts'
 * storage (the task word: status, window, slot statuses; accounts).
 *
 * Identities: the ledger's 32-byte account keys become EVM addresses. This
 * agent's own address is reported as its ed25519 key (a->key.pk, which the
 * agents compare slots against and which signs its blob uploads); any other
 * address as the 20 bytes followed by 12 zeros.
 *
 * Covered: register, stake, unstake, transfer, post (also in halves),
 * claim, commit, reveal, a step challenge, a data challenge, finalize and
 * expire; reads of height, blocks, accounts, tasks (the listing filters
 * status, addr, deadline_from, kind, min/max_reward) and reveals.
 * Challenges are indexed from ChallengeOpened/Closed (agent_task lists a
 * task's, agent_challenge gives one). Not covered yet: round and label
 * kinds (the contracts refuse them), reorgs (the index assumes final
 * blocks). The unrunnable claim (D3) is a data challenge with want zero.
 *
 * Leaves: a reveal names its leaf blob (SHA-256 of the n+1 leaves, 32 bytes
 * each) and the worker publishes the blob on the node first (be_send_at);
 * readers fetch it from the node (reveal_leaves). A blob the node lacks is
 * a data challenge's to demand (agent_leaf_blob, the verifier).
 */
#include "../base/plow.h"

#include <inttypes.h>
#include <sodium.h>

#include "../client/client.h"
#include "../evm/evindex.h"
#include "backend.h"

typedef evm_ix_slot ix_slot;
typedef evm_ix_task ix_task;
typedef evm_ix_challenge ix_challenge;

typedef struct evm_ctx {
    eth_rpc *rpc;
    eth_signer s;
    evm_deployment d;
    uint64_t next_block; /* the first block not indexed yet */
    evm_index ix; /* the contract's events (src/evm/evindex.h) */
    /* the post prepared by post_prepare, until submitted */
    bool have_pending;
    evm_params pending;
    uint8_t pending_id[32];
    /* a submitted post the contract refused: post_status reports it */
    bool have_refused;
    uint8_t refused_id[32];
    char refused_msg[PLOW_ERR_LEN];
} evm_ctx;

static evm_ctx *ctx_of(agent *a) { return (evm_ctx *)a->be_ctx; }

/* ---- identities ---- */

static void pk_of_addr(const agent *a, const evm_ctx *x, const uint8_t addr[ETH_ADDR_LEN], uint8_t pk[32]) {
    if (memcmp(addr, x->s.key.addr, ETH_ADDR_LEN) == 0) {
        memcpy(pk, a->key.pk, 32);
        return;
    }
    memset(pk, 0, 32);
    memcpy(pk, addr, ETH_ADDR_LEN);
}

static int addr_of_pk(const agent *a, const evm_ctx *x, const uint8_t pk[32], uint8_t addr[ETH_ADDR_LEN],
                      char err[PLOW_ERR_LEN]) {
    if (memcmp(pk, a->key.pk, 32) == 0) {
        memcpy(addr, x->s.key.addr, ETH_ADDR_LEN);
        return 0;
    }
    for (int i = ETH_ADDR_LEN; i < 32; i++)
        if (pk[i]) return plow_error(err, "evm: an account key that names no EVM address");
    memcpy(addr, pk, ETH_ADDR_LEN);
    return 0;
}

/* ---- the index ---- */

static ix_task *find_task(evm_ctx *x, const uint8_t id[32]) { return evm_index_task(&x->ix, id); }
static ix_challenge *find_ch(evm_ctx *x, const uint8_t cid[32]) { return evm_index_challenge(&x->ix, cid); }

/* Indexes every block up to the chain's head. */
static int refresh(evm_ctx *x, char err[PLOW_ERR_LEN]) {
    uint64_t head;
    if (eth_block_number(x->rpc, &head, err)) return -1;
    while (x->next_block <= head) {
        uint64_t to = x->next_block + 9999 < head ? x->next_block + 9999 : head;
        eth_log *logs = NULL;
        size_t n = 0;
        if (eth_get_logs(x->rpc, x->d.plow, x->next_block, to, &logs, &n, err)) return -1;
        int rc = 0;
        for (size_t i = 0; i < n && rc == 0; i++) rc = evm_index_apply(&x->ix, &logs[i], err);
        eth_logs_free(logs, n);
        if (rc) return -1;
        x->next_block = to + 1;
    }
    return 0;
}

/* ---- the leaf blob ---- */

/* Slot s's revealed leaves: its leaf blob from the node (the node checks the
 * bytes it serves against their hash). A blob of another shape than the
 * trace (not n+1 leaves, leaf n not the final state) is refused here: it is
 * badReveal's to show. -1 with err (absent: err says so). */
static int reveal_leaves(agent *a, const ix_slot *s, uint8_t **leaves, size_t *count, char err[PLOW_ERR_LEN]) {
    static const uint8_t zero[32];
    *leaves = NULL;
    *count = 0;
    if (memcmp(s->leaves_hash, zero, 32) == 0) { /* inference: no leaves */
        *leaves = plow_alloc(1);
        return 0;
    }
    char hx[12];
    agent_short(s->leaves_hash, hx);
    uint8_t *buf = NULL;
    size_t n = 0;
    if (client_blob_get_max(a->c, s->leaves_hash, (uint64_t)LEDGER_LEAVES_MAX * 32, &buf, &n, err))
        return plow_error_prefix(err, "the slot's leaf blob");
    if (n % 32 != 0 || n / 32 != s->v.n + 1 || memcmp(buf + n - 32, s->v.final_state, 32) != 0) {
        free(buf);
        return plow_error(err, "the slot's leaf blob %s is not its trace (%zu bytes for %" PRIu64
                               " steps, or leaf n is not the final state): a badReveal shows it", hx, n, s->v.n);
    }
    *leaves = buf;
    *count = n / 32;
    return 0;
}

/* ---- ledger records from the index and the contract ---- */

static void pk_cb(const uint8_t addr[ETH_ADDR_LEN], uint8_t pk[32], void *ctx) {
    agent *a = ctx;
    pk_of_addr(a, ctx_of(a), addr, pk);
}

static int task_record(agent *a, evm_ctx *x, const ix_task *it, ledger_task *t, char err[PLOW_ERR_LEN]) {
    evm_task_state st;
    if (evm_get_task(x->rpc, &x->d, it->id, &st, err)) return -1;
    return evm_ix_task_record(it, &st, pk_cb, a, t, err);
}

static void challenge_record(agent *a, const evm_ctx *x, const ix_challenge *c, ledger_challenge *o) {
    (void)x;
    evm_ix_challenge_record(c, pk_cb, a, o);
}


typedef struct task_query {
    unsigned statuses; /* bit per status; 0: any */
    int kind;          /* 0: any */
    bool has_deadline, has_addr, has_min, has_max;
    uint64_t deadline_from, min_reward, max_reward;
    uint8_t addr[32];
} task_query;

static int parse_query(const char *q, task_query *o, char err[PLOW_ERR_LEN]) {
    memset(o, 0, sizeof *o);
    if (!q) return 0;
    char buf[512];
    if (strlen(q) >= sizeof buf) return plow_error(err, "evm: query too long");
    snprintf(buf, sizeof buf, "%s", q);
    char *save = NULL;
    for (char *kv = strtok_r(buf, "&", &save); kv; kv = strtok_r(NULL, "&", &save)) {
        char *eq = strchr(kv, '=');
        if (!eq) return plow_error(err, "evm: query part '%.40s' has no '='", kv);
        *eq = 0;
        const char *v = eq + 1;
        if (strcmp(kv, "status") == 0) {
            char vb[256], *s2 = NULL;
            snprintf(vb, sizeof vb, "%s", v);
            for (char *n = strtok_r(vb, ",", &s2); n; n = strtok_r(NULL, ",", &s2)) {
                int k = 0;
                for (int s = LEDGER_TASK_OPEN; s < LEDGER_TASK_STATUS_END; s++)
                    if (strcmp(n, ledger_task_status_name(s)) == 0) k = s;
                if (!k) return plow_error(err, "evm: unknown status '%.20s'", n);
                o->statuses |= 1u << k;
            }
        } else if (strcmp(kv, "kind") == 0) {
            for (int k = LEDGER_KIND_TRAIN; k < LEDGER_KIND_END; k++)
                if (strcmp(v, ledger_kind_name(k)) == 0) o->kind = k;
            if (!o->kind) return plow_error(err, "evm: unknown kind '%.20s'", v);
        } else if (strcmp(kv, "deadline_from") == 0) {
            if (!plow_parse_u64(v, &o->deadline_from)) return plow_error(err, "evm: deadline_from=%.20s", v);
            o->has_deadline = true;
        } else if (strcmp(kv, "min_reward") == 0) {
            if (!plow_parse_u64(v, &o->min_reward)) return plow_error(err, "evm: min_reward=%.20s", v);
            o->has_min = true;
        } else if (strcmp(kv, "max_reward") == 0) {
            if (!plow_parse_u64(v, &o->max_reward)) return plow_error(err, "evm: max_reward=%.20s", v);
            o->has_max = true;
        } else if (strcmp(kv, "addr") == 0) {
            if (ledger_addr_parse(v, o->addr, err)) return plow_error_prefix(err, "evm: addr");
            o->has_addr = true;
        } else {
            return plow_error(err, "evm: unknown filter '%.20s'", kv);
        }
    }
    return 0;
}

static bool matches(const task_query *q, const ledger_task *t) {
    if (q->statuses && !(q->statuses & (1u << t->status))) return false;
    if (q->kind && t->p.kind != q->kind) return false;
    if (q->has_min && t->p.reward < q->min_reward) return false;
    if (q->has_max && t->p.reward > q->max_reward) return false;
    if (q->has_deadline) {
        uint64_t d = ledger_task_deadline(t);
        if (d == 0 || d < q->deadline_from) return false;
    }
    if (q->has_addr) {
        bool mine = memcmp(t->requester, q->addr, 32) == 0;
        for (int s = 0; s < t->p.replicas && !mine; s++)
            mine = t->slots[s].status != LEDGER_SLOT_EMPTY && memcmp(t->slots[s].worker, q->addr, 32) == 0;
        if (!mine) return false;
    }
    return true;
}

/* ---- the backend's reads ---- */

static int be_load_params(agent *a, char err[PLOW_ERR_LEN]) {
    (void)err;
    evm_ctx *x = ctx_of(a);
    if (a->have_params) return 0;
    memset(&a->params, 0, sizeof a->params);
    a->params.unbond_blocks = x->d.params.unbond_blocks;
    a->params.verdict_blocks = x->d.params.verdict_blocks;
    a->params.slash_challenger_pct = x->d.params.slash_challenger_pct;
    a->params.bond_accused_pct = x->d.params.bond_accused_pct;
    a->params.min_fee = 0; /* gas is paid in the chain's coin, not from the plow balance */
    a->min_fee = 0;
    a->have_params = true;
    return 0;
}

static int be_height(agent *a, uint64_t *height, char err[PLOW_ERR_LEN]) {
    return eth_block_number(ctx_of(a)->rpc, height, err);
}

static int be_account(agent *a, const uint8_t pk[32], ledger_account *out, char err[PLOW_ERR_LEN]) {
    evm_ctx *x = ctx_of(a);
    uint8_t addr[ETH_ADDR_LEN];
    if (addr_of_pk(a, x, pk, addr, err)) return -1;
    return evm_ledger_account(x->rpc, &x->d, addr, pk, out, err);
}

static int be_list_tasks(agent *a, const char *query, ledger_task **out, size_t *n, char err[PLOW_ERR_LEN]) {
    evm_ctx *x = ctx_of(a);
    *out = NULL;
    *n = 0;
    task_query q;
    if (parse_query(query, &q, err) || refresh(x, err)) return -1;
    ledger_task *ts = NULL;
    size_t cnt = 0;
    for (size_t i = 0; i < x->ix.n; i++) { /* oldest first, as the agents want */
        ledger_task t;
        if (task_record(a, x, &x->ix.tasks[i], &t, err)) {
            free(ts);
            return -1;
        }
        if (!matches(&q, &t)) continue;
        ts = plow_realloc(ts, (cnt + 1) * sizeof *ts);
        ts[cnt++] = t;
    }
    *out = ts;
    *n = cnt;
    return 0;
}

static int be_task(agent *a, const uint8_t id[32], ledger_task *t, ledger_challenge **ch, size_t *n_ch,
                    char err[PLOW_ERR_LEN]) {
    evm_ctx *x = ctx_of(a);
    if (ch) *ch = NULL;
    if (n_ch) *n_ch = 0;
    if (refresh(x, err)) return -1;
    const ix_task *it = find_task(x, id);
    if (!it) return plow_error(err, "evm: no such task");
    if (task_record(a, x, it, t, err)) return -1;
    if (ch) {
        size_t k = 0;
        for (size_t i = 0; i < x->ix.n_ch; i++) k += memcmp(x->ix.chs[i].d.task, id, 32) == 0;
        if (k) {
            *ch = plow_calloc(k, sizeof **ch);
            k = 0;
            for (size_t i = 0; i < x->ix.n_ch; i++)
                if (memcmp(x->ix.chs[i].d.task, id, 32) == 0) challenge_record(a, x, &x->ix.chs[i], &(*ch)[k++]);
            *n_ch = k;
        }
    }
    return 0;
}

static int be_challenge(agent *a, const uint8_t id[32], ledger_challenge *out, char err[PLOW_ERR_LEN]) {
    evm_ctx *x = ctx_of(a);
    if (refresh(x, err)) return -1;
    const ix_challenge *c = find_ch(x, id);
    if (!c) return plow_error(err, "evm: no such challenge");
    challenge_record(a, x, c, out);
    return 0;
}

static int be_reveal_of(agent *a, const ledger_task *t, int slot, ledger_tx *out, char err[PLOW_ERR_LEN]) {
    evm_ctx *x = ctx_of(a);
    if (refresh(x, err)) return -1;
    ix_task *it = find_task(x, t->id);
    if (!it || slot < 0 || slot >= it->p.replicas || !it->slots[slot].revealed)
        return plow_error(err, "slot %d has not revealed", slot);
    ix_slot *s = &it->slots[slot];
    uint8_t *lv;
    size_t cnt;
    if (reveal_leaves(a, s, &lv, &cnt, err)) return -1;
    memset(out, 0, sizeof *out);
    out->type = LEDGER_TX_REVEAL;
    pk_of_addr(a, x, s->worker, out->sender);
    evm_reveal_fill(out, t->id, &s->v, s->salt, lv, cnt);
    free(lv);
    return 0;
}

static int be_block_hash(agent *a, uint64_t height, uint8_t hash[32], uint64_t *time_ms, char err[PLOW_ERR_LEN]) {
    uint64_t s = 0;
    if (eth_block_info(ctx_of(a)->rpc, height, hash, &s, err)) return -1;
    if (time_ms) *time_ms = s * 1000;
    return 0;
}

/* ---- the backend's transactions ---- */

static void params_of(const evm_ctx *x, const ledger_task_params *lp, evm_params *p) {
    memset(p, 0, sizeof *p);
    memcpy(p->requester, x->s.key.addr, ETH_ADDR_LEN);
    p->kind = lp->kind;
    p->mode = lp->mode;
    p->replicas = lp->replicas;
    p->reward = lp->reward;
    p->worker_stake = lp->worker_stake;
    p->min_bond = lp->min_bond;
    p->steps = lp->steps;
    p->claim_blocks = lp->claim_blocks;
    p->work_blocks = lp->work_blocks;
    p->window_blocks = lp->window_blocks;
    memcpy(p->spec, lp->spec, 32);
    randombytes_buf(p->salt, 32);
}

/* This agent's slot of task it in state `want` (claimed / committed / revealed), or -1. */
static int my_slot(const evm_ctx *x, const ix_task *it, const uint8_t addr[ETH_ADDR_LEN], int want) {
    for (int i = 0; i < it->p.replicas; i++) {
        const ix_slot *s = &it->slots[i];
        if (!s->claimed || memcmp(s->worker, addr, ETH_ADDR_LEN) != 0) continue;
        int at = s->revealed ? 3 : s->committed ? 2 : 1;
        if (at == want) return i;
    }
    (void)x;
    return -1;
}

static void seals_of(const ix_task *it, evm_seal *seals) {
    for (int i = 0; i < it->p.replicas; i++) {
        const ix_slot *s = &it->slots[i];
        memset(&seals[i], 0, sizeof seals[i]);
        if (!s->committed) continue;
        memcpy(seals[i].worker, s->worker, ETH_ADDR_LEN);
        memcpy(seals[i].commitment, s->commitment, 32);
        if (s->revealed) {
            memcpy(seals[i].final_state, s->v.final_state, 32);
            memcpy(seals[i].artifact, s->v.artifact, 32);
            memcpy(seals[i].leaves, s->leaves_hash, 32);
        }
    }
}

static int side_of(const ix_slot *s, const ledger_evidence *ev, evm_side *sd, char err[PLOW_ERR_LEN]) {
    memset(sd, 0, sizeof *sd);
    if (!s->revealed) return plow_error(err, "challenge: the accused has not revealed");
    memcpy(sd->worker, s->worker, ETH_ADDR_LEN);
    sd->v = s->v;
    memcpy(sd->salt, s->salt, 32);
    memcpy(sd->leaves, s->leaves_hash, 32);
    memcpy(sd->leaf_prev, ev->leaf_prev, 32);
    memcpy(sd->leaf, ev->leaf, 32);
    sd->proof_prev = ev->proof_prev.depth ? &ev->proof_prev : NULL;
    sd->proof = ev->proof.depth ? &ev->proof : NULL;
    return 0;
}

static int slot_of_worker(const ix_task *it, const uint8_t addr[ETH_ADDR_LEN]) {
    for (int i = 0; i < it->p.replicas; i++)
        if (it->slots[i].claimed && memcmp(it->slots[i].worker, addr, ETH_ADDR_LEN) == 0) return i;
    return -1;
}

static int be_send_at(agent *a, ledger_tx *tx, uint8_t hash[32], uint64_t *height, char err[PLOW_ERR_LEN]) {
    evm_ctx *x = ctx_of(a);
    const evm_deployment *d = &x->d;
    eth_receipt r;
    memset(&r, 0, sizeof r);
    uint8_t h[32] = {0};
    int rc = -1;
    memcpy(tx->sender, a->key.pk, 32);
    tx->fee = 0;
    if (refresh(x, err)) return -1;
    ix_task *it = NULL;
    const uint8_t *tid = NULL;
    switch (tx->type) {
    case LEDGER_TX_CLAIM: case LEDGER_TX_FINALIZE: case LEDGER_TX_EXPIRE: tid = tx->u.ref.task; break;
    case LEDGER_TX_COMMIT: tid = tx->u.commit.task; break;
    case LEDGER_TX_REVEAL: tid = tx->u.open.task; break;
    case LEDGER_TX_CHALLENGE: tid = tx->u.challenge.task; break;
    case LEDGER_TX_DA_CHALLENGE: tid = tx->u.da.task; break;
    default: break;
    }
    if (tid && !(it = find_task(x, tid))) return plow_error(err, "%s: no such task", ledger_tx_type_name(tx->type));
    switch (tx->type) {
    case LEDGER_TX_STAKE: rc = evm_account_op(&x->s, d, "stake", tx->u.stake.amount, &r, err); break;
    case LEDGER_TX_UNSTAKE: rc = evm_account_op(&x->s, d, "unstake", tx->u.stake.amount, &r, err); break;
    case LEDGER_TX_TRANSFER: {
        uint8_t to[ETH_ADDR_LEN];
        if (addr_of_pk(a, x, tx->u.transfer.to, to, err)) return -1;
        rc = evm_transfer(&x->s, d, to, tx->u.transfer.amount, &r, err);
        break;
    }
    case LEDGER_TX_REGISTER: {
        /* the registration's URI (ERC-8004-style): the capabilities as a data: URI when they fit */
        char uri[513];
        int k = snprintf(uri, sizeof uri, "data:application/json,%s", tx->u.reg.caps);
        if (k < 0 || (size_t)k >= sizeof uri) snprintf(uri, sizeof uri, "plow-agent:%s", tx->u.reg.name);
        rc = evm_register(&x->s, d, tx->u.reg.kind, uri, &r, err);
        break;
    }
    case LEDGER_TX_POST_TASK: {
        evm_params p;
        params_of(x, &tx->u.post, &p);
        evm_task_id(&p, h);
        rc = evm_post(&x->s, d, &p, &r, err);
        break;
    }
    case LEDGER_TX_CLAIM: rc = evm_claim(&x->s, d, &it->p, &r, err); break;
    case LEDGER_TX_COMMIT: {
        int s = my_slot(x, it, x->s.key.addr, 1);
        if (s < 0) return plow_error(err, "commit: the sender holds no claimed slot there");
        rc = evm_commit(&x->s, d, &it->p, (uint8_t)s, tx->u.commit.trace_root, &r, err);
        break;
    }
    case LEDGER_TX_REVEAL: {
        int s = my_slot(x, it, x->s.key.addr, 2);
        if (s < 0) return plow_error(err, "reveal: the sender holds no committed slot there");
        evm_values v = {.n = tx->u.open.n, .checkpoint_every = tx->u.open.checkpoint_every};
        memcpy(v.trace_root, tx->u.open.trace_root, 32);
        memcpy(v.final_state, tx->u.open.final_state, 32);
        memcpy(v.artifact, tx->u.open.artifact, 32);
        memcpy(v.manifest, tx->u.open.manifest, 32);
        if (tx->u.open.count) { /* the leaf blob first: the reveal names it, a data challenge demands it */
            uint8_t lb[32], put[32];
            evm_leaves_hash(tx->u.open.leaves, tx->u.open.count, lb);
            if (client_blob_put(a->c, tx->u.open.leaves, (size_t)tx->u.open.count * 32, put, err))
                return plow_error_prefix(err, "reveal: publishing the leaf blob");
            if (memcmp(put, lb, 32) != 0) return plow_error(err, "reveal: the node stored the leaf blob under another hash");
        }
        rc = evm_reveal(&x->s, d, &it->p, (uint8_t)s, &v, tx->u.open.salt, tx->u.open.leaves, tx->u.open.count, &r,
                        err);
        break;
    }
    case LEDGER_TX_CHALLENGE: {
        uint8_t acc[ETH_ADDR_LEN], oth[ETH_ADDR_LEN];
        static const uint8_t zero[32];
        bool has_other = memcmp(tx->u.challenge.other, zero, 32) != 0;
        if (addr_of_pk(a, x, tx->u.challenge.accused, acc, err) ||
            (has_other && addr_of_pk(a, x, tx->u.challenge.other, oth, err)))
            return -1;
        int sa = slot_of_worker(it, acc), so = has_other ? slot_of_worker(it, oth) : 0;
        if (sa < 0 || so < 0) return plow_error(err, "challenge: the accused holds no slot of the task");
        evm_side as, os;
        if (side_of(&it->slots[sa], &tx->u.challenge.ev, &as, err) ||
            (has_other && side_of(&it->slots[so], &tx->u.challenge.ev_other, &os, err)))
            return -1;
        evm_dispute dis;
        rc = evm_challenge(&x->s, d, &it->p, (uint8_t)sa, &as, has_other ? &os : NULL, (uint8_t)so,
                           tx->u.challenge.step, tx->u.challenge.state_blob, tx->u.challenge.bond, &dis, h, &r, err);
        break;
    }
    case LEDGER_TX_DA_CHALLENGE: {
        uint8_t acc0[ETH_ADDR_LEN];
        static const uint8_t zero[32];
        if (memcmp(tx->u.da.want, zero, 32) == 0) { /* D3: the unrunnable claim, against the requester */
            if (memcmp(tx->u.da.accused, zero, 32) != 0 && (addr_of_pk(a, x, tx->u.da.accused, acc0, err) ||
                                                            memcmp(acc0, it->p.requester, ETH_ADDR_LEN) != 0))
                return plow_error(err, "da_challenge: an unrunnable claim accuses the task's requester");
            int ms = slot_of_worker(it, x->s.key.addr);
            if (ms < 0) return plow_error(err, "da_challenge: only a worker holding a slot of the task claims it unrunnable");
            evm_seal seals[LEDGER_MAX_REPLICAS];
            seals_of(it, seals);
            evm_dispute dis;
            rc = evm_unrunnable_claim(&x->s, d, &it->p, (uint8_t)ms, it->slots[ms].committed ? &seals[ms] : NULL,
                                      tx->u.da.bond, &dis, h, &r, err);
            break;
        }
        uint8_t acc[ETH_ADDR_LEN];
        if (addr_of_pk(a, x, tx->u.da.accused, acc, err)) return -1;
        int sa = slot_of_worker(it, acc);
        if (sa < 0) return plow_error(err, "da_challenge: the accused holds no slot of the task");
        ledger_evidence none;
        memset(&none, 0, sizeof none);
        evm_side as;
        if (side_of(&it->slots[sa], &none, &as, err)) return -1;
        evm_dispute dis;
        rc = evm_da_challenge(&x->s, d, &it->p, (uint8_t)sa, &as, tx->u.da.want, tx->u.da.bond, &dis, h, &r, err);
        break;
    }
    case LEDGER_TX_FINALIZE:
    case LEDGER_TX_EXPIRE: {
        evm_seal seals[LEDGER_MAX_REPLICAS];
        seals_of(it, seals);
        rc = tx->type == LEDGER_TX_FINALIZE ? evm_finalize(&x->s, d, &it->p, seals, &r, err)
                                            : evm_expire(&x->s, d, &it->p, seals, &r, err);
        break;
    }
    default:
        return plow_error(err, "%s: not a transaction the EVM backend sends", ledger_tx_type_name(tx->type));
    }
    if (rc) {
        /* agent_refused's wording: the chain refused it (a revert), retrying the same will not help */
        if (strstr(err, "revert")) {
            char e2[PLOW_ERR_LEN];
            snprintf(e2, sizeof e2, "%s", err);
            plow_error(err, "transaction failed in block (reverted): %s", e2);
        }
        return -1;
    }
    if (tx->type != LEDGER_TX_POST_TASK && tx->type != LEDGER_TX_CHALLENGE && tx->type != LEDGER_TX_DA_CHALLENGE)
        memcpy(h, r.tx_hash, 32);
    if (hash) memcpy(hash, h, 32);
    if (height) *height = r.block;
    return refresh(x, err);
}

static int be_post_prepare(agent *a, ledger_tx *tx, uint8_t id[32], char err[PLOW_ERR_LEN]) {
    (void)err;
    evm_ctx *x = ctx_of(a);
    memcpy(tx->sender, a->key.pk, 32);
    tx->fee = 0;
    params_of(x, &tx->u.post, &x->pending);
    evm_task_id(&x->pending, x->pending_id);
    x->have_pending = true;
    memcpy(id, x->pending_id, 32);
    return 0;
}

static int be_post_submit(agent *a, const ledger_tx *tx, char err[PLOW_ERR_LEN]) {
    evm_ctx *x = ctx_of(a);
    if (!x->have_pending) return plow_error(err, "post: nothing prepared");
    evm_params p;
    params_of(x, &tx->u.post, &p);
    memcpy(p.salt, x->pending.salt, 32);
    if (memcmp(&p, &x->pending, sizeof p) != 0) return plow_error(err, "post: not the prepared task");
    x->have_pending = false;
    if (evm_post(&x->s, &x->d, &p, NULL, err)) {
        if (strstr(err, "revert")) {
            x->have_refused = true;
            memcpy(x->refused_id, x->pending_id, 32);
            snprintf(x->refused_msg, sizeof x->refused_msg, "%s", err);
            return 0; /* sent, and refused: post_status says so */
        }
        return -1;
    }
    return 0;
}

static int be_post_status(agent *a, const uint8_t id[32], double wait_s, int *result, char msg[PLOW_ERR_LEN],
                           char err[PLOW_ERR_LEN]) {
    (void)wait_s; /* post_submit waited for the receipt already */
    evm_ctx *x = ctx_of(a);
    msg[0] = 0;
    if (x->have_refused && memcmp(x->refused_id, id, 32) == 0) {
        *result = LEDGER_TX_FAILED;
        snprintf(msg, PLOW_ERR_LEN, "%s", x->refused_msg);
        return 0;
    }
    evm_task_state st;
    if (evm_get_task(x->rpc, &x->d, id, &st, err)) return -1;
    if (st.status == 0) return plow_error(err, "the chain does not know task %02x%02x%02x%02x", id[0], id[1], id[2], id[3]);
    *result = LEDGER_TX_OK;
    return 0;
}

static void be_close(agent *a) {
    evm_ctx *x = ctx_of(a);
    if (!x) return;
    eth_signer_release(&x->s);
    eth_rpc_free(x->rpc);
    evm_index_release(&x->ix);
    free(x);
    a->be_ctx = NULL;
}

const agent_backend agent_backend_evm = {
    .name = "evm",
    .load_params = be_load_params,
    .send_at = be_send_at,
    .post_prepare = be_post_prepare,
    .post_submit = be_post_submit,
    .post_status = be_post_status,
    .height = be_height,
    .account = be_account,
    .list_tasks = be_list_tasks,
    .task = be_task,
    .challenge = be_challenge,
    .reveal_of = be_reveal_of,
    .block_hash = be_block_hash,
    .close = be_close,
};

int agent_use_evm(agent *a, const char *rpc_url, const char *deployment, const char *keystore,
                  char err[PLOW_ERR_LEN]) {
    evm_ctx *x = plow_calloc(1, sizeof *x);
    uint8_t *buf = NULL;
    size_t n = 0;
    eth_key k;
    memset(&k, 0, sizeof k);
    int rc = -1;
    if (plow_read_file(deployment, 1 << 20, &buf, &n, err)) {
        plow_error_prefix(err, deployment);
        goto fail;
    }
    if (evm_deployment_parse((const char *)buf, n, &x->d, err)) {
        plow_error_prefix(err, deployment);
        goto fail;
    }
    if (eth_key_load(keystore, &k, err)) {
        plow_error_prefix(err, keystore);
        goto fail;
    }
    x->rpc = eth_rpc_new(rpc_url);
    if (!x->rpc) {
        plow_error(err, "cannot make an HTTP client for '%s'", rpc_url);
        goto fail;
    }
    if (eth_signer_init(&x->s, x->rpc, &k, err)) {
        plow_error_prefix(err, rpc_url);
        goto fail;
    }
    if (x->s.chain_id != x->d.chain_id) {
        plow_error(err, "%s is chain %" PRIu64 ", the deployment is on chain %" PRIu64, rpc_url, x->s.chain_id,
                   x->d.chain_id);
        eth_signer_release(&x->s);
        goto fail;
    }
    evm_index_init(&x->ix, x->d.plow);
    x->next_block = x->d.block;
    if (a->be && a->be->close) a->be->close(a);
    a->be = &agent_backend_evm;
    a->be_ctx = x;
    a->have_params = false;
    x = NULL;
    rc = 0;
fail:
    if (x) {
        eth_rpc_free(x->rpc);
        free(x);
    }
    free(buf);
    eth_key_wipe(&k);
    return rc;
}

int agent_leaf_blob(agent *a, const ledger_task *t, int s, uint8_t hash[32], char err[PLOW_ERR_LEN]) {
    if (a->be != &agent_backend_evm) return 1;
    evm_ctx *x = ctx_of(a);
    if (refresh(x, err)) return -1;
    ix_task *it = find_task(x, t->id);
    if (!it || s < 0 || s >= it->p.replicas || !it->slots[s].revealed)
        return plow_error(err, "slot %d has not revealed", s);
    memcpy(hash, it->slots[s].leaves_hash, 32);
    return 0;
}

int agent_commitment(agent *a, const ledger_tx *reveal, uint32_t slot, uint8_t out[32]) {
    if (a->be != &agent_backend_evm) {
        ledger_commitment(reveal, slot, out);
        return 0;
    }
    evm_ctx *x = ctx_of(a);
    evm_values v = {.n = reveal->u.open.n, .checkpoint_every = reveal->u.open.checkpoint_every};
    memcpy(v.trace_root, reveal->u.open.trace_root, 32);
    memcpy(v.final_state, reveal->u.open.final_state, 32);
    memcpy(v.artifact, reveal->u.open.artifact, 32);
    memcpy(v.manifest, reveal->u.open.manifest, 32);
    evm_commitment(&x->d, reveal->u.open.task, (uint8_t)slot, x->s.key.addr, &v, reveal->u.open.salt, out);
    return 0;
}

/* ---- the referee on the chain ---- */

/* The task cannot be run within the network's limits (ledger.md V6, the
 * poster's fault): ruling 2 (the challenge upheld, its bond back), then the
 * task expired at once (every held slot VOID, the escrow back) -- never a
 * silent lapse. err holds why on entry. */
static int referee_unrunnable(agent *a, evm_ctx *x, ix_challenge *c, ix_task *it, char err[PLOW_ERR_LEN]) {
    char cid[12], tid[12], why[PLOW_ERR_LEN];
    agent_short(c->cid, cid);
    agent_short(c->d.task, tid);
    snprintf(why, sizeof why, "%s", err);
    static const uint8_t zero[32];
    if (evm_verdict(&x->s, &x->d, &x->s.key, c->cid, &c->d, 2, zero, NULL, 0, NULL, err)) return -1;
    agent_log(a, "verdict on challenge %s (task %s): the task cannot be run within the network's limits (%s): "
                 "unrunnable, the poster's fault", cid, tid, why);
    if (refresh(x, err)) return -1;
    evm_seal seals[LEDGER_MAX_REPLICAS];
    seals_of(it, seals);
    if (evm_expire(&x->s, &x->d, &it->p, seals, NULL, err)) return -1;
    agent_log(a, "task %s expired: its slots void, the escrow back to the requester", tid);
    return 0;
}

/* The disputed task and its spec, for a ruling: 0; 1 when the spec or an
 * input is absent or malformed (err says why: the task cannot be run); -1. */
static int referee_task(agent *a, evm_ctx *x, const ix_challenge *c, ix_task **it, job_spec *spec,
                        char err[PLOW_ERR_LEN]) {
    *it = find_task(x, c->d.task);
    if (!*it) return plow_error(err, "referee: the challenge's task is not indexed");
    ledger_task t;
    if (task_record(a, x, *it, &t, err)) return -1;
    return agent_fetch_spec(a, &t, spec, err);
}

/* One step challenge ruled: job_referee from the node's blobs in dir, the
 * verdict signed with this agent's EVM key (RefereeJudge's referee) and
 * carried by it. 1: nothing to sign (the task cannot be run: the contract
 * has no such ruling, the challenge lapses and voids). */
static int referee_step(agent *a, evm_ctx *x, ix_challenge *c, const char *dir, char err[PLOW_ERR_LEN]) {
    ix_task *it;
    job_spec spec;
    int src = referee_task(a, x, c, &it, &spec, err);
    if (src < 0) return -1;
    if (src > 0) return referee_unrunnable(a, x, c, it, err); /* the spec or an input absent or malformed */
    ledger_challenge lc;
    challenge_record(a, x, c, &lc);
    if (plow_mkdir_p(dir, err)) return -1;
    ix_slot *s = &it->slots[c->d.accused_slot];
    if (s->revealed) { /* the accused's leaves where job_referee looks first */
        uint8_t *lv;
        size_t cnt;
        if (reveal_leaves(a, s, &lv, &cnt, err) == 0) {
            char *p = job_leaves_path(dir, s->v.trace_root);
            char e2[PLOW_ERR_LEN];
            if (p && plow_write_file(p, lv, cnt * 32, e2)) agent_log(a, "cannot keep the leaves: %s", e2);
            free(p);
            free(lv);
        }
    }
    job_blobs jb = agent_job_blobs(a);
    uint8_t computed[32] = {0};
    bool prev_ok = false;
    job_limits l;
    job_cost cost;
    job_limits_network(&l);
    int jrc = job_probe(&spec, &jb, dir, &l, false, &cost, err); /* a bomb is ruled before anything is built */
    if (jrc == 0) jrc = job_referee(&spec, &jb, &lc, dir, computed, &prev_ok, err);
    if (jrc < 0) return -1;
    if (jrc > 0) return referee_unrunnable(a, x, c, it, err);
    uint8_t ruling = prev_ok ? 1 : 0;
    uint8_t evidence[64]; /* what anyone re-runs the step from: the state blob, and the leaf it gives */
    memcpy(evidence, c->d.state_blob, 32);
    memcpy(evidence + 32, computed, 32);
    if (evm_verdict(&x->s, &x->d, &x->s.key, c->cid, &c->d, ruling, computed, evidence, sizeof evidence, NULL, err))
        return -1;
    char cid[12], tid[12];
    agent_short(c->cid, cid);
    agent_short(c->d.task, tid);
    bool wrong = ruling == 1 && memcmp(computed, c->d.accused_leaf, 32) != 0;
    agent_log(a, "verdict on challenge %s (task %s, step %" PRIu64 "): %s", cid, tid, c->d.step,
              ruling == 0 ? "the state shown is not the agreed one: rejected"
              : wrong    ? "the accused's leaf is wrong: upheld"
                         : "the accused's leaf is right: rejected");
    return 0;
}

/* A worker's unrunnable claim (D3) ruled as the node's referee rules one:
 * the spec and its inputs probed against the network's limits for the
 * whole run; unrunnable -> ruling 2 and the task expired at once, runnable
 * -> ruling 1 (REJECTED: the bond's share to the requester). */
static int referee_claim(agent *a, evm_ctx *x, ix_challenge *c, const char *dir, char err[PLOW_ERR_LEN]) {
    ix_task *it;
    job_spec spec;
    int src = referee_task(a, x, c, &it, &spec, err);
    if (src < 0) return -1;
    if (src > 0) return referee_unrunnable(a, x, c, it, err);
    if (plow_mkdir_p(dir, err)) return -1;
    job_blobs jb = agent_job_blobs(a);
    job_limits l;
    job_cost cost;
    job_limits_network(&l);
    int jrc = job_probe(&spec, &jb, dir, &l, true, &cost, err);
    if (jrc < 0) return -1;
    if (jrc > 0) return referee_unrunnable(a, x, c, it, err);
    static const uint8_t zero[32];
    if (evm_verdict(&x->s, &x->d, &x->s.key, c->cid, &c->d, 1, zero, c->d.task, 32, NULL, err)) return -1;
    char cid[12], tid[12];
    agent_short(c->cid, cid);
    agent_short(c->d.task, tid);
    agent_log(a, "verdict on unrunnable claim %s (task %s): the task runs within the network's limits: rejected", cid,
              tid);
    return 0;
}

int agent_evm_referee_round(agent *a, int *ruled, char err[PLOW_ERR_LEN]) {
    evm_ctx *x = ctx_of(a);
    *ruled = 0;
    if (a->be != &agent_backend_evm) return plow_error(err, "referee: the agent does not settle on an EVM chain");
    if (memcmp(x->s.key.addr, x->d.params.referee, ETH_ADDR_LEN) != 0)
        return plow_error(err, "referee: the key is not the deployment's referee");
    if (refresh(x, err)) return -1;
    uint64_t head;
    if (eth_block_number(x->rpc, &head, err)) return -1;
    char marks[AGENT_PATH_MAX + 16];
    snprintf(marks, sizeof marks, "%s/referee", a->work);
    if (plow_mkdir_p(marks, err)) return -1; /* where the .done marks go, whatever the ruling */
    for (size_t i = 0; i < x->ix.n_ch && !agent_stop_requested(); i++) {
        ix_challenge *c = &x->ix.chs[i];
        if (c->status != EVM_C_OPEN || head > c->void_at) continue;
        char hex[65], dir[AGENT_PATH_MAX + 100], done[AGENT_PATH_MAX + 120];
        plow_hex(c->cid, 32, hex);
        snprintf(dir, sizeof dir, "%s/referee/%s", a->work, hex);
        snprintf(done, sizeof done, "%s.done", dir);
        if (plow_file_exists(done)) continue; /* ruled (or set aside) already; its event is on the way */
        int rc;
        if (c->d.kind == 1) {
            /* data: the referee attests a blob it can fetch (ruling 0); otherwise the accused answers or lapses */
            job_blobs jb = agent_job_blobs(a);
            uint64_t sz;
            rc = jb.size(jb.ctx, c->d.state_blob, &sz, err);
            if (rc < 0) return -1;
            if (rc > 0) continue;
            static const uint8_t zero[32];
            rc = evm_verdict(&x->s, &x->d, &x->s.key, c->cid, &c->d, 0, zero, c->d.state_blob, 32, NULL, err);
        } else if (c->d.kind == 2) {
            rc = referee_claim(a, x, c, dir, err);
        } else {
            rc = referee_step(a, x, c, dir, err);
        }
        if (rc < 0) return -1;
        char e2[PLOW_ERR_LEN];
        if (plow_write_file(done, "ruled\n", 6, e2)) agent_log(a, "cannot mark %s: %s", done, e2);
        (*ruled)++;
    }
    return 0;
}
