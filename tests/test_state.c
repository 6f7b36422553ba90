/*
 * test_state.c — the ledger's state machine (src/ledger/state.c) against the
 * rules table in docs/ledger.md: every transaction's happy path and each of
 * its rules broken by an adversary.
 *
 * Every test runs in a `world`: a genesis built in code, the state under
 * test and a reference state fed the same blocks, except that a transaction
 * expected to FAIL is replaced in the reference by one that fails at once
 * (a zero transfer, same sender, nonce and fee). After every transaction the
 * two roots must be equal (so a failed transaction changed nothing but fee
 * and nonce) and holdings must equal supply - burned. When a world ends, its
 * blocks are replayed into a fresh state (same results, same root at every
 * block: determinism) and the records it stored through ledger_each_dirty
 * are loaded into another fresh state (same root: persistence round-trip).
 */
#include "test.h"

#include <inttypes.h>

#include "../src/label/label.h"
#include "../src/ledger/ledger.h"

/* ---- keys and genesis -------------------------------------------------------------------- */

enum { OP, ALICE, BOB, CAROL, DAVE, EVE, FRANK, GRACE, HEIDI, NKEYS };
/* In genesis: OP (operator), ALICE (requester), BOB/CAROL/DAVE (workers with
 * stake), EVE (poor). FRANK, GRACE and HEIDI are not in genesis. */
static ledger_key K[NKEYS];

#define MIN_FEE 2
#define UNBOND 5
#define VERDICT 4
#define SLASH_PCT 40
#define BOND_PCT 50
#define WORKER_BAL 100000
#define WORKER_STAKE 10000
#define EVE_BAL 10

static void keys_init(void) {
    for (int i = 0; i < NKEYS; i++) {
        uint8_t seed[32] = {0};
        seed[0] = (uint8_t)(i + 1);
        memcpy(seed + 1, "plow state test", 15);
        ledger_key_from_seed(&K[i], seed);
    }
}

static int who_of(const uint8_t pk[32]) {
    for (int i = 0; i < NKEYS; i++)
        if (memcmp(K[i].pk, pk, 32) == 0) return i;
    return -1;
}

/* ---- the world ------------------------------------------------------------------------------ */

typedef struct rec {
    uint8_t key[40];
    size_t klen;
    uint8_t *val;
    size_t vlen;
} rec;

typedef struct logent {
    int kind; /* 'b' begin block, 't' transaction, 'e' end block */
    uint64_t height, time_ms;
    ledger_tx tx;
    bool sig_checked;
    int result;
    uint8_t root[32];
} logent;

typedef struct world {
    ledger_genesis g;
    ledger_genesis_account acc[6];
    ledger_state *s, *ref;
    bool in_block;
    bool no_invariant; /* records loaded by hand broke the supply on purpose */
    char err[PLOW_ERR_LEN];
    rec *store;
    size_t n_store, cap_store;
    logent *log;
    size_t n_log, cap_log;
} world;

static void world_init(world *w) {
    memset(w, 0, sizeof *w);
    keys_init();
    snprintf(w->g.chain, sizeof w->g.chain, "plow-state-test");
    w->g.time_ms = 1000000;
    memcpy(w->g.operator_pk, K[OP].pk, 32);
    w->g.params = (ledger_params){.unbond_blocks = UNBOND,
                                  .verdict_blocks = VERDICT,
                                  .min_fee = MIN_FEE,
                                  .slash_challenger_pct = SLASH_PCT,
                                  .bond_accused_pct = BOND_PCT};
    uint64_t bal[6] = {1000000, 1000000, WORKER_BAL, WORKER_BAL, WORKER_BAL, EVE_BAL};
    uint64_t stk[6] = {0, 0, WORKER_STAKE, WORKER_STAKE, WORKER_STAKE, 0};
    for (int i = 0; i < 6; i++) {
        memcpy(w->acc[i].pk, K[i].pk, 32);
        w->acc[i].balance = bal[i];
        w->acc[i].stake = stk[i];
        w->g.supply += bal[i] + stk[i];
    }
    w->g.n_accounts = 6;
    w->g.accounts = w->acc;
    plow_sha256_once("plow state test genesis", 23, w->g.chain_id);
    w->s = ledger_state_new(&w->g);
    w->ref = ledger_state_new(&w->g);
}

static logent *log_push(world *w, int kind) {
    if (w->n_log == w->cap_log) {
        w->cap_log = w->cap_log ? 2 * w->cap_log : 32;
        w->log = plow_realloc(w->log, w->cap_log * sizeof *w->log);
    }
    logent *e = &w->log[w->n_log++];
    memset(e, 0, sizeof *e);
    e->kind = kind;
    return e;
}

static void store_put(const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen, void *arg) {
    world *w = arg;
    rec *r = NULL;
    for (size_t i = 0; i < w->n_store; i++)
        if (w->store[i].klen == klen && memcmp(w->store[i].key, key, klen) == 0) r = &w->store[i];
    if (!r) {
        if (w->n_store == w->cap_store) {
            w->cap_store = w->cap_store ? 2 * w->cap_store : 32;
            w->store = plow_realloc(w->store, w->cap_store * sizeof *w->store);
        }
        r = &w->store[w->n_store++];
        PLOW_ASSERT(klen <= sizeof r->key);
        memcpy(r->key, key, klen);
        r->klen = klen;
    } else {
        free(r->val);
    }
    r->val = plow_alloc(vlen ? vlen : 1);
    memcpy(r->val, val, vlen);
    r->vlen = vlen;
}

static void root_eq(world *w, int line) {
    uint8_t a[32], b[32];
    ledger_state_root(w->s, a);
    ledger_state_root(w->ref, b);
    CHECKF(memcmp(a, b, 32) == 0, "line %d: the state and its reference run differ", line);
    if (!w->no_invariant) {
        uint64_t want = w->g.supply - ledger_state_burned(w->s);
        CHECKF(ledger_state_holdings(w->s) == want, "line %d: holdings %" PRIu64 " != supply - burned %" PRIu64, line,
               ledger_state_holdings(w->s), want);
    }
}

static void end_block(world *w) {
    if (!w->in_block) return;
    uint8_t a[32], b[32];
    ledger_end_block(w->s, a);
    ledger_end_block(w->ref, b);
    CHECKF(memcmp(a, b, 32) == 0, "block %" PRIu64 ": roots differ", ledger_state_height(w->s));
    uint8_t again[32];
    ledger_state_root(w->s, again);
    CHECK(memcmp(a, again, 32) == 0);
    memcpy(log_push(w, 'e')->root, a, 32);
    ledger_each_dirty(w->s, store_put, w);
    ledger_clear_dirty(w->s);
    w->in_block = false;
}

static void next_block(world *w) {
    end_block(w);
    uint64_t h = ledger_state_height(w->s) + 1, t = ledger_state_time(w->s) + 1000;
    char err[PLOW_ERR_LEN];
    CHECKF(ledger_begin_block(w->s, h, t, err) == 0, "%s", err);
    CHECKF(ledger_begin_block(w->ref, h, t, err) == 0, "%s", err);
    logent *e = log_push(w, 'b');
    e->height = h;
    e->time_ms = t;
    w->in_block = true;
}

/* Moves on until the next block to open is `h`; leaves no block open. */
static void advance_to(world *w, uint64_t h) {
    while (ledger_state_height(w->s) + 1 < h) next_block(w);
    end_block(w);
}

static uint64_t height(world *w) { return ledger_state_height(w->s); }

static ledger_tx mk(world *w, int type, int who) {
    ledger_tx tx;
    memset(&tx, 0, sizeof tx);
    tx.type = (uint8_t)type;
    memcpy(tx.sender, K[who].pk, 32);
    ledger_account a;
    tx.nonce = ledger_get_account(w->s, K[who].pk, &a) ? a.nonce : 0;
    tx.fee = MIN_FEE;
    return tx;
}

static ledger_account acct(world *w, int who) {
    ledger_account a;
    if (!ledger_get_account(w->s, K[who].pk, &a)) memset(&a, 0, sizeof a);
    return a;
}

static ledger_task task(world *w, const uint8_t id[32]) {
    ledger_task t;
    memset(&t, 0, sizeof t);
    CHECK(ledger_get_task(w->s, id, &t));
    return t;
}

static ledger_challenge chal(world *w, const uint8_t id[32]) {
    ledger_challenge c;
    memset(&c, 0, sizeof c);
    CHECK(ledger_get_challenge(w->s, id, &c));
    return c;
}

/* Applies tx as it is (signed or not) to the state, mirrors it into the
 * reference and checks the two agree. */
static ledger_tx_result apply(world *w, const ledger_tx *tx, bool sig_checked) {
    if (!w->in_block) next_block(w);
    ledger_tx_result r = ledger_apply_tx(w->s, tx, sig_checked, w->err);
    char err2[PLOW_ERR_LEN];
    if (r == LEDGER_TX_OK) {
        CHECKF(ledger_apply_tx(w->ref, tx, sig_checked, err2) == LEDGER_TX_OK, "reference: %s", err2);
    } else if (r == LEDGER_TX_FAILED) {
        ledger_tx z;
        memset(&z, 0, sizeof z);
        z.type = LEDGER_TX_TRANSFER;
        z.nonce = tx->nonce;
        z.fee = tx->fee;
        int who = who_of(tx->sender);
        PLOW_ASSERT(who >= 0);
        ledger_tx_sign(&z, &K[who], w->g.chain_id);
        CHECKF(ledger_apply_tx(w->ref, &z, sig_checked, err2) == LEDGER_TX_FAILED, "reference: %s", err2);
    }
    if (r != LEDGER_TX_INVALID) {
        logent *e = log_push(w, 't');
        e->tx = *tx;
        e->sig_checked = sig_checked;
        e->result = r;
    }
    return r;
}

static ledger_tx_result send(world *w, int who, ledger_tx *tx) {
    ledger_tx_sign(tx, &K[who], w->g.chain_id);
    return apply(w, tx, false);
}

static const char *res_name(int r) { return r == LEDGER_TX_OK ? "ok" : r == LEDGER_TX_FAILED ? "failed" : "invalid"; }

static void expect(world *w, int who, ledger_tx *tx, int want, const char *msg, int line) {
    ledger_tx_result r = who >= 0 ? send(w, who, tx) : apply(w, tx, false);
    CHECKF(r == (ledger_tx_result)want, "line %d: %s %s, expected %s (%s)", line, ledger_tx_type_name(tx->type),
           res_name(r), res_name(want), r == LEDGER_TX_OK ? "" : w->err);
    if (msg && r != LEDGER_TX_OK)
        CHECKF(strstr(w->err, msg) != NULL, "line %d: error '%s' lacks '%s'", line, w->err, msg);
    root_eq(w, line);
}

#define OK(w, who, tx) expect(w, who, tx, LEDGER_TX_OK, NULL, __LINE__)
#define FAILS(w, who, tx, msg) expect(w, who, tx, LEDGER_TX_FAILED, msg, __LINE__)
#define INVALID(w, who, tx, msg) expect(w, who, tx, LEDGER_TX_INVALID, msg, __LINE__)

/* Replays the log into a fresh state: the same result for every
 * transaction and the same root after every block. */
static void check_replay(world *w) {
    ledger_state *s = ledger_state_new(&w->g);
    char err[PLOW_ERR_LEN];
    size_t blocks = 0;
    for (size_t i = 0; i < w->n_log; i++) {
        logent *e = &w->log[i];
        if (e->kind == 'b') {
            CHECKF(ledger_begin_block(s, e->height, e->time_ms, err) == 0, "replay: %s", err);
        } else if (e->kind == 't') {
            int r = ledger_apply_tx(s, &e->tx, e->sig_checked, err);
            CHECKF(r == e->result, "replay: tx %zu gave %d, %d the first time", i, r, e->result);
        } else {
            uint8_t root[32];
            ledger_end_block(s, root);
            CHECKF(memcmp(root, e->root, 32) == 0, "replay: block %zu has another root", blocks);
            blocks++;
        }
    }
    ledger_state_free(s);
}

/* Loads every stored record into a fresh state: the same root. */
static void check_store(world *w) {
    ledger_state *s = ledger_state_new(&w->g);
    char err[PLOW_ERR_LEN];
    for (size_t i = 0; i < w->n_store; i++) {
        rec *r = &w->store[i];
        CHECKF(ledger_load_record(s, r->key, r->klen, r->val, r->vlen, err) == 0, "load: %s", err);
    }
    uint8_t a[32], b[32];
    ledger_state_root(s, a);
    ledger_state_root(w->s, b);
    CHECKF(memcmp(a, b, 32) == 0, "records loaded into a fresh state give another root");
    CHECK(ledger_state_height(s) == ledger_state_height(w->s));
    CHECK(ledger_state_burned(s) == ledger_state_burned(w->s));
    CHECK(ledger_state_holdings(s) == ledger_state_holdings(w->s));
    ledger_state_free(s);
}

static void world_free(world *w) {
    end_block(w);
    if (!w->no_invariant) check_store(w);
    if (!w->no_invariant) check_replay(w); /* hand-loaded records are not in the log */
    ledger_state_free(w->s);
    ledger_state_free(w->ref);
    for (size_t i = 0; i < w->n_store; i++) free(w->store[i].val);
    free(w->store);
    free(w->log);
}

/* ---- committed runs (real Merkle trees) ------------------------------------------------------ */

typedef struct run {
    uint64_t n;
    uint8_t *leaves; /* n+1 leaves */
    uint8_t root[32], final_state[32], artifact[32];
} run;

/* An honest run has leaf i = H("honest", i). A cheat diverges from step
 * `from` (>= 1) on: its leaves there depend on `tag`. A bad artifact keeps
 * the leaves but commits another artifact hash. */
static void run_make(run *r, uint64_t n, uint64_t from, uint8_t tag, bool bad_artifact) {
    r->n = n;
    r->leaves = plow_alloc((n + 1) * 32);
    for (uint64_t i = 0; i <= n; i++) {
        uint8_t pre[16] = {0};
        memcpy(pre, from && i >= from ? "cheat" : "honest", from && i >= from ? 5 : 6);
        pre[7] = from && i >= from ? tag : 0;
        plow_put_u64(pre + 8, i);
        plow_sha256_once(pre, sizeof pre, r->leaves + i * 32);
    }
    merkle_root(r->leaves, n + 1, r->root);
    memcpy(r->final_state, r->leaves + n * 32, 32);
    uint8_t pre[33] = {bad_artifact ? 'X' : 'A'};
    memcpy(pre + 1, r->final_state, 32);
    plow_sha256_once(pre, sizeof pre, r->artifact);
}

static void run_free(run *r) { free(r->leaves); }

/* Evidence for step j against run r (j = n+1: the artifact). */
static void evidence(const run *r, uint64_t j, ledger_evidence *ev) {
    memset(ev, 0, sizeof *ev);
    char err[PLOW_ERR_LEN];
    if (j == r->n + 1) {
        memcpy(ev->leaf_prev, r->final_state, 32);
        memcpy(ev->leaf, r->artifact, 32);
        return;
    }
    memcpy(ev->leaf_prev, r->leaves + (j - 1) * 32, 32);
    memcpy(ev->leaf, r->leaves + j * 32, 32);
    CHECK(merkle_prove(r->leaves, r->n + 1, j - 1, &ev->proof_prev, err) == 0);
    CHECK(merkle_prove(r->leaves, r->n + 1, j, &ev->proof, err) == 0);
}

/* The last height challenge ch can be ruled (docs/ledger.md, X22). */
static uint64_t challenge_void_at_test(world *w, const uint8_t ch[32]) {
    ledger_challenge c = chal(w, ch);
    return c.deadline + LEDGER_VOID_FACTOR * VERDICT;
}

/* ---- task helpers ------------------------------------------------------------------------------ */

#define REWARD 1000
#define W_STAKE 500
#define MIN_BOND 200
#define FLOOR (LEDGER_BOND_FLOOR_FEES * MIN_FEE) /* the network's least bond */
#define STEPS 8
#define CLAIM_B 3
#define WORK_B 5
#define WINDOW_B 4

static ledger_task_params params(uint8_t mode, uint8_t replicas) {
    ledger_task_params p;
    memset(&p, 0, sizeof p);
    memset(p.spec, 0x5e, 32);
    p.kind = LEDGER_KIND_TRAIN;
    p.mode = mode;
    p.replicas = replicas;
    p.reward = REWARD;
    p.worker_stake = W_STAKE;
    p.min_bond = MIN_BOND;
    p.steps = STEPS;
    p.claim_blocks = CLAIM_B;
    p.work_blocks = WORK_B;
    p.window_blocks = WINDOW_B;
    return p;
}

static void post_p(world *w, int who, const ledger_task_params *p, uint8_t id[32], int line) {
    ledger_tx tx = mk(w, LEDGER_TX_POST_TASK, who);
    tx.u.post = *p;
    expect(w, who, &tx, LEDGER_TX_OK, NULL, line);
    ledger_tx_hash(&tx, id);
}
#define POST(w, who, p, id) post_p(w, who, p, id, __LINE__)

static void post(world *w, uint8_t mode, uint8_t replicas, uint8_t id[32], int line) {
    ledger_task_params p = params(mode, replicas);
    post_p(w, ALICE, &p, id, line);
}
#define POST_OPT(w, id) post(w, LEDGER_MODE_OPTIMISTIC, 1, id, __LINE__)
#define POST_REP(w, r, id) post(w, LEDGER_MODE_REPLICATED, r, id, __LINE__)

static void reg(world *w, int who) {
    ledger_tx tx = mk(w, LEDGER_TX_REGISTER, who);
    tx.u.reg.kind = LEDGER_AGENT;
    snprintf(tx.u.reg.name, sizeof tx.u.reg.name, "worker-%d", who);
    snprintf(tx.u.reg.caps, sizeof tx.u.reg.caps, "{\"train\":true}");
    OK(w, who, &tx);
}

static ledger_tx claim_tx(world *w, int who, const uint8_t id[32]) {
    ledger_tx tx = mk(w, LEDGER_TX_CLAIM, who);
    memcpy(tx.u.ref.task, id, 32);
    return tx;
}

static bool is_zero32(const uint8_t *p) {
    static const uint8_t z[32];
    return memcmp(p, z, 32) == 0;
}

/* Each worker's salt (secret in real life; fixed here). */
static void salt_of(int who, uint8_t salt[32]) { memset(salt, 0x40 + who, 32); }

/* The REVEAL of run r by `who`: its values, its salt, every leaf. */
static ledger_tx reveal_tx(world *w, int who, const uint8_t id[32], const run *r) {
    ledger_tx tx = mk(w, LEDGER_TX_REVEAL, who);
    memcpy(tx.u.open.task, id, 32);
    memcpy(tx.u.open.trace_root, r->root, 32);
    memcpy(tx.u.open.final_state, r->final_state, 32);
    memcpy(tx.u.open.artifact, r->artifact, 32);
    memset(tx.u.open.manifest, 0x3a, 32);
    tx.u.open.n = r->n;
    tx.u.open.checkpoint_every = 2;
    salt_of(who, tx.u.open.salt);
    tx.u.open.count = (uint32_t)(r->n + 1);
    memcpy(tx.u.open.leaves, r->leaves, (size_t)(r->n + 1) * 32);
    return tx;
}

/* who's slot index in task id (0 if it holds none: a commit that fails anyway). */
static uint32_t slot_idx(world *w, const uint8_t id[32], int who) {
    ledger_task t;
    if (!ledger_get_task(w->s, id, &t)) return 0;
    for (int i = 0; i < t.p.replicas; i++)
        if (t.slots[i].status != LEDGER_SLOT_EMPTY && memcmp(t.slots[i].worker, K[who].pk, 32) == 0) return (uint32_t)i;
    return 0;
}

/* The sealed COMMIT of run r by `who`: the commitment reveal_tx opens. */
static ledger_tx commit_tx(world *w, int who, const uint8_t id[32], const run *r) {
    ledger_tx rv = reveal_tx(w, who, id, r);
    memcpy(rv.sender, K[who].pk, 32);
    ledger_tx tx = mk(w, LEDGER_TX_COMMIT, who);
    memcpy(tx.u.commit.task, id, 32);
    ledger_commitment(&rv, slot_idx(w, id, who), tx.u.commit.trace_root);
    tx.u.commit.n = r->n;
    return tx;
}

/* Commit and reveal (the reveal right away: the caller's task has every
 * slot committed by then). */
#define REVEAL(w, who, id, r)                            \
    do {                                                 \
        ledger_tx rv_ = reveal_tx(w, who, id, r);        \
        expect(w, who, &rv_, LEDGER_TX_OK, NULL, __LINE__); \
    } while (0)

/* Sealed tasks: reveals for WINDOW_B blocks after the last commit, then
 * WINDOW_B blocks of challenges. */
#define SEALED_W (2 * WINDOW_B)

static ledger_tx challenge_tx(world *w, int who, const uint8_t id[32], int accused, const run *ra, uint64_t j,
                              uint64_t bond) {
    ledger_tx tx = mk(w, LEDGER_TX_CHALLENGE, who);
    memcpy(tx.u.challenge.task, id, 32);
    memcpy(tx.u.challenge.accused, K[accused].pk, 32);
    tx.u.challenge.step = j;
    tx.u.challenge.bond = bond;
    memset(tx.u.challenge.state_blob, 0xb1, 32);
    evidence(ra, j, &tx.u.challenge.ev);
    return tx;
}

static void with_other(ledger_tx *tx, int other, const run *ro) {
    memcpy(tx->u.challenge.other, K[other].pk, 32);
    evidence(ro, tx->u.challenge.step, &tx->u.challenge.ev_other);
}

static ledger_tx verdict_tx(world *w, int who, const uint8_t ch[32], const uint8_t computed[32], int prev_ok) {
    ledger_tx tx = mk(w, LEDGER_TX_VERDICT, who);
    memcpy(tx.u.verdict.challenge, ch, 32);
    memcpy(tx.u.verdict.computed, computed, 32);
    tx.u.verdict.prev_ok = (uint8_t)prev_ok;
    return tx;
}

static ledger_tx ref_tx(world *w, int type, int who, const uint8_t id[32]) {
    ledger_tx tx = mk(w, type, who);
    memcpy(tx.u.ref.task, id, 32);
    return tx;
}

/* Sends a signed transaction that must succeed and returns its hash. */
static void ok_hash(world *w, int who, ledger_tx *tx, uint8_t hash[32], int line) {
    expect(w, who, tx, LEDGER_TX_OK, NULL, line);
    ledger_tx_hash(tx, hash);
}
#define OK_HASH(w, who, tx, h) ok_hash(w, who, tx, h, __LINE__)

/* ---- envelope ----------------------------------------------------------------------------------- */

static void test_envelope(void) {
    world w;
    world_init(&w);
    next_block(&w);
    ledger_account a0 = acct(&w, ALICE), op0 = acct(&w, OP);

    ledger_tx tx = mk(&w, LEDGER_TX_TRANSFER, ALICE);
    memcpy(tx.u.transfer.to, K[FRANK].pk, 32);
    tx.u.transfer.amount = 100;
    tx.fee = 7;
    OK(&w, ALICE, &tx);
    CHECK(acct(&w, ALICE).balance == a0.balance - 107);
    CHECK(acct(&w, ALICE).nonce == 1);
    CHECK(acct(&w, FRANK).balance == 100);
    CHECK(acct(&w, OP).balance == op0.balance + 7);

    /* replay of the very same signed transaction */
    INVALID(&w, -1, &tx, "already used");
    /* a nonce gap */
    tx = mk(&w, LEDGER_TX_TRANSFER, ALICE);
    memcpy(tx.u.transfer.to, K[FRANK].pk, 32);
    tx.u.transfer.amount = 1;
    tx.nonce++;
    INVALID(&w, ALICE, &tx, "gap");
    /* a flipped signature byte */
    tx.nonce--;
    ledger_tx_sign(&tx, &K[ALICE], w.g.chain_id);
    tx.sig[5] ^= 1;
    INVALID(&w, -1, &tx, "bad signature");
    /* signed by someone else for ALICE */
    ledger_tx forged = tx;
    ledger_tx_sign(&forged, &K[EVE], w.g.chain_id);
    memcpy(forged.sender, K[ALICE].pk, 32);
    INVALID(&w, -1, &forged, "bad signature");
    /* signed for another chain */
    uint8_t other_chain[32] = {1};
    ledger_tx_sign(&tx, &K[ALICE], other_chain);
    INVALID(&w, -1, &tx, "bad signature");
    /* the node checked signatures on admission: sig_checked skips the check */
    CHECK(apply(&w, &tx, true) == LEDGER_TX_OK);
    root_eq(&w, __LINE__);
    /* a fee below the minimum */
    tx = mk(&w, LEDGER_TX_TRANSFER, ALICE);
    memcpy(tx.u.transfer.to, K[FRANK].pk, 32);
    tx.u.transfer.amount = 1;
    tx.fee = MIN_FEE - 1;
    INVALID(&w, ALICE, &tx, "below the minimum");
    /* an account that cannot pay the fee (GRACE has nothing) */
    tx = mk(&w, LEDGER_TX_STAKE, GRACE);
    tx.u.stake.amount = 1;
    INVALID(&w, GRACE, &tx, "cannot pay the fee");
    ledger_account g;
    CHECK(!ledger_get_account(w.s, K[GRACE].pk, &g));
    /* unknown types */
    tx = mk(&w, LEDGER_TX_TRANSFER, ALICE);
    tx.type = 0;
    CHECK(apply(&w, &tx, true) == LEDGER_TX_INVALID);
    tx.type = LEDGER_TX_TYPE_END;
    CHECK(apply(&w, &tx, true) == LEDGER_TX_INVALID);
    CHECK(strstr(w.err, "unknown transaction type") != NULL);
    root_eq(&w, __LINE__);
    /* a failed body still pays fee and nonce: EVE transfers more than she has */
    tx = mk(&w, LEDGER_TX_TRANSFER, EVE);
    memcpy(tx.u.transfer.to, K[FRANK].pk, 32);
    tx.u.transfer.amount = 9;
    FAILS(&w, EVE, &tx, "less than the amount");
    CHECK(acct(&w, EVE).balance == EVE_BAL - MIN_FEE);
    CHECK(acct(&w, EVE).nonce == 1);
    /* the operator sending pays itself */
    op0 = acct(&w, OP);
    tx = mk(&w, LEDGER_TX_TRANSFER, OP);
    memcpy(tx.u.transfer.to, K[FRANK].pk, 32);
    tx.u.transfer.amount = 10;
    OK(&w, OP, &tx);
    CHECK(acct(&w, OP).balance == op0.balance - 10);

    /* admission: ledger_check_tx with the nonce the node expects */
    char err[PLOW_ERR_LEN];
    tx = mk(&w, LEDGER_TX_TRANSFER, ALICE);
    memcpy(tx.u.transfer.to, K[FRANK].pk, 32);
    tx.u.transfer.amount = 1;
    ledger_tx_sign(&tx, &K[ALICE], w.g.chain_id);
    uint64_t n = tx.nonce;
    CHECK(ledger_check_tx(w.s, &tx, n, true, err) == 0);
    CHECK(ledger_check_tx(w.s, &tx, n + 1, true, err) != 0 && strstr(err, "already used"));
    ledger_tx next = tx;
    next.nonce = n + 1; /* one pending before it */
    ledger_tx_sign(&next, &K[ALICE], w.g.chain_id);
    CHECK(ledger_check_tx(w.s, &next, n + 1, true, err) == 0);
    CHECK(ledger_check_tx(w.s, &next, n, true, err) != 0 && strstr(err, "gap"));
    next.sig[0] ^= 1;
    CHECK(ledger_check_tx(w.s, &next, n + 1, true, err) != 0 && strstr(err, "bad signature"));
    CHECK(ledger_check_tx(w.s, &next, n + 1, false, err) == 0);
    tx.fee = 1;
    CHECK(ledger_check_tx(w.s, &tx, n, false, err) != 0 && strstr(err, "below the minimum"));
    tx = mk(&w, LEDGER_TX_STAKE, GRACE);
    ledger_tx_sign(&tx, &K[GRACE], w.g.chain_id);
    CHECK(ledger_check_tx(w.s, &tx, 0, true, err) != 0 && strstr(err, "cannot pay the fee"));
    root_eq(&w, __LINE__);
    world_free(&w);
}

