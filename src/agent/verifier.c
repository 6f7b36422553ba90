/*
 * verifier.c — the verifier agent: watches committed tasks while their
 * challenge window is open and checks them.
 *
 *   optimistic  each committed slot is re-executed at `samples` transitions
 *               drawn from a seed the worker could not know when it
 *               committed: the hash of block committed_at + 1. Valid: nothing
 *               to do. Invalid: a CHALLENGE with the first wrong step, its two
 *               leaves with Merkle proofs, and the agreed state j-1 as a blob.
 *   replicated  the slots' final states are compared. All equal: accepted,
 *               nothing to do. Different: each slot outside the largest group
 *               is taken to the first step where its trace leaves the group's
 *               (job_diverge) and challenged with the group's worker as
 *               `other`; the referee's one step decides who was wrong.
 *
 * Before either, the data: a revealed slot's manifest and every file it lists
 * must be on the node; the first that cannot be fetched is demanded with a
 * data challenge (the worker uploads it by the deadline or is slashed), and
 * the slot is checked once it is there.
 *
 * It never challenges work it found valid. What it has checked is kept in
 * WORK/checked/ (so a restart does not redo it) and the challenges it opened
 * in WORK/challenges.txt (so a restart still reports their verdicts); whether
 * a slot is already challenged is read from the ledger.
 */
#include "../base/plow.h"

#include <inttypes.h>

#include "../client/client.h"
#include "../job/kind.h"
#include "../merkle/merkle.h"
#include "agent.h"

void verifier_options_default(verifier_options *o) {
    memset(o, 0, sizeof *o);
    o->name = "verifier";
    o->node = AGENT_DEFAULT_NODE;
    o->samples = 4;
    o->bond = 0;
    o->poll_s = 0.5;
}

#define WATCH_MAX 256

typedef struct watched {
    uint8_t id[32];
    uint8_t status;
} watched;

typedef struct verifier {
    agent a;
    const verifier_options *o;
    uint64_t balance0;
    bool have_balance0;
    watched ch[WATCH_MAX];
    int n_ch;
    int upheld, rejected, checked;
    /* checks that could not run (outputs missing, withheld?), by task and slot */
    struct {
        uint8_t task[32];
        int slot, tries;
    } fails[WATCH_MAX];
    int n_fails;
} verifier;

static void checked_path(const verifier *v, const uint8_t task[32], int slot, char *out, size_t n) {
    char hex[65];
    plow_hex(task, 32, hex);
    snprintf(out, n, "%s/checked/%s.%d", v->a.work, hex, slot);
}

static bool is_checked(const verifier *v, const uint8_t task[32], int slot) {
    char p[AGENT_PATH_MAX + 100];
    checked_path(v, task, slot, p, sizeof p);
    return plow_file_exists(p);
}

static int set_checked(const verifier *v, const uint8_t task[32], int slot, const char *what, char err[PLOW_ERR_LEN]) {
    char p[AGENT_PATH_MAX + 100];
    snprintf(p, sizeof p, "%s/checked", v->a.work);
    if (plow_mkdir_p(p, err)) return -1;
    checked_path(v, task, slot, p, sizeof p);
    return plow_write_file(p, what, strlen(what), err);
}

#define MAX_CHECK_TRIES 5

/* A check that could not run: the node away is waited for (-1); otherwise
 * it is logged and tried again in later rounds, MAX_CHECK_TRIES times, while
 * the other tasks go on being checked (a worker that withholds its outputs
 * must not stall the verifier). */
static int check_failed(verifier *v, const ledger_task *t, int slot, const char *what, char err[PLOW_ERR_LEN]) {
    char e2[PLOW_ERR_LEN];
    uint64_t h;
    if (agent_height(&v->a, &h, e2)) return plow_error_prefix(err, what);
    int i = 0;
    while (i < v->n_fails && !(memcmp(v->fails[i].task, t->id, 32) == 0 && v->fails[i].slot == slot)) i++;
    if (i == v->n_fails) {
        if (v->n_fails == WATCH_MAX) i = 0;
        else v->n_fails++;
        memcpy(v->fails[i].task, t->id, 32);
        v->fails[i].slot = slot;
        v->fails[i].tries = 0;
    }
    char id[12];
    agent_short(t->id, id);
    v->fails[i].tries++;
    agent_log(&v->a, "task %s slot %d: cannot check (%d of %d): %s: %s", id, slot, v->fails[i].tries, MAX_CHECK_TRIES,
              what, err);
    if (v->fails[i].tries >= MAX_CHECK_TRIES) {
        agent_log(&v->a, "task %s slot %d: giving up: its outputs cannot be fetched or replayed", id, slot);
        return set_checked(v, t->id, slot, "unavailable\n", err);
    }
    return 0;
}

