/*
 * loadgen.c — plow_loadgen: drives a running node over HTTP, and the small
 * tools the node's shell tests need to forge inputs a wallet never makes.
 *
 *   plow_loadgen addrs  --senders N [--balance B]
 *       the fund lines (ADDR=BALANCE) of N derived sender keys, for
 *       plow node init --fund-file
 *   plow_loadgen run    --url URL --senders N --txs K [--conns C] [--batch B]
 *                       [--ack FILE] [--rate R] [--seconds S] [--fee F]
 *       pre-signs K transfers per sender (sender i pays sender i+1), sends
 *       them over C keep-alive connections (each sender on one connection,
 *       so its nonces arrive in order) and prints a table row: acknowledged
 *       tx/s and request latency. Every acknowledged hash is appended to the
 *       ack file. A node that goes away is waited for and the same
 *       transaction is sent again (idempotent), so a node killed and
 *       restarted under load loses nothing that was acknowledged.
 *   plow_loadgen check  --url URL --ack FILE [--timeout S]
 *       every acknowledged transaction must be in a block (waits while some
 *       are pending), and the genesis accounts must hold supply - burned.
 *   plow_loadgen tx     --url URL (--sender I | --key FILE) --to ADDR --amount A
 *                       [--nonce N] [--fee F] [--chain-id HEX] [--count K]
 *       prints one signed transfer as hex (nonce from the node by default);
 *       with --count K, a POST /v1/txs body of K transfers, nonces N..N+K-1.
 *   plow_loadgen doctor --in BLOCKS.json [--key FILE] --height H --out FILE
 *       a dishonest operator: rewrites block H's state root in a
 *       /v1/blocks answer (dropping later blocks) and signs the doctored
 *       header with the operator's real key (without --key: a forged header
 *       under the old signature).
 *   plow_loadgen dispute --url URL [--with-state 1] [--in SPEC]
 *       a disputed task from senders 0 (requester), 1 (worker), 2
 *       (challenger): register + stake, post (optimistic, 2 steps), claim,
 *       commit a 3-leaf trace, then challenge step 1. The state blob is
 *       uploaded only with --with-state 1 (the spec blob only with --in:
 *       that file, uploaded by the requester). Prints
 *       the challenge id: the node's referee rules on it.
 *
 *   plow_loadgen junk --url URL --count N [--committed C] [--batch B]
 *       junk tasks (issue 10, finding 4): sender 0 posts N train tasks whose
 *       spec nobody uploaded (reward 1, stake 1, 2 steps, every window 1000
 *       blocks), B to a POST /v1/txs (default 500), each batch included
 *       before the next; sender 1 then claims, commits and reveals C of them
 *       (values nothing computed), so C committed tasks with open windows
 *       stand in the way of a verifier. Prints "posted=N committed=C".
 *   plow_loadgen flood --url URL --in SPEC --blobs F1,F2 --senders K --seconds S [--steps N]
 *                      [--ack FILE] [--ready FILE]
 *       a referee flood (issue 17, finding 3): sender 0 uploads the blobs
 *       (a big data file, a tokenizer) and SPEC, posts an optimistic task of
 *       N steps (default 64) on it; sender 1 claims, commits and reveals
 *       garbage leaves; then for S seconds challengers 3..3+K-1 each keep 5
 *       challenges in flight (steps 2..N, each with the same garbage state
 *       blob, bond at the network's floor): each one makes the referee fetch
 *       the task's inputs and build it before it finds the state is not the
 *       agreed leaf, and a fifth open one is refused by the ledger. Writes
 *       FILE (--ready) once the first challenges are included, appends every
 *       included challenge id to the --ack file, prints "opened=N
 *       refused_limit=M refused_other=R".
 *   plow_loadgen readers --url URL [--conns C] [--seconds S] [--to PATH]
 *       a read flood (issue 10, finding 5): C clients (default 16) GET PATH
 *       (default /v1/tasks?status=open&limit=1) back to back for S seconds
 *       (default 10), then the block times of the heights made meanwhile
 *       are read back. Prints "requests=N req_per_s=R failed=F blocks=B
 *       max_gap_ms=G": G is the longest time between two consecutive blocks
 *       of the flood (the sequencer held back by readers shows here).
 *   plow_loadgen hostile --url URL [--idle N] [--slowloris N] [--sse N] [--bodies N]
 *                        [--body-mb M] [--from A.B.C.D] [--seconds S] [--ready FILE] [--count K]
 *       hostile connections held for S seconds (default 15), each kind from
 *       its own loopback address (--from, default 127.0.0.2, then +1, +2, +3):
 *       idle sockets; slowloris (a header that never ends, one byte a
 *       second); event-stream subscribers; POST /v1/txs announcing 16 MiB
 *       and sending M MiB (default 15), then nothing. Writes FILE once every
 *       connection was attempted. With --count K, an honest client on
 *       127.0.0.1 meanwhile alternates GET /v1/status and POST /v1/tx
 *       (sender 0 pays sender 1) up to K requests and prints their latency
 *       (exit 1 if one failed). One line per kind: kind=... tried=
 *       connected= status200= status503= closed= closed_at_once= open=
 *       held_max_s=.
 *
 *   plow_loadgen blobsig --url URL (--key FILE | --sender I) --in FILE [--nonce MS] [--amount SIZE] [--hash HEX]
 *       the X-Plow-Signer, X-Plow-Time and X-Plow-Sig headers of a signed
 *       upload of FILE (curl -H each line); --nonce forges the time,
 *       --amount the size signed, --hash HEX the blob hash signed.
 *
 * Keys are derived: sender i is ledger_key_from_seed(SHA-256("plow-loadgen/v1" || u32 i)).
 */
#include "../src/base/plow.h"

#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "../src/client/client.h"
#include "../src/ledger/ledger.h"

static volatile sig_atomic_t g_stop;
static void on_term(int s) {
    (void)s;
    g_stop = 1;
}

static int die(const char *fmt, ...) PLOW_PRINTF(1, 2);
static int die(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fputs("plow_loadgen: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return 1;
}

static void derive_key(uint32_t i, ledger_key *k) {
    uint8_t pre[20] = "plow-loadgen/v1";
    plow_put_u32(pre + 16, i);
    uint8_t seed[32];
    plow_sha256_once(pre, sizeof pre, seed);
    ledger_key_from_seed(k, seed);
}

/* ---- options --------------------------------------------------------------------------- */

typedef struct opts {
    const char *url, *ack, *key, *to, *in, *out, *chain_hex, *from, *ready, *hash_hex, *blobs;
    uint64_t senders, txs, conns, batch, rate, fee, amount, nonce, height, sender, balance, count;
    uint64_t idle, slow, sse, bodies, body_mb, committed, steps;
    bool has_nonce, has_sender, quiet, with_state, amount_set;
    double seconds, timeout;
} opts;

static int parse_opts(int argc, char **argv, opts *o) {
    memset(o, 0, sizeof *o);
    o->conns = 32;
    o->batch = 1;
    o->fee = 1;
    o->amount = 1;
    o->balance = 1000000000000ull;
    o->timeout = 120;
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--quiet") == 0) {
            o->quiet = true;
            continue;
        }
        if (i + 1 >= argc) return die("%s needs a value", a);
        const char *v = argv[++i];
        char *end;
        uint64_t u = strtoull(v, &end, 10);
        bool num = *v && !*end && *v != '-';
        if (strcmp(a, "--url") == 0) o->url = v;
        else if (strcmp(a, "--ack") == 0) o->ack = v;
        else if (strcmp(a, "--key") == 0) o->key = v;
        else if (strcmp(a, "--to") == 0) o->to = v;
        else if (strcmp(a, "--in") == 0) o->in = v;
        else if (strcmp(a, "--out") == 0) o->out = v;
        else if (strcmp(a, "--chain-id") == 0) o->chain_hex = v;
        else if (strcmp(a, "--from") == 0) o->from = v;
        else if (strcmp(a, "--ready") == 0) o->ready = v;
        else if (strcmp(a, "--hash") == 0) o->hash_hex = v;
        else if (strcmp(a, "--blobs") == 0) o->blobs = v;
        else if (strcmp(a, "--seconds") == 0) o->seconds = atof(v);
        else if (strcmp(a, "--timeout") == 0) o->timeout = atof(v);
        else if (!num) return die("%s: expected a number or a known option, got '%s'", a, v);
        else if (strcmp(a, "--senders") == 0) o->senders = u;
        else if (strcmp(a, "--txs") == 0) o->txs = u;
        else if (strcmp(a, "--conns") == 0) o->conns = u;
        else if (strcmp(a, "--batch") == 0) o->batch = u;
        else if (strcmp(a, "--rate") == 0) o->rate = u;
        else if (strcmp(a, "--fee") == 0) o->fee = u;
        else if (strcmp(a, "--amount") == 0) o->amount = u, o->amount_set = true;
        else if (strcmp(a, "--balance") == 0) o->balance = u;
        else if (strcmp(a, "--count") == 0) o->count = u;
        else if (strcmp(a, "--idle") == 0) o->idle = u;
        else if (strcmp(a, "--slowloris") == 0) o->slow = u;
        else if (strcmp(a, "--sse") == 0) o->sse = u;
        else if (strcmp(a, "--bodies") == 0) o->bodies = u;
        else if (strcmp(a, "--body-mb") == 0) o->body_mb = u;
        else if (strcmp(a, "--committed") == 0) o->committed = u;
        else if (strcmp(a, "--steps") == 0) o->steps = u;
        else if (strcmp(a, "--height") == 0) o->height = u;
        else if (strcmp(a, "--nonce") == 0) o->nonce = u, o->has_nonce = true;
        else if (strcmp(a, "--sender") == 0) o->sender = u, o->has_sender = true;
        else if (strcmp(a, "--with-state") == 0) o->with_state = u != 0;
        else return die("unknown option '%s'", a);
    }
    return 0;
}

/* ---- HTTP ------------------------------------------------------------------------------- */

typedef struct http {
    CURL *c;
    struct curl_slist *hdr;
    plow_buf body;
    char base[512];
} http;

