/*
 * referee.c — the sequencer's referee: after each block, a verdict for every
 * open challenge not yet ruled on. The one step is re-executed by src/job
 * (job_referee) from blobs in the node's own store, in DATA/referee/<id>/;
 * the verdict is a VERDICT transaction signed with the operator key and
 * admitted like any other (so it is durable before it counts as submitted).
 *
 * Challenges are ruled in deadline order (the first to lapse first), the
 * open ones listed again after each block: a challenge opened later never
 * goes first, however many were listed before it. A
 * challenge without its state blob gets prev_ok = 0 (the challenger did not
 * supply the state it claimed: the ledger rejects the challenge). A data
 * challenge is answered from the store (rule_data): available, verdict 1;
 * not promised by the accused, 0; present but not what the commitment
 * promises (a checkpoint that is not its leaf's state, a config that does
 * not go with the artifact), or absent: no verdict, and the ledger slashes
 * the accused at the deadline. A task
 * that cannot be run within the network's limits (job_probe: its spec
 * absent or malformed, an input missing, a cost above JOB_LIMIT_*) is the
 * ruling LEDGER_RULING_UNRUNNABLE, decided before anything the spec sized is
 * built: a bomb is a ruling, not a crash. Any other failure (a job error, a
 * verdict not admitted) is logged once and tried again after 1, 2, 4 blocks,
 * then set aside; nothing is tried past the challenge's void height.
 */
#include "../base/plow.h"

#include <ftw.h>
#include <sys/stat.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#include "../job/job.h"
#include "../model/modelio.h"
#include "../proof/receipt.h"
#include "../tensor/tensor.h"
#include "node_internal.h"

#define REFEREE_TRIES 4 /* job runs for one verdict at most */

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

static int rb_size(void *ctx, const uint8_t hash[32], uint64_t *size, char err[PLOW_ERR_LEN]) {
    (void)err;
    node *n = ctx;
    char *p = blob_path(n->blobs, hash);
    struct stat sb;
    int rc = p && stat(p, &sb) == 0 ? 0 : 1;
    if (rc == 0) *size = (uint64_t)sb.st_size;
    free(p);
    return rc;
}

/* The node's blob store as the job layer reads and writes it. */
static job_blobs node_blobs(node *n) {
    return (job_blobs){.ctx = n, .get_file = rb_get, .put_file = rb_put, .size = rb_size};
}

/* The spec's cost against the network's limits (job_probe): 0 within them;
 * 1 not runnable within them (err says why); -1 on errors. */
static int probe_network(node *n, const job_spec *spec, const char *dir, bool whole_run, char err[PLOW_ERR_LEN]) {
    job_blobs jb = node_blobs(n);
    job_limits l;
    job_cost cost;
    job_limits_network(&l);
    return job_probe(spec, &jb, dir, &l, whole_run, &cost, err);
}

void node_referee_note_verdict(node *n, const ledger_tx *tx, const uint8_t hash[32]) {
    ruled_challenge *r = keytab_put(&n->ruled, tx->u.verdict.challenge, NULL);
    memcpy(r->verdict_tx, hash, 32);
}

/* Logs err for challenge c unless it is the error logged last time. */
static void log_once(node *n, ruled_challenge *r, const char *cid, const char *err, const char *then) {
    uint8_t h[32];
    plow_sha256_once(err, strlen(err), h);
    if (memcmp(h, r->last_err, 32) == 0) return;
    memcpy(r->last_err, h, 32);
    node_log_err(n, "referee: challenge %.16s…: %s (%s)", cid, err, then);
}

/* A verdict that could not be computed: tried again after 1, 2, 4...
 * blocks, at most REFEREE_TRIES times (a failing job is not re-run at
 * every block), then set aside: the challenge lapses at its void height. */
static void failed(node *n, ruled_challenge *r, const char *cid, const char *err, uint64_t height) {
    r->tries++;
    if (r->tries >= REFEREE_TRIES) {
        r->gave_up = true;
        log_once(n, r, cid, err, "given up: the challenge lapses at its deadline");
        return;
    }
    r->retry_at = height + ((uint64_t)1 << (r->tries - 1));
    log_once(n, r, cid, err, "trying again in a few blocks");
}

