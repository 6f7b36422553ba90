/*
 * test_json.c — the JSON codec of ledger records (src/node/json.c) and the
 * HTTP client (src/node/client.c).
 *
 * The codec: every record round-trips; then, for every key of every record,
 * the parser is given the record without that key, with the key's value
 * replaced by values of the wrong type, and (where it has a form) by
 * malformed values, and must refuse each with an error naming the key.
 *
 * The client talks to a fake node (libmicrohttpd in this process) that
 * misbehaves on purpose: wrong blob bytes, another hash for a transaction,
 * error bodies, non-JSON answers, another account than asked for. It also
 * checks that one client keeps one connection open (keep-alive) and the
 * exact message when no node is listening.
 */
#include "../src/base/plow.h"

#include <cjson/cJSON.h>
#include <microhttpd.h>
#include <pthread.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../src/ledger/ledger.h"
#include "../src/client/client.h"
#include "test.h"

static bool has(const char *err, const char *what) {
    if (strstr(err, what)) return true;
    fprintf(stderr, "    expected \"%s\" in: %s\n", what, err);
    return false;
}

static void fill(uint8_t *p, size_t n, uint8_t seed) {
    for (size_t i = 0; i < n; i++) p[i] = (uint8_t)(seed + 37 * i);
}

static void sample_account(ledger_account *a) {
    memset(a, 0, sizeof *a);
    fill(a->pk, 32, 1);
    a->balance = UINT64_MAX;
    a->nonce = 7;
    a->stake = 500;
    a->locked = 200;
    a->unbonding = 30;
    a->unbond_at = 99;
    a->profile = LEDGER_AGENT;
    snprintf(a->name, sizeof a->name, "worker \"one\"");
    snprintf(a->caps, sizeof a->caps, "{\"gpu\":false}");
}

static void sample_task(ledger_task *t) {
    memset(t, 0, sizeof *t);
    fill(t->id, 32, 2);
    fill(t->requester, 32, 3);
    fill(t->p.spec, 32, 4);
    t->p.kind = LEDGER_KIND_LORA;
    t->p.mode = LEDGER_MODE_REPLICATED;
    t->p.replicas = 3;
    t->p.reward = 1000;
    t->p.worker_stake = 500;
    t->p.min_bond = 100;
    t->p.steps = 40;
    t->p.claim_blocks = 100;
    t->p.work_blocks = 2000;
    t->p.window_blocks = UINT32_MAX;
    t->status = LEDGER_TASK_CHALLENGED;
    t->posted_at = 5;
    t->escrow = 3000;
    t->window_end = 77;
    t->open_challenges = 1;
    t->slots[0].status = LEDGER_SLOT_COMMITTED;
    fill(t->slots[0].worker, 32, 5);
    t->slots[0].claimed_at = 6;
    t->slots[0].committed_at = 9;
    fill(t->slots[0].trace_root, 32, 6);
    fill(t->slots[0].final_state, 32, 7);
    fill(t->slots[0].artifact, 32, 8);
    fill(t->slots[0].manifest, 32, 9);
    t->slots[0].n = 40;
    t->slots[0].checkpoint_every = 10;
    t->slots[1].status = LEDGER_SLOT_CLAIMED;
    fill(t->slots[1].worker, 32, 10);
    t->slots[1].claimed_at = 8;
}

/* A LABEL task: four labelers, two revealed, gold revealed, settled. */
static void sample_label_task(ledger_task *t) {
    sample_task(t);
    t->p.kind = LEDGER_KIND_LABEL;
    t->p.replicas = 4;
    t->p.n_classes = 6;
    t->p.redundancy = 3;
    fill(t->p.gold_commit, 32, 30);
    t->p.min_gold_pct = 40;
    t->status = LEDGER_TASK_FINALIZED;
    t->open_challenges = 0;
    t->revealed = 0x5;
    t->gold_revealed = 1;
    fill(t->result, 32, 31);
    t->paid[0] = 2999;
    t->paid[2] = UINT64_MAX;
    t->slots[0].checkpoint_every = 0;
}

static void sample_challenge(ledger_challenge *c, bool other) {
    memset(c, 0, sizeof *c);
    fill(c->id, 32, 11);
    fill(c->task, 32, 12);
    fill(c->challenger, 32, 13);
    fill(c->accused, 32, 14);
    if (other) {
        fill(c->other, 32, 15);
        c->has_other = true;
    }
    c->step = 17;
    c->bond = 100;
    c->opened_at = 20;
    c->deadline = 30;
    fill(c->state_blob, 32, 16);
    fill(c->leaf_prev, 32, 17);
    fill(c->accused_leaf, 32, 18);
    fill(c->other_leaf, 32, 19);
    c->status = LEDGER_CH_UPHELD;
    fill(c->computed, 32, 20);
    c->resolved_at = 25;
}

static void sample_tx(ledger_tx *tx, uint64_t nonce) {
    ledger_key k;
    uint8_t seed[32], chain[32];
    fill(seed, 32, 21);
    fill(chain, 32, 22);
    ledger_key_from_seed(&k, seed);
    memset(tx, 0, sizeof *tx);
    tx->type = LEDGER_TX_TRANSFER;
    memcpy(tx->sender, k.pk, 32);
    tx->nonce = nonce;
    tx->fee = 1;
    fill(tx->u.transfer.to, 32, 23);
    tx->u.transfer.amount = 5;
    ledger_tx_sign(tx, &k, chain);
}

