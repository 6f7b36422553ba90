/*
 * json.c — the JSON forms of ledger records (docs/api.md), one codec for the
 * node (which writes them) and its clients (which read them back).
 *
 * Writing never fails (cJSON running out of memory aborts, like plow_alloc).
 * Reading is strict because the other side may be anyone: every key must be
 * present with its type (64-bit numbers as canonical decimal strings, small
 * counts as JSON integers, hashes as 64 lowercase hex digits, accounts as
 * checksummed addresses, enums by name) and in range; errors name the key.
 * Unknown keys are ignored so the API can grow.
 */
#include "../base/plow.h"

#include <cjson/cJSON.h>
#include <inttypes.h>

#include "client.h"

/* ---- writing ----------------------------------------------------------------- */

static cJSON *must(cJSON *v) {
    if (!v) {
        fputs("plow: out of memory building JSON\n", stderr);
        abort();
    }
    return v;
}

static void add(cJSON *o, const char *key, cJSON *v) {
    must(v);
    if (!cJSON_AddItemToObject(o, key, v)) must(NULL);
}

static void add_str(cJSON *o, const char *key, const char *s) { add(o, key, cJSON_CreateString(s)); }
static void add_num(cJSON *o, const char *key, uint32_t v) { add(o, key, cJSON_CreateNumber((double)v)); }

void json_add_u64(cJSON *o, const char *key, uint64_t v) {
    char b[24];
    snprintf(b, sizeof b, "%" PRIu64, v);
    add_str(o, key, b);
}

void json_add_hash(cJSON *o, const char *key, const uint8_t h[32]) {
    char hex[65];
    plow_hex(h, 32, hex);
    add_str(o, key, hex);
}

void json_add_addr(cJSON *o, const char *key, const uint8_t pk[32]) {
    char a[LEDGER_ADDR_STR_LEN];
    ledger_addr_format(pk, a);
    add_str(o, key, a);
}

static const char *profile_name(int p) {
    return p == LEDGER_PERSON ? "person" : p == LEDGER_AGENT ? "agent" : "";
}

cJSON *json_account_to(const ledger_account *a, uint64_t next_nonce) {
    cJSON *o = must(cJSON_CreateObject());
    json_add_addr(o, "address", a->pk);
    json_add_u64(o, "balance", a->balance);
    json_add_u64(o, "nonce", a->nonce);
    json_add_u64(o, "next_nonce", next_nonce);
    json_add_u64(o, "stake", a->stake);
    json_add_u64(o, "locked", a->locked);
    json_add_u64(o, "unbonding", a->unbonding);
    json_add_u64(o, "unbond_at", a->unbond_at);
    add_str(o, "profile", profile_name(a->profile));
    add_str(o, "name", a->name);
    add_str(o, "caps", a->caps);
    return o;
}

static cJSON *slot_to(const ledger_slot *s) {
    cJSON *o = must(cJSON_CreateObject());
    add_str(o, "status", ledger_slot_status_name(s->status));
    json_add_addr(o, "worker", s->worker);
    json_add_u64(o, "claimed_at", s->claimed_at);
    json_add_u64(o, "committed_at", s->committed_at);
    json_add_hash(o, "trace_root", s->trace_root);
    json_add_hash(o, "final_state", s->final_state);
    json_add_hash(o, "artifact", s->artifact);
    json_add_hash(o, "manifest", s->manifest);
    json_add_u64(o, "n", s->n);
    add_num(o, "checkpoint_every", s->checkpoint_every);
    json_add_hash(o, "commitment", s->commitment);
    json_add_u64(o, "revealed_at", s->revealed_at);
    return o;
}

