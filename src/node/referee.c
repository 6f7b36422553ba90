/*
 * referee.c — the sequencer's referee: after each block, a verdict for every
 * open challenge not yet ruled on. The one step is re-executed by src/job
 * (job_referee) from blobs in the node's own store, in DATA/referee/<id>/;
 * the verdict is a VERDICT transaction signed with the operator key and
 * admitted like any other (so it is durable before it counts as submitted).
 *
 * A challenge without its state blob gets prev_ok = 0 (the challenger did not
 * supply the state it claimed: the ledger rejects the challenge). Any other
 * failure (spec or model blobs missing, a job error) is logged once and tried
 * again after the next block: the verdict deadline, not the referee, decides
 * when waiting ends.
 */
#include "../base/plow.h"

#include <ftw.h>
#include <stdio.h>
#include <time.h>

#include "../job/job.h"
#include "../tensor/tensor.h"
#include "node_internal.h"

#define SPEC_MAX ((size_t)1 << 20)

static int rb_get(void *ctx, const uint8_t hash[32], const char *path, char err[PLOW_ERR_LEN]) {
    node *n = ctx;
    return blob_get_file(n->blobs, hash, path, err);
}

static int rb_put(void *ctx, const char *path, uint8_t hash[32], char err[PLOW_ERR_LEN]) {
    node *n = ctx;
    return blob_put_file(n->blobs, path, hash, err);
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)sb;
    (void)flag;
    (void)ftw;
    remove(path);
    return 0;
}

static void rm_tree(const char *dir) { nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS); }

void node_referee_note_verdict(node *n, const ledger_tx *tx, const uint8_t hash[32]) {
    ruled_challenge *r = keytab_put(&n->ruled, tx->u.verdict.challenge, NULL);
    memcpy(r->verdict_tx, hash, 32);
}

/* Logs err for challenge c unless it is the error logged last time. */
static void log_once(node *n, ruled_challenge *r, const char *cid, const char *err) {
    uint8_t h[32];
    plow_sha256_once(err, strlen(err), h);
    if (memcmp(h, r->last_err, 32) == 0) return;
    memcpy(r->last_err, h, 32);
    node_log_err(n, "referee: challenge %.16s…: %s (trying again after the next block)", cid, err);
}

static void rule(node *n, const ledger_challenge *c) {
    static const uint8_t zero[32];
    char cid[65], err[PLOW_ERR_LEN];
    plow_hex(c->id, 32, cid);
    ruled_challenge *r = keytab_put(&n->ruled, c->id, NULL);
    if (memcmp(r->verdict_tx, zero, 32) != 0) {
        store_tx_status ts;
        if (node_store_tx_status(n, r->verdict_tx, &ts, err) != 0) memset(&ts, 0, sizeof ts);
        if (ts.where == 'p' || (ts.where == 'b' && ts.result == LEDGER_TX_OK)) return; /* in flight or done */
        node_log_err(n, "referee: the verdict on challenge %.16s… did not apply (%s): ruling again", cid,
                     ts.where == 'd' ? ts.error : ts.where == 'b' ? ts.error : "unknown transaction");
        memset(r->verdict_tx, 0, 32);
    }

    ledger_task task;
    pthread_rwlock_rdlock(&n->state_lock);
    bool have_task = ledger_get_task(n->s, c->task, &task);
    pthread_rwlock_unlock(&n->state_lock);
    if (!have_task) {
        log_once(n, r, cid, "its task is not in the ledger");
        return;
    }

    ledger_tx tx;
    memset(&tx, 0, sizeof tx);
    tx.type = LEDGER_TX_VERDICT;
    tx.fee = n->genesis.params.min_fee;
    memcpy(tx.u.verdict.challenge, c->id, 32);
    double t0 = plow_now();
    if (!blob_has(n->blobs, c->state_blob)) {
        tx.u.verdict.prev_ok = 0; /* computed stays zero: there was no state to run */
    } else {
        uint8_t *spec_bytes = NULL;
        size_t spec_n = 0;
        job_spec spec;
        if (blob_get(n->blobs, task.p.spec, &spec_bytes, &spec_n, err) != 0) {
            plow_error_prefix(err, "task spec");
            log_once(n, r, cid, err);
            return;
        }
        int prc = job_spec_parse(&spec, spec_bytes, spec_n, err);
        free(spec_bytes);
        if (prc != 0) {
            plow_error_prefix(err, "task spec");
            log_once(n, r, cid, err);
            return;
        }
        size_t dl = strlen(n->data_dir) + 100;
        char *dir = plow_alloc(dl);
        snprintf(dir, dl, "%s/referee/%s", n->data_dir, cid);
        rm_tree(dir);
        if (plow_mkdir_p(dir, err) != 0) {
            log_once(n, r, cid, err);
            free(dir);
            return;
        }
        /* a round without a participant: the accused's slot is its shard */
        for (int k = 0; k < task.p.replicas && k < LEDGER_MAX_REPLICAS; k++)
            if (memcmp(task.slots[k].worker, c->accused, LEDGER_PK_LEN) == 0) spec.slot = k;
        job_blobs jb = {.ctx = n, .get_file = rb_get, .put_file = rb_put};
        bool prev_ok = false;
        int jrc = job_referee(&spec, &jb, c, dir, tx.u.verdict.computed, &prev_ok, err);
        rm_tree(dir);
        free(dir);
        if (jrc != 0) {
            log_once(n, r, cid, err);
            return;
        }
        tx.u.verdict.prev_ok = prev_ok ? 1 : 0;
    }
    uint8_t hash[32];
    if (node_admit_own(n, &tx, hash, err) != 0) {
        log_once(n, r, cid, err);
        return;
    }
    memcpy(r->verdict_tx, hash, 32);
    char th[65], comp[65], tid[65];
    plow_hex(hash, 32, th);
    plow_hex(tx.u.verdict.computed, 32, comp);
    plow_hex(c->task, 32, tid);
    node_log(n, "verdict on challenge %.16s… (task %.16s…, step %llu): computed %.16s…, prev_ok %u, %.1f s -> tx %.16s…",
             cid, tid, (unsigned long long)c->step, comp, tx.u.verdict.prev_ok, plow_now() - t0, th);
}

typedef struct open_list {
    ledger_challenge *c;
    size_t n, cap;
} open_list;

static bool collect_open(const ledger_challenge *c, void *arg) {
    open_list *l = arg;
    if (c->status != LEDGER_CH_OPEN) return true;
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 8;
        l->c = plow_realloc(l->c, l->cap * sizeof *l->c);
    }
    l->c[l->n++] = *c;
    return true;
}

void *node_referee_main(void *arg) {
    node *n = arg;
    uint64_t seen = UINT64_MAX;
    while (!atomic_load(&n->stopping)) {
        pthread_mutex_lock(&n->ev_mu);
        while (!atomic_load(&n->stopping) && n->tip.height == seen) pthread_cond_wait(&n->ev_cond, &n->ev_mu);
        seen = n->tip.height;
        pthread_mutex_unlock(&n->ev_mu);
        if (atomic_load(&n->stopping)) break;
        open_list l = {0};
        pthread_rwlock_rdlock(&n->state_lock);
        ledger_each_challenge(n->s, collect_open, &l);
        pthread_rwlock_unlock(&n->state_lock);
        for (size_t i = 0; i < l.n && !atomic_load(&n->stopping); i++) rule(n, &l.c[i]);
        free(l.c);
        /* this thread is not one of the engine's pool: its scratch would
         * otherwise live (and grow) for as long as the node runs */
        tensor_scratch_release();
    }
    return NULL;
}
