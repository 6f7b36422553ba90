/*
 * http.c — the node's HTTP API (docs/api.md) on libmicrohttpd.
 *
 * Two halves:
 *   - the router (http_request_begin / _body / _end): method, path, query
 *     arguments and body in, an http_reply out. It knows nothing about
 *     sockets, so tests/fuzz/fuzz_api.c drives it directly with hostile input;
 *   - the glue to libmicrohttpd: one thread per connection (keep-alive), so a
 *     request waiting for the group commit or an event stream waiting for the
 *     next block blocks only its own thread.
 *
 * Bodies are bounded before they are buffered: a transaction 16 KB, a batch
 * 16 MB (413 beyond); a blob is never buffered: PUT streams into the blob
 * store (which checks the hash), GET streams from the file.
 */
#include "../base/plow.h"

#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <netdb.h>
#include <stdarg.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../evm/evm.h"
#include "../market/market.h"
#include "../client/listen.h"
#include "node_internal.h"
#include "www.h"

/* ---- replies ---------------------------------------------------------------------- */

static void reply_take_string(http_reply *out, unsigned status, char *s, const char *ctype) {
    out->status = status;
    out->ctype = ctype;
    out->body.data = (uint8_t *)s;
    out->body.len = strlen(s);
    out->body.cap = out->body.len + 1;
}

/* Takes j. */
static void reply_json(http_reply *out, unsigned status, cJSON *j) {
    char *s = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    PLOW_ASSERT(s);
    reply_take_string(out, status, s, "application/json");
}

static void reply_error(http_reply *out, unsigned status, const char *fmt, ...) PLOW_PRINTF(3, 4);
static void reply_error(http_reply *out, unsigned status, const char *fmt, ...) {
    char msg[PLOW_ERR_LEN + 64];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    plow_buf_release(&out->body);
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "error", msg);
    reply_json(out, status, j);
}

void http_reply_release(http_reply *r) {
    plow_buf_release(&r->body);
    if (r->fd >= 0) close(r->fd);
    r->fd = -1;
}

/* ---- parsing helpers ------------------------------------------------------------------ */


static bool parse_hash(const char *s, uint8_t out[32]) {
    return s && strlen(s) == 64 && plow_unhex(s, out, 32) == 0;
}

/* ---- the routes ------------------------------------------------------------------------ */

enum { M_GET = 1, M_POST = 2, M_PUT = 4 };

typedef void (*route_fn)(http_request *r, http_reply *out);

typedef struct route {
    const char *path;   /* exact path, or a prefix ending in '/' */
    bool prefix;        /* the rest of the path is one argument (no '/') */
    int methods;
    const char *allow;
    size_t body_max;    /* bytes buffered (POST); 0: the body is ignored */
    route_fn fn;
} route;

struct http_request {
    node *n;
    const route *rt;
    bool head;
    char *rest;          /* the argument after a prefix route */
    const char *(*arg)(void *ctx, const char *key);
    void *arg_ctx;
    bool has_last_id;
    uint64_t last_id;
    plow_buf body;       /* its capacity is charged to n->body_inflight */
    bool decided;        /* the reply is known (early) */
    http_reply early;
    /* PUT /v1/blob */
    blob_writer *bw;
    uint8_t blob_hash[32];
    uint64_t blob_size;
    uint8_t owner[32];   /* who signed the upload */
    uint64_t reserved;   /* announced bytes reserved (node_blob_release) */
    uint64_t announced;  /* Content-Length: the body may not exceed it */
};

static const char *arg(http_request *r, const char *key) { return r->arg ? r->arg(r->arg_ctx, key) : NULL; }

static void decide(http_request *r) { r->decided = true; }

/* GET /v1/status of a node indexing an EVM chain: the same fields, the
 * indexed block as height, and where the index stands. */
static void h_status_chain(http_request *r, http_reply *out) {
    evmwatch_status c;
    evmwatch_get_status(r->n->evm, &c);
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "chain", r->n->genesis.chain);
    json_add_hash(j, "chain_id", r->n->genesis.chain_id);
    json_add_u64(j, "height", c.indexed);
    json_add_u64(j, "time_ms", c.time_s * 1000);
    json_add_hash(j, "block_hash", c.hash);
    json_add_u64(j, "supply", c.held); /* the tokens the contract holds: accounts, escrows, bonds and the burned */
    json_add_u64(j, "burned", c.burned);
    json_add_u64(j, "holdings", c.held >= c.burned ? c.held - c.burned : 0);
    cJSON_AddStringToObject(j, "settlement", "evm");
    char a[43];
    eth_addr_checksum(c.plow, a);
    cJSON *e = cJSON_AddObjectToObject(j, "evm");
    json_add_u64(e, "chain_id", c.evm_chain_id);
    cJSON_AddStringToObject(e, "plow", a);
    json_add_u64(e, "indexed", c.indexed);
    json_add_u64(e, "confirmations", c.confirmations);
    json_add_u64(e, "tasks", c.tasks);
    json_add_u64(e, "challenges", c.challenges);
    json_add_u64(e, "reorgs", c.reorgs);
    reply_json(out, 200, j);
}

/* GET /v1/status */
static void h_status(http_request *r, http_reply *out) {
    node *n = r->n;
    if (n->evm) {
        h_status_chain(r, out);
        return;
    }
    node_tip t;
    pthread_rwlock_rdlock(&n->state_lock);
    node_tip_get(n, &t);
    uint64_t burned = ledger_state_burned(n->s), holdings = ledger_state_holdings(n->s);
    pthread_rwlock_unlock(&n->state_lock);
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "chain", n->genesis.chain);
    json_add_hash(j, "chain_id", n->genesis.chain_id);
    json_add_u64(j, "height", t.height);
    json_add_u64(j, "time_ms", t.time_ms);
    json_add_hash(j, "state_root", t.state_root);
    json_add_hash(j, "block_hash", t.hash);
    json_add_addr(j, "operator", n->genesis.operator_pk);
    json_add_u64(j, "supply", n->genesis.supply);
    json_add_u64(j, "burned", burned);
    json_add_u64(j, "holdings", holdings);
    json_add_u64(j, "mempool", node_mempool_size(n));
    cJSON_AddBoolToObject(j, "follower", n->follow != NULL);
    if (n->follow) cJSON_AddStringToObject(j, "follow", n->follow);
    reply_json(out, 200, j);
}

/* GET /v1/genesis: the bytes the chain id hashes. */
static void h_genesis(http_request *r, http_reply *out) {
    out->status = 200;
    out->ctype = "application/json";
    plow_buf_append(&out->body, r->n->genesis_bytes.data, r->n->genesis_bytes.len);
}

/* The body as a JSON object, or an error reply. */
static cJSON *body_object(http_request *r, http_reply *out) {
    cJSON *j = cJSON_ParseWithLength((const char *)r->body.data, r->body.len);
    if (!cJSON_IsObject(j)) {
        cJSON_Delete(j);
        reply_error(out, 400, "the body is not a JSON object");
        return NULL;
    }
    return j;
}

/* Hex of one encoded transaction into b; false with msg if it is not. */
static bool tx_hex(const cJSON *v, plow_buf *b, char msg[PLOW_ERR_LEN]) {
    if (!cJSON_IsString(v)) {
        snprintf(msg, PLOW_ERR_LEN, "a transaction must be a hex string");
        return false;
    }
    size_t hl = strlen(v->valuestring);
    if (hl == 0 || hl % 2) {
        snprintf(msg, PLOW_ERR_LEN, "a transaction must be an even, non-zero number of hex digits");
        return false;
    }
    if (hl / 2 > LEDGER_TX_MAX) {
        snprintf(msg, PLOW_ERR_LEN, "transaction of %zu bytes is larger than the limit (%d)", hl / 2, LEDGER_TX_MAX);
        return false;
    }
    b->len = 0;
    plow_buf_append(b, v->valuestring, hl / 2); /* room */
    if (plow_unhex(v->valuestring, b->data, hl / 2) != 0) {
        snprintf(msg, PLOW_ERR_LEN, "a transaction must be hex digits only");
        return false;
    }
    return true;
}

/* POST /v1/tx */
static void h_tx_post(http_request *r, http_reply *out) {
    cJSON *j = body_object(r, out);
    if (!j) return;
    char msg[PLOW_ERR_LEN];
    plow_buf b = {0};
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, "tx");
    if (!v) {
        reply_error(out, 400, "missing \"tx\": the body is {\"tx\": \"<hex of the signed transaction>\"}");
    } else if (!tx_hex(v, &b, msg)) {
        reply_error(out, 400, "%s", msg);
    } else {
        uint8_t h[32];
        int status = 400;
        if (node_admit(r->n, b.data, b.len, h, &status, msg) != 0) {
            reply_error(out, (unsigned)status, "%s", msg);
        } else {
            cJSON *o = cJSON_CreateObject();
            json_add_hash(o, "hash", h);
            cJSON_AddStringToObject(o, "status", "pending");
            reply_json(out, 202, o);
        }
    }
    plow_buf_release(&b);
    cJSON_Delete(j);
}