/* The task's spec from the store: 0; 1 when the poster's spec cannot be
 * used at all (absent, larger than any spec, malformed: the task is
 * unrunnable); -1 when it cannot be read now. */
static int load_spec(node *n, const ledger_task *task, job_spec *spec, char err[PLOW_ERR_LEN]) {
    uint64_t size;
    if (rb_size(n, task->p.spec, &size, err) != 0) return plow_error(err, "the task's spec is not in the blob store"), 1;
    if (size > JOB_SPEC_MAX)
        return plow_error(err, "the task's spec is %llu bytes, more than any spec (%d)", (unsigned long long)size,
                          JOB_SPEC_MAX), 1;
    uint8_t *bytes = NULL;
    size_t len = 0;
    if (blob_get(n->blobs, task->p.spec, &bytes, &len, err) != 0) return plow_error_prefix(err, "task spec"), -1;
    int rc = job_spec_parse(spec, bytes, len, err);
    free(bytes);
    if (rc != 0) return plow_error_prefix(err, "task spec"), 1;
    return 0;
}

/* DATA/referee/<challenge id>, emptied; NULL (err) if it cannot be made. */
static char *work_dir(node *n, const char *cid, char err[PLOW_ERR_LEN]) {
    size_t dl = strlen(n->data_dir) + 100;
    char *dir = plow_alloc(dl);
    snprintf(dir, dl, "%s/referee/%s", n->data_dir, cid);
    rm_tree(dir);
    if (plow_mkdir_p(dir, err) != 0) {
        free(dir);
        return NULL;
    }
    return dir;
}

/* Whether blob `hash` is in this node's store with bytes that hash to it
 * (a damaged copy is found, removed and logged: the accused uploads it
 * again). */
static bool available(node *n, const uint8_t hash[32]) {
    int fd;
    uint64_t size;
    bool damaged;
    char err[PLOW_ERR_LEN];
    if (blob_open_checked(n->blobs, hash, &fd, &size, &damaged, err) != 0) {
        if (damaged) node_log_err(n, "referee: %s", err);
        return false;
    }
    close(fd);
    return true;
}

/* The leaves slot sl revealed (its REVEAL in block revealed_at) written
 * where job_promised looks for them (job_leaves_path in dir). */
static int put_leaves(node *n, const ledger_task *task, const ledger_slot *sl, const char *dir,
                      char err[PLOW_ERR_LEN]) {
    ledger_block b;
    memset(&b, 0, sizeof b);
    if (sl->revealed_at == 0 || node_store_block(n, sl->revealed_at, &b, err) != 0)
        return plow_error(err, "the accused's reveal is not in the store");
    ledger_tx *rv = plow_calloc(1, sizeof *rv);
    int rc = plow_error(err, "block %llu holds no reveal of the accused", (unsigned long long)sl->revealed_at);
    for (uint32_t i = 0; i < b.n_txs; i++) {
        char e2[PLOW_ERR_LEN];
        if (b.results[i] != LEDGER_TX_OK || b.txs[i].len < 2 || b.txs[i].data[1] != LEDGER_TX_REVEAL) continue;
        if (ledger_tx_decode(rv, b.txs[i].data, b.txs[i].len, e2) != 0) continue;
        if (memcmp(rv->sender, sl->worker, 32) != 0 || memcmp(rv->u.open.task, task->id, 32) != 0 ||
            memcmp(rv->u.open.trace_root, sl->trace_root, 32) != 0)
            continue;
        char *p = job_leaves_path(dir, sl->trace_root);
        rc = plow_write_file(p, rv->u.open.leaves, (size_t)rv->u.open.count * 32, err);
        free(p);
        break;
    }
    free(rv);
    ledger_block_release(&b);
    return rc;
}