static void watch(verifier *v, const uint8_t id[32]) {
    for (int i = 0; i < v->n_ch; i++)
        if (memcmp(v->ch[i].id, id, 32) == 0) return;
    if (v->n_ch == WATCH_MAX) return;
    memcpy(v->ch[v->n_ch].id, id, 32);
    v->ch[v->n_ch].status = LEDGER_CH_OPEN;
    v->n_ch++;
}

static void load_watch(verifier *v) {
    char p[AGENT_PATH_MAX + 32], err[PLOW_ERR_LEN];
    snprintf(p, sizeof p, "%s/challenges.txt", v->a.work);
    uint8_t *buf = NULL;
    size_t n = 0;
    if (!plow_file_exists(p) || plow_read_file(p, 1 << 20, &buf, &n, err)) return;
    for (size_t i = 0; i + 64 <= n; i += 65) {
        char hex[65];
        memcpy(hex, buf + i, 64);
        hex[64] = 0;
        uint8_t id[32];
        if (plow_unhex(hex, id, 32) == 0) watch(v, id);
    }
    free(buf);
}

static int save_watch(verifier *v, char err[PLOW_ERR_LEN]) {
    plow_buf b = {0};
    for (int i = 0; i < v->n_ch; i++) {
        char hex[65];
        plow_hex(v->ch[i].id, 32, hex);
        plow_buf_printf(&b, "%s\n", hex);
    }
    char p[AGENT_PATH_MAX + 32];
    snprintf(p, sizeof p, "%s/challenges.txt", v->a.work);
    int rc = plow_write_file(p, b.data ? (const char *)b.data : "", b.len, err);
    plow_buf_release(&b);
    return rc;
}

/* Whether the ledger already holds a step challenge against `worker` on
 * this task (a data challenge does not settle the work: once the data is
 * there, the work is checked). */
static bool challenged(const ledger_challenge *ch, size_t n, const uint8_t worker[32]) {
    for (size_t i = 0; i < n; i++)
        if (ch[i].kind == LEDGER_CHK_STEP && memcmp(ch[i].accused, worker, 32) == 0) return true;
    return false;
}

/* Whether a data challenge against `worker` on this task is open. */
static bool data_open(const ledger_challenge *ch, size_t n, const uint8_t worker[32]) {
    for (size_t i = 0; i < n; i++)
        if (ch[i].kind == LEDGER_CHK_DATA && ch[i].status == LEDGER_CH_OPEN && memcmp(ch[i].accused, worker, 32) == 0)
            return true;
    return false;
}

static int send_challenge(verifier *v, const ledger_task *t, ledger_tx *tx, const char *what, char err[PLOW_ERR_LEN]) {
    agent *a = &v->a;
    char id[12], acc[16];
    agent_short(t->id, id);
    agent_short_addr(tx->u.challenge.accused, acc);
    uint64_t bond = v->o->bond > t->p.min_bond ? v->o->bond : t->p.min_bond;
    tx->type = LEDGER_TX_CHALLENGE;
    memcpy(tx->u.challenge.task, t->id, 32);
    tx->u.challenge.bond = bond;
    uint8_t hash[32];
    uint64_t height;
    if (agent_send_at(a, tx, hash, &height, err)) {
        if (!agent_refused(err)) return -1; /* lost on the way: the ledger tells next round */
        agent_log(a, "task %s: challenge against %s refused: %s", id, acc, err);
        return 0; /* the rules said no: not a reason to back off */
    }
    char cid[12], b[32];
    agent_short(hash, cid);
    agent_money(bond, b);
    agent_log(a, "task %s: CHALLENGE %s opened against %s at step %" PRIu64 " (%s; bond %s) in block %" PRIu64, id,
              cid, acc, tx->u.challenge.step, what, b, height);
    watch(v, hash);
    if (save_watch(v, err)) return -1;
    return 0;
}

/* ---- data availability ------------------------------------------------------------ */

static void avail_path(const verifier *v, const uint8_t task[32], int slot, char *out, size_t n) {
    char hex[65];
    plow_hex(task, 32, hex);
    snprintf(out, n, "%s/available/%s.%d", v->a.work, hex, slot);
}

/* Demands blob `want` of slot s's worker: a DA_CHALLENGE. Not on the node by
 * its deadline, the worker is slashed and my bond comes back with the
 * challenger's share; uploaded in time, my bond is lost. */