static size_t on_body(char *p, size_t s, size_t n, void *arg) {
    plow_buf_append(arg, p, s * n);
    return s * n;
}

static void http_init(http *h, const char *url) {
    memset(h, 0, sizeof *h);
    h->c = curl_easy_init();
    snprintf(h->base, sizeof h->base, "%s", url);
    h->hdr = curl_slist_append(NULL, "Content-Type: application/json");
    h->hdr = curl_slist_append(h->hdr, "Expect:");
    curl_easy_setopt(h->c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h->c, CURLOPT_WRITEDATA, &h->body);
    curl_easy_setopt(h->c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h->c, CURLOPT_CONNECTTIMEOUT, 5L);
    curl_easy_setopt(h->c, CURLOPT_TIMEOUT, 60L);
    curl_easy_setopt(h->c, CURLOPT_TCP_NODELAY, 1L);
}

static void http_free(http *h) {
    curl_easy_cleanup(h->c);
    curl_slist_free_all(h->hdr);
    plow_buf_release(&h->body);
}

/* Returns the HTTP status, or 0 when no answer came (connection refused,
 * reset, timeout). The body is in h->body, NUL-terminated. */
static long http_do(http *h, const char *path, const char *post, size_t post_len) {
    char url[1024];
    snprintf(url, sizeof url, "%s%s", h->base, path);
    h->body.len = 0;
    curl_easy_setopt(h->c, CURLOPT_URL, url);
    if (post) {
        curl_easy_setopt(h->c, CURLOPT_HTTPHEADER, h->hdr);
        curl_easy_setopt(h->c, CURLOPT_POSTFIELDS, post);
        curl_easy_setopt(h->c, CURLOPT_POSTFIELDSIZE, (long)post_len);
    } else {
        curl_easy_setopt(h->c, CURLOPT_HTTPGET, 1L);
    }
    CURLcode cc = curl_easy_perform(h->c);
    plow_buf_append(&h->body, "", 1);
    h->body.len--;
    if (cc != CURLE_OK) return 0;
    long code = 0;
    curl_easy_getinfo(h->c, CURLINFO_RESPONSE_CODE, &code);
    return code;
}

static cJSON *get_json(http *h, const char *path, char err[PLOW_ERR_LEN]) {
    long code = http_do(h, path, NULL, 0);
    if (code != 200) {
        plow_error(err, "GET %s%s: %s %.200s", h->base, path, code ? "status" : "no answer", (char *)h->body.data);
        return NULL;
    }
    cJSON *j = cJSON_Parse((char *)h->body.data);
    if (!j) plow_error(err, "GET %s: not JSON", path);
    return j;
}

static int json_u64(const cJSON *o, const char *k, uint64_t *v) {
    const cJSON *x = cJSON_GetObjectItemCaseSensitive(o, k);
    if (!cJSON_IsString(x)) return -1;
    char *end;
    *v = strtoull(x->valuestring, &end, 10);
    return *end ? -1 : 0;
}

static int chain_id_of(http *h, uint8_t cid[32], char err[PLOW_ERR_LEN]) {
    cJSON *j = get_json(h, "/v1/status", err);
    if (!j) return -1;
    const cJSON *c = cJSON_GetObjectItemCaseSensitive(j, "chain_id");
    int rc = cJSON_IsString(c) && plow_unhex(c->valuestring, cid, 32) == 0 ? 0 : plow_error(err, "no chain_id in /v1/status");
    cJSON_Delete(j);
    return rc;
}

static int next_nonce_of(http *h, const uint8_t pk[32], uint64_t *nonce, char err[PLOW_ERR_LEN]) {
    char addr[LEDGER_ADDR_STR_LEN], path[128];
    ledger_addr_format(pk, addr);
    snprintf(path, sizeof path, "/v1/account/%s", addr);
    cJSON *j = get_json(h, path, err);
    if (!j) return -1;
    int rc = json_u64(j, "next_nonce", nonce) == 0 ? 0 : plow_error(err, "no next_nonce for %s", addr);
    cJSON_Delete(j);
    return rc;
}

/* ---- addrs -------------------------------------------------------------------------------- */

static int cmd_addrs(const opts *o) {
    if (!o->senders) return die("addrs: --senders N is required");
    for (uint32_t i = 0; i < o->senders; i++) {
        ledger_key k;
        derive_key(i, &k);
        char a[LEDGER_ADDR_STR_LEN];
        ledger_addr_format(k.pk, a);
        printf("%s=%llu\n", a, (unsigned long long)o->balance);
    }
    return 0;
}

/* ---- run ------------------------------------------------------------------------------------ */

typedef struct run_ctx {
    const opts *o;
    uint8_t chain_id[32];
    ledger_key *keys;
    uint64_t *nonce0;
    char **hex;        /* senders*txs signed txs, [sender*txs + round] */
    uint8_t (*hash)[32];
    pthread_mutex_t mu;
    FILE *ack;
    uint64_t acked, failed, retries;
    double *lat;       /* request latencies (s) */
    size_t n_lat, cap_lat;
    double t0, deadline;
} run_ctx;

typedef struct sign_job {
    run_ctx *r;
    uint64_t from, to;
} sign_job;

static void *sign_main(void *arg) {
    sign_job *j = arg;
    run_ctx *r = j->r;
    const opts *o = r->o;
    ledger_tx tx;
    plow_buf b = {0};
    for (uint64_t x = j->from; x < j->to; x++) {
        uint64_t s = x / o->txs, round = x % o->txs;
        memset(&tx, 0, sizeof tx);
        tx.type = LEDGER_TX_TRANSFER;
        memcpy(tx.sender, r->keys[s].pk, 32);
        tx.nonce = r->nonce0[s] + round;
        tx.fee = o->fee;
        memcpy(tx.u.transfer.to, r->keys[(s + 1) % o->senders].pk, 32);
        tx.u.transfer.amount = o->amount;
        ledger_tx_sign(&tx, &r->keys[s], r->chain_id);
        b.len = 0;
        ledger_tx_encode(&tx, &b);
        r->hex[x] = plow_alloc(2 * b.len + 1);
        plow_hex(b.data, b.len, r->hex[x]);
        ledger_tx_hash(&tx, r->hash[x]);
    }
    plow_buf_release(&b);
    return NULL;
}

static void record(run_ctx *r, const uint8_t (*hashes)[32], size_t n, double lat) {
    pthread_mutex_lock(&r->mu);
    for (size_t i = 0; i < n; i++) {
        if (r->ack) {
            char hx[65];
            plow_hex(hashes[i], 32, hx);
            fprintf(r->ack, "%s\n", hx);
        }
    }
    if (r->ack) fflush(r->ack);
    r->acked += n;
    if (r->n_lat == r->cap_lat) {
        r->cap_lat = r->cap_lat ? r->cap_lat * 2 : 4096;
        r->lat = plow_realloc(r->lat, r->cap_lat * sizeof *r->lat);
    }
    r->lat[r->n_lat++] = lat;
    pthread_mutex_unlock(&r->mu);
}

static bool out_of_time(run_ctx *r) { return g_stop || (r->deadline > 0 && plow_now() > r->deadline); }

/* After a refusal: is the tx known to the node anyway (an earlier attempt
 * whose answer was lost)? */
static bool known(http *h, const uint8_t hash[32]) {
    char hx[65], path[100];
    plow_hex(hash, 32, hx);
    snprintf(path, sizeof path, "/v1/tx/%s", hx);
    return http_do(h, path, NULL, 0) == 200;
}

typedef struct conn_job {
    run_ctx *r;
    uint64_t id;
} conn_job;

static void *conn_main(void *arg) {
    conn_job *cj = arg;
    run_ctx *r = cj->r;
    const opts *o = r->o;
    http h;
    http_init(&h, o->url);
    /* this connection's senders: id, id+conns, ... ; its items in send order */
    size_t ns = 0;
    for (uint64_t s = cj->id; s < o->senders; s += o->conns) ns++;
    size_t total = ns * o->txs, done = 0;
    uint64_t *items = plow_alloc((total ? total : 1) * sizeof *items);
    size_t k = 0;
    for (uint64_t round = 0; round < o->txs; round++)
        for (uint64_t s = cj->id; s < o->senders; s += o->conns) items[k++] = s * o->txs + round;
    plow_buf body = {0};
    uint8_t (*hs)[32] = plow_alloc(o->batch * 32);
    double per_req = o->rate ? (double)o->conns * (double)o->batch / (double)o->rate : 0;
    double next = plow_now();
    while (done < total && !out_of_time(r)) {
        size_t nb = total - done < o->batch ? total - done : o->batch;
        body.len = 0;
        if (o->batch == 1) {
            plow_buf_printf(&body, "{\"tx\":\"%s\"}", r->hex[items[done]]);
        } else {
            plow_buf_printf(&body, "{\"txs\":[");
            for (size_t i = 0; i < nb; i++) plow_buf_printf(&body, "%s\"%s\"", i ? "," : "", r->hex[items[done + i]]);
            plow_buf_printf(&body, "]}");
        }
        if (per_req > 0) {
            double now = plow_now();
            if (next > now) usleep((useconds_t)((next - now) * 1e6));
            next += per_req;
        }
        double t = plow_now();
        long code = http_do(&h, o->batch == 1 ? "/v1/tx" : "/v1/txs", (char *)body.data, body.len);
        double lat = plow_now() - t;
        if (code == 0 || code >= 500) { /* the node is away or stopping: the same request again */
            __atomic_fetch_add(&r->retries, 1, __ATOMIC_RELAXED);
            usleep(50000);
            continue;
        }
        size_t n_ok = 0;
        if (o->batch == 1) {
            if (code == 202 || known(&h, r->hash[items[done]])) {
                memcpy(hs[n_ok++], r->hash[items[done]], 32);
            } else {
                fprintf(stderr, "plow_loadgen: refused (%ld): %s\n", code, (char *)h.body.data);
                __atomic_fetch_add(&r->failed, 1, __ATOMIC_RELAXED);
            }
        } else {
            cJSON *j = code == 200 ? cJSON_Parse((char *)h.body.data) : NULL;
            const cJSON *res = j ? cJSON_GetObjectItemCaseSensitive(j, "results") : NULL;
            if (!cJSON_IsArray(res) || cJSON_GetArraySize(res) != (int)nb) {
                fprintf(stderr, "plow_loadgen: batch refused (%ld): %.200s\n", code, (char *)h.body.data);
                cJSON_Delete(j);
                __atomic_fetch_add(&r->retries, 1, __ATOMIC_RELAXED);
                usleep(50000);
                continue;
            }
            for (size_t i = 0; i < nb; i++) {
                const cJSON *e = cJSON_GetArrayItem(res, (int)i);
                if (cJSON_GetObjectItemCaseSensitive(e, "hash") || known(&h, r->hash[items[done + i]])) {
                    memcpy(hs[n_ok++], r->hash[items[done + i]], 32);
                } else {
                    const char *m = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(e, "error"));
                    fprintf(stderr, "plow_loadgen: refused: %s\n", m ? m : "?");
                    __atomic_fetch_add(&r->failed, 1, __ATOMIC_RELAXED);
                }
            }
            cJSON_Delete(j);
        }
        record(r, (const uint8_t (*)[32])hs, n_ok, lat);
        done += nb;
    }
    free(hs);
    free(items);
    plow_buf_release(&body);
    http_free(&h);
    return NULL;
}

