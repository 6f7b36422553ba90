/*
 * market.c — cards and mail (market.h, docs/market.md).
 */
#include "../base/plow.h"

#include <cjson/cJSON.h>
#include <sodium.h>
#include <stdatomic.h>
#include <time.h>

#include "../client/client.h"
#include "market.h"

/* ---- cards ---------------------------------------------------------------------- */

cJSON *card_new(const char *name, const uint8_t pk[LEDGER_PK_LEN], const char *role) {
    cJSON *c = cJSON_CreateObject();
    cJSON_AddStringToObject(c, "type", CARD_TYPE);
    cJSON_AddStringToObject(c, "name", name);
    char d[160];
    snprintf(d, sizeof d, "a plow %s agent", role);
    cJSON_AddStringToObject(c, "description", d);
    cJSON_AddArrayToObject(c, "endpoints");
    cJSON *p = cJSON_AddObjectToObject(c, "plow");
    cJSON_AddNumberToObject(p, "version", 1);
    json_add_addr(p, "key", pk);
    cJSON_AddStringToObject(p, "role", role);
    cJSON_AddArrayToObject(p, "services");
    return c;
}

void card_add_endpoint(cJSON *card, const char *name, const char *url) {
    cJSON *e = cJSON_CreateObject();
    cJSON_AddStringToObject(e, "name", name);
    cJSON_AddStringToObject(e, "endpoint", url);
    cJSON_AddItemToArray(cJSON_GetObjectItemCaseSensitive(card, "endpoints"), e);
}

void card_add_service(cJSON *card, const char *kind, const uint8_t model[32], const uint8_t tokenizer[32],
                      const char *model_id, uint64_t price) {
    cJSON *s = cJSON_CreateObject();
    cJSON_AddStringToObject(s, "kind", kind);
    json_add_hash(s, "model", model);
    json_add_hash(s, "tokenizer", tokenizer);
    cJSON_AddStringToObject(s, "model_id", model_id);
    json_add_u64(s, "price", price);
    cJSON_AddItemToArray(cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(card, "plow"), "services"),
                         s);
}

/* SHA-256("plow-card/v1" 0x00 || card printed without "signature"). */
static void card_digest(const cJSON *card, uint8_t out[32]) {
    cJSON *c = cJSON_Duplicate(card, 1);
    PLOW_ASSERT(c);
    cJSON_DeleteItemFromObjectCaseSensitive(c, "signature");
    char *s = cJSON_PrintUnformatted(c);
    PLOW_ASSERT(s);
    plow_sha256 *h = plow_sha256_new();
    plow_sha256_update(h, "plow-card/v1", 13);
    plow_sha256_update(h, s, strlen(s));
    plow_sha256_final(h, out);
    free(s);
    cJSON_Delete(c);
}

char *card_sign(cJSON *card, const ledger_key *k, uint8_t hash[32]) {
    cJSON_DeleteItemFromObjectCaseSensitive(card, "signature");
    uint8_t d[32], sig[LEDGER_SIG_LEN];
    card_digest(card, d);
    ledger_sign(k, d, 32, sig);
    char hx[2 * LEDGER_SIG_LEN + 1];
    plow_hex(sig, LEDGER_SIG_LEN, hx);
    cJSON_AddStringToObject(card, "signature", hx);
    char *s = cJSON_Print(card);
    PLOW_ASSERT(s);
    plow_sha256_once(s, strlen(s), hash);
    return s;
}

static bool str_ok(const cJSON *o, const char *key, size_t max) {
    const char *s = json_get_str(o, key);
    return s && *s && strlen(s) <= max;
}