static int send_data_challenge(verifier *v, const ledger_task *t, int s, const uint8_t want[32], const char *what,
                               char err[PLOW_ERR_LEN]) {
    agent *a = &v->a;
    if (agent_load_params(a, err)) return -1;
    uint64_t floor, bond = v->o->bond > t->p.min_bond ? v->o->bond : t->p.min_bond;
    if (!plow_mul_u64(a->min_fee, LEDGER_BOND_FLOOR_FEES, &floor)) floor = UINT64_MAX;
    if (bond < floor) bond = floor;
    ledger_tx tx;
    memset(&tx, 0, sizeof tx);
    tx.type = LEDGER_TX_DA_CHALLENGE;
    memcpy(tx.u.da.task, t->id, 32);
    memcpy(tx.u.da.accused, t->slots[s].worker, 32);
    memcpy(tx.u.da.want, want, 32);
    tx.u.da.bond = bond;
    char id[12], acc[16], bh[12];
    agent_short(t->id, id);
    agent_short_addr(t->slots[s].worker, acc);
    agent_short(want, bh);
    uint8_t hash[32];
    uint64_t height;
    if (agent_send_at(a, &tx, hash, &height, err)) {
        if (!agent_refused(err)) return -1;
        agent_log(a, "task %s slot %d: data challenge against %s refused: %s", id, s, acc, err);
        return 0;
    }
    char cid[12], b[32];
    agent_short(hash, cid);
    agent_money(bond, b);
    agent_log(a, "task %s slot %d: DATA CHALLENGE %s opened against %s: %s, blob %s (bond %s, block %" PRIu64
                 "; the worker must make it available within %" PRIu64 " blocks)",
              id, s, cid, acc, what, bh, b, height, a->params.verdict_blocks);
    watch(v, hash);
    return save_watch(v, err);
}

/* The blobs slot s's revealed commitment promises — its manifest and every
 * file the manifest lists — must be on the node. The first one missing is
 * demanded with a data challenge (*missing); the slot is checked once they
 * are all there (then WORK/available/ remembers it). -1: the node could not
 * be asked. */
static int check_available(verifier *v, const ledger_task *t, int s, const ledger_challenge *ch, size_t n_ch,
                           bool *missing, char err[PLOW_ERR_LEN]) {
    agent *a = &v->a;
    const ledger_slot *slot = &t->slots[s];
    char p[AGENT_PATH_MAX + 100];
    *missing = false;
    avail_path(v, t->id, s, p, sizeof p);
    if (plow_file_exists(p)) return 0;
    if (data_open(ch, n_ch, slot->worker)) { /* demanded already: its verdict or deadline first */
        *missing = true;
        return 0;
    }
    uint8_t *buf = NULL;
    size_t n = 0;
    bool has = false;
    job_manifest m = {0};
    int rc = -1;
    char e2[PLOW_ERR_LEN];
    uint8_t lb[32];
    static const uint8_t zero[32];
    int lrc = agent_leaf_blob(a, t, s, lb, err); /* the EVM backend publishes the leaves as a blob */
    if (lrc < 0) goto out;
    if (lrc == 0 && memcmp(lb, zero, 32) != 0) {
        if (client_blob_has(a->c, lb, &has, err)) goto out;
        if (!has) {
            *missing = true;
            rc = send_data_challenge(v, t, s, lb, "its leaf blob (the trace its reveal names) cannot be fetched", err);
            goto out;
        }
    }
    /* fetched, not asked: the node checks the bytes it serves, so a damaged copy counts as missing */
    if (client_blob_get_max(a->c, slot->manifest, JOB_MANIFEST_MAX, &buf, &n, e2)) {
        if (client_blob_has(a->c, slot->manifest, &has, err)) goto out;
        if (has) {
            rc = plow_error(err, "the manifest: %s", e2);
            goto out;
        }
        *missing = true;
        rc = send_data_challenge(v, t, s, slot->manifest, "its manifest cannot be fetched", err);
        goto out;
    }
    if (job_manifest_parse(&m, buf, n, e2) == 0) { /* a malformed one is the check's to judge */
        for (size_t i = 0; i < m.n && !*missing; i++) {
            if (client_blob_has(a->c, m.files[i].hash, &has, err)) goto out;
            if (has) continue;
            *missing = true;
            char what[JOB_PATH_MAX + 32];
            snprintf(what, sizeof what, "its %s cannot be fetched", m.files[i].path);
            rc = send_data_challenge(v, t, s, m.files[i].hash, what, err);
            goto out;
        }
    }
    char d[AGENT_PATH_MAX + 32];
    snprintf(d, sizeof d, "%s/available", a->work);
    rc = plow_mkdir_p(d, err) || plow_write_file(p, "available\n", 10, err) ? -1 : 0;
out:
    job_manifest_release(&m);
    free(buf);
    return rc;
}

