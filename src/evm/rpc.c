/*
 * rpc.c — a JSON-RPC client for an Ethereum node (libcurl + cJSON), and the
 * transaction path built on it: nonce, gas estimate, fee caps from the base
 * fee, local signing, eth_sendRawTransaction, the receipt.
 *
 * The node is not trusted with keys: it sees only signed transactions. It is
 * trusted to answer reads honestly (a light client is a non-goal here); the
 * indexer asks for confirmations and checks block hashes to see reorgs.
 *
 * Non-goals: batching, websockets, subscriptions.
 */
#include "../base/plow.h"

#include "evm.h"

#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <time.h>

#define RPC_MAX_RESPONSE (64u << 20)

struct eth_rpc {
    char *url;
    CURL *curl;
    uint64_t id;
    uint64_t pinned; /* eth_call at this block (0: latest) */
};

void eth_rpc_pin_block(eth_rpc *c, uint64_t block) { c->pinned = block; }

eth_rpc *eth_rpc_new(const char *url) {
    eth_rpc *c = plow_calloc(1, sizeof *c);
    c->url = plow_strdup(url);
    c->curl = curl_easy_init();
    PLOW_ASSERT(c->curl);
    return c;
}

void eth_rpc_free(eth_rpc *c) {
    if (!c) return;
    curl_easy_cleanup(c->curl);
    free(c->url);
    free(c);
}

static size_t on_body(char *p, size_t size, size_t n, void *ud) {
    plow_buf *b = ud;
    size_t len = size * n;
    if (b->len + len > RPC_MAX_RESPONSE) return 0; /* aborts the transfer */
    plow_buf_append(b, p, len);
    return len;
}

int eth_rpc_call(eth_rpc *c, const char *method, const char *params, char **result_out,
                 char err[PLOW_ERR_LEN]) {
    int rc = -1;
    plow_buf req = {0}, resp = {0};
    cJSON *root = NULL;
    struct curl_slist *hdr = NULL;
    *result_out = NULL;
    plow_buf_printf(&req, "{\"jsonrpc\":\"2.0\",\"id\":%llu,\"method\":\"%s\",\"params\":%s}",
                    (unsigned long long)++c->id, method, params ? params : "[]");
    hdr = curl_slist_append(hdr, "Content-Type: application/json");
    curl_easy_reset(c->curl);
    curl_easy_setopt(c->curl, CURLOPT_URL, c->url);
    curl_easy_setopt(c->curl, CURLOPT_HTTPHEADER, hdr);
    curl_easy_setopt(c->curl, CURLOPT_POSTFIELDS, (const char *)req.data);
    curl_easy_setopt(c->curl, CURLOPT_POSTFIELDSIZE, (long)req.len);
    curl_easy_setopt(c->curl, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c->curl, CURLOPT_WRITEDATA, &resp);
    curl_easy_setopt(c->curl, CURLOPT_TIMEOUT, 60L);
    curl_easy_setopt(c->curl, CURLOPT_NOSIGNAL, 1L);
    CURLcode cc = curl_easy_perform(c->curl);
    if (cc != CURLE_OK) {
        plow_error(err, "rpc %s: %s: %s", c->url, method, curl_easy_strerror(cc));
        goto out;
    }
    long status = 0;
    curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &status);
    root = cJSON_ParseWithLength((const char *)resp.data, resp.len);
    if (!root) {
        plow_error(err, "rpc %s: HTTP %ld, not a JSON-RPC answer", method, status);
        goto out;
    }
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(root, "error");
    if (e && !cJSON_IsNull(e)) {
        const cJSON *m = cJSON_GetObjectItemCaseSensitive(e, "message");
        plow_error(err, "rpc %s: %s", method, cJSON_IsString(m) ? m->valuestring : "error");
        goto out;
    }
    const cJSON *r = cJSON_GetObjectItemCaseSensitive(root, "result");
    if (!r) {
        plow_error(err, "rpc %s: no result", method);
        goto out;
    }
    *result_out = cJSON_PrintUnformatted(r);
    rc = 0;