static int cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static int cmd_run(const opts *o) {
    if (!o->url || !o->senders || !o->txs) return die("run: --url, --senders and --txs are required");
    if (!o->conns || !o->batch || o->batch > 10000) return die("run: --conns >= 1, --batch 1..10000");
    char err[PLOW_ERR_LEN];
    run_ctx r = {.o = o};
    pthread_mutex_init(&r.mu, NULL);
    http h;
    http_init(&h, o->url);
    /* the node may still be starting: wait up to 30 s */
    double until = plow_now() + 30;
    while (chain_id_of(&h, r.chain_id, err) != 0) {
        if (plow_now() > until) return die("%s", err);
        usleep(100000);
    }
    r.keys = plow_alloc(o->senders * sizeof *r.keys);
    r.nonce0 = plow_alloc(o->senders * sizeof *r.nonce0);
    for (uint32_t i = 0; i < o->senders; i++) {
        derive_key(i, &r.keys[i]);
        if (next_nonce_of(&h, r.keys[i].pk, &r.nonce0[i], err) != 0) return die("%s", err);
    }
    http_free(&h);
    uint64_t total = o->senders * o->txs;
    r.hex = plow_calloc(total, sizeof *r.hex);
    r.hash = plow_calloc(total, 32);
    double ts = plow_now();
    sign_job sj[2] = {{&r, 0, total / 2}, {&r, total / 2, total}};
    pthread_t st;
    pthread_create(&st, NULL, sign_main, &sj[0]);
    sign_main(&sj[1]);
    pthread_join(st, NULL);
    if (!o->quiet) fprintf(stderr, "signed %llu transfers in %.2f s\n", (unsigned long long)total, plow_now() - ts);
    if (o->ack) {
        r.ack = fopen(o->ack, "a");
        if (!r.ack) return die("cannot open %s: %s", o->ack, strerror(errno));
    }
    uint64_t conns = o->conns < o->senders ? o->conns : o->senders;
    opts oc = *o;
    oc.conns = conns;
    r.o = &oc;
    pthread_t *th = plow_alloc(conns * sizeof *th);
    conn_job *cj = plow_alloc(conns * sizeof *cj);
    r.t0 = plow_now();
    r.deadline = o->seconds > 0 ? r.t0 + o->seconds : 0;
    for (uint64_t i = 0; i < conns; i++) {
        cj[i] = (conn_job){&r, i};
        pthread_create(&th[i], NULL, conn_main, &cj[i]);
    }
    for (uint64_t i = 0; i < conns; i++) pthread_join(th[i], NULL);
    double el = plow_now() - r.t0;
    if (r.ack) fclose(r.ack);
    double p50 = 0, p99 = 0;
    if (r.n_lat) {
        qsort(r.lat, r.n_lat, sizeof *r.lat, cmp_d);
        p50 = r.lat[r.n_lat / 2];
        p99 = r.lat[(size_t)((double)r.n_lat * 0.99)];
    }
    printf("| http submit | %llu conns | batch %llu | %llu acked | %.1f s | %.0f tx/s | p50 %.1f ms | p99 %.1f ms | %llu retries | %llu refused |\n",
           (unsigned long long)conns, (unsigned long long)o->batch, (unsigned long long)r.acked, el,
           (double)r.acked / el, p50 * 1e3, p99 * 1e3, (unsigned long long)r.retries, (unsigned long long)r.failed);
    for (uint64_t i = 0; i < total; i++) free(r.hex[i]);
    free(r.hex);
    free(r.hash);
    free(r.keys);
    free(r.nonce0);
    free(r.lat);
    free(th);
    free(cj);
    return r.failed ? 1 : 0;
}

/* ---- check ------------------------------------------------------------------------------------ */

static int cmd_check(const opts *o) {
    if (!o->url || !o->ack) return die("check: --url and --ack are required");
    char err[PLOW_ERR_LEN];
    uint8_t *buf;
    size_t len;
    if (plow_read_file(o->ack, (size_t)1 << 30, &buf, &len, err) != 0) return die("%s", err);
    size_t n = len / 65;
    http h;
    http_init(&h, o->url);
    size_t included = 0, pending_left = n, bad = 0;
    bool *done = plow_calloc(n ? n : 1, 1);
    double until = plow_now() + o->timeout;
    while (pending_left) {
        size_t pend = 0;
        for (size_t i = 0; i < n; i++) {
            if (done[i]) continue;
            char path[100];
            snprintf(path, sizeof path, "/v1/tx/%.64s", (char *)buf + 65 * i);
            cJSON *j = get_json(&h, path, err);
            const char *st = j ? cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(j, "status")) : NULL;
            if (st && strcmp(st, "pending") == 0) {
                pend++;
            } else {
                done[i] = true;
                if (st && strcmp(st, "included") == 0) {
                    included++;
                } else {
                    bad++;
                    fprintf(stderr, "acknowledged tx %.64s: %s\n", (char *)buf + 65 * i,
                            j ? (char *)h.body.data : err);
                }
            }
            cJSON_Delete(j);
        }
        pending_left = pend;
        if (pend && plow_now() > until) {
            fprintf(stderr, "%zu acknowledged transactions still pending after %.0f s\n", pend, o->timeout);
            bad += pend;
            break;
        }
        if (pend) usleep(200000);
    }
    free(done);
    free(buf);
    /* money: the genesis accounts hold everything (transfers stay among them) */
    ledger_genesis g;
    memset(&g, 0, sizeof g);
    long code = http_do(&h, "/v1/genesis", NULL, 0);
    if (code != 200 || ledger_genesis_parse(&g, h.body.data, h.body.len, err) != 0) return die("genesis: %s", err);
    cJSON *s = get_json(&h, "/v1/status", err);
    uint64_t supply = 0, burned = 0, holdings = 0, sum = 0;
    if (!s || json_u64(s, "supply", &supply) || json_u64(s, "burned", &burned) || json_u64(s, "holdings", &holdings))
        return die("status: %s", err);
    /* the operator earns the fees: count it even when it held nothing at genesis */
    uint8_t op[32];
    const char *ops = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(s, "operator"));
    if (!ops || ledger_addr_parse(ops, op, err) != 0) return die("status: operator: %s", err);
    cJSON_Delete(s);
    bool op_in = false;
    for (size_t i = 0; i < g.n_accounts; i++) op_in |= memcmp(g.accounts[i].pk, op, 32) == 0;
    for (size_t i = 0; i < g.n_accounts + !op_in; i++) {
        char addr[LEDGER_ADDR_STR_LEN], path[128];
        ledger_addr_format(i < g.n_accounts ? g.accounts[i].pk : op, addr);
        snprintf(path, sizeof path, "/v1/account/%s", addr);
        cJSON *a = get_json(&h, path, err);
        uint64_t bal, stake, unb;
        if (!a || json_u64(a, "balance", &bal) || json_u64(a, "stake", &stake) || json_u64(a, "unbonding", &unb))
            return die("account: %s", err);
        sum += bal + stake + unb;
        cJSON_Delete(a);
    }
    ledger_genesis_release(&g);
    http_free(&h);
    printf("acknowledged %zu, included %zu, not included %zu; accounts hold %llu, supply - burned = %llu, holdings %llu\n",
           n, included, bad, (unsigned long long)sum, (unsigned long long)(supply - burned),
           (unsigned long long)holdings);
    if (bad) return die("%zu acknowledged transactions are not in a block", bad);
    if (sum != supply - burned || holdings != sum) return die("money does not add up");
    return 0;
}

/* The signer of tx and blobsig: --key FILE, or the test key of --sender I; 1 (said) without. */
static int sender_key(const opts *o, const char *cmd, ledger_key *k) {
    char err[PLOW_ERR_LEN];
    if (o->key) {
        if (ledger_key_load(k, o->key, err) != 0) return die("%s", err);
    } else if (o->has_sender) {
        derive_key((uint32_t)o->sender, k);
    } else {
        return die("%s: --key FILE or --sender I", cmd);
    }
    return 0;
}

/* ---- tx ---------------------------------------------------------------------------------------- */