/* A slot whose values are public: revealed (every kind here is sealed). */
static bool revealed(const ledger_task *t, int s) {
    return t->slots[s].status == LEDGER_SLOT_COMMITTED && (!ledger_sealed(t) || t->slots[s].revealed_at != 0);
}

/* Before a check builds anything the spec sized: the spec and its inputs
 * probed against this machine's limits (one step's memory). 0: check it;
 * 1: not checkable here (logged, set aside for good); -1: try again later. */
static int probe_before_check(verifier *v, const ledger_task *t, int s, const job_spec *spec, char err[PLOW_ERR_LEN]) {
    job_limits l;
    job_cost cost;
    agent_limits(&l);
    int rc = agent_probe(&v->a, t, spec, &l, false, &cost, err);
    if (rc <= 0) return rc;
    char id[12];
    agent_short(t->id, id);
    agent_log(&v->a, "task %s slot %d: not checked: the task cannot be run here: %s", id, s, err);
    agent_refuse(&v->a, t->id, err);
    return set_checked(v, t->id, s, "unrunnable\n", err) ? -1 : 1;
}

/* The spec of t for a check: 0; 1 when the spec is unusable (set aside for
 * good, logged); -1 when it could not be fetched now. */
static int check_spec(verifier *v, const ledger_task *t, int s, job_spec *spec, char err[PLOW_ERR_LEN]) {
    int rc = agent_fetch_spec(&v->a, t, spec, err);
    if (rc <= 0) return rc;
    char id[12];
    agent_short(t->id, id);
    agent_log(&v->a, "task %s: not checked: %s", id, err);
    agent_refuse(&v->a, t->id, err);
    return set_checked(v, t->id, s, "bad spec\n", err) ? -1 : 1;
}

/* The spec of t fetched and probed for a check of slot s: 0, check it; 1,
 * not now or not at all (logged, set aside or counted as a failed try); -1
 * when the node could not be asked. */
static int checkable(verifier *v, const ledger_task *t, int s, job_spec *spec, char err[PLOW_ERR_LEN]) {
    int src = check_spec(v, t, s, spec, err);
    if (src) return src;
    src = probe_before_check(v, t, s, spec, err);
    if (src < 0) return check_failed(v, t, s, "probe", err) ? -1 : 1;
    return src;
}

/* A hostile challenger (tests, --challenge-at J): challenges slot s at step
 * J from its revealed leaves, without checking anything; the state blob is
 * the spec's (step 1 needs none: the referee rebuilds state 0). */
static int hostile_challenge(verifier *v, const ledger_task *t, int s, char err[PLOW_ERR_LEN]) {
    uint64_t j = v->o->challenge_at;
    ledger_tx *rv = plow_calloc(1, sizeof *rv);
    ledger_tx tx;
    memset(&tx, 0, sizeof tx);
    int rc = -1;
    if (t->p.kind == LEDGER_KIND_INFER) { /* the receipt and the output hash are the leaves */
        memcpy(tx.u.challenge.accused, t->slots[s].worker, 32);
        tx.u.challenge.step = 1;
        memcpy(tx.u.challenge.state_blob, t->slots[s].trace_root, 32);
        memcpy(tx.u.challenge.ev.leaf_prev, t->slots[s].trace_root, 32);
        memcpy(tx.u.challenge.ev.leaf, t->slots[s].final_state, 32);
        if (send_challenge(v, t, &tx, "hostile: unchecked", err) == 0)
            rc = set_checked(v, t->id, s, "hostile challenge\n", err);
        goto out;
    }
    if (agent_reveal_of(&v->a, t, s, rv, err)) goto out;
    size_t n = rv->u.open.count;
    if (j < 1 || j >= n) {
        rc = set_checked(v, t->id, s, "hostile: no such step\n", err);
        goto out;
    }
    memcpy(tx.u.challenge.accused, t->slots[s].worker, 32);
    tx.u.challenge.step = j;
    memcpy(tx.u.challenge.state_blob, t->p.spec, 32);
    memcpy(tx.u.challenge.ev.leaf_prev, rv->u.open.leaves + (j - 1) * 32, 32);
    memcpy(tx.u.challenge.ev.leaf, rv->u.open.leaves + j * 32, 32);
    if (merkle_prove(rv->u.open.leaves, n, j - 1, &tx.u.challenge.ev.proof_prev, err) ||
        merkle_prove(rv->u.open.leaves, n, j, &tx.u.challenge.ev.proof, err))
        goto out;
    if (send_challenge(v, t, &tx, "hostile: unchecked", err)) goto out;
    rc = set_checked(v, t->id, s, "hostile challenge\n", err);
out:
    free(rv);
    return rc;
}

