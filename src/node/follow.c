/*
 * follow.c — the follower: replays the sequencer's blocks over HTTP and
 * checks each one completely before committing it to its own store:
 *
 *   - the block extends our tip (height, prev hash) and its header hash is
 *     signed by the genesis operator;
 *   - every transaction decodes, has a valid signature, and re-executes to
 *     the result the sequencer claimed (an INVALID one should never be in a
 *     block);
 *   - the results hash, the tx root and the state root recomputed here equal
 *     the header's.
 *
 * Any difference stops the node loudly (node_run returns -1, node_diverged):
 * a follower never commits a block it could not reproduce. Network errors
 * and garbled answers are retried: they say nothing about the chain.
 */
#include "../base/plow.h"

#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <time.h>

#include "node_internal.h"

#define FOLLOW_BATCH 100
#define FOLLOW_BODY_MAX ((size_t)1 << 30)

typedef struct fetch_buf {
    plow_buf b;
    bool too_big;
} fetch_buf;

static size_t fetch_write(char *p, size_t size, size_t nmemb, void *arg) {
    fetch_buf *f = arg;
    size_t n = size * nmemb;
    if (f->b.len + n > FOLLOW_BODY_MAX) {
        f->too_big = true;
        return 0;
    }
    plow_buf_append(&f->b, p, n);
    return n;
}

/* GET url into out (2xx only). */
static int fetch(CURL *c, const char *url, plow_buf *out, char err[PLOW_ERR_LEN]) {
    fetch_buf f = {0};
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, fetch_write);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &f);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 10L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 120L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    CURLcode cc = curl_easy_perform(c);
    if (cc != CURLE_OK) {
        plow_buf_release(&f.b);
        if (f.too_big) return plow_error(err, "%s: answer larger than %zu bytes", url, FOLLOW_BODY_MAX);
        if (cc == CURLE_COULDNT_CONNECT) return plow_error(err, "cannot connect to %s: is the sequencer running?", url);
        return plow_error(err, "%s: %s", url, curl_easy_strerror(cc));
    }
    long code = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
    if (code < 200 || code > 299) {
        char msg[160] = "";
        cJSON *j = cJSON_ParseWithLength((const char *)f.b.data, f.b.len);
        const cJSON *e = j ? cJSON_GetObjectItemCaseSensitive(j, "error") : NULL;
        if (cJSON_IsString(e)) snprintf(msg, sizeof msg, ": %s", e->valuestring);
        cJSON_Delete(j);
        plow_buf_release(&f.b);
        return plow_error(err, "%s answered %ld%s", url, code, msg);
    }
    *out = f.b;
    return 0;
}

int node_follow_fetch_genesis(const char *url, plow_buf *out, char err[PLOW_ERR_LEN]) {
    curl_global_init(CURL_GLOBAL_DEFAULT);
    CURL *c = curl_easy_init();
    if (!c) return plow_error(err, "cannot start libcurl");
    char *u = plow_alloc(strlen(url) + 16);
    sprintf(u, "%s/v1/genesis", url);
    int rc = fetch(c, u, out, err);
    free(u);
    curl_easy_cleanup(c);
    if (rc != 0) return plow_error_prefix(err, "fetching the genesis");
    return 0;
}

static int hex_field(const cJSON *o, const char *key, uint8_t *out, size_t n, char err[PLOW_ERR_LEN]) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!cJSON_IsString(v) || strlen(v->valuestring) != 2 * n || plow_unhex(v->valuestring, out, n) != 0)
        return plow_error(err, "'%s' is not %zu bytes of hex", key, n);
    return 0;
}

static void sleep_or_stop(node *n, double seconds) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    long ns = ts.tv_nsec + (long)((seconds - (double)(long)seconds) * 1e9);
    ts.tv_sec += (time_t)seconds + ns / 1000000000L;
    ts.tv_nsec = ns % 1000000000L;
    pthread_mutex_lock(&n->ev_mu);
    if (!atomic_load(&n->stopping)) pthread_cond_timedwait(&n->ev_cond, &n->ev_mu, &ts);
    pthread_mutex_unlock(&n->ev_mu);
}

/* Signature checks of a block's transactions, split over two threads. */
typedef struct sigjob {
    const plow_buf *txs;
    size_t from, to;
    const uint8_t *chain_id;
    size_t bad; /* first index that failed, or SIZE_MAX */
} sigjob;