/* Whether the demanded blob, present, is what the accused's commitment
 * promises of it (job_promised: a checkpoint the state of its leaf, the
 * artifact's files the committed artifact, the manifest listing them). A
 * task that cannot be run within the network's limits is not opened (its
 * blobs count as kept). 0: kept; 1: broken (logged); -1 (err). */
static int kept_promise(node *n, const ledger_task *task, const ledger_slot *sl, const ledger_challenge *c,
                        const char *cid, char err[PLOW_ERR_LEN]) {
    job_spec spec;
    int src = load_spec(n, task, &spec, err);
    if (src != 0) return src < 0 ? -1 : 0;
    char *dir = work_dir(n, cid, err);
    if (!dir) return -1;
    job_blobs jb = node_blobs(n);
    bool kept = true;
    char why[PLOW_ERR_LEN];
    int rc = probe_network(n, &spec, dir, false, err);
    if (rc == 0) {
        for (int k = 0; k < task->p.replicas && k < LEDGER_MAX_REPLICAS; k++)
            if (&task->slots[k] == sl) spec.slot = k; /* a round's participant: the accused's shard */
        rc = put_leaves(n, task, sl, dir, err) || job_promised(&spec, &jb, sl, dir, c->state_blob, &kept, why, err)
                 ? -1
                 : 0;
    } else if (rc > 0) {
        rc = 0; /* the poster's task: not the accused's to answer for */
    }
    rm_tree(dir);
    free(dir);
    if (rc < 0) return -1;
    if (kept) return 0;
    node_log_err(n, "referee: data challenge %.16s…: the blob is not what the accused's commitment promises: %s "
                    "(no attestation: the accused is slashed at the deadline)",
                 cid, why);
    return 1;
}

/* The ruling of a data challenge (docs/ledger.md, "Data availability"):
 * the accused's revealed commitment promises its manifest and every file
 * the manifest lists. 0 with tx filled: available (prev_ok 1) or, the
 * manifest in hand, not a blob the accused promised (prev_ok 0): either
 * way the challenger loses its bond. 1: not available (yet): no verdict;
 * the accused has until the deadline, then the challenge lapses and the
 * accused is slashed (whoever must act and does not, loses). 2: present but
 * not what the commitment promises (kept_promise): no verdict ever (the
 * promised bytes can never arrive: the blob's name is its hash), the same
 * end at the deadline. */
static int rule_data(node *n, const ledger_task *task, const ledger_challenge *c, const char *cid,
                     char err[PLOW_ERR_LEN], ledger_tx *tx) {
    const ledger_slot *sl = NULL;
    for (int k = 0; k < task->p.replicas && k < LEDGER_MAX_REPLICAS; k++)
        if (memcmp(task->slots[k].worker, c->accused, LEDGER_PK_LEN) == 0) sl = &task->slots[k];
    if (!sl) return plow_error(err, "the accused holds no slot of the task"), -1;
    memcpy(tx->u.verdict.computed, c->state_blob, 32);
    bool promised = memcmp(c->state_blob, sl->manifest, 32) == 0;
    if (!promised) {
        /* a file of the manifest? known only once the manifest itself is here */
        uint64_t size;
        if (!available(n, sl->manifest) || rb_size(n, sl->manifest, &size, err) != 0)
            return plow_error(err, "waiting for the accused's manifest (it decides what was promised)"), 1;
        uint8_t *bytes = NULL;
        size_t len = 0;
        job_manifest m = {0};
        char e2[PLOW_ERR_LEN];
        if (size <= JOB_MANIFEST_MAX && blob_get(n->blobs, sl->manifest, &bytes, &len, e2) == 0 &&
            job_manifest_parse(&m, bytes, len, e2) == 0)
            for (size_t i = 0; i < m.n && !promised; i++) promised = memcmp(m.files[i].hash, c->state_blob, 32) == 0;
        job_manifest_release(&m);
        free(bytes);
        if (!promised) { /* an unreadable manifest promises nothing beyond itself */
            tx->u.verdict.prev_ok = 0;
            return 0;
        }
    }
    if (!available(n, c->state_blob))
        return plow_error(err, "waiting for the accused to upload the blob (until the deadline)"), 1;
    int krc = kept_promise(n, task, sl, c, cid, err);
    if (krc) return krc < 0 ? -1 : 2;
    tx->u.verdict.prev_ok = 1;
    return 0;
}