static int cmd_tx(const opts *o) {
    char err[PLOW_ERR_LEN];
    ledger_key k;
    if (sender_key(o, "tx", &k)) return 1;
    if (!o->to) return die("tx: --to ADDR is required");
    ledger_tx tx;
    memset(&tx, 0, sizeof tx);
    tx.type = LEDGER_TX_TRANSFER;
    memcpy(tx.sender, k.pk, 32);
    if (ledger_addr_parse(o->to, tx.u.transfer.to, err) != 0) return die("%s", err);
    tx.u.transfer.amount = o->amount;
    tx.fee = o->fee;
    uint8_t cid[32];
    http h;
    http_init(&h, o->url ? o->url : "");
    if (o->chain_hex) {
        if (strlen(o->chain_hex) != 64 || plow_unhex(o->chain_hex, cid, 32) != 0) return die("--chain-id: 64 hex");
    } else if (!o->url || chain_id_of(&h, cid, err) != 0) {
        return die("tx: %s", o->url ? err : "--url or --chain-id");
    }
    if (o->has_nonce) tx.nonce = o->nonce;
    else if (!o->url || next_nonce_of(&h, k.pk, &tx.nonce, err) != 0) return die("tx: %s", err);
    http_free(&h);
    uint64_t count = o->count ? o->count : 1;
    if (o->count) printf("{\"txs\":[");
    plow_buf b = {0};
    for (uint64_t i = 0; i < count; i++, tx.nonce++) {
        ledger_tx_sign(&tx, &k, cid);
        b.len = 0;
        ledger_tx_encode(&tx, &b);
        char *hx = plow_alloc(2 * b.len + 1);
        plow_hex(b.data, b.len, hx);
        if (o->count) printf("%s\"%s\"", i ? "," : "", hx);
        else printf("%s\n", hx);
        free(hx);
    }
    if (o->count) printf("]}\n");
    plow_buf_release(&b);
    return 0;
}

/* ---- hostile ----------------------------------------------------------------------------------- */

/* Hostile clients (issue 10, finding 6), each kind from its own source
 * address (all of 127.0.0.0/8 is loopback): --from A is the first, the next
 * kinds take A+1, A+2, A+3. One thread drives every socket with poll(2). */
enum { HK_IDLE, HK_SLOW, HK_SSE, HK_BODY, HK_N };
static const char *const hk_name[HK_N] = {"idle", "slowloris", "sse", "bodies"};
enum { HS_CONNECTING, HS_OPEN, HS_CLOSED };

typedef struct hconn {
    int fd, kind, state, status;
    bool connected;
    size_t sent, head_len;
    double t_open, t_close, next_byte;
    char rbuf[16];
    size_t rlen;
} hconn;

typedef struct honest_ctx {
    const opts *o;
    volatile int *stop;
    double *lat;
    size_t n, cap, failed;
} honest_ctx;

/* The honest client: GET /v1/status and POST /v1/tx (a transfer from
 * sender 0), in turn, from 127.0.0.1 over keep-alive, while the hostile
 * connections hold. */
static void *honest_main(void *arg) {
    honest_ctx *hc = arg;
    const opts *o = hc->o;
    char err[PLOW_ERR_LEN];
    http h;
    http_init(&h, o->url);
    curl_easy_setopt(h.c, CURLOPT_TIMEOUT, 30L);
    ledger_key k, to;
    derive_key(0, &k);
    derive_key(1, &to);
    uint8_t cid[32];
    uint64_t nonce = 0;
    if (chain_id_of(&h, cid, err) != 0 || next_nonce_of(&h, k.pk, &nonce, err) != 0) {
        fprintf(stderr, "plow_loadgen: honest client: %s\n", err);
        hc->failed++;
        http_free(&h);
        return NULL;
    }
    plow_buf b = {0}, body = {0};
    /* spread over the hold, so the requests see every moment of it */
    double gap = (o->seconds > 0 ? o->seconds : 15) * 0.9 / (double)o->count, next = plow_now();
    for (uint64_t i = 0; !*hc->stop && hc->n + hc->failed < o->count; i++) {
        double now0 = plow_now();
        if (next > now0) usleep((useconds_t)((next - now0) * 1e6));
        next += gap;
        long want;
        double t = plow_now();
        long code;
        if (i % 2 == 0) {
            want = 200;
            code = http_do(&h, "/v1/status", NULL, 0);
        } else {
            ledger_tx tx;
            memset(&tx, 0, sizeof tx);
            tx.type = LEDGER_TX_TRANSFER;
            memcpy(tx.sender, k.pk, 32);
            tx.nonce = nonce;
            tx.fee = 1;
            memcpy(tx.u.transfer.to, to.pk, 32);
            tx.u.transfer.amount = 1;
            ledger_tx_sign(&tx, &k, cid);
            b.len = 0;
            ledger_tx_encode(&tx, &b);
            char *hx = plow_alloc(2 * b.len + 1);
            plow_hex(b.data, b.len, hx);
            body.len = 0;
            plow_buf_printf(&body, "{\"tx\":\"%s\"}", hx);
            free(hx);
            want = 202;
            t = plow_now();
            code = http_do(&h, "/v1/tx", (char *)body.data, body.len);
            if (code == 202) nonce++;
        }
        double lat = plow_now() - t;
        if (code != want) {
            fprintf(stderr, "plow_loadgen: honest request %llu: status %ld %.200s\n", (unsigned long long)i, code,
                    (char *)h.body.data);
            hc->failed++;
            continue;
        }
        if (hc->n == hc->cap) {
            hc->cap = hc->cap ? 2 * hc->cap : 256;
            hc->lat = plow_realloc(hc->lat, hc->cap * sizeof *hc->lat);
        }
        hc->lat[hc->n++] = lat;
    }
    plow_buf_release(&b);
    plow_buf_release(&body);
    http_free(&h);
    return NULL;
}

static int parse_host_port(const char *url, struct sockaddr_in *sa) {
    const char *p = strstr(url, "://");
    p = p ? p + 3 : url;
    char host[64];
    const char *colon = strchr(p, ':');
    if (!colon || (size_t)(colon - p) >= sizeof host) return -1;
    memcpy(host, p, (size_t)(colon - p));
    host[colon - p] = 0;
    memset(sa, 0, sizeof *sa);
    sa->sin_family = AF_INET;
    sa->sin_port = htons((uint16_t)atoi(colon + 1));
    return inet_pton(AF_INET, host, &sa->sin_addr) == 1 ? 0 : -1;
}

static void hconn_close(hconn *c) {
    if (c->state == HS_CLOSED) return;
    close(c->fd);
    c->fd = -1;
    c->state = HS_CLOSED;
    c->t_close = plow_now();
}

/* Reads what the node sent: the status of its answer, or its close. */
static void hconn_read(hconn *c) {
    char buf[16384];
    for (;;) {
        ssize_t r = recv(c->fd, buf, sizeof buf, 0);
        if (r > 0) {
            if (!c->status) {
                size_t k = (size_t)r < sizeof c->rbuf - 1 - c->rlen ? (size_t)r : sizeof c->rbuf - 1 - c->rlen;
                memcpy(c->rbuf + c->rlen, buf, k);
                c->rlen += k;
                c->rbuf[c->rlen] = 0;
                if (c->rlen >= 12 && strncmp(c->rbuf, "HTTP/1.", 7) == 0) c->status = atoi(c->rbuf + 9);
            }
            continue;
        }
        if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
        hconn_close(c); /* 0: the node closed it; < 0: reset */
        return;
    }
}