static void test_blocks(void) {
    world w;
    world_init(&w);
    char err[PLOW_ERR_LEN];
    ledger_tx tx = mk(&w, LEDGER_TX_STAKE, ALICE);
    tx.u.stake.amount = 1;
    ledger_tx_sign(&tx, &K[ALICE], w.g.chain_id);
    CHECK(ledger_apply_tx(w.s, &tx, false, err) == LEDGER_TX_INVALID && strstr(err, "no block"));
    CHECK(ledger_begin_block(w.s, 2, w.g.time_ms, err) != 0 && strstr(err, "expected 1"));
    CHECK(ledger_begin_block(w.s, 0, w.g.time_ms, err) != 0);
    CHECK(ledger_begin_block(w.s, 1, w.g.time_ms - 1, err) != 0 && strstr(err, "before"));
    uint8_t r0[32], r1[32], r2[32];
    ledger_state_root(w.s, r0);
    next_block(&w); /* same time as before is allowed */
    end_block(&w);
    ledger_state_root(w.s, r1);
    CHECK(memcmp(r0, r1, 32) != 0); /* the height is in the root */
    CHECK(ledger_state_height(w.s) == 1);
    CHECK(ledger_state_time(w.s) == w.g.time_ms + 1000);
    next_block(&w);
    OK(&w, ALICE, &tx);
    end_block(&w);
    ledger_state_root(w.s, r2);
    CHECK(memcmp(r1, r2, 32) != 0);
    /* the genesis is the state's own copy */
    const ledger_genesis *g = ledger_state_genesis(w.s);
    CHECK(g->n_accounts == 6 && g->accounts != w.acc && memcmp(g->chain_id, w.g.chain_id, 32) == 0);
    CHECK(memcmp(g->operator_pk, K[OP].pk, 32) == 0);
    world_free(&w);
}

/* ---- transfer, stake, register ------------------------------------------------------------------ */

static void test_transfer(void) {
    world w;
    world_init(&w);
    ledger_tx tx = mk(&w, LEDGER_TX_TRANSFER, ALICE);
    memcpy(tx.u.transfer.to, K[BOB].pk, 32);
    FAILS(&w, ALICE, &tx, "must be positive");
    tx = mk(&w, LEDGER_TX_TRANSFER, ALICE);
    memcpy(tx.u.transfer.to, K[BOB].pk, 32);
    tx.u.transfer.amount = 1000000;
    FAILS(&w, ALICE, &tx, "less than the amount"); /* the fee came first */
    uint64_t before = acct(&w, ALICE).balance;
    tx = mk(&w, LEDGER_TX_TRANSFER, ALICE);
    memcpy(tx.u.transfer.to, K[ALICE].pk, 32);
    tx.u.transfer.amount = 500;
    OK(&w, ALICE, &tx); /* to oneself: only the fee */
    CHECK(acct(&w, ALICE).balance == before - MIN_FEE);
    tx = mk(&w, LEDGER_TX_TRANSFER, ALICE);
    memcpy(tx.u.transfer.to, K[BOB].pk, 32);
    tx.u.transfer.amount = 12345;
    OK(&w, ALICE, &tx);
    CHECK(acct(&w, BOB).balance == WORKER_BAL + 12345);
    CHECK(acct(&w, ALICE).balance == before - 2 * MIN_FEE - 12345);
    world_free(&w);
}

/* Overflow cannot happen while supply fits in 64 bits, so a record loaded
 * by hand puts an account near UINT64_MAX. */
static void test_transfer_overflow(void) {
    world w;
    world_init(&w);
    w.no_invariant = true;
    char err[PLOW_ERR_LEN];
    uint8_t key[33] = {'a'}, val[52] = {0};
    memcpy(key + 1, K[FRANK].pk, 32);
    plow_put_u64(val, UINT64_MAX - 5); /* balance; the rest zero: an unregistered account */
    CHECK(ledger_load_record(w.s, key, sizeof key, val, sizeof val, err) == 0);
    CHECK(ledger_load_record(w.ref, key, sizeof key, val, sizeof val, err) == 0);
    ledger_tx tx = mk(&w, LEDGER_TX_TRANSFER, ALICE);
    memcpy(tx.u.transfer.to, K[FRANK].pk, 32);
    tx.u.transfer.amount = 6;
    FAILS(&w, ALICE, &tx, "transfer: the balance of");
    CHECK(strstr(w.err, "would overflow") != NULL);
    CHECK(acct(&w, FRANK).balance == UINT64_MAX - 5);
    tx = mk(&w, LEDGER_TX_TRANSFER, ALICE);
    memcpy(tx.u.transfer.to, K[FRANK].pk, 32);
    tx.u.transfer.amount = 5;
    OK(&w, ALICE, &tx);
    CHECK(acct(&w, FRANK).balance == UINT64_MAX);
    /* the operator's balance cannot take the fee: the transaction is not includable */
    memcpy(key + 1, K[OP].pk, 32);
    plow_put_u64(val, UINT64_MAX - 1);
    CHECK(ledger_load_record(w.s, key, sizeof key, val, sizeof val, err) == 0);
    CHECK(ledger_load_record(w.ref, key, sizeof key, val, sizeof val, err) == 0);
    tx = mk(&w, LEDGER_TX_STAKE, ALICE);
    tx.u.stake.amount = 1;
    INVALID(&w, ALICE, &tx, "overflow");
    CHECK(ledger_state_holdings(w.s) == UINT64_MAX); /* saturated */
    world_free(&w);
}

static void test_stake_unbond(void) {
    world w;
    world_init(&w);
    ledger_tx tx = mk(&w, LEDGER_TX_STAKE, BOB);
    FAILS(&w, BOB, &tx, "must be positive");
    tx = mk(&w, LEDGER_TX_STAKE, BOB);
    tx.u.stake.amount = WORKER_BAL;
    FAILS(&w, BOB, &tx, "less than the amount");
    tx = mk(&w, LEDGER_TX_STAKE, BOB);
    tx.u.stake.amount = 1000;
    OK(&w, BOB, &tx);
    ledger_account b = acct(&w, BOB);
    CHECK(b.stake == WORKER_STAKE + 1000 && b.balance == WORKER_BAL - 3 * MIN_FEE - 1000);

    tx = mk(&w, LEDGER_TX_UNSTAKE, BOB);
    FAILS(&w, BOB, &tx, "must be positive");
    tx = mk(&w, LEDGER_TX_UNSTAKE, BOB);
    tx.u.stake.amount = WORKER_STAKE + 1001;
    FAILS(&w, BOB, &tx, "exceeds the stake");
    next_block(&w);
    uint64_t h1 = height(&w);
    tx = mk(&w, LEDGER_TX_UNSTAKE, BOB);
    tx.u.stake.amount = 400;
    OK(&w, BOB, &tx);
    b = acct(&w, BOB);
    CHECK(b.stake == WORKER_STAKE + 600 && b.unbonding == 400 && b.unbond_at == h1 + UNBOND);
    /* a second unstake adds and restarts the delay */
    next_block(&w);
    uint64_t h2 = height(&w);
    tx = mk(&w, LEDGER_TX_UNSTAKE, BOB);
    tx.u.stake.amount = 100;
    OK(&w, BOB, &tx);
    b = acct(&w, BOB);
    CHECK(b.unbonding == 500 && b.unbond_at == h2 + UNBOND);
    /* one block early: still unbonding */
    advance_to(&w, h2 + UNBOND - 1);
    uint64_t bal = acct(&w, BOB).balance;
    tx = mk(&w, LEDGER_TX_REGISTER, BOB);
    tx.u.reg.kind = LEDGER_PERSON;
    strcpy(tx.u.reg.name, "bob");
    OK(&w, BOB, &tx);
    CHECK(height(&w) == h2 + UNBOND - 1);
    CHECK(acct(&w, BOB).unbonding == 500 && acct(&w, BOB).balance == bal - MIN_FEE);
    /* at unbond_at the sender's next transaction releases it */
    next_block(&w);
    bal = acct(&w, BOB).balance;
    tx = mk(&w, LEDGER_TX_STAKE, BOB);
    tx.u.stake.amount = 1;
    OK(&w, BOB, &tx);
    b = acct(&w, BOB);
    CHECK(b.unbonding == 0 && b.unbond_at == 0 && b.balance == bal + 500 - MIN_FEE - 1);

    /* matured unbonding pays a fee: EVE stakes all she has, unstakes, waits */
    tx = mk(&w, LEDGER_TX_STAKE, EVE);
    tx.u.stake.amount = EVE_BAL - MIN_FEE;
    OK(&w, EVE, &tx);
    next_block(&w);
    uint64_t he = height(&w);
    tx = mk(&w, LEDGER_TX_UNSTAKE, EVE);
    tx.u.stake.amount = EVE_BAL - MIN_FEE;
    tx.fee = 0;
    INVALID(&w, EVE, &tx, "below the minimum");
    ledger_tx_sign(&tx, &K[EVE], w.g.chain_id);
    CHECK(apply(&w, &tx, true) == LEDGER_TX_INVALID);
    /* she has no balance left for a fee: give her exactly one */
    ledger_tx t2 = mk(&w, LEDGER_TX_TRANSFER, ALICE);
    memcpy(t2.u.transfer.to, K[EVE].pk, 32);
    t2.u.transfer.amount = MIN_FEE;
    OK(&w, ALICE, &t2);
    tx = mk(&w, LEDGER_TX_UNSTAKE, EVE);
    tx.u.stake.amount = EVE_BAL - MIN_FEE;
    OK(&w, EVE, &tx);
    CHECK(acct(&w, EVE).balance == 0 && acct(&w, EVE).unbonding == EVE_BAL - MIN_FEE);
    next_block(&w);
    tx = mk(&w, LEDGER_TX_UNSTAKE, EVE);
    tx.u.stake.amount = 1;
    INVALID(&w, EVE, &tx, "cannot pay the fee");
    char err[PLOW_ERR_LEN];
    ledger_tx_sign(&tx, &K[EVE], w.g.chain_id);
    CHECK(ledger_check_tx(w.s, &tx, tx.nonce, true, err) != 0);
    advance_to(&w, he + UNBOND);
    CHECK(ledger_check_tx(w.s, &tx, tx.nonce, true, err) != 0); /* admission looks at the current height */
    next_block(&w);
    end_block(&w);
    CHECK(ledger_check_tx(w.s, &tx, tx.nonce, true, err) == 0);
    tx = mk(&w, LEDGER_TX_TRANSFER, EVE);
    memcpy(tx.u.transfer.to, K[FRANK].pk, 32);
    tx.u.transfer.amount = 1;
    OK(&w, EVE, &tx);
    CHECK(acct(&w, EVE).balance == EVE_BAL - MIN_FEE - MIN_FEE - 1 && acct(&w, EVE).unbonding == 0);
    world_free(&w);
}

static void test_register(void) {
    world w;
    world_init(&w);
    ledger_tx tx = mk(&w, LEDGER_TX_REGISTER, DAVE);
    tx.u.reg.kind = 3;
    strcpy(tx.u.reg.name, "dave");
    FAILS(&w, DAVE, &tx, "neither person");
    tx = mk(&w, LEDGER_TX_REGISTER, DAVE);
    tx.u.reg.kind = 0;
    strcpy(tx.u.reg.name, "dave");
    FAILS(&w, DAVE, &tx, "neither person");
    tx = mk(&w, LEDGER_TX_REGISTER, DAVE);
    tx.u.reg.kind = LEDGER_AGENT;
    FAILS(&w, DAVE, &tx, "a name of 0 bytes");
    tx = mk(&w, LEDGER_TX_REGISTER, DAVE);
    tx.u.reg.kind = LEDGER_AGENT;
    memset(tx.u.reg.name, 'd', sizeof tx.u.reg.name); /* no terminator */
    FAILS(&w, DAVE, &tx, "not terminated");
    CHECK(acct(&w, DAVE).profile == 0);
    tx = mk(&w, LEDGER_TX_REGISTER, DAVE);
    tx.u.reg.kind = LEDGER_AGENT;
    memset(tx.u.reg.name, 'd', LEDGER_NAME_MAX);
    strcpy(tx.u.reg.caps, "{\"kinds\":[\"train\",\"lora\"]}");
    OK(&w, DAVE, &tx);
    ledger_account d = acct(&w, DAVE);
    CHECK(d.profile == LEDGER_AGENT && strlen(d.name) == LEDGER_NAME_MAX && strcmp(d.caps, tx.u.reg.caps) == 0);
    /* re-registering replaces the profile */
    tx = mk(&w, LEDGER_TX_REGISTER, DAVE);
    tx.u.reg.kind = LEDGER_PERSON;
    strcpy(tx.u.reg.name, "Dave Ö");
    OK(&w, DAVE, &tx);
    d = acct(&w, DAVE);
    CHECK(d.profile == LEDGER_PERSON && strcmp(d.name, "Dave Ö") == 0 && d.caps[0] == 0);
    world_free(&w);
}

/* ---- tasks: post, claim, commit ----------------------------------------------------------------- */

static void test_post_task(void) {
    world w;
    world_init(&w);
    ledger_task_params good = params(LEDGER_MODE_REPLICATED, 3), p;
#define BAD_POST(field_stmt, msg)                                                                                      \
    do {                                                                                                               \
        p = good;                                                                                                      \
        field_stmt;                                                                                                    \
        ledger_tx tx_ = mk(&w, LEDGER_TX_POST_TASK, ALICE);                                                            \
        tx_.u.post = p;                                                                                                \
        FAILS(&w, ALICE, &tx_, msg);                                                                                   \
    } while (0)
    BAD_POST(p.kind = 0, "unknown kind");
    BAD_POST(p.kind = LEDGER_KIND_END, "unknown kind");
    BAD_POST(p.mode = 0, "unknown mode");
    BAD_POST(p.mode = LEDGER_MODE_END, "unknown mode");
    BAD_POST(p.replicas = 1, "2..8 replicas");
    BAD_POST(p.replicas = 9, "2..8 replicas");
    BAD_POST((p.mode = LEDGER_MODE_OPTIMISTIC, p.replicas = 2), "1 replica");
    BAD_POST((p.mode = LEDGER_MODE_OPTIMISTIC, p.replicas = 0), "1 replica");
    BAD_POST(p.steps = 0, "steps");
    BAD_POST(p.steps = UINT64_MAX, "steps");
    BAD_POST(p.reward = 0, "reward must be positive");
    BAD_POST(p.claim_blocks = 0, "claim_blocks");
    BAD_POST(p.work_blocks = 0, "work_blocks");
    BAD_POST(p.window_blocks = 0, "window_blocks");
    BAD_POST(p.claim_blocks = 1000001, "claim_blocks");
    BAD_POST(p.window_blocks = UINT32_MAX, "window_blocks");
    BAD_POST(p.reward = UINT64_MAX / 3 + 1, "overflows");
    BAD_POST(p.reward = 1000000 / 3 + 1, "cannot escrow");
#undef BAD_POST
    uint64_t before = acct(&w, ALICE).balance;
    uint8_t id[32];
    next_block(&w);
    POST(&w, ALICE, &good, id);
    ledger_task t = task(&w, id);
    CHECK(memcmp(t.requester, K[ALICE].pk, 32) == 0 && memcmp(&t.p, &good, sizeof good) == 0);
    CHECK(t.status == LEDGER_TASK_OPEN && t.posted_at == height(&w) && t.escrow == 3 * REWARD);
    CHECK(t.window_end == 0 && t.open_challenges == 0);
    for (int i = 0; i < LEDGER_MAX_REPLICAS; i++) CHECK(t.slots[i].status == LEDGER_SLOT_EMPTY);
    CHECK(acct(&w, ALICE).balance == before - MIN_FEE - 3 * REWARD);
    /* a bigger task that takes all but the fee */
    p = params(LEDGER_MODE_OPTIMISTIC, 1);
    p.kind = LEDGER_KIND_INFER;
    p.claim_blocks = p.work_blocks = p.window_blocks = 1000000;
    p.reward = acct(&w, ALICE).balance - MIN_FEE;
    uint8_t id2[32];
    POST(&w, ALICE, &p, id2);
    CHECK(acct(&w, ALICE).balance == 0);
    CHECK(memcmp(id, id2, 32) != 0);
    world_free(&w);
}

static void test_claim(void) {
    world w;
    world_init(&w);
    reg(&w, BOB);
    reg(&w, CAROL);
    reg(&w, ALICE);
    uint8_t id[32];
    next_block(&w);
    uint64_t posted = height(&w);
    POST_OPT(&w, id);
    ledger_tx tx = claim_tx(&w, DAVE, id);
    FAILS(&w, DAVE, &tx, "not registered");
    tx = claim_tx(&w, ALICE, id);
    FAILS(&w, ALICE, &tx, "requester cannot claim");
    uint8_t nope[32] = {9};
    tx = claim_tx(&w, BOB, nope);
    FAILS(&w, BOB, &tx, "no task");
    /* racing claims in one block: the first wins */
    next_block(&w);
    ledger_tx tb = claim_tx(&w, BOB, id), tc = claim_tx(&w, CAROL, id);
    OK(&w, BOB, &tb);
    FAILS(&w, CAROL, &tc, "has no free slot");
    ledger_task t = task(&w, id);
    CHECK(t.status == LEDGER_TASK_CLAIMED && t.slots[0].status == LEDGER_SLOT_CLAIMED);
    CHECK(memcmp(t.slots[0].worker, K[BOB].pk, 32) == 0 && t.slots[0].claimed_at == height(&w));
    CHECK(acct(&w, BOB).locked == W_STAKE && acct(&w, CAROL).locked == 0);
    tb = claim_tx(&w, BOB, id);
    FAILS(&w, BOB, &tb, "has no free slot");

    /* replicated: one slot per worker, stake must be free, deadline */
    uint8_t r[32];
    POST_REP(&w, 3, r);
    uint64_t rposted = height(&w);
    tx = claim_tx(&w, BOB, r);
    OK(&w, BOB, &tx);
    tx = claim_tx(&w, BOB, r);
    FAILS(&w, BOB, &tx, "already holds a slot");
    CHECK(acct(&w, BOB).locked == 2 * W_STAKE);
    ledger_task_params big = params(LEDGER_MODE_OPTIMISTIC, 1);
    big.worker_stake = WORKER_STAKE - W_STAKE + 1; /* CAROL has no lock yet: all of it is free */
    uint8_t b[32];
    POST(&w, ALICE, &big, b);
    tx = claim_tx(&w, BOB, b);
    FAILS(&w, BOB, &tx, "insufficient free stake: 9000 free, 9501 needed");
    tx = claim_tx(&w, CAROL, b);
    OK(&w, CAROL, &tx);
    CHECK(acct(&w, CAROL).locked == big.worker_stake);
    tx = claim_tx(&w, CAROL, r);
    FAILS(&w, CAROL, &tx, "insufficient free stake");
    /* the claim window: within posted_at + claim_blocks */
    advance_to(&w, rposted + CLAIM_B);
    reg(&w, DAVE);
    CHECK(height(&w) == rposted + CLAIM_B);
    tx = claim_tx(&w, DAVE, r);
    OK(&w, DAVE, &tx);
    CHECK(task(&w, r).status == LEDGER_TASK_OPEN); /* one slot still free */
    next_block(&w);
    ledger_tx t2 = mk(&w, LEDGER_TX_TRANSFER, ALICE);
    memcpy(t2.u.transfer.to, K[FRANK].pk, 32);
    t2.u.transfer.amount = 100;
    OK(&w, ALICE, &t2);
    ledger_tx rf = mk(&w, LEDGER_TX_REGISTER, FRANK);
    rf.u.reg.kind = LEDGER_AGENT;
    strcpy(rf.u.reg.name, "frank");
    OK(&w, FRANK, &rf);
    tx = claim_tx(&w, FRANK, r);
    char want[64];
    snprintf(want, sizeof want, "claim deadline passed at %" PRIu64, rposted + CLAIM_B);
    FAILS(&w, FRANK, &tx, want);
    (void)posted;
    world_free(&w);
}

static void test_commit(void) {
    world w;
    world_init(&w);
    reg(&w, BOB);
    reg(&w, CAROL);
    run honest;
    run_make(&honest, STEPS, 0, 0, false);
    uint8_t id[32];
    POST_REP(&w, 2, id);
    ledger_tx tx = commit_tx(&w, BOB, id, &honest);
    FAILS(&w, BOB, &tx, "holds no slot");
    next_block(&w);
    uint64_t claimed = height(&w);
    tx = claim_tx(&w, BOB, id);
    OK(&w, BOB, &tx);
    tx = commit_tx(&w, CAROL, id, &honest);
    FAILS(&w, CAROL, &tx, "holds no slot");
    tx = commit_tx(&w, BOB, id, &honest);
    tx.u.commit.n = STEPS + 1;
    FAILS(&w, BOB, &tx, "n is 9, the task has 8 steps");
    tx = commit_tx(&w, BOB, id, &honest);
    tx.u.commit.checkpoint_every = 2; /* values come with the reveal */
    FAILS(&w, BOB, &tx, "must be zero");
    tx = commit_tx(&w, BOB, id, &honest);
    memset(tx.u.commit.artifact, 1, 32);
    FAILS(&w, BOB, &tx, "must be zero");
    tx = commit_tx(&w, BOB, id, &honest);
    memset(tx.u.commit.trace_root, 0, 32);
    FAILS(&w, BOB, &tx, "the commitment is zero");
    uint8_t nope[32] = {7};
    tx = commit_tx(&w, BOB, nope, &honest);
    FAILS(&w, BOB, &tx, "no task");
    next_block(&w);
    tx = commit_tx(&w, BOB, id, &honest);
    OK(&w, BOB, &tx);
    ledger_task t = task(&w, id);
    ledger_slot *sl = &t.slots[0];
    CHECK(sl->status == LEDGER_SLOT_COMMITTED && sl->committed_at == height(&w) && sl->revealed_at == 0);
    CHECK(memcmp(sl->commitment, tx.u.commit.trace_root, 32) == 0 && is_zero32(sl->trace_root) &&
          is_zero32(sl->artifact) && sl->n == 0); /* sealed: nothing of the values is public */
    CHECK(t.status == LEDGER_TASK_OPEN && t.window_end == 0); /* a slot is still empty */
    tx = commit_tx(&w, BOB, id, &honest);
    FAILS(&w, BOB, &tx, "committed, not claimed");
    /* CAROL claims late and misses her own deadline: claimed_at + work_blocks */
    tx = claim_tx(&w, CAROL, id);
    OK(&w, CAROL, &tx);
    uint64_t carol_at = height(&w);
    CHECK(task(&w, id).status == LEDGER_TASK_CLAIMED);
    advance_to(&w, carol_at + WORK_B + 1);
    tx = commit_tx(&w, CAROL, id, &honest);
    char want[64];
    snprintf(want, sizeof want, "commit deadline passed at %" PRIu64, carol_at + WORK_B);
    FAILS(&w, CAROL, &tx, want);
    (void)claimed;

    /* both commit in time: the task is committed and its window opens */
    uint8_t id2[32];
    POST_REP(&w, 2, id2);
    tx = claim_tx(&w, BOB, id2);
    OK(&w, BOB, &tx);
    tx = claim_tx(&w, CAROL, id2);
    OK(&w, CAROL, &tx);
    uint64_t c_at = height(&w); /* both claimed in this block */
    next_block(&w);
    tx = commit_tx(&w, CAROL, id2, &honest);
    OK(&w, CAROL, &tx);
    CHECK(task(&w, id2).status == LEDGER_TASK_CLAIMED);
    advance_to(&w, c_at + WORK_B); /* the last block BOB may commit in */
    tx = commit_tx(&w, BOB, id2, &honest);
    OK(&w, BOB, &tx);
    t = task(&w, id2);
    CHECK(t.status == LEDGER_TASK_COMMITTED && t.window_end == height(&w) + SEALED_W);
    CHECK(ledger_reveal_from(&t) == height(&w) && ledger_reveal_until(&t) == height(&w) + WINDOW_B);
    run_free(&honest);
    world_free(&w);
}