/* Outputs that are not what the commitment promises (job_check has_bad: a
 * checkpoint that is not its leaf's state, a config that does not go with
 * the artifact, a manifest lacking one of them): demanded with a data
 * challenge, which the referee never attests (the promised bytes cannot
 * exist under that hash), so the worker is slashed at its deadline. Other
 * defects no challenge can prove are logged. */
static int broken_promise(verifier *v, const ledger_task *t, int s, const job_check *chk, char err[PLOW_ERR_LEN]) {
    char id[12], wk[16];
    agent_short(t->id, id);
    agent_short_addr(t->slots[s].worker, wk);
    if (!chk->has_bad) {
        agent_log(&v->a, "task %s slot %d (%s): defective outputs, not provable by a challenge: %s", id, s, wk,
                  chk->reason);
        return set_checked(v, t->id, s, "defective\n", err);
    }
    agent_log(&v->a, "task %s slot %d (%s): BROKEN PROMISE: its %s: %s", id, s, wk, chk->bad_file, chk->reason);
    char what[JOB_PATH_MAX + 64];
    snprintf(what, sizeof what, "its %s (not what the commitment promises)", chk->bad_file);
    if (send_data_challenge(v, t, s, chk->bad_blob, what, err)) return -1;
    return set_checked(v, t->id, s, "demanded\n", err);
}

/* Optimistic: sample-verify one committed slot. */
static int check_optimistic(verifier *v, const ledger_task *t, int s, const ledger_challenge *ch, size_t n_ch,
                            uint64_t height, char err[PLOW_ERR_LEN]) {
    agent *a = &v->a;
    const ledger_slot *slot = &t->slots[s];
    if (!revealed(t, s) || is_checked(v, t->id, s) || challenged(ch, n_ch, slot->worker)) return 0;
    /* the seed: a block that did not exist when the worker committed */
    if (height < slot->committed_at + 1) return 0;
    uint8_t bh[32];
    if (agent_block_hash(a, slot->committed_at + 1, bh, NULL, err)) return -1;
    uint64_t seed = plow_get_u64(bh);
    if (v->o->challenge_at) return hostile_challenge(v, t, s, err);
    job_spec spec;
    int src = check_spec(v, t, s, &spec, err);
    if (src) return src < 0 ? -1 : 0;
    if ((src = probe_before_check(v, t, s, &spec, err))) return src < 0 ? check_failed(v, t, s, "probe", err) : 0;
    /* the data, once the task is known to be runnable (a bomb is the poster's, not a withholder's) */
    bool missing;
    if (check_available(v, t, s, ch, n_ch, &missing, err)) return check_failed(v, t, s, "availability", err);
    if (missing) return 0; /* checked once its data is there; slashed if it never is */
    char hex[65], dir[AGENT_PATH_MAX + 100], id[12], wk[16];
    plow_hex(t->id, 32, hex);
    snprintf(dir, sizeof dir, "%s/tasks/%s/slot%d", a->work, hex, s);
    if (plow_mkdir_p(dir, err)) return -1;
    agent_short(t->id, id);
    agent_short_addr(slot->worker, wk);
    if (agent_put_leaves(&v->a, t, s, dir, err)) return check_failed(v, t, s, "revealed leaves", err);
    job_blobs b = agent_job_blobs(a);
    job_check chk;
    memset(&chk, 0, sizeof chk);
    if (job_verify(&spec, &b, slot, dir, v->o->samples, seed, &chk, err)) return check_failed(v, t, s, "verify", err);
    v->checked++;
    if (chk.valid) {
        agent_log(a, "task %s slot %d (%s): valid (%s, %" PRIu64 " steps re-executed in %.1fs, seed from block %" PRIu64
                     ")",
                  id, s, wk, ledger_kind_name(t->p.kind), chk.steps_run, chk.seconds, slot->committed_at + 1);
        return set_checked(v, t->id, s, "valid\n", err);
    }
    if (chk.step == 0) return broken_promise(v, t, s, &chk, err);
    agent_log(a, "task %s slot %d (%s): INVALID at step %" PRIu64 ": %s", id, s, wk, chk.step, chk.reason);
    ledger_tx tx;
    memset(&tx, 0, sizeof tx);
    memcpy(tx.u.challenge.accused, slot->worker, 32);
    tx.u.challenge.step = chk.step;
    memcpy(tx.u.challenge.state_blob, chk.state_blob, 32);
    tx.u.challenge.ev = chk.ev;
    if (send_challenge(v, t, &tx, "sampled re-execution", err)) return -1;
    return set_checked(v, t->id, s, "challenged\n", err);
}

/* Replicas that agree: each one's outputs opened (job_check_outputs, no
 * step re-executed), a broken promise demanded like an optimistic one's. */