/* POST /v1/txs */
static void h_txs_post(http_request *r, http_reply *out) {
    cJSON *j = body_object(r, out);
    if (!j) return;
    const cJSON *arr = cJSON_GetObjectItemCaseSensitive(j, "txs");
    int count = cJSON_IsArray(arr) ? cJSON_GetArraySize(arr) : -1;
    if (count < 0) {
        reply_error(out, 400, "missing \"txs\": the body is {\"txs\": [\"<hex>\", ...]}");
        cJSON_Delete(j);
        return;
    }
    if (count > NODE_BATCH_MAX) {
        reply_error(out, 400, "%d transactions in one batch: at most %d", count, NODE_BATCH_MAX);
        cJSON_Delete(j);
        return;
    }
    size_t c = (size_t)count;
    plow_buf *bufs = plow_calloc(c, sizeof *bufs);
    size_t *map = plow_calloc(c, sizeof *map);
    uint8_t (*hashes)[32] = plow_calloc(c, 32);
    bool *ok = plow_calloc(c, sizeof *ok);
    int *codes = plow_calloc(c, sizeof *codes);
    char (*errs)[PLOW_ERR_LEN] = plow_calloc(c, PLOW_ERR_LEN);
    char (*hexerr)[PLOW_ERR_LEN] = plow_calloc(c, PLOW_ERR_LEN);
    size_t nv = 0, i = 0;
    const cJSON *v;
    cJSON_ArrayForEach(v, arr) {
        plow_buf b = {0};
        if (tx_hex(v, &b, hexerr[i])) {
            bufs[nv] = b;
            map[nv++] = i;
        } else {
            plow_buf_release(&b);
        }
        i++;
    }
    char msg[PLOW_ERR_LEN];
    int status = 400;
    if (node_admit_many(r->n, bufs, nv, hashes, ok, codes, errs, &status, msg) != 0) {
        reply_error(out, (unsigned)status, "%s", msg);
    } else {
        cJSON *o = cJSON_CreateObject();
        cJSON *res = cJSON_AddArrayToObject(o, "results");
        size_t k = 0;
        for (i = 0; i < c; i++) {
            cJSON *e = cJSON_CreateObject();
            if (k < nv && map[k] == i) {
                if (ok[k]) {
                    json_add_hash(e, "hash", hashes[k]);
                    cJSON_AddStringToObject(e, "status", "pending");
                } else {
                    cJSON_AddStringToObject(e, "error", errs[k]);
                    cJSON_AddNumberToObject(e, "code", codes[k]);
                }
                k++;
            } else {
                cJSON_AddStringToObject(e, "error", hexerr[i]);
                cJSON_AddNumberToObject(e, "code", 400);
            }
            cJSON_AddItemToArray(res, e);
        }
        reply_json(out, 200, o);
    }
    for (i = 0; i < nv; i++) plow_buf_release(&bufs[i]);
    free(bufs);
    free(map);
    free(hashes);
    free(ok);
    free(codes);
    free(errs);
    free(hexerr);
    cJSON_Delete(j);
}

/* GET /v1/tx/HASH */
static void h_tx_get(http_request *r, http_reply *out) {
    uint8_t h[32];
    if (!parse_hash(r->rest, h)) {
        reply_error(out, 400, "'%.80s' is not a transaction hash (64 hex digits)", r->rest);
        return;
    }
    store_tx_status ts;
    char err[PLOW_ERR_LEN];
    if (node_store_tx_status(r->n, h, &ts, err) != 0) {
        reply_error(out, 500, "%s", err);
        return;
    }
    if (ts.where != 'p' && ts.where != 'b' && ts.where != 'd') {
        reply_error(out, 404, "unknown transaction %s", r->rest);
        return;
    }
    cJSON *o = cJSON_CreateObject();
    json_add_hash(o, "hash", h);
    if (ts.where == 'p') {
        cJSON_AddStringToObject(o, "status", "pending");
    } else if (ts.where == 'b') {
        cJSON_AddStringToObject(o, "status", ts.result == LEDGER_TX_OK ? "included" : "failed");
        json_add_u64(o, "height", ts.height);
        json_add_u64(o, "index", ts.index);
        if (ts.result != LEDGER_TX_OK) cJSON_AddStringToObject(o, "error", ts.error);
    } else {
        cJSON_AddStringToObject(o, "status", "dropped");
        cJSON_AddStringToObject(o, "error", ts.error);
    }
    reply_json(out, 200, o);
}

/* GET /v1/blocks?from=H&limit=N */
static void h_blocks(http_request *r, http_reply *out) {
    uint64_t from = 1, limit = 100;
    const char *a = arg(r, "from");
    if (a && !plow_parse_u64(a, &from)) {
        reply_error(out, 400, "from=%.40s: expected a height", a);
        return;
    }
    a = arg(r, "limit");
    if (a && (!plow_parse_u64(a, &limit) || limit < 1 || limit > 1000)) {
        reply_error(out, 400, "limit=%.40s: expected 1..1000", a);
        return;
    }
    if (from == 0) from = 1;
    node_tip t;
    node_tip_get(r->n, &t);
    cJSON *o = cJSON_CreateObject();
    cJSON *arr = cJSON_AddArrayToObject(o, "blocks");
    uint64_t txs = 0;
    char err[PLOW_ERR_LEN];
    for (uint64_t h = from; h <= t.height && h - from < limit && txs < NODE_BLOCKS_TX_BUDGET; h++) {
        ledger_block b = {0};
        if (node_store_block(r->n, h, &b, err) != 0) {
            cJSON_Delete(o);
            reply_error(out, 500, "block %llu: %s", (unsigned long long)h, err);
            return;
        }
        cJSON_AddItemToArray(arr, json_block_to(&b, true));
        txs += b.n_txs;
        ledger_block_release(&b);
    }
    reply_json(out, 200, o);
}

/* GET /v1/block/H, /v1/block/latest */
static void h_block(http_request *r, http_reply *out) {
    node_tip t;
    node_tip_get(r->n, &t);
    uint64_t h;
    if (strcmp(r->rest, "latest") == 0) {
        h = t.height;
        if (h == 0) {
            reply_error(out, 404, "no blocks yet");
            return;
        }
    } else if (parse_hash(r->rest, (uint8_t[32]){0})) { /* a block hash, through the explorer's index */
        uint8_t bh[32];
        parse_hash(r->rest, bh);
        h = chainidx_block_by_hash(r->n, bh);
        if (h == 0) {
            reply_error(out, 404, "no block with hash %s", r->rest);
            return;
        }
    } else if (!plow_parse_u64(r->rest, &h)) {
        reply_error(out, 400, "'%.80s' is not a height, a block hash or 'latest'", r->rest);
        return;
    }
    if (h == 0 || h > t.height) {
        reply_error(out, 404, "no block %llu (the chain is at height %llu)", (unsigned long long)h,
                    (unsigned long long)t.height);
        return;
    }
    ledger_block b = {0};
    char err[PLOW_ERR_LEN];
    if (node_store_block(r->n, h, &b, err) != 0) {
        reply_error(out, 500, "block %llu: %s", (unsigned long long)h, err);
        return;
    }
    reply_json(out, 200, json_block_to(&b, true));
    ledger_block_release(&b);
}

/* GET /v1/account/ADDR */
static void h_account(http_request *r, http_reply *out) {
    uint8_t pk[32] = {0};
    char err[PLOW_ERR_LEN];
    bool evm_addr = r->n->evm && strncmp(r->rest, "0x", 2) == 0; /* a chain node takes 0x addresses too */
    if (evm_addr ? eth_addr_parse(r->rest, pk, err) != 0 : ledger_addr_parse(r->rest, pk, err) != 0) {
        reply_error(out, 400, "%s", err);
        return;
    }
    ledger_account a;
    node *n = r->n;
    if (n->evm) { /* the contract's account at the indexed block */
        if (evmwatch_account(n->evm, pk, &a, err) != 0) {
            reply_error(out, strstr(err, "not an EVM account") ? 400 : 502, "%s", err);
            return;
        }
        reply_json(out, 200, json_account_to(&a, 0));
        return;
    }
    pthread_rwlock_rdlock(&n->state_lock);
    if (!ledger_get_account(n->s, pk, &a)) {
        memset(&a, 0, sizeof a);
        memcpy(a.pk, pk, 32);
    }
    pthread_mutex_lock(&n->adm_mu);
    uint64_t next = node_next_nonce(n, pk, a.nonce);
    pthread_mutex_unlock(&n->adm_mu);
    pthread_rwlock_unlock(&n->state_lock);
    reply_json(out, 200, json_account_to(&a, next));
}

static const char *req_arg(void *ctx, const char *key) { return arg(ctx, key); }