/* A block of two transactions, the second failed. */
static void sample_block(ledger_block *b) {
    memset(b, 0, sizeof *b);
    b->h.version = 1;
    b->h.height = 12;
    b->h.time_ms = 1700000000123ULL;
    fill(b->h.prev, 32, 24);
    fill(b->h.tx_root, 32, 25);
    fill(b->h.results, 32, 26);
    fill(b->h.state_root, 32, 27);
    b->h.n_txs = 2;
    ledger_block_hash(&b->h, b->hash);
    fill(b->sig, LEDGER_SIG_LEN, 28);
    b->n_txs = 2;
    b->txs = plow_calloc(2, sizeof *b->txs);
    b->results = plow_calloc(2, sizeof *b->results);
    b->errors = plow_calloc(2, sizeof *b->errors);
    for (int i = 0; i < 2; i++) {
        ledger_tx tx;
        sample_tx(&tx, (uint64_t)i);
        ledger_tx_encode(&tx, &b->txs[i]);
    }
    b->results[1] = LEDGER_TX_FAILED;
    b->errors[1] = plow_strdup("insufficient balance");
}

static void test_json_roundtrip(void) {
    char err[PLOW_ERR_LEN];
    ledger_account a, a2;
    uint64_t nn = 0;
    sample_account(&a);
    cJSON *j = json_account_to(&a, 9);
    CHECKF(json_account_from(j, &a2, &nn, err) == 0, "%s", err);
    CHECK(memcmp(&a, &a2, sizeof a) == 0 && nn == 9);
    CHECK(strcmp(json_get_str(j, "balance"), "18446744073709551615") == 0);
    CHECK(strcmp(json_get_str(j, "profile"), "agent") == 0);
    cJSON_Delete(j);
    a.profile = 0;
    memset(a.name, 0, sizeof a.name);
    memset(a.caps, 0, sizeof a.caps);
    j = json_account_to(&a, 7);
    CHECK(strcmp(json_get_str(j, "profile"), "") == 0);
    CHECKF(json_account_from(j, &a2, NULL, err) == 0, "%s", err);
    CHECK(memcmp(&a, &a2, sizeof a) == 0);
    cJSON_Delete(j);

    ledger_task t, t2;
    sample_task(&t);
    j = json_task_to(&t);
    CHECKF(json_task_from(j, &t2, err) == 0, "%s", err);
    CHECK(memcmp(&t, &t2, sizeof t) == 0);
    CHECK(cJSON_GetArraySize(cJSON_GetObjectItem(j, "slots")) == 3);
    CHECK(strcmp(json_get_str(j, "kind"), "lora") == 0 && strcmp(json_get_str(j, "status"), "challenged") == 0);
    CHECK(cJSON_GetObjectItem(j, "label") == NULL); /* only label tasks have one */
    cJSON_Delete(j);

    /* a label task: its parameters and settlement under "label" */
    sample_label_task(&t);
    j = json_task_to(&t);
    CHECKF(json_task_from(j, &t2, err) == 0, "%s", err);
    CHECK(memcmp(&t, &t2, sizeof t) == 0);
    const cJSON *l = cJSON_GetObjectItem(j, "label");
    CHECK(l && strcmp(json_get_str(j, "kind"), "label") == 0 && strcmp(json_get_str(l, "gold"), "revealed") == 0);
    CHECK(cJSON_GetObjectItem(l, "revealed")->valueint == 5 && cJSON_GetArraySize(cJSON_GetObjectItem(l, "paid")) == 4);
    CHECK(strcmp(cJSON_GetArrayItem(cJSON_GetObjectItem(l, "paid"), 2)->valuestring, "18446744073709551615") == 0);
    cJSON_Delete(j);
    t.gold_revealed = 0;
    j = json_task_to(&t);
    CHECK(strcmp(json_get_str(cJSON_GetObjectItem(j, "label"), "gold"), "hidden") == 0);
    CHECKF(json_task_from(j, &t2, err) == 0, "%s", err);
    CHECK(memcmp(&t, &t2, sizeof t) == 0);
    cJSON_Delete(j);
    /* the new kinds by name */
    for (int k = LEDGER_KIND_DPO; k <= LEDGER_KIND_ROUND; k++) {
        sample_task(&t);
        t.p.kind = (uint8_t)k;
        j = json_task_to(&t);
        CHECKF(json_task_from(j, &t2, err) == 0, "%s", err);
        CHECK(memcmp(&t, &t2, sizeof t) == 0 && cJSON_GetObjectItem(j, "label") == NULL);
        cJSON_Delete(j);
    }

    for (int other = 0; other < 2; other++) {
        ledger_challenge c, c2;
        sample_challenge(&c, other);
        j = json_challenge_to(&c);
        CHECK((cJSON_GetObjectItem(j, "other") != NULL) == (other == 1));
        CHECKF(json_challenge_from(j, &c2, err) == 0, "%s", err);
        CHECK(memcmp(&c, &c2, sizeof c) == 0);
        cJSON_Delete(j);
    }

    ledger_block b, b2;
    sample_block(&b);
    j = json_block_to(&b, true);
    CHECKF(json_block_from(j, &b2, err) == 0, "%s", err);
    CHECK(memcmp(&b.h, &b2.h, sizeof b.h) == 0 && memcmp(b.hash, b2.hash, 32) == 0);
    CHECK(memcmp(b.sig, b2.sig, LEDGER_SIG_LEN) == 0 && b2.n_txs == 2);
    for (int i = 0; i < 2 && b2.n_txs == 2; i++) {
        CHECK(b2.txs[i].len == b.txs[i].len && memcmp(b2.txs[i].data, b.txs[i].data, b.txs[i].len) == 0);
        CHECK(b2.results[i] == b.results[i]);
    }
    CHECK(b2.n_txs == 2 && !b2.errors[0] && b2.errors[1] && strcmp(b2.errors[1], "insufficient balance") == 0);
    const cJSON *tx1 = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "txs"), 1);
    CHECK(strcmp(json_get_str(tx1, "type"), "transfer") == 0 && strcmp(json_get_str(tx1, "result"), "failed") == 0);
    CHECK(json_get_str(tx1, "sender") && strlen(json_get_str(j, "header")) == 2 * LEDGER_BLOCK_HEADER_LEN);
    ledger_block_release(&b2);
    cJSON_Delete(j);
    j = json_block_to(&b, false);
    CHECK(cJSON_GetObjectItem(j, "txs") == NULL);
    cJSON_Delete(j);
    ledger_block_release(&b);
}

