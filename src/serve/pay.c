/*
 * pay.c — paying plow serve over payment channels (docs/serve.md,
 * "Paying"; the ledger's side is docs/ledger.md, "Payment channels").
 *
 * A request to a server with a price carries a voucher in its X-PAYMENT
 * header: the client's signature of the cumulative amount it owes on a
 * channel to this worker. The server checks it against the channel as the
 * ledger holds it (this worker's, open, the client's signature on this
 * chain, within the deposit) and admits the request if the voucher leaves
 * credit for its largest cost, price x (prompt + max_tokens). That much is
 * reserved while it runs (concurrent requests on one channel cannot spend
 * the same credit twice); when it ends the reservation shrinks to what was
 * served, price x (prompt + output tokens), and the rest is credit for the
 * next request. Without a voucher, or with too little, the answer is 402 with
 * a quote (x402's shape: what to pay, to whom, on which chain) so an agent
 * learns the price and pays in the same exchange.
 *
 * The worker redeems the latest voucher (written to --vouchers FILE, one
 * line each time it grows) with `plow channel redeem`.
 */
#include "../base/plow.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <inttypes.h>

#include "../client/client.h"
#include "serve_internal.h"

#define PAY_MAX_CHANNELS 4096

typedef struct pay_chan {
    uint8_t id[32];
    uint64_t latest;  /* the largest voucher accepted */
    uint64_t charged; /* served and reserved */
} pay_chan;

struct serve_pay {
    pthread_mutex_t mu;
    client *c; /* guarded by mu */
    uint8_t chain[32];
    pay_chan *ch;
    size_t n;
    FILE *log;
};

int pay_open(server *s, char err[PLOW_ERR_LEN]) {
    if (s->o.price == 0) return 0;
    if (!s->o.node) return plow_error(err, "--price needs --node URL (the ledger that holds the channels)");
    serve_pay *p = plow_calloc(1, sizeof *p);
    pthread_mutex_init(&p->mu, NULL);
    s->pay = p;
    p->c = client_new(s->o.node);
    if (!p->c) return plow_error(err, "cannot start libcurl");
    if (client_chain_id(p->c, p->chain, err)) return -1;
    if (s->o.vouchers && !(p->log = fopen(s->o.vouchers, "a")))
        return plow_error(err, "cannot open %s: %s", s->o.vouchers, strerror(errno));
    return 0;
}

void pay_close(server *s) {
    serve_pay *p = s->pay;
    if (!p) return;
    client_free(p->c);
    if (p->log) fclose(p->log);
    pthread_mutex_destroy(&p->mu);
    free(p->ch);
    free(p);
    s->pay = NULL;
}

static pay_chan *find(serve_pay *p, const uint8_t id[32]) {
    for (size_t i = 0; i < p->n; i++)
        if (memcmp(p->ch[i].id, id, 32) == 0) return &p->ch[i];
    return NULL;
}

/* 402: the quote. need: the voucher amount that would be accepted. */
static void quote(server *s, api_reply *out, const char *path, uint64_t cost, uint64_t need, const char *why) {
    char chain[65], addr[LEDGER_ADDR_STR_LEN], num[24];
    plow_hex(s->pay->chain, 32, chain);
    ledger_addr_format(s->key.pk, addr);
    api_error(out, 402, "payment_required", NULL, "payment_required",
              "%s: this request costs up to %" PRIu64 " (%" PRIu64 " per token); send X-PAYMENT: a voucher for at "
              "least %" PRIu64 " on a channel to %s (docs/serve.md)",
              why, cost, s->o.price, need, addr);
    cJSON *j = cJSON_ParseWithLength((const char *)out->body.data, out->body.len);
    PLOW_ASSERT(j);
    cJSON_AddNumberToObject(j, "x402Version", 1);
    cJSON *a = cJSON_CreateObject();
    cJSON_AddStringToObject(a, "scheme", "plow-channel");
    cJSON_AddStringToObject(a, "network", chain);
    cJSON_AddStringToObject(a, "payTo", addr);
    snprintf(num, sizeof num, "%" PRIu64, cost);
    cJSON_AddStringToObject(a, "maxAmountRequired", num);
    snprintf(num, sizeof num, "%" PRIu64, need);
    cJSON_AddStringToObject(a, "minVoucher", num);
    snprintf(num, sizeof num, "%" PRIu64, s->o.price);
    cJSON_AddStringToObject(a, "pricePerToken", num);
    cJSON_AddStringToObject(a, "resource", path);
    cJSON_AddStringToObject(a, "node", s->o.node);
    cJSON_AddItemToArray(cJSON_AddArrayToObject(j, "accepts"), a);
    char *txt = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    PLOW_ASSERT(txt);
    out->body.len = 0;
    plow_buf_append(&out->body, txt, strlen(txt));
    free(txt);
    snprintf(out->hdr_name, sizeof out->hdr_name, "X-Plow-Price");
    snprintf(out->hdr_value, sizeof out->hdr_value, "%" PRIu64, s->o.price);
}