static void test_unstake_locked(void) {
    world w;
    world_init(&w);
    reg(&w, BOB);
    uint8_t id[32];
    POST_OPT(&w, id);
    ledger_tx tx = claim_tx(&w, BOB, id);
    OK(&w, BOB, &tx);
    tx = mk(&w, LEDGER_TX_UNSTAKE, BOB);
    tx.u.stake.amount = WORKER_STAKE - W_STAKE + 1;
    FAILS(&w, BOB, &tx, "stake is locked by open tasks: 9500 free");
    tx = mk(&w, LEDGER_TX_UNSTAKE, BOB);
    tx.u.stake.amount = WORKER_STAKE - W_STAKE;
    OK(&w, BOB, &tx);
    ledger_account b = acct(&w, BOB);
    CHECK(b.stake == W_STAKE && b.locked == W_STAKE && b.unbonding == WORKER_STAKE - W_STAKE);
    tx = mk(&w, LEDGER_TX_UNSTAKE, BOB);
    tx.u.stake.amount = 1;
    FAILS(&w, BOB, &tx, "0 free");
    world_free(&w);
}

/* ---- challenges and verdicts -------------------------------------------------------------------- */

/* An optimistic task committed by BOB with run r; returns the height of
 * the commit. */
static uint64_t committed_opt(world *w, const run *r, uint8_t id[32]) {
    reg(w, BOB);
    POST_OPT(w, id);
    ledger_tx tx = claim_tx(w, BOB, id);
    OK(w, BOB, &tx);
    next_block(w);
    tx = commit_tx(w, BOB, id, r);
    OK(w, BOB, &tx);
    CHECK(task(w, id).status == LEDGER_TASK_COMMITTED);
    REVEAL(w, BOB, id, r);
    return height(w);
}

static void test_challenge_rules(void) {
    world w;
    world_init(&w);
    run cheat, honest;
    run_make(&cheat, STEPS, 5, 1, false);
    run_make(&honest, STEPS, 0, 0, false);
    uint8_t id[32];
    reg(&w, BOB);
    POST_OPT(&w, id);
    ledger_tx tx = challenge_tx(&w, CAROL, id, BOB, &cheat, 5, MIN_BOND);
    FAILS(&w, CAROL, &tx, "nothing committed");
    tx = claim_tx(&w, BOB, id);
    OK(&w, BOB, &tx);
    tx = challenge_tx(&w, CAROL, id, BOB, &cheat, 5, MIN_BOND);
    FAILS(&w, CAROL, &tx, "nothing committed");
    next_block(&w);
    tx = commit_tx(&w, BOB, id, &cheat);
    OK(&w, BOB, &tx);
    uint64_t hc = height(&w);
    /* sealed until revealed: nothing to challenge */
    tx = challenge_tx(&w, CAROL, id, BOB, &cheat, 5, MIN_BOND);
    FAILS(&w, CAROL, &tx, "accused holds no revealed slot");
    REVEAL(&w, BOB, id, &cheat);

    /* forged evidence */
    tx = challenge_tx(&w, CAROL, id, BOB, &cheat, 5, MIN_BOND);
    tx.u.challenge.ev.leaf[3] ^= 1; /* a flipped leaf */
    FAILS(&w, CAROL, &tx, "forged proof");
    tx = challenge_tx(&w, CAROL, id, BOB, &cheat, 5, MIN_BOND);
    tx.u.challenge.ev.leaf_prev[0] ^= 0x80;
    FAILS(&w, CAROL, &tx, "forged proof");
    tx = challenge_tx(&w, CAROL, id, BOB, &cheat, 5, MIN_BOND);
    evidence(&cheat, 4, &tx.u.challenge.ev); /* proofs for indices 3, 4 sent as step 5 */
    FAILS(&w, CAROL, &tx, "forged proof");
    tx = challenge_tx(&w, CAROL, id, BOB, &cheat, 5, MIN_BOND);
    tx.u.challenge.ev.proof.index = 6; /* a proof that names another index */
    FAILS(&w, CAROL, &tx, "forged proof");
    tx = challenge_tx(&w, CAROL, id, BOB, &honest, 5, MIN_BOND); /* proofs for another root */
    FAILS(&w, CAROL, &tx, "forged proof");
    tx = challenge_tx(&w, CAROL, id, BOB, &cheat, 5, MIN_BOND);
    memcpy(tx.u.challenge.ev.proof.path[0], tx.u.challenge.ev.proof.path[1], 32);
    FAILS(&w, CAROL, &tx, "forged proof");
    tx = challenge_tx(&w, CAROL, id, BOB, &cheat, STEPS + 1, MIN_BOND);
    memcpy(tx.u.challenge.ev.leaf, honest.artifact, 32); /* the artifact step, not the committed artifact */
    FAILS(&w, CAROL, &tx, "forged proof");
    tx = challenge_tx(&w, CAROL, id, BOB, &cheat, 1, MIN_BOND);
    tx.u.challenge.step = 0;
    FAILS(&w, CAROL, &tx, "step 0 is not in 1..9");
    tx.u.challenge.step = STEPS + 2;
    tx.nonce = acct(&w, CAROL).nonce;
    FAILS(&w, CAROL, &tx, "step 10 is not in 1..9");

    /* the wrong parties, bonds, modes */
    tx = challenge_tx(&w, BOB, id, BOB, &cheat, 5, MIN_BOND);
    FAILS(&w, BOB, &tx, "cannot challenge itself");
    tx = challenge_tx(&w, CAROL, id, DAVE, &cheat, 5, MIN_BOND);
    FAILS(&w, CAROL, &tx, "accused holds no revealed slot");
    tx = challenge_tx(&w, CAROL, id, BOB, &cheat, 5, MIN_BOND - 1);
    FAILS(&w, CAROL, &tx, "below the task's min_bond");
    tx = challenge_tx(&w, EVE, id, BOB, &cheat, 5, MIN_BOND);
    FAILS(&w, EVE, &tx, "cannot post the bond");
    tx = challenge_tx(&w, CAROL, id, BOB, &cheat, 5, 0);
    with_other(&tx, DAVE, &honest);
    FAILS(&w, CAROL, &tx, "replicated tasks only");
    uint8_t nope[32] = {4};
    tx = challenge_tx(&w, CAROL, nope, BOB, &cheat, 5, MIN_BOND);
    FAILS(&w, CAROL, &tx, "no task");

    /* a valid challenge, then the same step again */
    uint64_t cbal = acct(&w, CAROL).balance;
    uint8_t ch[32];
    next_block(&w);
    tx = challenge_tx(&w, CAROL, id, BOB, &cheat, 5, 300);
    OK_HASH(&w, CAROL, &tx, ch);
    CHECK(acct(&w, CAROL).balance == cbal - MIN_FEE - 300);
    ledger_task t = task(&w, id);
    CHECK(t.status == LEDGER_TASK_CHALLENGED && t.open_challenges == 1);
    ledger_challenge c = chal(&w, ch);
    CHECK(c.status == LEDGER_CH_OPEN && c.step == 5 && c.bond == 300 && c.opened_at == height(&w));
    CHECK(c.deadline == height(&w) + VERDICT && !c.has_other);
    CHECK(memcmp(c.challenger, K[CAROL].pk, 32) == 0 && memcmp(c.accused, K[BOB].pk, 32) == 0);
    CHECK(memcmp(c.leaf_prev, cheat.leaves + 4 * 32, 32) == 0 &&
          memcmp(c.accused_leaf, cheat.leaves + 5 * 32, 32) == 0);
    CHECK(memcmp(c.task, id, 32) == 0 && memcmp(c.state_blob, tx.u.challenge.state_blob, 32) == 0);
    tx = challenge_tx(&w, DAVE, id, BOB, &cheat, 5, MIN_BOND);
    FAILS(&w, DAVE, &tx, "already disputes step 5");
    /* another step is another challenge: the artifact step, honest evidence */
    tx = challenge_tx(&w, DAVE, id, BOB, &cheat, STEPS + 1, MIN_BOND);
    OK(&w, DAVE, &tx);
    CHECK(task(&w, id).open_challenges == 2);
    /* after the window */
    advance_to(&w, hc + SEALED_W + 1);
    tx = challenge_tx(&w, CAROL, id, BOB, &cheat, 6, MIN_BOND);
    char want[64];
    snprintf(want, sizeof want, "challenge window closed at %" PRIu64, hc + SEALED_W);
    FAILS(&w, CAROL, &tx, want);
    run_free(&cheat);
    run_free(&honest);
    world_free(&w);
}

static void test_verdict_slash(void) {
    world w;
    world_init(&w);
    run cheat, honest;
    run_make(&cheat, STEPS, 5, 1, false);
    run_make(&honest, STEPS, 0, 0, false);
    uint8_t id[32], ch[32];
    uint64_t hc = committed_opt(&w, &cheat, id);
    ledger_tx tx = challenge_tx(&w, CAROL, id, BOB, &cheat, 5, MIN_BOND);
    OK_HASH(&w, CAROL, &tx, ch);
    uint64_t bob_bal = acct(&w, BOB).balance, carol_bal = acct(&w, CAROL).balance, alice_bal = acct(&w, ALICE).balance;

    tx = verdict_tx(&w, ALICE, ch, honest.leaves + 5 * 32, 1);
    FAILS(&w, ALICE, &tx, "only the referee (operator) may rule");
    uint8_t nope[32] = {3};
    tx = verdict_tx(&w, OP, nope, honest.leaves + 5 * 32, 1);
    FAILS(&w, OP, &tx, "no challenge");
    CHECK(acct(&w, BOB).stake == WORKER_STAKE);
    tx = verdict_tx(&w, OP, ch, honest.leaves + 5 * 32, 1);
    OK(&w, OP, &tx);
    ledger_challenge c = chal(&w, ch);
    CHECK(c.status == LEDGER_CH_UPHELD && c.resolved_at == height(&w));
    CHECK(memcmp(c.computed, honest.leaves + 5 * 32, 32) == 0);
    ledger_account b = acct(&w, BOB);
    CHECK(b.stake == WORKER_STAKE - W_STAKE && b.locked == 0 && b.balance == bob_bal);
    uint64_t share = W_STAKE * SLASH_PCT / 100;
    CHECK(acct(&w, CAROL).balance == carol_bal + share + MIN_BOND);
    CHECK(ledger_state_burned(w.s) == W_STAKE - share);
    ledger_task t = task(&w, id);
    CHECK(t.status == LEDGER_TASK_RESOLVED && t.open_challenges == 0 && t.slots[0].status == LEDGER_SLOT_SLASHED);
    /* a second verdict on the closed challenge */
    tx = verdict_tx(&w, OP, ch, honest.leaves + 5 * 32, 1);
    FAILS(&w, OP, &tx, "upheld, not open");
    /* a slashed slot cannot be challenged again */
    tx = challenge_tx(&w, DAVE, id, BOB, &cheat, 6, MIN_BOND);
    FAILS(&w, DAVE, &tx, "accused holds no revealed slot");
    /* finalize: early, then the reward goes back to the requester */
    tx = ref_tx(&w, LEDGER_TX_FINALIZE, DAVE, id);
    char want[64];
    snprintf(want, sizeof want, "challenge window open until %" PRIu64, hc + SEALED_W);
    FAILS(&w, DAVE, &tx, want);
    advance_to(&w, hc + SEALED_W + 1);
    tx = ref_tx(&w, LEDGER_TX_FINALIZE, DAVE, id);
    OK(&w, DAVE, &tx);
    t = task(&w, id);
    CHECK(t.status == LEDGER_TASK_FINALIZED && t.escrow == 0 && t.slots[0].status == LEDGER_SLOT_SLASHED);
    CHECK(acct(&w, ALICE).balance == alice_bal - MIN_FEE + REWARD); /* her fee: the verdict she was refused */
    CHECK(acct(&w, BOB).balance == bob_bal);
    tx = ref_tx(&w, LEDGER_TX_FINALIZE, DAVE, id);
    FAILS(&w, DAVE, &tx, "finalized already");
    tx = ref_tx(&w, LEDGER_TX_EXPIRE, DAVE, id);
    FAILS(&w, DAVE, &tx, "finalized already");
    run_free(&cheat);
    run_free(&honest);
    world_free(&w);
}

static void test_verdict_reject(void) {
    world w;
    world_init(&w);
    run honest, other;
    run_make(&honest, STEPS, 0, 0, false);
    run_make(&other, STEPS, 1, 9, false);
    uint8_t id[32], ch1[32], ch2[32], ch3[32];
    uint64_t hc = committed_opt(&w, &honest, id);
    uint64_t bob_bal = acct(&w, BOB).balance, carol_bal = acct(&w, CAROL).balance;
    /* CAROL wrongly disputes step 3 */
    ledger_tx tx = challenge_tx(&w, CAROL, id, BOB, &honest, 3, 300);
    OK_HASH(&w, CAROL, &tx, ch1);
    tx = verdict_tx(&w, OP, ch1, honest.leaves + 3 * 32, 1);
    tx.u.verdict.prev_ok = 3;
    FAILS(&w, OP, &tx, "prev_ok");
    tx = verdict_tx(&w, OP, ch1, honest.leaves + 3 * 32, 1);
    OK(&w, OP, &tx);
    CHECK(chal(&w, ch1).status == LEDGER_CH_REJECTED);
    CHECK(acct(&w, BOB).balance == bob_bal + 150 && acct(&w, BOB).stake == WORKER_STAKE);
    CHECK(acct(&w, CAROL).balance == carol_bal - MIN_FEE - 300);
    CHECK(ledger_state_burned(w.s) == 150);
    CHECK(task(&w, id).status == LEDGER_TASK_RESOLVED);
    /* DAVE's state j-1 did not hash to the agreed leaf: rejected, even with
     * a computed leaf that differs from the accused's */
    tx = challenge_tx(&w, DAVE, id, BOB, &honest, 2, 201);
    OK_HASH(&w, DAVE, &tx, ch2);
    CHECK(task(&w, id).status == LEDGER_TASK_CHALLENGED);
    tx = verdict_tx(&w, OP, ch2, other.leaves + 2 * 32, 0);
    OK(&w, OP, &tx);
    CHECK(chal(&w, ch2).status == LEDGER_CH_REJECTED);
    CHECK(ledger_state_burned(w.s) == 150 + 101); /* 201 - floor(201 * 50 / 100) */
    CHECK(acct(&w, BOB).balance == bob_bal + 150 + 100);
    /* a challenge the referee never rules on (a flooded referee): finalize
     * waits past its deadline up to the void cap, and then the accused is
     * neither paid nor slashed (VOID): an unruled challenge never pays */
    advance_to(&w, hc + SEALED_W); /* the window's last block */
    next_block(&w);
    uint64_t opened = height(&w), cap = opened + VERDICT + LEDGER_VOID_FACTOR * VERDICT;
    tx = challenge_tx(&w, CAROL, id, BOB, &honest, 7, MIN_BOND);
    OK_HASH(&w, CAROL, &tx, ch3);
    CHECK(opened + VERDICT > hc + SEALED_W);
    advance_to(&w, opened + VERDICT + 1); /* past the deadline: still waited for */
    tx = ref_tx(&w, LEDGER_TX_FINALIZE, DAVE, id);
    char want[80];
    snprintf(want, sizeof want, "awaits its verdict until %" PRIu64, cap);
    FAILS(&w, DAVE, &tx, want);
    advance_to(&w, cap + 1);
    tx = verdict_tx(&w, OP, ch3, other.leaves + 7 * 32, 1);
    snprintf(want, sizeof want, "verdict deadline passed at %" PRIu64, cap);
    FAILS(&w, OP, &tx, want);
    carol_bal = acct(&w, CAROL).balance;
    bob_bal = acct(&w, BOB).balance;
    uint64_t alice_bal = acct(&w, ALICE).balance;
    tx = ref_tx(&w, LEDGER_TX_FINALIZE, DAVE, id);
    OK(&w, DAVE, &tx);
    CHECK(chal(&w, ch3).status == LEDGER_CH_EXPIRED);
    CHECK(acct(&w, CAROL).balance == carol_bal + MIN_BOND);
    ledger_task t = task(&w, id);
    CHECK(t.status == LEDGER_TASK_FINALIZED && t.slots[0].status == LEDGER_SLOT_VOID && t.open_challenges == 0);
    CHECK(acct(&w, BOB).balance == bob_bal && acct(&w, BOB).locked == 0 && acct(&w, BOB).stake == WORKER_STAKE);
    CHECK(acct(&w, ALICE).balance == alice_bal + REWARD);
    tx = verdict_tx(&w, OP, ch3, other.leaves + 7 * 32, 1);
    FAILS(&w, OP, &tx, "expired, not open");
    run_free(&honest);
    run_free(&other);
    world_free(&w);
}

static ledger_tx da_tx(world *w, int who, const uint8_t id[32], int accused, const uint8_t want[32], uint64_t bond) {
    ledger_tx tx = mk(w, LEDGER_TX_DA_CHALLENGE, who);
    memcpy(tx.u.da.task, id, 32);
    memcpy(tx.u.da.accused, K[accused].pk, 32);
    if (want) memcpy(tx.u.da.want, want, 32);
    tx.u.da.bond = bond;
    return tx;
}

/* Data availability (rows D1-D10, F6a): a worker that withholds what its
 * commitment promises is slashed when the deadline passes unanswered; an
 * attested blob costs the challenger its bond; the referee's flooders are
 * bounded by the bond floor and the per-challenger limit. */
static void test_data_availability(void) {
    world w;
    world_init(&w);
    run honest;
    run_make(&honest, STEPS, 0, 0, false);
    uint8_t id[32], ch1[32], ch2[32], manifest[32];
    memset(manifest, 0x3a, 32); /* commit_tx's manifest */
    uint64_t hc = committed_opt(&w, &honest, id);
    uint64_t bob = acct(&w, BOB).balance, alice = acct(&w, ALICE).balance;
    /* the rules, broken one by one */
    uint8_t nope[32];
    memset(nope, 0x77, 32);
    ledger_tx tx = da_tx(&w, CAROL, nope, BOB, manifest, MIN_BOND);
    FAILS(&w, CAROL, &tx, "da_challenge: no task");
    tx = da_tx(&w, BOB, id, BOB, manifest, MIN_BOND);
    FAILS(&w, BOB, &tx, "cannot challenge itself");
    tx = da_tx(&w, CAROL, id, DAVE, manifest, MIN_BOND);
    FAILS(&w, CAROL, &tx, "holds no revealed slot");
    tx = da_tx(&w, CAROL, id, BOB, manifest, MIN_BOND - 1);
    FAILS(&w, CAROL, &tx, "below the task's min_bond");
    tx = da_tx(&w, CAROL, id, ALICE, NULL, MIN_BOND);
    FAILS(&w, CAROL, &tx, "only a worker holding a slot");
    tx = da_tx(&w, EVE, id, BOB, manifest, MIN_BOND);
    FAILS(&w, EVE, &tx, "cannot post the bond");
    /* CAROL demands the manifest; a second demand of the same blob is refused */
    tx = da_tx(&w, CAROL, id, BOB, manifest, MIN_BOND);
    OK_HASH(&w, CAROL, &tx, ch1);
    CHECK(chal(&w, ch1).kind == LEDGER_CHK_DATA && task(&w, id).status == LEDGER_TASK_CHALLENGED);
    tx = da_tx(&w, DAVE, id, BOB, manifest, MIN_BOND);
    FAILS(&w, DAVE, &tx, "already demands this");
    /* the referee attests it available: CAROL's bond is lost (half to BOB) */
    tx = verdict_tx(&w, OP, ch1, manifest, LEDGER_RULING_UNRUNNABLE);
    FAILS(&w, OP, &tx, "on a data challenge");
    uint64_t carol = acct(&w, CAROL).balance, burned = ledger_state_burned(w.s);
    tx = verdict_tx(&w, OP, ch1, manifest, 1);
    OK(&w, OP, &tx);
    CHECK(chal(&w, ch1).status == LEDGER_CH_REJECTED && acct(&w, CAROL).balance == carol);
    CHECK(acct(&w, BOB).balance == bob - MIN_FEE + MIN_BOND * BOND_PCT / 100); /* it paid one failed tx */
    CHECK(ledger_state_burned(w.s) == burned + MIN_BOND - MIN_BOND * BOND_PCT / 100);
    /* DAVE demands a file BOB withholds; nobody answers: finalize waits for
     * the deadline, then BOB is slashed and DAVE paid the share, BOB unpaid */
    uint8_t withheld[32];
    memset(withheld, 0x99, 32);
    advance_to(&w, hc + SEALED_W); /* the window's last block */
    tx = da_tx(&w, DAVE, id, BOB, withheld, MIN_BOND);
    OK_HASH(&w, DAVE, &tx, ch2);
    uint64_t deadline = chal(&w, ch2).deadline;
    CHECK(deadline == hc + SEALED_W + VERDICT);
    advance_to(&w, hc + SEALED_W + 1);
    tx = ref_tx(&w, LEDGER_TX_FINALIZE, CAROL, id);
    FAILS(&w, CAROL, &tx, "awaits its verdict until");
    advance_to(&w, deadline + 1);
    tx = verdict_tx(&w, OP, ch2, withheld, 1);
    FAILS(&w, OP, &tx, "verdict deadline passed"); /* no grace for an attestation */
    uint64_t dave = acct(&w, DAVE).balance;
    bob = acct(&w, BOB).balance;
    alice = acct(&w, ALICE).balance;
    tx = ref_tx(&w, LEDGER_TX_FINALIZE, CAROL, id);
    OK(&w, CAROL, &tx);
    ledger_task t = task(&w, id);
    CHECK(chal(&w, ch2).status == LEDGER_CH_UPHELD && t.slots[0].status == LEDGER_SLOT_SLASHED);
    CHECK(acct(&w, DAVE).balance == dave + MIN_BOND + W_STAKE * SLASH_PCT / 100);
    CHECK(acct(&w, BOB).balance == bob && acct(&w, BOB).stake == WORKER_STAKE - W_STAKE && acct(&w, BOB).locked == 0);
    CHECK(acct(&w, ALICE).balance == alice + REWARD && t.status == LEDGER_TASK_FINALIZED);

    /* the referee's price: no bond under the floor, at most
     * LEDGER_OPEN_PER_CHALLENGER open challenges a challenger */
    uint8_t id2[32];
    next_block(&w);
    ledger_task_params p = params(LEDGER_MODE_OPTIMISTIC, 1);
    p.min_bond = 0;
    POST(&w, ALICE, &p, id2);
    tx = claim_tx(&w, BOB, id2);
    OK(&w, BOB, &tx);
    next_block(&w);
    tx = commit_tx(&w, BOB, id2, &honest);
    OK(&w, BOB, &tx);
    REVEAL(&w, BOB, id2, &honest);
    tx = challenge_tx(&w, CAROL, id2, BOB, &honest, 1, FLOOR - 1);
    FAILS(&w, CAROL, &tx, "below the network's floor");
    tx = da_tx(&w, CAROL, id2, BOB, withheld, 0);
    FAILS(&w, CAROL, &tx, "below the network's floor");
    for (int k = 0; k < LEDGER_OPEN_PER_CHALLENGER; k++) {
        uint8_t h[32];
        memset(h, 0x10 + k, 32);
        tx = da_tx(&w, CAROL, id2, BOB, h, FLOOR);
        OK(&w, CAROL, &tx);
    }
    tx = challenge_tx(&w, CAROL, id2, BOB, &honest, 2, FLOOR);
    FAILS(&w, CAROL, &tx, "open challenges, the most one may hold");
    tx = challenge_tx(&w, DAVE, id2, BOB, &honest, 2, FLOOR); /* another challenger is not held back */
    OK(&w, DAVE, &tx);
    run_free(&honest);
    world_free(&w);
}

/* Poster fault (rows D2u, V6): a claimant says the task cannot be run; the
 * referee agrees: nobody forfeits, the requester gets its escrow back and
 * nothing of anyone's stake. The referee disagrees: the claim costs its
 * bond and the stalled slot forfeits as usual. */
static void test_unrunnable(void) {
    world w;
    world_init(&w);
    reg(&w, BOB);
    reg(&w, CAROL);
    uint8_t id[32], ch[32];
    POST_REP(&w, 2, id);
    ledger_tx tx = claim_tx(&w, BOB, id);
    OK(&w, BOB, &tx);
    tx = claim_tx(&w, CAROL, id);
    OK(&w, CAROL, &tx);
    uint64_t alice = acct(&w, ALICE).balance, bob = acct(&w, BOB).balance, carol = acct(&w, CAROL).balance;
    tx = da_tx(&w, DAVE, id, ALICE, NULL, MIN_BOND);
    FAILS(&w, DAVE, &tx, "only a worker holding a slot");
    tx = da_tx(&w, BOB, id, CAROL, NULL, MIN_BOND);
    FAILS(&w, BOB, &tx, "accuses the task's requester");
    tx = da_tx(&w, BOB, id, ALICE, NULL, MIN_BOND);
    OK_HASH(&w, BOB, &tx, ch);
    CHECK(chal(&w, ch).kind == LEDGER_CHK_UNRUNNABLE && task(&w, id).status == LEDGER_TASK_CLAIMED);
    /* expire waits for the ruling */
    advance_to(&w, task(&w, id).posted_at + CLAIM_B + WORK_B + 1);
    tx = ref_tx(&w, LEDGER_TX_EXPIRE, DAVE, id);
    FAILS(&w, DAVE, &tx, "unrunnable challenge");
    uint8_t zero[32] = {0};
    tx = verdict_tx(&w, OP, ch, zero, LEDGER_RULING_UNRUNNABLE);
    OK(&w, OP, &tx);
    ledger_task t = task(&w, id);
    CHECK(chal(&w, ch).status == LEDGER_CH_UPHELD && t.status == LEDGER_TASK_EXPIRED && t.escrow == 0);
    CHECK(t.slots[0].status == LEDGER_SLOT_VOID && t.slots[1].status == LEDGER_SLOT_VOID);
    CHECK(acct(&w, BOB).balance == bob - 2 * MIN_FEE && acct(&w, BOB).stake == WORKER_STAKE && acct(&w, BOB).locked == 0);
    CHECK(acct(&w, CAROL).balance == carol && acct(&w, CAROL).stake == WORKER_STAKE && acct(&w, CAROL).locked == 0);
    CHECK(acct(&w, ALICE).balance == alice + 2 * REWARD); /* its escrow, nothing more */

    /* a runnable task: the claim is rejected, the staller then forfeits */
    uint8_t id2[32];
    next_block(&w);
    POST_OPT(&w, id2);
    tx = claim_tx(&w, BOB, id2);
    OK(&w, BOB, &tx);
    tx = da_tx(&w, BOB, id2, ALICE, NULL, MIN_BOND);
    OK_HASH(&w, BOB, &tx, ch);
    tx = verdict_tx(&w, OP, ch, zero, 1);
    OK(&w, OP, &tx);
    CHECK(chal(&w, ch).status == LEDGER_CH_REJECTED);
    advance_to(&w, task(&w, id2).posted_at + CLAIM_B + WORK_B + 1);
    tx = ref_tx(&w, LEDGER_TX_EXPIRE, DAVE, id2);
    OK(&w, DAVE, &tx);
    CHECK(task(&w, id2).slots[0].status == LEDGER_SLOT_FORFEITED);
    world_free(&w);
}

