/*
 * backend_node.c — the embedded ledger as an agent's settlement backend
 * (backend.h): transactions signed with the agent's ed25519 key and sent
 * to a plow node, which orders them; every read through the node's JSON
 * API (docs/api.md).
 */
#include "../base/plow.h"

#include <cjson/cJSON.h>
#include <inttypes.h>

#include "../client/client.h"
#include "backend.h"

static int node_load_params(agent *a, char err[PLOW_ERR_LEN]) {
    if (a->have_params) return 0;
    uint8_t *buf = NULL;
    size_t n = 0;
    /* the genesis file is served byte for byte; the blob client reads raw bodies */
    cJSON *j = NULL;
    if (client_get_json(a->c, "/v1/genesis", &j, err)) return -1;
    char *txt = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    if (!txt) return plow_error(err, "cannot print the genesis");
    ledger_genesis g;
    memset(&g, 0, sizeof g);
    buf = (uint8_t *)txt;
    n = strlen(txt);
    int rc = ledger_genesis_parse(&g, buf, n, err);
    free(txt);
    if (rc) return plow_error_prefix(err, "the node's genesis");
    a->params = g.params;
    a->min_fee = g.params.min_fee;
    a->have_params = true;
    ledger_genesis_release(&g);
    return 0;
}

static int node_send_at(agent *a, ledger_tx *tx, uint8_t hash[32], uint64_t *height, char err[PLOW_ERR_LEN]) {
    if (node_load_params(a, err)) return -1;
    memcpy(tx->sender, a->key.pk, 32);
    tx->fee = a->min_fee;
    return client_send_at(a->c, &a->key, tx, 60, hash, height, err);
}

static int node_height(agent *a, uint64_t *height, char err[PLOW_ERR_LEN]) { return client_height(a->c, height, err); }

static int node_account(agent *a, const uint8_t pk[32], ledger_account *out, char err[PLOW_ERR_LEN]) {
    uint64_t next;
    return client_account(a->c, pk, out, &next, err);
}

static int node_list_tasks(agent *a, const char *query, ledger_task **out, size_t *n, char err[PLOW_ERR_LEN]) {
    *out = NULL;
    *n = 0;
    ledger_task *ts = NULL;
    size_t cnt = 0, cap = 0;
    char cursor[128] = "";
    int rc = -1;
    for (;;) {
        char path[512];
        snprintf(path, sizeof path, "/v1/tasks?limit=1000%s%s%s%s", query && *query ? "&" : "", query ? query : "",
                 cursor[0] ? "&cursor=" : "", cursor);
        cJSON *j = NULL;
        if (client_get_json(a->c, path, &j, err)) goto out;
        const cJSON *arr = cJSON_GetObjectItemCaseSensitive(j, "tasks");
        const char *next = json_get_str(j, "next");
        if (!cJSON_IsArray(arr) || (next && strlen(next) >= sizeof cursor)) {
            cJSON_Delete(j);
            plow_error(err, "GET %s: no \"tasks\" array or a bad \"next\"", path);
            goto out;
        }
        const cJSON *it;
        cJSON_ArrayForEach(it, arr) {
            if (cnt == AGENT_TASKS_MAX) {
                cJSON_Delete(j);
                plow_error(err, "GET /v1/tasks?%s: more than %d tasks", query ? query : "", AGENT_TASKS_MAX);
                goto out;
            }
            if (cnt == cap) {
                cap = cap ? cap * 2 : 64;
                ts = plow_realloc(ts, cap * sizeof *ts);
            }
            if (json_task_from(it, &ts[cnt], err)) {
                cJSON_Delete(j);
                plow_error_prefix(err, "a task from the node");
                goto out;
            }
            cnt++;
        }
        bool go_on = next != NULL;
        if (go_on) snprintf(cursor, sizeof cursor, "%s", next);
        cJSON_Delete(j);
        if (!go_on) break;
    }
    /* the node lists newest first; agents handle the oldest first */
    for (size_t i = 0; i < cnt / 2; i++) {
        ledger_task t = ts[i];
        ts[i] = ts[cnt - 1 - i];
        ts[cnt - 1 - i] = t;
    }
    *out = ts;
    *n = cnt;
    ts = NULL;
    rc = 0;
out:
    free(ts);
    return rc;
}

static int node_task(agent *a, const uint8_t id[32], ledger_task *t, ledger_challenge **ch, size_t *n_ch,
               char err[PLOW_ERR_LEN]) {
    if (ch) *ch = NULL;
    if (n_ch) *n_ch = 0;
    char hex[65], path[128];
    plow_hex(id, 32, hex);
    snprintf(path, sizeof path, "/v1/task/%s", hex);
    cJSON *j = NULL;
    if (client_get_json(a->c, path, &j, err)) return -1;
    int rc = -1;
    if (json_task_from(j, t, err)) goto out;
    if (ch) {
        const cJSON *arr = cJSON_GetObjectItemCaseSensitive(j, "challenges");
        int cnt = cJSON_IsArray(arr) ? cJSON_GetArraySize(arr) : 0;
        if (cnt > 0) {
            *ch = plow_calloc((size_t)cnt, sizeof **ch);
            int i = 0;
            const cJSON *it;
            cJSON_ArrayForEach(it, arr) {
                if (json_challenge_from(it, &(*ch)[i++], err)) {
                    free(*ch);
                    *ch = NULL;
                    goto out;
                }
            }
            *n_ch = (size_t)cnt;
        }
    }
    rc = 0;
out:
    cJSON_Delete(j);
    return rc;
}