static int cmd_hostile(const opts *o) {
    if (!o->url) return die("hostile: --url URL is required");
    struct sockaddr_in node_sa, src;
    if (parse_host_port(o->url, &node_sa) != 0) return die("hostile: --url must be http://A.B.C.D:PORT");
    memset(&src, 0, sizeof src);
    src.sin_family = AF_INET;
    if (inet_pton(AF_INET, o->from ? o->from : "127.0.0.2", &src.sin_addr) != 1) return die("hostile: --from A.B.C.D");
    uint64_t want[HK_N] = {o->idle, o->slow, o->sse, o->bodies};
    size_t total = 0;
    for (int k = 0; k < HK_N; k++) total += want[k];
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY && total + 64 > rl.rlim_cur)
        return die("hostile: %zu connections need more descriptors than the limit (%llu): raise ulimit -n", total,
                   (unsigned long long)rl.rlim_cur);
    size_t body_bytes = (size_t)(o->body_mb ? o->body_mb : 15) << 20;
    static const char slow_head[] = "GET /v1/status HTTP/1.1\r\nHost: plow\r\nX-Slow: ";
    static const char sse_head[] = "GET /v1/events HTTP/1.1\r\nHost: plow\r\nAccept: text/event-stream\r\n\r\n";
    static const char body_head[] = "POST /v1/txs HTTP/1.1\r\nHost: plow\r\nContent-Type: application/json\r\n"
                                    "Content-Length: 16777216\r\n\r\n";
    static char fill[65536];
    memset(fill, 'a', sizeof fill);
    hconn *cs = plow_calloc(total ? total : 1, sizeof *cs);
    struct pollfd *pf = plow_calloc(total ? total : 1, sizeof *pf);
    size_t nc = 0, failed_connect = 0;
    for (int k = 0; k < HK_N; k++) {
        struct sockaddr_in from = src;
        from.sin_addr.s_addr = htonl(ntohl(src.sin_addr.s_addr) + (uint32_t)k);
        for (uint64_t i = 0; i < want[k]; i++) {
            hconn *c = &cs[nc];
            c->kind = k;
            c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
            if (c->fd < 0 || bind(c->fd, (struct sockaddr *)&from, sizeof from) != 0 ||
                (connect(c->fd, (struct sockaddr *)&node_sa, sizeof node_sa) != 0 && errno != EINPROGRESS)) {
                if (c->fd >= 0) close(c->fd);
                c->fd = -1;
                c->state = HS_CLOSED;
                failed_connect++;
            } else {
                c->state = HS_CONNECTING;
            }
            c->t_open = plow_now();
            c->t_close = 0;
            nc++;
            if (nc % 200 == 0) usleep(20000); /* waves: the node's accept queue keeps up */
        }
    }
    volatile int stop = 0;
    honest_ctx hc = {.o = o, .stop = &stop};
    pthread_t ht;
    bool honest = o->count > 0;
    if (o->ready) {
        char err[PLOW_ERR_LEN];
        if (plow_write_file(o->ready, "ready\n", 6, err) != 0) return die("%s", err);
    }
    if (honest) pthread_create(&ht, NULL, honest_main, &hc);
    double t_end = plow_now() + (o->seconds > 0 ? o->seconds : 15);
    while (plow_now() < t_end && !g_stop) {
        double now = plow_now();
        for (size_t i = 0; i < nc; i++) {
            hconn *c = &cs[i];
            pf[i].fd = c->state == HS_CLOSED ? -1 : c->fd;
            pf[i].events = POLLIN;
            pf[i].revents = 0;
            if (c->state == HS_CONNECTING) pf[i].events = POLLOUT;
            else if (c->state == HS_OPEN && c->kind == HK_BODY && c->sent < c->head_len + body_bytes) pf[i].events |= POLLOUT;
            else if (c->state == HS_OPEN && c->kind == HK_SLOW && now >= c->next_byte) pf[i].events |= POLLOUT;
        }
        poll(pf, nc, 100);
        now = plow_now();
        for (size_t i = 0; i < nc; i++) {
            hconn *c = &cs[i];
            if (c->state == HS_CLOSED) continue;
            short re = pf[i].revents;
            if (c->state == HS_CONNECTING) {
                if (!(re & (POLLOUT | POLLERR | POLLHUP))) continue;
                int e = 0;
                socklen_t el = sizeof e;
                getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &e, &el);
                if (e) {
                    hconn_close(c);
                    failed_connect++;
                    continue;
                }
                c->state = HS_OPEN;
                c->connected = true;
                c->t_open = now;
                const char *head = c->kind == HK_SLOW ? slow_head : c->kind == HK_SSE ? sse_head
                                                                 : c->kind == HK_BODY ? body_head : NULL;
                c->head_len = head ? strlen(head) : 0;
                if (head) {
                    ssize_t w = send(c->fd, head, c->head_len, MSG_NOSIGNAL);
                    c->sent = w > 0 ? (size_t)w : 0;
                }
                c->next_byte = now + 1;
                continue;
            }
            if (re & (POLLIN | POLLERR | POLLHUP)) {
                hconn_read(c);
                if (c->state == HS_CLOSED) continue;
            }
            if (!(re & POLLOUT)) continue;
            ssize_t w = 0;
            if (c->kind == HK_SLOW) { /* one more byte of a header that never ends */
                w = send(c->fd, "a", 1, MSG_NOSIGNAL);
                c->next_byte = now + 1;
            } else if (c->kind == HK_BODY && c->sent < c->head_len) {
                w = send(c->fd, body_head + c->sent, c->head_len - c->sent, MSG_NOSIGNAL);
            } else if (c->kind == HK_BODY) {
                size_t left = c->head_len + body_bytes - c->sent;
                w = send(c->fd, fill, left < sizeof fill ? left : sizeof fill, MSG_NOSIGNAL);
            }
            if (w > 0) c->sent += (size_t)w;
            else if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK) hconn_close(c);
        }
    }
    stop = 1;
    if (honest) pthread_join(ht, NULL);
    double end = plow_now();
    for (int k = 0; k < HK_N; k++) {
        if (!want[k]) continue;
        size_t connected = 0, s200 = 0, s503 = 0, other = 0, closed = 0, open = 0, quick = 0;
        double held_max = 0;
        for (size_t i = 0; i < nc; i++) {
            hconn *c = &cs[i];
            if (c->kind != k) continue;
            connected += c->connected;
            if (c->status == 200) s200++;
            else if (c->status == 503) s503++;
            else if (c->status) other++;
            if (c->state == HS_OPEN) open++;
            if (c->state == HS_CLOSED && c->connected) {
                closed++;
                double held = c->t_close - c->t_open;
                if (held < 1) quick++;
                if (held > held_max) held_max = held;
            }
        }
        printf("hostile kind=%s tried=%llu connected=%zu status200=%zu status503=%zu other=%zu closed=%zu closed_at_once=%zu "
               "open=%zu held_max_s=%.1f\n",
               hk_name[k], (unsigned long long)want[k], connected, s200, s503, other, closed, quick, open, held_max);
    }
    for (size_t i = 0; i < nc; i++)
        if (cs[i].state != HS_CLOSED) close(cs[i].fd);
    if (honest) {
        double p50 = 0, p99 = 0;
        if (hc.n) {
            qsort(hc.lat, hc.n, sizeof *hc.lat, cmp_d);
            p50 = hc.lat[hc.n / 2];
            p99 = hc.lat[(size_t)((double)hc.n * 0.99)];
        }
        printf("| node | honest client under %zu hostile connections (%llu idle, %llu slowloris, %llu SSE, %llu partial 16 MiB bodies) | %zu requests (status, tx) | p50 %.1f ms | p99 %.1f ms | %zu failed |\n",
               total, (unsigned long long)o->idle, (unsigned long long)o->slow, (unsigned long long)o->sse,
               (unsigned long long)o->bodies, hc.n, p50 * 1e3, p99 * 1e3, hc.failed);
    }
    (void)end;
    (void)failed_connect;
    free(hc.lat);
    free(cs);
    free(pf);
    return honest && (hc.failed || !hc.n) ? 1 : 0;
}

/* ---- blobsig ------------------------------------------------------------------------------------- */

/* The three headers of a signed upload of FILE (docs/api.md, "Blob uploads"). */
static int cmd_blobsig(const opts *o) {
    char err[PLOW_ERR_LEN];
    ledger_key k;
    if (sender_key(o, "blobsig", &k)) return 1;
    if (!o->in || !o->url) return die("blobsig: --url URL and --in FILE are required");
    uint8_t *buf;
    size_t len;
    if (plow_read_file(o->in, (size_t)1 << 31, &buf, &len, err) != 0) return die("%s", err);
    uint8_t hash[32], cid[32];
    plow_sha256_once(buf, len, hash);
    free(buf);
    if (o->hash_hex && (strlen(o->hash_hex) != 64 || plow_unhex(o->hash_hex, hash, 32) != 0))
        return die("blobsig: --hash: 64 hex digits");
    http h;
    http_init(&h, o->url);
    if (chain_id_of(&h, cid, err) != 0) return die("blobsig: %s", err);
    http_free(&h);
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    uint64_t t = o->has_nonce ? o->nonce : (uint64_t)now.tv_sec * 1000u + (uint64_t)now.tv_nsec / 1000000u;
    uint64_t size = o->amount_set ? o->amount : (uint64_t)len;
    uint8_t msg[CLIENT_BLOB_AUTH_LEN], sig[LEDGER_SIG_LEN];
    client_blob_auth_msg(cid, hash, size, t, msg);
    ledger_sign(&k, msg, sizeof msg, sig);
    char addr[LEDGER_ADDR_STR_LEN], sh[2 * LEDGER_SIG_LEN + 1];
    ledger_addr_format(k.pk, addr);
    plow_hex(sig, sizeof sig, sh);
    printf("X-Plow-Signer: %s\nX-Plow-Time: %llu\nX-Plow-Sig: %s\n", addr, (unsigned long long)t, sh);
    return 0;
}

/* ---- doctor -------------------------------------------------------------------------------------- */

static void set_hex(cJSON *o, const char *k, const uint8_t *b, size_t n) {
    char *hx = plow_alloc(2 * n + 1);
    plow_hex(b, n, hx);
    cJSON_ReplaceItemInObjectCaseSensitive(o, k, cJSON_CreateString(hx));
    free(hx);
}

static int cmd_doctor(const opts *o) {
    if (!o->in || !o->out || !o->height) return die("doctor: --in, --out and --height are required");
    char err[PLOW_ERR_LEN];
    ledger_key k;
    memset(&k, 0, sizeof k);
    if (o->key && ledger_key_load(&k, o->key, err) != 0) return die("%s", err);
    uint8_t *buf;
    size_t len;
    if (plow_read_file(o->in, (size_t)1 << 30, &buf, &len, err) != 0) return die("%s", err);
    cJSON *j = cJSON_ParseWithLength((char *)buf, len);
    free(buf);
    cJSON *blocks = j ? cJSON_GetObjectItemCaseSensitive(j, "blocks") : NULL;
    if (!cJSON_IsArray(blocks)) return die("%s: not a /v1/blocks answer", o->in);
    cJSON *keep = cJSON_CreateArray();
    bool found = false;
    cJSON *b;
    while ((b = cJSON_DetachItemFromArray(blocks, 0)) != NULL) {
        uint64_t h;
        if (json_u64(b, "height", &h) != 0) return die("a block without a height");
        if (h > o->height) {
            cJSON_Delete(b);
            continue;
        }
        if (h == o->height) {
            const char *hx = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(b, "header"));
            uint8_t raw[LEDGER_BLOCK_HEADER_LEN];
            ledger_block_header hd;
            if (!hx || strlen(hx) != 2 * sizeof raw || plow_unhex(hx, raw, sizeof raw) != 0 ||
                ledger_block_decode(&hd, raw, sizeof raw, err) != 0)
                return die("block %llu: bad header", (unsigned long long)h);
            hd.state_root[0] ^= 0x01; /* the lie */
            uint8_t hash[32], sig[LEDGER_SIG_LEN];
            ledger_block_encode(&hd, raw);
            ledger_block_hash(&hd, hash);
            set_hex(b, "header", raw, sizeof raw);
            set_hex(b, "hash", hash, 32);
            if (o->key) { /* without --key the old signature stays: a forged header */
                ledger_sign(&k, hash, 32, sig);
                set_hex(b, "sig", sig, sizeof sig);
            }
            set_hex(b, "state_root", hd.state_root, 32);
            found = true;
        }
        cJSON_AddItemToArray(keep, b);
    }
    if (!found) return die("no block %llu in %s", (unsigned long long)o->height, o->in);
    cJSON *outj = cJSON_CreateObject();
    cJSON_AddItemToObject(outj, "blocks", keep);
    char *text = cJSON_PrintUnformatted(outj);
    int rc = plow_write_file(o->out, text, strlen(text), err);
    free(text);
    cJSON_Delete(outj);
    cJSON_Delete(j);
    ledger_key_wipe(&k);
    return rc ? die("%s", err) : 0;
}

/* ---- dispute -------------------------------------------------------------------------------- */

/* Signs tx (sender k, fee 1, its nonce as set) and POSTs it to /v1/tx:
 * the HTTP status (202 accepted, 0 no answer); its hash in hash. */
