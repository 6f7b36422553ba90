/*
 * client.c — the node's HTTP API (docs/api.md) seen from a client: the CLI
 * and the agents. libcurl, one easy handle per client reused for every
 * request so the connection stays open (keep-alive).
 *
 * Nothing the node sends is trusted more than it must be: records go through
 * json.c's strict parsers, a submitted transaction's hash is computed here
 * and compared with the node's, and a downloaded blob is hashed here and
 * refused if the bytes are not the ones asked for.
 *
 * Non-goals: retries on transport errors (a caller that wants them loops),
 * thread safety (one client per thread).
 */
#include "../base/plow.h"

#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "client.h"

#define CONNECT_TIMEOUT_MS 5000L
#define REQUEST_TIMEOUT_MS 60000L
/* Blob transfers have no total limit; they fail if slower than this. */
#define LOW_SPEED_BYTES 1024L
#define LOW_SPEED_SECONDS 30L
#define JSON_MAX ((size_t)256 << 20)  /* largest JSON answer read */
#define ERRBODY_MAX ((size_t)64 << 10) /* largest error body kept */
#define BLOB_MEM_MAX ((uint64_t)4 << 30) /* largest blob read into memory */
#define POLL_NS 100000000L             /* client_wait_tx: 100 ms */

struct client {
    CURL *h;
    char *url; /* no trailing slash */
    bool have_chain;
    uint8_t chain_id[32];
    bool has_key;
    ledger_key key; /* signs blob uploads */
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static void curl_init_once(void) { curl_global_init(CURL_GLOBAL_DEFAULT); }

client *client_new(const char *url) {
    pthread_once(&curl_once, curl_init_once);
    CURL *h = curl_easy_init();
    if (!h) return NULL;
    client *c = plow_calloc(1, sizeof *c);
    c->h = h;
    if (!url || !*url) url = "http://127.0.0.1:7545";
    size_t n = strlen(url);
    while (n > 0 && url[n - 1] == '/') n--;
    bool scheme = strstr(url, "://") != NULL;
    c->url = plow_alloc(n + 8);
    snprintf(c->url, n + 8, "%s%.*s", scheme ? "" : "http://", (int)n, url);
    return c;
}

void client_set_key(client *c, const ledger_key *k) {
    c->key = *k;
    c->has_key = true;
}

void client_blob_auth_msg(const uint8_t chain_id[32], const uint8_t hash[32], uint64_t size, uint64_t time_ms,
                          uint8_t out[CLIENT_BLOB_AUTH_LEN]) {
    memcpy(out, "plow-blob-put/v1", 16);
    memcpy(out + 16, chain_id, 32);
    memcpy(out + 48, hash, 32);
    plow_put_u64(out + 80, size);
    plow_put_u64(out + 88, time_ms);
}

void client_free(client *c) {
    if (!c) return;
    if (c->has_key) ledger_key_wipe(&c->key);
    curl_easy_cleanup(c->h);
    free(c->url);
    free(c);
}

const char *client_url(const client *c) { return c->url; }

/* ---- one request ----------------------------------------------------------------- */

typedef struct req {
    client *c;
    const char *method; /* GET POST PUT HEAD */
    const char *path;
    /* body: in memory (POST, PUT) or a file (PUT) */
    const uint8_t *body;
    size_t body_len, body_off;
    FILE *upload;
    uint64_t upload_len;
    bool json_body;
    bool transfer; /* a blob: no total timeout, a low-speed limit */
    const char *auth[3]; /* a signed upload's headers */
    const char *const *extra; /* client_request's headers (NULL-terminated) */
    /* answer: into memory (at most mem_max), or a file descriptor hashed on the way */
    plow_buf *mem;
    size_t mem_max;
    int fd;
    plow_sha256 *sha;
    uint64_t got;
    plow_buf errbody;
    char fail[PLOW_ERR_LEN]; /* why a callback stopped the transfer */
    long status;
} req;

static size_t on_write(char *p, size_t sz, size_t nm, void *arg) {
    req *r = arg;
    size_t n = sz * nm;
    long code = 0;
    curl_easy_getinfo(r->c->h, CURLINFO_RESPONSE_CODE, &code);
    if (code < 200 || code >= 300) {
        if (r->errbody.len + n <= ERRBODY_MAX) plow_buf_append(&r->errbody, p, n);
        return n;
    }
    if (r->fd >= 0) {
        for (size_t off = 0; off < n;) {
            ssize_t w = write(r->fd, p + off, n - off);
            if (w < 0 && errno == EINTR) continue;
            if (w <= 0) {
                plow_error(r->fail, "cannot write the download: %s", strerror(errno));
                return 0;
            }
            off += (size_t)w;
        }
        if (r->sha) plow_sha256_update(r->sha, p, n);
        r->got += n;
        if (r->mem_max && r->got > r->mem_max) {
            plow_error(r->fail, "the node at %s sent more than %zu bytes", r->c->url, r->mem_max);
            return 0;
        }
        return n;
    }
    if (r->mem) {
        if (r->mem->len + n > r->mem_max) {
            plow_error(r->fail, "the node at %s sent more than %zu bytes", r->c->url, r->mem_max);
            return 0;
        }
        plow_buf_append(r->mem, p, n);
    }
    return n;
}

static size_t on_read(char *p, size_t sz, size_t nm, void *arg) {
    req *r = arg;
    size_t n = sz * nm;
    if (r->upload) {
        size_t got = fread(p, 1, n, r->upload);
        if (got == 0 && ferror(r->upload)) {
            plow_error(r->fail, "cannot read the upload: %s", strerror(errno));
            return CURL_READFUNC_ABORT;
        }
        return got;
    }
    size_t left = r->body_len - r->body_off;
    if (n > left) n = left;
    memcpy(p, r->body + r->body_off, n);
    r->body_off += n;
    return n;
}

/* Why a connection failed, from the system's errno ("connection refused",
 * "no route to host"), else libcurl's message. */
static void connect_reason(CURL *h, const char *msg, char *out, size_t n) {
    long e = 0;
    curl_easy_getinfo(h, CURLINFO_OS_ERRNO, &e);
    if (e == ECONNREFUSED || e == 0) snprintf(out, n, "%s", e ? "connection refused" : msg);
    else snprintf(out, n, "%s", strerror((int)e));
    if (out[0] >= 'A' && out[0] <= 'Z' && !(out[1] >= 'A' && out[1] <= 'Z')) out[0] = (char)(out[0] - 'A' + 'a');
}

/* Performs r. Returns 0 when the node answered (any status: r->status),
 * -1 with err when it could not be reached or a callback failed. */
static int perform(req *r, char err[PLOW_ERR_LEN]) {
    client *c = r->c;
    CURL *h = c->h;
    char errbuf[CURL_ERROR_SIZE] = {0};
    size_t ulen = strlen(c->url) + strlen(r->path) + 2;
    char *url = plow_alloc(ulen);
    snprintf(url, ulen, "%s%s%s", c->url, r->path[0] == '/' || !r->path[0] ? "" : "/", r->path);
    struct curl_slist *hdrs = NULL;

    curl_easy_reset(h); /* options only: the open connection stays */
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(h, CURLOPT_USERAGENT, "plow/" PLOW_VERSION);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, CONNECT_TIMEOUT_MS);
    curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_write);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, r);
    if (r->transfer) {
        curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, LOW_SPEED_BYTES);
        curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, LOW_SPEED_SECONDS);
    } else {
        curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, REQUEST_TIMEOUT_MS);
    }
    if (strcmp(r->method, "HEAD") == 0) {
        curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
    } else if (strcmp(r->method, "POST") == 0) {
        curl_easy_setopt(h, CURLOPT_POST, 1L);
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, r->body ? (const char *)r->body : "");
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)r->body_len);
    } else if (strcmp(r->method, "PUT") == 0) {
        curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
        curl_easy_setopt(h, CURLOPT_READFUNCTION, on_read);
        curl_easy_setopt(h, CURLOPT_READDATA, r);
        curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, (curl_off_t)(r->upload ? r->upload_len : r->body_len));
        hdrs = curl_slist_append(hdrs, "Content-Type: application/octet-stream");
        for (int i = 0; i < 3; i++)
            if (r->auth[i]) hdrs = curl_slist_append(hdrs, r->auth[i]);
    }
    if (r->json_body) hdrs = curl_slist_append(hdrs, "Content-Type: application/json");
    for (size_t i = 0; r->extra && r->extra[i]; i++) hdrs = curl_slist_append(hdrs, r->extra[i]);
    if (hdrs) curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);

    CURLcode rc = curl_easy_perform(h);
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &r->status);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, NULL);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, NULL);
    curl_slist_free_all(hdrs);
    free(url);
    if (rc == CURLE_OK) return 0;
    if (r->fail[0]) return plow_error(err, "%s", r->fail);
    const char *msg = errbuf[0] ? errbuf : curl_easy_strerror(rc);
    char reason[PLOW_ERR_LEN];
    switch (rc) {
    case CURLE_COULDNT_CONNECT:
        connect_reason(h, msg, reason, sizeof reason);
        return plow_error(err, "cannot reach the node at %s: is 'plow node' running? (%s)", c->url, reason);
    case CURLE_COULDNT_RESOLVE_HOST:
        return plow_error(err, "cannot reach the node at %s: unknown host", c->url);
    case CURLE_OPERATION_TIMEDOUT:
        return plow_error(err, "the node at %s did not answer in time (%s %s: %s)", c->url, r->method, r->path, msg);
    case CURLE_UNSUPPORTED_PROTOCOL:
    case CURLE_URL_MALFORMAT:
        return plow_error(err, "bad node URL '%s': %s", c->url, msg);
    default:
        return plow_error(err, "talking to the node at %s (%s %s): %s", c->url, r->method, r->path, msg);
    }
}