static int node_challenge(agent *a, const uint8_t id[32], ledger_challenge *out, char err[PLOW_ERR_LEN]) {
    char hex[65], path[128];
    plow_hex(id, 32, hex);
    snprintf(path, sizeof path, "/v1/challenge/%s", hex);
    cJSON *j = NULL;
    if (client_get_json(a->c, path, &j, err)) return -1;
    int rc = json_challenge_from(j, out, err);
    cJSON_Delete(j);
    return rc;
}

static int node_reveal_of(agent *a, const ledger_task *t, int slot, ledger_tx *out, char err[PLOW_ERR_LEN]) {
    const ledger_slot *sl = &t->slots[slot];
    if (sl->revealed_at == 0) return plow_error(err, "slot %d has not revealed", slot);
    char path[64];
    snprintf(path, sizeof path, "/v1/block/%" PRIu64, sl->revealed_at);
    cJSON *j = NULL;
    if (client_get_json(a->c, path, &j, err)) return -1;
    ledger_block b;
    memset(&b, 0, sizeof b);
    int rc = json_block_from(j, &b, err);
    cJSON_Delete(j);
    if (rc) return -1;
    rc = plow_error(err, "block %" PRIu64 " holds no reveal of slot %d", sl->revealed_at, slot);
    for (uint32_t i = 0; i < b.n_txs; i++) {
        char e2[PLOW_ERR_LEN];
        if (b.results[i] != LEDGER_TX_OK || b.txs[i].len < 2 || b.txs[i].data[1] != LEDGER_TX_REVEAL) continue;
        if (ledger_tx_decode(out, b.txs[i].data, b.txs[i].len, e2)) continue;
        if (memcmp(out->sender, sl->worker, 32) != 0 || memcmp(out->u.open.task, t->id, 32) != 0) continue;
        if (memcmp(out->u.open.trace_root, sl->trace_root, 32) != 0) continue;
        rc = 0;
        break;
    }
    ledger_block_release(&b);
    return rc;
}

static int node_block_hash(agent *a, uint64_t height, uint8_t hash[32], uint64_t *time_ms, char err[PLOW_ERR_LEN]) {
    uint64_t h;
    if (client_height(a->c, &h, err)) return -1;
    if (height > h) return plow_error(err, "block %" PRIu64 " does not exist yet (height %" PRIu64 ")", height, h);
    char path[64];
    snprintf(path, sizeof path, "/v1/block/%" PRIu64, height);
    cJSON *j = NULL;
    if (client_get_json(a->c, path, &j, err)) return -1;
    int rc = json_get_hash(j, "hash", hash, err);
    if (rc == 0 && time_ms) rc = json_get_u64(j, "time_ms", time_ms, err);
    cJSON_Delete(j);
    return rc;
}

static int node_post_prepare(agent *a, ledger_tx *tx, uint8_t id[32], char err[PLOW_ERR_LEN]) {
    if (node_load_params(a, err)) return -1;
    memcpy(tx->sender, a->key.pk, 32);
    tx->fee = a->min_fee;
    ledger_account acct;
    uint64_t next;
    uint8_t chain[32];
    if (client_account(a->c, a->key.pk, &acct, &next, err) || client_chain_id(a->c, chain, err)) return -1;
    tx->nonce = next;
    ledger_tx_sign(tx, &a->key, chain);
    ledger_tx_hash(tx, id);
    return 0;
}

static int node_post_submit(agent *a, const ledger_tx *tx, char err[PLOW_ERR_LEN]) {
    uint8_t h[32];
    return client_submit_tx(a->c, tx, h, err);
}

static int node_post_status(agent *a, const uint8_t id[32], double wait_s, int *result, char msg[PLOW_ERR_LEN],
                            char err[PLOW_ERR_LEN]) {
    uint64_t h;
    return client_wait_tx_at(a->c, id, wait_s, result, msg, &h, err);
}

const agent_backend agent_backend_node = {
    .name = "node",
    .load_params = node_load_params,
    .send_at = node_send_at,
    .post_prepare = node_post_prepare,
    .post_submit = node_post_submit,
    .post_status = node_post_status,
    .height = node_height,
    .account = node_account,
    .list_tasks = node_list_tasks,
    .task = node_task,
    .challenge = node_challenge,
    .reveal_of = node_reveal_of,
    .block_hash = node_block_hash,
    .close = NULL,
};