static int check_promises(verifier *v, const ledger_task *t, const int *idx, int n, char err[PLOW_ERR_LEN]) {
    agent *a = &v->a;
    for (int i = 0; i < n && !agent_stop_requested(); i++) {
        int s = idx[i];
        char ap[AGENT_PATH_MAX + 100];
        avail_path(v, t->id, s, ap, sizeof ap);
        if (is_checked(v, t->id, s) || !plow_file_exists(ap)) continue; /* its data first */
        job_spec spec;
        int src = checkable(v, t, s, &spec, err);
        if (src < 0) return -1;
        if (src > 0) continue;
        char hex[65], dir[AGENT_PATH_MAX + 100], id[12], wk[16];
        plow_hex(t->id, 32, hex);
        snprintf(dir, sizeof dir, "%s/tasks/%s/slot%d", a->work, hex, s);
        if (plow_mkdir_p(dir, err)) return -1;
        if (agent_put_leaves(a, t, s, dir, err)) {
            if (check_failed(v, t, s, "revealed leaves", err)) return -1;
            continue;
        }
        job_blobs b = agent_job_blobs(a);
        job_check chk;
        if (job_check_outputs(&spec, &b, &t->slots[s], dir, &chk, err)) {
            if (check_failed(v, t, s, "outputs", err)) return -1;
            continue;
        }
        agent_short(t->id, id);
        agent_short_addr(t->slots[s].worker, wk);
        if (!chk.valid) {
            if (broken_promise(v, t, s, &chk, err)) return -1;
            continue;
        }
        agent_log(a, "task %s slot %d (%s): its outputs are what it committed to (opened in %.1fs)", id, s, wk,
                  chk.seconds);
        if (set_checked(v, t->id, s, "outputs\n", err)) return -1;
    }
    return 0;
}

/* Replicated: compare final states; take each outlier to the referee. */
static int check_replicated(verifier *v, const ledger_task *t, const ledger_challenge *ch, size_t n_ch,
                            uint64_t height, char err[PLOW_ERR_LEN]) {
    agent *a = &v->a;
    int idx[LEDGER_MAX_REPLICAS], n = 0;
    for (int s = 0; s < t->p.replicas && s < LEDGER_MAX_REPLICAS; s++)
        if (revealed(t, s)) idx[n++] = s;
    bool all_there = true;
    for (int i = 0; i < n; i++) {
        char ap[AGENT_PATH_MAX + 100];
        avail_path(v, t->id, idx[i], ap, sizeof ap);
        all_there = all_there && plow_file_exists(ap);
    }
    if (!all_there && !agent_is_refused(a, t->id)) { /* the data, once the task is known to be runnable */
        job_spec spec;
        int src = check_spec(v, t, idx[0], &spec, err);
        if (src == 0) src = probe_before_check(v, t, idx[0], &spec, err);
        if (src < 0) return -1;
        for (int i = 0; i < n && src == 0; i++) {
            bool missing;
            if (check_available(v, t, idx[i], ch, n_ch, &missing, err) &&
                check_failed(v, t, idx[i], "availability", err))
                return -1;
        }
    }
    if (n < 2) return 0;
    /* the groups are compared once every committed replica revealed (or can
     * no longer): with some still to come, a tie could name the cheat the
     * majority */
    for (int s = 0; s < t->p.replicas && s < LEDGER_MAX_REPLICAS; s++)
        if (t->slots[s].status == LEDGER_SLOT_COMMITTED && t->slots[s].revealed_at == 0 &&
            height + 1 <= ledger_reveal_until(t))
            return 0;
    /* the largest group of equal final states (ties: the first slot's) */
    int best = idx[0], best_count = 0;
    for (int i = 0; i < n; i++) {
        int c = 0;
        for (int k = 0; k < n; k++)
            c += memcmp(t->slots[idx[i]].final_state, t->slots[idx[k]].final_state, 32) == 0;
        if (c > best_count) best_count = c, best = idx[i];
    }
    char id[12];
    agent_short(t->id, id);
    if (best_count == n) {
        /* "agree" is kept apart from the slots' own marks (slot -1): a slot
         * that reveals later and disagrees is still taken to the referee */
        if (!is_checked(v, t->id, -1)) {
            char fs[12];
            agent_short(t->slots[best].final_state, fs);
            agent_log(a, "task %s: the %d replicas agree (final state %s): accepted", id, n, fs);
            v->checked++;
            if (set_checked(v, t->id, -1, "agree\n", err)) return -1;
        }
        return check_promises(v, t, idx, n, err);
    }
    for (int i = 0; i < n; i++) {
        int s = idx[i];
        const ledger_slot *slot = &t->slots[s];
        if (memcmp(slot->final_state, t->slots[best].final_state, 32) == 0) continue;
        if (is_checked(v, t->id, s) || challenged(ch, n_ch, slot->worker)) continue;
        job_spec spec;
        int src = checkable(v, t, s, &spec, err);
        if (src < 0) return -1;
        if (src > 0) continue;
        char hex[65], dir[AGENT_PATH_MAX + 100], wk[16], ok[16];
        plow_hex(t->id, 32, hex);
        snprintf(dir, sizeof dir, "%s/tasks/%s/diverge%d-%d", a->work, hex, s, best);
        if (plow_mkdir_p(dir, err)) return -1;
        if (agent_put_leaves(&v->a, t, s, dir, err) || agent_put_leaves(&v->a, t, best, dir, err)) {
            if (check_failed(v, t, s, "revealed leaves", err)) return -1;
            continue;
        }
        agent_short_addr(slot->worker, wk);
        agent_short_addr(t->slots[best].worker, ok);
        agent_log(a, "task %s: slot %d (%s) disagrees with %d of %d replicas; locating the first divergent step", id,
                  s, wk, best_count, n);
        job_blobs b = agent_job_blobs(a);
        ledger_tx tx;
        memset(&tx, 0, sizeof tx);
        uint64_t step = 0;
        if (job_diverge(&spec, &b, slot, &t->slots[best], dir, &step, &tx.u.challenge.ev, &tx.u.challenge.ev_other,
                        tx.u.challenge.state_blob, err)) {
            if (check_failed(v, t, s, "diverge", err)) return -1;
            continue;
        }
        v->checked++;
        agent_log(a, "task %s: first divergent step %" PRIu64 " between %s and %s", id, step, wk, ok);
        memcpy(tx.u.challenge.accused, slot->worker, 32);
        memcpy(tx.u.challenge.other, t->slots[best].worker, 32);
        tx.u.challenge.step = step;
        if (send_challenge(v, t, &tx, "replicas disagree", err)) return -1;
        if (set_checked(v, t->id, s, "challenged\n", err)) return -1;
    }
    return 0;
}