int card_check(const uint8_t *data, size_t n, const uint8_t *want, cJSON **out, uint8_t key[LEDGER_PK_LEN],
               char err[PLOW_ERR_LEN]) {
    if (out) *out = NULL;
    if (n > CARD_MAX_BYTES) return plow_error(err, "the card is %zu bytes (at most %d)", n, CARD_MAX_BYTES);
    cJSON *c = cJSON_ParseWithLength((const char *)data, n);
    int rc = -1;
    if (!c || !cJSON_IsObject(c)) {
        plow_error(err, "the card is not a JSON object");
        goto out;
    }
    const char *type = json_get_str(c, "type");
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(c, "plow");
    const cJSON *eps = cJSON_GetObjectItemCaseSensitive(c, "endpoints");
    const cJSON *svc = cJSON_IsObject(p) ? cJSON_GetObjectItemCaseSensitive(p, "services") : NULL;
    if (!type || strcmp(type, CARD_TYPE) != 0 || !str_ok(c, "name", 64) || !cJSON_IsObject(p) ||
        !cJSON_IsArray(eps) || !cJSON_IsArray(svc)) {
        plow_error(err, "the card lacks type \"%s\", a name of 1..64 bytes, endpoints or plow.services", CARD_TYPE);
        goto out;
    }
    const cJSON *e;
    cJSON_ArrayForEach(e, eps) {
        if (!str_ok(e, "name", 32) || !str_ok(e, "endpoint", CARD_URL_MAX)) {
            plow_error(err, "the card has an endpoint without a name (1..32 bytes) and URL (1..%d)", CARD_URL_MAX);
            goto out;
        }
    }
    cJSON_ArrayForEach(e, svc) {
        uint64_t price;
        uint8_t h[32];
        if (!str_ok(e, "kind", 32) || !str_ok(e, "model_id", 100) || json_get_hash(e, "model", h, err) ||
            json_get_hash(e, "tokenizer", h, err) || json_get_u64(e, "price", &price, err)) {
            plow_error(err, "the card has a service without kind, model, tokenizer, model_id and price");
            goto out;
        }
    }
    uint8_t pk[32], sig[LEDGER_SIG_LEN], d[32];
    const char *sh = json_get_str(c, "signature");
    if (json_get_addr(p, "key", pk, err)) {
        plow_error(err, "the card's plow.key is not an address");
        goto out;
    }
    if (!sh || strlen(sh) != 2 * LEDGER_SIG_LEN || plow_unhex(sh, sig, LEDGER_SIG_LEN)) {
        plow_error(err, "the card carries no signature (128 hex digits)");
        goto out;
    }
    card_digest(c, d);
    if (!ledger_verify_sig(pk, d, 32, sig)) {
        plow_error(err, "the card's signature is not its key's");
        goto out;
    }
    if (want && memcmp(pk, want, 32) != 0) {
        char a[LEDGER_ADDR_STR_LEN];
        ledger_addr_format(want, a);
        plow_error(err, "the card names another key than %s", a);
        goto out;
    }
    if (key) memcpy(key, pk, 32);
    rc = 0;
out:
    if (rc == 0 && out) *out = c;
    else cJSON_Delete(c);
    return rc;
}

int card_caps(const char *base, const uint8_t hash[32], const char *url, char out[LEDGER_CAPS_MAX + 1],
              char err[PLOW_ERR_LEN]) {
    cJSON *j = base && *base ? cJSON_Parse(base) : NULL;
    if (!cJSON_IsObject(j)) {
        cJSON_Delete(j);
        j = cJSON_CreateObject();
    }
    cJSON_DeleteItemFromObjectCaseSensitive(j, "card");
    cJSON_DeleteItemFromObjectCaseSensitive(j, "card_url");
    json_add_hash(j, "card", hash);
    cJSON_AddStringToObject(j, "card_url", url ? url : "");
    char *s = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    PLOW_ASSERT(s);
    size_t l = strlen(s);
    int rc = 0;
    if (l > LEDGER_CAPS_MAX) rc = plow_error(err, "the profile's capabilities with the card would be %zu bytes (at most %d)",
                                             l, LEDGER_CAPS_MAX);
    else memcpy(out, s, l + 1);
    free(s);
    return rc;
}