/* GET /v1/tasks?status=S[,S...]&kind=K&min_reward=&max_reward=&deadline_from=H&addr=A&limit=N&cursor=C
 * From the task index (taskidx.c), never under state_lock; "next" when the
 * listing goes on (pass it back as cursor). */
static void h_tasks(http_request *r, http_reply *out) {
    taskq q;
    char err[PLOW_ERR_LEN];
    if (taskq_parse(&q, req_arg, r, err) != 0) {
        reply_error(out, 400, "%s", err);
        return;
    }
    ledger_task *ts = NULL;
    bool more = false;
    char next[TASKQ_CURSOR_LEN];
    taskidx *ti = r->n->evm ? evmwatch_tasks(r->n->evm) : &r->n->tasks;
    size_t got = taskidx_page(ti, &q, TASKIDX_SCAN_MAX, &ts, &more, next);
    cJSON *o = cJSON_CreateObject();
    cJSON *arr = cJSON_AddArrayToObject(o, "tasks");
    for (size_t i = 0; i < got; i++) cJSON_AddItemToArray(arr, json_task_to(&ts[i]));
    free(ts);
    if (more) cJSON_AddStringToObject(o, "next", next);
    reply_json(out, 200, o);
}

typedef struct ch_list {
    const uint8_t *task;
    ledger_challenge *c;
    size_t n, cap;
} ch_list;

static bool collect_ch(const ledger_challenge *c, void *arg) {
    ch_list *l = arg;
    if (memcmp(c->task, l->task, 32) != 0) return true;
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 8;
        l->c = plow_realloc(l->c, l->cap * sizeof *l->c);
    }
    l->c[l->n++] = *c;
    return true;
}

/* GET /v1/task/ID */
static void h_task(http_request *r, http_reply *out) {
    uint8_t id[32];
    if (!parse_hash(r->rest, id)) {
        reply_error(out, 400, "'%.80s' is not a task id (64 hex digits)", r->rest);
        return;
    }
    ledger_task t;
    ch_list l = {.task = id};
    bool found;
    if (r->n->evm) {
        found = evmwatch_task(r->n->evm, id, &t, &l.c, &l.n);
    } else {
        pthread_rwlock_rdlock(&r->n->state_lock);
        found = ledger_get_task(r->n->s, id, &t);
        if (found) ledger_each_challenge(r->n->s, collect_ch, &l);
        pthread_rwlock_unlock(&r->n->state_lock);
    }
    if (!found) {
        reply_error(out, 404, "no task %s", r->rest);
        return;
    }
    cJSON *o = json_task_to(&t);
    cJSON *arr = cJSON_AddArrayToObject(o, "challenges");
    for (size_t i = 0; i < l.n; i++) cJSON_AddItemToArray(arr, json_challenge_to(&l.c[i]));
    free(l.c);
    reply_json(out, 200, o);
}

/* GET /v1/challenge/ID */
static void h_challenge(http_request *r, http_reply *out) {
    uint8_t id[32];
    if (!parse_hash(r->rest, id)) {
        reply_error(out, 400, "'%.80s' is not a challenge id (64 hex digits)", r->rest);
        return;
    }
    ledger_challenge c;
    bool found;
    if (r->n->evm) {
        found = evmwatch_challenge(r->n->evm, id, &c);
    } else {
        pthread_rwlock_rdlock(&r->n->state_lock);
        found = ledger_get_challenge(r->n->s, id, &c);
        pthread_rwlock_unlock(&r->n->state_lock);
    }
    if (!found) {
        reply_error(out, 404, "no challenge %s", r->rest);
        return;
    }
    reply_json(out, 200, json_challenge_to(&c));
}

/* GET /v1/channel/ID: a payment channel (docs/ledger.md, "Payment channels") */
static void h_channel(http_request *r, http_reply *out) {
    uint8_t id[32];
    if (!parse_hash(r->rest, id)) {
        reply_error(out, 400, "'%.80s' is not a channel id (64 hex digits)", r->rest);
        return;
    }
    ledger_channel h;
    pthread_rwlock_rdlock(&r->n->state_lock);
    bool found = ledger_get_channel(r->n->s, id, &h);
    uint64_t height = ledger_state_height(r->n->s);
    pthread_rwlock_unlock(&r->n->state_lock);
    if (!found) {
        reply_error(out, 404, "no channel %s", r->rest);
        return;
    }
    cJSON *j = cJSON_CreateObject();
    json_add_hash(j, "id", h.id);
    json_add_addr(j, "client", h.client);
    json_add_addr(j, "worker", h.worker);
    json_add_u64(j, "deposit", h.deposit);
    json_add_u64(j, "redeemed", h.redeemed);
    json_add_u64(j, "dispute_blocks", h.dispute_blocks);
    cJSON_AddStringToObject(j, "status", ledger_channel_status_name(h.status));
    json_add_u64(j, "opened_at", h.opened_at);
    json_add_u64(j, "close_at", h.close_at);
    json_add_u64(j, "height", height);
    reply_json(out, 200, j);
}

/* GET/HEAD/PUT /v1/blob/HASH (PUT: the body was streamed by http_request_body) */
static void h_blob(http_request *r, http_reply *out) {
    char err[PLOW_ERR_LEN];
    if (r->bw) { /* PUT: finish the upload */
        blob_writer *w = r->bw;
        r->bw = NULL;
        if (blob_write_finish(w, err) != 0) {
            reply_error(out, 400, "%s", err);
            return;
        }
        cJSON *o = cJSON_CreateObject();
        json_add_hash(o, "hash", r->blob_hash);
        json_add_u64(o, "size", r->blob_size);
        reply_json(out, 201, o);
        return;
    }
    uint8_t h[32];
    PLOW_ASSERT(parse_hash(r->rest, h)); /* checked at begin */
    if (r->head) { /* HEAD: is it there and its size (a damaged one is found when read) */
        uint64_t sz = 0;
        char *p = blob_size(r->n->blobs, h, &sz) ? blob_path(r->n->blobs, h) : NULL;
        int hfd = p ? open(p, O_RDONLY | O_CLOEXEC) : -1;
        free(p);
        if (hfd < 0) {
            reply_error(out, 404, "no blob %s", r->rest);
            return;
        }
        /* a stream of the indexed size: libmicrohttpd sends its Content-Length
         * and, for a HEAD, never reads it */
        out->status = 200;
        out->ctype = "application/octet-stream";
        out->fd = hfd;
        out->fd_size = sz;
        memcpy(out->fd_hash, h, 32);
        return;
    }
    int fd;
    uint64_t size;
    bool damaged;
    if (blob_open_checked(r->n->blobs, h, &fd, &size, &damaged, err) != 0) {
        if (damaged) node_log_err(r->n, "%s", err);
        reply_error(out, 404, "%s", err);
        return;
    }
    out->status = 200;
    out->ctype = "application/octet-stream";
    out->fd = fd;
    out->fd_size = size;
    memcpy(out->fd_hash, h, 32);
}

/* GET /v1/events */
static void h_events(http_request *r, http_reply *out) {
    node_tip t;
    node_tip_get(r->n, &t);
    uint64_t from = t.height + 1;
    const char *a = arg(r, "from");
    if (r->has_last_id) {
        from = r->last_id + 1;
    } else if (a) {
        if (!plow_parse_u64(a, &from)) {
            reply_error(out, 400, "from=%.40s: expected a height", a);
            return;
        }
        if (from == 0) from = 1;
    }
    if (from == 0) from = 1; /* Last-Event-ID: 2^64-1 wraps */
    out->status = 200;
    out->ctype = "text/event-stream";
    out->sse = true;
    out->sse_from = from;
}

/* ---- the explorer's endpoints (docs/api.md, "Explorer") --------------------------- */

/* limit=N (1..max, default def) into *limit; false with the reply made. */
static bool arg_limit(http_request *r, http_reply *out, uint32_t def, uint32_t max, uint32_t *limit) {
    uint64_t v = def;
    const char *a = arg(r, "limit");
    if (a && (!plow_parse_u64(a, &v) || v < 1 || v > max)) {
        reply_error(out, 400, "limit=%.40s: expected 1..%u", a, max);
        return false;
    }
    *limit = (uint32_t)v;
    return true;
}