out:
    cJSON_Delete(root);
    curl_slist_free_all(hdr);
    plow_buf_release(&req);
    plow_buf_release(&resp);
    return rc;
}

/* ---- hex ---- */

char *eth_hex_new(const uint8_t *p, size_t n) {
    char *s = plow_alloc(2 * n + 3);
    s[0] = '0';
    s[1] = 'x';
    plow_hex(p, n, s + 2);
    return s;
}

int eth_unhex_new(const char *s, uint8_t **out, size_t *n, char err[PLOW_ERR_LEN]) {
    *out = NULL;
    *n = 0;
    if (!s || strncmp(s, "0x", 2) != 0) return plow_error(err, "rpc: expected 0x-prefixed hex");
    size_t l = strlen(s + 2);
    if (l % 2) return plow_error(err, "rpc: odd-length hex");
    uint8_t *b = plow_alloc(l / 2 + 1);
    if (plow_unhex(s + 2, b, l / 2)) {
        free(b);
        return plow_error(err, "rpc: bad hex");
    }
    *out = b;
    *n = l / 2;
    return 0;
}

static int unhex_fixed(const char *s, uint8_t *out, size_t n, char err[PLOW_ERR_LEN]) {
    if (!s || strncmp(s, "0x", 2) != 0 || strlen(s + 2) != 2 * n || plow_unhex(s + 2, out, n))
        return plow_error(err, "rpc: expected 0x + %zu hex digits", 2 * n);
    return 0;
}

int eth_quantity(const char *s, uint64_t *v, char err[PLOW_ERR_LEN]) {
    if (!s || strncmp(s, "0x", 2) != 0 || !s[2] || strlen(s + 2) > 16)
        return plow_error(err, "rpc: '%s' is not a 64-bit quantity", s ? s : "(null)");
    uint64_t x = 0;
    for (const char *p = s + 2; *p; p++) {
        int d = (*p >= '0' && *p <= '9') ? *p - '0' : (*p >= 'a' && *p <= 'f') ? *p - 'a' + 10
                : (*p >= 'A' && *p <= 'F') ? *p - 'A' + 10 : -1;
        if (d < 0) return plow_error(err, "rpc: '%s' is not a quantity", s);
        x = (x << 4) | (uint64_t)d;
    }
    *v = x;
    return 0;
}

/* The result as a JSON string value (quotes stripped) into a fresh string. */
static int call_string(eth_rpc *c, const char *method, const char *params, char **out, char err[PLOW_ERR_LEN]) {
    char *res = NULL;
    *out = NULL;
    if (eth_rpc_call(c, method, params, &res, err)) return -1;
    cJSON *j = cJSON_Parse(res);
    free(res);
    if (!cJSON_IsString(j)) {
        cJSON_Delete(j);
        return plow_error(err, "rpc %s: expected a string result", method);
    }
    *out = plow_strdup(j->valuestring);
    cJSON_Delete(j);
    return 0;
}

int eth_rpc_u64(eth_rpc *c, const char *method, const char *params, uint64_t *v, char err[PLOW_ERR_LEN]) {
    char *s = NULL;
    if (call_string(c, method, params, &s, err)) return -1;
    int rc = eth_quantity(s, v, err);
    free(s);
    return rc;
}

int eth_chain_id(eth_rpc *c, uint64_t *id, char err[PLOW_ERR_LEN]) { return eth_rpc_u64(c, "eth_chainId", "[]", id, err); }

int eth_block_number(eth_rpc *c, uint64_t *n, char err[PLOW_ERR_LEN]) {
    return eth_rpc_u64(c, "eth_blockNumber", "[]", n, err);
}