int card_ref(const char *caps, uint8_t hash[32], char url[CARD_URL_MAX + 1], char err[PLOW_ERR_LEN]) {
    cJSON *j = caps ? cJSON_Parse(caps) : NULL;
    int rc = -1;
    const char *u = j ? json_get_str(j, "card_url") : NULL;
    if (!cJSON_IsObject(j) || json_get_hash(j, "card", hash, err)) plow_error(err, "the profile names no card");
    else if (u && strlen(u) > CARD_URL_MAX) plow_error(err, "the profile's card_url is too long");
    else {
        snprintf(url, CARD_URL_MAX + 1, "%s", u ? u : "");
        rc = 0;
    }
    cJSON_Delete(j);
    return rc;
}

int card_publish(client *c, const ledger_key *k, const char *name, const char *text, const char *url,
                 char err[PLOW_ERR_LEN]) {
    uint8_t h[32];
    ledger_account a;
    if (client_blob_put(c, text, strlen(text), h, err) || client_account(c, k->pk, &a, NULL, err)) return -1;
    ledger_tx tx;
    memset(&tx, 0, sizeof tx);
    tx.type = LEDGER_TX_REGISTER;
    tx.fee = 1;
    tx.u.reg.kind = LEDGER_AGENT;
    if (strlen(name) > LEDGER_NAME_MAX) return plow_error(err, "the name is longer than %d bytes", LEDGER_NAME_MAX);
    snprintf(tx.u.reg.name, sizeof tx.u.reg.name, "%s", name);
    if (card_caps(a.profile ? a.caps : NULL, h, url, tx.u.reg.caps, err)) return -1;
    return client_send(c, k, &tx, 60, err);
}

int card_fetch(const char *url, const uint8_t want_hash[32], const uint8_t want[LEDGER_PK_LEN], cJSON **out,
               char err[PLOW_ERR_LEN]) {
    *out = NULL;
    client *c = client_new(url);
    if (!c) return plow_error(err, "cannot start libcurl");
    plow_buf b = {0};
    long st = 0;
    int rc = client_request(c, "GET", "", NULL, NULL, &st, &b, CARD_MAX_BYTES, err);
    client_free(c);
    if (rc == 0 && st != 200) rc = plow_error(err, "the card at %s: HTTP %ld", url, st);
    uint8_t h[32];
    if (rc == 0) {
        plow_sha256_once(b.data, b.len, h);
        if (memcmp(h, want_hash, 32) != 0) rc = plow_error(err, "the card at %s does not hash to the profile's card", url);
    }
    if (rc == 0) rc = card_check(b.data, b.len, want, out, NULL, err);
    plow_buf_release(&b);
    return rc;
}

/* ---- mail ----------------------------------------------------------------------- */

void mail_release(mail_msg *m) {
    free(m->payload);
    m->payload = NULL;
    m->len = 0;
}

void mail_digest(const uint8_t chain_id[32], const mail_msg *m, uint8_t out[32]) {
    uint8_t b[8];
    plow_sha256 *h = plow_sha256_new();
    plow_sha256_update(h, "plow-mail/v1", 13);
    plow_sha256_update(h, chain_id, 32);
    plow_sha256_update(h, m->from, 32);
    plow_sha256_update(h, m->to, 32);
    plow_put_u64(b, m->seq);
    plow_sha256_update(h, b, 8);
    plow_put_u64(b, m->expires_ms);
    plow_sha256_update(h, b, 8);
    uint8_t s = m->sealed ? 1 : 0;
    plow_sha256_update(h, &s, 1);
    uint32_t tl = (uint32_t)strlen(m->type);
    plow_put_u32(b, tl);
    plow_sha256_update(h, b, 4);
    plow_sha256_update(h, m->type, tl);
    plow_put_u32(b, (uint32_t)m->len);
    plow_sha256_update(h, b, 4);
    if (m->len) plow_sha256_update(h, m->payload, m->len);
    plow_sha256_final(h, out);
}

void mail_sign(mail_msg *m, const uint8_t chain_id[32], const ledger_key *k) {
    uint8_t d[32];
    memcpy(m->from, k->pk, 32);
    mail_digest(chain_id, m, d);
    ledger_sign(k, d, 32, m->sig);
}

