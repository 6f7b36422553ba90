/*
 * upkeep.c — what keeps the blob store bounded and honest (issue 10,
 * finding 7; docs/node.md, "Blobs"):
 *
 *   - who may upload: node_blob_admit checks a PUT's signature (an account
 *     the ledger knows signed the chain id, hash, size and time), its quota
 *     ((balance + stake) x --blob-per-unit bytes, less what it stores and
 *     uploads already) and the disk (--disk-reserve bytes stay free for the
 *     ledger), before a byte of the body is read;
 *   - the upkeep thread: every --blob-gc-s seconds it re-hashes every blob
 *     (a damaged one is removed: a good upload puts it back) and collects
 *     the blobs nothing live references once --blob-retention-s passed since
 *     their upload and their last reference. Live references: every task
 *     not finalized or expired names its spec and, per slot, its revealed
 *     values (artifact, manifest, trace root, final state); every challenge
 *     of such a task its state blob and the blob it demands; and any blob so
 *     referenced that is JSON names further blobs by any 64-hex string in it
 *     (a spec's model and data, a manifest's checkpoints), followed to
 *     UPKEEP_DEPTH levels. Over-keeping is the only possible error. A node
 *     with --chain counts the indexed EVM tasks and challenges the same way.
 */
#include "../base/plow.h"

#include <errno.h>
#include <inttypes.h>
#include <sys/statvfs.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "node_internal.h"

#define UPKEEP_DEPTH 4
#define UPKEEP_JSON_MAX ((size_t)8 << 20) /* larger blobs are data, not lists of blobs */

/* ---- uploads --------------------------------------------------------------------- */

/* n->up_mu held. */
static uint64_t inflight_of(node *n, const uint8_t owner[32]) {
    const uint64_t *v = keytab_get(&n->up_owner, owner);
    return v ? *v : 0;
}

int node_blob_admit(node *n, const uint8_t hash[32], const char *content_length, const char *signer,
                    const char *time_s, const char *sig_hex, uint8_t owner[32], uint64_t *size, char err[PLOW_ERR_LEN]) {
    if (!content_length || !plow_parse_u64(content_length, size)) {
        plow_error(err, "an upload announces its size (Content-Length): the quota is checked before the bytes");
        return 411;
    }
    if (!signer || !time_s || !sig_hex) {
        plow_error(err, "uploads are signed by an account the ledger knows: send X-Plow-Signer, X-Plow-Time and "
                        "X-Plow-Sig (docs/api.md, \"Blob uploads\"; plow signs them for you)");
        return 401;
    }
    char e2[PLOW_ERR_LEN];
    uint64_t t;
    uint8_t sig[LEDGER_SIG_LEN];
    if (ledger_addr_parse(signer, owner, e2) != 0) {
        plow_error(err, "X-Plow-Signer: %s", e2);
        return 401;
    }
    if (!plow_parse_u64(time_s, &t)) {
        plow_error(err, "X-Plow-Time: expected milliseconds since 1970");
        return 401;
    }
    uint64_t now = node_now_ms();
    if ((t > now ? t - now : now - t) > CLIENT_BLOB_AUTH_WINDOW_MS) {
        plow_error(err, "X-Plow-Time is %" PRIu64 " ms from this node's clock (at most %d): check the clock", t > now ? t - now : now - t,
                   CLIENT_BLOB_AUTH_WINDOW_MS);
        return 401;
    }
    if (strlen(sig_hex) != 2 * LEDGER_SIG_LEN || plow_unhex(sig_hex, sig, sizeof sig) != 0) {
        plow_error(err, "X-Plow-Sig: expected %d hex digits", 2 * LEDGER_SIG_LEN);
        return 401;
    }
    uint8_t msg[CLIENT_BLOB_AUTH_LEN];
    client_blob_auth_msg(n->genesis.chain_id, hash, *size, t, msg);
    if (!ledger_verify_sig(owner, msg, sizeof msg, sig)) {
        plow_error(err, "bad upload signature: not %s's over this chain, blob, size and time", signer);
        return 401;
    }
    ledger_account a;
    pthread_rwlock_rdlock(&n->state_lock);
    bool known = ledger_get_account(n->s, owner, &a);
    pthread_rwlock_unlock(&n->state_lock);
    uint64_t holds = 0;
    if (known && !plow_add_u64(a.balance, a.stake, &holds)) holds = UINT64_MAX;
    if (!holds) {
        plow_error(err, "account %s holds nothing on this chain: only accounts with a balance or stake upload blobs",
                   signer);
        return 403;
    }
    bool present = blob_has(n->blobs, hash); /* the same bytes again: nothing new to store or charge */
    uint64_t quota;
    if (!plow_mul_u64(holds, n->o.blob_per_unit, &quota)) quota = UINT64_MAX;
    int status = 0;
    pthread_mutex_lock(&n->up_mu);
    uint64_t used = blob_usage(n->blobs, owner) + inflight_of(n, owner);
    if (!present && (used > quota || *size > quota - used)) {
        plow_error(err, "blob quota: account %s may store %" PRIu64 " bytes ((balance + stake) x %" PRIu64
                        "), holds %" PRIu64 "; this blob needs %" PRIu64 " more (stake more, or wait until "
                        "blobs no task uses are collected)",
                   signer, quota, n->o.blob_per_unit, used, *size);
        status = 402;
    }
    struct statvfs vfs;
    if (!status && !present && statvfs(n->data_dir, &vfs) == 0) {
        uint64_t avail = (uint64_t)vfs.f_bavail * (uint64_t)vfs.f_frsize;
        uint64_t need;
        if (!plow_add_u64(n->o.disk_reserve, *size, &need) || !plow_add_u64(need, n->up_total, &need)) need = UINT64_MAX;
        if (avail < need) {
            plow_error(err, "the node keeps %" PRIu64 " bytes of its disk free for the ledger: %" PRIu64
                            " are free, a blob of %" PRIu64 " does not fit",
                       n->o.disk_reserve, avail, *size);
            status = 507;
        }
    }
    if (!status && !present) {
        uint64_t *v = keytab_put(&n->up_owner, owner, NULL);
        *v += *size;
        n->up_total += *size;
    } else if (!status) {
        *size = 0; /* nothing reserved */
    }
    pthread_mutex_unlock(&n->up_mu);
    return status;
}