int eth_nonce(eth_rpc *c, const uint8_t addr[ETH_ADDR_LEN], uint64_t *nonce, char err[PLOW_ERR_LEN]) {
    char a[43], p[64];
    eth_addr_checksum(addr, a);
    snprintf(p, sizeof p, "[\"%s\",\"pending\"]", a);
    return eth_rpc_u64(c, "eth_getTransactionCount", p, nonce, err);
}

int eth_balance(eth_rpc *c, const uint8_t addr[ETH_ADDR_LEN], uint8_t wei[32], char err[PLOW_ERR_LEN]) {
    char a[43], p[64], *s = NULL;
    eth_addr_checksum(addr, a);
    snprintf(p, sizeof p, "[\"%s\",\"latest\"]", a);
    if (call_string(c, "eth_getBalance", p, &s, err)) return -1;
    int rc = -1;
    size_t l = strlen(s);
    memset(wei, 0, 32);
    if (l < 3 || l > 66 || strncmp(s, "0x", 2) != 0) {
        plow_error(err, "rpc: bad balance '%s'", s);
        goto out;
    }
    char pad[65];
    memset(pad, '0', 64);
    memcpy(pad + 64 - (l - 2), s + 2, l - 2);
    pad[64] = 0;
    if (plow_unhex(pad, wei, 32)) {
        plow_error(err, "rpc: bad balance '%s'", s);
        goto out;
    }
    rc = 0;
out:
    free(s);
    return rc;
}

int eth_signer_init(eth_signer *s, eth_rpc *rpc, const eth_key *k, char err[PLOW_ERR_LEN]) {
    memset(s, 0, sizeof *s);
    s->rpc = rpc;
    s->key = *k;
    return eth_chain_id(rpc, &s->chain_id, err);
}

void eth_signer_release(eth_signer *s) { eth_key_wipe(&s->key); }

/* {"from":..,"to":..,"data":..} for eth_call and eth_estimateGas. */
static char *call_object(const uint8_t *from, const uint8_t *to, const uint8_t *data, size_t n) {
    plow_buf b = {0};
    char a[43];
    plow_buf_printf(&b, "{");
    if (from) {
        eth_addr_checksum(from, a);
        plow_buf_printf(&b, "\"from\":\"%s\",", a);
    }
    if (to) {
        eth_addr_checksum(to, a);
        plow_buf_printf(&b, "\"to\":\"%s\",", a);
    }
    char *hx = eth_hex_new(data, n);
    plow_buf_printf(&b, "\"data\":\"%s\"}", hx);
    free(hx);
    plow_buf_append(&b, "", 1);
    return (char *)b.data;
}

int eth_call(eth_rpc *c, const uint8_t from[ETH_ADDR_LEN], const uint8_t to[ETH_ADDR_LEN],
             const uint8_t *data, size_t n, plow_buf *out, char err[PLOW_ERR_LEN]) {
    char *obj = call_object(from, to, data, n), *s = NULL;
    plow_buf p = {0};
    if (c->pinned)
        plow_buf_printf(&p, "[%s,\"0x%llx\"]", obj, (unsigned long long)c->pinned);
    else
        plow_buf_printf(&p, "[%s,\"latest\"]", obj);
    plow_buf_append(&p, "", 1);
    free(obj);
    int rc = call_string(c, "eth_call", (const char *)p.data, &s, err);
    plow_buf_release(&p);
    if (rc) return -1;
    uint8_t *bytes;
    size_t len;
    rc = eth_unhex_new(s, &bytes, &len, err);
    free(s);
    if (rc) return -1;
    out->len = 0;
    plow_buf_append(out, bytes, len);
    free(bytes);
    return 0;
}