bool mail_sig_ok(const mail_msg *m, const uint8_t chain_id[32]) {
    uint8_t d[32];
    mail_digest(chain_id, m, d);
    return ledger_verify_sig(m->from, d, 32, m->sig);
}

int mail_set_body(mail_msg *m, const uint8_t *body, size_t n, bool seal, char err[PLOW_ERR_LEN]) {
    if (n > MAIL_BODY_MAX) return plow_error(err, "a message body of %zu bytes (at most %d)", n, MAIL_BODY_MAX);
    mail_release(m);
    m->sealed = seal;
    if (!seal) {
        m->payload = plow_alloc(n + 1);
        if (n) memcpy(m->payload, body, n);
        m->len = n;
        return 0;
    }
    uint8_t xpk[crypto_box_PUBLICKEYBYTES];
    if (crypto_sign_ed25519_pk_to_curve25519(xpk, m->to) != 0)
        return plow_error(err, "the recipient's key has no X25519 form: cannot seal to it");
    m->payload = plow_alloc(n + crypto_box_SEALBYTES);
    crypto_box_seal(m->payload, body, n, xpk);
    m->len = n + crypto_box_SEALBYTES;
    return 0;
}

int mail_body(const mail_msg *m, const ledger_key *k, char **out, size_t *n, char err[PLOW_ERR_LEN]) {
    *out = NULL;
    if (!m->sealed) {
        *out = plow_alloc(m->len + 1);
        if (m->len) memcpy(*out, m->payload, m->len);
        (*out)[m->len] = 0;
        *n = m->len;
        return 0;
    }
    if (!k || memcmp(k->pk, m->to, 32) != 0) return plow_error(err, "a sealed message opens only with its recipient's key");
    if (m->len < crypto_box_SEALBYTES) return plow_error(err, "a sealed message shorter than its seal");
    uint8_t xpk[crypto_box_PUBLICKEYBYTES], xsk[crypto_box_SECRETKEYBYTES];
    if (crypto_sign_ed25519_pk_to_curve25519(xpk, k->pk) || crypto_sign_ed25519_sk_to_curve25519(xsk, k->sk))
        return plow_error(err, "the key has no X25519 form");
    size_t pl = m->len - crypto_box_SEALBYTES;
    char *p = plow_alloc(pl + 1);
    int r = crypto_box_seal_open((uint8_t *)p, m->payload, m->len, xpk, xsk);
    sodium_memzero(xsk, sizeof xsk);
    if (r != 0) {
        free(p);
        return plow_error(err, "the sealed message does not open with this key (tampered, or not sealed to it)");
    }
    p[pl] = 0;
    *out = p;
    *n = pl;
    return 0;
}

cJSON *mail_to_json(const mail_msg *m) {
    cJSON *j = cJSON_CreateObject();
    json_add_addr(j, "from", m->from);
    json_add_addr(j, "to", m->to);
    json_add_u64(j, "seq", m->seq);
    json_add_u64(j, "expires_ms", m->expires_ms);
    cJSON_AddStringToObject(j, "type", m->type);
    if (m->sealed) {
        char *hx = plow_alloc(2 * m->len + 1);
        plow_hex(m->payload, m->len, hx);
        cJSON_AddStringToObject(j, "sealed", hx);
        free(hx);
    } else {
        char *s = plow_alloc(m->len + 1);
        if (m->len) memcpy(s, m->payload, m->len);
        s[m->len] = 0;
        cJSON_AddStringToObject(j, "body", s);
        free(s);
    }
    char sh[2 * LEDGER_SIG_LEN + 1];
    plow_hex(m->sig, LEDGER_SIG_LEN, sh);
    cJSON_AddStringToObject(j, "sig", sh);
    if (m->id) json_add_u64(j, "id", m->id);
    return j;
}