/* A verdict after the deadline but before the void cap still applies: a
 * flooded referee that rules late still slashes the cheater. */
static void test_late_verdict(void) {
    world w;
    world_init(&w);
    run honest, cheat;
    run_make(&honest, STEPS, 0, 0, false);
    run_make(&cheat, STEPS, 3, 1, false);
    uint8_t id[32], ch[32];
    committed_opt(&w, &cheat, id);
    ledger_tx tx = challenge_tx(&w, CAROL, id, BOB, &cheat, 3, MIN_BOND);
    OK_HASH(&w, CAROL, &tx, ch);
    uint64_t past = chal(&w, ch).deadline > task(&w, id).window_end ? chal(&w, ch).deadline : task(&w, id).window_end;
    advance_to(&w, past + 1);
    CHECK(past + 1 <= challenge_void_at_test(&w, ch));
    tx = ref_tx(&w, LEDGER_TX_FINALIZE, DAVE, id);
    FAILS(&w, DAVE, &tx, "awaits its verdict until"); /* the cheater is not paid meanwhile */
    tx = verdict_tx(&w, OP, ch, honest.leaves + 3 * 32, 1);
    OK(&w, OP, &tx);
    CHECK(chal(&w, ch).status == LEDGER_CH_UPHELD && task(&w, id).slots[0].status == LEDGER_SLOT_SLASHED);
    tx = verdict_tx(&w, OP, ch, honest.leaves + 3 * 32, 1);
    FAILS(&w, OP, &tx, "upheld, not open"); /* ruled once */
    run_free(&honest);
    run_free(&cheat);
    world_free(&w);
}

/* Replicated, r = 2: BOB honest, CAROL cheats from step 3; DAVE (a third
 * party) disputes with both sides' evidence and no bond. */
static void replicated_pair(world *w, const run *rb, const run *rc, uint8_t id[32], uint64_t *hc) {
    POST_REP(w, 2, id);
    ledger_tx tx = claim_tx(w, BOB, id);
    OK(w, BOB, &tx);
    tx = claim_tx(w, CAROL, id);
    OK(w, CAROL, &tx);
    next_block(w);
    tx = commit_tx(w, BOB, id, rb);
    OK(w, BOB, &tx);
    tx = commit_tx(w, CAROL, id, rc);
    OK(w, CAROL, &tx);
    *hc = height(w);
    REVEAL(w, BOB, id, rb);
    REVEAL(w, CAROL, id, rc);
}

static void test_replicated_dispute(void) {
    world w;
    world_init(&w);
    reg(&w, BOB);
    reg(&w, CAROL);
    run honest, cheat;
    run_make(&honest, STEPS, 0, 0, false);
    run_make(&cheat, STEPS, 3, 2, false);
    uint8_t id[32], ch[32];
    uint64_t hc;
    replicated_pair(&w, &honest, &cheat, id, &hc);

    /* rules of `other` */
    ledger_tx tx = challenge_tx(&w, DAVE, id, CAROL, &cheat, 3, FLOOR);
    FAILS(&w, DAVE, &tx, "below the task's min_bond"); /* no other: the bond counts */
    tx = challenge_tx(&w, DAVE, id, CAROL, &cheat, 3, FLOOR);
    with_other(&tx, CAROL, &cheat);
    FAILS(&w, DAVE, &tx, "other worker is the accused");
    tx = challenge_tx(&w, DAVE, id, CAROL, &cheat, 3, FLOOR);
    with_other(&tx, EVE, &honest);
    FAILS(&w, DAVE, &tx, "other worker holds no revealed slot");
    tx = challenge_tx(&w, DAVE, id, CAROL, &cheat, 3, FLOOR);
    with_other(&tx, BOB, &honest);
    tx.u.challenge.ev_other.leaf[0] ^= 1;
    FAILS(&w, DAVE, &tx, "forged proof");
    tx = challenge_tx(&w, DAVE, id, CAROL, &cheat, 3, FLOOR);
    with_other(&tx, BOB, &cheat); /* CAROL's proofs offered as BOB's */
    FAILS(&w, DAVE, &tx, "forged proof");
    tx = challenge_tx(&w, DAVE, id, CAROL, &cheat, 2, FLOOR);
    with_other(&tx, BOB, &honest);
    FAILS(&w, DAVE, &tx, "agree on leaf 2");
    tx = challenge_tx(&w, DAVE, id, CAROL, &cheat, 5, FLOOR);
    with_other(&tx, BOB, &honest);
    FAILS(&w, DAVE, &tx, "do not agree on leaf 4");

    /* the cheater accused: slashed, the honest side untouched */
    uint64_t dave_bal = acct(&w, DAVE).balance;
    tx = challenge_tx(&w, DAVE, id, CAROL, &cheat, 3, FLOOR);
    with_other(&tx, BOB, &honest);
    OK_HASH(&w, DAVE, &tx, ch);
    ledger_challenge c = chal(&w, ch);
    CHECK(c.has_other && memcmp(c.other, K[BOB].pk, 32) == 0 && memcmp(c.other_leaf, honest.leaves + 3 * 32, 32) == 0);
    tx = verdict_tx(&w, OP, ch, honest.leaves + 3 * 32, 1);
    OK(&w, OP, &tx);
    CHECK(chal(&w, ch).status == LEDGER_CH_UPHELD);
    CHECK(acct(&w, CAROL).stake == WORKER_STAKE - W_STAKE && acct(&w, CAROL).locked == 0);
    CHECK(acct(&w, BOB).stake == WORKER_STAKE && acct(&w, BOB).locked == W_STAKE);
    CHECK(acct(&w, DAVE).balance == dave_bal - MIN_FEE + W_STAKE * SLASH_PCT / 100);
    ledger_task t = task(&w, id);
    CHECK(t.slots[0].status == LEDGER_SLOT_COMMITTED && t.slots[1].status == LEDGER_SLOT_SLASHED);
    uint64_t alice = acct(&w, ALICE).balance, bob = acct(&w, BOB).balance, carol = acct(&w, CAROL).balance;
    advance_to(&w, hc + SEALED_W + 1);
    tx = ref_tx(&w, LEDGER_TX_FINALIZE, EVE, id);
    OK(&w, EVE, &tx);
    t = task(&w, id);
    CHECK(t.slots[0].status == LEDGER_SLOT_PAID && t.slots[1].status == LEDGER_SLOT_SLASHED);
    CHECK(acct(&w, BOB).balance == bob + REWARD && acct(&w, BOB).locked == 0);
    CHECK(acct(&w, CAROL).balance == carol && acct(&w, ALICE).balance == alice + REWARD);

    /* the other way round: the honest worker accused, the cheater as other */
    uint8_t id2[32], ch2[32];
    replicated_pair(&w, &honest, &cheat, id2, &hc);
    uint64_t burned = ledger_state_burned(w.s);
    tx = challenge_tx(&w, DAVE, id2, BOB, &honest, 3, FLOOR);
    with_other(&tx, CAROL, &cheat);
    OK_HASH(&w, DAVE, &tx, ch2);
    tx = verdict_tx(&w, OP, ch2, honest.leaves + 3 * 32, 1);
    OK(&w, OP, &tx);
    CHECK(chal(&w, ch2).status == LEDGER_CH_UPHELD);
    t = task(&w, id2);
    CHECK(t.slots[0].status == LEDGER_SLOT_COMMITTED && t.slots[1].status == LEDGER_SLOT_SLASHED);
    CHECK(acct(&w, CAROL).stake == WORKER_STAKE - 2 * W_STAKE);
    CHECK(ledger_state_burned(w.s) == burned + W_STAKE - W_STAKE * SLASH_PCT / 100);

    /* both wrong: both slashed, nobody paid, the escrow goes back */
    uint8_t id3[32], ch3[32];
    replicated_pair(&w, &honest, &cheat, id3, &hc);
    uint64_t dave = acct(&w, DAVE).balance;
    tx = challenge_tx(&w, DAVE, id3, BOB, &honest, 3, FLOOR);
    with_other(&tx, CAROL, &cheat);
    OK_HASH(&w, DAVE, &tx, ch3);
    uint8_t neither[32] = {0xee};
    tx = verdict_tx(&w, OP, ch3, neither, 1);
    OK(&w, OP, &tx);
    t = task(&w, id3);
    CHECK(t.slots[0].status == LEDGER_SLOT_SLASHED && t.slots[1].status == LEDGER_SLOT_SLASHED);
    CHECK(acct(&w, DAVE).balance == dave - MIN_FEE + 2 * (W_STAKE * SLASH_PCT / 100));
    alice = acct(&w, ALICE).balance;
    advance_to(&w, hc + SEALED_W + 1);
    tx = ref_tx(&w, LEDGER_TX_FINALIZE, DAVE, id3);
    OK(&w, DAVE, &tx);
    CHECK(acct(&w, ALICE).balance == alice + 2 * REWARD);
    CHECK(task(&w, id3).status == LEDGER_TASK_FINALIZED);
    /* the first task's challenge cannot be ruled on twice, nor the task finalized twice */
    tx = verdict_tx(&w, OP, ch, honest.leaves + 3 * 32, 1);
    FAILS(&w, OP, &tx, "not open");
    run_free(&honest);
    run_free(&cheat);
    world_free(&w);
}

/* Step 1 needs no agreed leaf 0: a replica that started from other weights
 * (its leaf 0 differs) is disputed at step 1 and slashed by the verdict. */
static void test_replicated_dispute_step1(void) {
    world w;
    world_init(&w);
    reg(&w, BOB);
    reg(&w, CAROL);
    run honest, init;
    run_make(&honest, STEPS, 0, 0, false);
    run_make(&init, STEPS, 1, 7, false);
    plow_sha256_once("other init", 10, init.leaves); /* leaf 0 differs too */
    merkle_root(init.leaves, init.n + 1, init.root);
    uint8_t id[32], ch[32];
    uint64_t hc;
    replicated_pair(&w, &honest, &init, id, &hc);
    ledger_tx tx = challenge_tx(&w, DAVE, id, CAROL, &init, 2, FLOOR);
    with_other(&tx, BOB, &honest);
    FAILS(&w, DAVE, &tx, "do not agree on leaf 1"); /* later steps still need agreement */
    tx = challenge_tx(&w, DAVE, id, CAROL, &init, 1, FLOOR);
    with_other(&tx, BOB, &honest);
    OK_HASH(&w, DAVE, &tx, ch);
    tx = verdict_tx(&w, OP, ch, honest.leaves + 32, 1);
    OK(&w, OP, &tx);
    CHECK(chal(&w, ch).status == LEDGER_CH_UPHELD);
    ledger_task t = task(&w, id);
    CHECK(t.slots[0].status == LEDGER_SLOT_COMMITTED && t.slots[1].status == LEDGER_SLOT_SLASHED);
    run_free(&honest);
    run_free(&init);
    world_free(&w);
}

/* Replicas that disagree with nobody proving who is wrong are all UNPAID
 * (stakes unlocked, escrow back); replicas that agree are each PAID. */
static void test_replicated_disagree_unpaid(void) {
    world w;
    world_init(&w);
    reg(&w, BOB);
    reg(&w, CAROL);
    reg(&w, DAVE);
    run honest, cheat;
    run_make(&honest, STEPS, 0, 0, false);
    run_make(&cheat, STEPS, 6, 3, false);
    uint8_t id[32];
    uint64_t hc;
    replicated_pair(&w, &honest, &cheat, id, &hc);
    uint64_t alice = acct(&w, ALICE).balance, bob = acct(&w, BOB).balance, carol = acct(&w, CAROL).balance;
    advance_to(&w, hc + SEALED_W + 1);
    ledger_tx tx = ref_tx(&w, LEDGER_TX_FINALIZE, DAVE, id);
    OK(&w, DAVE, &tx);
    ledger_task t = task(&w, id);
    CHECK(t.slots[0].status == LEDGER_SLOT_UNPAID && t.slots[1].status == LEDGER_SLOT_UNPAID);
    CHECK(acct(&w, BOB).balance == bob && acct(&w, CAROL).balance == carol);
    CHECK(acct(&w, BOB).locked == 0 && acct(&w, CAROL).locked == 0);
    CHECK(acct(&w, BOB).stake == WORKER_STAKE && acct(&w, CAROL).stake == WORKER_STAKE);
    CHECK(acct(&w, ALICE).balance == alice + 2 * REWARD && t.escrow == 0);
    /* three replicas that agree: each paid exactly */
    uint8_t id2[32];
    POST_REP(&w, 3, id2);
    int ws[3] = {BOB, CAROL, DAVE};
    for (int i = 0; i < 3; i++) {
        tx = claim_tx(&w, ws[i], id2);
        OK(&w, ws[i], &tx);
    }
    uint64_t before[3];
    for (int i = 0; i < 3; i++) {
        tx = commit_tx(&w, ws[i], id2, &honest);
        OK(&w, ws[i], &tx);
    }
    hc = height(&w);
    for (int i = 0; i < 3; i++) {
        REVEAL(&w, ws[i], id2, &honest);
        before[i] = acct(&w, ws[i]).balance;
    }
    alice = acct(&w, ALICE).balance;
    advance_to(&w, hc + SEALED_W + 1);
    tx = ref_tx(&w, LEDGER_TX_FINALIZE, EVE, id2);
    OK(&w, EVE, &tx);
    for (int i = 0; i < 3; i++) {
        CHECK(acct(&w, ws[i]).balance == before[i] + REWARD);
        CHECK(acct(&w, ws[i]).locked == 0);
        CHECK(task(&w, id2).slots[i].status == LEDGER_SLOT_PAID);
    }
    CHECK(acct(&w, ALICE).balance == alice);
    run_free(&honest);
    run_free(&cheat);
    world_free(&w);
}

static void test_finalize(void) {
    world w;
    world_init(&w);
    run honest;
    run_make(&honest, STEPS, 0, 0, false);
    reg(&w, BOB);
    uint8_t id[32];
    POST_OPT(&w, id);
    ledger_tx tx = ref_tx(&w, LEDGER_TX_FINALIZE, CAROL, id);
    FAILS(&w, CAROL, &tx, "nothing to finalize: no slot committed; send expire");
    tx = claim_tx(&w, BOB, id);
    OK(&w, BOB, &tx);
    tx = ref_tx(&w, LEDGER_TX_FINALIZE, CAROL, id);
    FAILS(&w, CAROL, &tx, "nothing to finalize: no slot committed; send expire");
    uint8_t nope[32] = {1};
    tx = ref_tx(&w, LEDGER_TX_FINALIZE, CAROL, nope);
    FAILS(&w, CAROL, &tx, "no task");
    next_block(&w);
    tx = commit_tx(&w, BOB, id, &honest);
    OK(&w, BOB, &tx);
    uint64_t hc = height(&w);
    REVEAL(&w, BOB, id, &honest);
    uint64_t bob = acct(&w, BOB).balance, alice = acct(&w, ALICE).balance;
    tx = ref_tx(&w, LEDGER_TX_EXPIRE, CAROL, id);
    FAILS(&w, CAROL, &tx, "send finalize");
    advance_to(&w, hc + SEALED_W); /* the window's last block */
    tx = ref_tx(&w, LEDGER_TX_FINALIZE, CAROL, id);
    FAILS(&w, CAROL, &tx, "challenge window open until");
    next_block(&w);
    tx = ref_tx(&w, LEDGER_TX_FINALIZE, CAROL, id);
    OK(&w, CAROL, &tx);
    ledger_task t = task(&w, id);
    CHECK(t.status == LEDGER_TASK_FINALIZED && t.slots[0].status == LEDGER_SLOT_PAID && t.escrow == 0);
    ledger_account b = acct(&w, BOB);
    CHECK(b.balance == bob + REWARD && b.locked == 0 && b.stake == WORKER_STAKE);
    CHECK(acct(&w, ALICE).balance == alice);
    CHECK(ledger_state_burned(w.s) == 0);
    run_free(&honest);
    world_free(&w);
}

/* Commit-reveal (rows C9, RV1-RV9, F9): a copier that commits another
 * worker's commitment can open it for nobody; a reveal is checked against
 * the sender's key, the salt, the leaves' Merkle root and the final state;
 * reveals open when every slot committed and close window_blocks later; a
 * slot that never reveals forfeits and the honest replica is paid. */
static void test_reveal(void) {
    world w;
    world_init(&w);
    reg(&w, BOB);
    reg(&w, CAROL);
    reg(&w, DAVE);
    run honest, bent;
    run_make(&honest, STEPS, 0, 0, false);
    run_make(&bent, STEPS, 0, 0, false);
    bent.final_state[0] ^= 1; /* a commitment whose final state is not its leaf n */
    uint8_t id[32], nope[32] = {9};
    /* post_task: a reveal must fit one transaction */
    ledger_task_params p = params(LEDGER_MODE_OPTIMISTIC, 1);
    p.steps = LEDGER_LEAVES_MAX;
    ledger_tx tx = mk(&w, LEDGER_TX_POST_TASK, ALICE);
    tx.u.post = p;
    FAILS(&w, ALICE, &tx, "a reveal carries at most 1025 leaves");
    p.steps = LEDGER_LEAVES_MAX - 1;
    tx = mk(&w, LEDGER_TX_POST_TASK, ALICE);
    tx.u.post = p;
    OK(&w, ALICE, &tx);
    p.kind = LEDGER_KIND_INFER; /* tokens, no leaves */
    p.steps = 100000;
    tx = mk(&w, LEDGER_TX_POST_TASK, ALICE);
    tx.u.post = p;
    OK(&w, ALICE, &tx);

    POST_REP(&w, 2, id);
    tx = claim_tx(&w, BOB, id);
    OK(&w, BOB, &tx);
    tx = claim_tx(&w, CAROL, id);
    OK(&w, CAROL, &tx);
    next_block(&w);
    ledger_tx bob_commit = commit_tx(&w, BOB, id, &honest);
    OK(&w, BOB, &bob_commit);
    /* too early: CAROL has not committed */
    tx = reveal_tx(&w, BOB, id, &honest);
    FAILS(&w, BOB, &tx, "open when every slot has committed");
    /* the copier: CAROL commits BOB's commitment, seen in the block */
    tx = mk(&w, LEDGER_TX_COMMIT, CAROL);
    tx.u.commit = bob_commit.u.commit;
    OK(&w, CAROL, &tx);
    uint64_t hc = height(&w);
    ledger_task t = task(&w, id);
    CHECK(t.status == LEDGER_TASK_COMMITTED && ledger_reveal_from(&t) == hc &&
          ledger_reveal_until(&t) == hc + WINDOW_B && t.window_end == hc + SEALED_W);
    /* nobody else's commitment opens for the copier, whatever it reveals */
    tx = reveal_tx(&w, CAROL, id, &honest);
    FAILS(&w, CAROL, &tx, "do not open slot 1's commitment with the sender's key");
    tx = reveal_tx(&w, CAROL, id, &honest);
    salt_of(BOB, tx.u.open.salt); /* BOB's salt too: the key and the slot still differ */
    FAILS(&w, CAROL, &tx, "do not open");
    /* the wrong party, task, salt, values, leaves */
    tx = reveal_tx(&w, DAVE, id, &honest);
    FAILS(&w, DAVE, &tx, "holds no slot");
    tx = reveal_tx(&w, BOB, nope, &honest);
    FAILS(&w, BOB, &tx, "no task");
    tx = reveal_tx(&w, BOB, id, &honest);
    tx.u.open.salt[0] ^= 1;
    FAILS(&w, BOB, &tx, "do not open");
    tx = reveal_tx(&w, BOB, id, &honest);
    tx.u.open.artifact[0] ^= 1;
    FAILS(&w, BOB, &tx, "do not open");
    tx = reveal_tx(&w, BOB, id, &honest);
    tx.u.open.leaves[3 * 32] ^= 1;
    FAILS(&w, BOB, &tx, "Merkle root of the leaves is not the trace root");
    tx = reveal_tx(&w, BOB, id, &honest);
    tx.u.open.count = STEPS;
    FAILS(&w, BOB, &tx, "8 leaves for a trace of 8 steps");
    tx = reveal_tx(&w, BOB, id, &honest);
    tx.u.open.count = 0;
    FAILS(&w, BOB, &tx, "n+1 needed");
    CHECK(task(&w, id).slots[0].revealed_at == 0);
    /* the honest reveal, once */
    next_block(&w);
    REVEAL(&w, BOB, id, &honest);
    t = task(&w, id);
    CHECK(t.slots[0].revealed_at == height(&w) && memcmp(t.slots[0].trace_root, honest.root, 32) == 0 &&
          memcmp(t.slots[0].final_state, honest.final_state, 32) == 0 && t.slots[0].n == STEPS &&
          t.slots[0].checkpoint_every == 2);
    CHECK(t.slots[1].revealed_at == 0 && is_zero32(t.slots[1].trace_root));
    tx = reveal_tx(&w, BOB, id, &honest);
    FAILS(&w, BOB, &tx, "revealed already");
    /* an unrevealed slot cannot be challenged (nothing to prove against) */
    tx = challenge_tx(&w, DAVE, id, CAROL, &honest, 2, MIN_BOND);
    FAILS(&w, DAVE, &tx, "accused holds no revealed slot");
    /* late: past the reveal deadline */
    advance_to(&w, hc + WINDOW_B + 1);
    tx = reveal_tx(&w, CAROL, id, &honest);
    char want[64];
    snprintf(want, sizeof want, "reveal deadline passed at %" PRIu64, hc + WINDOW_B);
    FAILS(&w, CAROL, &tx, want);
    tx = ref_tx(&w, LEDGER_TX_FINALIZE, DAVE, id);
    FAILS(&w, DAVE, &tx, "challenge window open");
    /* settled: the copier forfeits, the honest replica is paid */
    advance_to(&w, hc + SEALED_W + 1);
    uint64_t bob = acct(&w, BOB).balance, carol_stake = acct(&w, CAROL).stake, alice = acct(&w, ALICE).balance;
    uint64_t burned = ledger_state_burned(w.s);
    tx = ref_tx(&w, LEDGER_TX_FINALIZE, DAVE, id);
    OK(&w, DAVE, &tx);
    t = task(&w, id);
    CHECK(t.status == LEDGER_TASK_FINALIZED && t.slots[0].status == LEDGER_SLOT_PAID &&
          t.slots[1].status == LEDGER_SLOT_FORFEITED);
    CHECK(acct(&w, BOB).balance == bob + REWARD && acct(&w, BOB).locked == 0);
    CHECK(acct(&w, CAROL).stake == carol_stake - W_STAKE && acct(&w, CAROL).locked == 0);
    CHECK(acct(&w, ALICE).balance == alice + REWARD); /* the forfeited stake is burned, not the poster's */
    CHECK(ledger_state_burned(w.s) == burned + W_STAKE);

    /* a commitment to a final state that is not leaf n cannot be revealed:
     * the optimistic slot forfeits and nobody is paid */
    POST_OPT(&w, id);
    tx = claim_tx(&w, DAVE, id);
    OK(&w, DAVE, &tx);
    tx = commit_tx(&w, DAVE, id, &bent);
    OK(&w, DAVE, &tx);
    hc = height(&w);
    tx = reveal_tx(&w, DAVE, id, &bent);
    FAILS(&w, DAVE, &tx, "leaf 8 is not the final state");
    advance_to(&w, hc + SEALED_W + 1);
    alice = acct(&w, ALICE).balance;
    tx = ref_tx(&w, LEDGER_TX_FINALIZE, BOB, id);
    OK(&w, BOB, &tx);
    CHECK(task(&w, id).slots[0].status == LEDGER_SLOT_FORFEITED && acct(&w, ALICE).balance == alice + REWARD);
    run_free(&honest);
    run_free(&bent);
    world_free(&w);
}