static int parse_receipt(const cJSON *j, eth_receipt *r, char err[PLOW_ERR_LEN]) {
    memset(r, 0, sizeof *r);
    const cJSON *st = cJSON_GetObjectItemCaseSensitive(j, "status");
    const cJSON *gu = cJSON_GetObjectItemCaseSensitive(j, "gasUsed");
    const cJSON *bn = cJSON_GetObjectItemCaseSensitive(j, "blockNumber");
    const cJSON *bh = cJSON_GetObjectItemCaseSensitive(j, "blockHash");
    const cJSON *th = cJSON_GetObjectItemCaseSensitive(j, "transactionHash");
    const cJSON *ca = cJSON_GetObjectItemCaseSensitive(j, "contractAddress");
    uint64_t status;
    if (!cJSON_IsString(st) || !cJSON_IsString(gu) || !cJSON_IsString(bn) || !cJSON_IsString(bh) ||
        !cJSON_IsString(th) || eth_quantity(st->valuestring, &status, err) ||
        eth_quantity(gu->valuestring, &r->gas_used, err) || eth_quantity(bn->valuestring, &r->block, err) ||
        unhex_fixed(bh->valuestring, r->block_hash, 32, err) || unhex_fixed(th->valuestring, r->tx_hash, 32, err))
        return plow_error(err, "rpc: malformed receipt");
    r->ok = status == 1;
    if (cJSON_IsString(ca)) {
        if (unhex_fixed(ca->valuestring, r->contract, ETH_ADDR_LEN, err)) return -1;
        r->has_contract = true;
    }
    return 0;
}

int eth_wait_receipt(eth_rpc *c, const uint8_t hash[32], eth_receipt *r, char err[PLOW_ERR_LEN]) {
    char *hx = eth_hex_new(hash, 32), p[80];
    snprintf(p, sizeof p, "[\"%s\"]", hx);
    free(hx);
    /* A dev chain mines at once; a real one in seconds. Poll with a growing
     * pause, bounded by a deadline. */
    double deadline = plow_now() + 120;
    long pause_us = 2000;
    for (;;) {
        char *res = NULL;
        if (eth_rpc_call(c, "eth_getTransactionReceipt", p, &res, err)) return -1;
        cJSON *j = cJSON_Parse(res);
        free(res);
        if (cJSON_IsObject(j)) {
            int rc = parse_receipt(j, r, err);
            cJSON_Delete(j);
            return rc;
        }
        cJSON_Delete(j);
        if (plow_now() > deadline) return plow_error(err, "rpc: no receipt for %s within 120 s", p);
        struct timespec ts = {pause_us / 1000000, (pause_us % 1000000) * 1000};
        nanosleep(&ts, NULL);
        if (pause_us < 500000) pause_us *= 2;
    }
}

/* Fee caps: tip from the node (1 gwei if it has no opinion), cap = 2 × the
 * latest base fee + tip, so the transaction survives a few full blocks. */
static int fee_caps(eth_rpc *c, uint64_t *tip, uint64_t *cap, char err[PLOW_ERR_LEN]) {
    char *res = NULL, e2[PLOW_ERR_LEN];
    if (eth_rpc_u64(c, "eth_maxPriorityFeePerGas", "[]", tip, e2)) *tip = 1000000000ULL;
    if (eth_rpc_call(c, "eth_getBlockByNumber", "[\"latest\",false]", &res, err)) return -1;
    cJSON *j = cJSON_Parse(res);
    free(res);
    const cJSON *bf = cJSON_GetObjectItemCaseSensitive(j, "baseFeePerGas");
    uint64_t base = 0;
    int rc = (cJSON_IsString(bf) && eth_quantity(bf->valuestring, &base, err) == 0) ? 0
             : plow_error(err, "rpc: the latest block has no base fee (not an EIP-1559 chain?)");
    cJSON_Delete(j);
    if (rc) return -1;
    if (!plow_mul_u64(base, 2, cap) || !plow_add_u64(*cap, *tip, cap)) return plow_error(err, "rpc: fee overflow");
    return 0;
}