static bool type_ok(const char *t) {
    size_t n = strlen(t);
    if (n == 0 || n > MAIL_TYPE_MAX) return false;
    for (size_t i = 0; i < n; i++)
        if (!((t[i] >= 'a' && t[i] <= 'z') || (t[i] >= '0' && t[i] <= '9') || t[i] == '_' || t[i] == '-')) return false;
    return true;
}

int mail_from_json(const cJSON *j, mail_msg *m, char err[PLOW_ERR_LEN]) {
    memset(m, 0, sizeof *m);
    if (!cJSON_IsObject(j)) return plow_error(err, "a message is a JSON object");
    const char *type = json_get_str(j, "type"), *body = json_get_str(j, "body"), *sealed = json_get_str(j, "sealed");
    const char *sig = json_get_str(j, "sig");
    if (json_get_addr(j, "from", m->from, err) || json_get_addr(j, "to", m->to, err) ||
        json_get_u64(j, "seq", &m->seq, err) || json_get_u64(j, "expires_ms", &m->expires_ms, err))
        return -1;
    if (!type || !type_ok(type)) return plow_error(err, "a message type is 1..%d bytes of [a-z0-9_-]", MAIL_TYPE_MAX);
    snprintf(m->type, sizeof m->type, "%s", type);
    if (!sig || strlen(sig) != 2 * LEDGER_SIG_LEN || plow_unhex(sig, m->sig, LEDGER_SIG_LEN))
        return plow_error(err, "a message's sig is 128 hex digits");
    if (!!body == !!sealed) return plow_error(err, "a message has either a body or a sealed body");
    if (cJSON_GetObjectItemCaseSensitive(j, "id") && json_get_u64(j, "id", &m->id, err)) return -1;
    if (body) {
        size_t n = strlen(body);
        if (n > MAIL_BODY_MAX) return plow_error(err, "a message body of %zu bytes (at most %d)", n, MAIL_BODY_MAX);
        m->payload = plow_alloc(n + 1);
        memcpy(m->payload, body, n + 1);
        m->len = n;
        return 0;
    }
    size_t hl = strlen(sealed);
    if (hl % 2 || hl / 2 > MAIL_BODY_MAX + MAIL_SEAL_OVERHEAD || hl / 2 < MAIL_SEAL_OVERHEAD)
        return plow_error(err, "a sealed body is %d..%d bytes in hex", MAIL_SEAL_OVERHEAD,
                          MAIL_BODY_MAX + MAIL_SEAL_OVERHEAD);
    m->sealed = true;
    m->len = hl / 2;
    m->payload = plow_alloc(m->len);
    if (plow_unhex(sealed, m->payload, m->len)) {
        mail_release(m);
        return plow_error(err, "a sealed body is hex");
    }
    return 0;
}

void mail_get_auth(const uint8_t chain_id[32], const uint8_t addr[32], uint64_t after, uint64_t time_ms,
                   uint8_t out[MAIL_GET_AUTH_LEN]) {
    memcpy(out, "plow-mail-get/v1", 17);
    memcpy(out + 17, chain_id, 32);
    memcpy(out + 49, addr, 32);
    plow_put_u64(out + 81, after);
    plow_put_u64(out + 89, time_ms);
}

uint64_t mail_now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