static void *sig_worker(void *arg) {
    sigjob *j = arg;
    ledger_tx *tx = plow_alloc(sizeof *tx);
    char e[PLOW_ERR_LEN];
    j->bad = SIZE_MAX;
    for (size_t i = j->from; i < j->to; i++) {
        if (ledger_tx_decode(tx, j->txs[i].data, j->txs[i].len, e) != 0 || !ledger_tx_verify(tx, j->chain_id)) {
            j->bad = i;
            break;
        }
    }
    free(tx);
    return NULL;
}

/* The header of the sequencer's block H: it decodes, extends our tip and is
 * signed by the chain's operator. */
static int follow_header(node *n, const cJSON *jb, const node_tip *tip, ledger_block *b, char err[PLOW_ERR_LEN]) {
    uint8_t hdr[LEDGER_BLOCK_HEADER_LEN];
    char why[PLOW_ERR_LEN];
    unsigned long long H = (unsigned long long)tip->height + 1;
    if (hex_field(jb, "header", hdr, sizeof hdr, why) != 0 || ledger_block_decode(&b->h, hdr, sizeof hdr, why) != 0 ||
        hex_field(jb, "sig", b->sig, sizeof b->sig, why) != 0)
        return plow_error(err, "the sequencer sent a malformed block %llu: %s", H, why);
    if (b->h.height != tip->height + 1)
        return plow_error(err, "the sequencer sent block %llu where block %llu was expected",
                          (unsigned long long)b->h.height, H);
    if (memcmp(b->h.prev, tip->hash, 32) != 0) {
        char p[65], o[65];
        plow_hex(b->h.prev, 32, p);
        plow_hex(tip->hash, 32, o);
        return plow_error(err,
                          "block %llu does not extend our block %llu (prev %.16s…, ours %.16s…): the sequencer rewrote its chain",
                          H, H - 1, p, o);
    }
    ledger_block_hash(&b->h, b->hash);
    if (!ledger_verify_sig(n->genesis.operator_pk, b->hash, 32, b->sig))
        return plow_error(err, "block %llu is not signed by the chain's operator", H);
    return 0;
}

/* The block's transactions from its JSON into b->txs (b->n_txs of them), and
 * the result the sequencer claims for each into claimed[] (0 ok, 1 failed,
 * -2 not said). The arrays are allocated for the header's count. */
static int follow_txs(const cJSON *jb, ledger_block *b, int8_t **claimed, char err[PLOW_ERR_LEN]) {
    unsigned long long H = (unsigned long long)b->h.height;
    const cJSON *jtxs = cJSON_GetObjectItemCaseSensitive(jb, "txs");
    int count = cJSON_IsArray(jtxs) ? cJSON_GetArraySize(jtxs) : -1;
    if (count < 0 || (uint32_t)count != b->h.n_txs)
        return plow_error(err, "block %llu: the header counts %u transactions, the block carries %d", H, b->h.n_txs,
                          count);
    b->txs = plow_calloc((size_t)count, sizeof *b->txs);
    b->results = plow_calloc((size_t)count, sizeof *b->results);
    b->errors = plow_calloc((size_t)count, sizeof *b->errors);
    *claimed = plow_calloc((size_t)count, 1);
    int i = 0;
    const cJSON *jt;
    cJSON_ArrayForEach(jt, jtxs) {
        const cJSON *hx = cJSON_GetObjectItemCaseSensitive(jt, "tx");
        size_t hl = cJSON_IsString(hx) ? strlen(hx->valuestring) : 0;
        if (!hl || hl % 2 || hl / 2 > LEDGER_TX_MAX)
            return plow_error(err, "block %llu, tx %d: 'tx' is not the hex of a transaction", H, i);
        plow_buf_append(&b->txs[i], hx->valuestring, hl / 2); /* room; overwritten below */
        b->n_txs = (uint32_t)i + 1; /* released by the caller from here on */
        if (plow_unhex(hx->valuestring, b->txs[i].data, hl / 2) != 0)
            return plow_error(err, "block %llu, tx %d: 'tx' is not hex", H, i);
        const char *res = json_get_str(jt, "result");
        (*claimed)[i] = res && strcmp(res, "failed") == 0 ? 1 : res && strcmp(res, "ok") == 0 ? 0 : -2;
        i++;
    }
    return 0;
}

/* Every transaction's signature, on two threads (the state machine then skips
 * them). */