/* Reports the verdicts of the challenges this verifier opened. */
static int follow_verdicts(verifier *v, char err[PLOW_ERR_LEN]) {
    agent *a = &v->a;
    for (int i = 0; i < v->n_ch; i++) {
        if (v->ch[i].status != LEDGER_CH_OPEN) continue;
        ledger_challenge c;
        if (agent_challenge(a, v->ch[i].id, &c, err)) return -1;
        if (c.status == LEDGER_CH_OPEN) continue;
        v->ch[i].status = c.status;
        ledger_account acct;
        if (agent_account(a, a->key.pk, &acct, err)) return -1;
        char cid[12], tid[12], acc[16], bal[32], earned[40];
        agent_short(c.id, cid);
        agent_short(c.task, tid);
        agent_short_addr(c.accused, acc);
        agent_money(acct.balance, bal);
        if (acct.balance >= v->balance0) {
            char m[32];
            agent_money(acct.balance - v->balance0, m);
            snprintf(earned, sizeof earned, "+%s", m);
        } else {
            char m[32];
            agent_money(v->balance0 - acct.balance, m);
            snprintf(earned, sizeof earned, "-%s", m);
        }
        /* upheld with the task voided: the referee found the task unrunnable (nobody slashed) */
        ledger_task tk;
        bool voided = c.status == LEDGER_CH_UPHELD && agent_task(a, c.task, &tk, NULL, NULL, err) == 0 &&
                      tk.status == LEDGER_TASK_EXPIRED;
        if (c.status == LEDGER_CH_UPHELD) v->upheld++;
        if (c.status == LEDGER_CH_REJECTED) v->rejected++;
        if (c.kind == LEDGER_CHK_DATA) {
            agent_log(a, "verdict on data challenge %s (task %s): %s%s; balance %s (%s since I started)", cid, tid,
                      ledger_challenge_status_name(c.status),
                      c.status == LEDGER_CH_UPHELD ? " -- the blob was not made available by the deadline: the accused "
                                                     "is slashed"
                                                   : " -- the blob is available; my bond is lost",
                      bal, earned);
            continue;
        }
        /* between replicas the referee's leaf may condemn the accused, the other, or both */
        bool acc_wrong = memcmp(c.computed, c.accused_leaf, 32) != 0,
             oth_wrong = c.has_other && memcmp(c.computed, c.other_leaf, 32) != 0;
        const char *upheld = !c.has_other ? " -- the accused was wrong and is slashed"
                             : acc_wrong && oth_wrong ? " -- both replicas were wrong and are slashed"
                             : oth_wrong ? " -- the other replica was wrong and is slashed (the accused was right)"
                                         : " -- the accused was wrong and is slashed (the other replica was right)";
        agent_log(a, "verdict on challenge %s (task %s, step %" PRIu64 "): %s%s; balance %s (%s since I started)", cid, tid,
                  c.step, ledger_challenge_status_name(c.status),
                  voided                           ? " -- the task cannot be run: voided, bond returned"
                  : c.status == LEDGER_CH_UPHELD   ? upheld
                  : c.status == LEDGER_CH_REJECTED ? " -- the accused was right; my bond is lost"
                                                   : " -- no verdict in time; bond returned",
                  bal, earned);
        (void)acc;
    }
    return 0;
}