/* GET /v1/stats: the overview's figures */
static void h_stats(http_request *r, http_reply *out) {
    node *n = r->n;
    node_tip t;
    pthread_rwlock_rdlock(&n->state_lock);
    node_tip_get(n, &t);
    uint64_t burned = ledger_state_burned(n->s);
    pthread_rwlock_unlock(&n->state_lock);
    uint64_t by_status[LEDGER_TASK_STATUS_END] = {0}, total = 0;
    pthread_rwlock_rdlock(&n->tasks.lock);
    for (size_t i = 0; i < n->tasks.n; i++)
        if (n->tasks.e[i].status < LEDGER_TASK_STATUS_END) by_status[n->tasks.e[i].status]++;
    total = n->tasks.n;
    pthread_rwlock_unlock(&n->tasks.lock);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "chain", n->genesis.chain);
    json_add_u64(o, "height", t.height);
    json_add_u64(o, "time_ms", t.time_ms);
    json_add_u64(o, "supply", n->genesis.supply);
    json_add_u64(o, "burned", burned);
    json_add_u64(o, "mempool", node_mempool_size(n));
    json_add_u64(o, "tasks", total);
    cJSON *bs = cJSON_AddObjectToObject(o, "tasks_by_status");
    for (int s = 1; s < LEDGER_TASK_STATUS_END; s++) json_add_u64(bs, ledger_task_status_name(s), by_status[s]);
    int status = 500;
    char err[PLOW_ERR_LEN];
    if (chainidx_stats(n, o, &status, err) != 0) {
        cJSON_Delete(o);
        reply_error(out, (unsigned)status, "%s", err);
        return;
    }
    reply_json(out, 200, o);
}

/* GET /v1/history/ADDR?limit=N&cursor=H */
static void h_history(http_request *r, http_reply *out) {
    uint8_t pk[32];
    char err[PLOW_ERR_LEN];
    if (ledger_addr_parse(r->rest, pk, err) != 0) {
        reply_error(out, 400, "%s", err);
        return;
    }
    uint32_t limit;
    if (!arg_limit(r, out, 50, 500, &limit)) return;
    uint64_t before = UINT64_MAX;
    const char *a = arg(r, "cursor");
    if (a && !plow_parse_u64(a, &before)) {
        reply_error(out, 400, "cursor=%.40s: expected the \"next\" of a previous page (a height)", a);
        return;
    }
    cJSON *o;
    int status = 500;
    if (chainidx_history(r->n, pk, before, limit, &o, &status, err) != 0) {
        reply_error(out, (unsigned)status, "%s", err);
        return;
    }
    reply_json(out, 200, o);
}

/* GET /v1/timeline/ID */
static void h_timeline(http_request *r, http_reply *out) {
    uint8_t id[32];
    if (!parse_hash(r->rest, id)) {
        reply_error(out, 400, "'%.80s' is not a task id (64 hex digits)", r->rest);
        return;
    }
    cJSON *o;
    int status = 500;
    char err[PLOW_ERR_LEN];
    if (chainidx_timeline(r->n, id, &o, &status, err) != 0) {
        reply_error(out, (unsigned)status, "%s", err);
        return;
    }
    if (cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(o, "events")) == 0) {
        pthread_rwlock_rdlock(&r->n->state_lock);
        ledger_task t;
        bool found = ledger_get_task(r->n->s, id, &t);
        pthread_rwlock_unlock(&r->n->state_lock);
        if (!found) {
            cJSON_Delete(o);
            reply_error(out, 404, "no task %s", r->rest);
            return;
        }
    }
    reply_json(out, 200, o);
}

/* GET /v1/agents?limit=N&cursor=C */
static void h_agents(http_request *r, http_reply *out) {
    uint32_t limit;
    if (!arg_limit(r, out, 100, 500, &limit)) return;
    const char *a = arg(r, "cursor");
    uint64_t since = 0;
    uint8_t addr[32];
    bool has = false;
    if (a) {
        const char *dot = strchr(a, '.');
        char num[24];
        size_t l = dot ? (size_t)(dot - a) : 0;
        if (!dot || l == 0 || l >= sizeof num || !parse_hash(dot + 1, addr)) {
            reply_error(out, 400, "cursor=%.40s: expected the \"next\" of a previous page", a);
            return;
        }
        memcpy(num, a, l);
        num[l] = 0;
        if (!plow_parse_u64(num, &since)) {
            reply_error(out, 400, "cursor=%.40s: expected the \"next\" of a previous page", a);
            return;
        }
        has = true;
    }
    cJSON *o;
    int status = 500;
    char err[PLOW_ERR_LEN];
    if (chainidx_agents(r->n, since, has ? addr : NULL, limit, &o, &status, err) != 0) {
        reply_error(out, (unsigned)status, "%s", err);
        return;
    }
    reply_json(out, 200, o);
}

/* GET /v1/slotlog/ID?slot=S */
static void h_slotlog(http_request *r, http_reply *out) {
    uint8_t id[32];
    if (!parse_hash(r->rest, id)) {
        reply_error(out, 400, "'%.80s' is not a task id (64 hex digits)", r->rest);
        return;
    }
    uint64_t slot = 0;
    const char *a = arg(r, "slot");
    if (a && (!plow_parse_u64(a, &slot) || slot >= LEDGER_MAX_REPLICAS)) {
        reply_error(out, 400, "slot=%.40s: expected 0..%d", a, LEDGER_MAX_REPLICAS - 1);
        return;
    }
    cJSON *o;
    int status = 500;
    char err[PLOW_ERR_LEN];
    if (explorer_slotlog(r->n, id, (uint32_t)slot, &o, &status, err) != 0) {
        reply_error(out, (unsigned)status, "%s", err);
        return;
    }
    reply_json(out, 200, o);
}

/* GET /v1/labeling/ID */
static void h_labeling(http_request *r, http_reply *out) {
    uint8_t id[32];
    if (!parse_hash(r->rest, id)) {
        reply_error(out, 400, "'%.80s' is not a task id (64 hex digits)", r->rest);
        return;
    }
    char *js;
    int status = 500;
    char err[PLOW_ERR_LEN];
    if (explorer_labeling(r->n, id, &js, &status, err) != 0) {
        reply_error(out, (unsigned)status, "%s", err);
        return;
    }
    reply_take_string(out, 200, js, "application/json");
}

/* GET /v1/search/HASH: what a 64-hex string names on this chain (the
 * explorer's search box): {"kind": "task"|"challenge"|"tx"|"block"|null};
 * a task id is its post's transaction hash, a challenge id its challenge's,
 * so those win over "tx". */
static void h_search(http_request *r, http_reply *out) {
    uint8_t h[32];
    if (!parse_hash(r->rest, h)) {
        reply_error(out, 400, "'%.80s' is not a hash (64 hex digits)", r->rest);
        return;
    }
    ledger_task t;
    ledger_challenge c;
    pthread_rwlock_rdlock(&r->n->state_lock);
    bool task = ledger_get_task(r->n->s, h, &t), ch = !task && ledger_get_challenge(r->n->s, h, &c);
    pthread_rwlock_unlock(&r->n->state_lock);
    const char *kind = task ? "task" : ch ? "challenge" : NULL;
    char err[PLOW_ERR_LEN];
    if (!kind) {
        store_tx_status ts;
        if (node_store_tx_status(r->n, h, &ts, err) != 0) {
            reply_error(out, 500, "%s", err);
            return;
        }
        if (ts.where == 'p' || ts.where == 'b' || ts.where == 'd') kind = "tx";
        else if (chainidx_block_by_hash(r->n, h)) kind = "block";
    }
    cJSON *o = cJSON_CreateObject();
    if (kind) cJSON_AddStringToObject(o, "kind", kind);
    else cJSON_AddNullToObject(o, "kind");
    reply_json(out, 200, o);
}

/* The market (market.c): GET /v1/directory, POST /v1/mail, GET /v1/mail/ADDR */
static void market_reply(http_reply *out, int rc, cJSON *o, int status, const char *err) {
    if (rc != 0) reply_error(out, (unsigned)status, "%s", err);
    else reply_json(out, (unsigned)status, o);
}

static void h_directory(http_request *r, http_reply *out) {
    cJSON *o;
    int status;
    char err[PLOW_ERR_LEN];
    int rc = node_directory(r->n, req_arg, r, &o, &status, err);
    market_reply(out, rc, o, status, err);
}

static void h_mail_post(http_request *r, http_reply *out) {
    cJSON *o;
    int status;
    char err[PLOW_ERR_LEN];
    int rc = node_mail_post(r->n, r->body.data, r->body.len, &o, &status, err);
    market_reply(out, rc, o, status, err);
}

static void h_mail_get(http_request *r, http_reply *out) {
    cJSON *o;
    int status;
    char err[PLOW_ERR_LEN];
    int rc = node_mail_get(r->n, r->rest, req_arg, r, &o, &status, err);
    market_reply(out, rc, o, status, err);
}