static void test_expire(void) {
    world w;
    world_init(&w);
    run honest;
    run_make(&honest, STEPS, 0, 0, false);
    reg(&w, BOB);
    reg(&w, CAROL);
    uint8_t id[32];
    next_block(&w);
    uint64_t posted = height(&w);
    POST_REP(&w, 2, id);
    ledger_tx tx = claim_tx(&w, BOB, id);
    OK(&w, BOB, &tx);
    tx = claim_tx(&w, CAROL, id);
    OK(&w, CAROL, &tx);
    tx = commit_tx(&w, BOB, id, &honest);
    OK(&w, BOB, &tx);
    /* CAROL stalls */
    uint64_t until = posted + CLAIM_B + WORK_B;
    tx = ref_tx(&w, LEDGER_TX_EXPIRE, DAVE, id);
    char want[80];
    snprintf(want, sizeof want, "task can still be committed until %" PRIu64, until);
    FAILS(&w, DAVE, &tx, want);
    tx = ref_tx(&w, LEDGER_TX_FINALIZE, DAVE, id);
    FAILS(&w, DAVE, &tx, "1 of 2 slots committed");
    advance_to(&w, until);
    tx = ref_tx(&w, LEDGER_TX_EXPIRE, DAVE, id);
    FAILS(&w, DAVE, &tx, want);
    next_block(&w);
    uint64_t alice = acct(&w, ALICE).balance, bob = acct(&w, BOB).balance, carol = acct(&w, CAROL).balance;
    tx = ref_tx(&w, LEDGER_TX_EXPIRE, DAVE, id);
    OK(&w, DAVE, &tx);
    ledger_task t = task(&w, id);
    CHECK(t.status == LEDGER_TASK_EXPIRED && t.escrow == 0);
    CHECK(t.slots[0].status == LEDGER_SLOT_UNPAID && t.slots[1].status == LEDGER_SLOT_FORFEITED);
    /* the poster gets its escrow back and nothing of the forfeited stake: burned */
    CHECK(acct(&w, ALICE).balance == alice + 2 * REWARD);
    CHECK(acct(&w, BOB).balance == bob && acct(&w, BOB).locked == 0 && acct(&w, BOB).stake == WORKER_STAKE);
    CHECK(acct(&w, CAROL).balance == carol && acct(&w, CAROL).locked == 0);
    CHECK(acct(&w, CAROL).stake == WORKER_STAKE - W_STAKE);
    CHECK(ledger_state_burned(w.s) == W_STAKE);
    tx = ref_tx(&w, LEDGER_TX_EXPIRE, DAVE, id);
    FAILS(&w, DAVE, &tx, "expired already");
    tx = ref_tx(&w, LEDGER_TX_FINALIZE, DAVE, id);
    FAILS(&w, DAVE, &tx, "expired already");
    tx = commit_tx(&w, CAROL, id, &honest);
    FAILS(&w, CAROL, &tx, "forfeited, not claimed");
    /* nobody claimed at all: the escrow goes back, nothing burned */
    uint8_t id2[32];
    next_block(&w);
    posted = height(&w);
    POST_OPT(&w, id2);
    alice = acct(&w, ALICE).balance;
    uint64_t burned = ledger_state_burned(w.s);
    advance_to(&w, posted + CLAIM_B + WORK_B + 1);
    tx = ref_tx(&w, LEDGER_TX_EXPIRE, DAVE, id2);
    OK(&w, DAVE, &tx);
    CHECK(acct(&w, ALICE).balance == alice + REWARD && ledger_state_burned(w.s) == burned);
    uint8_t nope[32] = {2};
    tx = ref_tx(&w, LEDGER_TX_EXPIRE, DAVE, nope);
    FAILS(&w, DAVE, &tx, "no task");
    run_free(&honest);
    world_free(&w);
}

/* Issue 17, an adversary poster: it posts work nobody can do (a spec whose
 * data blob does not exist, or a batch x seq no deadline fits: the ledger
 * cannot read the spec to tell), the workers claim, cannot commit, and the
 * poster expires the task. Before, half of every forfeited stake went to
 * the poster: each stalled claim paid it worker_stake x 50%. Now the
 * forfeited stakes are burned, and the poster ends with exactly what it had
 * less its fees: it gains nothing, in expire and in finalize. */
static void test_poster_forfeit(void) {
    world w;
    world_init(&w);
    reg(&w, BOB);
    reg(&w, CAROL);
    next_block(&w);
    uint64_t alice0 = acct(&w, ALICE).balance, burned0 = ledger_state_burned(w.s);
    uint64_t bob0 = acct(&w, BOB).stake, carol0 = acct(&w, CAROL).stake;
    uint64_t posted = height(&w);
    uint8_t id[32];
    POST_REP(&w, 2, id);
    ledger_tx tx = claim_tx(&w, BOB, id);
    OK(&w, BOB, &tx);
    tx = claim_tx(&w, CAROL, id);
    OK(&w, CAROL, &tx);
    /* neither can run it; the poster expires it once no slot can commit */
    advance_to(&w, posted + CLAIM_B + WORK_B + 1);
    tx = ref_tx(&w, LEDGER_TX_EXPIRE, ALICE, id);
    OK(&w, ALICE, &tx);
    ledger_task t = task(&w, id);
    CHECK(t.status == LEDGER_TASK_EXPIRED && t.slots[0].status == LEDGER_SLOT_FORFEITED &&
          t.slots[1].status == LEDGER_SLOT_FORFEITED && t.escrow == 0);
    CHECKF(acct(&w, ALICE).balance == alice0 - 2 * MIN_FEE, "the poster: %" PRIu64 " -> %" PRIu64 " (fees %d)",
           alice0, acct(&w, ALICE).balance, 2 * MIN_FEE);
    CHECK(acct(&w, BOB).stake == bob0 - W_STAKE && acct(&w, CAROL).stake == carol0 - W_STAKE);
    CHECK(ledger_state_burned(w.s) == burned0 + 2 * W_STAKE);
    world_free(&w);
}

/* Inference: the "trace" is the receipt (trace_root = receipt blob hash),
 * leaf 1 the hash of the output tokens; the dispute is step 1. */
static void test_infer(void) {
    world w;
    world_init(&w);
    reg(&w, BOB);
    ledger_task_params p = params(LEDGER_MODE_OPTIMISTIC, 1);
    p.kind = LEDGER_KIND_INFER;
    p.steps = 32; /* tokens */
    uint8_t id[32], ch[32];
    POST(&w, ALICE, &p, id);
    ledger_tx tx = claim_tx(&w, BOB, id);
    OK(&w, BOB, &tx);
    uint8_t receipt[32], tokens[32], model[32], right[32];
    memset(receipt, 0xa1, 32);
    memset(tokens, 0xa2, 32);
    memset(model, 0xa3, 32);
    memset(right, 0xa4, 32);
    ledger_tx rv = mk(&w, LEDGER_TX_REVEAL, BOB);
    memcpy(rv.u.open.task, id, 32);
    memcpy(rv.u.open.trace_root, receipt, 32);
    memcpy(rv.u.open.final_state, tokens, 32);
    memcpy(rv.u.open.artifact, model, 32);
    rv.u.open.n = 32;
    salt_of(BOB, rv.u.open.salt);
    tx = mk(&w, LEDGER_TX_COMMIT, BOB);
    memcpy(tx.u.commit.task, id, 32);
    ledger_commitment(&rv, 0, tx.u.commit.trace_root);
    tx.u.commit.n = 31;
    FAILS(&w, BOB, &tx, "n is 31");
    tx.u.commit.n = 32;
    tx.nonce = acct(&w, BOB).nonce;
    OK(&w, BOB, &tx);
    rv.nonce = acct(&w, BOB).nonce;
    rv.u.open.count = 1; /* inference has no trace leaves */
    FAILS(&w, BOB, &rv, "carries no leaves");
    rv.u.open.count = 0;
    rv.nonce = acct(&w, BOB).nonce;
    OK(&w, BOB, &rv); /* no checkpoints for inference */
#define INFER_CH(tx_, step_)                                                                                           \
    do {                                                                                                               \
        tx_ = mk(&w, LEDGER_TX_CHALLENGE, CAROL);                                                                      \
        memcpy(tx_.u.challenge.task, id, 32);                                                                          \
        memcpy(tx_.u.challenge.accused, K[BOB].pk, 32);                                                                \
        tx_.u.challenge.step = step_;                                                                                  \
        tx_.u.challenge.bond = MIN_BOND;                                                                               \
        memcpy(tx_.u.challenge.state_blob, receipt, 32);                                                               \
        memcpy(tx_.u.challenge.ev.leaf_prev, receipt, 32);                                                             \
        memcpy(tx_.u.challenge.ev.leaf, tokens, 32);                                                                   \
    } while (0)
    INFER_CH(tx, 2);
    FAILS(&w, CAROL, &tx, "step 1, not 2");
    INFER_CH(tx, 1);
    tx.u.challenge.ev.leaf[0] ^= 1;
    FAILS(&w, CAROL, &tx, "forged proof");
    INFER_CH(tx, 1);
    tx.u.challenge.ev.leaf_prev[0] ^= 1;
    FAILS(&w, CAROL, &tx, "forged proof");
    INFER_CH(tx, 1);
    tx.u.challenge.state_blob[0] ^= 1;
    FAILS(&w, CAROL, &tx, "receipt");
    INFER_CH(tx, 1);
    OK_HASH(&w, CAROL, &tx, ch);
#undef INFER_CH
    tx = verdict_tx(&w, OP, ch, right, 1);
    OK(&w, OP, &tx);
    CHECK(chal(&w, ch).status == LEDGER_CH_UPHELD);
    CHECK(task(&w, id).slots[0].status == LEDGER_SLOT_SLASHED);
    world_free(&w);
}

/* The artifact step (j = n+1): the leaves are the final state and the
 * committed artifact; the referee computes the artifact of the state. */
static void test_artifact_step(void) {
    world w;
    world_init(&w);
    run bad, good;
    run_make(&bad, STEPS, 0, 0, true);
    run_make(&good, STEPS, 0, 0, false);
    uint8_t id[32], ch[32];
    committed_opt(&w, &bad, id);
    ledger_tx tx = challenge_tx(&w, CAROL, id, BOB, &bad, STEPS + 1, MIN_BOND);
    memcpy(tx.u.challenge.ev.leaf_prev, bad.leaves + (STEPS - 1) * 32, 32);
    FAILS(&w, CAROL, &tx, "forged proof");
    tx = challenge_tx(&w, CAROL, id, BOB, &bad, STEPS + 1, MIN_BOND);
    OK_HASH(&w, CAROL, &tx, ch);
    tx = verdict_tx(&w, OP, ch, good.artifact, 1);
    OK(&w, OP, &tx);
    CHECK(chal(&w, ch).status == LEDGER_CH_UPHELD);
    CHECK(acct(&w, BOB).stake == WORKER_STAKE - W_STAKE);
    run_free(&bad);
    run_free(&good);
    world_free(&w);
}

/* ---- the kinds of issue 6: dpo, round, label -------------------------------------------------- */

/* Gives a key that is not in genesis a balance, stake and a profile. */
static void fund(world *w, int who) {
    ledger_tx tx = mk(w, LEDGER_TX_TRANSFER, ALICE);
    memcpy(tx.u.transfer.to, K[who].pk, 32);
    tx.u.transfer.amount = WORKER_BAL;
    OK(w, ALICE, &tx);
    tx = mk(w, LEDGER_TX_STAKE, who);
    tx.u.stake.amount = WORKER_STAKE;
    OK(w, who, &tx);
    reg(w, who);
}

/* DPO is a training run: the same commit, challenge, verdict and pay. */
static void test_dpo(void) {
    world w;
    world_init(&w);
    run honest, cheat;
    run_make(&honest, STEPS, 0, 0, false);
    run_make(&cheat, STEPS, 3, 7, false);
    reg(&w, BOB);
    reg(&w, CAROL);
    /* an optimistic DPO run whose worker cheats from step 3 */
    ledger_task_params p = params(LEDGER_MODE_OPTIMISTIC, 1);
    p.kind = LEDGER_KIND_DPO;
    uint8_t id[32], ch[32];
    POST(&w, ALICE, &p, id);
    CHECK(task(&w, id).p.kind == LEDGER_KIND_DPO && task(&w, id).p.n_classes == 0);
    ledger_tx tx = claim_tx(&w, BOB, id);
    OK(&w, BOB, &tx);
    tx = commit_tx(&w, BOB, id, &cheat);
    OK(&w, BOB, &tx);
    uint64_t hc = height(&w);
    CHECK(task(&w, id).status == LEDGER_TASK_COMMITTED && task(&w, id).window_end == hc + SEALED_W);
    tx = reveal_tx(&w, BOB, id, &cheat);
    tx.u.open.checkpoint_every = 0;
    FAILS(&w, BOB, &tx, "do not open"); /* the commitment says 2 */
    REVEAL(&w, BOB, id, &cheat);
    tx = challenge_tx(&w, CAROL, id, BOB, &cheat, 3, MIN_BOND);
    tx.u.challenge.ev.leaf[0] ^= 1;
    FAILS(&w, CAROL, &tx, "forged proof");
    tx = challenge_tx(&w, CAROL, id, BOB, &cheat, 3, MIN_BOND);
    OK_HASH(&w, CAROL, &tx, ch);
    CHECK(task(&w, id).status == LEDGER_TASK_CHALLENGED);
    uint64_t carol = acct(&w, CAROL).balance;
    tx = verdict_tx(&w, OP, ch, honest.leaves + 3 * 32, 1);
    OK(&w, OP, &tx);
    CHECK(chal(&w, ch).status == LEDGER_CH_UPHELD && task(&w, id).slots[0].status == LEDGER_SLOT_SLASHED);
    CHECK(acct(&w, CAROL).balance == carol + MIN_BOND + W_STAKE * SLASH_PCT / 100);
    tx = ref_tx(&w, LEDGER_TX_FINALIZE, DAVE, id);
    FAILS(&w, DAVE, &tx, "challenge window open");
    advance_to(&w, hc + SEALED_W + 1);
    uint64_t alice = acct(&w, ALICE).balance;
    tx = ref_tx(&w, LEDGER_TX_FINALIZE, DAVE, id);
    OK(&w, DAVE, &tx);
    CHECK(task(&w, id).status == LEDGER_TASK_FINALIZED && acct(&w, ALICE).balance == alice + REWARD);
    /* a replicated DPO run by two honest workers: both paid */
    p = params(LEDGER_MODE_REPLICATED, 2);
    p.kind = LEDGER_KIND_DPO;
    POST(&w, ALICE, &p, id);
    tx = claim_tx(&w, BOB, id);
    OK(&w, BOB, &tx);
    tx = claim_tx(&w, CAROL, id);
    OK(&w, CAROL, &tx);
    tx = commit_tx(&w, BOB, id, &honest);
    OK(&w, BOB, &tx);
    tx = commit_tx(&w, CAROL, id, &honest);
    OK(&w, CAROL, &tx);
    hc = height(&w);
    REVEAL(&w, BOB, id, &honest);
    REVEAL(&w, CAROL, id, &honest);
    uint64_t bob = acct(&w, BOB).balance;
    advance_to(&w, hc + SEALED_W + 1);
    tx = ref_tx(&w, LEDGER_TX_FINALIZE, DAVE, id);
    OK(&w, DAVE, &tx);
    CHECK(task(&w, id).slots[0].status == LEDGER_SLOT_PAID && task(&w, id).slots[1].status == LEDGER_SLOT_PAID);
    CHECK(acct(&w, BOB).balance == bob + REWARD && acct(&w, BOB).locked == 0);
    run_free(&honest);
    run_free(&cheat);
    world_free(&w);
}

static ledger_task_params round_params(uint8_t participants) {
    ledger_task_params p = params(LEDGER_MODE_OPTIMISTIC, participants);
    p.kind = LEDGER_KIND_ROUND;
    return p;
}

/* A round of five slots: BOB and CAROL commit, CAROL is caught cheating
 * while the round still takes claims; FRANK joins during the dispute and
 * commits another shard (other results: fine); DAVE claims and stalls; the
 * fifth slot is never claimed. The round settles without the missing
 * contributions once their deadlines pass. */
static void test_round(void) {
    world w;
    world_init(&w);
    run shard0, shard1, cheat;
    run_make(&shard0, STEPS, 0, 0, false);
    run_make(&shard1, STEPS, 1, 9, false); /* another shard: other leaves, honest all the same */
    run_make(&cheat, STEPS, 5, 3, false);
    reg(&w, BOB);
    reg(&w, CAROL);
    reg(&w, DAVE);
    uint8_t id[32], ch[32];
    ledger_task_params p = round_params(4);
    p.mode = LEDGER_MODE_REPLICATED;
    ledger_tx tx = mk(&w, LEDGER_TX_POST_TASK, ALICE);
    tx.u.post = p;
    FAILS(&w, ALICE, &tx, "a round task is optimistic");
    for (int r = 0; r <= LEDGER_MAX_REPLICAS + 1; r += LEDGER_MAX_REPLICAS + 1) {
        tx = mk(&w, LEDGER_TX_POST_TASK, ALICE);
        tx.u.post = round_params((uint8_t)r);
        FAILS(&w, ALICE, &tx, "a round task needs 1..8 participants");
    }
    next_block(&w);
    uint64_t P = height(&w);
    p = round_params(5);
    POST(&w, ALICE, &p, id);
    tx = claim_tx(&w, BOB, id);
    OK(&w, BOB, &tx);
    tx = claim_tx(&w, CAROL, id);
    OK(&w, CAROL, &tx);
    tx = claim_tx(&w, DAVE, id);
    OK(&w, DAVE, &tx);
    /* nothing committed: nothing to challenge, nothing to finalize */
    tx = challenge_tx(&w, OP, id, BOB, &shard0, 2, FLOOR);
    FAILS(&w, OP, &tx, "nothing committed to challenge");
    tx = ref_tx(&w, LEDGER_TX_FINALIZE, OP, id);
    FAILS(&w, OP, &tx, "no slot committed; send expire");
    next_block(&w); /* P+1 */
    tx = commit_tx(&w, BOB, id, &shard0);
    OK(&w, BOB, &tx);
    tx = commit_tx(&w, CAROL, id, &cheat);
    OK(&w, CAROL, &tx);
    /* sealed while commits can still come: reveals open after the last
     * height a slot could commit (the round's slots are not all claimed) */
    uint64_t close = P + CLAIM_B + WORK_B;
    ledger_task t = task(&w, id);
    CHECK(t.status == LEDGER_TASK_OPEN && t.window_end == close + 1 + SEALED_W);
    CHECK(ledger_reveal_from(&t) == close + 1 && ledger_reveal_until(&t) == close + 1 + WINDOW_B);
    tx = reveal_tx(&w, BOB, id, &shard0);
    FAILS(&w, BOB, &tx, "or commits close");
    tx = challenge_tx(&w, DAVE, id, CAROL, &cheat, 5, MIN_BOND);
    FAILS(&w, DAVE, &tx, "accused holds no revealed slot");
    /* claims go on */
    fund(&w, FRANK);
    tx = claim_tx(&w, FRANK, id);
    OK(&w, FRANK, &tx);
    /* the round waits for the claim deadline, the staller's deadline, the window */
    tx = ref_tx(&w, LEDGER_TX_FINALIZE, OP, id);
    FAILS(&w, OP, &tx, "can still be claimed until");
    tx = ref_tx(&w, LEDGER_TX_EXPIRE, OP, id);
    FAILS(&w, OP, &tx, "has committed slots; send finalize");
    advance_to(&w, P + CLAIM_B + 1);
    tx = claim_tx(&w, OP, id);
    FAILS(&w, OP, &tx, "claim deadline passed");
    tx = ref_tx(&w, LEDGER_TX_FINALIZE, OP, id);
    FAILS(&w, OP, &tx, "slot 2 of round task");
    CHECK(strstr(w.err, "can still commit") != NULL);
    advance_to(&w, P + 1 + WORK_B); /* FRANK's last block */
    tx = commit_tx(&w, FRANK, id, &shard1);
    OK(&w, FRANK, &tx);
    uint64_t hf = close + 1; /* reveals open: the window ends at hf + SEALED_W */
    CHECK(task(&w, id).window_end == hf + SEALED_W);
    advance_to(&w, close + 1);
    REVEAL(&w, BOB, id, &shard0);
    REVEAL(&w, CAROL, id, &cheat);
    REVEAL(&w, FRANK, id, &shard1);
    /* each slot is challenged on its own */
    tx = challenge_tx(&w, OP, id, CAROL, &cheat, 5, MIN_BOND);
    with_other(&tx, BOB, &shard0);
    FAILS(&w, OP, &tx, "for replicated tasks only");
    tx = challenge_tx(&w, DAVE, id, CAROL, &cheat, 5, MIN_BOND - 1);
    FAILS(&w, DAVE, &tx, "below the task's min_bond");
    tx = challenge_tx(&w, DAVE, id, CAROL, &cheat, 5, MIN_BOND);
    OK_HASH(&w, DAVE, &tx, ch);
    t = task(&w, id);
    CHECK(t.status == LEDGER_TASK_OPEN && t.open_challenges == 1);
    tx = verdict_tx(&w, OP, ch, shard0.leaves + 5 * 32, 1);
    OK(&w, OP, &tx);
    t = task(&w, id);
    CHECK(t.slots[1].status == LEDGER_SLOT_SLASHED && t.open_challenges == 0 && t.status == LEDGER_TASK_OPEN);
    next_block(&w);
    tx = ref_tx(&w, LEDGER_TX_FINALIZE, OP, id);
    FAILS(&w, OP, &tx, "challenge window open");
    advance_to(&w, hf + SEALED_W + 1);
    uint64_t bob = acct(&w, BOB).balance, frank = acct(&w, FRANK).balance, dave_stake = acct(&w, DAVE).stake;
    uint64_t alice = acct(&w, ALICE).balance;
    uint64_t burned = ledger_state_burned(w.s);
    tx = ref_tx(&w, LEDGER_TX_FINALIZE, OP, id);
    OK(&w, OP, &tx);
    t = task(&w, id);
    CHECK(t.status == LEDGER_TASK_FINALIZED && t.escrow == 0);
    CHECK(t.slots[0].status == LEDGER_SLOT_PAID && t.slots[1].status == LEDGER_SLOT_SLASHED &&
          t.slots[2].status == LEDGER_SLOT_FORFEITED && t.slots[3].status == LEDGER_SLOT_PAID &&
          t.slots[4].status == LEDGER_SLOT_EMPTY);
    CHECK(acct(&w, BOB).balance == bob + REWARD && acct(&w, BOB).locked == 0);
    CHECK(acct(&w, FRANK).balance == frank + REWARD && acct(&w, FRANK).locked == 0);
    CHECK(acct(&w, DAVE).stake == dave_stake - W_STAKE && acct(&w, DAVE).locked == 0);
    CHECK(ledger_state_burned(w.s) == burned + W_STAKE);
    /* the requester: 3 rewards back (the cheat's, the staller's, the free slot's), nothing of the staller's stake */
    CHECK(acct(&w, ALICE).balance == alice + 3 * REWARD);
    tx = ref_tx(&w, LEDGER_TX_FINALIZE, OP, id);
    FAILS(&w, OP, &tx, "finalized already");
    tx = challenge_tx(&w, OP, id, BOB, &shard0, 2, MIN_BOND);
    FAILS(&w, OP, &tx, "nothing committed to challenge");

    /* every participant commits before the claim deadline: the round is
     * COMMITTED and settles once the window passes */
    p = round_params(2);
    POST(&w, ALICE, &p, id);
    tx = claim_tx(&w, BOB, id);
    OK(&w, BOB, &tx);
    tx = claim_tx(&w, DAVE, id);
    OK(&w, DAVE, &tx);
    tx = commit_tx(&w, BOB, id, &shard0);
    OK(&w, BOB, &tx);
    next_block(&w);
    tx = commit_tx(&w, DAVE, id, &shard1);
    OK(&w, DAVE, &tx);
    uint64_t hc = height(&w);
    t = task(&w, id);
    CHECK(t.status == LEDGER_TASK_COMMITTED && t.window_end == hc + SEALED_W && ledger_reveal_from(&t) == hc);
    REVEAL(&w, BOB, id, &shard0);
    REVEAL(&w, DAVE, id, &shard1);
    /* a challenge in the window's last block that the referee lets lapse */
    advance_to(&w, hc + SEALED_W);
    tx = challenge_tx(&w, CAROL, id, DAVE, &shard1, 2, MIN_BOND);
    OK_HASH(&w, CAROL, &tx, ch);
    CHECK(task(&w, id).status == LEDGER_TASK_CHALLENGED);
    uint64_t hch = height(&w);
    next_block(&w);
    tx = ref_tx(&w, LEDGER_TX_FINALIZE, OP, id);
    FAILS(&w, OP, &tx, "awaits its verdict until");
    advance_to(&w, hch + VERDICT + 1);
    tx = ref_tx(&w, LEDGER_TX_FINALIZE, OP, id);
    FAILS(&w, OP, &tx, "awaits its verdict until"); /* past the deadline: waited for up to the void cap */
    advance_to(&w, hch + VERDICT + LEDGER_VOID_FACTOR * VERDICT + 1);
    bob = acct(&w, BOB).balance;
    uint64_t dave = acct(&w, DAVE).balance, carol = acct(&w, CAROL).balance;
    tx = ref_tx(&w, LEDGER_TX_FINALIZE, OP, id);
    OK(&w, OP, &tx);
    CHECK(chal(&w, ch).status == LEDGER_CH_EXPIRED && acct(&w, CAROL).balance == carol + MIN_BOND);
    t = task(&w, id);
    /* the unruled accused is voided (neither paid nor slashed); the other slot is paid */
    CHECK(t.slots[0].status == LEDGER_SLOT_PAID && t.slots[1].status == LEDGER_SLOT_VOID);
    CHECK(acct(&w, BOB).balance == bob + REWARD && acct(&w, DAVE).balance == dave && acct(&w, DAVE).locked == 0);

    /* nobody commits: expire as usual, the staller forfeits */
    next_block(&w);
    uint64_t posted = height(&w);
    p = round_params(1);
    POST(&w, ALICE, &p, id);
    tx = claim_tx(&w, BOB, id);
    OK(&w, BOB, &tx);
    advance_to(&w, posted + CLAIM_B + WORK_B + 1);
    tx = ref_tx(&w, LEDGER_TX_FINALIZE, OP, id);
    FAILS(&w, OP, &tx, "no slot committed; send expire");
    tx = ref_tx(&w, LEDGER_TX_EXPIRE, OP, id);
    OK(&w, OP, &tx);
    CHECK(task(&w, id).status == LEDGER_TASK_EXPIRED && task(&w, id).slots[0].status == LEDGER_SLOT_FORFEITED);
    run_free(&shard0);
    run_free(&shard1);
    run_free(&cheat);
    world_free(&w);
}

