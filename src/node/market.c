/*
 * market.c — the node's directory of agent cards (GET /v1/directory) and its
 * mailbox (POST /v1/mail, GET /v1/mail/ADDR): docs/market.md, docs/api.md.
 *
 * The directory reads the registered profiles from the state, takes the card
 * each names (caps "card") from the node's blob store — never from a URL, so
 * a listing fetches nothing — checks it (size, shape, signed by the profile's
 * own key) and adds a reputation computed here from the ledger: whatever a
 * card says about itself beyond its services is not believed.
 *
 * The mailbox keeps messages in memory (store-and-forward for agents that
 * cannot be reached, behind NAT): a restart drops what was not fetched, and
 * the protocols on top (rfq/offer/accept) ask again when no answer comes.
 * Limits: MAIL_TEXT_MAX a message, MAILBOX_PER_SENDER and
 * MAILBOX_PER_RECIPIENT queued, MAILBOX_TOTAL in all, expiry at most
 * MAIL_TTL_MAX_MS ahead. A replay is refused by sequence: the node keeps the
 * highest sequence of each (sender, recipient) until the latest expiry it
 * admitted from that pair has passed — after which any replayed message is
 * expired anyway.
 */
#include "../base/plow.h"

#include <cjson/cJSON.h>
#include <inttypes.h>

#include "../market/market.h"
#include "node_internal.h"

#define MAILBOX_PER_SENDER 64
#define MAILBOX_PER_RECIPIENT 256
#define MAILBOX_TOTAL 16384
#define MAILBOX_PAIRS_MAX 262144
#define DIRECTORY_AGENTS_MAX 2000 /* profiles with a card looked at per listing */

/* ---- the directory ----------------------------------------------------------------- */

typedef struct dir_ent {
    uint8_t pk[32];
    char name[LEDGER_NAME_MAX + 1];
    char caps[LEDGER_CAPS_MAX + 1];
    uint64_t stake;
    uint64_t done, slashes, checked; /* paid slots, upheld challenges against it, receipt claims rejected */
    cJSON *card;
    uint64_t price; /* the matching service's */
    char ignored[PLOW_ERR_LEN];
} dir_ent;

typedef struct dir_scan {
    dir_ent *e;
    size_t n, cap;
    bool more;
    keytab pos; /* pk -> size_t index */
} dir_scan;

static bool scan_acct(const ledger_account *a, void *arg) {
    dir_scan *d = arg;
    if (a->profile != LEDGER_AGENT || !strstr(a->caps, "\"card\"")) return true;
    if (d->n == DIRECTORY_AGENTS_MAX) {
        d->more = true;
        return false;
    }
    if (d->n == d->cap) {
        d->cap = d->cap ? 2 * d->cap : 16;
        d->e = plow_realloc(d->e, d->cap * sizeof *d->e);
    }
    dir_ent *e = &d->e[d->n];
    memset(e, 0, sizeof *e);
    memcpy(e->pk, a->pk, 32);
    memcpy(e->name, a->name, sizeof e->name);
    memcpy(e->caps, a->caps, sizeof e->caps);
    e->stake = a->stake;
    *(size_t *)keytab_put(&d->pos, a->pk, NULL) = d->n++;
    return true;
}

static dir_ent *ent_of(dir_scan *d, const uint8_t pk[32]) {
    size_t *i = keytab_get(&d->pos, pk);
    return i ? &d->e[*i] : NULL;
}

static bool scan_task(const ledger_task *t, void *arg) {
    dir_scan *d = arg;
    for (uint32_t s = 0; s < t->p.replicas && s < LEDGER_MAX_REPLICAS; s++) {
        if (t->slots[s].status != LEDGER_SLOT_PAID) continue;
        dir_ent *e = ent_of(d, t->slots[s].worker);
        if (e) e->done++;
    }
    return true;
}

static bool scan_chal(const ledger_challenge *c, void *arg) {
    dir_scan *d = arg;
    dir_ent *e = ent_of(d, c->accused);
    if (!e) return true;
    if (c->status == LEDGER_CH_UPHELD) e->slashes++;
    else if (c->status == LEDGER_CH_REJECTED && c->kind == LEDGER_CHK_RECEIPT) e->checked++;
    return true;
}

/* Reputation order: fewer slashes, then more work done and receipts
 * checked, then the lower price, then the address (a total order). */