/* The ruling of a receipt claim (RECEIPT_FRAUD, docs/ledger.md): the
 * receipt blob must be the receipt the worker signed (its digest and the
 * worker's signature), the model and tokenizer blobs the ones it names; then
 * one teacher-forced prefill (receipt_verify) decides: a token that does not
 * re-derive is fraud (1). Anything else is the challenger's failure (0):
 * blobs missing or malformed, another receipt, another model, no wrong
 * token. An adapter's blob is not part of a claim: a receipt served with a
 * LoRA adapter is ruled 0 (docs/serve.md, not done). computed = the digest
 * of the receipt ruled on (zeros if it did not parse). */
static int rule_receipt(node *n, const ledger_challenge *c, const char *cid, ledger_tx *tx, char err[PLOW_ERR_LEN]) {
    tx->u.verdict.prev_ok = 0;
    memset(tx->u.verdict.computed, 0, 32);
    char *dir = work_dir(n, cid, err);
    if (!dir) return -1;
    size_t pl = strlen(dir) + 32;
    char *rp = plow_alloc(pl), *mp = plow_alloc(pl), *tp = plow_alloc(pl);
    snprintf(rp, pl, "%s/receipt.json", dir);
    snprintf(mp, pl, "%s/model.safetensors", dir);
    snprintf(tp, pl, "%s/tokenizer.bin", dir);
    receipt r = {0};
    model *m = NULL;
    tokenizer *tok = NULL;
    char why[PLOW_ERR_LEN];
    const char *ruling = why;
    if (!available(n, c->state_blob) || blob_get_file(n->blobs, c->state_blob, rp, why) ||
        receipt_load(&r, rp, why)) {
        ruling = "the receipt blob is missing or malformed";
    } else {
        uint8_t d[32];
        receipt_digest(&r, d);
        memcpy(tx->u.verdict.computed, d, 32);
        if (memcmp(d, c->task, 32) != 0 || !r.has_sig || memcmp(r.worker, c->accused, 32) != 0 || !receipt_sig_ok(&r))
            ruling = "the blob is not the receipt the worker signed";
        else if (r.has_lora)
            ruling = "a receipt served with an adapter cannot be claimed (no adapter blob)";
        else if (!available(n, c->leaf_prev) || !available(n, c->accused_leaf) ||
                 blob_get_file(n->blobs, c->leaf_prev, mp, why) || blob_get_file(n->blobs, c->accused_leaf, tp, why) ||
                 modelio_load_model(&m, mp, why) || tokenizer_load(&tok, tp, why))
            ruling = "the model or tokenizer blob is missing or malformed";
        else {
            receipt_check ck;
            if (receipt_verify(&r, m, NULL, tok, &ck, why) != 0) {
                ruling = why;
            } else if (!ck.valid && ck.bad_position >= 0) {
                tx->u.verdict.prev_ok = 1;
                snprintf(why, sizeof why, "fraud: %.200s", ck.reason);
            } else {
                snprintf(why, sizeof why, "%.200s", ck.reason);
            }
        }
    }
    node_log(n, "referee: receipt claim %.16s…: %s -> %u", cid, ruling, tx->u.verdict.prev_ok);
    receipt_release(&r);
    tokenizer_free(tok);
    model_free(m);
    rm_tree(dir);
    free(dir);
    free(rp);
    free(mp);
    free(tp);
    return 0;
}

