/*
 * fuzz_api.c — libFuzzer target for the node's HTTP router: arbitrary
 * method, path, query, headers and body go through http_request_begin /
 * _body / _end exactly as libmicrohttpd would hand them over, against a real
 * running node (its sequencer, group commit and HTTP threads live beside the
 * fuzzer, on a temporary data directory). The router must answer every input
 * with a reply (never crash, leak, or hang), and an error reply must be an
 * error JSON.
 *
 * Input layout (first byte = mode):
 *   0: raw          METHOD '\n' PATH[?QUERY] '\n' LAST-EVENT-ID '\n' CONTENT-LENGTH '\n' BODY
 *   1: one tx       POST /v1/tx with {"tx": hex(rest)} (reaches the decoder and admission)
 *   2: a batch      POST /v1/txs with the rest cut into transactions at each 0xff byte
 *   3: a known path byte 2 picks a route prefix and a method; the rest is appended
 *   4: a signed tx  the rest decoded as a transaction, re-signed by a funded
 *                   account (nonce from byte 2 near its next one): admission,
 *                   the group commit and the sequencer see valid signatures
 * The body is fed in two pieces split at a point given by byte 1.
 *
 * Build and run: make fuzz (FUZZ_SECONDS each).
 */
#include "../../src/base/plow.h"

#include <cjson/cJSON.h>
#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

#include "../../src/node/node_internal.h"

static node *g_node;
static pthread_t g_thread;
static char g_dir[] = "/tmp/plow_fuzz_api.XXXXXX";
static ledger_key g_a; /* a funded account: mode 4 signs with it */

/* At exit: stop the node's threads before the libraries they use go away. */
static void stop_node(void) {
    node_stop(g_node);
    pthread_join(g_thread, NULL);
    node_close(g_node);
    char cmd[64];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
    if (system(cmd) != 0) fprintf(stderr, "fuzz_api: could not remove %s\n", g_dir);
}

typedef struct args {
    char *k[16], *v[16];
    int n;
} args;

static const char *get_arg(void *ctx, const char *key) {
    args *a = ctx;
    for (int i = 0; i < a->n; i++)
        if (strcmp(a->k[i], key) == 0) return a->v[i];
    return NULL;
}

static void parse_query(char *q, args *a) {
    a->n = 0;
    for (char *save = NULL, *p = strtok_r(q, "&", &save); p && a->n < 16; p = strtok_r(NULL, "&", &save)) {
        char *eq = strchr(p, '=');
        a->k[a->n] = p;
        a->v[a->n] = eq ? (*eq = 0, eq + 1) : (char *)"";
        a->n++;
    }
}

static void *run_node(void *arg) {
    (void)arg;
    char err[PLOW_ERR_LEN];
    if (node_run(g_node, err) != 0) fprintf(stderr, "fuzz_api: node stopped: %s\n", err);
    return NULL;
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    char err[PLOW_ERR_LEN];
    char *dir = g_dir;
    if (!mkdtemp(dir) || ledger_crypto_init(err) != 0) abort();
    ledger_key op, a;
    ledger_key_generate(&op);
    uint8_t seed[32] = {1};
    ledger_key_from_seed(&a, seed);
    g_a = a;
    char path[512], opa[LEDGER_ADDR_STR_LEN], aa[LEDGER_ADDR_STR_LEN];
    snprintf(path, sizeof path, "%s/operator.key", dir);
    if (ledger_key_save(&op, path, err) != 0) abort();
    ledger_addr_format(op.pk, opa);
    ledger_addr_format(a.pk, aa);
    plow_buf g = {0};
    plow_buf_printf(&g,
                    "{\"chain\":\"fuzz\",\"time_ms\":\"1\",\"operator\":\"%s\",\"params\":{\"unbond_blocks\":\"2\","
                    "\"verdict_blocks\":\"5\",\"min_fee\":\"1\",\"slash_challenger_pct\":50,\"bond_accused_pct\":50},"
                    "\"accounts\":[{\"address\":\"%s\",\"balance\":\"1000000000\"},{\"address\":\"%s\",\"balance\":\"1000\"}]}",
                    opa, aa, opa);
    char gpath[512];
    snprintf(gpath, sizeof gpath, "%s/g.json", dir);
    if (plow_write_file(gpath, g.data, g.len, err) != 0) abort();
    plow_buf_release(&g);
    node_options o = {.data_dir = dir, .listen = "127.0.0.1:0", .genesis = gpath, .block_ms = 50,
                      .max_blob = 1 << 16, .referee = true, .quiet = true};
    if (node_open(&g_node, &o, err) != 0) {
        fprintf(stderr, "fuzz_api: %s\n", err);
        abort();
    }
    pthread_create(&g_thread, NULL, run_node, NULL);
    atexit(stop_node);
    return 0;
}