/* Parses j with the parser for `kind`; 0 on success. */
static int parse_kind(int kind, const cJSON *j, char err[PLOW_ERR_LEN]) {
    ledger_account a;
    ledger_task t;
    ledger_challenge c;
    ledger_block b;
    uint64_t nn;
    switch (kind) {
    case 0: return json_account_from(j, &a, &nn, err);
    case 1: return json_task_from(j, &t, err);
    case 2: return json_challenge_from(j, &c, err);
    case 4: return json_task_from(j, &t, err);
    default:
        if (json_block_from(j, &b, err)) return -1;
        ledger_block_release(&b);
        return 0;
    }
}

static cJSON *sample_json(int kind) {
    ledger_account a;
    ledger_task t;
    ledger_challenge c;
    ledger_block b;
    cJSON *j;
    switch (kind) {
    case 0: sample_account(&a); return json_account_to(&a, 9);
    case 1: sample_task(&t); return json_task_to(&t);
    case 2: sample_challenge(&c, true); return json_challenge_to(&c);
    case 4: sample_label_task(&t); return json_task_to(&t);
    default:
        sample_block(&b);
        j = json_block_to(&b, true);
        ledger_block_release(&b);
        return j;
    }
}

/* Replaces member `key` of obj (a path "slots.0.worker" descends). */
static cJSON *member(cJSON *root, const char *path, cJSON **parent, char *last, size_t n) {
    char buf[128];
    snprintf(buf, sizeof buf, "%s", path);
    cJSON *cur = root;
    char *save = NULL, *tok = strtok_r(buf, ".", &save);
    *parent = NULL;
    while (tok && cur) {
        *parent = cur;
        snprintf(last, n, "%s", tok);
        cur = cJSON_IsArray(cur) ? cJSON_GetArrayItem(cur, atoi(tok)) : cJSON_GetObjectItemCaseSensitive(cur, tok);
        tok = strtok_r(NULL, ".", &save);
    }
    return cur;
}

/* Replaces the member `last` of parent (an object key or an array index). */
static void replace(cJSON *parent, const char *last, cJSON *v) {
    if (cJSON_IsArray(parent)) cJSON_ReplaceItemInArray(parent, atoi(last), v);
    else cJSON_ReplaceItemInObjectCaseSensitive(parent, last, v);
}

static void expect_refused(int kind, cJSON *j, const char *key, const char *what) {
    char err[PLOW_ERR_LEN] = {0};
    int rc = parse_kind(kind, j, err);
    CHECKF(rc != 0, "record %d accepted with %s %s", kind, key, what);
    CHECKF(rc == 0 || has(err, key), "record %d, %s %s: error does not name the key", kind, key, what);
}

/* Every key of the record at `prefix` (the top level, a slot, a block tx):
 * removed, given the wrong type, given a malformed value. */