static int verifier_round(verifier *v, char err[PLOW_ERR_LEN]) {
    agent *a = &v->a;
    if (!v->have_balance0) {
        /* earnings count from the verifier's first start (WORK/start_balance.txt) */
        char p[AGENT_PATH_MAX + 32];
        snprintf(p, sizeof p, "%s/start_balance.txt", a->work);
        FILE *f = fopen(p, "r");
        unsigned long long b0;
        if (f && fscanf(f, "%llu", &b0) == 1) {
            v->balance0 = b0;
        } else {
            ledger_account acct;
            if (f) fclose(f);
            f = NULL;
            if (agent_account(a, a->key.pk, &acct, err)) return -1;
            v->balance0 = acct.balance;
            char txt[32];
            snprintf(txt, sizeof txt, "%" PRIu64 "\n", acct.balance);
            if (plow_write_file(p, txt, strlen(txt), err)) return -1;
        }
        if (f) fclose(f);
        v->have_balance0 = true;
    }
    if (follow_verdicts(v, err)) return -1;
    uint64_t height;
    if (agent_height(a, &height, err)) return -1;
    static const int statuses[] = {LEDGER_TASK_COMMITTED, LEDGER_TASK_CHALLENGED, LEDGER_TASK_RESOLVED};
    for (size_t k = 0; k < sizeof statuses / sizeof statuses[0] && !agent_stop_requested(); k++) {
        ledger_task *ts = NULL;
        size_t n = 0;
        char q[64]; /* every task whose window is still open, however many others exist */
        snprintf(q, sizeof q, "status=%s&deadline_from=%" PRIu64, ledger_task_status_name(statuses[k]), height + 1);
        if (agent_list_tasks(a, q, &ts, &n, err)) return -1;
        int rc = 0;
        for (size_t i = 0; i < n && rc == 0 && !agent_stop_requested(); i++) {
            const ledger_task *t = &ts[i];
            if (t->window_end == 0 || height + 1 > t->window_end) continue; /* no window open */
            /* what job_verify and job_diverge can check (other kinds have their own rules) */
            const job_kind_facts *kf = job_kind_facts_ledger(t->p.kind);
            if (!kf || !kf->verifier_checks || agent_is_refused(a, t->id)) continue;
            ledger_task full;
            ledger_challenge *ch = NULL;
            size_t n_ch = 0;
            if (agent_task(a, t->id, &full, &ch, &n_ch, err)) {
                rc = -1;
                break;
            }
            if (full.p.mode == LEDGER_MODE_OPTIMISTIC) {
                for (int s = 0; s < full.p.replicas && s < LEDGER_MAX_REPLICAS && rc == 0; s++)
                    if (revealed(&full, s))
                        rc = check_optimistic(v, &full, s, ch, n_ch, height, err);
            } else {
                rc = check_replicated(v, &full, ch, n_ch, height, err);
            }
            free(ch);
        }
        free(ts);
        if (rc) return -1;
    }
    return 0;
}

int agent_verifier_run(const verifier_options *o, char err[PLOW_ERR_LEN]) {
    verifier *v = plow_calloc(1, sizeof *v);
    v->o = o;
    if (agent_open_on(&v->a, o->name, o->key, o->node, o->work, &o->chain, err)) {
        free(v);
        return -1;
    }
    agent *a = &v->a;
    load_watch(v);
    agent_log(a, "verifier %s starting: node %s, %d samples a slot, work dir %s%s", a->addr, a->node, o->samples,
              a->work, v->n_ch ? " (following earlier challenges)" : "");
    while (!agent_stop_requested()) {
        char e[PLOW_ERR_LEN];
        if (verifier_round(v, e)) {
            if (agent_stop_requested()) break;
            agent_fail(a, e);
            continue;
        }
        agent_ok(a);
        agent_sleep(o->poll_s);
    }
    agent_log(a, "stopped (%d checks, %d challenges upheld, %d rejected)", v->checked, v->upheld, v->rejected);
    agent_close(a);
    free(v);
    return 0;
}