static int cmp_rep(const void *pa, const void *pb) {
    const dir_ent *a = pa, *b = pb;
    if (a->slashes != b->slashes) return a->slashes < b->slashes ? -1 : 1;
    uint64_t ra = a->done + a->checked, rb = b->done + b->checked;
    if (ra != rb) return ra > rb ? -1 : 1;
    if (a->price != b->price) return a->price < b->price ? -1 : 1;
    return memcmp(a->pk, b->pk, 32);
}

static int cmp_price(const void *pa, const void *pb) {
    const dir_ent *a = pa, *b = pb;
    if (a->price != b->price) return a->price < b->price ? -1 : 1;
    return cmp_rep(pa, pb);
}

/* The card of e from the blob store, checked; the service matching the
 * filters (its price in e->price). False with e->ignored when it does not
 * qualify. */
static bool load_card(node *n, dir_ent *e, const uint8_t *model, const char *kind, bool has_max, uint64_t max_price) {
    uint8_t h[32];
    char url[CARD_URL_MAX + 1], err[PLOW_ERR_LEN];
    if (card_ref(e->caps, h, url, err)) {
        snprintf(e->ignored, sizeof e->ignored, "%s", err);
        return false;
    }
    uint64_t size = 0;
    if (!blob_size(n->blobs, h, &size)) {
        snprintf(e->ignored, sizeof e->ignored, "its card's blob is not on this node");
        return false;
    }
    if (size > CARD_MAX_BYTES) {
        snprintf(e->ignored, sizeof e->ignored, "its card is %" PRIu64 " bytes (at most %d)", size, CARD_MAX_BYTES);
        return false;
    }
    uint8_t *data = NULL;
    size_t len = 0;
    if (blob_get(n->blobs, h, &data, &len, err) != 0) {
        snprintf(e->ignored, sizeof e->ignored, "%s", err);
        return false;
    }
    int rc = card_check(data, len, e->pk, &e->card, NULL, err);
    free(data);
    if (rc != 0) {
        snprintf(e->ignored, sizeof e->ignored, "%s", err);
        return false;
    }
    const cJSON *svc = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(e->card, "plow"), "services");
    const cJSON *s;
    cJSON_ArrayForEach(s, svc) {
        uint8_t mh[32];
        uint64_t price;
        if (json_get_hash(s, "model", mh, err) || json_get_u64(s, "price", &price, err)) continue;
        if (model && memcmp(mh, model, 32) != 0) continue;
        if (kind && strcmp(json_get_str(s, "kind"), kind) != 0) continue;
        if (has_max && price > max_price) continue;
        e->price = price;
        return true;
    }
    snprintf(e->ignored, sizeof e->ignored, "no service matches");
    return false;
}