/* The error of a non-2xx answer: the node's {"error"} text, else the status. */
static int status_error(req *r, char err[PLOW_ERR_LEN]) {
    cJSON *j = r->errbody.len ? cJSON_ParseWithLength((const char *)r->errbody.data, r->errbody.len) : NULL;
    const char *m = j ? json_get_str(j, "error") : NULL;
    if (m && *m) plow_error(err, "%s", m);
    else plow_error(err, "the node at %s answered HTTP %ld to %s %s", r->c->url, r->status, r->method, r->path);
    cJSON_Delete(j);
    return -1;
}

static void req_init(req *r, client *c, const char *method, const char *path) {
    memset(r, 0, sizeof *r);
    r->c = c;
    r->method = method;
    r->path = path;
    r->fd = -1;
}

/* A JSON request; on a 2xx answer *out is the parsed body. *status is set
 * whenever the node answered (so callers can tell 404 from other errors). */
static int json_request(client *c, const char *method, const char *path, const char *body, cJSON **out, long *status,
                        char err[PLOW_ERR_LEN]) {
    req r;
    plow_buf mem = {0};
    req_init(&r, c, method, path);
    r.mem = &mem;
    r.mem_max = JSON_MAX;
    if (body) {
        r.body = (const uint8_t *)body;
        r.body_len = strlen(body);
        r.json_body = true;
    }
    *out = NULL;
    if (status) *status = 0;
    int rc = perform(&r, err);
    if (status) *status = r.status;
    if (rc == 0 && (r.status < 200 || r.status >= 300)) rc = status_error(&r, err);
    if (rc == 0) {
        *out = mem.len ? cJSON_ParseWithLength((const char *)mem.data, mem.len) : NULL;
        if (!*out) rc = plow_error(err, "the node at %s answered %s %s with something that is not JSON", c->url, method, path);
    }
    plow_buf_release(&mem);
    plow_buf_release(&r.errbody);
    return rc;
}

