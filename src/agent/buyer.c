/*
 * buyer.c — `plow buyer`: an agent that buys completions (docs/market.md,
 * "The buyer"). It finds inference workers in the node's directory (by the
 * model it wants and a price cap, best reputation first), asks the first
 * one for a quote by mail (rfq, sealed), opens a payment channel on the
 * offer, tells the worker (accept), and buys its prompts one by one: each
 * request is quoted (402), paid with a cumulative voucher no larger than the
 * offer's price allows, served, and its receipt checked — every one, or a
 * share the worker cannot predict (a keyed hash of the receipt with a secret
 * derived from the buyer's key). A receipt with a wrong token is posted as a
 * fraud claim (the referee's prefill slashes the worker's stake to the
 * buyer), the channel is closed, and the buyer moves on to the next worker.
 */
#include "../base/plow.h"

#include <cjson/cJSON.h>
#include <inttypes.h>
#include <sodium.h>

#include "../client/client.h"
#include "../model/modelio.h"
#include "../proof/receipt.h"
#include "agent.h"
#include "market.h"

typedef struct cand {
    uint8_t pk[32];
    char name[LEDGER_NAME_MAX + 1];
} cand;

typedef struct buyer {
    agent a;
    const buyer_options *o;
    model *m;
    tokenizer *tok;
    uint8_t model_hash[32], chain[32], secret[32];
    char model_file[AGENT_PATH_MAX + 32];
    char **prompts;
    size_t n_prompts, next; /* prompts done: [0, next) */
    uint8_t (*bad)[32];     /* workers it will not use again */
    size_t n_bad;
    mail_inbox inbox;
    cJSON *summary;         /* {"workers": [...]} */
} buyer;

void buyer_options_default(buyer_options *o) {
    memset(o, 0, sizeof *o);
    o->node = AGENT_DEFAULT_NODE;
    o->max_price = 10;
    o->deposit = 10000;
    o->max_tokens = 16;
    o->check = 1.0;
    o->bond = 100;
    o->dispute_blocks = 20;
    o->offer_timeout = 30;
}

static bool is_bad(const buyer *b, const uint8_t pk[32]) {
    for (size_t i = 0; i < b->n_bad; i++)
        if (memcmp(b->bad[i], pk, 32) == 0) return true;
    return false;
}

static void set_bad(buyer *b, const uint8_t pk[32]) {
    b->bad = plow_realloc(b->bad, (b->n_bad + 1) * sizeof *b->bad);
    memcpy(b->bad[b->n_bad++], pk, 32);
}

/* The directory's best worker not set aside; false if none. */
static int pick(buyer *b, cand *out, bool *found, char err[PLOW_ERR_LEN]) {
    char path[256], mh[65];
    plow_hex(b->model_hash, 32, mh);
    snprintf(path, sizeof path, "/v1/directory?model=%s&max_price=%" PRIu64 "&kind=completions&sort=reputation", mh,
             b->o->max_price);
    cJSON *j;
    *found = false;
    if (client_get_json(b->a.c, path, &j, err)) return -1;
    const cJSON *e;
    cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(j, "agents")) {
        uint8_t pk[32];
        if (json_get_addr(e, "address", pk, err) || is_bad(b, pk)) continue;
        memcpy(out->pk, pk, 32);
        snprintf(out->name, sizeof out->name, "%s", json_get_str(e, "name") ? json_get_str(e, "name") : "?");
        *found = true;
        break;
    }
    cJSON_Delete(j);
    return 0;
}

/* Sends an rfq to w and waits for its offer: *offer (caller deletes) or NULL
 * on a decline or no answer in time. */