static void mutate_all(int kind, const char *prefix) {
    cJSON *ref = sample_json(kind), *parent;
    char last[64];
    cJSON *obj = prefix ? member(ref, prefix, &parent, last, sizeof last) : ref;
    for (const cJSON *m = obj->child; m; m = m->next) {
        char path[128];
        snprintf(path, sizeof path, "%s%s%s", prefix ? prefix : "", prefix ? "." : "", m->string);
        bool is_str = cJSON_IsString(m);
        /* Optional or informational keys: the block tx's type/sender/error
         * and the block's own copies of header fields are not read back. */
        bool optional = kind == 3 && (strcmp(m->string, "type") == 0 || strcmp(m->string, "sender") == 0 ||
                                      strcmp(m->string, "error") == 0 || strcmp(m->string, "time_ms") == 0 ||
                                      strcmp(m->string, "prev") == 0 || strcmp(m->string, "tx_root") == 0 ||
                                      strcmp(m->string, "results") == 0 || strcmp(m->string, "state_root") == 0 ||
                                      strcmp(m->string, "n_txs") == 0);
        if (optional) continue;
        const char *key = m->string;
        /* removed (a challenge's "other" is absent when there is none) */
        cJSON *j = cJSON_Duplicate(ref, true), *p, *v;
        v = member(j, path, &p, last, sizeof last);
        cJSON_DetachItemViaPointer(p, v);
        cJSON_Delete(v);
        if (!(kind == 2 && strcmp(key, "other") == 0)) expect_refused(kind, j, key, "missing");
        cJSON_Delete(j);
        /* wrong types */
        cJSON *(*make[])(void) = {cJSON_CreateNull, cJSON_CreateTrue, cJSON_CreateObject, cJSON_CreateArray};
        for (size_t i = 0; i < sizeof make / sizeof make[0]; i++) {
            j = cJSON_Duplicate(ref, true);
            v = member(j, path, &p, last, sizeof last);
            (void)v;
            replace(p, last, make[i]());
            expect_refused(kind, j, key, "of a wrong type");
            cJSON_Delete(j);
        }
        j = cJSON_Duplicate(ref, true);
        v = member(j, path, &p, last, sizeof last);
        (void)v;
        replace(p, last, is_str ? cJSON_CreateNumber(1) : cJSON_CreateString("1"));
        expect_refused(kind, j, key, "as number/string");
        cJSON_Delete(j);
        if (!is_str) {
            /* a count out of range or not whole */
            const double bad[] = {-1, 0.5, 4294967296.0, 1e300};
            for (size_t i = 0; i < 4; i++) {
                j = cJSON_Duplicate(ref, true);
                v = member(j, path, &p, last, sizeof last);
                (void)v;
                replace(p, last, cJSON_CreateNumber(bad[i]));
                expect_refused(kind, j, key, "out of range");
                cJSON_Delete(j);
            }
            continue;
        }
        /* malformed strings: each must be refused unless the key is free text */
        if (strcmp(key, "name") == 0 || strcmp(key, "caps") == 0) continue;
        const char *val = m->valuestring;
        char up[200];
        snprintf(up, sizeof up, "%s", val);
        for (char *c = up; *c; c++)
            if (*c >= 'a' && *c <= 'f') *c = (char)(*c - 32);
        char flipped[200];
        snprintf(flipped, sizeof flipped, "%s", val);
        size_t fl = strlen(flipped);
        if (fl > 10) flipped[fl - 3] = flipped[fl - 3] == '0' ? '1' : '0'; /* hex typo: checksum or hash mismatch */
        const char *bad[] = {"", "x", "-1", "+1", " 1", "01", "18446744073709551616", "1.5", "zz", up, flipped};
        for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
            if (strcmp(bad[i], val) == 0) continue;
            /* An uppercase address is valid; an uppercase "0" is "0". */
            if (bad[i] == up && (strncmp(val, "plow", 4) == 0 || strcmp(up, val) == 0)) continue;
            /* "" is the profile of an unregistered account. */
            if (bad[i][0] == 0 && strcmp(key, "profile") == 0) continue;
            /* A one-digit typo is caught by an address's checksum and where a
             * hash is recomputed (a block's, a transaction's); elsewhere it
             * is another valid value. */
            if (bad[i] == flipped && strncmp(val, "plow", 4) != 0 && strcmp(key, "hash") != 0 &&
                strcmp(key, "header") != 0)
                continue;
            j = cJSON_Duplicate(ref, true);
            v = member(j, path, &p, last, sizeof last);
            (void)v;
            replace(p, last, cJSON_CreateString(bad[i]));
            char what[240];
            snprintf(what, sizeof what, "= \"%s\"", bad[i]);
            expect_refused(kind, j, key, what);
            cJSON_Delete(j);
        }
    }
    cJSON_Delete(ref);
}

