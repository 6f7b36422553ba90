/*
 * market.c — plow serve as an agent others find and talk to
 * (docs/market.md): its signed card at CARD_PATH; with --publish, the card
 * uploaded and named by the worker's ledger profile (the node's directory
 * lists it), and the worker's mailbox read between requests: a request for
 * a quote (rfq) naming this model at a price it accepts gets an offer, an
 * accept is logged (the channel itself is on the ledger, and each request's
 * voucher is checked against it: an accept commits nobody to anything).
 */
#include "../base/plow.h"

#include <cjson/cJSON.h>
#include <inttypes.h>
#include <stdarg.h>

#include "../market/market.h"
#include "../client/client.h"
#include "../client/listen.h"
#include "serve_internal.h"

struct serve_market {
    client *c; /* the node (with --node), used by serve_run's thread only */
    mail_inbox inbox;
    double next_poll;
    bool warned;
};

static void logf_(server *s, const char *fmt, ...) PLOW_PRINTF(2, 3);
static void logf_(server *s, const char *fmt, ...) {
    if (s->o.quiet) return;
    va_list ap;
    va_start(ap, fmt);
    fputs("plow serve: ", stdout);
    vprintf(fmt, ap);
    fputc('\n', stdout);
    fflush(stdout);
    va_end(ap);
}

int serve_market_open(server *s, char err[PLOW_ERR_LEN]) {
    char url[300], addr[LEDGER_ADDR_STR_LEN], ep[340];
    listen_url(s->o.listen, s->port, url, sizeof url);
    ledger_addr_format(s->key.pk, addr);
    cJSON *card = card_new(s->o.agent_name ? s->o.agent_name : "plow serve", s->key.pk, "serve");
    snprintf(ep, sizeof ep, "%s/v1", url);
    card_add_endpoint(card, "openai", ep);
    snprintf(ep, sizeof ep, "%s%s", url, CARD_PATH);
    card_add_endpoint(card, "card", ep);
    if (s->o.node) card_add_endpoint(card, "mailbox", s->o.node);
    card_add_service(card, "completions", s->model_hash, s->tokenizer_hash, s->id, s->o.price);
    uint8_t h[32];
    char *text = card_sign(card, &s->key, h);
    cJSON_Delete(card);
    atomic_store(&s->card, text);
    if (!s->o.publish) return 0;
    if (!s->o.node) return plow_error(err, "--publish needs --node URL (the ledger that holds the profile)");
    serve_market *m = plow_calloc(1, sizeof *m);
    s->market = m;
    m->c = client_new(s->o.node);
    if (!m->c) return plow_error(err, "cannot start libcurl");
    client_set_key(m->c, &s->key);
    if (card_publish(m->c, &s->key, s->o.agent_name ? s->o.agent_name : "plow serve", text, ep, err))
        return plow_error_prefix(err, "publishing the card");
    char hx[65];
    plow_hex(h, 32, hx);
    logf_(s, "card %s published: the profile of %s names it", hx, addr);
    return 0;
}

/* The answer to an rfq: an offer, or a decline with the reason. */
static void answer_rfq(server *s, const mail_msg *q, const char *body) {
    serve_market *m = s->market;
    cJSON *j = cJSON_Parse(body), *a = cJSON_CreateObject();
    char err[PLOW_ERR_LEN], url[300], ep[320];
    uint8_t mh[32];
    uint64_t max_price = 0;
    const char *why = NULL;
    if (!cJSON_IsObject(j) || json_get_hash(j, "model", mh, err) || json_get_u64(j, "max_price", &max_price, err))
        why = "an rfq is {\"model\": HASH, \"max_price\": N}";
    else if (memcmp(mh, s->model_hash, 32) != 0) why = "this worker serves another model";
    else if (max_price < s->o.price) why = "the price is above max_price";
    json_add_u64(a, "rfq", q->seq);
    if (why) {
        cJSON_AddStringToObject(a, "reason", why);
    } else {
        listen_url(s->o.listen, s->port, url, sizeof url);
        snprintf(ep, sizeof ep, "%s/v1", url);
        json_add_hash(a, "model", s->model_hash);
        cJSON_AddStringToObject(a, "model_id", s->id);
        json_add_u64(a, "price", s->o.price);
        cJSON_AddStringToObject(a, "endpoint", ep);
        json_add_addr(a, "worker", s->key.pk);
    }
    char *text = cJSON_PrintUnformatted(a);
    if (mail_send(m->c, &s->key, q->from, why ? "decline" : "offer", text, q->sealed, 600000, err))
        logf_(s, "cannot answer an rfq: %s", err);
    else {
        char who[LEDGER_ADDR_STR_LEN];
        ledger_addr_format(q->from, who);
        logf_(s, "rfq from %s: %s", who, why ? why : "offered");
    }
    free(text);
    cJSON_Delete(a);
    cJSON_Delete(j);
}

void serve_market_poll(server *s) {
    serve_market *m = s->market;
    if (!m || plow_now() < m->next_poll) return;
    m->next_poll = plow_now() + 0.2;
    mail_msg *ms;
    size_t n;
    char err[PLOW_ERR_LEN];
    if (mail_fetch(m->c, &s->key, &m->inbox, &ms, &n, err)) {
        if (!m->warned) logf_(s, "cannot read the mailbox: %s", err);
        m->warned = true;
        return;
    }
    m->warned = false;
    for (size_t i = 0; i < n; i++) {
        char *body;
        size_t bl;
        if (mail_body(&ms[i], &s->key, &body, &bl, err) == 0) {
            if (strcmp(ms[i].type, "rfq") == 0) answer_rfq(s, &ms[i], body);
            else if (strcmp(ms[i].type, "accept") == 0) {
                char who[LEDGER_ADDR_STR_LEN];
                ledger_addr_format(ms[i].from, who);
                logf_(s, "accepted by %s: %.200s", who, body);
            }
            free(body);
        }
        mail_release(&ms[i]);
    }
    free(ms);
}

void serve_market_close(server *s) {
    free(atomic_load(&s->card));
    serve_market *m = s->market;
    if (!m) return;
    client_free(m->c);
    mail_inbox_release(&m->inbox);
    free(m);
    s->market = NULL;
}