int client_get_json(client *c, const char *path, cJSON **out, char err[PLOW_ERR_LEN]) {
    return json_request(c, "GET", path, NULL, out, NULL, err);
}

int client_post_json(client *c, const char *path, const char *body, cJSON **out, char err[PLOW_ERR_LEN]) {
    return json_request(c, "POST", path, body, out, NULL, err);
}

int client_request(client *c, const char *method, const char *path, const char *const *headers, const char *body,
                   long *status, plow_buf *out, size_t max, char err[PLOW_ERR_LEN]) {
    req r;
    req_init(&r, c, method, path);
    r.mem = out;
    r.mem_max = max;
    r.extra = headers;
    if (body) {
        r.body = (const uint8_t *)body;
        r.body_len = strlen(body);
        r.json_body = true;
    }
    *status = 0;
    int rc = perform(&r, err);
    *status = r.status;
    if (rc == 0 && (r.status < 200 || r.status >= 300)) {
        plow_buf_release(out);
        *out = r.errbody;
        r.errbody = (plow_buf){0};
    }
    plow_buf_release(&r.errbody);
    return rc;
}

/* ---- chain, accounts, tasks ------------------------------------------------------- */

static int status_field(client *c, const char *key, uint8_t h[32], uint64_t *v, char err[PLOW_ERR_LEN]) {
    cJSON *j;
    if (client_get_json(c, "/v1/status", &j, err)) return -1;
    int rc = h ? json_get_hash(j, key, h, err) : json_get_u64(j, key, v, err);
    if (rc) plow_error_prefix(err, "/v1/status");
    cJSON_Delete(j);
    return rc;
}