static const route routes[] = {
    {"/v1/status", false, M_GET, "GET, HEAD", 0, h_status},
    {"/v1/genesis", false, M_GET, "GET, HEAD", 0, h_genesis},
    {"/v1/tx", false, M_POST, "POST", NODE_TX_BODY_MAX, h_tx_post},
    {"/v1/txs", false, M_POST, "POST", NODE_BATCH_BODY_MAX, h_txs_post},
    {"/v1/tx/", true, M_GET, "GET, HEAD", 0, h_tx_get},
    {"/v1/blocks", false, M_GET, "GET, HEAD", 0, h_blocks},
    {"/v1/block/", true, M_GET, "GET, HEAD", 0, h_block},
    {"/v1/account/", true, M_GET, "GET, HEAD", 0, h_account},
    {"/v1/tasks", false, M_GET, "GET, HEAD", 0, h_tasks},
    {"/v1/task/", true, M_GET, "GET, HEAD", 0, h_task},
    {"/v1/challenge/", true, M_GET, "GET, HEAD", 0, h_challenge},
    {"/v1/channel/", true, M_GET, "GET, HEAD", 0, h_channel},
    {"/v1/blob/", true, M_GET | M_PUT, "GET, HEAD, PUT", 0, h_blob},
    {"/v1/events", false, M_GET, "GET", 0, h_events},
    {"/v1/stats", false, M_GET, "GET, HEAD", 0, h_stats},
    {"/v1/history/", true, M_GET, "GET, HEAD", 0, h_history},
    {"/v1/timeline/", true, M_GET, "GET, HEAD", 0, h_timeline},
    {"/v1/agents", false, M_GET, "GET, HEAD", 0, h_agents},
    {"/v1/slotlog/", true, M_GET, "GET, HEAD", 0, h_slotlog},
    {"/v1/labeling/", true, M_GET, "GET, HEAD", 0, h_labeling},
    {"/v1/search/", true, M_GET, "GET, HEAD", 0, h_search},
    {"/v1/directory", false, M_GET, "GET, HEAD", 0, h_directory},
    {"/v1/mail", false, M_POST, "POST", MAIL_TEXT_MAX, h_mail_post},
    {"/v1/mail/", true, M_GET, "GET", 0, h_mail_get},
};
enum { N_ROUTES = sizeof routes / sizeof routes[0] };
_Static_assert(N_ROUTES == 24, "docs/api.md lists 24 paths: keep the table and the doc together");

/* ---- the router ------------------------------------------------------------------------ */

/* Large buffered bodies (a batch, up to 16 MB) are bounded together: a
 * request's buffer grows only by what the node's budget
 * (NODE_BODY_INFLIGHT_MAX) still holds, so many clients sending large bodies
 * slowly cannot grow the node past it. A body of one transaction (at most
 * NODE_TX_BODY_MAX) is outside the budget, so those keep being served: the
 * connection limits bound them. */
static bool body_grow(http_request *r, size_t cap) {
    if (cap <= r->body.cap) return true;
    if (r->rt->body_max <= NODE_TX_BODY_MAX) { /* small bodies (one transaction) never wait for the big ones */
        r->body.data = plow_realloc(r->body.data, cap);
        r->body.cap = cap;
        return true;
    }
    size_t add = cap - r->body.cap, cur = atomic_load(&r->n->body_inflight);
    do {
        if (cur > NODE_BODY_INFLIGHT_MAX || add > NODE_BODY_INFLIGHT_MAX - cur) return false;
    } while (!atomic_compare_exchange_weak(&r->n->body_inflight, &cur, cur + add));
    r->body.data = plow_realloc(r->body.data, cap);
    r->body.cap = cap;
    return true;
}

static void body_drop(http_request *r) {
    if (r->rt && r->rt->body_max > NODE_TX_BODY_MAX) atomic_fetch_sub(&r->n->body_inflight, r->body.cap);
    plow_buf_release(&r->body);
}

static void body_busy(http_request *r) {
    body_drop(r);
    reply_error(&r->early, 503, "the node is receiving too many large request bodies (%zu MiB at once): retry later",
                NODE_BODY_INFLIGHT_MAX >> 20);
    decide(r);
}

static void begin_blob_put(http_request *r, const char *(*hdr)(void *ctx, const char *name), void *hdr_ctx) {
    node *n = r->n;
    const char *content_length = hdr ? hdr(hdr_ctx, "Content-Length") : NULL;
    if (n->follow) {
        reply_error(&r->early, 403, "this node follows %s: upload blobs there", n->follow);
        decide(r);
        return;
    }
    if (!parse_hash(r->rest, r->blob_hash)) {
        reply_error(&r->early, 400, "'%.80s' is not a blob hash (64 hex digits)", r->rest);
        decide(r);
        return;
    }
    uint64_t cl = 0;
    if (content_length && plow_parse_u64(content_length, &cl) && cl > n->o.max_blob) {
        reply_error(&r->early, 413, "a blob of %llu bytes is larger than this node's limit (%llu)",
                    (unsigned long long)cl, (unsigned long long)n->o.max_blob);
        decide(r);
        return;
    }
    char err[PLOW_ERR_LEN];
    uint64_t size = 0;
    int refused = node_blob_admit(n, r->blob_hash, content_length, hdr ? hdr(hdr_ctx, "X-Plow-Signer") : NULL,
                                  hdr ? hdr(hdr_ctx, "X-Plow-Time") : NULL, hdr ? hdr(hdr_ctx, "X-Plow-Sig") : NULL,
                                  r->owner, &size, err);
    if (refused) {
        reply_error(&r->early, (unsigned)refused, "%s", err);
        decide(r);
        return;
    }
    r->reserved = size;
    r->announced = cl;
    if (blob_write_begin(n->blobs, r->blob_hash, &r->bw, err) != 0) {
        r->bw = NULL;
        reply_error(&r->early, 500, "%s", err);
        decide(r);
        return;
    }
    blob_writer_set_owner(r->bw, r->owner);
}

/* The explorer's files (www.h) outside /v1/: GET and HEAD of an exact name,
 * 304 when If-None-Match holds its ETag; anything else 404 (405 for other
 * methods on a file). The bytes are the binary's own: never copied, never
 * read from disk. */
static void begin_static(http_request *r, const char *path, int m, const char *method, const char *if_none) {
    const www_file *f = www_find(path);
    decide(r);
    if (!f) {
        reply_error(&r->early, 404, "no such page: %.100s (the explorer is at /, the API under /v1/)", path);
        return;
    }
    if (m != M_GET) {
        reply_error(&r->early, 405, "%.16s is not allowed on %.100s (allowed: GET, HEAD)", method, path);
        r->early.allow = "GET, HEAD";
        return;
    }
    const char *etag = www_etag(f);
    r->early.www = true;
    r->early.etag = etag;
    if (if_none && (strcmp(if_none, etag) == 0 || strcmp(if_none, "*") == 0)) {
        r->early.status = 304;
        return;
    }
    r->early.status = 200;
    r->early.ctype = www_ctype(f);
    r->early.cdata = f->data;
    r->early.clen = f->size;
}

typedef struct two_headers {
    const char *last_event_id, *content_length;
} two_headers;

static const char *two_hdr(void *ctx, const char *name) {
    const two_headers *h = ctx;
    if (strcasecmp(name, "Last-Event-ID") == 0) return h->last_event_id;
    if (strcasecmp(name, "Content-Length") == 0) return h->content_length;
    return NULL;
}

http_request *http_request_begin(node *n, const char *method, const char *path,
                                 const char *(*argfn)(void *ctx, const char *key), void *arg_ctx,
                                 const char *last_event_id, const char *content_length) {
    two_headers h = {last_event_id, content_length};
    return http_request_begin_h(n, method, path, argfn, arg_ctx, two_hdr, &h);
}

http_request *http_request_begin_h(node *n, const char *method, const char *path,
                                   const char *(*argfn)(void *ctx, const char *key), void *arg_ctx,
                                   const char *(*hdr)(void *ctx, const char *name), void *hdr_ctx) {
    const char *last_event_id = hdr(hdr_ctx, "Last-Event-ID");
    const char *content_length = hdr(hdr_ctx, "Content-Length");
    http_request *r = plow_calloc(1, sizeof *r);
    r->n = n;
    r->arg = argfn;
    r->arg_ctx = arg_ctx;
    r->early.fd = -1;
    if (!method) method = "";
    if (!path) path = "";
    int m = 0;
    if (strcmp(method, "GET") == 0) m = M_GET;
    else if (strcmp(method, "HEAD") == 0) m = M_GET, r->head = true;
    else if (strcmp(method, "POST") == 0) m = M_POST;
    else if (strcmp(method, "PUT") == 0) m = M_PUT;

    const route *rt = NULL;
    for (int i = 0; i < N_ROUTES && !rt; i++) {
        const route *c = &routes[i];
        size_t pl = strlen(c->path);
        if (!c->prefix) {
            if (strcmp(path, c->path) == 0) rt = c;
        } else if (strncmp(path, c->path, pl) == 0 && path[pl] && !strchr(path + pl, '/')) {
            rt = c;
            r->rest = plow_strdup(path + pl);
        }
    }
    if (!rt && strncmp(path, "/v1/", 4) != 0 && strcmp(path, "/v1") != 0) {
        begin_static(r, path, m, method, hdr(hdr_ctx, "If-None-Match"));
        return r;
    }
    if (!rt) {
        reply_error(&r->early, 404, "no such endpoint: %.100s (see docs/api.md)", path);
        decide(r);
        return r;
    }
    if (!(rt->methods & m)) {
        reply_error(&r->early, 405, "%.16s is not allowed on %.100s (allowed: %s)", method, path, rt->allow);
        r->early.allow = rt->allow;
        decide(r);
        return r;
    }
    r->rt = rt;
    if (last_event_id && plow_parse_u64(last_event_id, &r->last_id)) r->has_last_id = true;
    if (m == M_PUT) {
        begin_blob_put(r, hdr, hdr_ctx);
    } else if (m == M_GET && rt->fn == h_blob && !parse_hash(r->rest, (uint8_t[32]){0})) {
        reply_error(&r->early, 400, "'%.80s' is not a blob hash (64 hex digits)", r->rest);
        decide(r);
    } else if (rt->body_max) {
        uint64_t cl;
        if (content_length && plow_parse_u64(content_length, &cl) && cl > rt->body_max) {
            reply_error(&r->early, 413, "a body of %llu bytes is larger than the limit of %s (%zu bytes)",
                        (unsigned long long)cl, rt->path, rt->body_max);
            decide(r);
        } else if (content_length && plow_parse_u64(content_length, &cl) && cl > 0 && !body_grow(r, (size_t)cl)) {
            body_busy(r); /* announced: refused before a byte of it is read */
        }
    }
    return r;
}