/* The ruling of a step challenge: 0 with tx filled, -1 (err). */
static int rule_step(node *n, const ledger_task *task, const ledger_challenge *c, const char *cid, ledger_tx *tx,
                     char err[PLOW_ERR_LEN]) {
    /* the task first: an unrunnable task is the poster's, whatever the challenge holds */
    job_spec spec;
    int src = load_spec(n, task, &spec, err);
    if (src < 0) return -1;
    char *dir = src == 0 ? work_dir(n, cid, err) : NULL;
    if (src == 0 && !dir) return -1;
    job_blobs jb = node_blobs(n);
    if (src == 0) {
        src = probe_network(n, &spec, dir, false, err);
        if (src < 0) {
            rm_tree(dir);
            free(dir);
            return -1;
        }
    }
    if (src > 0) {
        node_log_err(n, "referee: challenge %.16s…: the task cannot be run within the network's limits: %s", cid, err);
        if (dir) rm_tree(dir);
        free(dir);
        tx->u.verdict.prev_ok = LEDGER_RULING_UNRUNNABLE;
        return 0;
    }
    if (!blob_has(n->blobs, c->state_blob)) {
        rm_tree(dir);
        free(dir);
        tx->u.verdict.prev_ok = 0; /* computed stays zero: there was no state to run */
        return 0;
    }
    /* a round without a participant: the accused's slot is its shard */
    for (int k = 0; k < task->p.replicas && k < LEDGER_MAX_REPLICAS; k++)
        if (memcmp(task->slots[k].worker, c->accused, LEDGER_PK_LEN) == 0) spec.slot = k;
    bool prev_ok = false;
    int jrc = job_referee(&spec, &jb, c, dir, tx->u.verdict.computed, &prev_ok, err);
    rm_tree(dir);
    free(dir);
    if (jrc < 0) return -1;
    if (jrc > 0) {
        /* a bomb is a ruling: the poster's task, not the accused's work */
        node_log_err(n, "referee: challenge %.16s…: the task cannot be run within the network's limits: %s", cid, err);
        memset(tx->u.verdict.computed, 0, 32);
        tx->u.verdict.prev_ok = LEDGER_RULING_UNRUNNABLE;
        return 0;
    }
    tx->u.verdict.prev_ok = prev_ok ? 1 : 0;
    return 0;
}

/* The ruling of an unrunnable claim (a claimant says the poster's task
 * cannot be run): the spec and its inputs probed against the network's
 * limits for the whole run. */
static int rule_unrunnable(node *n, const ledger_task *task, const char *cid, ledger_tx *tx, char err[PLOW_ERR_LEN]) {
    job_spec spec;
    int src = load_spec(n, task, &spec, err);
    if (src < 0) return -1;
    if (src == 0) {
        char *dir = work_dir(n, cid, err);
        if (!dir) return -1;
        src = probe_network(n, &spec, dir, true, err);
        rm_tree(dir);
        free(dir);
        if (src < 0) return -1;
    }
    if (src > 0) node_log_err(n, "referee: unrunnable claim %.16s… upheld: %s", cid, err);
    tx->u.verdict.prev_ok = src > 0 ? LEDGER_RULING_UNRUNNABLE : 1;
    return 0;
}