int node_directory(node *n, const char *(*arg)(void *ctx, const char *key), void *ctx, cJSON **out, int *status,
                   char err[PLOW_ERR_LEN]) {
    *out = NULL;
    *status = 400;
    if (n->evm) {
        *status = 501;
        return plow_error(err, "a node indexing an EVM chain has no directory yet (its profiles live on the chain)");
    }
    const char *ms = arg(ctx, "model"), *mp = arg(ctx, "max_price"), *kind = arg(ctx, "kind");
    const char *sort = arg(ctx, "sort"), *lim = arg(ctx, "limit"), *ign = arg(ctx, "ignored");
    uint8_t model[32];
    uint64_t max_price = 0, limit = 50;
    if (ms && (strlen(ms) != 64 || plow_unhex(ms, model, 32)))
        return plow_error(err, "model=%.80s: expected a model hash (64 hex digits)", ms);
    if (mp && !plow_parse_u64(mp, &max_price)) return plow_error(err, "max_price=%.40s: expected an amount", mp);
    if (lim && (!plow_parse_u64(lim, &limit) || limit < 1 || limit > 500))
        return plow_error(err, "limit=%.40s: expected 1..500", lim);
    if (sort && strcmp(sort, "reputation") != 0 && strcmp(sort, "price") != 0)
        return plow_error(err, "sort=%.40s: expected reputation or price", sort);
    if (kind && strlen(kind) > 32) return plow_error(err, "kind=%.40s: too long", kind);
    dir_scan d;
    memset(&d, 0, sizeof d);
    keytab_init(&d.pos, sizeof(size_t));
    pthread_rwlock_rdlock(&n->state_lock);
    uint64_t height = ledger_state_height(n->s);
    ledger_each_account(n->s, scan_acct, &d);
    if (d.n) {
        ledger_each_challenge(n->s, scan_chal, &d);
    }
    pthread_rwlock_unlock(&n->state_lock);
    if (d.n) { /* the task index has its own lock */
        pthread_rwlock_rdlock(&n->tasks.lock);
        for (size_t i = 0; i < n->tasks.n; i++) scan_task(n->tasks.e[i].t, &d);
        pthread_rwlock_unlock(&n->tasks.lock);
    }
    /* cards (blob reads, no lock) */
    cJSON *o = cJSON_CreateObject();
    json_add_u64(o, "height", height);
    cJSON *arr = cJSON_AddArrayToObject(o, "agents");
    cJSON *ig = ign ? cJSON_AddArrayToObject(o, "ignored") : NULL;
    size_t keep = 0;
    for (size_t i = 0; i < d.n; i++) {
        dir_ent *e = &d.e[i];
        if (load_card(n, e, ms ? model : NULL, kind, mp != NULL, max_price)) {
            d.e[keep++] = *e;
            continue;
        }
        if (ig) {
            cJSON *x = cJSON_CreateObject();
            json_add_addr(x, "address", e->pk);
            cJSON_AddStringToObject(x, "reason", e->ignored);
            cJSON_AddItemToArray(ig, x);
        }
        cJSON_Delete(e->card);
    }
    qsort(d.e, keep, sizeof *d.e, sort && strcmp(sort, "price") == 0 ? cmp_price : cmp_rep);
    for (size_t i = 0; i < keep; i++) {
        dir_ent *e = &d.e[i];
        if (i < limit) {
            cJSON *x = cJSON_CreateObject();
            json_add_addr(x, "address", e->pk);
            cJSON_AddStringToObject(x, "name", e->name);
            json_add_u64(x, "price", e->price);
            json_add_u64(x, "stake", e->stake);
            cJSON *r = cJSON_AddObjectToObject(x, "reputation");
            json_add_u64(r, "tasks_done", e->done);
            json_add_u64(r, "slashes", e->slashes);
            json_add_u64(r, "receipts_checked", e->checked);
            uint8_t h[32];
            char url[CARD_URL_MAX + 1];
            if (card_ref(e->caps, h, url, err) == 0) {
                json_add_hash(x, "card_hash", h);
                cJSON_AddStringToObject(x, "card_url", url);
            }
            cJSON_AddItemToObject(x, "card", e->card);
            e->card = NULL;
            cJSON_AddItemToArray(arr, x);
        }
        cJSON_Delete(e->card);
    }
    if (d.more || keep > limit) cJSON_AddTrueToObject(o, "truncated");
    free(d.e);
    keytab_release(&d.pos);
    *out = o;
    *status = 200;
    return 0;
}

/* ---- the mailbox -------------------------------------------------------------------- */

typedef struct mb_msg {
    uint64_t id, expires_ms;
    uint8_t from[32], to[32];
    char *json; /* the envelope as received, re-printed */
} mb_msg;

typedef struct mb_pair {
    uint64_t seq, until_ms;
} mb_pair;

struct mailbox {
    pthread_mutex_t mu;
    mb_msg *m; /* oldest first */
    size_t n, cap;
    uint64_t next_id;
    keytab per_sender, per_recipient; /* pk -> uint32_t queued */
    keytab pairs;                     /* SHA-256(from || to) -> mb_pair */
};

mailbox *mailbox_new(void) {
    mailbox *b = plow_calloc(1, sizeof *b);
    pthread_mutex_init(&b->mu, NULL);
    keytab_init(&b->per_sender, sizeof(uint32_t));
    keytab_init(&b->per_recipient, sizeof(uint32_t));
    keytab_init(&b->pairs, sizeof(mb_pair));
    b->next_id = 1;
    return b;
}

void mailbox_free(mailbox *b) {
    if (!b) return;
    for (size_t i = 0; i < b->n; i++) free(b->m[i].json);
    free(b->m);
    keytab_release(&b->per_sender);
    keytab_release(&b->per_recipient);
    keytab_release(&b->pairs);
    pthread_mutex_destroy(&b->mu);
    free(b);
}

static void count_dec(keytab *t, const uint8_t pk[32]) {
    uint32_t *c = keytab_get(t, pk);
    if (c && --*c == 0) keytab_remove(t, pk);
}