static int follow_sigs(node *n, const ledger_block *b, char err[PLOW_ERR_LEN]) {
    unsigned long long H = (unsigned long long)b->h.height;
    size_t count = b->n_txs;
    sigjob jobs[2] = {{b->txs, 0, count / 2, n->genesis.chain_id, 0}, {b->txs, count / 2, count, n->genesis.chain_id, 0}};
    pthread_t th;
    bool threaded = count >= 64 && pthread_create(&th, NULL, sig_worker, &jobs[0]) == 0;
    if (!threaded) sig_worker(&jobs[0]);
    sig_worker(&jobs[1]);
    if (threaded) pthread_join(th, NULL);
    size_t bad = jobs[0].bad != SIZE_MAX ? jobs[0].bad : jobs[1].bad;
    if (bad == SIZE_MAX) return 0;
    char why[PLOW_ERR_LEN];
    ledger_tx *tx = plow_alloc(sizeof *tx);
    if (ledger_tx_decode(tx, b->txs[bad].data, b->txs[bad].len, why) != 0)
        plow_error(err, "block %llu, tx %zu does not decode: %s", H, bad, why);
    else
        plow_error(err, "block %llu, tx %zu has a bad signature: the sequencer included a forged transaction", H, bad);
    free(tx);
    return -1;
}

/* Applies the block's transactions (the caller holds the state lock), each
 * hash into hashes[], each result into b->results; a transaction the ledger
 * calls invalid, or a result other than the sequencer's, is divergence. */
static int follow_apply(node *n, ledger_block *b, const int8_t *claimed, uint8_t *hashes, char err[PLOW_ERR_LEN]) {
    unsigned long long H = (unsigned long long)b->h.height;
    char why[PLOW_ERR_LEN];
    int rc = -1;
    ledger_tx *tx = plow_alloc(sizeof *tx);
    if (ledger_begin_block(n->s, b->h.height, b->h.time_ms, why) != 0) {
        plow_error(err, "block %llu cannot start: %s", H, why);
        goto out;
    }
    for (uint32_t k = 0; k < b->n_txs; k++) {
        if (ledger_tx_decode(tx, b->txs[k].data, b->txs[k].len, why) != 0) { /* checked before */
            plow_error(err, "block %llu, tx %u does not decode: %s", H, k, why);
            goto out;
        }
        ledger_tx_hash(tx, hashes + 32 * k);
        char hh[65];
        plow_hex(hashes + 32 * k, 32, hh);
        ledger_tx_result r = ledger_apply_tx(n->s, tx, true, why);
        if (r == LEDGER_TX_INVALID) {
            plow_error(err, "block %llu, tx %u (%.16s…): the sequencer included an invalid transaction: %s", H, k, hh, why);
            goto out;
        }
        if (claimed[k] != -2 && claimed[k] != (int8_t)r) {
            plow_error(err, "tx result mismatch at height %llu, tx %u (%.16s…): sequencer %s, recomputed %s%s%s", H, k, hh,
                       claimed[k] ? "failed" : "ok", r ? "failed" : "ok", r ? ": " : "", r ? why : "");
            goto out;
        }
        b->results[k] = (int8_t)r;
        b->errors[k] = r == LEDGER_TX_FAILED ? plow_strdup(why) : NULL;
    }
    rc = 0;
out:
    free(tx);
    return rc;
}

/* One of the header's roots against ours. */
static int follow_root(const char *what, unsigned long long H, const uint8_t theirs[32], const uint8_t ours[32],
                       char err[PLOW_ERR_LEN]) {
    if (memcmp(theirs, ours, 32) == 0) return 0;
    char a[65], c[65];
    plow_hex(theirs, 32, a);
    plow_hex(ours, 32, c);
    return plow_error(err, "%s mismatch at height %llu: sequencer %s, recomputed %s", what, H, a, c);
}

/* Checks and commits one block. Returns 0, -1 (storage: fatal), or -2 (the
 * sequencer's block is wrong: diverged). */