void http_request_body(http_request *r, const uint8_t *data, size_t len) {
    if (r->decided || !r->rt || !len) return;
    char err[PLOW_ERR_LEN];
    if (r->bw) {
        if (r->blob_size + len > r->announced) {
            blob_write_abort(r->bw);
            r->bw = NULL;
            reply_error(&r->early, 400, "the blob is longer than its Content-Length (%llu bytes)",
                        (unsigned long long)r->announced);
            decide(r);
            return;
        }
        if (r->blob_size + len > r->n->o.max_blob) {
            blob_write_abort(r->bw);
            r->bw = NULL;
            reply_error(&r->early, 413, "the blob is larger than this node's limit (%llu bytes)",
                        (unsigned long long)r->n->o.max_blob);
            decide(r);
            return;
        }
        r->blob_size += len;
        if (blob_write(r->bw, data, len, err) != 0) {
            blob_write_abort(r->bw);
            r->bw = NULL;
            reply_error(&r->early, 500, "%s", err);
            decide(r);
            return;
        }
        return;
    }
    if (!r->rt->body_max) return; /* bodies of GET requests are ignored */
    if (r->body.len + len > r->rt->body_max) {
        body_drop(r);
        reply_error(&r->early, 413, "the body is larger than the limit of %s (%zu bytes)", r->rt->path,
                    r->rt->body_max);
        decide(r);
        return;
    }
    size_t need = r->body.len + len;
    if (need > r->body.cap) {
        size_t cap = r->body.cap < 4096 ? 4096 : r->body.cap * 2;
        if (cap < need) cap = need;
        if (cap > r->rt->body_max) cap = r->rt->body_max;
        if (!body_grow(r, cap)) {
            body_busy(r);
            return;
        }
    }
    plow_buf_append(&r->body, data, len);
}

void http_request_end(http_request *r, http_reply *out) {
    memset(out, 0, sizeof *out);
    out->fd = -1;
    if (r->decided) {
        *out = r->early;
        memset(&r->early, 0, sizeof r->early);
        r->early.fd = -1;
        return;
    }
    r->rt->fn(r, out);
}

void http_request_free(http_request *r) {
    if (!r) return;
    if (r->bw) blob_write_abort(r->bw);
    node_blob_release(r->n, r->owner, r->reserved);
    http_reply_release(&r->early);
    body_drop(r);
    free(r->rest);
    free(r);
}

/* ---- server-sent events ------------------------------------------------------------- */

typedef struct sse_ctx {
    node *n;
    uint64_t next;
    plow_buf out;
    size_t off;
    double end; /* plow_now() when the stream ends (--sse-max-s) */
} sse_ctx;

static void sse_event(plow_buf *b, const char *event, cJSON *data, uint64_t id, bool with_id) {
    char *s = cJSON_PrintUnformatted(data);
    cJSON_Delete(data);
    plow_buf_printf(b, "event: %s\n", event);
    if (with_id) plow_buf_printf(b, "id: %llu\n", (unsigned long long)id);
    plow_buf_printf(b, "data: %s\n\n", s);
    free(s);
}

/* The events of one block: "block", then one "tx" per transaction; the last
 * one carries the id (the height), so a client that reconnects with
 * Last-Event-ID never misses the rest of a block. */
static void sse_block(plow_buf *out, const ledger_block *b) {
    cJSON *d = cJSON_CreateObject();
    json_add_u64(d, "height", b->h.height);
    json_add_hash(d, "hash", b->hash);
    cJSON_AddNumberToObject(d, "n_txs", b->n_txs);
    sse_event(out, "block", d, b->h.height, b->n_txs == 0);
    ledger_tx *tx = plow_alloc(sizeof *tx);
    char err[PLOW_ERR_LEN];
    for (uint32_t i = 0; i < b->n_txs; i++) {
        d = cJSON_CreateObject();
        if (ledger_tx_decode(tx, b->txs[i].data, b->txs[i].len, err) == 0) {
            uint8_t h[32];
            ledger_tx_hash(tx, h);
            json_add_hash(d, "hash", h);
            cJSON_AddStringToObject(d, "type", ledger_tx_type_name(tx->type));
            json_add_addr(d, "sender", tx->sender);
            cJSON_AddStringToObject(d, "result", b->results[i] == LEDGER_TX_OK ? "ok" : "failed");
            const uint8_t *task = NULL;
            switch (tx->type) {
            case LEDGER_TX_POST_TASK: task = h; break;
            case LEDGER_TX_CLAIM:
            case LEDGER_TX_FINALIZE:
            case LEDGER_TX_EXPIRE: task = tx->u.ref.task; break;
            case LEDGER_TX_COMMIT: task = tx->u.commit.task; break;
            case LEDGER_TX_CHALLENGE: task = tx->u.challenge.task; break;
            case LEDGER_TX_DA_CHALLENGE: task = tx->u.da.task; break;
            case LEDGER_TX_REVEAL: task = tx->u.open.task; break;
            case LEDGER_TX_VERDICT: json_add_hash(d, "challenge", tx->u.verdict.challenge); break;
            default: break;
            }
            if (task) json_add_hash(d, "task", task);
        }
        sse_event(out, "tx", d, b->h.height, i + 1 == b->n_txs);
    }
    free(tx);
}

static ssize_t sse_read(void *cls, uint64_t pos, char *buf, size_t max) {
    (void)pos;
    sse_ctx *c = cls;
    node *n = c->n;
    while (c->off == c->out.len) {
        c->out.len = c->off = 0;
        double left = c->end - plow_now();
        if (left <= 0) return MHD_CONTENT_READER_END_OF_STREAM; /* the client resumes with Last-Event-ID */
        pthread_mutex_lock(&n->ev_mu);
        if (n->tip.height < c->next && !atomic_load(&n->stopping)) {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            double w = left < 15 ? left : 15;
            long ns = ts.tv_nsec + (long)((w - (double)(long)w) * 1e9);
            ts.tv_sec += (time_t)w + ns / 1000000000L;
            ts.tv_nsec = ns % 1000000000L;
            pthread_cond_timedwait(&n->ev_cond, &n->ev_mu, &ts);
        }
        bool stop = atomic_load(&n->stopping);
        bool ready = n->tip.height >= c->next;
        pthread_mutex_unlock(&n->ev_mu);
        if (stop) return MHD_CONTENT_READER_END_OF_STREAM;
        if (!ready) {
            plow_buf_printf(&c->out, ": keep-alive\n\n");
            break;
        }
        ledger_block b = {0};
        char err[PLOW_ERR_LEN];
        if (node_store_block(n, c->next, &b, err) != 0) return MHD_CONTENT_READER_END_WITH_ERROR;
        sse_block(&c->out, &b);
        ledger_block_release(&b);
        c->next++;
    }
    size_t k = c->out.len - c->off;
    if (k > max) k = max;
    memcpy(buf, c->out.data + c->off, k);
    c->off += k;
    return (ssize_t)k;
}

static void sse_free(void *cls) {
    sse_ctx *c = cls;
    plow_buf_release(&c->out);
    free(c);
}

/* ---- the connection guard ------------------------------------------------------------ *
 * Every connection is registered (MHD_OPTION_NOTIFY_CONNECTION) with the phase
 * it is in, and a watchdog thread cuts (shutdown(2); libmicrohttpd then closes
 * it) those past a deadline:
 *   WAIT  from the connection's start, or the end of its previous request:
 *         the next request's headers must be complete within NODE_HEADER_MS
 *         (an idle socket, a slowloris sending a byte every few seconds);
 *   BODY  no progress for NODE_BODY_STALL_MS, or less than NODE_BODY_MIN_RATE
 *         bytes/s on average once NODE_HEADER_MS have passed;
 *   BUSY  the handler runs or the reply is being sent: not cut here
 *         (libmicrohttpd's inactivity timeout closes a reply nobody reads);
 *   SSE   an event stream: at most NODE_SSE_MAX, NODE_SSE_PER_IP from one
 *         address; it ends itself after --sse-max-s.
 * Connections per address and in all are libmicrohttpd's own limits
 * (MHD_OPTION_PER_IP_CONNECTION_LIMIT, MHD_OPTION_CONNECTION_LIMIT).
 * The descriptor stays valid while registered: libmicrohttpd calls
 * NOTIFY_CLOSED before it closes the socket, and both sides hold g->mu. */