static long post_tx(http *h, const uint8_t cid[32], const ledger_key *k, ledger_tx *tx, uint8_t hash[32]) {
    memcpy(tx->sender, k->pk, 32);
    tx->fee = 1;
    ledger_tx_sign(tx, k, cid);
    ledger_tx_hash(tx, hash);
    plow_buf b = {0};
    ledger_tx_encode(tx, &b);
    char *hx = plow_alloc(2 * b.len + 1);
    plow_hex(b.data, b.len, hx);
    plow_buf body = {0};
    plow_buf_printf(&body, "{\"tx\":\"%s\"}", hx);
    long code = http_do(h, "/v1/tx", (char *)body.data, body.len);
    free(hx);
    plow_buf_release(&b);
    plow_buf_release(&body);
    return code;
}

/* Signs tx with k at its next nonce, submits it and waits for its block:
 * it must be included. */
static int send_wait(http *h, const uint8_t cid[32], const ledger_key *k, ledger_tx *tx, uint8_t hash[32],
                     char err[PLOW_ERR_LEN]) {
    if (next_nonce_of(h, k->pk, &tx->nonce, err) != 0) return -1;
    long code = post_tx(h, cid, k, tx, hash);
    if (code != 202)
        return plow_error(err, "%s refused (%ld): %.200s", ledger_tx_type_name(tx->type), code, (char *)h->body.data);
    char hh[65], path[100];
    plow_hex(hash, 32, hh);
    snprintf(path, sizeof path, "/v1/tx/%s", hh);
    for (int i = 0; i < 300; i++) {
        cJSON *j = get_json(h, path, err);
        const char *st = j ? cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(j, "status")) : NULL;
        int rc = !st ? -1 : strcmp(st, "included") == 0 ? 0 : strcmp(st, "pending") == 0 ? 1 : -1;
        if (rc < 0 && st) plow_error(err, "%s: %.200s", ledger_tx_type_name(tx->type), (char *)h->body.data);
        cJSON_Delete(j);
        if (rc <= 0) return rc;
        usleep(50000);
    }
    return plow_error(err, "%s still pending", ledger_tx_type_name(tx->type));
}

/* The worker wk (registered as NAME, staking `stake`) takes the only slot of
 * task: claims it, commits the nl leaves (steps nl - 1, values nothing
 * computed) sealed, and reveals them; each transaction included before the
 * next. */
static int work_slot(http *h, const uint8_t cid[32], const ledger_key *wk, const char *name, uint64_t stake,
                     const uint8_t task[32], const uint8_t *leaves, size_t nl, char err[PLOW_ERR_LEN]) {
    ledger_tx *tx = plow_calloc(1, sizeof *tx), *rv = plow_calloc(1, sizeof *rv);
    uint8_t hash[32], commitment[32];
    int rc = -1;
    tx->type = LEDGER_TX_REGISTER;
    tx->u.reg.kind = LEDGER_AGENT;
    snprintf(tx->u.reg.name, sizeof tx->u.reg.name, "%s", name);
    snprintf(tx->u.reg.caps, sizeof tx->u.reg.caps, "{}");
    if (send_wait(h, cid, wk, tx, hash, err) != 0) goto out;
    memset(tx, 0, sizeof *tx);
    tx->type = LEDGER_TX_STAKE;
    tx->u.stake.amount = stake;
    if (send_wait(h, cid, wk, tx, hash, err) != 0) goto out;
    memset(tx, 0, sizeof *tx);
    tx->type = LEDGER_TX_CLAIM;
    memcpy(tx->u.ref.task, task, 32);
    if (send_wait(h, cid, wk, tx, hash, err) != 0) goto out;
    /* a sealed commit, then its reveal (values, salt, the leaves) */
    rv->type = LEDGER_TX_REVEAL;
    memcpy(rv->sender, wk->pk, 32);
    memcpy(rv->u.open.task, task, 32);
    merkle_root(leaves, nl, rv->u.open.trace_root);
    memcpy(rv->u.open.final_state, leaves + 32 * (nl - 1), 32);
    plow_sha256_once("artifact", 8, rv->u.open.artifact);
    plow_sha256_once("manifest", 8, rv->u.open.manifest);
    rv->u.open.n = nl - 1;
    rv->u.open.checkpoint_every = 1;
    plow_sha256_once("plow_loadgen salt", 17, rv->u.open.salt);
    rv->u.open.count = (uint32_t)nl;
    memcpy(rv->u.open.leaves, leaves, nl * 32);
    memset(tx, 0, sizeof *tx);
    tx->type = LEDGER_TX_COMMIT;
    memcpy(tx->u.commit.task, task, 32);
    ledger_commitment(rv, 0, commitment);
    memcpy(tx->u.commit.trace_root, commitment, 32);
    tx->u.commit.n = nl - 1;
    if (send_wait(h, cid, wk, tx, hash, err) != 0) goto out;
    *tx = *rv;
    rc = send_wait(h, cid, wk, tx, hash, err);
out:
    free(rv);
    free(tx);
    return rc;
}

static int cmd_dispute(const opts *o) {
    if (!o->url) return die("dispute: --url is required");
    char err[PLOW_ERR_LEN];
    http h;
    http_init(&h, o->url);
    uint8_t cid[32], hash[32], task[32];
    if (chain_id_of(&h, cid, err) != 0) return die("%s", err);
    ledger_key req, wk, ch;
    derive_key(0, &req);
    derive_key(1, &wk);
    derive_key(2, &ch);
    ledger_tx *tx = plow_calloc(1, sizeof *tx);
#define SEND(k)                                                                                                        \
    do {                                                                                                               \
        if (send_wait(&h, cid, &(k), tx, hash, err) != 0) return die("%s", err);                                      \
    } while (0)
    tx->type = LEDGER_TX_POST_TASK;
    if (o->in) { /* --in FILE: the spec is FILE, uploaded by the requester */
        uint8_t *sb;
        size_t sn;
        if (plow_read_file(o->in, (size_t)1 << 24, &sb, &sn, err) != 0) return die("%s", err);
        client *c = client_new(o->url);
        if (!c) return die("cannot start an HTTP client");
        client_set_key(c, &req);
        int urc = client_blob_put(c, sb, sn, tx->u.post.spec, err);
        client_free(c);
        free(sb);
        if (urc != 0) return die("spec upload: %s", err);
    } else {
        plow_sha256_once("plow_loadgen spec", 17, tx->u.post.spec); /* never uploaded */
    }
    tx->u.post.kind = LEDGER_KIND_TRAIN;
    tx->u.post.mode = LEDGER_MODE_OPTIMISTIC;
    tx->u.post.replicas = 1;
    tx->u.post.reward = 100;
    tx->u.post.worker_stake = 10;
    tx->u.post.min_bond = 5;
    tx->u.post.steps = 2;
    tx->u.post.claim_blocks = tx->u.post.work_blocks = tx->u.post.window_blocks = 1000;
    SEND(req);
    memcpy(task, hash, 32);
    uint8_t leaves[3 * 32];
    for (int i = 0; i < 3; i++) {
        char l[8] = "leaf0";
        l[4] = (char)('0' + i);
        plow_sha256_once(l, 5, leaves + 32 * i);
    }
    if (work_slot(&h, cid, &wk, "worker", 100, task, leaves, 3, err) != 0) return die("%s", err);
    const char state[] = "the state the challenger claims is state 0";
    memset(tx, 0, sizeof *tx);
    tx->type = LEDGER_TX_CHALLENGE;
    memcpy(tx->u.challenge.task, task, 32);
    memcpy(tx->u.challenge.accused, wk.pk, 32);
    tx->u.challenge.step = 1;
    tx->u.challenge.bond = 10; /* the network's floor: 10 x min_fee */
    plow_sha256_once(state, sizeof state - 1, tx->u.challenge.state_blob);
    memcpy(tx->u.challenge.ev.leaf_prev, leaves, 32);
    memcpy(tx->u.challenge.ev.leaf, leaves + 32, 32);
    if (merkle_prove(leaves, 3, 0, &tx->u.challenge.ev.proof_prev, err) != 0 ||
        merkle_prove(leaves, 3, 1, &tx->u.challenge.ev.proof, err) != 0)
        return die("%s", err);
    if (o->with_state) { /* signed by the challenger, as plow does */
        client *c = client_new(o->url);
        if (!c) return die("cannot start an HTTP client");
        client_set_key(c, &ch);
        uint8_t got[32];
        int urc = client_blob_put(c, state, sizeof state - 1, got, err);
        client_free(c);
        if (urc != 0) return die("blob upload: %s", err);
    }
    SEND(ch);
#undef SEND
    char hx[65];
    plow_hex(hash, 32, hx);
    printf("%s\n", hx);
    free(tx);
    http_free(&h);
    return 0;
}

/* ---- readers ------------------------------------------------------------------------------------ */

typedef struct reader_ctx {
    const opts *o;
    const char *path;
    volatile int *stop;
    uint64_t done, failed;
} reader_ctx;

static void *reader_main(void *arg) {
    reader_ctx *r = arg;
    http h;
    http_init(&h, r->o->url);
    while (!*r->stop && !g_stop) {
        long code = http_do(&h, r->path, NULL, 0);
        if (code == 200) r->done++;
        else r->failed++;
    }
    http_free(&h);
    return NULL;
}

/* The time of block `height` (ms), or -1. */
static int64_t block_time_of(http *h, uint64_t height) {
    char path[64], err[PLOW_ERR_LEN];
    snprintf(path, sizeof path, "/v1/block/%" PRIu64, height);
    cJSON *j = get_json(h, path, err);
    if (!j) return -1;
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(j, "time_ms");
    int64_t v = cJSON_IsNumber(t) ? (int64_t)t->valuedouble : -1;
    uint64_t u;
    if (v < 0 && json_u64(j, "time_ms", &u) == 0) v = (int64_t)u;
    cJSON_Delete(j);
    return v;
}

static int height_of(http *h, uint64_t *height, char err[PLOW_ERR_LEN]) {
    cJSON *j = get_json(h, "/v1/status", err);
    if (!j) return -1;
    int rc = json_u64(j, "height", height) == 0 ? 0 : plow_error(err, "no height in /v1/status");
    cJSON_Delete(j);
    return rc;
}