int client_chain_id(client *c, uint8_t chain_id[32], char err[PLOW_ERR_LEN]) {
    if (!c->have_chain) {
        if (status_field(c, "chain_id", c->chain_id, NULL, err)) return -1;
        c->have_chain = true;
    }
    memcpy(chain_id, c->chain_id, 32);
    return 0;
}

int client_height(client *c, uint64_t *height, char err[PLOW_ERR_LEN]) {
    return status_field(c, "height", NULL, height, err);
}

int client_account(client *c, const uint8_t pk[32], ledger_account *out, uint64_t *next_nonce,
                   char err[PLOW_ERR_LEN]) {
    char addr[LEDGER_ADDR_STR_LEN], path[128];
    ledger_addr_format(pk, addr);
    snprintf(path, sizeof path, "/v1/account/%s", addr);
    cJSON *j;
    if (client_get_json(c, path, &j, err)) return -1;
    int rc = json_account_from(j, out, next_nonce, err);
    if (rc == 0 && memcmp(out->pk, pk, 32) != 0)
        rc = plow_error(err, "the node at %s answered with another account than %s", c->url, addr);
    cJSON_Delete(j);
    return rc;
}

int client_task(client *c, const uint8_t id[32], ledger_task *out, char err[PLOW_ERR_LEN]) {
    char hex[65], path[96];
    plow_hex(id, 32, hex);
    snprintf(path, sizeof path, "/v1/task/%s", hex);
    cJSON *j;
    if (client_get_json(c, path, &j, err)) return -1;
    int rc = json_task_from(j, out, err);
    if (rc == 0 && memcmp(out->id, id, 32) != 0)
        rc = plow_error(err, "the node at %s answered with another task than %s", c->url, hex);
    cJSON_Delete(j);
    return rc;
}