int pay_admit(server *s, const char *path, const char *voucher, int n_prompt, int max_new, pay_ticket *t,
              api_reply *out) {
    memset(t, 0, sizeof *t);
    serve_pay *p = s->pay;
    if (!p) return 0; /* free */
    uint64_t cost, tokens = (uint64_t)n_prompt + (uint64_t)max_new;
    if (!plow_mul_u64(tokens, s->o.price, &cost)) {
        api_error(out, 400, "invalid_request_error", "max_tokens", NULL, "the request's cost overflows");
        return -1;
    }
    if (!voucher) {
        quote(s, out, path, cost, cost, "payment required");
        return -1;
    }
    uint8_t id[32], sig[LEDGER_SIG_LEN];
    uint64_t amount;
    char err[PLOW_ERR_LEN];
    if (ledger_voucher_parse(voucher, id, &amount, sig, err)) {
        api_error(out, 400, "invalid_request_error", "X-PAYMENT", "invalid_voucher", "%s", err);
        return -1;
    }
    ledger_channel h;
    pthread_mutex_lock(&p->mu);
    int rc = client_channel(p->c, id, &h, err); /* the ledger's view now: status and deposit */
    pay_chan *pc = rc == 0 ? find(p, id) : NULL;
    uint64_t charged = pc ? pc->charged : 0, need;
    const char *why = NULL;
    if (rc) why = "the channel is not on the ledger";
    else if (memcmp(h.worker, s->key.pk, 32) != 0) why = "the channel is not to this worker";
    else if (h.status != LEDGER_CHAN_OPEN) why = "the channel is closing or closed";
    else if (!ledger_voucher_ok(h.client, p->chain, id, amount, sig)) why = "the voucher is not the channel client's signature";
    else if (amount > h.deposit) why = "the voucher exceeds the channel's deposit";
    if (!plow_add_u64(charged, cost, &need)) need = UINT64_MAX;
    if (!why && amount < need) why = "the voucher leaves too little credit";
    if (!why && need > h.deposit) why = "the channel's deposit is spent";
    if (!why && !pc) {
        if (p->n == PAY_MAX_CHANNELS) why = "this server tracks too many channels";
        else {
            p->ch = plow_realloc(p->ch, sizeof *p->ch * (p->n + 1));
            pc = &p->ch[p->n++];
            memset(pc, 0, sizeof *pc);
            memcpy(pc->id, id, 32);
        }
    }
    if (!why) {
        pc->charged = need;
        t->idx = (size_t)(pc - p->ch);
        t->reserved = cost;
        t->on = true;
        if (amount > pc->latest) {
            pc->latest = amount;
            if (p->log) {
                fprintf(p->log, "%s\n", voucher);
                fflush(p->log);
            }
        }
        snprintf(out->hdr_name, sizeof out->hdr_name, "X-PAYMENT-RESPONSE");
        char hx[65];
        plow_hex(id, 32, hx);
        snprintf(out->hdr_value, sizeof out->hdr_value,
                 "{\"channel\":\"%s\",\"voucher\":\"%" PRIu64 "\",\"reserved\":\"%" PRIu64 "\",\"charged\":\"%" PRIu64
                 "\"}",
                 hx, pc->latest, cost, pc->charged);
    }
    pthread_mutex_unlock(&p->mu);
    if (why) {
        if (rc) api_error(out, 402, "payment_required", "X-PAYMENT", "payment_required", "%s: %s", why, err);
        else quote(s, out, path, cost, need, why);
        return -1;
    }
    return 0;
}

void pay_settle(server *s, pay_ticket *t, int n_prompt, int n_out) {
    serve_pay *p = s->pay;
    if (!p || !t->on) return;
    uint64_t used = ((uint64_t)n_prompt + (uint64_t)n_out) * s->o.price; /* <= reserved: no overflow */
    if (used > t->reserved) used = t->reserved;
    pthread_mutex_lock(&p->mu);
    p->ch[t->idx].charged -= t->reserved - used;
    pthread_mutex_unlock(&p->mu);
    t->on = false;
}