static int ask(buyer *b, const cand *w, cJSON **offer, char err[PLOW_ERR_LEN]) {
    *offer = NULL;
    char body[200], mh[65];
    plow_hex(b->model_hash, 32, mh);
    snprintf(body, sizeof body, "{\"model\":\"%s\",\"max_price\":\"%" PRIu64 "\"}", mh, b->o->max_price);
    if (mail_send(b->a.c, &b->a.key, w->pk, "rfq", body, true, 600000, err)) return -1;
    double until = plow_now() + b->o->offer_timeout;
    while (plow_now() < until && !agent_stop_requested()) {
        mail_msg *ms;
        size_t n;
        if (mail_fetch(b->a.c, &b->a.key, &b->inbox, &ms, &n, err)) return -1;
        bool done = false;
        for (size_t i = 0; i < n; i++) {
            char *text;
            size_t tl;
            if (!done && memcmp(ms[i].from, w->pk, 32) == 0 && mail_body(&ms[i], &b->a.key, &text, &tl, err) == 0) {
                if (strcmp(ms[i].type, "offer") == 0) {
                    *offer = cJSON_Parse(text);
                    done = true;
                } else if (strcmp(ms[i].type, "decline") == 0) {
                    agent_log(&b->a, "%s declined: %.200s", w->name, text);
                    done = true;
                }
                free(text);
            }
            mail_release(&ms[i]);
        }
        free(ms);
        if (done) return 0;
        agent_sleep(0.2);
    }
    agent_log(&b->a, "%s made no offer within %.0f s", w->name, b->o->offer_timeout);
    return 0;
}

int receipt_fraud_blobs(client *c, const receipt *r, const char *receipt_path, const char *model_file,
                        const tokenizer *tok, ledger_tx *tx, char err[PLOW_ERR_LEN]) {
    plow_buf tb = {0};
    tokenizer_serialize(tok, &tb);
    size_t tl = strlen(receipt_path) + 16;
    char *tfile = plow_alloc(tl);
    snprintf(tfile, tl, "%s.tok", receipt_path);
    int rc = plow_write_file(tfile, tb.data, tb.len, err);
    plow_buf_release(&tb);
    if (rc == 0) {
        receipt_digest(r, tx->u.fraud.digest);
        memcpy(tx->u.fraud.worker, r->worker, 32);
        memcpy(tx->u.fraud.sig, r->sig, 64);
        rc = client_blob_put_file(c, receipt_path, tx->u.fraud.receipt_blob, err) ||
                     client_blob_put_file(c, model_file, tx->u.fraud.model_blob, err) ||
                     client_blob_put_file(c, tfile, tx->u.fraud.tokenizer_blob, err)
                 ? -1
                 : 0;
    }
    remove(tfile);
    free(tfile);
    return rc;
}

static int get_amount(const cJSON *o, const char *key, uint64_t *v) {
    const cJSON *x = cJSON_GetObjectItemCaseSensitive(o, key);
    if (cJSON_IsString(x)) return plow_parse_u64(x->valuestring, v) ? 0 : -1;
    if (cJSON_IsNumber(x) && x->valuedouble >= 0 && x->valuedouble < 9e15) {
        *v = (uint64_t)x->valuedouble;
        return 0;
    }
    return -1;
}

/* Whether to check this receipt: a keyed hash of its digest under the
 * buyer's secret, below the share (the worker cannot tell which). */
static bool chosen(const buyer *b, const receipt *r) {
    if (b->o->check >= 1.0) return true;
    if (b->o->check <= 0.0) return false;
    uint8_t d[32], h[8];
    receipt_digest(r, d);
    crypto_generichash(h, sizeof h, d, 32, b->secret, sizeof b->secret);
    uint64_t v = plow_get_u64(h);
    return (double)(v >> 11) / 9007199254740992.0 < b->o->check;
}

/* Posts r (saved at path) as fraud: the claim's id in claim. */
static int post_fraud(buyer *b, const receipt *r, const char *path, uint8_t claim[32], char err[PLOW_ERR_LEN]) {
    ledger_tx tx;
    memset(&tx, 0, sizeof tx);
    tx.type = LEDGER_TX_RECEIPT_FRAUD;
    tx.fee = b->a.min_fee ? b->a.min_fee : 1;
    tx.u.fraud.bond = b->o->bond;
    if (receipt_fraud_blobs(b->a.c, r, path, b->model_file, b->tok, &tx, err)) return -1;
    return client_send_at(b->a.c, &b->a.key, &tx, 60, claim, NULL, err);
}