int eth_transact(eth_signer *s, const uint8_t *to, const uint8_t *data, size_t n, eth_receipt *r,
                 char err[PLOW_ERR_LEN]) {
    int rc = -1;
    char *obj = NULL, *res = NULL;
    plow_buf p = {0}, raw = {0};
    eth_receipt local;
    if (!r) r = &local;
    if (!s->nonce_known) {
        if (eth_nonce(s->rpc, s->key.addr, &s->nonce, err)) goto out;
        s->nonce_known = true;
    }
    obj = call_object(s->key.addr, to, data, n);
    plow_buf_printf(&p, "[%s]", obj);
    plow_buf_append(&p, "", 1);
    uint64_t est;
    if (eth_rpc_u64(s->rpc, "eth_estimateGas", (const char *)p.data, &est, err)) goto out;
    eth_tx tx = {.chain_id = s->chain_id, .nonce = s->nonce, .data = data, .data_len = n};
    tx.gas = est + est / 5 + 5000;
    if (fee_caps(s->rpc, &tx.max_priority_fee, &tx.max_fee, err)) goto out;
    if (to) {
        tx.has_to = true;
        memcpy(tx.to, to, ETH_ADDR_LEN);
    }
    uint8_t hash[32];
    if (eth_tx_sign(&tx, &s->key, &raw, hash, err)) goto out;
    char *hx = eth_hex_new(raw.data, raw.len);
    p.len = 0;
    plow_buf_printf(&p, "[\"%s\"]", hx);
    plow_buf_append(&p, "", 1);
    free(hx);
    if (eth_rpc_call(s->rpc, "eth_sendRawTransaction", (const char *)p.data, &res, err)) {
        s->nonce_known = false; /* re-read it next time */
        goto out;
    }
    s->nonce++;
    if (eth_wait_receipt(s->rpc, hash, r, err)) goto out;
    if (!r->ok) {
        plow_error(err, "rpc: transaction reverted in block %llu", (unsigned long long)r->block);
        goto out;
    }
    rc = 0;
out:
    free(obj);
    free(res);
    plow_buf_release(&p);
    plow_buf_release(&raw);
    return rc;
}

/* ---- logs ---- */

void eth_logs_free(eth_log *logs, size_t n) {
    for (size_t i = 0; i < n; i++) free(logs[i].data);
    free(logs);
}

int eth_get_logs(eth_rpc *c, const uint8_t addr[ETH_ADDR_LEN], uint64_t from, uint64_t to,
                 eth_log **logs, size_t *nlogs, char err[PLOW_ERR_LEN]) {
    *logs = NULL;
    *nlogs = 0;
    char a[43], p[160], *res = NULL;
    eth_addr_checksum(addr, a);
    snprintf(p, sizeof p, "[{\"address\":\"%s\",\"fromBlock\":\"0x%llx\",\"toBlock\":\"0x%llx\"}]", a,
             (unsigned long long)from, (unsigned long long)to);
    if (eth_rpc_call(c, "eth_getLogs", p, &res, err)) return -1;
    cJSON *j = cJSON_Parse(res);
    free(res);
    int rc = -1;
    size_t n = 0;
    eth_log *out = NULL;
    if (!cJSON_IsArray(j)) {
        plow_error(err, "rpc eth_getLogs: expected an array");
        goto out;
    }
    int cnt = cJSON_GetArraySize(j);
    out = plow_calloc((size_t)cnt + 1, sizeof *out);
    const cJSON *it;
    cJSON_ArrayForEach(it, j) {
        eth_log *l = &out[n];
        const cJSON *ad = cJSON_GetObjectItemCaseSensitive(it, "address");
        const cJSON *tp = cJSON_GetObjectItemCaseSensitive(it, "topics");
        const cJSON *da = cJSON_GetObjectItemCaseSensitive(it, "data");
        const cJSON *bn = cJSON_GetObjectItemCaseSensitive(it, "blockNumber");
        const cJSON *li = cJSON_GetObjectItemCaseSensitive(it, "logIndex");
        const cJSON *bh = cJSON_GetObjectItemCaseSensitive(it, "blockHash");
        const cJSON *th = cJSON_GetObjectItemCaseSensitive(it, "transactionHash");
        const cJSON *rm = cJSON_GetObjectItemCaseSensitive(it, "removed");
        if (cJSON_IsTrue(rm)) continue;
        if (!cJSON_IsString(ad) || !cJSON_IsArray(tp) || cJSON_GetArraySize(tp) > 4 || !cJSON_IsString(da) ||
            !cJSON_IsString(bn) || !cJSON_IsString(li) || !cJSON_IsString(bh) || !cJSON_IsString(th) ||
            unhex_fixed(ad->valuestring, l->address, ETH_ADDR_LEN, err) ||
            eth_quantity(bn->valuestring, &l->block, err) || eth_quantity(li->valuestring, &l->log_index, err) ||
            unhex_fixed(bh->valuestring, l->block_hash, 32, err) || unhex_fixed(th->valuestring, l->tx_hash, 32, err) ||
            eth_unhex_new(da->valuestring, &l->data, &l->data_len, err)) {
            plow_error(err, "rpc eth_getLogs: malformed log");
            n++;
            goto out;
        }
        n++;
        const cJSON *t;
        cJSON_ArrayForEach(t, tp) {
            if (!cJSON_IsString(t) || unhex_fixed(t->valuestring, l->topics[l->ntopics], 32, err)) {
                plow_error(err, "rpc eth_getLogs: malformed topic");
                goto out;
            }
            l->ntopics++;
        }
    }
    rc = 0;
out:
    cJSON_Delete(j);
    if (rc) {
        eth_logs_free(out, n);
        return -1;
    }
    *logs = out;
    *nlogs = n;
    return 0;
}