static void test_json_malformed(void) {
    char err[PLOW_ERR_LEN];
    for (int kind = 0; kind < 5; kind++) mutate_all(kind, NULL);
    mutate_all(1, "slots.0");
    mutate_all(3, "txs.0");
    mutate_all(4, "label"); /* kind 4: a label task */

    /* not objects at all */
    const char *texts[] = {"null", "[]", "\"x\"", "1", "true"};
    for (size_t i = 0; i < 5; i++) {
        cJSON *j = cJSON_Parse(texts[i]);
        for (int kind = 0; kind < 4; kind++) CHECKF(parse_kind(kind, j, err) != 0, "%d accepted %s", kind, texts[i]);
        cJSON_Delete(j);
    }

    /* a label task's "label" that does not fit it */
    static const struct {
        const char *key;
        double v;
    } bad_label[] = {{"n_classes", 1}, {"n_classes", 65}, {"redundancy", 0}, {"redundancy", 5},
                     {"min_gold_pct", 101}, {"revealed", 16}};
    for (size_t i = 0; i < sizeof bad_label / sizeof bad_label[0]; i++) {
        cJSON *j = sample_json(4);
        cJSON_ReplaceItemInObject(cJSON_GetObjectItem(j, "label"), bad_label[i].key,
                                  cJSON_CreateNumber(bad_label[i].v));
        CHECKF(json_task_from(j, &(ledger_task){0}, err) != 0 && has(err, bad_label[i].key), "%s", bad_label[i].key);
        cJSON_Delete(j);
    }
    const char *bad_paid[] = {"01", "-1", "", "x", "18446744073709551616"};
    for (size_t i = 0; i < sizeof bad_paid / sizeof bad_paid[0]; i++) {
        cJSON *j = sample_json(4);
        cJSON *paid = cJSON_GetObjectItem(cJSON_GetObjectItem(j, "label"), "paid");
        cJSON_ReplaceItemInArray(paid, 1, cJSON_CreateString(bad_paid[i]));
        CHECKF(json_task_from(j, &(ledger_task){0}, err) != 0 && has(err, "paid"), "paid %s", bad_paid[i]);
        cJSON_Delete(j);
    }
    {
        cJSON *j = sample_json(4);
        cJSON_ReplaceItemInArray(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "label"), "paid"), 0, cJSON_CreateNumber(1));
        CHECK(json_task_from(j, &(ledger_task){0}, err) != 0 && has(err, "paid"));
        cJSON_DeleteItemFromArray(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "label"), "paid"), 0);
        CHECK(json_task_from(j, &(ledger_task){0}, err) != 0 && has(err, "paid"));
        cJSON_Delete(j);
        j = sample_json(1); /* a "label" on a task of another kind is not read */
        cJSON_AddItemToObject(j, "label", cJSON_CreateString("junk"));
        CHECKF(json_task_from(j, &(ledger_task){0}, err) == 0, "%s", err);
        cJSON_Delete(j);
    }

    /* records whose parts disagree */
    cJSON *j = sample_json(1);
    cJSON_DeleteItemFromArray(cJSON_GetObjectItem(j, "slots"), 2);
    CHECK(json_task_from(j, &(ledger_task){0}, err) != 0 && has(err, "slots"));
    cJSON_ReplaceItemInObject(j, "replicas", cJSON_CreateNumber(9));
    CHECK(json_task_from(j, &(ledger_task){0}, err) != 0 && has(err, "replicas"));
    cJSON_ReplaceItemInObject(j, "replicas", cJSON_CreateNumber(0));
    CHECK(json_task_from(j, &(ledger_task){0}, err) != 0 && has(err, "replicas"));
    cJSON_Delete(j);

    j = sample_json(0);
    char big[LEDGER_NAME_MAX + 2];
    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = 0;
    cJSON_ReplaceItemInObject(j, "name", cJSON_CreateString(big));
    CHECK(json_account_from(j, &(ledger_account){0}, NULL, err) != 0 && has(err, "name"));
    cJSON_Delete(j);
    j = sample_json(0);
    cJSON_ReplaceItemInObject(j, "next_nonce", cJSON_CreateString("6"));
    CHECK(json_account_from(j, &(ledger_account){0}, NULL, err) != 0 && has(err, "next_nonce"));
    cJSON_Delete(j);
    j = sample_json(0);
    cJSON_ReplaceItemInObject(j, "locked", cJSON_CreateString("501"));
    CHECK(json_account_from(j, &(ledger_account){0}, NULL, err) != 0 && has(err, "locked"));
    cJSON_Delete(j);

    /* a block: header and hash must match, tx count must match, tx hash too */
    ledger_block b;
    j = sample_json(3);
    cJSON_ReplaceItemInObject(j, "height", cJSON_CreateString("13"));
    CHECK(json_block_from(j, &b, err) != 0 && has(err, "height"));
    cJSON_Delete(j);
    j = sample_json(3);
    cJSON_DeleteItemFromArray(cJSON_GetObjectItem(j, "txs"), 0);
    CHECK(json_block_from(j, &b, err) != 0 && has(err, "txs"));
    cJSON_Delete(j);
    j = sample_json(3);
    cJSON *t0 = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "txs"), 0);
    cJSON *t1 = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "txs"), 1);
    cJSON_ReplaceItemInObject(t0, "hash", cJSON_CreateString(json_get_str(t1, "hash")));
    CHECK(json_block_from(j, &b, err) != 0 && has(err, "hash"));
    cJSON_Delete(j);
    j = sample_json(3);
    t0 = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "txs"), 0);
    char *tx = plow_strdup(json_get_str(t0, "tx"));
    tx[strlen(tx) - 2] = 0; /* truncated encoding */
    cJSON_ReplaceItemInObject(t0, "tx", cJSON_CreateString(tx));
    CHECK(json_block_from(j, &b, err) != 0 && has(err, "tx"));
    free(tx);
    cJSON_Delete(j);

    /* the helpers */
    j = cJSON_Parse("{\"a\":\"0\",\"b\":\"18446744073709551615\",\"c\":\"00\",\"d\":7}");
    uint64_t v;
    CHECK(json_get_u64(j, "a", &v, err) == 0 && v == 0);
    CHECK(json_get_u64(j, "b", &v, err) == 0 && v == UINT64_MAX);
    CHECK(json_get_u64(j, "c", &v, err) != 0 && has(err, "'c'"));
    CHECK(json_get_u64(j, "d", &v, err) != 0 && has(err, "'d'"));
    CHECK(json_get_u64(j, "e", &v, err) != 0 && has(err, "missing 'e'"));
    CHECK(json_get_str(j, "d") == NULL && json_get_str(j, "e") == NULL && strcmp(json_get_str(j, "a"), "0") == 0);
    cJSON_Delete(j);
}

/* ---- the client against a fake node ---------------------------------------------- */

typedef struct fake {
    struct MHD_Daemon *d;
    char url[64];
    pthread_mutex_t mu;
    int connections;   /* TCP connections opened */
    int requests;
    int puts;          /* PUT requests seen */
    int tx_polls;
    plow_buf put_body; /* the last PUT's body */
    char put_url[128];
    /* behaviour */
    const char *mode;
    uint8_t blob[100];
    uint8_t blob_hash[32];
    uint8_t acct_pk[32];
} fake;

typedef struct upload_state {
    plow_buf body;
} upload_state;