uint64_t mail_next_seq(void) {
    static _Atomic uint64_t last;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t t = (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
    uint64_t prev = atomic_load(&last);
    for (;;) {
        uint64_t next = t > prev ? t : prev + 1;
        if (atomic_compare_exchange_weak(&last, &prev, next)) return next;
    }
}

int mail_post(client *c, const mail_msg *m, long *status, char err[PLOW_ERR_LEN]) {
    cJSON *j = mail_to_json(m);
    char *s = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    plow_buf b = {0};
    int rc = client_request(c, "POST", "/v1/mail", NULL, s, status, &b, 1 << 16, err);
    free(s);
    if (rc == 0 && (*status < 200 || *status >= 300)) {
        cJSON *e = b.len ? cJSON_ParseWithLength((const char *)b.data, b.len) : NULL;
        const char *msg = e ? json_get_str(e, "error") : NULL;
        rc = plow_error(err, "the mailbox refused the message (HTTP %ld): %s", *status, msg ? msg : "?");
        cJSON_Delete(e);
    }
    plow_buf_release(&b);
    return rc;
}

int mail_send(client *c, const ledger_key *k, const uint8_t to[LEDGER_PK_LEN], const char *type, const char *body,
              bool seal, uint64_t ttl_ms, char err[PLOW_ERR_LEN]) {
    uint8_t chain[32];
    if (client_chain_id(c, chain, err)) return -1;
    mail_msg m;
    memset(&m, 0, sizeof m);
    memcpy(m.to, to, 32);
    m.seq = mail_next_seq();
    m.expires_ms = mail_now_ms() + ttl_ms;
    snprintf(m.type, sizeof m.type, "%s", type);
    long st;
    int rc = mail_set_body(&m, (const uint8_t *)body, strlen(body), seal, err);
    if (rc == 0) {
        mail_sign(&m, chain, k);
        rc = mail_post(c, &m, &st, err);
    }
    mail_release(&m);
    return rc;
}

void mail_inbox_release(mail_inbox *b) {
    free(b->seen);
    memset(b, 0, sizeof *b);
}

/* True (and remembered) if seq is above the last seen from `from`. */
static bool inbox_fresh(mail_inbox *b, const uint8_t from[32], uint64_t seq) {
    for (size_t i = 0; i < b->n_seen; i++)
        if (memcmp(b->seen[i].from, from, 32) == 0) {
            if (seq <= b->seen[i].seq) return false;
            b->seen[i].seq = seq;
            return true;
        }
    if (b->n_seen == b->cap_seen) {
        b->cap_seen = b->cap_seen ? 2 * b->cap_seen : 16;
        b->seen = plow_realloc(b->seen, b->cap_seen * sizeof *b->seen);
    }
    memcpy(b->seen[b->n_seen].from, from, 32);
    b->seen[b->n_seen++].seq = seq;
    return true;
}

int mail_fetch(client *c, const ledger_key *k, mail_inbox *b, mail_msg **out, size_t *n, char err[PLOW_ERR_LEN]) {
    *out = NULL;
    *n = 0;
    uint8_t chain[32], auth[MAIL_GET_AUTH_LEN], sig[LEDGER_SIG_LEN];
    if (client_chain_id(c, chain, err)) return -1;
    uint64_t t = mail_now_ms();
    mail_get_auth(chain, k->pk, b->after, t, auth);
    ledger_sign(k, auth, sizeof auth, sig);
    char addr[LEDGER_ADDR_STR_LEN], sh[2 * LEDGER_SIG_LEN + 1], path[LEDGER_ADDR_STR_LEN + 220];
    ledger_addr_format(k->pk, addr);
    plow_hex(sig, LEDGER_SIG_LEN, sh);
    snprintf(path, sizeof path, "/v1/mail/%s?after=%llu&time=%llu&sig=%s", addr, (unsigned long long)b->after,
             (unsigned long long)t, sh);
    cJSON *j;
    if (client_get_json(c, path, &j, err)) return -1;
    const cJSON *arr = cJSON_GetObjectItemCaseSensitive(j, "messages"), *e;
    size_t cap = (size_t)cJSON_GetArraySize(arr);
    mail_msg *ms = plow_calloc(cap ? cap : 1, sizeof *ms);
    size_t got = 0;
    char merr[PLOW_ERR_LEN];
    cJSON_ArrayForEach(e, arr) {
        mail_msg m;
        if (mail_from_json(e, &m, merr) != 0) {
            b->dropped++;
            continue;
        }
        if (m.id > b->after) b->after = m.id;
        if (memcmp(m.to, k->pk, 32) != 0 || !mail_sig_ok(&m, chain) || m.expires_ms <= t ||
            !inbox_fresh(b, m.from, m.seq)) {
            b->dropped++;
            mail_release(&m);
            continue;
        }
        ms[got++] = m;
    }
    cJSON_Delete(j);
    *out = ms;
    *n = got;
    return 0;
}