/* ---- labeling -------------------------------------------------------------------------------------- */

#define L_ITEMS 60
#define L_CLASSES 4
#define L_SLOTS 4
#define L_RED 3
#define L_REWARD 3000
#define L_GOLD_PCT 10

/* A labeling round: the truth, every labeler's answer to every item (the
 * label library's simulated labelers), the requester's hidden gold. */
typedef struct lab {
    int who[L_SLOTS];     /* the labeler of slot s (claims in this order) */
    uint32_t truth[L_ITEMS];
    uint8_t answer[L_SLOTS][L_ITEMS];
    uint8_t salt[L_SLOTS][32];
    uint32_t n_gold;
    uint32_t gold_items[L_ITEMS];
    uint8_t gold_labels[L_ITEMS];
    uint8_t gold_salt[32];
    uint8_t gold_commit[32];
} lab;

/* Slot 0: noisy p = 0.95, 1: noisy 0.8, 2: a spammer, 3: always wrong
 * (noisy p = 0): under any gold threshold. Gold: every fifth item. */
static void lab_init(lab *L, const int who[L_SLOTS]) {
    memset(L, 0, sizeof *L);
    memcpy(L->who, who, sizeof L->who);
    for (uint32_t i = 0; i < L_ITEMS; i++) L->truth[i] = (uint32_t)(label_hash64(77, i, 0, 0) % L_CLASSES);
    label_sim_labeler kinds[L_SLOTS] = {
        {.kind = LABEL_SIM_NOISY, .p = 0.95},
        {.kind = LABEL_SIM_NOISY, .p = 0.8},
        {.kind = LABEL_SIM_SPAMMER},
        {.kind = LABEL_SIM_NOISY, .p = 0.0},
    };
    label_answer *a = NULL;
    size_t n = 0;
    char err[PLOW_ERR_LEN];
    /* redundancy = every labeler: each answers every item; a slot reveals its own items' answers */
    PLOW_ASSERT(label_sim_answers(kinds, L_SLOTS, L->truth, L_ITEMS, L_CLASSES, L_SLOTS, 2024, &a, &n, err) == 0);
    for (size_t j = 0; j < n; j++) L->answer[a[j].labeler][a[j].item] = (uint8_t)a[j].label;
    free(a);
    for (int s = 0; s < L_SLOTS; s++) memset(L->salt[s], 0x50 + s, 32);
    for (uint32_t i = 0; i < L_ITEMS; i += 5) {
        L->gold_items[L->n_gold] = i;
        L->gold_labels[L->n_gold++] = (uint8_t)L->truth[i];
    }
    memset(L->gold_salt, 0x6f, 32);
    ledger_gold_commitment(L->gold_salt, L->n_gold, L->gold_items, L->gold_labels, L->gold_commit);
}

static ledger_task_params label_params(const lab *L) {
    ledger_task_params p = params(LEDGER_MODE_REPLICATED, L_SLOTS);
    p.kind = LEDGER_KIND_LABEL;
    p.steps = L_ITEMS;
    p.reward = L_REWARD;
    p.n_classes = L_CLASSES;
    p.redundancy = L_RED;
    memcpy(p.gold_commit, L->gold_commit, 32);
    p.min_gold_pct = L_GOLD_PCT;
    return p;
}

/* Slot s's labels of its own items, in item order; returns the count. */
static uint32_t slot_labels(const lab *L, int s, uint8_t *out) {
    uint32_t items[L_ITEMS];
    uint64_t n = ledger_label_slot_items(L_ITEMS, L_SLOTS, L_RED, (uint32_t)s, items, L_ITEMS);
    for (uint64_t k = 0; k < n; k++) out[k] = L->answer[s][items[k]];
    return (uint32_t)n;
}

static ledger_tx label_commit_tx(world *w, const lab *L, int s, const uint8_t id[32]) {
    int who = L->who[s];
    uint8_t labels[L_ITEMS];
    uint32_t n = slot_labels(L, s, labels);
    ledger_tx tx = mk(w, LEDGER_TX_COMMIT, who);
    memcpy(tx.u.commit.task, id, 32);
    ledger_label_commitment(id, K[who].pk, labels, n, L->salt[s], tx.u.commit.trace_root);
    tx.u.commit.n = n;
    return tx;
}

static ledger_tx label_reveal_tx(world *w, const lab *L, int s, const uint8_t id[32]) {
    ledger_tx tx = mk(w, LEDGER_TX_LABEL_REVEAL, L->who[s]);
    memcpy(tx.u.reveal.task, id, 32);
    memcpy(tx.u.reveal.salt, L->salt[s], 32);
    tx.u.reveal.count = slot_labels(L, s, tx.u.reveal.labels);
    return tx;
}

static ledger_tx gold_tx(world *w, const lab *L, int who, const uint8_t id[32]) {
    ledger_tx tx = mk(w, LEDGER_TX_GOLD_REVEAL, who);
    memcpy(tx.u.gold.task, id, 32);
    memcpy(tx.u.gold.salt, L->gold_salt, 32);
    tx.u.gold.count = L->n_gold;
    memcpy(tx.u.gold.items, L->gold_items, L->n_gold * sizeof *L->gold_items);
    memcpy(tx.u.gold.labels, L->gold_labels, L->n_gold);
    return tx;
}

/* Posts the task and has every slot claim and commit in one block; returns
 * the height of the commits. */
static uint64_t label_committed(world *w, const lab *L, uint8_t id[32]) {
    for (int s = 0; s < L_SLOTS; s++) {
        if (L->who[s] == FRANK || L->who[s] == GRACE) fund(w, L->who[s]);
        else reg(w, L->who[s]);
    }
    ledger_task_params p = label_params(L);
    POST(w, ALICE, &p, id);
    for (int s = 0; s < L_SLOTS; s++) {
        ledger_tx tx = claim_tx(w, L->who[s], id);
        OK(w, L->who[s], &tx);
    }
    next_block(w);
    for (int s = 0; s < L_SLOTS; s++) {
        ledger_tx tx = label_commit_tx(w, L, s, id);
        OK(w, L->who[s], &tx);
    }
    return height(w);
}

/* The task's result and pay, recomputed from its records by anyone. */
static void check_outcome(world *w, const uint8_t id[32], ledger_label_outcome *o) {
    ledger_task t = task(w, id);
    static ledger_labels recs[L_SLOTS];
    static ledger_gold gold;
    const ledger_labels *rev[LEDGER_MAX_REPLICAS] = {0};
    for (int s = 0; s < t.p.replicas; s++)
        if (ledger_get_labels(w->s, id, (uint32_t)s, &recs[s])) rev[s] = &recs[s];
    bool has_gold = ledger_get_gold(w->s, id, &gold);
    CHECK(has_gold == (t.gold_revealed == 1));
    char err[PLOW_ERR_LEN];
    CHECKF(ledger_label_aggregate(&t, rev, has_gold ? &gold : NULL, o, err) == 0, "%s", err);
    CHECK(memcmp(o->result, t.result, 32) == 0);
    uint8_t h[32];
    plow_sha256_once(o->map, L_ITEMS, h);
    CHECK(memcmp(h, t.result, 32) == 0);
    for (int s = 0; s < t.p.replicas; s++)
        if (t.slots[s].status == LEDGER_SLOT_PAID || t.slots[s].status == LEDGER_SLOT_UNPAID)
            CHECK(o->pay[s] == t.paid[s]);
}

static void test_label_helpers(void) {
    /* N = 10, R = 4, r = 2 (lists computed by hand) */
    static const uint32_t want[4][6] = {{0, 1, 4, 5, 8, 9}, {0, 3, 4, 7, 8}, {2, 3, 6, 7}, {1, 2, 5, 6, 9}};
    static const uint64_t count[4] = {6, 5, 4, 5};
    for (uint32_t s = 0; s < 4; s++) {
        uint32_t items[10];
        CHECK(ledger_label_slot_count(10, 4, 2, s) == count[s]);
        CHECK(ledger_label_slot_items(10, 4, 2, s, items, 10) == count[s]);
        CHECK(memcmp(items, want[s], count[s] * sizeof *items) == 0);
    }
    /* every item has exactly r labelers; loads differ by min(r, R - r) at most */
    for (uint32_t R = 1; R <= LEDGER_MAX_REPLICAS; R++)
        for (uint32_t r = 1; r <= R; r++)
            for (uint64_t N = 1; N <= 30; N += 7) {
                uint64_t total = 0, lo = UINT64_MAX, hi = 0;
                for (uint32_t s = 0; s < R; s++) {
                    uint64_t c = ledger_label_slot_count(N, R, r, s), brute = 0;
                    for (uint64_t i = 0; i < N; i++) brute += ledger_label_assigned(i, s, R, r);
                    CHECK(c == brute);
                    total += c;
                    lo = c < lo ? c : lo;
                    hi = c > hi ? c : hi;
                }
                CHECK(total == N * r && hi - lo <= (r < R - r ? r : R - r));
                for (uint64_t i = 0; i < N; i++) {
                    uint32_t k = 0;
                    for (uint32_t s = 0; s < R; s++) k += ledger_label_assigned(i, s, R, r);
                    CHECK(k == r);
                }
            }
    /* out of range: nothing */
    CHECK(ledger_label_slot_count(10, 0, 0, 0) == 0 && ledger_label_slot_count(10, 4, 5, 0) == 0);
    CHECK(ledger_label_slot_count(10, 4, 2, 4) == 0 && !ledger_label_assigned(0, 4, 4, 2));
    uint32_t few[2];
    CHECK(ledger_label_slot_items(10, 4, 2, 0, few, 2) == 6 && few[0] == 0 && few[1] == 1);
    /* known answers (Python hashlib) */
    uint8_t task_id[32], pk[32], salt[32], out[32], want_h[32];
    memset(task_id, 0x11, 32);
    memset(pk, 0x22, 32);
    memset(salt, 0x33, 32);
    const uint8_t labels[5] = {0, 1, 2, 3, 1};
    ledger_label_commitment(task_id, pk, labels, 5, salt, out);
    PLOW_ASSERT(plow_unhex("66644abdef10d7ea7a94e9ed441f4e5c4befeaa73438d5840d58d77a9744bcf0", want_h, 32) == 0);
    CHECK(memcmp(out, want_h, 32) == 0);
    memset(salt, 0x44, 32);
    const uint32_t items[3] = {1, 5, 9};
    const uint8_t gl[3] = {2, 0, 1};
    ledger_gold_commitment(salt, 3, items, gl, out);
    PLOW_ASSERT(plow_unhex("3f60dd12720a0a5c2dcf96de10cd27dbc5006bc97ddc3205840ed12c266ae734", want_h, 32) == 0);
    CHECK(memcmp(out, want_h, 32) == 0);
    ledger_gold_commitment(salt, 0, NULL, NULL, out);
    PLOW_ASSERT(plow_unhex("07e7601e246a571cc0eb78b04e119d57dd4fcb20039f0b5e0fc4410d13c101d3", want_h, 32) == 0);
    CHECK(memcmp(out, want_h, 32) == 0);
    /* the aggregation refuses inputs that do not fit the task */
    ledger_task t;
    memset(&t, 0, sizeof t);
    t.p.kind = LEDGER_KIND_TRAIN;
    ledger_label_outcome o;
    const ledger_labels *rev[LEDGER_MAX_REPLICAS] = {0};
    char err[PLOW_ERR_LEN];
    CHECK(ledger_label_aggregate(&t, rev, NULL, &o, err) == -1 && strstr(err, "not a label task") && !o.map);
    t.p = (ledger_task_params){.kind = LEDGER_KIND_LABEL, .mode = LEDGER_MODE_REPLICATED, .replicas = 4,
                               .steps = 10, .n_classes = 3, .redundancy = 2, .reward = 100};
    static ledger_labels l0;
    memset(&l0, 0, sizeof l0);
    l0.count = 5; /* slot 0 labels 6 items */
    rev[0] = &l0;
    CHECK(ledger_label_aggregate(&t, rev, NULL, &o, err) == -1 && strstr(err, "revealed 5 labels for 6 items"));
    l0.count = 6;
    l0.labels[2] = 3;
    CHECK(ledger_label_aggregate(&t, rev, NULL, &o, err) == -1 && strstr(err, "out of range"));
    l0.labels[2] = 2;
    static ledger_gold g;
    memset(&g, 0, sizeof g);
    g.count = 2;
    g.items[0] = 4;
    g.items[1] = 4;
    CHECK(ledger_label_aggregate(&t, rev, &g, &o, err) == -1 && strstr(err, "gold entry 1"));
    g.items[1] = 10;
    CHECK(ledger_label_aggregate(&t, rev, &g, &o, err) == -1 && strstr(err, "gold entry 1"));
    g.items[0] = 2; /* nobody labels item 2 */
    g.labels[0] = 1;
    g.items[1] = 4; /* slot 0's third item */
    g.labels[1] = 2;
    CHECKF(ledger_label_aggregate(&t, rev, &g, &o, err) == 0, "%s", err);
    /* the gold items have their gold label (item 2 unlabeled, item 4 clamped),
     * the items nobody labeled have none, the others a label in range */
    CHECK(o.n_items == 10 && o.map[2] == 1 && o.map[4] == 2);
    for (uint32_t i = 0; i < 10; i++)
        if (i != 2 && i != 4) CHECK(ledger_label_assigned(i, 0, 4, 2) ? o.map[i] < 3 : o.map[i] == LEDGER_LABEL_NONE);
    CHECK(o.gold_answered[0] == 1 && o.gold_correct[0] == 1 && !o.flagged[0]);
    plow_sha256_once(o.map, 10, want_h);
    CHECK(memcmp(o.result, want_h, 32) == 0);
    CHECK(o.pay[0] <= 100 && o.pay[1] == 0);
    ledger_label_outcome_release(&o);
    ledger_label_outcome_release(&o); /* twice is fine */
}

/* Accuracy of the aggregated labels on the items that are not gold. */
static double label_accuracy_off_gold(const lab *L, const uint8_t *map) {
    int right = 0, n = 0;
    for (uint32_t i = 0; i < L_ITEMS; i++) {
        if (i % 5 == 0) continue;
        n++;
        right += map[i] == L->truth[i];
    }
    return (double)right / n;
}

/* The whole round: four labelers commit, reveal; the requester reveals its
 * gold; finalize slashes the labeler under the gold threshold and pays the
 * others by their estimated accuracy. */
static void test_label(void) {
    world w;
    world_init(&w);
    lab L;
    const int who[L_SLOTS] = {BOB, CAROL, DAVE, FRANK};
    lab_init(&L, who);
    uint8_t id[32];
    uint64_t hc = label_committed(&w, &L, id);
    ledger_task t = task(&w, id);
    CHECK(t.status == LEDGER_TASK_COMMITTED && t.window_end == hc + WINDOW_B);
    CHECK(t.escrow == (uint64_t)L_REWARD * L_SLOTS && t.p.n_classes == L_CLASSES && t.p.redundancy == L_RED);
    CHECK(memcmp(t.p.gold_commit, L.gold_commit, 32) == 0 && t.p.min_gold_pct == L_GOLD_PCT);
    for (int s = 0; s < L_SLOTS; s++) CHECK(t.slots[s].n == L_ITEMS * L_RED / L_SLOTS);
    CHECK(ledger_label_reveal_from(&t) == hc);
    for (int s = 0; s < L_SLOTS; s++) {
        ledger_tx tx = label_reveal_tx(&w, &L, s, id);
        OK(&w, L.who[s], &tx);
        ledger_labels got;
        CHECK(ledger_get_labels(w.s, id, (uint32_t)s, &got) && got.slot == s && got.count == tx.u.reveal.count);
        CHECK(memcmp(got.labels, tx.u.reveal.labels, got.count) == 0 && memcmp(got.task, id, 32) == 0);
    }
    ledger_labels none;
    CHECK(!ledger_get_labels(w.s, id, L_SLOTS, &none) && !ledger_get_labels(w.s, id, 99, &none));
    CHECK(task(&w, id).revealed == 0xf);
    ledger_tx tx = gold_tx(&w, &L, ALICE, id);
    FAILS(&w, ALICE, &tx, "reveal the gold after that");
    advance_to(&w, hc + WINDOW_B + 1);
    tx = gold_tx(&w, &L, ALICE, id);
    OK(&w, ALICE, &tx);
    ledger_gold g;
    CHECK(ledger_get_gold(w.s, id, &g) && g.count == L.n_gold && memcmp(g.items, L.gold_items, 4 * g.count) == 0);
    uint64_t alice = acct(&w, ALICE).balance, burned = ledger_state_burned(w.s), bal[L_SLOTS];
    for (int s = 0; s < L_SLOTS; s++) bal[s] = acct(&w, who[s]).balance;
    tx = ref_tx(&w, LEDGER_TX_FINALIZE, OP, id);
    OK(&w, OP, &tx);
    t = task(&w, id);
    CHECK(t.status == LEDGER_TASK_FINALIZED && t.escrow == 0);
    /* the always-wrong labeler is under the gold threshold: slashed, unpaid */
    CHECK(t.slots[3].status == LEDGER_SLOT_SLASHED && t.paid[3] == 0);
    CHECK(acct(&w, FRANK).stake == WORKER_STAKE - W_STAKE && acct(&w, FRANK).locked == 0);
    CHECK(acct(&w, FRANK).balance == bal[3]);
    /* the good labelers are paid more than the spammer, the better one most */
    CHECK(t.slots[0].status == LEDGER_SLOT_PAID && t.slots[1].status == LEDGER_SLOT_PAID);
    CHECK(t.slots[2].status == LEDGER_SLOT_PAID || t.slots[2].status == LEDGER_SLOT_UNPAID);
    CHECKF(t.paid[0] >= t.paid[1] && t.paid[1] > t.paid[2], "pay %" PRIu64 " %" PRIu64 " %" PRIu64, t.paid[0],
           t.paid[1], t.paid[2]);
    uint64_t paid = 0;
    for (int s = 0; s < 3; s++) {
        CHECK(t.paid[s] <= L_REWARD);
        CHECK(acct(&w, who[s]).balance == bal[s] + t.paid[s] && acct(&w, who[s]).locked == 0);
        CHECK(acct(&w, who[s]).stake == WORKER_STAKE);
        paid += t.paid[s];
    }
    /* the slashed labeler's stake is burned: none of it to the requester, whose gold decided the slash */
    CHECK(acct(&w, ALICE).balance == alice + (uint64_t)L_REWARD * L_SLOTS - paid);
    CHECK(ledger_state_burned(w.s) == burned + W_STAKE);
    /* anyone rebuilds the result from the records; the labels are mostly right */
    ledger_label_outcome o;
    check_outcome(&w, id, &o);
    CHECK(o.flagged[3] && !o.flagged[0] && !o.flagged[1] && !o.flagged[2]);
    CHECK(o.gold_answered[3] > 0 && o.gold_correct[3] == 0 && o.accuracy_ppm[3] == 0);
    CHECK(o.accuracy_ppm[0] > o.accuracy_ppm[2] && o.iterations >= 1);
    double acc = label_accuracy_off_gold(&L, o.map);
    CHECKF(acc >= 0.8, "aggregated accuracy %.3f", acc);
    /* Pinned: the same bits from the gcc and the clang build (the EM runs
     * on doubles; a change here is a change of the protocol). The root also
     * pins the encodings of the labels, gold and label task records. */
    uint8_t pin[32], root[32];
    PLOW_ASSERT(plow_unhex("c60bc54ec3bdb3155e5a7d7453e0e5149d1fd8ca53ccabe4687f34436855c564", pin, 32) == 0);
    CHECK(memcmp(t.result, pin, 32) == 0 && t.paid[0] == 3000 && t.paid[1] == 3000 && t.paid[2] == 0);
    CHECK(o.accuracy_ppm[0] == 781156 && o.accuracy_ppm[1] == 793338 && o.accuracy_ppm[2] == 228320);
    CHECK(o.iterations == 57);
    end_block(&w);
    ledger_state_root(w.s, root);
    PLOW_ASSERT(plow_unhex("bd0a52cc50b02f40b4d61fbfee5851a190fde4c455c651d52747061f847c820f", pin, 32) == 0);
    CHECK(memcmp(root, pin, 32) == 0);
    for (uint32_t i = 0; i < L_ITEMS; i += 5) CHECK(o.map[i] == L.truth[i]); /* gold clamped */
    ledger_label_outcome_release(&o);
    world_free(&w);
}