static int follow_block(node *n, const cJSON *jb, char err[PLOW_ERR_LEN]) {
    ledger_block b = {0};
    uint8_t *hashes = NULL;
    int8_t *claimed = NULL;
    int rc = -2;
    bool locked = false;
    char why[PLOW_ERR_LEN];
    node_tip tip;
    node_tip_get(n, &tip);
    unsigned long long H = (unsigned long long)tip.height + 1;

    if (follow_header(n, jb, &tip, &b, err) != 0 || follow_txs(jb, &b, &claimed, err) != 0 ||
        follow_sigs(n, &b, err) != 0)
        goto out;
    hashes = plow_calloc(b.n_txs ? b.n_txs : 1, 32);
    pthread_rwlock_wrlock(&n->state_lock);
    locked = true;
    if (follow_apply(n, &b, claimed, hashes, err) != 0) goto out;
    uint8_t root[32], res[32], txr[32];
    ledger_end_block(n->s, root);
    node_results_hash(b.results, b.n_txs, res);
    node_tx_root(hashes, b.n_txs, txr);
    if (follow_root("results", H, b.h.results, res, err) != 0 || follow_root("tx root", H, b.h.tx_root, txr, err) != 0 ||
        follow_root("state root", H, b.h.state_root, root, err) != 0)
        goto out;
    if (store_commit_block(n->st, &b, n->s, NULL, 0, 0, why) != 0) {
        plow_error(err, "cannot commit block %llu: %s", H, why);
        rc = -1;
        goto out;
    }
    taskidx_update(&n->tasks, n->s);
    chainidx_note(n, b.h.height);
    ledger_clear_dirty(n->s);
    node_tip nt = {.height = b.h.height, .time_ms = b.h.time_ms};
    memcpy(nt.hash, b.hash, 32);
    memcpy(nt.state_root, b.h.state_root, 32);
    node_tip_set(n, &nt);
    rc = 0;
out:
    if (locked) pthread_rwlock_unlock(&n->state_lock);
    for (uint32_t k = 0; k < b.n_txs; k++) {
        plow_buf_release(&b.txs[k]);
        free(b.errors[k]);
    }
    free(b.txs);
    free(b.results);
    free(b.errors);
    free(claimed);
    free(hashes);
    return rc;
}

void *node_follow_main(void *arg) {
    node *n = arg;
    CURL *c = curl_easy_init();
    if (!c) {
        node_fail(n, "cannot start libcurl");
        return NULL;
    }
    char err[PLOW_ERR_LEN], last_err[PLOW_ERR_LEN] = "";
    size_t url_len = strlen(n->follow) + 64;
    char *url = plow_alloc(url_len);
    double poll_s = n->o.block_ms / 2000.0;
    if (poll_s > 0.5) poll_s = 0.5;
    while (!atomic_load(&n->stopping)) {
        node_tip tip;
        node_tip_get(n, &tip);
        snprintf(url, url_len, "%s/v1/blocks?from=%llu&limit=%d", n->follow, (unsigned long long)tip.height + 1,
                 FOLLOW_BATCH);
        plow_buf body = {0};
        if (fetch(c, url, &body, err) != 0) {
            if (strcmp(err, last_err) != 0) node_log_err(n, "%s (retrying)", err);
            snprintf(last_err, sizeof last_err, "%s", err);
            sleep_or_stop(n, 1.0);
            continue;
        }
        cJSON *j = cJSON_ParseWithLength((const char *)body.data, body.len);
        plow_buf_release(&body);
        const cJSON *blocks = j ? cJSON_GetObjectItemCaseSensitive(j, "blocks") : NULL;
        if (!cJSON_IsArray(blocks)) {
            snprintf(err, sizeof err, "%s: the answer is not {\"blocks\": [...]}", url);
            if (strcmp(err, last_err) != 0) node_log_err(n, "%s (retrying)", err);
            snprintf(last_err, sizeof last_err, "%s", err);
            cJSON_Delete(j);
            sleep_or_stop(n, 1.0);
            continue;
        }
        last_err[0] = 0;
        int got = 0, with_txs = 0;
        double t0 = plow_now();
        const cJSON *jb;
        cJSON_ArrayForEach(jb, blocks) {
            if (atomic_load(&n->stopping)) break;
            int r = follow_block(n, jb, err);
            if (r != 0) {
                node_log_err(n, "%s", err);
                if (r == -2) {
                    n->diverged = true;
                    node_fail(n, "%s", err);
                } else {
                    node_fail(n, "%s; restart the node (it recovers from its database)", err);
                }
                cJSON_Delete(j);
                free(url);
                curl_easy_cleanup(c);
                return NULL;
            }
            const cJSON *nt = cJSON_GetObjectItemCaseSensitive(jb, "txs");
            if (cJSON_GetArraySize(nt) > 0) with_txs++;
            got++;
        }
        cJSON_Delete(j);
        if (got && with_txs) {
            node_tip t;
            node_tip_get(n, &t);
            node_log(n, "followed %d blocks to height %llu in %.1f ms", got, (unsigned long long)t.height,
                     (plow_now() - t0) * 1e3);
        }
        if (got == 0) sleep_or_stop(n, poll_s); /* caught up (a short page may only be the size cap) */
    }
    free(url);
    curl_easy_cleanup(c);
    return NULL;
}