/* Drops messages that expired or that keep(i) says go; mu held. */
static void mb_sweep(mailbox *b, uint64_t now, const uint8_t *to, uint64_t acked) {
    size_t w = 0;
    for (size_t i = 0; i < b->n; i++) {
        mb_msg *m = &b->m[i];
        bool drop = m->expires_ms <= now || (to && memcmp(m->to, to, 32) == 0 && m->id <= acked);
        if (!drop) {
            b->m[w++] = *m;
            continue;
        }
        count_dec(&b->per_sender, m->from);
        count_dec(&b->per_recipient, m->to);
        free(m->json);
    }
    b->n = w;
}

static void mb_prune_pairs(mailbox *b, uint64_t now) {
    uint8_t(*gone)[32] = plow_alloc((b->pairs.n + 1) * 32);
    size_t ng = 0;
    for (size_t i = 0; i < b->pairs.cap; i++) {
        const uint8_t *k;
        mb_pair *p = keytab_slot(&b->pairs, i, &k);
        if (p && p->until_ms <= now) memcpy(gone[ng++], k, 32);
    }
    for (size_t i = 0; i < ng; i++) keytab_remove(&b->pairs, gone[i]);
    free(gone);
}

/* Whether an account is one this chain knows (a balance, a stake or a profile). */
static bool known(node *n, const uint8_t pk[32], bool *registered) {
    ledger_account a;
    pthread_rwlock_rdlock(&n->state_lock);
    bool found = ledger_get_account(n->s, pk, &a);
    pthread_rwlock_unlock(&n->state_lock);
    *registered = found && a.profile != 0;
    return found && (a.balance || a.stake || a.profile);
}

int node_mail_post(node *n, const uint8_t *body, size_t len, cJSON **out, int *status, char err[PLOW_ERR_LEN]) {
    *out = NULL;
    *status = 400;
    if (len > MAIL_TEXT_MAX) {
        *status = 413;
        return plow_error(err, "a message of %zu bytes (at most %d)", len, MAIL_TEXT_MAX);
    }
    cJSON *j = cJSON_ParseWithLength((const char *)body, len);
    mail_msg m;
    memset(&m, 0, sizeof m);
    int rc = -1;
    if (!j) {
        plow_error(err, "the body is not JSON");
        goto out;
    }
    if (mail_from_json(j, &m, err) != 0) {
        if (strstr(err, "bytes (at most")) *status = 413;
        goto out;
    }
    if (m.id) {
        plow_error(err, "a message to post carries no id (the mailbox gives one)");
        goto out;
    }
    if (!mail_sig_ok(&m, n->genesis.chain_id)) {
        *status = 401;
        plow_error(err, "the message's signature is not its sender's (for this chain)");
        goto out;
    }
    uint64_t now = node_now_ms();
    if (m.expires_ms <= now) {
        plow_error(err, "the message expired %" PRIu64 " ms ago", now - m.expires_ms);
        goto out;
    }
    if (m.expires_ms - now > MAIL_TTL_MAX_MS) {
        plow_error(err, "the message expires more than %llu ms ahead", (unsigned long long)MAIL_TTL_MAX_MS);
        goto out;
    }
    bool reg;
    if (!known(n, m.from, &reg)) {
        *status = 403;
        plow_error(err, "the sender holds nothing on this chain");
        goto out;
    }
    if (!known(n, m.to, &reg)) {
        *status = 404;
        plow_error(err, "unknown recipient: this chain knows no balance, stake or profile of it");
        goto out;
    }
    uint8_t pk2[64], pair[32];
    memcpy(pk2, m.from, 32);
    memcpy(pk2 + 32, m.to, 32);
    plow_sha256_once(pk2, 64, pair);
    mailbox *b = n->mail;
    pthread_mutex_lock(&b->mu);
    mb_sweep(b, now, NULL, 0);
    mb_pair *p = keytab_get(&b->pairs, pair);
    uint32_t *cs = keytab_get(&b->per_sender, m.from), *cr = keytab_get(&b->per_recipient, m.to);
    if (p && m.seq <= p->seq) {
        *status = 409;
        plow_error(err, "replayed: sequence %" PRIu64 " is not above %" PRIu64 ", the last from this sender to this recipient",
                   m.seq, p->seq);
    } else if (cs && *cs >= MAILBOX_PER_SENDER) {
        *status = 429;
        plow_error(err, "the sender has %d messages waiting (at most %d)", MAILBOX_PER_SENDER, MAILBOX_PER_SENDER);
    } else if (cr && *cr >= MAILBOX_PER_RECIPIENT) {
        *status = 429;
        plow_error(err, "the recipient has %d messages waiting (at most %d)", MAILBOX_PER_RECIPIENT,
                   MAILBOX_PER_RECIPIENT);
    } else if (b->n >= MAILBOX_TOTAL) {
        *status = 503;
        plow_error(err, "the mailbox is full (%d messages)", MAILBOX_TOTAL);
    } else {
        if (!p && b->pairs.n >= MAILBOX_PAIRS_MAX) mb_prune_pairs(b, now);
        if (!p && b->pairs.n >= MAILBOX_PAIRS_MAX) {
            *status = 503;
            plow_error(err, "the mailbox is full (too many correspondents)");
        } else {
            p = keytab_put(&b->pairs, pair, NULL);
            p->seq = m.seq;
            if (m.expires_ms > p->until_ms) p->until_ms = m.expires_ms;
            (*(uint32_t *)keytab_put(&b->per_sender, m.from, NULL))++;
            (*(uint32_t *)keytab_put(&b->per_recipient, m.to, NULL))++;
            if (b->n == b->cap) {
                b->cap = b->cap ? 2 * b->cap : 64;
                b->m = plow_realloc(b->m, b->cap * sizeof *b->m);
            }
            mb_msg *x = &b->m[b->n++];
            x->id = b->next_id++;
            x->expires_ms = m.expires_ms;
            memcpy(x->from, m.from, 32);
            memcpy(x->to, m.to, 32);
            cJSON *e = mail_to_json(&m);
            x->json = cJSON_PrintUnformatted(e);
            cJSON_Delete(e);
            *out = cJSON_CreateObject();
            json_add_u64(*out, "id", x->id);
            *status = 202;
            rc = 0;
        }
    }
    pthread_mutex_unlock(&b->mu);
out:
    mail_release(&m);
    cJSON_Delete(j);
    return rc;
}