cJSON *json_task_to(const ledger_task *t) {
    cJSON *o = must(cJSON_CreateObject());
    json_add_hash(o, "id", t->id);
    json_add_addr(o, "requester", t->requester);
    add_str(o, "kind", ledger_kind_name(t->p.kind));
    add_str(o, "mode", ledger_mode_name(t->p.mode));
    add_num(o, "replicas", t->p.replicas);
    json_add_hash(o, "spec", t->p.spec);
    json_add_u64(o, "reward", t->p.reward);
    json_add_u64(o, "worker_stake", t->p.worker_stake);
    json_add_u64(o, "min_bond", t->p.min_bond);
    json_add_u64(o, "steps", t->p.steps);
    add_num(o, "claim_blocks", t->p.claim_blocks);
    add_num(o, "work_blocks", t->p.work_blocks);
    add_num(o, "window_blocks", t->p.window_blocks);
    add_str(o, "status", ledger_task_status_name(t->status));
    json_add_u64(o, "posted_at", t->posted_at);
    json_add_u64(o, "escrow", t->escrow);
    json_add_u64(o, "window_end", t->window_end);
    add_num(o, "open_challenges", t->open_challenges);
    cJSON *slots = must(cJSON_CreateArray());
    int n = t->p.replicas <= LEDGER_MAX_REPLICAS ? t->p.replicas : LEDGER_MAX_REPLICAS;
    for (int i = 0; i < n; i++)
        if (!cJSON_AddItemToArray(slots, slot_to(&t->slots[i]))) must(NULL);
    add(o, "slots", slots);
    if (t->p.kind == LEDGER_KIND_LABEL) {
        /* the label parameters and what the task settled to: only this kind has them */
        cJSON *l = must(cJSON_CreateObject());
        add_num(l, "n_classes", t->p.n_classes);
        add_num(l, "redundancy", t->p.redundancy);
        json_add_hash(l, "gold_commit", t->p.gold_commit);
        add_num(l, "min_gold_pct", t->p.min_gold_pct);
        add_str(l, "gold", t->gold_revealed ? "revealed" : "hidden");
        add_num(l, "revealed", t->revealed);
        json_add_hash(l, "result", t->result);
        cJSON *paid = must(cJSON_CreateArray());
        for (int i = 0; i < n; i++) {
            char b[24];
            snprintf(b, sizeof b, "%" PRIu64, t->paid[i]);
            if (!cJSON_AddItemToArray(paid, must(cJSON_CreateString(b)))) must(NULL);
        }
        add(l, "paid", paid);
        add(o, "label", l);
    }
    return o;
}

cJSON *json_challenge_to(const ledger_challenge *c) {
    cJSON *o = must(cJSON_CreateObject());
    json_add_hash(o, "id", c->id);
    json_add_hash(o, "task", c->task);
    json_add_addr(o, "challenger", c->challenger);
    json_add_addr(o, "accused", c->accused);
    if (c->has_other) json_add_addr(o, "other", c->other);
    json_add_u64(o, "step", c->step);
    json_add_u64(o, "bond", c->bond);
    json_add_u64(o, "opened_at", c->opened_at);
    json_add_u64(o, "deadline", c->deadline);
    json_add_hash(o, "state_blob", c->state_blob);
    json_add_hash(o, "leaf_prev", c->leaf_prev);
    json_add_hash(o, "accused_leaf", c->accused_leaf);
    json_add_hash(o, "other_leaf", c->other_leaf);
    add_str(o, "kind", ledger_challenge_kind_name(c->kind));
    add_str(o, "status", ledger_challenge_status_name(c->status));
    json_add_hash(o, "computed", c->computed);
    json_add_u64(o, "resolved_at", c->resolved_at);
    return o;
}

static void add_hex(cJSON *o, const char *key, const uint8_t *data, size_t n) {
    char *hex = plow_alloc(2 * n + 1);
    plow_hex(data, n, hex);
    add_str(o, key, hex);
    free(hex);
}

/* One included transaction. Stored transactions decoded when they were
 * admitted; a record that no longer decodes (a corrupt database) is still
 * shown, as raw hex with the type "?" and the hash of its bytes. */
static cJSON *block_tx_to(const plow_buf *raw, int result, const char *error) {
    cJSON *o = must(cJSON_CreateObject());
    ledger_tx tx;
    char err[PLOW_ERR_LEN];
    uint8_t h[32];
    bool ok = ledger_tx_decode(&tx, raw->data, raw->len, err) == 0;
    if (ok) ledger_tx_hash(&tx, h);
    else plow_sha256_once(raw->data, raw->len, h);
    json_add_hash(o, "hash", h);
    add_hex(o, "tx", raw->data, raw->len);
    add_str(o, "type", ok ? ledger_tx_type_name(tx.type) : "?");
    if (ok) json_add_addr(o, "sender", tx.sender);
    add_str(o, "result", result == LEDGER_TX_OK ? "ok" : "failed");
    if (error && *error) add_str(o, "error", error);
    else if (!ok) add_str(o, "error", err);
    return o;
}