enum { PH_WAIT, PH_BODY, PH_BUSY, PH_SSE };

typedef struct conn_ent {
    struct conn_ent *prev, *next;
    int fd;
    uint8_t ip[16]; /* IPv4 as ::ffff:a.b.c.d */
    int phase;
    double since, last; /* plow_now(): phase start, last body bytes */
    uint64_t bytes;
    bool cut;
} conn_ent;

struct http_guard {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    conn_ent *head;
    size_t n_sse;
    bool stop;
    pthread_t th;
    bool th_on;
};

static void ip_of(const struct sockaddr *sa, uint8_t ip[16]) {
    memset(ip, 0, 16);
    if (!sa) return;
    if (sa->sa_family == AF_INET) {
        ip[10] = ip[11] = 0xff;
        memcpy(ip + 12, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, 4);
    } else if (sa->sa_family == AF_INET6) {
        memcpy(ip, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr, 16);
    }
}

static conn_ent *conn_of(struct MHD_Connection *conn) {
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    return ci ? ci->socket_context : NULL;
}

/* g->mu held. */
static void set_phase_locked(struct http_guard *g, conn_ent *e, int phase) {
    if (e->phase == PH_SSE && g->n_sse) g->n_sse--;
    e->phase = phase;
    e->since = e->last = plow_now();
    e->bytes = 0;
}

static void set_phase(node *n, conn_ent *e, int phase) {
    if (!e || !n->guard) return;
    pthread_mutex_lock(&n->guard->mu);
    set_phase_locked(n->guard, e, phase);
    pthread_mutex_unlock(&n->guard->mu);
}

static void body_progress(node *n, conn_ent *e, size_t len) {
    if (!e || !n->guard) return;
    pthread_mutex_lock(&n->guard->mu);
    e->bytes += len;
    e->last = plow_now();
    pthread_mutex_unlock(&n->guard->mu);
}

/* A new event stream: false when the caps are reached. */
static bool sse_admit(node *n, conn_ent *e, char err[PLOW_ERR_LEN]) {
    if (!e || !n->guard) return true;
    struct http_guard *g = n->guard;
    bool ok = false;
    pthread_mutex_lock(&g->mu);
    size_t same = 0;
    for (conn_ent *x = g->head; x; x = x->next) same += x->phase == PH_SSE && memcmp(x->ip, e->ip, 16) == 0;
    if (g->n_sse >= NODE_SSE_MAX) {
        plow_error(err, "the node serves %d event streams already: retry later", NODE_SSE_MAX);
    } else if (same >= NODE_SSE_PER_IP) {
        plow_error(err, "%d event streams from this address already: close one first", NODE_SSE_PER_IP);
    } else {
        set_phase_locked(g, e, PH_SSE);
        g->n_sse++;
        ok = true;
    }
    pthread_mutex_unlock(&g->mu);
    return ok;
}

static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
                          enum MHD_ConnectionNotificationCode toe) {
    node *n = cls;
    struct http_guard *g = n->guard;
    if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
        conn_ent *e = plow_calloc(1, sizeof *e);
        const union MHD_ConnectionInfo *fi = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
        const union MHD_ConnectionInfo *ai = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
        e->fd = fi ? fi->connect_fd : -1;
        ip_of(ai ? ai->client_addr : NULL, e->ip);
        e->phase = PH_WAIT;
        e->since = e->last = plow_now();
        pthread_mutex_lock(&g->mu);
        e->next = g->head;
        if (g->head) g->head->prev = e;
        g->head = e;
        pthread_mutex_unlock(&g->mu);
        *socket_context = e;
    } else if (toe == MHD_CONNECTION_NOTIFY_CLOSED) {
        conn_ent *e = *socket_context;
        if (!e) return;
        pthread_mutex_lock(&g->mu);
        if (e->phase == PH_SSE && g->n_sse) g->n_sse--;
        if (e->prev) e->prev->next = e->next;
        else g->head = e->next;
        if (e->next) e->next->prev = e->prev;
        pthread_mutex_unlock(&g->mu);
        free(e);
        *socket_context = NULL;
    }
}

static void *guard_main(void *arg) {
    node *n = arg;
    struct http_guard *g = n->guard;
    pthread_mutex_lock(&g->mu);
    while (!g->stop) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 250000000L;
        if (ts.tv_nsec >= 1000000000L) ts.tv_sec++, ts.tv_nsec -= 1000000000L;
        pthread_cond_timedwait(&g->cv, &g->mu, &ts);
        double now = plow_now();
        size_t cut_wait = 0, cut_body = 0;
        for (conn_ent *e = g->head; e; e = e->next) {
            if (e->cut || e->fd < 0) continue;
            double age = now - e->since;
            bool cut = false;
            if (e->phase == PH_WAIT && age * 1e3 > NODE_HEADER_MS) {
                cut = true;
                cut_wait++;
            } else if (e->phase == PH_BODY &&
                       ((now - e->last) * 1e3 > NODE_BODY_STALL_MS ||
                        (age * 1e3 > NODE_HEADER_MS &&
                         (double)e->bytes < NODE_BODY_MIN_RATE * (age - NODE_HEADER_MS / 1e3)))) {
                cut = true;
                cut_body++;
            }
            if (cut) {
                shutdown(e->fd, SHUT_RDWR);
                e->cut = true;
            }
        }
        if (cut_wait || cut_body) {
            pthread_mutex_unlock(&g->mu);
            if (cut_wait)
                node_log(n, "http: closed %zu connections whose request did not arrive within %d s", cut_wait,
                         NODE_HEADER_MS / 1000);
            if (cut_body) node_log(n, "http: closed %zu connections whose request body stalled", cut_body);
            pthread_mutex_lock(&g->mu);
        }
    }
    pthread_mutex_unlock(&g->mu);
    return NULL;
}

/* ---- a blob, hashed while it streams ------------------------------------------------ *
 * The bytes were checked when the blob was opened (blob_open_checked); they
 * are hashed again as they go out, and if the file changed under us the last
 * piece is never sent: the transfer ends with an error (the client never
 * gets a whole body with the wrong bytes) and the blob is removed. */
typedef struct blob_stream {
    node *n;
    int fd;
    uint64_t size;
    plow_sha256 *h;
    uint8_t want[32];
} blob_stream;

static ssize_t blob_read(void *cls, uint64_t pos, char *buf, size_t max) {
    blob_stream *bs = cls;
    if (pos >= bs->size) return MHD_CONTENT_READER_END_OF_STREAM;
    if (max > bs->size - pos) max = (size_t)(bs->size - pos);
    ssize_t r;
    do r = pread(bs->fd, buf, max, (off_t)pos);
    while (r < 0 && errno == EINTR);
    if (r <= 0) return MHD_CONTENT_READER_END_WITH_ERROR;
    plow_sha256_update(bs->h, buf, (size_t)r);
    if (pos + (uint64_t)r == bs->size) {
        uint8_t got[32];
        plow_sha256_final(bs->h, got);
        bs->h = NULL;
        if (memcmp(got, bs->want, 32) != 0) {
            char hx[65];
            plow_hex(bs->want, 32, hx);
            node_log_err(bs->n, "blob %s changed on disk while served: transfer cut, blob removed", hx);
            blob_mark_damaged(bs->n->blobs, bs->want);
            return MHD_CONTENT_READER_END_WITH_ERROR;
        }
    }
    return r;
}

static void blob_stream_free(void *cls) {
    blob_stream *bs = cls;
    if (bs->h) {
        uint8_t scratch[32];
        plow_sha256_final(bs->h, scratch);
    }
    if (bs->fd >= 0) close(bs->fd);
    free(bs);
}

/* ---- libmicrohttpd glue ------------------------------------------------------------- */

static const char *mhd_arg(void *ctx, const char *key) {
    return MHD_lookup_connection_value(ctx, MHD_GET_ARGUMENT_KIND, key);
}

static const char *mhd_hdr(void *ctx, const char *name) {
    return MHD_lookup_connection_value(ctx, MHD_HEADER_KIND, name);
}