static int cmd_readers(const opts *o) {
    if (!o->url) return die("readers: --url is required");
    char err[PLOW_ERR_LEN];
    uint64_t nc = o->conns && o->conns != 32 ? o->conns : 16; /* 32 is run's default: readers default to 16 */
    if (nc > 256) return die("readers: at most 256 --conns");
    http h;
    http_init(&h, o->url);
    uint64_t h0, h1;
    if (height_of(&h, &h0, err) != 0) return die("%s", err);
    volatile int stop = 0;
    reader_ctx *rc = plow_calloc(nc, sizeof *rc);
    pthread_t *th = plow_calloc(nc, sizeof *th);
    double t0 = plow_now();
    for (uint64_t i = 0; i < nc; i++) {
        rc[i] = (reader_ctx){.o = o, .path = o->to ? o->to : "/v1/tasks?status=open&limit=1", .stop = &stop};
        if (pthread_create(&th[i], NULL, reader_main, &rc[i]) != 0) return die("cannot start a reader thread");
    }
    double secs = o->seconds > 0 ? o->seconds : 10;
    while (plow_now() - t0 < secs && !g_stop) usleep(20000);
    stop = 1;
    uint64_t done = 0, failed = 0;
    for (uint64_t i = 0; i < nc; i++) {
        pthread_join(th[i], NULL);
        done += rc[i].done;
        failed += rc[i].failed;
    }
    double el = plow_now() - t0;
    if (height_of(&h, &h1, err) != 0) return die("%s", err);
    int64_t prev = -1, gap = 0;
    for (uint64_t k = h0; k <= h1; k++) {
        int64_t t = block_time_of(&h, k);
        if (t < 0) return die("readers: no time for block %" PRIu64, k);
        if (prev >= 0 && t - prev > gap) gap = t - prev;
        prev = t;
    }
    printf("requests=%" PRIu64 " req_per_s=%.0f failed=%" PRIu64 " blocks=%" PRIu64 " max_gap_ms=%" PRId64 "\n", done,
           (double)done / el, failed, h1 - h0, gap);
    free(rc);
    free(th);
    http_free(&h);
    return failed ? 1 : 0;
}

/* ---- junk and flood ---------------------------------------------------------------------------- */

/* Signs txs[0..n) (their nonces from `nonce` on) with k, sends them in one
 * POST /v1/txs and waits until every one is in a block (k's next nonce
 * past the last). Each tx's hash goes to hashes (may be NULL). */
static int send_batch(http *h, const uint8_t cid[32], const ledger_key *k, ledger_tx *txs, size_t n, uint64_t *nonce,
                      uint8_t (*hashes)[32], char err[PLOW_ERR_LEN]) {
    plow_buf body = {0}, b = {0};
    plow_buf_printf(&body, "{\"txs\":[");
    for (size_t i = 0; i < n; i++) {
        memcpy(txs[i].sender, k->pk, 32);
        txs[i].fee = 1;
        txs[i].nonce = (*nonce)++;
        ledger_tx_sign(&txs[i], k, cid);
        if (hashes) ledger_tx_hash(&txs[i], hashes[i]);
        b.len = 0;
        ledger_tx_encode(&txs[i], &b);
        char *hx = plow_alloc(2 * b.len + 1);
        plow_hex(b.data, b.len, hx);
        plow_buf_printf(&body, "%s\"%s\"", i ? "," : "", hx);
        free(hx);
    }
    plow_buf_printf(&body, "]}");
    long code = http_do(h, "/v1/txs", (char *)body.data, body.len);
    plow_buf_release(&body);
    plow_buf_release(&b);
    if (code != 200 && code != 202) return plow_error(err, "POST /v1/txs: %ld %.200s", code, (char *)h->body.data);
    if (strstr((char *)h->body.data, "\"error\"")) return plow_error(err, "POST /v1/txs: %.300s", (char *)h->body.data);
    char addr[LEDGER_ADDR_STR_LEN], path[128];
    ledger_addr_format(k->pk, addr);
    snprintf(path, sizeof path, "/v1/account/%s", addr);
    for (int i = 0; i < 1200; i++) { /* the account's nonce counts included transactions (next_nonce: pending too) */
        cJSON *j = get_json(h, path, err);
        uint64_t done = 0;
        int jrc = j ? json_u64(j, "nonce", &done) : -1;
        cJSON_Delete(j);
        if (jrc != 0) return plow_error(err, "no nonce for %s", addr);
        if (done >= *nonce) return 0;
        usleep(50000);
    }
    return plow_error(err, "a batch of %zu transactions was not included within a minute", n);
}

static int cmd_junk(const opts *o) {
    if (!o->url || !o->count) return die("junk: --url and --count are required");
    char err[PLOW_ERR_LEN];
    http h;
    http_init(&h, o->url);
    uint8_t cid[32];
    ledger_key req, wk;
    derive_key(0, &req);
    derive_key(1, &wk);
    uint64_t nr, nw, batch = o->batch > 1 ? o->batch : 500, c = o->committed;
    if (batch > 900) batch = 900; /* under the 1,000 pending a sender */
    if (c > o->count) c = o->count;
    if (chain_id_of(&h, cid, err) || next_nonce_of(&h, req.pk, &nr, err) || next_nonce_of(&h, wk.pk, &nw, err))
        return die("%s", err);
    ledger_tx *txs = plow_calloc(batch, sizeof *txs);
    uint8_t(*ids)[32] = plow_calloc(o->count, 32);
    for (uint64_t done = 0; done < o->count;) {
        size_t n = o->count - done < batch ? (size_t)(o->count - done) : (size_t)batch;
        memset(txs, 0, n * sizeof *txs);
        for (size_t i = 0; i < n; i++) {
            ledger_tx *t = &txs[i];
            t->type = LEDGER_TX_POST_TASK;
            plow_sha256_once("plow_loadgen junk", 17, t->u.post.spec); /* never uploaded */
            t->u.post.kind = LEDGER_KIND_TRAIN;
            t->u.post.mode = LEDGER_MODE_OPTIMISTIC;
            t->u.post.replicas = 1;
            t->u.post.reward = 1;
            t->u.post.worker_stake = 1;
            t->u.post.min_bond = 0;
            t->u.post.steps = 2;
            t->u.post.claim_blocks = t->u.post.work_blocks = t->u.post.window_blocks = 1000;
        }
        if (send_batch(&h, cid, &req, txs, n, &nr, ids + done, err) != 0) return die("junk posts: %s", err);
        done += n;
    }
    if (c > 0) { /* the junk worker: register, stake, then claim, commit and reveal c tasks, phase by phase */
        uint8_t leaves[3 * 32];
        for (int i = 0; i < 3; i++) plow_sha256_once((uint8_t[2]){'j', (uint8_t)i}, 2, leaves + 32 * i);
        memset(txs, 0, 2 * sizeof *txs);
        txs[0].type = LEDGER_TX_REGISTER;
        txs[0].u.reg.kind = LEDGER_AGENT;
        snprintf(txs[0].u.reg.name, sizeof txs[0].u.reg.name, "junk");
        snprintf(txs[0].u.reg.caps, sizeof txs[0].u.reg.caps, "{}");
        txs[1].type = LEDGER_TX_STAKE;
        txs[1].u.stake.amount = c;
        if (send_batch(&h, cid, &wk, txs, 2, &nw, NULL, err) != 0) return die("junk worker: %s", err);
        ledger_tx *rv = plow_calloc(1, sizeof *rv);
        for (int phase = 0; phase < 3; phase++)
            for (uint64_t done = 0; done < c;) {
                size_t n = c - done < batch ? (size_t)(c - done) : (size_t)batch;
                memset(txs, 0, n * sizeof *txs);
                for (size_t i = 0; i < n; i++) {
                    const uint8_t *task = ids[o->count - 1 - (done + i)]; /* the newest first */
                    memset(rv, 0, sizeof *rv);
                    rv->type = LEDGER_TX_REVEAL;
                    memcpy(rv->sender, wk.pk, 32);
                    memcpy(rv->u.open.task, task, 32);
                    merkle_root(leaves, 3, rv->u.open.trace_root);
                    memcpy(rv->u.open.final_state, leaves + 64, 32);
                    plow_sha256_once("junk artifact", 13, rv->u.open.artifact);
                    plow_sha256_once("junk manifest", 13, rv->u.open.manifest);
                    rv->u.open.n = 2;
                    rv->u.open.checkpoint_every = 1;
                    memcpy(rv->u.open.salt, task, 32);
                    rv->u.open.count = 3;
                    memcpy(rv->u.open.leaves, leaves, sizeof leaves);
                    ledger_tx *t = &txs[i];
                    if (phase == 0) {
                        t->type = LEDGER_TX_CLAIM;
                        memcpy(t->u.ref.task, task, 32);
                    } else if (phase == 1) {
                        t->type = LEDGER_TX_COMMIT;
                        memcpy(t->u.commit.task, task, 32);
                        uint8_t cm[32];
                        ledger_commitment(rv, 0, cm);
                        memcpy(t->u.commit.trace_root, cm, 32);
                        t->u.commit.n = 2;
                    } else {
                        *t = *rv;
                    }
                }
                if (send_batch(&h, cid, &wk, txs, n, &nw, NULL, err) != 0)
                    return die("junk %s: %s", phase == 0 ? "claims" : phase == 1 ? "commits" : "reveals", err);
                done += n;
            }
        free(rv);
    }
    printf("posted=%" PRIu64 " committed=%" PRIu64 "\n", o->count, c);
    free(ids);
    free(txs);
    http_free(&h);
    return 0;
}

/* The status of transaction `hash`: 1 included and applied, 0 pending,
 * -1 failed (its error in err), -2 the node could not be asked. */
static int tx_outcome(http *h, const uint8_t hash[32], char err[PLOW_ERR_LEN]) {
    char hh[65], path[100];
    plow_hex(hash, 32, hh);
    snprintf(path, sizeof path, "/v1/tx/%s", hh);
    cJSON *j = get_json(h, path, err);
    if (!j) return -2;
    const char *st = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(j, "status"));
    int rc = !st ? -2 : strcmp(st, "included") == 0 ? 1 : strcmp(st, "pending") == 0 ? 0 : -1;
    if (rc == -1) plow_error(err, "%.200s", (char *)h->body.data);
    cJSON_Delete(j);
    return rc;
}