cJSON *json_block_to(const ledger_block *b, bool with_txs) {
    cJSON *o = must(cJSON_CreateObject());
    json_add_u64(o, "height", b->h.height);
    json_add_u64(o, "time_ms", b->h.time_ms);
    json_add_hash(o, "hash", b->hash);
    json_add_hash(o, "prev", b->h.prev);
    json_add_hash(o, "tx_root", b->h.tx_root);
    json_add_hash(o, "results", b->h.results);
    json_add_hash(o, "state_root", b->h.state_root);
    add_hex(o, "sig", b->sig, LEDGER_SIG_LEN);
    add_num(o, "n_txs", b->h.n_txs);
    uint8_t hdr[LEDGER_BLOCK_HEADER_LEN];
    ledger_block_encode(&b->h, hdr);
    add_hex(o, "header", hdr, sizeof hdr);
    if (with_txs) {
        cJSON *txs = must(cJSON_CreateArray());
        for (uint32_t i = 0; i < b->n_txs; i++) {
            cJSON *t = block_tx_to(&b->txs[i], b->results ? b->results[i] : 0, b->errors ? b->errors[i] : NULL);
            if (!cJSON_AddItemToArray(txs, t)) must(NULL);
        }
        add(o, "txs", txs);
    }
    return o;
}

/* ---- reading ----------------------------------------------------------------- */

const char *json_get_str(const cJSON *o, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) && v->valuestring ? v->valuestring : NULL;
}

/* The string under key, or an error naming the key. */
static int get_string(const cJSON *o, const char *key, const char **s, const char *what, char err[PLOW_ERR_LEN]) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!v) return plow_error(err, "missing '%s'", key);
    if (!cJSON_IsString(v) || !v->valuestring) return plow_error(err, "'%s' must be %s", key, what);
    *s = v->valuestring;
    return 0;
}

/* A 64-bit number in canonical decimal: digits, no sign or spaces, no
 * leading zero. */