int node_mail_get(node *n, const char *addr, const char *(*arg)(void *ctx, const char *key), void *ctx, cJSON **out,
                  int *status, char err[PLOW_ERR_LEN]) {
    *out = NULL;
    *status = 400;
    uint8_t pk[32], sig[LEDGER_SIG_LEN], auth[MAIL_GET_AUTH_LEN];
    uint64_t after = 0, t = 0;
    const char *a = arg(ctx, "after"), *ts = arg(ctx, "time"), *sh = arg(ctx, "sig");
    if (ledger_addr_parse(addr, pk, err) != 0) return -1;
    if (a && !plow_parse_u64(a, &after)) return plow_error(err, "after=%.40s: expected a message id", a);
    if (!ts || !sh || !plow_parse_u64(ts, &t) || strlen(sh) != 2 * LEDGER_SIG_LEN || plow_unhex(sh, sig, sizeof sig)) {
        *status = 401;
        return plow_error(err, "reading a mailbox needs time=MS and sig=HEX (its owner's signature: docs/market.md)");
    }
    uint64_t now = node_now_ms();
    if ((t > now ? t - now : now - t) > CLIENT_BLOB_AUTH_WINDOW_MS) {
        *status = 401;
        return plow_error(err, "time is %" PRIu64 " ms from this node's clock (at most %d): check the clock",
                          t > now ? t - now : now - t, CLIENT_BLOB_AUTH_WINDOW_MS);
    }
    mail_get_auth(n->genesis.chain_id, pk, after, t, auth);
    if (!ledger_verify_sig(pk, auth, sizeof auth, sig)) {
        *status = 401;
        return plow_error(err, "the signature is not the mailbox owner's");
    }
    mailbox *b = n->mail;
    cJSON *o = cJSON_CreateObject();
    cJSON *arr = cJSON_AddArrayToObject(o, "messages");
    pthread_mutex_lock(&b->mu);
    mb_sweep(b, now, pk, after); /* what the reader acknowledged goes */
    for (size_t i = 0; i < b->n; i++) {
        if (memcmp(b->m[i].to, pk, 32) != 0) continue;
        cJSON *e = cJSON_Parse(b->m[i].json);
        if (!e) continue;
        json_add_u64(e, "id", b->m[i].id);
        cJSON_AddItemToArray(arr, e);
    }
    pthread_mutex_unlock(&b->mu);
    *out = o;
    *status = 200;
    return 0;
}