int client_channel(client *c, const uint8_t id[32], ledger_channel *out, char err[PLOW_ERR_LEN]) {
    char hex[65], path[96];
    plow_hex(id, 32, hex);
    snprintf(path, sizeof path, "/v1/channel/%s", hex);
    cJSON *j;
    memset(out, 0, sizeof *out);
    if (client_get_json(c, path, &j, err)) return -1;
    uint64_t blocks = 0;
    const cJSON *st = cJSON_GetObjectItemCaseSensitive(j, "status");
    int rc = json_get_hash(j, "id", out->id, err) || json_get_addr(j, "client", out->client, err) ||
                     json_get_addr(j, "worker", out->worker, err) || json_get_u64(j, "deposit", &out->deposit, err) ||
                     json_get_u64(j, "redeemed", &out->redeemed, err) ||
                     json_get_u64(j, "dispute_blocks", &blocks, err) ||
                     json_get_u64(j, "opened_at", &out->opened_at, err) || json_get_u64(j, "close_at", &out->close_at, err)
                 ? -1
                 : 0;
    out->dispute_blocks = (uint32_t)blocks;
    for (int k = LEDGER_CHAN_OPEN; rc == 0 && k < LEDGER_CHAN_STATUS_END; k++)
        if (cJSON_IsString(st) && strcmp(st->valuestring, ledger_channel_status_name(k)) == 0) out->status = (uint8_t)k;
    if (rc == 0 && !out->status) rc = plow_error(err, "the node's channel has no known status");
    if (rc == 0 && (memcmp(out->id, id, 32) != 0 || out->redeemed > out->deposit))
        rc = plow_error(err, "the node at %s answered with another or an impossible channel", c->url);
    cJSON_Delete(j);
    return rc;
}

/* ---- transactions ----------------------------------------------------------------- */

int client_submit_tx(client *c, const ledger_tx *tx, uint8_t hash[32], char err[PLOW_ERR_LEN]) {
    plow_buf enc = {0};
    ledger_tx_encode(tx, &enc);
    ledger_tx_hash(tx, hash);
    char *hex = plow_alloc(2 * enc.len + 1);
    plow_hex(enc.data, enc.len, hex);
    plow_buf_release(&enc);
    cJSON *body = cJSON_CreateObject();
    char *text = NULL;
    if (body && cJSON_AddStringToObject(body, "tx", hex)) text = cJSON_PrintUnformatted(body);
    cJSON_Delete(body);
    free(hex);
    if (!text) return plow_error(err, "out of memory");
    cJSON *j;
    int rc = client_post_json(c, "/v1/tx", text, &j, err);
    free(text);
    if (rc) return -1;
    uint8_t theirs[32];
    if (json_get_hash(j, "hash", theirs, err)) rc = plow_error_prefix(err, "POST /v1/tx");
    else if (memcmp(theirs, hash, 32) != 0)
        rc = plow_error(err, "the node at %s acknowledged the transaction under another hash", c->url);
    cJSON_Delete(j);
    return rc;
}