int eth_block_hash(eth_rpc *c, uint64_t n, uint8_t hash[32], char err[PLOW_ERR_LEN]) {
    return eth_block_info(c, n, hash, NULL, err);
}

int eth_block_info(eth_rpc *c, uint64_t n, uint8_t hash[32], uint64_t *time_s, char err[PLOW_ERR_LEN]) {
    char p[64], *res = NULL;
    snprintf(p, sizeof p, "[\"0x%llx\",false]", (unsigned long long)n);
    if (eth_rpc_call(c, "eth_getBlockByNumber", p, &res, err)) return -1;
    cJSON *j = cJSON_Parse(res);
    free(res);
    const cJSON *h = cJSON_GetObjectItemCaseSensitive(j, "hash");
    const cJSON *ts = cJSON_GetObjectItemCaseSensitive(j, "timestamp");
    int rc = cJSON_IsString(h) ? unhex_fixed(h->valuestring, hash, 32, err)
                               : plow_error(err, "rpc: no block %llu", (unsigned long long)n);
    if (rc == 0 && time_s)
        rc = cJSON_IsString(ts) ? eth_quantity(ts->valuestring, time_s, err)
                                : plow_error(err, "rpc: block %llu has no timestamp", (unsigned long long)n);
    cJSON_Delete(j);
    return rc;
}

int eth_tx_input(eth_rpc *c, const uint8_t hash[32], uint8_t **data, size_t *n, char err[PLOW_ERR_LEN]) {
    *data = NULL;
    *n = 0;
    char *hx = eth_hex_new(hash, 32), *res = NULL;
    char p[100];
    snprintf(p, sizeof p, "[\"%s\"]", hx);
    free(hx);
    if (eth_rpc_call(c, "eth_getTransactionByHash", p, &res, err)) return -1;
    cJSON *j = cJSON_Parse(res);
    free(res);
    const cJSON *in = cJSON_GetObjectItemCaseSensitive(j, "input");
    int rc = cJSON_IsString(in) ? eth_unhex_new(in->valuestring, data, n, err)
                                : plow_error(err, "rpc: no transaction %.20s... (or no input)", p + 2);
    cJSON_Delete(j);
    return rc;
}