typedef struct session {
    uint8_t worker[32], channel[32];
    char endpoint[320], model_id[101];
    uint64_t price, vouchered, served;
    size_t requests;
    cJSON *rec; /* its entry in the summary */
} session;

/* One prompt bought from the session's worker: 1 done, 0 fraud (or a
 * misbehaving worker: the session ends), -1 with err on a failure to retry. */
static int buy_one(buyer *b, session *s, client *w, char err[PLOW_ERR_LEN]) {
    const char *prompt = b->prompts[b->next];
    cJSON *rq = cJSON_CreateObject();
    cJSON_AddStringToObject(rq, "model", s->model_id);
    cJSON_AddStringToObject(rq, "prompt", prompt);
    cJSON_AddNumberToObject(rq, "max_tokens", b->o->max_tokens);
    cJSON_AddNumberToObject(rq, "seed", (double)(b->o->seed + b->next));
    char *body = cJSON_PrintUnformatted(rq);
    cJSON_Delete(rq);
    plow_buf ans = {0};
    long st = 0;
    int rc = -1;
    cJSON *j = NULL;
    receipt r = {0};
    char v[LEDGER_VOUCHER_STR_LEN], hdr[LEDGER_VOUCHER_STR_LEN + 16];
    if (client_request(w, "POST", "/completions", NULL, body, &st, &ans, 1 << 20, err)) goto out;
    if (st != 402) {
        plow_error(err, "the worker answered %ld to an unpaid request (expected 402 and a quote)", st);
        goto out;
    }
    j = cJSON_ParseWithLength((const char *)ans.data, ans.len);
    const cJSON *acc = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(j, "accepts"), 0);
    uint64_t cost, need;
    if (!acc || get_amount(acc, "maxAmountRequired", &cost) || get_amount(acc, "minVoucher", &need)) {
        plow_error(err, "the worker's 402 carries no quote");
        goto out;
    }
    /* what the offer allows: its price for every prompt token and max_tokens */
    int32_t *ids = NULL;
    size_t nids = 0;
    if (tokenizer_encode(b->tok, (const uint8_t *)prompt, strlen(prompt), &ids, &nids, err)) goto out;
    free(ids);
    uint64_t allowed = s->price * (uint64_t)(nids + 1 + (size_t)b->o->max_tokens);
    /* the quote of a request without a voucher names no channel: what is owed
     * on ours is what was served (the usage of every answer) plus this cost */
    (void)need;
    need = s->served + cost;
    if (cost > allowed) {
        agent_log(&b->a, "the worker asks %" PRIu64 " for a request its offer prices at %" PRIu64 " at most: leaving it",
                  cost, allowed);
        rc = 0;
        goto out;
    }
    if (need > s->vouchered) {
        uint8_t sig[LEDGER_SIG_LEN];
        ledger_voucher_sign(&b->a.key, b->chain, s->channel, need, sig);
        ledger_voucher_format(s->channel, need, sig, v);
        s->vouchered = need;
    } else { /* the credit covers it: the latest voucher again */
        uint8_t sig[LEDGER_SIG_LEN];
        ledger_voucher_sign(&b->a.key, b->chain, s->channel, s->vouchered, sig);
        ledger_voucher_format(s->channel, s->vouchered, sig, v);
    }
    snprintf(hdr, sizeof hdr, "X-PAYMENT: %s", v);
    const char *hdrs[] = {hdr, NULL};
    cJSON_Delete(j);
    j = NULL;
    plow_buf_release(&ans);
    if (client_request(w, "POST", "/completions", hdrs, body, &st, &ans, 1 << 20, err)) goto out;
    j = cJSON_ParseWithLength((const char *)ans.data, ans.len);
    if (st != 200 || !j) {
        plow_error(err, "the paid request: HTTP %ld: %.200s", st, ans.len ? (const char *)ans.data : "");
        goto out;
    }
    const cJSON *rj = cJSON_GetObjectItemCaseSensitive(j, "receipt");
    char *rtext = rj ? cJSON_PrintUnformatted(rj) : NULL;
    int pr = rtext ? receipt_parse(&r, rtext, strlen(rtext), err) : plow_error(err, "the answer carries no receipt");
    free(rtext);
    s->requests++;
    uint64_t total = 0;
    get_amount(cJSON_GetObjectItemCaseSensitive(j, "usage"), "total_tokens", &total);
    s->served += total * s->price;
    if (pr || !r.has_sig || !receipt_sig_ok(&r) || memcmp(r.worker, s->worker, 32) != 0) {
        agent_log(&b->a, "prompt %zu: the answer's receipt is not signed by the worker (%s): leaving it", b->next,
                  pr ? err : "no or a foreign signature");
        rc = 0;
        goto out;
    }
    char rpath[AGENT_PATH_MAX + 64];
    snprintf(rpath, sizeof rpath, "%s/receipt-%zu.json", b->a.work, b->next);
    if (receipt_save(&r, rpath, err)) goto out;
    bool check = chosen(b, &r), valid = true;
    if (check) {
        receipt_check ck;
        if (receipt_verify(&r, b->m, NULL, b->tok, &ck, err)) goto out;
        valid = ck.valid;
        if (!valid) {
            agent_log(&b->a, "prompt %zu: FRAUD: %s", b->next, ck.reason);
            uint8_t claim[32];
            char hx[65];
            if (ck.bad_position < 0 || post_fraud(b, &r, rpath, claim, err)) {
                agent_log(&b->a, "cannot post the claim: %s", ck.bad_position < 0 ? "no wrong token to prove" : err);
            } else {
                plow_hex(claim, 32, hx);
                agent_log(&b->a, "fraud claim %s posted", hx);
                cJSON_AddStringToObject(s->rec, "fraud", hx);
            }
            rc = 0;
            goto out;
        }
    }
    const cJSON *ch = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(j, "choices"), 0);
    cJSON *line = cJSON_CreateObject();
    cJSON_AddNumberToObject(line, "i", (double)b->next);
    json_add_addr(line, "worker", s->worker);
    cJSON_AddStringToObject(line, "text", json_get_str(ch, "text") ? json_get_str(ch, "text") : "");
    cJSON_AddBoolToObject(line, "checked", check);
    char *ls = cJSON_PrintUnformatted(line);
    cJSON_Delete(line);
    char rp[AGENT_PATH_MAX + 32];
    snprintf(rp, sizeof rp, "%s/results.jsonl", b->a.work);
    FILE *f = fopen(rp, "a");
    if (!f || fprintf(f, "%s\n", ls) < 0 || fclose(f)) {
        free(ls);
        plow_error(err, "cannot append to %s", rp);
        goto out;
    }
    free(ls);
    agent_log(&b->a, "prompt %zu: %" PRIu64 " tokens, receipt %s", b->next, total, check ? "checked: valid" : "not checked");
    b->next++;
    rc = 1;