void node_blob_release(node *n, const uint8_t owner[32], uint64_t size) {
    if (!size) return;
    pthread_mutex_lock(&n->up_mu);
    uint64_t *v = keytab_get(&n->up_owner, owner);
    if (v) {
        *v = *v > size ? *v - size : 0;
        if (!*v) keytab_remove(&n->up_owner, owner);
    }
    n->up_total = n->up_total > size ? n->up_total - size : 0;
    pthread_mutex_unlock(&n->up_mu);
}

/* ---- references -------------------------------------------------------------------- */

typedef struct refs {
    keytab set; /* hash -> uint8_t depth */
    uint8_t *queue;
    size_t nq, capq;
} refs;

static void ref_add(refs *r, const uint8_t h[32], uint8_t depth) {
    static const uint8_t zero[32];
    if (memcmp(h, zero, 32) == 0) return;
    bool created = false;
    uint8_t *d = keytab_put(&r->set, h, &created);
    if (!created) return;
    *d = depth;
    if (r->nq == r->capq) {
        r->capq = r->capq ? 2 * r->capq : 256;
        r->queue = plow_realloc(r->queue, r->capq * 32);
    }
    memcpy(r->queue + 32 * r->nq++, h, 32);
}

static bool live(uint8_t status) { return status != LEDGER_TASK_FINALIZED && status != LEDGER_TASK_EXPIRED; }

static bool task_refs(const ledger_task *t, void *arg) {
    if (!live(t->status)) return true;
    refs *r = arg;
    ref_add(r, t->p.spec, 0);
    for (unsigned i = 0; i < t->p.replicas && i < LEDGER_MAX_REPLICAS; i++) {
        const ledger_slot *sl = &t->slots[i];
        ref_add(r, sl->artifact, 0);
        ref_add(r, sl->manifest, 0);
        ref_add(r, sl->trace_root, 0);
        ref_add(r, sl->final_state, 0);
    }
    return true;
}

typedef struct chal_ctx {
    refs *r;
    const ledger_state *s;
} chal_ctx;

static bool chal_refs(const ledger_challenge *c, void *arg) {
    chal_ctx *x = arg;
    ledger_task t;
    if (ledger_get_task(x->s, c->task, &t) && !live(t.status)) return true;
    ref_add(x->r, c->state_blob, 0);
    return true;
}