static void sleep_ns(long ns) {
    struct timespec ts = {ns / 1000000000L, ns % 1000000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

int client_wait_tx_at(client *c, const uint8_t hash[32], double timeout_s, int *result, char msg[PLOW_ERR_LEN],
                      uint64_t *height, char err[PLOW_ERR_LEN]) {
    char hex[65], path[96];
    plow_hex(hash, 32, hex);
    snprintf(path, sizeof path, "/v1/tx/%s", hex);
    double t0 = plow_now();
    msg[0] = 0;
    if (height) *height = 0;
    for (;;) {
        cJSON *j;
        long status;
        if (json_request(c, "GET", path, NULL, &j, &status, err)) {
            if (status == 404) return plow_error(err, "the node at %s does not know transaction %s", c->url, hex);
            return -1;
        }
        const char *st = json_get_str(j, "status");
        const char *e = json_get_str(j, "error");
        int rc = 1; /* 1: keep waiting */
        if (!st) {
            rc = plow_error(err, "GET %s: missing 'status'", path);
        } else if (strcmp(st, "included") == 0 || strcmp(st, "failed") == 0) {
            uint64_t h = 0;
            if (json_get_u64(j, "height", &h, err)) {
                rc = plow_error_prefix(err, path);
            } else {
                *result = st[0] == 'i' ? LEDGER_TX_OK : LEDGER_TX_FAILED;
                if (st[0] == 'f') snprintf(msg, PLOW_ERR_LEN, "%s", e && *e ? e : "failed");
                if (height) *height = h;
                rc = 0;
            }
        } else if (strcmp(st, "dropped") == 0) {
            *result = LEDGER_TX_INVALID;
            snprintf(msg, PLOW_ERR_LEN, "%s", e && *e ? e : "dropped");
            rc = 0;
        } else if (strcmp(st, "pending") != 0) {
            rc = plow_error(err, "GET %s: unknown status \"%.40s\"", path, st);
        }
        cJSON_Delete(j);
        if (rc <= 0) return rc;
        if (plow_now() - t0 >= timeout_s)
            return plow_error(err, "transaction %s is still pending after %g s", hex, timeout_s);
        sleep_ns(POLL_NS);
    }
}

int client_wait_tx(client *c, const uint8_t hash[32], double timeout_s, int *result, char msg[PLOW_ERR_LEN],
                   char err[PLOW_ERR_LEN]) {
    return client_wait_tx_at(c, hash, timeout_s, result, msg, NULL, err);
}

int client_send_at(client *c, const ledger_key *k, ledger_tx *tx, double timeout_s, uint8_t hash[32],
                   uint64_t *height, char err[PLOW_ERR_LEN]) {
    uint8_t chain[32], h[32];
    uint64_t ht = 0;
    if (height) *height = 0;
    if (client_chain_id(c, chain, err)) return -1;
    memcpy(tx->sender, k->pk, 32);
    /* The nonce comes from the node (counting our pending transactions). If
     * another process using the same key got in between, admission refuses
     * the nonce: ask again, a few times. */
    for (int attempt = 0;; attempt++) {
        ledger_account a;
        uint64_t next;
        if (client_account(c, k->pk, &a, &next, err)) return -1;
        tx->nonce = next;
        ledger_tx_sign(tx, k, chain);
        if (client_submit_tx(c, tx, h, err) == 0) break;
        if (attempt >= 3 || !strstr(err, "nonce")) return -1;
    }
    if (hash) memcpy(hash, h, 32);
    int result;
    char msg[PLOW_ERR_LEN], hex[65];
    if (client_wait_tx_at(c, h, timeout_s, &result, msg, &ht, err)) return -1;
    if (height) *height = ht;
    plow_hex(h, 32, hex);
    if (result == LEDGER_TX_FAILED)
        return plow_error(err, "%s (transaction %.16s… failed in block %" PRIu64 ")", msg, hex, ht);
    if (result != LEDGER_TX_OK) return plow_error(err, "%s (transaction %.16s… was dropped)", msg, hex);
    return 0;
}

int client_send(client *c, const ledger_key *k, ledger_tx *tx, double timeout_s, char err[PLOW_ERR_LEN]) {
    return client_send_at(c, k, tx, timeout_s, NULL, NULL, err);
}

/* ---- blobs ------------------------------------------------------------------------ */

static void blob_path_of(const uint8_t hash[32], char path[96]) {
    char hex[65];
    plow_hex(hash, 32, hex);
    snprintf(path, 96, "/v1/blob/%s", hex);
}

int client_blob_has(client *c, const uint8_t hash[32], bool *has, char err[PLOW_ERR_LEN]) {
    char path[96];
    blob_path_of(hash, path);
    req r;
    req_init(&r, c, "HEAD", path);
    int rc = perform(&r, err);
    if (rc == 0) {
        if (r.status == 200) *has = true;
        else if (r.status == 404) *has = false;
        else rc = status_error(&r, err);
    }
    plow_buf_release(&r.errbody);
    return rc;
}

int client_blob_size(client *c, const uint8_t hash[32], bool *has, uint64_t *size, char err[PLOW_ERR_LEN]) {
    if (client_blob_has(c, hash, has, err)) return -1;
    *size = 0;
    if (!*has) return 0;
    curl_off_t len = -1;
    if (curl_easy_getinfo(c->h, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &len) != CURLE_OK || len < 0)
        return plow_error(err, "HEAD of a blob at %s: no Content-Length", c->url);
    *size = (uint64_t)len;
    return 0;
}

/* The PUT itself, signed; the answer must be 2xx and name the same hash. */
static int put_blob(req *r, const uint8_t hash[32], uint64_t size, char err[PLOW_ERR_LEN]) {
    client *c = r->c;
    if (!c->has_key)
        return plow_error(err, "uploading a blob needs a key: the node takes uploads signed by an account it knows");
    uint8_t chain[32];
    if (client_chain_id(c, chain, err)) return -1;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t t = (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
    uint8_t msg[CLIENT_BLOB_AUTH_LEN], sig[LEDGER_SIG_LEN];
    client_blob_auth_msg(chain, hash, size, t, msg);
    ledger_sign(&c->key, msg, sizeof msg, sig);
    char addr[LEDGER_ADDR_STR_LEN], sighex[2 * LEDGER_SIG_LEN + 1];
    ledger_addr_format(c->key.pk, addr);
    plow_hex(sig, sizeof sig, sighex);
    char h_signer[LEDGER_ADDR_STR_LEN + 32], h_time[64], h_sig[2 * LEDGER_SIG_LEN + 32];
    snprintf(h_signer, sizeof h_signer, "X-Plow-Signer: %s", addr);
    snprintf(h_time, sizeof h_time, "X-Plow-Time: %llu", (unsigned long long)t);
    snprintf(h_sig, sizeof h_sig, "X-Plow-Sig: %s", sighex);
    r->auth[0] = h_signer;
    r->auth[1] = h_time;
    r->auth[2] = h_sig;
    plow_buf mem = {0};
    r->mem = &mem;
    r->mem_max = JSON_MAX;
    r->transfer = true;
    int rc = perform(r, err);
    if (rc == 0 && (r->status < 200 || r->status >= 300)) rc = status_error(r, err);
    if (rc == 0) {
        cJSON *j = cJSON_ParseWithLength((const char *)mem.data, mem.len);
        uint8_t theirs[32];
        if (!j || json_get_hash(j, "hash", theirs, err)) rc = plow_error(err, "PUT %s: the node's answer has no 'hash'", r->path);
        else if (memcmp(theirs, hash, 32) != 0) rc = plow_error(err, "PUT %s: the node stored another hash", r->path);
        cJSON_Delete(j);
    }
    plow_buf_release(&mem);
    plow_buf_release(&r->errbody);
    return rc;
}

int client_blob_put(client *c, const void *data, size_t n, uint8_t hash[32], char err[PLOW_ERR_LEN]) {
    plow_sha256_once(data, n, hash);
    bool has = false;
    if (client_blob_has(c, hash, &has, err)) return -1;
    if (has) return 0;
    char path[96];
    blob_path_of(hash, path);
    req r;
    req_init(&r, c, "PUT", path);
    r.body = data;
    r.body_len = n;
    return put_blob(&r, hash, n, err);
}

int client_blob_put_file(client *c, const char *path, uint8_t hash[32], char err[PLOW_ERR_LEN]) {
    FILE *f = fopen(path, "rb");
    if (!f) return plow_error(err, "cannot open '%s': %s", path, strerror(errno));
    int rc = -1;
    struct stat sb;
    if (fstat(fileno(f), &sb) != 0 || !S_ISREG(sb.st_mode)) {
        plow_error(err, "'%s' is not a regular file", path);
        goto out;
    }
    /* Hash first (the URL names the hash), then stream the same bytes. */
    plow_sha256 *sha = plow_sha256_new();
    uint8_t buf[1 << 16];
    size_t got;
    uint64_t total = 0;
    while ((got = fread(buf, 1, sizeof buf, f)) > 0) {
        plow_sha256_update(sha, buf, got);
        total += got;
    }
    plow_sha256_final(sha, hash);
    if (ferror(f)) {
        plow_error(err, "cannot read '%s': %s", path, strerror(errno));
        goto out;
    }
    bool has = false;
    if (client_blob_has(c, hash, &has, err)) goto out;
    if (has) {
        rc = 0;
        goto out;
    }
    rewind(f);
    char upath[96];
    blob_path_of(hash, upath);
    req r;
    req_init(&r, c, "PUT", upath);
    r.upload = f;
    r.upload_len = total;
    rc = put_blob(&r, hash, total, err);
    if (rc) plow_error_prefix(err, path);
out:
    fclose(f);
    return rc;
}

/* GET a blob into fd, or into mem (at most max bytes), hashing it. */
static int get_blob(client *c, const uint8_t hash[32], int fd, plow_buf *mem, uint64_t max, char err[PLOW_ERR_LEN]) {
    char path[96], hex[65], gothex[65];
    blob_path_of(hash, path);
    plow_hex(hash, 32, hex);
    req r;
    req_init(&r, c, "GET", path);
    r.fd = fd;
    r.mem = mem;
    r.sha = plow_sha256_new();
    r.mem_max = (size_t)max;
    r.transfer = true;
    int rc = perform(&r, err);
    if (rc == 0 && r.status == 404) {
        status_error(&r, err);
        rc = plow_error(err, "blob %s is not on the node at %s", hex, c->url);
    } else if (rc == 0 && (r.status < 200 || r.status >= 300)) {
        rc = status_error(&r, err);
    }
    uint8_t got[32];
    if (mem) plow_sha256_update(r.sha, mem->data, mem->len);
    plow_sha256_final(r.sha, got);
    if (rc == 0 && memcmp(got, hash, 32) != 0) {
        plow_hex(got, 32, gothex);
        rc = plow_error(err, "the node at %s served wrong bytes for blob %.16s… (they hash to %.16s…)", c->url, hex,
                        gothex);
    }
    plow_buf_release(&r.errbody);
    return rc;
}

int client_blob_get_file(client *c, const uint8_t hash[32], const char *path, char err[PLOW_ERR_LEN]) {
    size_t n = strlen(path) + 16;
    char *tmp = plow_alloc(n);
    snprintf(tmp, n, "%s.part.XXXXXX", path);
    int fd = mkstemp(tmp);
    if (fd < 0) {
        plow_error(err, "cannot create '%s': %s", tmp, strerror(errno));
        free(tmp);
        return -1;
    }
    /* Stream into a temporary file beside PATH; only bytes with the right
     * hash are renamed into place. */
    int rc = get_blob(c, hash, fd, NULL, 0, err);
    if (rc == 0 && (fchmod(fd, 0644) != 0 || fsync(fd) != 0))
        rc = plow_error(err, "cannot write '%s': %s", tmp, strerror(errno));
    if (close(fd) != 0 && rc == 0) rc = plow_error(err, "cannot write '%s': %s", tmp, strerror(errno));
    if (rc == 0 && rename(tmp, path) != 0) rc = plow_error(err, "cannot rename to '%s': %s", path, strerror(errno));
    if (rc) unlink(tmp);
    free(tmp);
    return rc;
}

int client_blob_get(client *c, const uint8_t hash[32], uint8_t **data, size_t *n, char err[PLOW_ERR_LEN]) {
    return client_blob_get_max(c, hash, BLOB_MEM_MAX, data, n, err);
}

int client_blob_get_max(client *c, const uint8_t hash[32], uint64_t max, uint8_t **data, size_t *n,
                        char err[PLOW_ERR_LEN]) {
    plow_buf mem = {0};
    if (max > BLOB_MEM_MAX) max = BLOB_MEM_MAX;
    if (max > (uint64_t)(SIZE_MAX / 2)) max = (uint64_t)(SIZE_MAX / 2);
    if (get_blob(c, hash, -1, &mem, max, err)) {
        plow_buf_release(&mem);
        return -1;
    }
    if (!mem.data) mem.data = plow_alloc(1); /* an empty blob: still a buffer to free */
    *data = mem.data;
    *n = mem.len;
    return 0;
}