out:
    receipt_release(&r);
    cJSON_Delete(j);
    plow_buf_release(&ans);
    free(body);
    return rc;
}

/* The whole exchange with one worker: rfq, channel, prompts. */
static int session_run(buyer *b, const cand *w, char err[PLOW_ERR_LEN]) {
    cJSON *offer;
    char who[LEDGER_ADDR_STR_LEN];
    ledger_addr_format(w->pk, who);
    agent_log(&b->a, "asking %s (%s) for a quote", w->name, who);
    if (ask(b, w, &offer, err)) return -1;
    if (!offer) {
        set_bad(b, w->pk);
        return 0;
    }
    session s;
    memset(&s, 0, sizeof s);
    memcpy(s.worker, w->pk, 32);
    uint8_t opk[32], omh[32];
    const char *ep = json_get_str(offer, "endpoint"), *mid = json_get_str(offer, "model_id");
    if (json_get_addr(offer, "worker", opk, err) || memcmp(opk, w->pk, 32) != 0 ||
        json_get_hash(offer, "model", omh, err) || memcmp(omh, b->model_hash, 32) != 0 ||
        get_amount(offer, "price", &s.price) || s.price > b->o->max_price || !ep || strlen(ep) >= sizeof s.endpoint ||
        strncmp(ep, "http", 4) != 0 || !mid || strlen(mid) > 100) {
        agent_log(&b->a, "%s's offer does not match what was asked: leaving it", w->name);
        cJSON_Delete(offer);
        set_bad(b, w->pk);
        return 0;
    }
    snprintf(s.endpoint, sizeof s.endpoint, "%s", ep);
    snprintf(s.model_id, sizeof s.model_id, "%s", mid);
    cJSON_Delete(offer);
    agent_log(&b->a, "offer from %s: %" PRIu64 " per token at %s", w->name, s.price, s.endpoint);
    ledger_tx tx;
    memset(&tx, 0, sizeof tx);
    tx.type = LEDGER_TX_CHANNEL_OPEN;
    tx.fee = b->a.min_fee ? b->a.min_fee : 1;
    memcpy(tx.u.chan_open.worker, w->pk, 32);
    tx.u.chan_open.deposit = b->o->deposit;
    tx.u.chan_open.dispute_blocks = b->o->dispute_blocks;
    if (client_send_at(b->a.c, &b->a.key, &tx, 60, s.channel, NULL, err)) return -1;
    char hx[65], body[100];
    plow_hex(s.channel, 32, hx);
    agent_log(&b->a, "channel %s opened to %s (deposit %" PRIu64 ")", hx, w->name, b->o->deposit);
    snprintf(body, sizeof body, "{\"channel\":\"%s\"}", hx);
    if (mail_send(b->a.c, &b->a.key, w->pk, "accept", body, true, 600000, err))
        agent_log(&b->a, "the accept did not go out (%s): buying anyway, the channel is on the ledger", err);
    s.rec = cJSON_CreateObject();
    json_add_addr(s.rec, "worker", w->pk);
    cJSON_AddStringToObject(s.rec, "name", w->name);
    cJSON_AddStringToObject(s.rec, "channel", hx);
    cJSON_AddItemToArray(cJSON_GetObjectItemCaseSensitive(b->summary, "workers"), s.rec);
    client *wc = client_new(s.endpoint);
    if (!wc) return plow_error(err, "cannot start libcurl");
    int rc = 0, fails = 0;
    while (b->next < b->n_prompts && !agent_stop_requested()) {
        int r = buy_one(b, &s, wc, err);
        if (r == 1) {
            fails = 0;
            continue;
        }
        if (r == 0 || ++fails >= 3) { /* fraud or misbehaviour, or a worker that keeps failing */
            if (r < 0) agent_log(&b->a, "%s failed 3 times (%s): leaving it", w->name, err);
            set_bad(b, w->pk);
            memset(&tx, 0, sizeof tx);
            tx.type = LEDGER_TX_CHANNEL_CLOSE;
            tx.fee = b->a.min_fee ? b->a.min_fee : 1;
            memcpy(tx.u.chan_close.channel, s.channel, 32);
            if (client_send(b->a.c, &b->a.key, &tx, 60, err) == 0)
                agent_log(&b->a, "channel %.16s… closing: the rest of the deposit comes back after its window", hx);
            break;
        }
        agent_log(&b->a, "prompt %zu: %s (trying again)", b->next, err);
        agent_sleep(0.5);
    }
    client_free(wc);
    json_add_u64(s.rec, "price", s.price);
    json_add_u64(s.rec, "requests", s.requests);
    json_add_u64(s.rec, "vouchered", s.vouchered);
    json_add_u64(s.rec, "served", s.served);
    return rc;
}