/* Every rule of the label transactions broken by an adversary. */
static void test_label_rules(void) {
    world w;
    world_init(&w);
    lab L;
    const int who[L_SLOTS] = {BOB, CAROL, DAVE, FRANK};
    lab_init(&L, who);
    reg(&w, BOB);
    reg(&w, CAROL);
    reg(&w, DAVE);
    fund(&w, FRANK);
    /* post_task */
    static const struct {
        int field;
        uint64_t value;
        const char *msg;
    } bad[] = {
        {0, LEDGER_MODE_OPTIMISTIC, "a label task is replicated"},
        {1, 1, "needs 2..8 replicas"},
        {2, 0, "steps must be in"},
        {2, LEDGER_LABEL_ITEMS_MAX + 1, "a label task has 1..65536 items"},
        {3, 1, "2..64 classes"},
        {3, 65, "2..64 classes"},
        {4, 0, "redundancy 0 is not in 1..4"},
        {4, 5, "redundancy 5 is not in 1..4"},
        {5, 101, "min_gold_pct 101 is above 100"},
        {6, 0, "more than one reveal carries"},
        {7, 0, "to aggregate"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ledger_tx tx = mk(&w, LEDGER_TX_POST_TASK, ALICE);
        tx.u.post = label_params(&L);
        ledger_task_params *p = &tx.u.post;
        switch (bad[i].field) {
        case 0: p->mode = (uint8_t)bad[i].value; break;
        case 1: p->replicas = (uint8_t)bad[i].value; break;
        case 2: p->steps = bad[i].value; break;
        case 3: p->n_classes = (uint32_t)bad[i].value; break;
        case 4: p->redundancy = (uint32_t)bad[i].value; break;
        case 5: p->min_gold_pct = (uint32_t)bad[i].value; break;
        case 6: p->steps = 40000, p->redundancy = 4, p->n_classes = 2; break; /* 40000 items a labeler */
        case 7: p->steps = 8000, p->replicas = 8, p->redundancy = 1, p->n_classes = 64; break;
        }
        FAILS(&w, ALICE, &tx, bad[i].msg);
    }
    uint8_t id[32];
    next_block(&w);
    uint64_t posted = height(&w);
    ledger_task_params p = label_params(&L);
    POST(&w, ALICE, &p, id);
    for (int s = 0; s < L_SLOTS; s++) {
        ledger_tx tx = claim_tx(&w, who[s], id);
        OK(&w, who[s], &tx);
    }
    /* commit: n is the slot's item count; nothing but trace_root and n */
    ledger_tx tx = label_commit_tx(&w, &L, 0, id);
    tx.u.commit.n = 44;
    FAILS(&w, BOB, &tx, "n is 44, slot 0 labels 45 items");
    tx = label_commit_tx(&w, &L, 0, id);
    tx.u.commit.final_state[0] = 1;
    FAILS(&w, BOB, &tx, "trace_root and n only");
    tx = label_commit_tx(&w, &L, 0, id);
    tx.u.commit.checkpoint_every = 1;
    FAILS(&w, BOB, &tx, "trace_root and n only");
    for (int s = 0; s < 3; s++) {
        tx = label_commit_tx(&w, &L, s, id);
        OK(&w, who[s], &tx);
    }
    ledger_task t = task(&w, id);
    uint64_t close = posted + CLAIM_B + WORK_B;
    CHECK(t.status == LEDGER_TASK_CLAIMED && t.window_end == close + WINDOW_B);
    CHECK(ledger_label_reveal_from(&t) == close + 1);
    /* no reveal while a slot can still commit: it could copy */
    tx = label_reveal_tx(&w, &L, 0, id);
    char want[96];
    snprintf(want, sizeof want, "slots can still commit until %" PRIu64, close);
    FAILS(&w, BOB, &tx, want);
    /* FRANK copies BOB's commitment: the ledger cannot tell, yet */
    tx = mk(&w, LEDGER_TX_COMMIT, FRANK);
    memcpy(tx.u.commit.task, id, 32);
    memcpy(tx.u.commit.trace_root, task(&w, id).slots[0].trace_root, 32);
    tx.u.commit.n = 45;
    OK(&w, FRANK, &tx);
    uint64_t hc = height(&w);
    t = task(&w, id);
    CHECK(t.status == LEDGER_TASK_COMMITTED && t.window_end == hc + WINDOW_B && ledger_label_reveal_from(&t) == hc);
    /* no re-execution to dispute */
    run any;
    run_make(&any, STEPS, 0, 0, false);
    tx = challenge_tx(&w, OP, id, BOB, &any, 1, MIN_BOND);
    FAILS(&w, OP, &tx, "no step to re-execute");
    run_free(&any);
    tx = ref_tx(&w, LEDGER_TX_EXPIRE, OP, id);
    FAILS(&w, OP, &tx, "every slot committed; send finalize");
    /* reveals that do not open the commitment, or do not fit the slot */
    tx = label_reveal_tx(&w, &L, 0, id);
    tx = (ledger_tx){0};
    tx = mk(&w, LEDGER_TX_LABEL_REVEAL, EVE);
    memcpy(tx.u.reveal.task, id, 32);
    FAILS(&w, EVE, &tx, "holds no slot");
    tx = label_reveal_tx(&w, &L, 0, id);
    tx.u.reveal.salt[0] ^= 1;
    FAILS(&w, BOB, &tx, "do not open the slot's commitment");
    tx = label_reveal_tx(&w, &L, 0, id);
    tx.u.reveal.labels[7] = (uint8_t)((tx.u.reveal.labels[7] + 1) % L_CLASSES);
    FAILS(&w, BOB, &tx, "do not open the slot's commitment");
    tx = label_reveal_tx(&w, &L, 0, id);
    tx.u.reveal.count = 44;
    FAILS(&w, BOB, &tx, "44 labels, slot 0 labels 45 items");
    tx = label_reveal_tx(&w, &L, 0, id);
    tx.u.reveal.labels[3] = L_CLASSES;
    FAILS(&w, BOB, &tx, "out of range (4 classes)");
    uint8_t other_task[32] = {9};
    tx = label_reveal_tx(&w, &L, 0, other_task);
    FAILS(&w, BOB, &tx, "no task");
    tx = label_reveal_tx(&w, &L, 0, id);
    OK(&w, BOB, &tx);
    ledger_tx bobs = tx;
    tx = label_reveal_tx(&w, &L, 0, id);
    FAILS(&w, BOB, &tx, "slot 0 of task");
    CHECK(strstr(w.err, "revealed already") != NULL);
    /* the copier now knows BOB's labels and salt: useless, its own key is in the hash */
    tx = mk(&w, LEDGER_TX_LABEL_REVEAL, FRANK);
    tx.u.reveal = bobs.u.reveal;
    FAILS(&w, FRANK, &tx, "do not open the slot's commitment");
    tx = label_reveal_tx(&w, &L, 1, id);
    OK(&w, CAROL, &tx);
    /* gold: the requester's, after the labelers' window, matching its commitment */
    tx = gold_tx(&w, &L, BOB, id);
    FAILS(&w, BOB, &tx, "only the requester reveals the gold");
    tx = gold_tx(&w, &L, ALICE, id);
    FAILS(&w, ALICE, &tx, "reveal the gold after that");
    tx = ref_tx(&w, LEDGER_TX_FINALIZE, OP, id);
    FAILS(&w, OP, &tx, "reveal window is open until");
    advance_to(&w, hc + WINDOW_B + 1);
    tx = label_reveal_tx(&w, &L, 2, id);
    FAILS(&w, DAVE, &tx, "reveal window closed");
    tx = ref_tx(&w, LEDGER_TX_FINALIZE, OP, id);
    snprintf(want, sizeof want, "may reveal its gold until %" PRIu64, hc + 2 * WINDOW_B);
    FAILS(&w, OP, &tx, want);
    tx = gold_tx(&w, &L, ALICE, id);
    tx.u.gold.labels[2] = (uint8_t)((tx.u.gold.labels[2] + 1) % L_CLASSES);
    FAILS(&w, ALICE, &tx, "does not match the task's gold commitment");
    tx = gold_tx(&w, &L, ALICE, id);
    tx.u.gold.salt[31] ^= 1;
    FAILS(&w, ALICE, &tx, "does not match the task's gold commitment");
    tx = gold_tx(&w, &L, ALICE, id);
    tx.u.gold.count--; /* a gold list with an item left out */
    FAILS(&w, ALICE, &tx, "does not match the task's gold commitment");
    tx = gold_tx(&w, &L, ALICE, id);
    tx.u.gold.items[1] = tx.u.gold.items[0];
    FAILS(&w, ALICE, &tx, "strictly increasing");
    tx = gold_tx(&w, &L, ALICE, id);
    tx.u.gold.items[tx.u.gold.count - 1] = L_ITEMS;
    FAILS(&w, ALICE, &tx, "out of range (60 items)");
    tx = gold_tx(&w, &L, ALICE, id);
    tx.u.gold.labels[0] = L_CLASSES;
    FAILS(&w, ALICE, &tx, "out of range (4 classes)");
    tx = gold_tx(&w, &L, ALICE, id);
    tx.u.gold.count = LEDGER_GOLD_MAX + 1; /* only a struct can say so: the decoder refuses it */
    FAILS(&w, ALICE, &tx, "more than");
    tx = gold_tx(&w, &L, ALICE, other_task);
    FAILS(&w, ALICE, &tx, "no task");
    tx = gold_tx(&w, &L, ALICE, id);
    OK(&w, ALICE, &tx);
    CHECK(task(&w, id).gold_revealed == 1);
    tx = gold_tx(&w, &L, ALICE, id);
    FAILS(&w, ALICE, &tx, "revealed already");
    tx = ref_tx(&w, LEDGER_TX_FINALIZE, OP, id);
    OK(&w, OP, &tx);
    tx = ref_tx(&w, LEDGER_TX_FINALIZE, OP, id);
    FAILS(&w, OP, &tx, "finalized already");
    t = task(&w, id);
    /* DAVE never revealed, FRANK could not: both forfeit */
    CHECK(t.slots[0].status == LEDGER_SLOT_PAID && t.slots[1].status == LEDGER_SLOT_PAID);
    CHECK(t.slots[2].status == LEDGER_SLOT_FORFEITED && t.slots[3].status == LEDGER_SLOT_FORFEITED);
    CHECK(acct(&w, DAVE).stake == WORKER_STAKE - W_STAKE && acct(&w, FRANK).stake == WORKER_STAKE - W_STAKE);
    CHECK(t.revealed == 3);
    ledger_label_outcome o;
    check_outcome(&w, id, &o);
    ledger_label_outcome_release(&o);
    tx = gold_tx(&w, &L, ALICE, id);
    FAILS(&w, ALICE, &tx, "finalized already");
    tx = label_reveal_tx(&w, &L, 2, id);
    FAILS(&w, DAVE, &tx, "forfeited, not committed");
    /* label transactions on a task of another kind */
    uint8_t tid[32];
    POST_OPT(&w, tid);
    tx = label_reveal_tx(&w, &L, 0, tid);
    FAILS(&w, BOB, &tx, "not a label task");
    tx = gold_tx(&w, &L, ALICE, tid);
    FAILS(&w, ALICE, &tx, "not a label task");
    /* nothing committed: no gold yet, nothing to finalize; expire as usual */
    next_block(&w);
    posted = height(&w);
    POST(&w, ALICE, &p, id);
    tx = claim_tx(&w, BOB, id);
    OK(&w, BOB, &tx);
    tx = gold_tx(&w, &L, ALICE, id);
    FAILS(&w, ALICE, &tx, "nothing committed");
    tx = ref_tx(&w, LEDGER_TX_FINALIZE, OP, id);
    FAILS(&w, OP, &tx, "no slot committed; send expire");
    advance_to(&w, posted + CLAIM_B + WORK_B + 1);
    tx = ref_tx(&w, LEDGER_TX_EXPIRE, OP, id);
    OK(&w, OP, &tx);
    CHECK(task(&w, id).slots[0].status == LEDGER_SLOT_FORFEITED);
    world_free(&w);
}

/* The requester never reveals its gold: after the gold deadline finalize
 * pays by Dawid-Skene alone and slashes nobody on gold. One slot stalls, so
 * the reveals wait for the last height it could have committed. */
static void test_label_no_gold(void) {
    world w;
    world_init(&w);
    lab L;
    const int who[L_SLOTS] = {BOB, CAROL, DAVE, FRANK};
    lab_init(&L, who);
    reg(&w, BOB);
    reg(&w, CAROL);
    reg(&w, DAVE);
    fund(&w, FRANK);
    next_block(&w);
    uint64_t posted = height(&w);
    uint8_t id[32];
    ledger_task_params p = label_params(&L);
    POST(&w, ALICE, &p, id);
    for (int s = 0; s < L_SLOTS; s++) {
        ledger_tx tx = claim_tx(&w, who[s], id);
        OK(&w, who[s], &tx);
    }
    for (int s = 0; s < L_SLOTS; s++) {
        if (s == 2) continue; /* DAVE stalls */
        ledger_tx tx = label_commit_tx(&w, &L, s, id);
        OK(&w, who[s], &tx);
    }
    uint64_t close = posted + CLAIM_B + WORK_B, wend = close + WINDOW_B;
    CHECK(task(&w, id).window_end == wend);
    ledger_tx ex = ref_tx(&w, LEDGER_TX_EXPIRE, OP, id);
    FAILS(&w, OP, &ex, "has committed slots; send finalize");
    advance_to(&w, close);
    ledger_tx tx = label_reveal_tx(&w, &L, 0, id);
    FAILS(&w, BOB, &tx, "can still commit");
    tx = label_commit_tx(&w, &L, 2, id);
    FAILS(&w, DAVE, &tx, "commit deadline passed");
    next_block(&w);
    for (int s = 0; s < L_SLOTS; s++) {
        if (s == 2) continue;
        tx = label_reveal_tx(&w, &L, s, id);
        OK(&w, who[s], &tx);
    }
    advance_to(&w, wend + 1);
    tx = ref_tx(&w, LEDGER_TX_FINALIZE, OP, id);
    FAILS(&w, OP, &tx, "may reveal its gold");
    advance_to(&w, wend + WINDOW_B);
    tx = ref_tx(&w, LEDGER_TX_FINALIZE, OP, id);
    FAILS(&w, OP, &tx, "may reveal its gold");
    next_block(&w);
    tx = gold_tx(&w, &L, ALICE, id);
    FAILS(&w, ALICE, &tx, "gold deadline passed");
    uint64_t frank = acct(&w, FRANK).balance;
    tx = ref_tx(&w, LEDGER_TX_FINALIZE, OP, id);
    OK(&w, OP, &tx);
    ledger_task t = task(&w, id);
    CHECK(t.status == LEDGER_TASK_FINALIZED && !t.gold_revealed && t.escrow == 0);
    CHECK(t.slots[2].status == LEDGER_SLOT_FORFEITED);
    /* no gold, no gold slashing: the always-wrong labeler keeps its stake, but
     * Dawid-Skene finds it out and pays it least */
    CHECK(t.slots[3].status != LEDGER_SLOT_SLASHED && acct(&w, FRANK).stake == WORKER_STAKE);
    CHECK(acct(&w, FRANK).locked == 0 && acct(&w, FRANK).balance == frank + t.paid[3]);
    CHECKF(t.paid[0] > t.paid[3] && t.paid[1] > t.paid[3], "pay %" PRIu64 " %" PRIu64 " %" PRIu64, t.paid[0],
           t.paid[1], t.paid[3]);
    CHECK(t.slots[0].status == LEDGER_SLOT_PAID);
    ledger_label_outcome o;
    check_outcome(&w, id, &o);
    CHECK(!o.flagged[0] && !o.flagged[1] && !o.flagged[3] && o.gold_answered[3] == 0);
    double acc = label_accuracy_off_gold(&L, o.map);
    CHECKF(acc >= 0.7, "aggregated accuracy %.3f", acc);
    ledger_label_outcome_release(&o);
    world_free(&w);
}

/* The records a label task adds round-trip, and malformed ones are refused. */
static void test_label_records(void) {
    world w;
    world_init(&w);
    lab L;
    const int who[L_SLOTS] = {BOB, CAROL, DAVE, FRANK};
    lab_init(&L, who);
    uint8_t id[32];
    uint64_t hc = label_committed(&w, &L, id);
    for (int s = 0; s < L_SLOTS; s++) {
        ledger_tx tx = label_reveal_tx(&w, &L, s, id);
        OK(&w, who[s], &tx);
    }
    advance_to(&w, hc + WINDOW_B + 1);
    ledger_tx tx = gold_tx(&w, &L, ALICE, id);
    OK(&w, ALICE, &tx);
    tx = ref_tx(&w, LEDGER_TX_FINALIZE, OP, id);
    OK(&w, OP, &tx);
    end_block(&w);
    const rec *rl = NULL, *rg = NULL, *rt = NULL;
    int n_labels = 0;
    for (size_t i = 0; i < w.n_store; i++) {
        const rec *r = &w.store[i];
        if (r->key[0] == 'l') {
            n_labels++;
            CHECK(r->klen == 34 && memcmp(r->key + 1, id, 32) == 0 && r->key[33] < L_SLOTS);
            if (r->key[33] == 1) rl = r;
        }
        if (r->key[0] == 'g') rg = r;
        if (r->key[0] == 't' && memcmp(r->key + 1, id, 32) == 0) rt = r;
    }
    CHECK(n_labels == L_SLOTS && rl && rg && rt);
    if (!rl || !rg || !rt) {
        world_free(&w);
        return;
    }
    CHECK(rl->vlen == 4 + 45 && rg->vlen == 4 + 5 * L.n_gold);
    CHECK(rt->vlen == 140 + 229 * L_SLOTS + 78 + 8 * L_SLOTS);
    ledger_state *s = ledger_state_new(&w.g);
    char err[PLOW_ERR_LEN];
    uint8_t buf[8192], key[40];
    uint8_t before[32], after[32];
    ledger_state_root(s, before);
#define REFUSE(kbuf, klen, vbuf, vlen, msg)                                                                            \
    do {                                                                                                               \
        CHECKF(ledger_load_record(s, kbuf, klen, vbuf, vlen, err) != 0, "accepted: %s", msg);                          \
        CHECKF(strstr(err, msg) != NULL, "error '%s' lacks '%s'", err, msg);                                           \
    } while (0)
    /* labels: key length, slot, value length, count */
    REFUSE(rl->key, 33, rl->val, rl->vlen, "34 expected");
    memcpy(key, rl->key, 34);
    key[33] = LEDGER_MAX_REPLICAS;
    REFUSE(key, 34, rl->val, rl->vlen, "slot 8");
    REFUSE(rl->key, 34, rl->val, 3, "at least 4");
    REFUSE(rl->key, 34, rl->val, rl->vlen - 1, "expected");
    memcpy(buf, rl->val, rl->vlen);
    plow_put_u32(buf, LEDGER_LABELS_MAX + 1);
    REFUSE(rl->key, 34, buf, rl->vlen, "at most 8000");
    /* gold: length, count, order */
    REFUSE(rg->key, 34, rg->val, rg->vlen, "33 expected");
    REFUSE(rg->key, 33, rg->val, 2, "at least 4");
    REFUSE(rg->key, 33, rg->val, rg->vlen + 1, "expected");
    memcpy(buf, rg->val, rg->vlen);
    plow_put_u32(buf, LEDGER_GOLD_MAX + 1);
    REFUSE(rg->key, 33, buf, rg->vlen, "at most 1600");
    memcpy(buf, rg->val, rg->vlen);
    plow_put_u32(buf + 4 + 5, 0); /* the second gold item equal to the first (0) */
    REFUSE(rg->key, 33, buf, rg->vlen, "is not after");
    /* the label task's extension */
    size_t ext = 140 + 229 * L_SLOTS;
    REFUSE(rt->key, 33, rt->val, ext, "expected for 4 replicas");
    memcpy(buf, rt->val, rt->vlen);
    plow_put_u32(buf + ext, 1);
    REFUSE(rt->key, 33, buf, rt->vlen, "1 classes");
    memcpy(buf, rt->val, rt->vlen);
    plow_put_u32(buf + ext, 65);
    REFUSE(rt->key, 33, buf, rt->vlen, "65 classes");
    memcpy(buf, rt->val, rt->vlen);
    plow_put_u32(buf + ext + 4, 5);
    REFUSE(rt->key, 33, buf, rt->vlen, "redundancy 5");
    memcpy(buf, rt->val, rt->vlen);
    plow_put_u32(buf + ext + 40, 101);
    REFUSE(rt->key, 33, buf, rt->vlen, "min_gold_pct 101");
    memcpy(buf, rt->val, rt->vlen);
    buf[ext + 44] = 2;
    REFUSE(rt->key, 33, buf, rt->vlen, "gold_revealed");
    memcpy(buf, rt->val, rt->vlen);
    buf[ext + 45] = 0x10;
    REFUSE(rt->key, 33, buf, rt->vlen, "beyond the 4 labelers");
    memcpy(buf, rt->val, rt->vlen);
    buf[65] = LEDGER_MODE_OPTIMISTIC;
    REFUSE(rt->key, 33, buf, rt->vlen, "optimistic task with 4 replicas");
    memcpy(buf, rt->val, rt->vlen);
    buf[64] = LEDGER_KIND_ROUND; /* a round in replicated mode */
    REFUSE(rt->key, 33, buf, rt->vlen, "a round task in mode 1");
    memcpy(buf, rt->val, rt->vlen);
    buf[64] = LEDGER_KIND_TRAIN; /* the extension is a label task's only */
    REFUSE(rt->key, 33, buf, rt->vlen, "expected for 4 replicas");
#undef REFUSE
    ledger_state_root(s, after);
    CHECK(memcmp(before, after, 32) == 0);
    /* a task of the new kinds loads back equal, fields and all */
    for (size_t i = 0; i < w.n_store; i++)
        CHECK(ledger_load_record(s, w.store[i].key, w.store[i].klen, w.store[i].val, w.store[i].vlen, err) == 0);
    ledger_task t1, t2;
    CHECK(ledger_get_task(s, id, &t1) && ledger_get_task(w.s, id, &t2) && memcmp(&t1, &t2, sizeof t1) == 0);
    static ledger_labels l1, l2;
    CHECK(ledger_get_labels(s, id, 2, &l1) && ledger_get_labels(w.s, id, 2, &l2) && memcmp(&l1, &l2, sizeof l1) == 0);
    static ledger_gold g1, g2;
    CHECK(ledger_get_gold(s, id, &g1) && ledger_get_gold(w.s, id, &g2) && memcmp(&g1, &g2, sizeof g1) == 0);
    ledger_state_root(s, after);
    ledger_state_root(w.s, before);
    CHECK(memcmp(before, after, 32) == 0);
    ledger_state_free(s);
    world_free(&w);
}

/* ---- determinism, iteration, records ------------------------------------------------------------ */

static bool collect_accounts(const ledger_account *a, void *arg) {
    int *n = arg;
    static uint8_t prev[32];
    if (*n > 0) CHECK(memcmp(prev, a->pk, 32) < 0);
    memcpy(prev, a->pk, 32);
    (*n)++;
    return true;
}

static bool stop_after_two(const ledger_task *t, void *arg) {
    (void)t;
    int *n = arg;
    return ++*n < 2;
}

static bool count_challenges(const ledger_challenge *c, void *arg) {
    (void)c;
    (*(int *)arg)++;
    return true;
}

/* Two states fed the same blocks agree; independently built worlds too. */
static void test_determinism(void) {
    world a, b;
    uint8_t ra[32], rb[32];
    world *ws[2] = {&a, &b};
    for (int k = 0; k < 2; k++) {
        world *w = ws[k];
        world_init(w);
        reg(w, BOB);
        reg(w, CAROL);
        run honest, cheat;
        run_make(&honest, STEPS, 0, 0, false);
        run_make(&cheat, STEPS, 4, 1, false);
        uint8_t id[32], ch[32];
        uint64_t hc;
        replicated_pair(w, &honest, &cheat, id, &hc);
        ledger_tx tx = challenge_tx(w, DAVE, id, CAROL, &cheat, 4, FLOOR);
        with_other(&tx, BOB, &honest);
        OK_HASH(w, DAVE, &tx, ch);
        tx = verdict_tx(w, OP, ch, honest.leaves + 4 * 32, 1);
        OK(w, OP, &tx);
        advance_to(w, hc + SEALED_W + 1);
        tx = ref_tx(w, LEDGER_TX_FINALIZE, EVE, id);
        OK(w, EVE, &tx);
        end_block(w);
        run_free(&honest);
        run_free(&cheat);
    }
    ledger_state_root(a.s, ra);
    ledger_state_root(b.s, rb);
    CHECK(memcmp(ra, rb, 32) == 0);
    int n = 0;
    ledger_each_account(a.s, collect_accounts, &n);
    CHECK(n == 6); /* the genesis accounts, the operator among them */
    n = 0;
    ledger_each_task(a.s, stop_after_two, &n);
    CHECK(n == 1);
    n = 0;
    ledger_each_challenge(a.s, count_challenges, &n);
    CHECK(n == 1);
    world_free(&a);
    world_free(&b);
}

typedef struct dirty_count {
    int n, accounts, meta;
    bool sorted;
    uint8_t last[40];
    size_t last_len;
} dirty_count;

static void count_dirty(const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen, void *arg) {
    (void)val;
    (void)vlen;
    dirty_count *d = arg;
    if (d->n == 0) d->sorted = true;
    else {
        size_t m = klen < d->last_len ? klen : d->last_len;
        int c = memcmp(d->last, key, m);
        if (c > 0 || (c == 0 && d->last_len >= klen)) d->sorted = false;
    }
    memcpy(d->last, key, klen);
    d->last_len = klen;
    d->n++;
    d->accounts += key[0] == 'a';
    d->meta += key[0] == 'm';
}

/* Records round-trip and the loaded state goes on like the original. */
static void test_records_roundtrip(void) {
    world w;
    world_init(&w);
    reg(&w, BOB);
    reg(&w, CAROL);
    run honest, cheat;
    run_make(&honest, STEPS, 0, 0, false);
    run_make(&cheat, STEPS, 2, 5, false);
    uint8_t id[32], ch[32];
    uint64_t hc;
    replicated_pair(&w, &honest, &cheat, id, &hc);
    ledger_tx tx = challenge_tx(&w, DAVE, id, CAROL, &cheat, 2, FLOOR);
    with_other(&tx, BOB, &honest);
    OK_HASH(&w, DAVE, &tx, ch);
    tx = mk(&w, LEDGER_TX_UNSTAKE, DAVE);
    tx.u.stake.amount = 5;
    OK(&w, DAVE, &tx);
    end_block(&w);
    /* a fresh state from the stored records */
    ledger_state *s = ledger_state_new(&w.g);
    char err[PLOW_ERR_LEN];
    for (size_t i = w.n_store; i-- > 0;) /* any order */
        CHECK(ledger_load_record(s, w.store[i].key, w.store[i].klen, w.store[i].val, w.store[i].vlen, err) == 0);
    uint8_t a[32], b[32];
    ledger_state_root(s, a);
    ledger_state_root(w.s, b);
    CHECK(memcmp(a, b, 32) == 0);
    ledger_task t1, t2;
    CHECK(ledger_get_task(s, id, &t1) && ledger_get_task(w.s, id, &t2) && memcmp(&t1, &t2, sizeof t1) == 0);
    ledger_challenge c1, c2;
    CHECK(ledger_get_challenge(s, ch, &c1) && ledger_get_challenge(w.s, ch, &c2));
    CHECK(memcmp(&c1, &c2, offsetof(ledger_challenge, has_other)) == 0 && c1.has_other == c2.has_other);
    CHECK(c1.status == LEDGER_CH_OPEN && c1.step == 2);
    ledger_account d1, d2;
    CHECK(ledger_get_account(s, K[BOB].pk, &d1) && ledger_get_account(w.s, K[BOB].pk, &d2));
    CHECK(strcmp(d1.name, d2.name) == 0 && d1.locked == d2.locked && d1.nonce == d2.nonce && d1.profile == d2.profile);
    /* the loaded state continues: the verdict in the next block agrees */
    next_block(&w);
    CHECK(ledger_begin_block(s, height(&w), ledger_state_time(w.s), err) == 0);
    tx = verdict_tx(&w, OP, ch, honest.leaves + 2 * 32, 1);
    OK(&w, OP, &tx);
    CHECK(ledger_apply_tx(s, &tx, false, err) == LEDGER_TX_OK);
    uint8_t ea[32], eb[32];
    ledger_end_block(s, ea);
    end_block(&w);
    ledger_state_root(w.s, eb);
    CHECK(memcmp(ea, eb, 32) == 0);
    /* nothing is dirty after clear; a block marks what it touched and the meta record */
    ledger_clear_dirty(s);
    dirty_count dc = {0};
    ledger_each_dirty(s, count_dirty, &dc);
    CHECK(dc.n == 0);
    CHECK(ledger_begin_block(s, ledger_state_height(s) + 1, ledger_state_time(s), err) == 0);
    tx = mk(&w, LEDGER_TX_STAKE, ALICE);
    tx.u.stake.amount = 1;
    ledger_tx_sign(&tx, &K[ALICE], w.g.chain_id);
    CHECK(ledger_apply_tx(s, &tx, false, err) == LEDGER_TX_OK);
    ledger_end_block(s, ea);
    ledger_each_dirty(s, count_dirty, &dc);
    CHECK(dc.n == 3 && dc.accounts == 2 && dc.meta == 1); /* ALICE, the operator (fee), meta */
    CHECK(dc.sorted);
    ledger_state_free(s);
    run_free(&honest);
    run_free(&cheat);
    world_free(&w);
}

static void test_records_malformed(void) {
    world w;
    world_init(&w);
    reg(&w, BOB);
    run honest;
    run_make(&honest, STEPS, 0, 0, false);
    uint8_t id[32], ch[32];
    committed_opt(&w, &honest, id);
    ledger_tx tx = challenge_tx(&w, CAROL, id, BOB, &honest, 3, MIN_BOND);
    OK_HASH(&w, CAROL, &tx, ch);
    end_block(&w);
    /* the good records of each kind */
    const rec *ra = NULL, *rt = NULL, *rc = NULL, *rm = NULL;
    for (size_t i = 0; i < w.n_store; i++) {
        const rec *r = &w.store[i];
        if (r->key[0] == 'a' && memcmp(r->key + 1, K[BOB].pk, 32) == 0) ra = r;
        if (r->key[0] == 't') rt = r;
        if (r->key[0] == 'c') rc = r;
        if (r->key[0] == 'm') rm = r;
    }
    CHECK(ra && rt && rc && rm);
    if (!ra || !rt || !rc || !rm) {
        run_free(&honest);
        world_free(&w);
        return;
    }
    CHECK(rt->vlen == 140 + 229 && rc->vlen == 331 && rm->vlen == 24);
    ledger_state *s = ledger_state_new(&w.g);
    char err[PLOW_ERR_LEN];
    uint8_t buf[4096], key[40];
    uint8_t before[32], after[32];
    ledger_state_root(s, before);
#define REFUSE(kbuf, klen, vbuf, vlen, msg)                                                                            \
    do {                                                                                                               \
        CHECKF(ledger_load_record(s, kbuf, klen, vbuf, vlen, err) != 0, "accepted: %s", msg);                          \
        CHECKF(strstr(err, msg) != NULL, "error '%s' lacks '%s'", err, msg);                                           \
    } while (0)
    /* keys */
    REFUSE(ra->key, 0, ra->val, ra->vlen, "empty key");
    memcpy(key, ra->key, 33);
    key[0] = 'x';
    REFUSE(key, 33, ra->val, ra->vlen, "unknown tag");
    REFUSE(ra->key, 32, ra->val, ra->vlen, "33 expected");
    memcpy(key, ra->key, 33);
    key[33] = 0;
    REFUSE(key, 34, ra->val, ra->vlen, "33 expected");
    REFUSE(rm->key, 2, rm->val, rm->vlen, "1 expected");
    /* lengths */
    REFUSE(ra->key, 33, ra->val, ra->vlen - 1, "expected");
    memcpy(buf, ra->val, ra->vlen);
    buf[ra->vlen] = 0;
    REFUSE(ra->key, 33, buf, ra->vlen + 1, "expected");
    REFUSE(ra->key, 33, ra->val, 10, "at least");
    REFUSE(rt->key, 33, rt->val, rt->vlen - 1, "expected");
    REFUSE(rt->key, 33, rt->val, 50, "at least");
    REFUSE(rc->key, 33, rc->val, rc->vlen + 1, "expected");
    REFUSE(rm->key, 1, rm->val, 23, "expected");
    /* accounts: profile, name length, locked > stake, name without profile */
    memcpy(buf, ra->val, ra->vlen);
    buf[48] = 3;
    REFUSE(ra->key, 33, buf, ra->vlen, "unknown profile");
    memcpy(buf, ra->val, ra->vlen);
    buf[49] = LEDGER_NAME_MAX + 1;
    REFUSE(ra->key, 33, buf, ra->vlen, "name of 65 bytes");
    memcpy(buf, ra->val, ra->vlen);
    buf[48] = 0;
    REFUSE(ra->key, 33, buf, ra->vlen, "unregistered account with a name");
    memcpy(buf, ra->val, ra->vlen);
    buf[50] = 0; /* a NUL inside the name */
    REFUSE(ra->key, 33, buf, ra->vlen, "NUL");
    memcpy(buf, ra->val, ra->vlen);
    plow_put_u64(buf + 24, WORKER_STAKE + 1); /* locked */
    REFUSE(ra->key, 33, buf, ra->vlen, "exceeds stake");
    /* tasks: kind, mode, replicas, status, slot status */
    size_t k_kind = 64, k_mode = 65, k_rep = 66, k_status = 64 + 3 + 32 + 12, k_slot = 140;
    memcpy(buf, rt->val, rt->vlen);
    buf[k_kind] = 0;
    REFUSE(rt->key, 33, buf, rt->vlen, "unknown kind");
    memcpy(buf, rt->val, rt->vlen);
    buf[k_mode] = 7;
    REFUSE(rt->key, 33, buf, rt->vlen, "unknown mode");
    memcpy(buf, rt->val, rt->vlen);
    buf[k_rep] = 2;
    REFUSE(rt->key, 33, buf, rt->vlen, "optimistic task with 2 replicas");
    memcpy(buf, rt->val, rt->vlen);
    buf[k_mode] = LEDGER_MODE_REPLICATED;
    REFUSE(rt->key, 33, buf, rt->vlen, "replicated task with 1 replicas");
    memcpy(buf, rt->val, rt->vlen);
    buf[k_mode] = LEDGER_MODE_REPLICATED;
    buf[k_rep] = 2;
    REFUSE(rt->key, 33, buf, rt->vlen, "expected for 2 replicas");
    memcpy(buf, rt->val, rt->vlen);
    buf[k_status] = LEDGER_TASK_STATUS_END;
    REFUSE(rt->key, 33, buf, rt->vlen, "unknown status");
    memcpy(buf, rt->val, rt->vlen);
    buf[k_status] = 0;
    REFUSE(rt->key, 33, buf, rt->vlen, "unknown status");
    memcpy(buf, rt->val, rt->vlen);
    buf[k_slot] = LEDGER_SLOT_STATUS_END;
    REFUSE(rt->key, 33, buf, rt->vlen, "slot 0 has unknown status");
    /* challenges: has_other, status, other without has_other */
    size_t c_ho = 128, c_status = 128 + 1 + 32 + 128;
    memcpy(buf, rc->val, rc->vlen);
    buf[c_ho] = 2;
    REFUSE(rc->key, 33, buf, rc->vlen, "has_other");
    memcpy(buf, rc->val, rc->vlen);
    buf[c_status] = 0;
    REFUSE(rc->key, 33, buf, rc->vlen, "unknown status");
    memcpy(buf, rc->val, rc->vlen);
    buf[c_status] = LEDGER_CH_STATUS_END;
    REFUSE(rc->key, 33, buf, rc->vlen, "unknown status");
    memcpy(buf, rc->val, rc->vlen);
    buf[96] = 1; /* other, with has_other 0 */
    REFUSE(rc->key, 33, buf, rc->vlen, "without has_other");
#undef REFUSE
    /* nothing refused changed the state; the good records load */
    ledger_state_root(s, after);
    CHECK(memcmp(before, after, 32) == 0);
    CHECK(ledger_load_record(s, ra->key, 33, ra->val, ra->vlen, err) == 0);
    CHECK(ledger_load_record(s, rt->key, 33, rt->val, rt->vlen, err) == 0);
    CHECK(ledger_load_record(s, rc->key, 33, rc->val, rc->vlen, err) == 0);
    CHECK(ledger_load_record(s, rm->key, 1, rm->val, rm->vlen, err) == 0);
    ledger_state_root(s, after);
    CHECK(memcmp(before, after, 32) != 0);
    CHECK(ledger_state_height(s) == height(&w));
    ledger_state_free(s);
    run_free(&honest);
    world_free(&w);
}

/* The root covers every record: a state of many accounts, one of them
 * changed, gives the same root as a fresh load of the same records. */
static void test_root_many_accounts(void) {
    world w;
    world_init(&w);
    next_block(&w);
    for (int i = 0; i < 300; i++) {
        ledger_tx tx = mk(&w, LEDGER_TX_TRANSFER, ALICE);
        plow_sha256_once(&i, sizeof i, tx.u.transfer.to);
        tx.u.transfer.amount = (uint64_t)i + 1;
        ledger_tx_sign(&tx, &K[ALICE], w.g.chain_id);
        CHECK(apply(&w, &tx, true) == LEDGER_TX_OK);
    }
    root_eq(&w, __LINE__);
    end_block(&w);
    ledger_tx tx = mk(&w, LEDGER_TX_TRANSFER, BOB);
    memcpy(tx.u.transfer.to, K[CAROL].pk, 32);
    tx.u.transfer.amount = 1;
    OK(&w, BOB, &tx);
    int n = 0;
    ledger_each_account(w.s, collect_accounts, &n);
    CHECK(n == 306);
    world_free(&w); /* reloads all records and compares roots */
}


/* ---- payment channels (docs/ledger.md, CO/CR/CC) ------------------------------------------------ */

static ledger_channel chan(world *w, const uint8_t id[32]) {
    ledger_channel h;
    memset(&h, 0, sizeof h);
    CHECK(ledger_get_channel(w->s, id, &h));
    return h;
}

static ledger_tx chan_open_tx(world *w, int client, int worker, uint64_t deposit, uint32_t blocks) {
    ledger_tx tx = mk(w, LEDGER_TX_CHANNEL_OPEN, client);
    memcpy(tx.u.chan_open.worker, K[worker].pk, 32);
    tx.u.chan_open.deposit = deposit;
    tx.u.chan_open.dispute_blocks = blocks;
    return tx;
}

/* A redeem by `who` of a voucher for `amount` signed by `signer`. */
static ledger_tx redeem_tx(world *w, int who, const uint8_t ch[32], uint64_t amount, int signer) {
    ledger_tx tx = mk(w, LEDGER_TX_CHANNEL_REDEEM, who);
    memcpy(tx.u.chan_redeem.channel, ch, 32);
    tx.u.chan_redeem.amount = amount;
    ledger_voucher_sign(&K[signer], w->g.chain_id, ch, amount, tx.u.chan_redeem.sig);
    return tx;
}

static ledger_tx close_tx(world *w, int who, const uint8_t ch[32]) {
    ledger_tx tx = mk(w, LEDGER_TX_CHANNEL_CLOSE, who);
    memcpy(tx.u.chan_close.channel, ch, 32);
    return tx;
}

/* Open, vouchers redeemed in any order, the client's close with its window. */
static void test_channel_lifecycle(void) {
    world w;
    world_init(&w);
    uint8_t ch[32];
    uint64_t a0 = acct(&w, ALICE).balance, b0 = acct(&w, BOB).balance;
    ledger_tx tx = chan_open_tx(&w, ALICE, BOB, 5000, 3);
    OK_HASH(&w, ALICE, &tx, ch);
    ledger_channel h = chan(&w, ch);
    CHECK(h.status == LEDGER_CHAN_OPEN && h.deposit == 5000 && h.redeemed == 0 && h.dispute_blocks == 3 &&
          memcmp(h.client, K[ALICE].pk, 32) == 0 && memcmp(h.worker, K[BOB].pk, 32) == 0);
    CHECK(acct(&w, ALICE).balance == a0 - MIN_FEE - 5000);
    /* cumulative vouchers: 100, then 350 pays 250 more */
    tx = redeem_tx(&w, BOB, ch, 100, ALICE);
    OK(&w, BOB, &tx);
    tx = redeem_tx(&w, BOB, ch, 350, ALICE);
    OK(&w, BOB, &tx);
    CHECK(chan(&w, ch).redeemed == 350 && acct(&w, BOB).balance == b0 - 2 * MIN_FEE + 350);
    /* the client starts closing: the worker redeems its last voucher in the window */
    tx = close_tx(&w, ALICE, ch);
    OK(&w, ALICE, &tx);
    h = chan(&w, ch);
    CHECK(h.status == LEDGER_CHAN_CLOSING && h.close_at == height(&w) + 3);
    tx = close_tx(&w, ALICE, ch);
    FAILS(&w, ALICE, &tx, "may redeem until height"); /* the window runs */
    tx = redeem_tx(&w, BOB, ch, 900, ALICE);
    OK(&w, BOB, &tx);
    uint64_t close_at = h.close_at;
    advance_to(&w, close_at + 1);
    tx = redeem_tx(&w, BOB, ch, 1000, ALICE);
    FAILS(&w, BOB, &tx, "dispute window ended"); /* too late */
    uint64_t a1 = acct(&w, ALICE).balance;
    tx = close_tx(&w, ALICE, ch);
    OK(&w, ALICE, &tx);
    CHECK(chan(&w, ch).status == LEDGER_CHAN_CLOSED && acct(&w, ALICE).balance == a1 - MIN_FEE + 5000 - 900);
    CHECK(acct(&w, BOB).balance == b0 - 3 * MIN_FEE - MIN_FEE + 900); /* three redeems and the late one */
    /* after the close: nothing */
    tx = redeem_tx(&w, BOB, ch, 1000, ALICE);
    FAILS(&w, BOB, &tx, "closed");
    tx = close_tx(&w, ALICE, ch);
    FAILS(&w, ALICE, &tx, "closed");
    /* the worker closes at once: the rest goes back */
    tx = chan_open_tx(&w, ALICE, CAROL, 700, 10);
    OK_HASH(&w, ALICE, &tx, ch);
    tx = redeem_tx(&w, CAROL, ch, 200, ALICE);
    OK(&w, CAROL, &tx);
    a1 = acct(&w, ALICE).balance;
    tx = close_tx(&w, CAROL, ch);
    OK(&w, CAROL, &tx);
    CHECK(chan(&w, ch).status == LEDGER_CHAN_CLOSED && acct(&w, ALICE).balance == a1 + 500);
    tx = redeem_tx(&w, CAROL, ch, 300, ALICE);
    FAILS(&w, CAROL, &tx, "closed");
    world_free(&w);
}

/* Every rule against an adversary: nobody redeems more than signed, twice,
 * with someone else's voucher, on someone else's channel, or after close. */
static void test_channel_adversaries(void) {
    world w;
    world_init(&w);
    ledger_tx tx = chan_open_tx(&w, ALICE, ALICE, 100, 3);
    FAILS(&w, ALICE, &tx, "to oneself");
    tx = chan_open_tx(&w, ALICE, BOB, 0, 3);
    FAILS(&w, ALICE, &tx, "deposit must be positive");
    tx = chan_open_tx(&w, ALICE, BOB, 100, 0);
    FAILS(&w, ALICE, &tx, "dispute_blocks is 0");
    tx = chan_open_tx(&w, ALICE, BOB, 100, 1000001);
    FAILS(&w, ALICE, &tx, "dispute_blocks");
    tx = chan_open_tx(&w, EVE, BOB, EVE_BAL, 3); /* the fee comes first */
    FAILS(&w, EVE, &tx, "less than the deposit");
    tx = chan_open_tx(&w, ALICE, BOB, 100, 3);
    memset(tx.u.chan_open.worker, 0, 32);
    FAILS(&w, ALICE, &tx, "no worker");
    uint8_t ch[32], none[32] = {1};
    tx = chan_open_tx(&w, ALICE, BOB, 1000, 3);
    OK_HASH(&w, ALICE, &tx, ch);
    tx = redeem_tx(&w, BOB, none, 10, ALICE);
    FAILS(&w, BOB, &tx, "no channel");
    tx = redeem_tx(&w, CAROL, ch, 10, ALICE); /* another worker with a real voucher */
    FAILS(&w, CAROL, &tx, "only the channel's worker");
    tx = redeem_tx(&w, ALICE, ch, 10, ALICE); /* the client itself */
    FAILS(&w, ALICE, &tx, "only the channel's worker");
    tx = redeem_tx(&w, BOB, ch, 10, BOB); /* the worker signs its own voucher */
    FAILS(&w, BOB, &tx, "not the client's signature");
    tx = redeem_tx(&w, BOB, ch, 10, ALICE);
    tx.u.chan_redeem.amount = 999; /* more than signed */
    FAILS(&w, BOB, &tx, "not the client's signature");
    tx = redeem_tx(&w, BOB, ch, 1001, ALICE); /* signed, but beyond the deposit */
    FAILS(&w, BOB, &tx, "exceeds the deposit");
    uint8_t other_chain[32];
    memcpy(other_chain, w.g.chain_id, 32);
    other_chain[0] ^= 1;
    tx = redeem_tx(&w, BOB, ch, 10, ALICE);
    ledger_voucher_sign(&K[ALICE], other_chain, ch, 10, tx.u.chan_redeem.sig); /* another chain's voucher */
    FAILS(&w, BOB, &tx, "not the client's signature");
    uint8_t ch2[32];
    ledger_tx t2 = chan_open_tx(&w, ALICE, BOB, 1000, 3);
    OK_HASH(&w, ALICE, &t2, ch2);
    tx = redeem_tx(&w, BOB, ch2, 10, ALICE);
    memcpy(tx.u.chan_redeem.channel, ch, 32);
    ledger_voucher_sign(&K[ALICE], w.g.chain_id, ch2, 10, tx.u.chan_redeem.sig); /* a voucher for another channel */
    FAILS(&w, BOB, &tx, "not the client's signature");
    tx = redeem_tx(&w, BOB, ch, 400, ALICE);
    OK(&w, BOB, &tx);
    tx = redeem_tx(&w, BOB, ch, 400, ALICE); /* twice */
    FAILS(&w, BOB, &tx, "already redeemed");
    tx = redeem_tx(&w, BOB, ch, 300, ALICE); /* an older voucher */
    FAILS(&w, BOB, &tx, "already redeemed");
    CHECK(chan(&w, ch).redeemed == 400);
    tx = close_tx(&w, CAROL, ch);
    FAILS(&w, CAROL, &tx, "only the channel's client or worker");
    uint8_t none2[32] = {2};
    tx = close_tx(&w, ALICE, none2);
    FAILS(&w, ALICE, &tx, "no channel");
    /* a worker that stalls cannot keep the deposit: the client's close ends after the window */
    tx = close_tx(&w, ALICE, ch);
    OK(&w, ALICE, &tx);
    advance_to(&w, chan(&w, ch).close_at + 1);
    uint64_t a = acct(&w, ALICE).balance;
    tx = close_tx(&w, ALICE, ch);
    OK(&w, ALICE, &tx);
    CHECK(acct(&w, ALICE).balance == a - MIN_FEE + 600);
    world_free(&w);
}

/* A chain without channels keeps its roots: the record table is empty. */
static void test_channel_records(void) {
    world w;
    world_init(&w);
    uint8_t before[32], ch[32];
    ledger_state_root(w.s, before);
    ledger_state *fresh = ledger_state_new(&w.g);
    uint8_t r2[32];
    ledger_state_root(fresh, r2);
    CHECK(memcmp(before, r2, 32) == 0);
    ledger_state_free(fresh);
    ledger_tx tx = chan_open_tx(&w, ALICE, BOB, 1000, 3);
    OK_HASH(&w, ALICE, &tx, ch);
    /* malformed stored records are refused */
    char err[PLOW_ERR_LEN];
    uint8_t key[33] = {'h'}, val[101] = {0};
    memcpy(key + 1, ch, 32);
    val[84] = 9; /* status (after client, worker, deposit, redeemed, dispute_blocks) */
    CHECK(ledger_load_record(w.s, key, sizeof key, val, sizeof val, err) == -1 && strstr(err, "status"));
    CHECK(ledger_load_record(w.s, key, sizeof key, val, 100, err) == -1 && strstr(err, "bytes"));
    val[84] = 1;
    plow_put_u64(val + 72, 5); /* redeemed 5 of a deposit 0 */
    CHECK(ledger_load_record(w.s, key, sizeof key, val, sizeof val, err) == -1 && strstr(err, "redeemed"));
    world_free(&w); /* replay and the stored records round-trip */
}


/* ---- receipt fraud (docs/ledger.md, RF and VR rows) ---------------------------------------------- */

static ledger_tx fraud_tx(world *w, int who, int worker, const uint8_t digest[32], int signer, uint64_t bond) {
    ledger_tx tx = mk(w, LEDGER_TX_RECEIPT_FRAUD, who);
    memcpy(tx.u.fraud.worker, K[worker].pk, 32);
    memcpy(tx.u.fraud.digest, digest, 32);
    ledger_sign(&K[signer], digest, 32, tx.u.fraud.sig);
    memset(tx.u.fraud.receipt_blob, 0x11, 32);
    memset(tx.u.fraud.model_blob, 0x22, 32);
    memset(tx.u.fraud.tokenizer_blob, 0x33, 32);
    tx.u.fraud.bond = bond;
    return tx;
}

static void test_receipt_fraud(void) {
    world w;
    world_init(&w);
    uint8_t d1[32], d2[32], d3[32], c1[32], c2[32], zero[32] = {0};
    memset(d1, 1, 32);
    memset(d2, 2, 32);
    memset(d3, 3, 32);
    uint64_t bond = 10 * MIN_FEE;
    ledger_tx tx = fraud_tx(&w, BOB, BOB, d1, BOB, bond);
    FAILS(&w, BOB, &tx, "cannot accuse itself");
    tx = fraud_tx(&w, ALICE, BOB, d1, ALICE, bond); /* a "receipt" the worker never signed */
    FAILS(&w, ALICE, &tx, "not the worker's");
    tx = fraud_tx(&w, ALICE, FRANK, d1, FRANK, bond); /* a worker with nothing at stake */
    FAILS(&w, ALICE, &tx, "no free stake");
    tx = fraud_tx(&w, ALICE, BOB, d1, BOB, bond - 1);
    FAILS(&w, ALICE, &tx, "below the network's floor");
    tx = fraud_tx(&w, EVE, BOB, d1, BOB, bond); /* EVE cannot post it */
    FAILS(&w, EVE, &tx, "cannot post the bond");
    tx = fraud_tx(&w, ALICE, BOB, d1, BOB, bond);
    OK_HASH(&w, ALICE, &tx, c1);
    ledger_challenge c = chal(&w, c1);
    CHECK(c.kind == LEDGER_CHK_RECEIPT && c.status == LEDGER_CH_OPEN && memcmp(c.task, d1, 32) == 0 &&
          memcmp(c.accused, K[BOB].pk, 32) == 0 && c.bond == bond);
    tx = fraud_tx(&w, CAROL, BOB, d1, BOB, bond); /* the same receipt again */
    FAILS(&w, CAROL, &tx, "already claims this receipt");
    /* only the referee rules; 2 is no ruling on a receipt */
    tx = verdict_tx(&w, ALICE, c1, d1, 1);
    FAILS(&w, ALICE, &tx, "only the referee");
    tx = verdict_tx(&w, OP, c1, d1, 2);
    FAILS(&w, OP, &tx, "0 or 1 on a receipt claim");
    /* upheld: BOB's free stake to ALICE (SLASH_PCT, the rest burned), the bond back */
    uint64_t a0 = acct(&w, ALICE).balance, burned0 = ledger_state_burned(w.s);
    tx = verdict_tx(&w, OP, c1, d1, 1);
    OK(&w, OP, &tx);
    CHECK(chal(&w, c1).status == LEDGER_CH_UPHELD && acct(&w, BOB).stake == 0);
    CHECK(acct(&w, ALICE).balance == a0 + WORKER_STAKE * SLASH_PCT / 100 + bond);
    CHECK(ledger_state_burned(w.s) == burned0 + WORKER_STAKE - WORKER_STAKE * SLASH_PCT / 100);
    tx = verdict_tx(&w, OP, c1, d1, 1); /* ruled once */
    FAILS(&w, OP, &tx, "not open");
    tx = fraud_tx(&w, CAROL, BOB, d1, BOB, bond); /* upheld already: not twice */
    FAILS(&w, CAROL, &tx, "already claims this receipt");
    tx = fraud_tx(&w, ALICE, BOB, d2, BOB, bond); /* BOB has nothing left at stake */
    FAILS(&w, ALICE, &tx, "no free stake");
    /* rejected: an honest receipt claimed costs the claimant its bond (BOND_PCT to the accused) */
    tx = fraud_tx(&w, ALICE, CAROL, d3, CAROL, bond);
    OK_HASH(&w, ALICE, &tx, c2);
    uint64_t cb = acct(&w, CAROL).balance, cs = acct(&w, CAROL).stake;
    tx = verdict_tx(&w, OP, c2, zero, 0);
    OK(&w, OP, &tx);
    CHECK(chal(&w, c2).status == LEDGER_CH_REJECTED && acct(&w, CAROL).stake == cs &&
          acct(&w, CAROL).balance == cb + bond * BOND_PCT / 100);
    /* a claim rejected can be made again (by someone with the right blobs) */
    uint8_t c3[32];
    tx = fraud_tx(&w, DAVE, CAROL, d3, CAROL, bond);
    OK_HASH(&w, DAVE, &tx, c3);
    /* a claim the referee never rules lapses when the receipt is claimed again past its void height */
    uint64_t until = ledger_challenge_void_at(&w.g.params, &(ledger_challenge){.kind = LEDGER_CHK_RECEIPT,
                                                                              .deadline = chal(&w, c3).deadline});
    tx = fraud_tx(&w, ALICE, CAROL, d3, CAROL, bond);
    FAILS(&w, ALICE, &tx, "already claims this receipt"); /* still rulable */
    advance_to(&w, until + 1);
    uint64_t dv = acct(&w, DAVE).balance;
    tx = fraud_tx(&w, ALICE, CAROL, d3, CAROL, bond);
    OK(&w, ALICE, &tx);
    CHECK(chal(&w, c3).status == LEDGER_CH_EXPIRED && acct(&w, DAVE).balance == dv + bond);
    tx = verdict_tx(&w, OP, c3, zero, 1); /* too late to rule it */
    FAILS(&w, OP, &tx, "not open");
    world_free(&w);
}

const test_case state_tests[] = {
    {"ledger_state_envelope", test_envelope},
    {"ledger_state_channel_lifecycle", test_channel_lifecycle},
    {"ledger_state_channel_adversaries", test_channel_adversaries},
    {"ledger_state_channel_records", test_channel_records},
    {"ledger_state_receipt_fraud", test_receipt_fraud},
    {"ledger_state_data_availability", test_data_availability},
    {"ledger_state_unrunnable", test_unrunnable},
    {"ledger_state_late_verdict", test_late_verdict},
    {"ledger_state_blocks", test_blocks},
    {"ledger_state_transfer", test_transfer},
    {"ledger_state_transfer_overflow", test_transfer_overflow},
    {"ledger_state_stake_unbond", test_stake_unbond},
    {"ledger_state_register", test_register},
    {"ledger_state_post_task", test_post_task},
    {"ledger_state_claim", test_claim},
    {"ledger_state_commit", test_commit},
    {"ledger_state_unstake_locked", test_unstake_locked},
    {"ledger_state_challenge_rules", test_challenge_rules},
    {"ledger_state_verdict_slash", test_verdict_slash},
    {"ledger_state_verdict_reject", test_verdict_reject},
    {"ledger_state_replicated_dispute", test_replicated_dispute},
    {"ledger_state_replicated_dispute_step1", test_replicated_dispute_step1},
    {"ledger_state_replicated_disagree_unpaid", test_replicated_disagree_unpaid},
    {"ledger_state_finalize", test_finalize},
    {"ledger_state_expire", test_expire},
    {"ledger_state_poster_forfeit", test_poster_forfeit},
    {"ledger_state_reveal", test_reveal},
    {"ledger_state_infer", test_infer},
    {"ledger_state_artifact_step", test_artifact_step},
    {"ledger_state_determinism", test_determinism},
    {"ledger_state_records_roundtrip", test_records_roundtrip},
    {"ledger_state_records_malformed", test_records_malformed},
    {"ledger_state_root_many_accounts", test_root_many_accounts},
    {"ledger_state_dpo", test_dpo},
    {"ledger_state_round", test_round},
    {"ledger_state_label_helpers", test_label_helpers},
    {"ledger_state_label", test_label},
    {"ledger_state_label_rules", test_label_rules},
    {"ledger_state_label_no_gold", test_label_no_gold},
    {"ledger_state_label_records", test_label_records},
    {NULL, NULL},
};