static enum MHD_Result reply(struct MHD_Connection *conn, unsigned status, const void *data, size_t n,
                             const char *type) {
    struct MHD_Response *r = MHD_create_response_from_buffer(n, (void *)data, MHD_RESPMEM_MUST_COPY);
    if (type) MHD_add_response_header(r, "Content-Type", type);
    enum MHD_Result ret = MHD_queue_response(conn, status, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result reply_json(struct MHD_Connection *conn, unsigned status, cJSON *j) {
    char *s = cJSON_PrintUnformatted(j);
    enum MHD_Result r = reply(conn, status, s, strlen(s), "application/json");
    free(s);
    cJSON_Delete(j);
    return r;
}

static enum MHD_Result fake_handler(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
                                    const char *version, const char *upload_data, size_t *upload_data_size,
                                    void **con_cls) {
    (void)version;
    fake *f = cls;
    if (!*con_cls) {
        *con_cls = plow_calloc(1, sizeof(upload_state));
        return MHD_YES;
    }
    upload_state *u = *con_cls;
    if (*upload_data_size) {
        plow_buf_append(&u->body, upload_data, *upload_data_size);
        *upload_data_size = 0;
        return MHD_YES;
    }
    pthread_mutex_lock(&f->mu);
    f->requests++;
    const char *mode = f->mode;
    pthread_mutex_unlock(&f->mu);
    char hex[65];
    if (strcmp(url, "/v1/status") == 0) {
        if (strcmp(mode, "notjson") == 0) return reply(conn, 200, "hello", 5, "text/plain");
        if (strcmp(mode, "err500") == 0) return reply(conn, 500, "oops", 4, "text/plain");
        if (strcmp(mode, "errjson") == 0) return reply(conn, 503, "{\"error\":\"the node is shutting down\"}", 37, NULL);
        cJSON *j = cJSON_CreateObject();
        uint8_t chain[32];
        fill(chain, 32, 22);
        json_add_hash(j, "chain_id", chain);
        json_add_u64(j, "height", 42);
        return reply_json(conn, 200, j);
    }
    if (strncmp(url, "/v1/account/", 12) == 0) {
        ledger_account a;
        sample_account(&a);
        char e[PLOW_ERR_LEN];
        if (strcmp(mode, "other_account") != 0 && ledger_addr_parse(url + 12, a.pk, e) != 0)
            return reply(conn, 400, "{\"error\":\"bad address\"}", 23, NULL);
        a.nonce = 3;
        return reply_json(conn, 200, json_account_to(&a, 4));
    }
    if (strcmp(url, "/v1/tx") == 0 && strcmp(method, "POST") == 0) {
        cJSON *in = cJSON_ParseWithLength((const char *)u->body.data, u->body.len);
        const char *txhex = in ? json_get_str(in, "tx") : NULL;
        uint8_t raw[LEDGER_TX_MAX];
        ledger_tx tx;
        char e[PLOW_ERR_LEN];
        size_t n = txhex ? strlen(txhex) / 2 : 0;
        if (!txhex || n > sizeof raw || plow_unhex(txhex, raw, n) || ledger_tx_decode(&tx, raw, n, e)) {
            cJSON_Delete(in);
            return reply(conn, 400, "{\"error\":\"bad tx\"}", 18, NULL);
        }
        cJSON_Delete(in);
        uint8_t h[32];
        ledger_tx_hash(&tx, h);
        if (strcmp(mode, "wrong_txhash") == 0) h[0] ^= 1;
        if (strcmp(mode, "nonce") == 0) return reply(conn, 400, "{\"error\":\"nonce 4 expected\"}", 28, NULL);
        cJSON *j = cJSON_CreateObject();
        json_add_hash(j, "hash", h);
        cJSON_AddStringToObject(j, "status", "pending");
        return reply_json(conn, 202, j);
    }
    if (strncmp(url, "/v1/tx/", 7) == 0) {
        pthread_mutex_lock(&f->mu);
        int polls = ++f->tx_polls;
        pthread_mutex_unlock(&f->mu);
        if (strcmp(mode, "unknown_tx") == 0) return reply(conn, 404, "{\"error\":\"unknown transaction\"}", 31, NULL);
        cJSON *j = cJSON_CreateObject();
        cJSON_AddStringToObject(j, "hash", url + 7);
        if (polls < 3 || strcmp(mode, "pending") == 0) {
            cJSON_AddStringToObject(j, "status", "pending");
        } else if (strcmp(mode, "failed") == 0) {
            cJSON_AddStringToObject(j, "status", "failed");
            json_add_u64(j, "height", 8);
            cJSON_AddStringToObject(j, "error", "insufficient balance: 3 < 5");
        } else if (strcmp(mode, "dropped") == 0) {
            cJSON_AddStringToObject(j, "status", "dropped");
            cJSON_AddStringToObject(j, "error", "nonce reused");
        } else {
            cJSON_AddStringToObject(j, "status", "included");
            json_add_u64(j, "height", 7);
            cJSON_AddNumberToObject(j, "index", 0);
        }
        return reply_json(conn, 200, j);
    }
    if (strncmp(url, "/v1/blob/", 9) == 0) {
        plow_hex(f->blob_hash, 32, hex);
        bool ours = strcmp(url + 9, hex) == 0;
        if (strcmp(method, "HEAD") == 0) {
            bool present = ours && strcmp(mode, "blob_present") == 0;
            return reply(conn, present ? 200 : 404, "", 0, NULL);
        }
        if (strcmp(method, "PUT") == 0) {
            pthread_mutex_lock(&f->mu);
            f->puts++;
            plow_buf_release(&f->put_body);
            plow_buf_append(&f->put_body, u->body.data ? u->body.data : (const uint8_t *)"", u->body.len);
            snprintf(f->put_url, sizeof f->put_url, "%s", url);
            pthread_mutex_unlock(&f->mu);
            uint8_t h[32];
            plow_sha256_once(u->body.data ? u->body.data : (const uint8_t *)"", u->body.len, h);
            plow_hex(h, 32, hex);
            if (strcmp(url + 9, hex) != 0)
                return reply(conn, 400, "{\"error\":\"the bytes do not hash to the url\"}", 44, NULL);
            cJSON *j = cJSON_CreateObject();
            cJSON_AddStringToObject(j, "hash", hex);
            json_add_u64(j, "size", u->body.len);
            return reply_json(conn, 201, j);
        }
        if (!ours) return reply(conn, 404, "{\"error\":\"no such blob\"}", 24, NULL);
        uint8_t data[100];
        memcpy(data, f->blob, sizeof data);
        if (strcmp(mode, "wrong_blob") == 0) data[50] ^= 1;
        return reply(conn, 200, data, sizeof data, "application/octet-stream");
    }
    return reply(conn, 404, "{\"error\":\"no route\"}", 20, NULL);
}

static void fake_completed(void *cls, struct MHD_Connection *conn, void **con_cls, enum MHD_RequestTerminationCode t) {
    (void)cls, (void)conn, (void)t;
    upload_state *u = *con_cls;
    if (u) {
        plow_buf_release(&u->body);
        free(u);
        *con_cls = NULL;
    }
}

static void fake_notify(void *cls, struct MHD_Connection *conn, void **socket_ctx,
                        enum MHD_ConnectionNotificationCode code) {
    (void)conn, (void)socket_ctx;
    fake *f = cls;
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        pthread_mutex_lock(&f->mu);
        f->connections++;
        pthread_mutex_unlock(&f->mu);
    }
}

static bool fake_start(fake *f) {
    memset(f, 0, sizeof *f);
    pthread_mutex_init(&f->mu, NULL);
    f->mode = "ok";
    fill(f->blob, sizeof f->blob, 29);
    plow_sha256_once(f->blob, sizeof f->blob, f->blob_hash);
    f->d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG, 0, NULL, NULL, fake_handler, f,
                            MHD_OPTION_NOTIFY_COMPLETED, fake_completed, f, MHD_OPTION_NOTIFY_CONNECTION, fake_notify,
                            f, MHD_OPTION_END);
    if (!f->d) return false;
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(f->d, MHD_DAEMON_INFO_BIND_PORT);
    snprintf(f->url, sizeof f->url, "http://127.0.0.1:%u", (unsigned)info->port);
    return true;
}