static int load_prompts(buyer *b, char err[PLOW_ERR_LEN]) {
    uint8_t *d;
    size_t n;
    if (plow_read_file(b->o->prompts, 16u << 20, &d, &n, err)) return -1;
    size_t start = 0;
    for (size_t i = 0; i <= n; i++) {
        if (i < n && d[i] != '\n') continue;
        if (i > start) {
            b->prompts = plow_realloc(b->prompts, (b->n_prompts + 1) * sizeof *b->prompts);
            char *p = plow_alloc(i - start + 1);
            memcpy(p, d + start, i - start);
            p[i - start] = 0;
            b->prompts[b->n_prompts++] = p;
        }
        start = i + 1;
    }
    free(d);
    return b->n_prompts ? 0 : plow_error(err, "%s holds no prompt (one a line)", b->o->prompts);
}

int agent_buyer_run(const buyer_options *o, char err[PLOW_ERR_LEN]) {
    buyer b;
    memset(&b, 0, sizeof b);
    b.o = o;
    int rc = -1;
    b.summary = cJSON_CreateObject();
    cJSON_AddArrayToObject(b.summary, "workers");
    if (!o->model || !o->prompts || !o->key || !o->work) {
        plow_error(err, "the buyer needs a key, a work directory, the model it wants and prompts");
        goto out;
    }
    if (agent_open(&b.a, o->name ? o->name : "buyer", o->key, o->node, o->work, err)) goto out;
    if (load_prompts(&b, err) || modelio_load_model(&b.m, o->model, err) ||
        modelio_load_tokenizer(&b.tok, o->model, err))
        goto out;
    model_hash(b.m, b.model_hash);
    if (plow_is_dir(o->model)) snprintf(b.model_file, sizeof b.model_file, "%s/model.safetensors", o->model);
    else snprintf(b.model_file, sizeof b.model_file, "%s", o->model);
    uint8_t tmp[LEDGER_SK_LEN + 16];
    memcpy(tmp, "plow-buyer-check", 16);
    memcpy(tmp + 16, b.a.key.sk, LEDGER_SK_LEN);
    plow_sha256_once(tmp, sizeof tmp, b.secret);
    sodium_memzero(tmp, sizeof tmp);
    if (agent_load_params(&b.a, err) || client_chain_id(b.a.c, b.chain, err)) goto out;
    char mh[65];
    plow_hex(b.model_hash, 32, mh);
    agent_log(&b.a, "buying %zu completions of model %.16s… at %" PRIu64 " per token at most", b.n_prompts, mh,
              o->max_price);
    while (b.next < b.n_prompts && !agent_stop_requested()) {
        cand w;
        bool found;
        if (pick(&b, &w, &found, err)) {
            agent_fail(&b.a, err);
            continue;
        }
        agent_ok(&b.a);
        if (!found) {
            plow_error(err, "no worker left in the directory for this model at %" PRIu64 " per token (%zu of %zu done)",
                       o->max_price, b.next, b.n_prompts);
            goto out;
        }
        if (session_run(&b, &w, err)) {
            agent_fail(&b.a, err);
            continue;
        }
    }
    if (b.next < b.n_prompts) {
        plow_error(err, "stopped with %zu of %zu completions bought", b.next, b.n_prompts);
        goto out;
    }
    agent_log(&b.a, "done: %zu completions bought", b.n_prompts);
    rc = 0;
out:
    if (b.a.work[0]) {
        char sp[AGENT_PATH_MAX + 32];
        snprintf(sp, sizeof sp, "%s/summary.json", b.a.work);
        json_add_u64(b.summary, "done", b.next);
        char *s = cJSON_Print(b.summary);
        char e2[PLOW_ERR_LEN];
        plow_write_file(sp, s, strlen(s), e2);
        free(s);
    }
    cJSON_Delete(b.summary);
    for (size_t i = 0; i < b.n_prompts; i++) free(b.prompts[i]);
    free(b.prompts);
    free(b.bad);
    mail_inbox_release(&b.inbox);
    model_free(b.m);
    tokenizer_free(b.tok);
    sodium_memzero(b.secret, sizeof b.secret);
    if (b.a.c) agent_close(&b.a);
    return rc;
}