static void rule(node *n, const ledger_challenge *c, uint64_t height) {
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
        failed(n, r, cid, "the verdict did not apply", height);
        return;
    }
    if (r->gave_up || height < r->retry_at) return;
    /* a verdict past this height is refused: never computed, never retried */
    if (height >= ledger_challenge_void_at(&n->genesis.params, c)) {
        r->gave_up = true;
        log_once(n, r, cid, "its verdict deadline has passed", "not ruled: it lapses");
        return;
    }

    ledger_task task;
    memset(&task, 0, sizeof task);
    pthread_rwlock_rdlock(&n->state_lock);
    bool have_task = c->kind == LEDGER_CHK_RECEIPT || ledger_get_task(n->s, c->task, &task);
    pthread_rwlock_unlock(&n->state_lock);
    if (!have_task) {
        failed(n, r, cid, "its task is not in the ledger", height);
        return;
    }

    ledger_tx tx;
    memset(&tx, 0, sizeof tx);
    tx.type = LEDGER_TX_VERDICT;
    tx.fee = n->genesis.params.min_fee;
    memcpy(tx.u.verdict.challenge, c->id, 32);
    double t0 = plow_now();
    if (c->kind != LEDGER_CHK_DATA) { /* a data challenge is only a look in the blob store, after each block */
        r->computed++;
        node_log(n, "referee: ruling challenge %.16s… (computation %u, block %llu, void at %llu)", cid, r->computed,
                 (unsigned long long)height, (unsigned long long)ledger_challenge_void_at(&n->genesis.params, c));
    }
    int rc = c->kind == LEDGER_CHK_RECEIPT      ? rule_receipt(n, c, cid, &tx, err)
             : c->kind == LEDGER_CHK_UNRUNNABLE ? rule_unrunnable(n, &task, cid, &tx, err)
             : c->kind == LEDGER_CHK_DATA       ? rule_data(n, &task, c, cid, err, &tx)
                                                : rule_step(n, &task, c, cid, &tx, err);
    if (rc == 2) { /* a broken promise: never attested, never looked at again */
        r->gave_up = true;
        return;
    }
    if (rc > 0) { /* a data challenge the accused has yet to answer: looked at again after each block */
        log_once(n, r, cid, err, "no verdict yet");
        return;
    }
    if (rc != 0) {
        failed(n, r, cid, err, height);
        return;
    }
    uint8_t hash[32];
    if (node_admit_own(n, &tx, hash, err) != 0) {
        failed(n, r, cid, err, height);
        return;
    }
    memcpy(r->verdict_tx, hash, 32);
    char th[65], comp[65], tid[65];
    plow_hex(hash, 32, th);
    plow_hex(tx.u.verdict.computed, 32, comp);
    plow_hex(c->task, 32, tid);
    if (c->kind == LEDGER_CHK_DATA)
        node_log(n, "verdict on data challenge %.16s… (task %.16s…, blob %.16s…): %s -> tx %.16s…", cid, tid, comp,
                 tx.u.verdict.prev_ok ? "available" : "not promised by the accused", th);
    else
        node_log(n, "verdict on challenge %.16s… (task %.16s…, step %llu): computed %.16s…, prev_ok %u, %.1f s -> tx %.16s…",
                 cid, tid, (unsigned long long)c->step, comp, tx.u.verdict.prev_ok, plow_now() - t0, th);
}

typedef struct open_list {
    ledger_challenge *c;
    size_t n, cap;
    const ledger_params *p;
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

/* Rulings in deadline order (the one that lapses first, first), so a flood
 * of challenges opened later cannot push a valid one past its deadline
 * (the list is taken again after every block: node_referee_main); ties by
 * opening height, then id. */
static const ledger_params *sort_params;
static int by_deadline(const void *pa, const void *pb) {
    const ledger_challenge *a = pa, *b = pb;
    uint64_t da = ledger_challenge_void_at(sort_params, a), db = ledger_challenge_void_at(sort_params, b);
    if (da != db) return da < db ? -1 : 1;
    if (a->opened_at != b->opened_at) return a->opened_at < b->opened_at ? -1 : 1;
    return memcmp(a->id, b->id, 32);
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
        sort_params = &n->genesis.params; /* this thread's alone */
        if (l.n > 1) qsort(l.c, l.n, sizeof *l.c, by_deadline);
        for (size_t i = 0; i < l.n && !atomic_load(&n->stopping); i++) {
            rule(n, &l.c[i], seen);
            /* a block came meanwhile: the open challenges again, so one opened
             * in it with an earlier deadline never waits behind a long list
             * taken before it (a flood of costly challenges) */
            pthread_mutex_lock(&n->ev_mu);
            bool newer = n->tip.height != seen;
            pthread_mutex_unlock(&n->ev_mu);
            if (newer) break;
        }
        free(l.c);
        /* this thread is not one of the engine's pool: its scratch would
         * otherwise live (and grow) for as long as the node runs */
        tensor_scratch_release();
    }
    return NULL;
}