static void fake_stop(fake *f) {
    MHD_stop_daemon(f->d);
    plow_buf_release(&f->put_body);
    pthread_mutex_destroy(&f->mu);
}

static void set_mode(fake *f, const char *mode) {
    pthread_mutex_lock(&f->mu);
    f->mode = mode;
    f->tx_polls = 0;
    pthread_mutex_unlock(&f->mu);
}

static void test_client_errors(void) {
    char err[PLOW_ERR_LEN];
    /* Nothing listens on port 1. */
    client *c = client_new("127.0.0.1:1/");
    CHECK(strcmp(client_url(c), "http://127.0.0.1:1") == 0);
    uint64_t h;
    CHECK(client_height(c, &h, err) != 0);
    CHECK(has(err, "cannot reach the node at http://127.0.0.1:1: is 'plow node' running? (connection refused)"));
    client_free(c);

    fake f;
    if (!fake_start(&f)) {
        CHECKF(0, "cannot start the fake node");
        return;
    }
    c = client_new(f.url);
    CHECK(client_height(c, &h, err) == 0 && h == 42);
    set_mode(&f, "errjson");
    CHECK(client_height(c, &h, err) != 0 && strcmp(err, "the node is shutting down") == 0);
    set_mode(&f, "err500");
    CHECK(client_height(c, &h, err) != 0 && has(err, "HTTP 500"));
    set_mode(&f, "notjson");
    CHECK(client_height(c, &h, err) != 0 && has(err, "not JSON"));
    cJSON *j;
    set_mode(&f, "ok");
    CHECK(client_get_json(c, "/v1/nothing", &j, err) != 0 && strcmp(err, "no route") == 0);

    /* Accounts: the answer must be the account asked for. */
    ledger_account a;
    uint64_t next;
    uint8_t pk[32];
    fill(pk, 32, 40);
    CHECKF(client_account(c, pk, &a, &next, err) == 0, "%s", err);
    CHECK(memcmp(a.pk, pk, 32) == 0 && next == 4 && a.nonce == 3);
    set_mode(&f, "other_account");
    CHECK(client_account(c, pk, &a, &next, err) != 0 && has(err, "another account"));

    /* All of that over one connection. */
    pthread_mutex_lock(&f.mu);
    int conns = f.connections, reqs = f.requests;
    pthread_mutex_unlock(&f.mu);
    CHECKF(conns == 1 && reqs >= 7, "%d connections for %d requests", conns, reqs);
    client_free(c);
    fake_stop(&f);
}