static enum MHD_Result queue_reply(struct MHD_Connection *conn, node *n, http_reply *rep) {
    struct MHD_Response *resp;
    conn_ent *e = conn_of(conn);
    char err[PLOW_ERR_LEN];
    if (rep->sse && !sse_admit(n, e, err)) {
        *rep = (http_reply){.fd = -1};
        reply_error(rep, 503, "%s", err);
    }
    if (rep->sse) {
        sse_ctx *c = plow_calloc(1, sizeof *c);
        c->n = n;
        c->next = rep->sse_from;
        c->end = plow_now() + n->o.sse_max_s;
        resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16384, sse_read, c, sse_free);
        if (resp) MHD_add_response_header(resp, "Cache-Control", "no-cache");
        else sse_free(c);
    } else if (rep->fd >= 0) {
        blob_stream *bs = plow_calloc(1, sizeof *bs);
        bs->n = n;
        bs->fd = rep->fd;
        bs->size = rep->fd_size;
        bs->h = plow_sha256_new();
        memcpy(bs->want, rep->fd_hash, 32);
        resp = MHD_create_response_from_callback(rep->fd_size, 1 << 16, blob_read, bs, blob_stream_free);
        if (resp) rep->fd = -1; /* the stream closes it */
        else blob_stream_free(bs), rep->fd = -1;
    } else if (rep->cdata || rep->www) { /* an embedded file (or its 304): the binary's bytes */
        resp = MHD_create_response_from_buffer(rep->clen, (void *)rep->cdata, MHD_RESPMEM_PERSISTENT);
    } else {
        size_t len = rep->body.len;
        void *data = rep->body.data;
        if (!data) data = plow_alloc(1);
        resp = MHD_create_response_from_buffer(len, data, MHD_RESPMEM_MUST_FREE);
        if (resp) rep->body = (plow_buf){0};
        else if (data != rep->body.data) free(data);
    }
    if (!resp) {
        http_reply_release(rep);
        return MHD_NO;
    }
    if (rep->ctype) MHD_add_response_header(resp, "Content-Type", rep->ctype);
    if (rep->allow) MHD_add_response_header(resp, "Allow", rep->allow);
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    if (rep->www) {
        MHD_add_response_header(resp, "ETag", rep->etag);
        MHD_add_response_header(resp, "Cache-Control", WWW_CACHE);
        MHD_add_response_header(resp, "Content-Security-Policy", WWW_CSP);
        MHD_add_response_header(resp, "Referrer-Policy", "no-referrer");
        MHD_add_response_header(resp, "X-Frame-Options", "DENY");
    }
    enum MHD_Result ok = MHD_queue_response(conn, rep->status ? rep->status : 500, resp);
    MHD_destroy_response(resp);
    http_reply_release(rep);
    return ok;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
                                  const char *version, const char *upload_data, size_t *upload_data_size,
                                  void **con_cls) {
    (void)version;
    node *n = cls;
    http_request *r = *con_cls;
    if (!r) {
        set_phase(n, conn_of(conn), *upload_data_size || strcmp(method, "POST") == 0 || strcmp(method, "PUT") == 0
                                         ? PH_BODY
                                         : PH_BUSY);
        r = http_request_begin_h(n, method, url, mhd_arg, conn, mhd_hdr, conn);
        *con_cls = r;
        if (r->decided) { /* answer now (a body still on its way is not read: MHD closes the connection) */
            set_phase(n, conn_of(conn), PH_BUSY);
            http_reply rep;
            http_request_end(r, &rep);
            return queue_reply(conn, n, &rep);
        }
        return MHD_YES;
    }
    if (*upload_data_size) {
        body_progress(n, conn_of(conn), *upload_data_size);
        http_request_body(r, (const uint8_t *)upload_data, *upload_data_size);
        *upload_data_size = 0;
        return MHD_YES;
    }
    set_phase(n, conn_of(conn), PH_BUSY); /* the handler may wait (group commit): no deadline */
    http_reply rep;
    http_request_end(r, &rep);
    return queue_reply(conn, n, &rep);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls, enum MHD_RequestTerminationCode toe) {
    (void)toe;
    http_request_free(*con_cls);
    *con_cls = NULL;
    set_phase(cls, conn_of(conn), PH_WAIT); /* keep-alive: the next request's deadline starts now */
}

/* libmicrohttpd's messages, at most one line per distinct message every 10 s
 * (a client refused at the connection limit a thousand times must not fill
 * the log), with the count of the ones held back. */
static void on_mhd_log(void *cls, const char *fmt, va_list ap) {
    node *n = cls;
    if (n->o.quiet) return;
    static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
    static char last[512];
    static double last_t;
    static unsigned long held;
    char line[512];
    vsnprintf(line, sizeof line, fmt, ap);
    size_t l = strlen(line);
    while (l && (line[l - 1] == '\n' || line[l - 1] == '\r')) line[--l] = 0;
    double now = plow_now();
    pthread_mutex_lock(&mu);
    bool same = strcmp(line, last) == 0;
    if (same && now - last_t < 10) {
        held++;
        pthread_mutex_unlock(&mu);
        return;
    }
    unsigned long h = held;
    char prev[512];
    snprintf(prev, sizeof prev, "%s", last);
    held = 0;
    last_t = now;
    snprintf(last, sizeof last, "%s", line);
    pthread_mutex_unlock(&mu);
    if (h) node_log_err(n, "http: %lu more times: %s", h, prev);
    node_log_err(n, "http: %s", line);
}

/* %HH decoding of paths and query arguments, except that a string holding an
 * escaped NUL ("%00") is left as it is: decoded, it would cut the C string
 * short ("/%00x" would read as "/"), so it is refused by the route instead
 * (no file or record has "%" in its name). */
static size_t unescape(void *cls, struct MHD_Connection *c, char *s) {
    (void)cls;
    (void)c;
    if (strstr(s, "%00")) return strlen(s);
    return MHD_http_unescape(s);
}

/* The connection limit: NODE_CONN_MAX, or what the descriptor limit leaves
 * (raised to its hard limit first) after 256 for the database and blobs. */
static unsigned conn_limit(void) {
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return 512;
    if (rl.rlim_cur < rl.rlim_max) {
        struct rlimit up = rl;
        up.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max > 65536 ? 65536 : rl.rlim_max;
        if (up.rlim_cur > rl.rlim_cur && setrlimit(RLIMIT_NOFILE, &up) == 0) rl = up;
    }
    if (rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur >= NODE_CONN_MAX + 256) return NODE_CONN_MAX;
    return rl.rlim_cur > 256 + 64 ? (unsigned)(rl.rlim_cur - 256) : 64;
}

int node_http_start(node *n, char err[PLOW_ERR_LEN]) {
    struct sockaddr_storage ss;
    bool v6 = false;
    if (listen_parse(n->listen, &ss, &v6, err) != 0) return -1;
    struct http_guard *g = plow_calloc(1, sizeof *g);
    pthread_mutex_init(&g->mu, NULL);
    pthread_cond_init(&g->cv, NULL);
    n->guard = g;
    if (pthread_create(&g->th, NULL, guard_main, n) != 0) return plow_error(err, "cannot start a thread");
    g->th_on = true;
    unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG;
    if (v6) flags |= MHD_USE_IPv6;
    n->httpd = MHD_start_daemon(flags, 0, NULL, NULL, on_request, n, MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, n,
                                MHD_OPTION_UNESCAPE_CALLBACK, unescape, NULL,
                                MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss, MHD_OPTION_NOTIFY_COMPLETED,
                                on_completed, n, MHD_OPTION_NOTIFY_CONNECTION, on_connection, n,
                                MHD_OPTION_CONNECTION_LIMIT, conn_limit(), MHD_OPTION_PER_IP_CONNECTION_LIMIT,
                                (unsigned)n->o.max_conns_per_ip, MHD_OPTION_CONNECTION_TIMEOUT,
                                (unsigned)NODE_CONN_IDLE_S, MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(32 * 1024),
                                MHD_OPTION_LISTEN_BACKLOG_SIZE, (unsigned)1024, MHD_OPTION_THREAD_STACK_SIZE,
                                (size_t)(2u << 20), MHD_OPTION_END);
    if (!n->httpd)
        return plow_error(err, "cannot listen on %s: %s (is another node running there? pick another --listen)",
                          n->listen, errno ? strerror(errno) : "libmicrohttpd refused");
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(n->httpd, MHD_DAEMON_INFO_BIND_PORT);
    n->port = di ? di->port : 0;
    return 0;
}

void node_http_stop(node *n) {
    if (n->httpd) MHD_stop_daemon(n->httpd);
    n->httpd = NULL;
    struct http_guard *g = n->guard;
    if (!g) return;
    if (g->th_on) {
        pthread_mutex_lock(&g->mu);
        g->stop = true;
        pthread_cond_broadcast(&g->cv);
        pthread_mutex_unlock(&g->mu);
        pthread_join(g->th, NULL);
    }
    while (g->head) { /* none after MHD_stop_daemon; defensive */
        conn_ent *e = g->head;
        g->head = e->next;
        free(e);
    }
    pthread_mutex_destroy(&g->mu);
    pthread_cond_destroy(&g->cv);
    free(g);
    n->guard = NULL;
}