/* A challenge of a live EVM task (evmwatch_each gives only those). */
static bool chain_chal_refs(const ledger_challenge *c, void *arg) {
    ref_add(arg, c->state_blob, 0);
    return true;
}

/* Every 64-hex string inside a JSON blob: a reference one level deeper. */
static void scan_json(refs *r, const cJSON *j, uint8_t depth) {
    for (; j; j = j->next) {
        if (cJSON_IsString(j) && j->valuestring && strlen(j->valuestring) == 64) {
            uint8_t h[32];
            if (plow_unhex(j->valuestring, h, 32) == 0) ref_add(r, h, depth);
        }
        if (j->child) scan_json(r, j->child, depth);
    }
}

static bool is_ref(const uint8_t hash[32], void *arg) { return keytab_get(&((refs *)arg)->set, hash) != NULL; }

/* One pass: scrub, then collect. */
static void upkeep_pass(node *n) {
    char err[PLOW_ERR_LEN];
    size_t checked = 0, damaged = 0;
    if (blob_scrub(n->blobs, &checked, &damaged, err) != 0) node_log_err(n, "blob scrub: %s", err);
    if (damaged) node_log_err(n, "blob scrub: %zu of %zu blobs were damaged on disk and are removed (a good upload puts them back)", damaged, checked);

    refs r = {0};
    keytab_init(&r.set, 1);
    pthread_rwlock_rdlock(&n->state_lock);
    ledger_each_task(n->s, task_refs, &r);
    chal_ctx cx = {&r, n->s};
    ledger_each_challenge(n->s, chal_refs, &cx);
    pthread_rwlock_unlock(&n->state_lock);
    if (n->evm) evmwatch_each(n->evm, task_refs, chain_chal_refs, &r); /* an EVM task's blobs are pinned too */
    for (size_t i = 0; i < r.nq; i++) { /* the queue grows while we walk it */
        uint8_t h[32];
        memcpy(h, r.queue + 32 * i, 32);
        const uint8_t *d = keytab_get(&r.set, h);
        uint8_t depth = d ? *d : UPKEEP_DEPTH;
        if (depth >= UPKEEP_DEPTH || !blob_has(n->blobs, h)) continue;
        uint8_t *buf = NULL;
        size_t len = 0;
        int fd;
        uint64_t size;
        bool bad;
        if (blob_open_checked(n->blobs, h, &fd, &size, &bad, err) != 0) continue;
        close(fd);
        if (size > UPKEEP_JSON_MAX || blob_get(n->blobs, h, &buf, &len, err) != 0) continue;
        size_t k = 0;
        while (k < len && (buf[k] == ' ' || buf[k] == '\n' || buf[k] == '\t' || buf[k] == '\r')) k++;
        cJSON *j = k < len && (buf[k] == '{' || buf[k] == '[') ? cJSON_ParseWithLength((const char *)buf, len) : NULL;
        if (j) scan_json(&r, j, (uint8_t)(depth + 1));
        cJSON_Delete(j);
        free(buf);
    }
    size_t removed = 0;
    uint64_t bytes = 0;
    uint64_t ret_ms;
    if (!plow_mul_u64(n->o.blob_retention_s, 1000, &ret_ms)) ret_ms = UINT64_MAX;
    blob_collect(n->blobs, is_ref, &r, ret_ms, &removed, &bytes);
    if (removed)
        node_log(n, "blobs: collected %zu blobs (%" PRIu64 " bytes) no live task references, older than %" PRIu64 " s",
                 removed, bytes, n->o.blob_retention_s);
    keytab_release(&r.set);
    free(r.queue);
}

void *node_upkeep_main(void *arg) {
    node *n = arg;
    pthread_mutex_lock(&n->ev_mu);
    while (!atomic_load(&n->stopping)) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += n->o.blob_gc_s;
        while (!atomic_load(&n->stopping)) {
            if (pthread_cond_timedwait(&n->ev_cond, &n->ev_mu, &ts) == ETIMEDOUT) break;
        }
        if (atomic_load(&n->stopping)) break;
        pthread_mutex_unlock(&n->ev_mu);
        upkeep_pass(n);
        pthread_mutex_lock(&n->ev_mu);
    }
    pthread_mutex_unlock(&n->ev_mu);
    return NULL;
}