static void test_client_tx(void) {
    char err[PLOW_ERR_LEN], msg[PLOW_ERR_LEN];
    fake f;
    if (!fake_start(&f)) {
        CHECKF(0, "cannot start the fake node");
        return;
    }
    client *c = client_new(f.url);
    ledger_key k;
    uint8_t seed[32], hash[32];
    fill(seed, 32, 41);
    ledger_key_from_seed(&k, seed);
    ledger_tx tx;
    memset(&tx, 0, sizeof tx);
    tx.type = LEDGER_TX_TRANSFER;
    tx.fee = 1;
    tx.u.transfer.amount = 5;
    uint64_t height;
    CHECKF(client_send_at(c, &k, &tx, 10, hash, &height, err) == 0, "%s", err);
    CHECK(height == 7 && tx.nonce == 4 && memcmp(tx.sender, k.pk, 32) == 0);
    uint8_t chain[32], want[32];
    fill(chain, 32, 22);
    CHECK(ledger_tx_verify(&tx, chain));
    ledger_tx_hash(&tx, want);
    CHECK(memcmp(hash, want, 32) == 0);

    set_mode(&f, "failed");
    CHECK(client_send_at(c, &k, &tx, 10, hash, &height, err) != 0);
    CHECK(has(err, "insufficient balance: 3 < 5") && has(err, "failed in block 8") && height == 8);
    set_mode(&f, "dropped");
    CHECK(client_send(c, &k, &tx, 10, err) != 0 && has(err, "nonce reused") && has(err, "dropped"));
    set_mode(&f, "wrong_txhash");
    CHECK(client_submit_tx(c, &tx, hash, err) != 0 && has(err, "another hash"));
    set_mode(&f, "nonce");
    CHECK(client_send(c, &k, &tx, 10, err) != 0 && has(err, "nonce 4 expected"));
    set_mode(&f, "unknown_tx");
    int result;
    CHECK(client_wait_tx(c, hash, 10, &result, msg, err) != 0 && has(err, "does not know"));
    set_mode(&f, "pending");
    CHECK(client_wait_tx(c, hash, 0.3, &result, msg, err) != 0 && has(err, "still pending"));
    set_mode(&f, "failed");
    CHECK(client_wait_tx(c, hash, 10, &result, msg, err) == 0 && result == LEDGER_TX_FAILED && has(msg, "insufficient"));
    client_free(c);
    fake_stop(&f);
}

static void test_client_blobs(void) {
    char err[PLOW_ERR_LEN], path[512], tmpl[600];
    fake f;
    if (!fake_start(&f)) {
        CHECKF(0, "cannot start the fake node");
        return;
    }
    client *c = client_new(f.url);
    snprintf(path, sizeof path, "%s/blob_out", test_tmpdir());

    /* Right bytes: the file appears with them. */
    CHECKF(client_blob_get_file(c, f.blob_hash, path, err) == 0, "%s", err);
    uint8_t *data;
    size_t n;
    CHECK(plow_read_file(path, 1000, &data, &n, err) == 0 && n == 100 && memcmp(data, f.blob, 100) == 0);
    free(data);
    CHECK(client_blob_get(c, f.blob_hash, &data, &n, err) == 0 && n == 100 && memcmp(data, f.blob, 100) == 0);
    free(data);

    /* Wrong bytes: refused, the old file untouched, no temporary left. */
    set_mode(&f, "wrong_blob");
    unlink(path);
    CHECK(client_blob_get_file(c, f.blob_hash, path, err) != 0 && has(err, "served wrong bytes"));
    CHECK(!plow_file_exists(path));
    CHECK(client_blob_get(c, f.blob_hash, &data, &n, err) != 0 && has(err, "wrong bytes"));
    snprintf(tmpl, sizeof tmpl, "ls %s | grep -q part", test_tmpdir());
    CHECK(system(tmpl) != 0);
    uint8_t other[32] = {1};
    CHECK(client_blob_get_file(c, other, path, err) != 0 && has(err, "is not on the node"));

    /* Upload: streamed from a file, named by its hash; skipped if present. */
    set_mode(&f, "ok");
    uint8_t body[70000], h[32], want[32];
    fill(body, sizeof body, 42);
    plow_sha256_once(body, sizeof body, want);
    snprintf(path, sizeof path, "%s/blob_in", test_tmpdir());
    CHECK(plow_write_file(path, body, sizeof body, err) == 0);
    CHECK(client_blob_put_file(c, path, h, err) != 0 && has(err, "needs a key") && f.puts == 0);
    ledger_key k;
    uint8_t seed[32];
    fill(seed, 32, 43);
    ledger_key_from_seed(&k, seed);
    client_set_key(c, &k); /* uploads are signed */
    CHECKF(client_blob_put_file(c, path, h, err) == 0, "%s", err);
    CHECK(memcmp(h, want, 32) == 0 && f.puts == 1 && f.put_body.len == sizeof body &&
          memcmp(f.put_body.data, body, sizeof body) == 0);
    CHECKF(client_blob_put(c, "abc", 3, h, err) == 0, "%s", err);
    CHECK(f.puts == 2 && f.put_body.len == 3);
    set_mode(&f, "blob_present");
    CHECK(client_blob_put(c, f.blob, sizeof f.blob, h, err) == 0 && f.puts == 2);
    CHECK(client_blob_put_file(c, "/nonexistent/file", h, err) != 0 && has(err, "cannot open"));
    client_free(c);
    fake_stop(&f);
}

const test_case json_tests[] = {
    {"json_roundtrip", test_json_roundtrip},
    {"json_malformed", test_json_malformed},
    {"client_errors", test_client_errors},
    {"client_tx", test_client_tx},
    {"client_blobs", test_client_blobs},
    {NULL, NULL},
};