static const char *const methods[] = {"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "", "OPTIONS"};
static const char *const prefixes[] = {"/v1/status", "/v1/genesis", "/v1/tx", "/v1/txs", "/v1/tx/",
                                       "/v1/blocks?", "/v1/block/", "/v1/account/", "/v1/tasks?", "/v1/task/",
                                       "/v1/challenge/", "/v1/blob/", "/v1/events?", "/v1/stats", "/v1/history/",
                                       "/v1/timeline/", "/v1/agents?", "/v1/slotlog/", "/v1/labeling/", "/v1/search/",
                                       "/app.js", "/index.html", "/v1/", "/", ""};

static void check_reply(const http_reply *r) {
    if (r->status < 100 || r->status > 599) abort();
    if (r->status >= 400) { /* an error JSON with a message */
        cJSON *j = cJSON_ParseWithLength((const char *)r->body.data, r->body.len);
        if (!j || !cJSON_IsString(cJSON_GetObjectItemCaseSensitive(j, "error"))) abort();
        cJSON_Delete(j);
    }
}

static void run_one(const char *method, char *target, const char *last_id, const char *clen, const uint8_t *body,
                    size_t blen, size_t split) {
    args a = {0};
    char *q = strchr(target, '?');
    if (q) {
        *q = 0;
        parse_query(q + 1, &a);
    }
    http_request *r = http_request_begin(g_node, method, target, get_arg, &a, last_id, clen);
    if (split > blen) split = blen;
    http_request_body(r, body, split);
    http_request_body(r, body + split, blen - split);
    http_reply rep;
    http_request_end(r, &rep);
    check_reply(&rep);
    http_reply_release(&rep);
    http_request_free(r);
}

static char *hex_of(const uint8_t *d, size_t n) {
    char *h = plow_alloc(2 * n + 1);
    plow_hex(d, n, h);
    return h;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 3) return 0;
    int mode = data[0] % 5;
    size_t split = data[1];
    const uint8_t *d = data + 3;
    size_t n = size - 3;
    if (mode == 0) {
        /* up to four '\n'-separated text fields, then the body */
        char *f[4] = {0};
        size_t pos = 0;
        for (int i = 0; i < 4; i++) {
            const uint8_t *nl = memchr(d + pos, '\n', n - pos);
            size_t l = nl ? (size_t)(nl - (d + pos)) : n - pos;
            f[i] = plow_alloc(l + 1);
            memcpy(f[i], d + pos, l);
            f[i][l] = 0;
            pos += l + (nl ? 1 : 0);
        }
        run_one(f[0], f[1], f[2][0] ? f[2] : NULL, f[3][0] ? f[3] : NULL, d + pos, n - pos, split);
        for (int i = 0; i < 4; i++) free(f[i]);
    } else if (mode == 1) {
        char *h = hex_of(d, n);
        plow_buf b = {0};
        plow_buf_printf(&b, "{\"tx\":\"%s\"}", h);
        char t[] = "/v1/tx";
        run_one("POST", t, NULL, NULL, b.data, b.len, split);
        plow_buf_release(&b);
        free(h);
    } else if (mode == 2) {
        plow_buf b = {0};
        plow_buf_printf(&b, "{\"txs\":[");
        size_t start = 0;
        bool first = true;
        for (size_t i = 0; i <= n; i++) {
            if (i < n && d[i] != 0xff) continue;
            char *h = hex_of(d + start, i - start);
            plow_buf_printf(&b, "%s\"%s\"", first ? "" : ",", h);
            free(h);
            first = false;
            start = i + 1;
        }
        plow_buf_printf(&b, "]}");
        char t[] = "/v1/txs";
        run_one("POST", t, NULL, NULL, b.data, b.len, split);
        plow_buf_release(&b);
    } else if (mode == 4) {
        ledger_tx *tx = plow_calloc(1, sizeof *tx);
        uint8_t f[64] = {0};
        memcpy(f, d, n < sizeof f ? n : sizeof f);
        /* a transfer, stake, unstake or register with amounts and fee from the input */
        static const uint8_t types[] = {LEDGER_TX_TRANSFER, LEDGER_TX_STAKE, LEDGER_TX_UNSTAKE, LEDGER_TX_REGISTER};
        tx->type = types[f[0] % 4];
        tx->fee = plow_get_u64(f + 1) >> (f[9] % 64);
        uint64_t amount = plow_get_u64(f + 10) >> (f[18] % 64);
        if (tx->type == LEDGER_TX_TRANSFER) {
            memcpy(tx->u.transfer.to, f + 19, 32);
            tx->u.transfer.amount = amount;
        } else if (tx->type == LEDGER_TX_REGISTER) {
            tx->u.reg.kind = 1 + (f[19] & 1);
            snprintf(tx->u.reg.name, sizeof tx->u.reg.name, "n%02x%02x", f[20], f[21]);
            snprintf(tx->u.reg.caps, sizeof tx->u.reg.caps, "{\"x\":%u}", f[22]);
        } else {
            tx->u.stake.amount = amount;
        }
        {            ledger_account acc;
            pthread_rwlock_rdlock(&g_node->state_lock);
            uint64_t nonce = ledger_get_account(g_node->s, g_a.pk, &acc) ? acc.nonce : 0;
            pthread_rwlock_unlock(&g_node->state_lock);
            memcpy(tx->sender, g_a.pk, 32);
            tx->nonce = nonce + (data[2] & 3);
            ledger_tx_sign(tx, &g_a, g_node->genesis.chain_id);
            plow_buf enc = {0};
            ledger_tx_encode(tx, &enc);
            char *h = hex_of(enc.data, enc.len);
            plow_buf b = {0};
            plow_buf_printf(&b, "{\"tx\":\"%s\"}", h);
            char t[] = "/v1/tx";
            run_one("POST", t, NULL, NULL, b.data, b.len, split);
            plow_buf_release(&b);
            plow_buf_release(&enc);
            free(h);
        }
        free(tx);
    } else {
        const char *pre = prefixes[data[2] % (sizeof prefixes / sizeof *prefixes)];
        const char *m = methods[(data[2] >> 4) % (sizeof methods / sizeof *methods)];
        const uint8_t *nl = memchr(d, '\n', n);
        size_t l = nl ? (size_t)(nl - d) : n;
        size_t pl = strlen(pre);
        char *target = plow_alloc(pl + l + 1);
        memcpy(target, pre, pl);
        memcpy(target + pl, d, l);
        target[pl + l] = 0;
        size_t bs = nl ? l + 1 : n;
        run_one(m, target, NULL, NULL, d + bs, n - bs, split);
        free(target);
    }
    return 0;
}