#define FLOOD_INFLIGHT 5 /* one more than a challenger may hold open */

typedef struct flood_ch {
    ledger_key k;
    uint64_t nonce;
    uint8_t ids[FLOOD_INFLIGHT][32];
    uint64_t steps[FLOOD_INFLIGHT];
    int state[FLOOD_INFLIGHT]; /* 0 free, 1 sent, 2 open on the ledger */
} flood_ch;

static int cmd_flood(const opts *o) {
    if (!o->url || !o->in || !o->blobs || !o->senders) return die("flood: --url, --in, --blobs and --senders are required");
    char err[PLOW_ERR_LEN];
    http h;
    http_init(&h, o->url);
    uint8_t cid[32], hash[32], task[32];
    if (chain_id_of(&h, cid, err) != 0) return die("%s", err);
    uint64_t steps = o->steps ? o->steps : 64;
    if (steps < 3 || steps > 1000) return die("flood: --steps in 3..1000");
    ledger_key req, wk;
    derive_key(0, &req);
    derive_key(1, &wk);
    /* the blobs, then the spec, uploaded by the requester */
    client *c = client_new(o->url);
    if (!c) return die("cannot start an HTTP client");
    client_set_key(c, &req);
    char *list = plow_strdup(o->blobs), *save = NULL;
    for (char *f = strtok_r(list, ",", &save); f; f = strtok_r(NULL, ",", &save)) {
        uint8_t *b;
        size_t n;
        if (plow_read_file(f, (size_t)1 << 30, &b, &n, err) != 0 || client_blob_put(c, b, n, hash, err) != 0)
            return die("flood: %s: %s", f, err);
        free(b);
    }
    free(list);
    ledger_tx *tx = plow_calloc(1, sizeof *tx);
    uint8_t *sb;
    size_t sn;
    if (plow_read_file(o->in, 1 << 16, &sb, &sn, err) != 0 || client_blob_put(c, sb, sn, tx->u.post.spec, err) != 0)
        return die("flood: spec: %s", err);
    free(sb);
    client_free(c);
#define SEND(k)                                                                                                        \
    do {                                                                                                               \
        if (send_wait(&h, cid, &(k), tx, hash, err) != 0) return die("%s", err);                                      \
    } while (0)
    tx->type = LEDGER_TX_POST_TASK;
    tx->u.post.kind = LEDGER_KIND_TRAIN;
    tx->u.post.mode = LEDGER_MODE_OPTIMISTIC;
    tx->u.post.replicas = 1;
    tx->u.post.reward = 100;
    tx->u.post.worker_stake = 10;
    tx->u.post.min_bond = 0;
    tx->u.post.steps = (uint32_t)steps;
    tx->u.post.claim_blocks = tx->u.post.work_blocks = tx->u.post.window_blocks = 5000;
    SEND(req);
    memcpy(task, hash, 32);
    size_t nl = (size_t)steps + 1;
    uint8_t *leaves = plow_alloc(nl * 32);
    for (size_t i = 0; i < nl; i++) {
        uint8_t pre[12] = "flood leaf";
        pre[10] = (uint8_t)(i >> 8), pre[11] = (uint8_t)i;
        plow_sha256_once(pre, sizeof pre, leaves + 32 * i);
    }
    if (work_slot(&h, cid, &wk, "flooded", 100, task, leaves, nl, err) != 0) return die("%s", err);
#undef SEND
    /* the state every challenge names: bytes that are no state of the task */
    static const char state[] = "a state the referee must fetch the task's inputs and build it to refuse";
    c = client_new(o->url);
    if (!c) return die("cannot start an HTTP client");
    flood_ch *ch = plow_calloc(o->senders, sizeof *ch);
    for (uint64_t i = 0; i < o->senders; i++) {
        derive_key((uint32_t)(3 + i), &ch[i].k);
        if (next_nonce_of(&h, ch[i].k.pk, &ch[i].nonce, err) != 0) return die("%s", err);
    }
    client_set_key(c, &ch[0].k);
    uint8_t got[32];
    if (client_blob_put(c, state, sizeof state - 1, got, err) != 0) return die("flood: state blob: %s", err);
    client_free(c);
    FILE *ack = o->ack ? fopen(o->ack, "a") : NULL;
    if (o->ack && !ack) return die("cannot open %s", o->ack);
    uint64_t opened = 0, refused_limit = 0, refused_other = 0, next_step = 2;
    bool *busy = plow_calloc(steps + 1, 1); /* a step some challenge in flight disputes (X20: one at a time) */
    bool ready = false;
    double t_end = plow_now() + (o->seconds > 0 ? o->seconds : 20);
    while (plow_now() < t_end && !g_stop) {
        for (uint64_t i = 0; i < o->senders; i++) {
            flood_ch *f = &ch[i];
            for (int s = 0; s < FLOOD_INFLIGHT; s++) {
                if (f->state[s] == 1) { /* sent: included (open), or refused */
                    int oc = tx_outcome(&h, f->ids[s], err);
                    if (oc == 0 || oc == -2) continue;
                    if (oc < 0) {
                        if (strstr(err, "open challenges")) refused_limit++;
                        else refused_other++, fprintf(stderr, "plow_loadgen: flood: a challenge failed: %s\n", err);
                        f->state[s] = 0;
                        busy[f->steps[s]] = false;
                        continue;
                    }
                    f->state[s] = 2;
                    opened++;
                    if (ack) {
                        char hx[65];
                        plow_hex(f->ids[s], 32, hx);
                        fprintf(ack, "%s\n", hx);
                        fflush(ack);
                    }
                } else if (f->state[s] == 2) { /* open: ruled yet? */
                    char hx[65], path[100];
                    plow_hex(f->ids[s], 32, hx);
                    snprintf(path, sizeof path, "/v1/challenge/%s", hx);
                    cJSON *j = get_json(&h, path, err);
                    const char *st = j ? cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(j, "status")) : NULL;
                    if (st && strcmp(st, "open") != 0) f->state[s] = 0, busy[f->steps[s]] = false;
                    cJSON_Delete(j);
                }
                if (f->state[s] != 0) continue;
                /* a new challenge at the next step no challenge of mine holds */
                uint64_t j = 0;
                for (uint64_t tries = 0; tries < steps && !j; tries++) {
                    if (!busy[next_step]) j = next_step;
                    next_step = next_step + 1 > steps ? 2 : next_step + 1;
                }
                if (!j) continue; /* every step disputed already */
                memset(tx, 0, sizeof *tx);
                tx->type = LEDGER_TX_CHALLENGE;
                memcpy(tx->u.challenge.task, task, 32);
                memcpy(tx->u.challenge.accused, wk.pk, 32);
                tx->u.challenge.step = j;
                tx->u.challenge.bond = 10; /* the network's floor: 10 x min_fee */
                plow_sha256_once(state, sizeof state - 1, tx->u.challenge.state_blob);
                memcpy(tx->u.challenge.ev.leaf_prev, leaves + 32 * (j - 1), 32);
                memcpy(tx->u.challenge.ev.leaf, leaves + 32 * j, 32);
                if (merkle_prove(leaves, nl, j - 1, &tx->u.challenge.ev.proof_prev, err) != 0 ||
                    merkle_prove(leaves, nl, j, &tx->u.challenge.ev.proof, err) != 0)
                    return die("%s", err);
                tx->nonce = f->nonce;
                long code = post_tx(&h, cid, &f->k, tx, f->ids[s]);
                if (code == 202) {
                    f->steps[s] = j;
                    f->state[s] = 1;
                    busy[j] = true;
                    f->nonce++;
                } else if (code == 0) {
                    break; /* the node is away: next round */
                } else {
                    refused_other++;
                    fprintf(stderr, "plow_loadgen: flood: challenge refused (%ld): %.200s\n", code, (char *)h.body.data);
                    if (next_nonce_of(&h, f->k.pk, &f->nonce, err) != 0) return die("%s", err);
                }
            }
        }
        if (!ready && opened > 0 && o->ready) {
            FILE *rf = fopen(o->ready, "w");
            if (rf) fclose(rf);
            ready = true;
        }
        usleep(100000);
    }
    if (ack) fclose(ack);
    printf("opened=%" PRIu64 " refused_limit=%" PRIu64 " refused_other=%" PRIu64 "\n", opened, refused_limit,
           refused_other);
    char hx[65];
    plow_hex(task, 32, hx);
    printf("task=%s\n", hx);
    free(busy);
    free(ch);
    free(leaves);
    free(tx);
    http_free(&h);
    return 0;
}

int main(int argc, char **argv) {
    if (argc < 2 || strcmp(argv[1], "--help") == 0) {
        fprintf(argc < 2 ? stderr : stdout,
                "usage: plow_loadgen addrs|run|check|tx|doctor|dispute|junk|flood|readers|hostile|blobsig [options]  (see the comment at the top of bench/loadgen.c)\n");
        return argc < 2 ? 2 : 0;
    }
    opts o;
    if (parse_opts(argc, argv, &o) != 0) return 2;
    char err[PLOW_ERR_LEN];
    if (ledger_crypto_init(err) != 0) return die("%s", err);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_term;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    if (strcmp(argv[1], "addrs") == 0) return cmd_addrs(&o);
    if (strcmp(argv[1], "run") == 0) return cmd_run(&o);
    if (strcmp(argv[1], "check") == 0) return cmd_check(&o);
    if (strcmp(argv[1], "tx") == 0) return cmd_tx(&o);
    if (strcmp(argv[1], "doctor") == 0) return cmd_doctor(&o);
    if (strcmp(argv[1], "dispute") == 0) return cmd_dispute(&o);
    if (strcmp(argv[1], "hostile") == 0) return cmd_hostile(&o);
    if (strcmp(argv[1], "junk") == 0) return cmd_junk(&o);
    if (strcmp(argv[1], "readers") == 0) return cmd_readers(&o);
    if (strcmp(argv[1], "flood") == 0) return cmd_flood(&o);
    if (strcmp(argv[1], "blobsig") == 0) return cmd_blobsig(&o);
    return die("unknown command '%s'", argv[1]);
}