static bool parse_u64(const char *s, uint64_t *v) {
    size_t n = strlen(s);
    if (n == 0 || n > 20 || (n > 1 && s[0] == '0')) return false;
    uint64_t x = 0;
    for (size_t i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9' || !plow_mul_u64(x, 10, &x) || !plow_add_u64(x, (uint64_t)(s[i] - '0'), &x))
            return false;
    *v = x;
    return true;
}

int json_get_u64(const cJSON *o, const char *key, uint64_t *v, char err[PLOW_ERR_LEN]) {
    const char *s;
    if (get_string(o, key, &s, "a decimal string (64-bit numbers travel as strings)", err)) return -1;
    if (!parse_u64(s, v))
        return plow_error(err, "'%s' must be a decimal string of a 64-bit number, got \"%.40s\"", key, s);
    return 0;
}

static int unhex_lower(const char *s, uint8_t *out, size_t n) {
    if (strlen(s) != 2 * n) return -1;
    for (size_t i = 0; i < 2 * n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f'))) return -1;
    return plow_unhex(s, out, n);
}

int json_get_hash(const cJSON *o, const char *key, uint8_t h[32], char err[PLOW_ERR_LEN]) {
    const char *s;
    if (get_string(o, key, &s, "a hash (64 lowercase hex digits)", err)) return -1;
    if (unhex_lower(s, h, 32)) return plow_error(err, "'%s' must be 64 lowercase hex digits, got \"%.70s\"", key, s);
    return 0;
}

int json_get_addr(const cJSON *o, const char *key, uint8_t pk[32], char err[PLOW_ERR_LEN]) {
    const char *s;
    if (get_string(o, key, &s, "an address", err)) return -1;
    char e[PLOW_ERR_LEN];
    if (ledger_addr_parse(s, pk, e)) return plow_error(err, "'%s': %s", key, e);
    return 0;
}

/* Hex of exactly n bytes (signatures, headers). */
static int get_hex(const cJSON *o, const char *key, uint8_t *out, size_t n, char err[PLOW_ERR_LEN]) {
    const char *s;
    if (get_string(o, key, &s, "a hex string", err)) return -1;
    if (unhex_lower(s, out, n)) return plow_error(err, "'%s' must be %zu lowercase hex digits", key, 2 * n);
    return 0;
}

/* A small count: a JSON integer in [lo, hi]. */
static int get_u32(const cJSON *o, const char *key, uint32_t lo, uint32_t hi, uint32_t *v, char err[PLOW_ERR_LEN]) {
    const cJSON *j = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!j) return plow_error(err, "missing '%s'", key);
    if (!cJSON_IsNumber(j)) return plow_error(err, "'%s' must be a number", key);
    double d = j->valuedouble;
    if (!(d >= (double)lo && d <= (double)hi) || (double)(uint32_t)d != d)
        return plow_error(err, "'%s' must be a whole number in %u..%u", key, lo, hi);
    *v = (uint32_t)d;
    return 0;
}

/* An enum by name: name(i) for i in [lo, hi). */
static int get_enum(const cJSON *o, const char *key, const char *(*name)(int), int lo, int hi, uint8_t *v,
                    char err[PLOW_ERR_LEN]) {
    const char *s;
    if (get_string(o, key, &s, "a name", err)) return -1;
    for (int i = lo; i < hi; i++)
        if (strcmp(s, name(i)) == 0) {
            *v = (uint8_t)i;
            return 0;
        }
    return plow_error(err, "'%s': unknown value \"%.40s\"", key, s);
}

/* A string of at most max bytes into out (max+1 bytes). */
static int get_text(const cJSON *o, const char *key, char *out, size_t max, char err[PLOW_ERR_LEN]) {
    const char *s;
    if (get_string(o, key, &s, "a string", err)) return -1;
    size_t n = strlen(s);
    if (n > max) return plow_error(err, "'%s' is longer than %zu bytes", key, max);
    memcpy(out, s, n + 1);
    return 0;
}

static int need_object(const cJSON *j, const char *what, char err[PLOW_ERR_LEN]) {
    if (!cJSON_IsObject(j)) return plow_error(err, "%s: expected a JSON object", what);
    return 0;
}

/* Error prefix for a nested record: "what: message". */
static int nest(char err[PLOW_ERR_LEN], const char *what) {
    char tmp[PLOW_ERR_LEN];
    snprintf(tmp, sizeof tmp, "%s: %s", what, err);
    memcpy(err, tmp, PLOW_ERR_LEN);
    return -1;
}

int json_account_from(const cJSON *j, ledger_account *a, uint64_t *next_nonce, char err[PLOW_ERR_LEN]) {
    if (need_object(j, "account", err)) return -1;
    memset(a, 0, sizeof *a);
    uint64_t nn;
    const char *prof;
    if (json_get_addr(j, "address", a->pk, err) || json_get_u64(j, "balance", &a->balance, err) ||
        json_get_u64(j, "nonce", &a->nonce, err) || json_get_u64(j, "next_nonce", &nn, err) ||
        json_get_u64(j, "stake", &a->stake, err) || json_get_u64(j, "locked", &a->locked, err) ||
        json_get_u64(j, "unbonding", &a->unbonding, err) || json_get_u64(j, "unbond_at", &a->unbond_at, err) ||
        get_string(j, "profile", &prof, "\"\", \"person\" or \"agent\"", err) ||
        get_text(j, "name", a->name, LEDGER_NAME_MAX, err) || get_text(j, "caps", a->caps, LEDGER_CAPS_MAX, err))
        return nest(err, "account");
    if (strcmp(prof, "person") == 0) a->profile = LEDGER_PERSON;
    else if (strcmp(prof, "agent") == 0) a->profile = LEDGER_AGENT;
    else if (*prof) return plow_error(err, "account: 'profile': unknown value \"%.40s\"", prof);
    if (nn < a->nonce) return plow_error(err, "account: 'next_nonce' is below 'nonce'");
    if (a->locked > a->stake) return plow_error(err, "account: 'locked' exceeds 'stake'");
    if (next_nonce) *next_nonce = nn;
    return 0;
}

static int slot_from(const cJSON *j, ledger_slot *s, char err[PLOW_ERR_LEN]) {
    if (need_object(j, "slot", err)) return -1;
    memset(s, 0, sizeof *s);
    return get_enum(j, "status", ledger_slot_status_name, 0, LEDGER_SLOT_STATUS_END, &s->status, err) ||
                   json_get_addr(j, "worker", s->worker, err) ||
                   json_get_u64(j, "claimed_at", &s->claimed_at, err) ||
                   json_get_u64(j, "committed_at", &s->committed_at, err) ||
                   json_get_hash(j, "trace_root", s->trace_root, err) ||
                   json_get_hash(j, "final_state", s->final_state, err) ||
                   json_get_hash(j, "artifact", s->artifact, err) || json_get_hash(j, "manifest", s->manifest, err) ||
                   json_get_u64(j, "n", &s->n, err) ||
                   get_u32(j, "checkpoint_every", 0, UINT32_MAX, &s->checkpoint_every, err) ||
                   json_get_hash(j, "commitment", s->commitment, err) ||
                   json_get_u64(j, "revealed_at", &s->revealed_at, err)
               ? -1
               : 0;
}

/* The "label" object of a LABEL task (checked against the task's replicas). */
static int label_from(const cJSON *l, ledger_task *t, char err[PLOW_ERR_LEN]) {
    if (!l) return plow_error(err, "missing 'label'");
    if (!cJSON_IsObject(l)) return plow_error(err, "'label' must be an object");
    uint32_t revealed = 0;
    const char *gold;
    uint32_t R = t->p.replicas;
    if (get_u32(l, "n_classes", 2, LEDGER_LABEL_CLASSES_MAX, &t->p.n_classes, err) ||
        get_u32(l, "redundancy", 1, R, &t->p.redundancy, err) ||
        json_get_hash(l, "gold_commit", t->p.gold_commit, err) ||
        get_u32(l, "min_gold_pct", 0, 100, &t->p.min_gold_pct, err) ||
        get_string(l, "gold", &gold, "\"hidden\" or \"revealed\"", err) ||
        get_u32(l, "revealed", 0, (1u << R) - 1, &revealed, err) || json_get_hash(l, "result", t->result, err))
        return nest(err, "label");
    if (strcmp(gold, "revealed") == 0) t->gold_revealed = 1;
    else if (strcmp(gold, "hidden") != 0) return plow_error(err, "label: 'gold': unknown value \"%.40s\"", gold);
    t->revealed = (uint8_t)revealed;
    const cJSON *paid = cJSON_GetObjectItemCaseSensitive(l, "paid");
    if (!paid) return plow_error(err, "label: missing 'paid'");
    if (!cJSON_IsArray(paid) || cJSON_GetArraySize(paid) != (int)R)
        return plow_error(err, "label: 'paid' must be an array of %u amounts", R);
    for (uint32_t i = 0; i < R; i++) {
        const cJSON *v = cJSON_GetArrayItem(paid, (int)i);
        if (!cJSON_IsString(v) || !v->valuestring || !parse_u64(v->valuestring, &t->paid[i]))
            return plow_error(err, "label: 'paid'[%u] must be a decimal string of a 64-bit number", i);
    }
    return 0;
}

int json_task_from(const cJSON *j, ledger_task *t, char err[PLOW_ERR_LEN]) {
    if (need_object(j, "task", err)) return -1;
    memset(t, 0, sizeof *t);
    uint32_t replicas = 0, oc = 0;
    if (json_get_hash(j, "id", t->id, err) || json_get_addr(j, "requester", t->requester, err) ||
        get_enum(j, "kind", ledger_kind_name, 1, LEDGER_KIND_END, &t->p.kind, err) ||
        get_enum(j, "mode", ledger_mode_name, 1, LEDGER_MODE_END, &t->p.mode, err) ||
        get_u32(j, "replicas", 1, LEDGER_MAX_REPLICAS, &replicas, err) || json_get_hash(j, "spec", t->p.spec, err) ||
        json_get_u64(j, "reward", &t->p.reward, err) || json_get_u64(j, "worker_stake", &t->p.worker_stake, err) ||
        json_get_u64(j, "min_bond", &t->p.min_bond, err) || json_get_u64(j, "steps", &t->p.steps, err) ||
        get_u32(j, "claim_blocks", 0, UINT32_MAX, &t->p.claim_blocks, err) ||
        get_u32(j, "work_blocks", 0, UINT32_MAX, &t->p.work_blocks, err) ||
        get_u32(j, "window_blocks", 0, UINT32_MAX, &t->p.window_blocks, err) ||
        get_enum(j, "status", ledger_task_status_name, 1, LEDGER_TASK_STATUS_END, &t->status, err) ||
        json_get_u64(j, "posted_at", &t->posted_at, err) || json_get_u64(j, "escrow", &t->escrow, err) ||
        json_get_u64(j, "window_end", &t->window_end, err) ||
        get_u32(j, "open_challenges", 0, UINT32_MAX, &oc, err))
        return nest(err, "task");
    t->p.replicas = (uint8_t)replicas;
    t->open_challenges = oc;
    const cJSON *slots = cJSON_GetObjectItemCaseSensitive(j, "slots");
    if (!slots) return plow_error(err, "task: missing 'slots'");
    if (!cJSON_IsArray(slots)) return plow_error(err, "task: 'slots' must be an array");
    if (cJSON_GetArraySize(slots) != (int)replicas)
        return plow_error(err, "task: 'slots' has %d entries for %u replicas", cJSON_GetArraySize(slots), replicas);
    int i = 0;
    const cJSON *s;
    cJSON_ArrayForEach(s, slots) {
        if (slot_from(s, &t->slots[i], err)) {
            char what[32];
            snprintf(what, sizeof what, "task: slots[%d]", i);
            return nest(err, what);
        }
        i++;
    }
    if (t->p.kind == LEDGER_KIND_LABEL && label_from(cJSON_GetObjectItemCaseSensitive(j, "label"), t, err))
        return nest(err, "task");
    return 0;
}

int json_challenge_from(const cJSON *j, ledger_challenge *c, char err[PLOW_ERR_LEN]) {
    if (need_object(j, "challenge", err)) return -1;
    memset(c, 0, sizeof *c);
    if (json_get_hash(j, "id", c->id, err) || json_get_hash(j, "task", c->task, err) ||
        json_get_addr(j, "challenger", c->challenger, err) || json_get_addr(j, "accused", c->accused, err) ||
        json_get_u64(j, "step", &c->step, err) || json_get_u64(j, "bond", &c->bond, err) ||
        json_get_u64(j, "opened_at", &c->opened_at, err) || json_get_u64(j, "deadline", &c->deadline, err) ||
        json_get_hash(j, "state_blob", c->state_blob, err) || json_get_hash(j, "leaf_prev", c->leaf_prev, err) ||
        json_get_hash(j, "accused_leaf", c->accused_leaf, err) || json_get_hash(j, "other_leaf", c->other_leaf, err) ||
        get_enum(j, "status", ledger_challenge_status_name, 1, LEDGER_CH_STATUS_END, &c->status, err) ||
        json_get_hash(j, "computed", c->computed, err) || json_get_u64(j, "resolved_at", &c->resolved_at, err))
        return nest(err, "challenge");
    if (get_enum(j, "kind", ledger_challenge_kind_name, 0, LEDGER_CHK_END, &c->kind, err)) return nest(err, "challenge");
    if (cJSON_GetObjectItemCaseSensitive(j, "other")) {
        if (json_get_addr(j, "other", c->other, err)) return nest(err, "challenge");
        c->has_other = true;
    }
    return 0;
}

static void block_free_parts(ledger_block *b) {
    for (uint32_t i = 0; b->txs && i < b->n_txs; i++) plow_buf_release(&b->txs[i]);
    for (uint32_t i = 0; b->errors && i < b->n_txs; i++) free(b->errors[i]);
    free(b->txs);
    free(b->results);
    free(b->errors);
    memset(b, 0, sizeof *b);
}

static int block_tx_from(const cJSON *j, ledger_block *b, uint32_t i, char err[PLOW_ERR_LEN]) {
    if (need_object(j, "tx", err)) return -1;
    const char *hex, *res;
    uint8_t want[32], got[32];
    if (json_get_hash(j, "hash", want, err) || get_string(j, "tx", &hex, "a hex string", err) ||
        get_string(j, "result", &res, "\"ok\" or \"failed\"", err))
        return -1;
    size_t n = strlen(hex);
    if (n % 2 || n == 0 || n / 2 > LEDGER_TX_MAX) return plow_error(err, "'tx' must be the hex of an encoded transaction");
    uint8_t *raw = plow_alloc(n / 2);
    if (unhex_lower(hex, raw, n / 2)) {
        free(raw);
        return plow_error(err, "'tx' must be lowercase hex");
    }
    ledger_tx tx;
    char e[PLOW_ERR_LEN];
    if (ledger_tx_decode(&tx, raw, n / 2, e)) {
        free(raw);
        return plow_error(err, "'tx': %s", e);
    }
    ledger_tx_hash(&tx, got);
    if (memcmp(got, want, 32) != 0) {
        free(raw);
        return plow_error(err, "'hash' is not the hash of 'tx'");
    }
    plow_buf_append(&b->txs[i], raw, n / 2);
    free(raw);
    if (strcmp(res, "ok") == 0) b->results[i] = LEDGER_TX_OK;
    else if (strcmp(res, "failed") == 0) b->results[i] = LEDGER_TX_FAILED;
    else return plow_error(err, "'result': unknown value \"%.40s\"", res);
    const cJSON *ev = cJSON_GetObjectItemCaseSensitive(j, "error");
    if (ev && !cJSON_IsString(ev)) return plow_error(err, "'error' must be a string");
    if (b->results[i] == LEDGER_TX_FAILED) b->errors[i] = plow_strdup(ev ? ev->valuestring : "failed");
    return 0;
}

int json_block_from(const cJSON *j, ledger_block *b, char err[PLOW_ERR_LEN]) {
    memset(b, 0, sizeof *b);
    if (need_object(j, "block", err)) return -1;
    uint8_t hdr[LEDGER_BLOCK_HEADER_LEN], want[32];
    uint64_t height;
    char e[PLOW_ERR_LEN];
    if (get_hex(j, "header", hdr, sizeof hdr, err) || json_get_hash(j, "hash", want, err) ||
        get_hex(j, "sig", b->sig, LEDGER_SIG_LEN, err) || json_get_u64(j, "height", &height, err))
        return nest(err, "block");
    if (ledger_block_decode(&b->h, hdr, sizeof hdr, e)) return plow_error(err, "block: 'header': %s", e);
    ledger_block_hash(&b->h, b->hash);
    if (memcmp(b->hash, want, 32) != 0) return plow_error(err, "block: 'hash' is not the hash of 'header'");
    if (height != b->h.height) return plow_error(err, "block: 'height' disagrees with 'header'");
    const cJSON *txs = cJSON_GetObjectItemCaseSensitive(j, "txs");
    if (!txs) return plow_error(err, "block: missing 'txs'");
    if (!cJSON_IsArray(txs)) return plow_error(err, "block: 'txs' must be an array");
    if ((uint64_t)cJSON_GetArraySize(txs) != b->h.n_txs)
        return plow_error(err, "block: 'txs' has %d entries, the header says %u", cJSON_GetArraySize(txs),
                          b->h.n_txs);
    uint32_t n = b->h.n_txs;
    if (n) {
        b->txs = plow_calloc(n, sizeof *b->txs);
        b->results = plow_calloc(n, sizeof *b->results);
        b->errors = plow_calloc(n, sizeof *b->errors);
        b->n_txs = n;
    }
    uint32_t i = 0;
    const cJSON *t;
    cJSON_ArrayForEach(t, txs) {
        if (block_tx_from(t, b, i, err)) {
            char what[40];
            snprintf(what, sizeof what, "block: txs[%u]", i);
            block_free_parts(b);
            return nest(err, what);
        }
        i++;
    }
    return 0;
}
