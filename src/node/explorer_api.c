/*
 * explorer_api.c — the API endpoints the explorer reads besides the core ones
 * (docs/api.md, "Explorer"): a slot's published training log and a label
 * task's aggregation, both computed from stored records and blobs; the
 * index-backed ones (history, timeline, agents, stats) are in chainidx.c.
 * Each returns 0 with a JSON reply, or -1 with an HTTP status and a message.
 */
#include "../base/plow.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <pthread.h>

#include "../job/job.h"
#include "node_internal.h"

#define SLOTLOG_MAX_BYTES (8u << 20) /* a training log larger than this is linked, not parsed */
#define SLOTLOG_MAX_COLS 32
#define SLOTLOG_MAX_CELLS 300000 /* values in one reply (a worker writes the log: bound the JSON built from it) */

static bool is_log(const char *path) {
    size_t l = strlen(path), k = strlen("train_log.csv");
    return l >= k && strcmp(path + l - k, "train_log.csv") == 0 && (l == k || path[l - k - 1] == '/');
}

/* One CSV line of numbers (empty: null) into a JSON array; false if malformed. */
static bool csv_row(const char *p, const char *end, size_t ncols, cJSON **out) {
    cJSON *row = cJSON_CreateArray();
    size_t col = 0;
    while (p <= end) {
        const char *c = p;
        while (c < end && *c != ',') c++;
        if (col == ncols) {
            cJSON_Delete(row);
            return false;
        }
        if (c == p) {
            cJSON_AddItemToArray(row, cJSON_CreateNull());
        } else {
            char num[64];
            size_t l = (size_t)(c - p);
            if (l >= sizeof num) {
                cJSON_Delete(row);
                return false;
            }
            memcpy(num, p, l);
            num[l] = 0;
            char *e;
            double v = strtod(num, &e);
            if (*e || !isfinite(v)) {
                cJSON_Delete(row);
                return false;
            }
            cJSON_AddItemToArray(row, cJSON_CreateNumber(v));
        }
        col++;
        p = c + 1;
    }
    while (col++ < ncols) cJSON_AddItemToArray(row, cJSON_CreateNull());
    *out = row;
    return true;
}

/* The log's columns and rows into o; false with err if it is not a log. */
bool explorer_parse_log(const uint8_t *d, size_t n, cJSON *o, char err[PLOW_ERR_LEN]) {
    const char *p = (const char *)d, *end = p + n;
    const char *nl = memchr(p, '\n', n);
    if (!nl) return plow_error(err, "the log has no header line"), false;
    cJSON *cols = cJSON_AddArrayToObject(o, "columns");
    size_t ncols = 0;
    for (const char *c = p; c <= nl && ncols <= SLOTLOG_MAX_COLS;) {
        const char *e = c;
        while (e < nl && *e != ',') e++;
        char name[48];
        size_t l = (size_t)(e - c) < sizeof name - 1 ? (size_t)(e - c) : sizeof name - 1;
        for (size_t i = 0; i < l; i++) {
            char ch = c[i];
            name[i] = (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '_' ? ch : '?';
        }
        name[l] = 0;
        cJSON_AddItemToArray(cols, cJSON_CreateString(name));
        ncols++;
        c = e + 1;
    }
    if (ncols > SLOTLOG_MAX_COLS) return plow_error(err, "the log has more than %d columns", SLOTLOG_MAX_COLS), false;
    cJSON *rows = cJSON_AddArrayToObject(o, "rows");
    size_t count = 0;
    for (p = nl + 1; p < end;) {
        const char *e = memchr(p, '\n', (size_t)(end - p));
        if (!e) e = end;
        if (e > p) {
            cJSON *row;
            if ((count + 1) * ncols > SLOTLOG_MAX_CELLS)
                return plow_error(err, "the log has more than %d values: download it", SLOTLOG_MAX_CELLS), false;
            if (!csv_row(p, e, ncols, &row))
                return plow_error(err, "the log's line %zu is not %zu comma-separated numbers", count + 2, ncols), false;
            cJSON_AddItemToArray(rows, row);
            count++;
        }
        p = e + 1;
    }
    return true;
}

int explorer_slotlog(node *n, const uint8_t id[32], uint32_t slot, cJSON **out, int *status, char err[PLOW_ERR_LEN]) {
    *out = NULL;
    ledger_task t;
    pthread_rwlock_rdlock(&n->state_lock);
    bool found = ledger_get_task(n->s, id, &t);
    pthread_rwlock_unlock(&n->state_lock);
    char hx[65];
    plow_hex(id, 32, hx);
    if (!found) {
        *status = 404;
        return plow_error(err, "no task %s", hx);
    }
    if (slot >= t.p.replicas) {
        *status = 404;
        return plow_error(err, "task %.16s… has %u slots: no slot %u", hx, t.p.replicas, slot);
    }
    const ledger_slot *s = &t.slots[slot];
    static const uint8_t zero[32];
    if (t.p.kind == LEDGER_KIND_LABEL || memcmp(s->manifest, zero, 32) == 0) {
        *status = 404;
        return plow_error(err, "slot %u of task %.16s… has published no outputs (%s)", slot, hx,
                          t.p.kind == LEDGER_KIND_LABEL ? "a label task publishes labels" : "not revealed yet");
    }
    cJSON *o = cJSON_CreateObject();
    json_add_hash(o, "task", id);
    cJSON_AddNumberToObject(o, "slot", slot);
    json_add_addr(o, "worker", s->worker);
    json_add_hash(o, "manifest", s->manifest);
    uint64_t size = 0;
    if (blob_size(n->blobs, s->artifact, &size)) json_add_u64(o, "artifact_size", size); /* a round's contribution */
    uint8_t *data = NULL;
    size_t len = 0;
    job_manifest m = {0};
    int rc = -1;
    if (!blob_size(n->blobs, s->manifest, &size)) {
        cJSON_AddStringToObject(o, "unavailable", "the node does not hold the slot's manifest");
        rc = 0;
        goto out;
    }
    if (size > JOB_MANIFEST_MAX || blob_get(n->blobs, s->manifest, &data, &len, err) != 0 ||
        job_manifest_parse(&m, data, len, err) != 0) {
        cJSON_AddStringToObject(o, "unavailable", size > JOB_MANIFEST_MAX ? "the manifest is too large" : err);
        rc = 0;
        goto out;
    }
    free(data);
    data = NULL;
    const job_manifest_file *log = NULL;
    cJSON *files = cJSON_AddObjectToObject(o, "files");
    for (size_t i = 0; i < m.n; i++) {
        if (i < 200) json_add_hash(files, m.files[i].path, m.files[i].hash);
        if (!log && is_log(m.files[i].path)) log = &m.files[i];
    }
    if (m.n > 200) cJSON_AddNumberToObject(o, "files_more", (double)(m.n - 200));
    if (!log) {
        cJSON_AddNullToObject(o, "log");
        rc = 0;
        goto out;
    }
    json_add_hash(o, "log", log->hash);
    cJSON_AddStringToObject(o, "log_path", log->path);
    if (!blob_size(n->blobs, log->hash, &size)) {
        cJSON_AddStringToObject(o, "unavailable", "the node does not hold the log");
    } else if (size > SLOTLOG_MAX_BYTES) {
        cJSON_AddStringToObject(o, "unavailable", "the log is larger than 8 MiB: download it");
    } else if (blob_get(n->blobs, log->hash, &data, &len, err) != 0) {
        cJSON_AddStringToObject(o, "unavailable", err);
    } else {
        cJSON *parsed = cJSON_CreateObject();
        if (explorer_parse_log(data, len, parsed, err)) {
            cJSON_AddItemToObject(o, "columns", cJSON_DetachItemFromObject(parsed, "columns"));
            cJSON_AddItemToObject(o, "rows", cJSON_DetachItemFromObject(parsed, "rows"));
        } else {
            cJSON_AddStringToObject(o, "unavailable", err);
        }
        cJSON_Delete(parsed);
    }
    rc = 0;
out:
    free(data);
    job_manifest_release(&m);
    if (rc == 0) *out = o;
    else cJSON_Delete(o);
    return rc;
}

/* ---- a label task's aggregation ------------------------------------------------------ *
 * ledger_label_aggregate re-run from the records (what finalize ran: its
 * result must equal the task's), plus each labeler's answers against the
 * aggregated labels (its confusion counts). Up to half a second on the
 * largest task, so one at a time, and the last few are kept. */

#define LABAGG_CACHE 8

typedef struct labagg_ent {
    uint8_t id[32];
    uint8_t revealed, gold, status;
    char *json;
} labagg_ent;

static pthread_mutex_t labagg_mu = PTHREAD_MUTEX_INITIALIZER;
static labagg_ent labagg_cache[LABAGG_CACHE];
static unsigned labagg_next;

static cJSON *labeling_json(const ledger_task *t, ledger_labels *const lab[LEDGER_MAX_REPLICAS],
                            const ledger_gold *gold, const ledger_label_outcome *oc) {
    cJSON *o = cJSON_CreateObject();
    json_add_hash(o, "task", t->id);
    cJSON_AddNumberToObject(o, "n_items", (double)t->p.steps);
    cJSON_AddNumberToObject(o, "n_classes", t->p.n_classes);
    json_add_hash(o, "result", oc->result);
    cJSON_AddBoolToObject(o, "finalized", t->status == LEDGER_TASK_FINALIZED);
    cJSON_AddBoolToObject(o, "matches_task", t->status == LEDGER_TASK_FINALIZED && memcmp(oc->result, t->result, 32) == 0);
    cJSON_AddNumberToObject(o, "gold_items", gold ? gold->count : 0);
    cJSON_AddNumberToObject(o, "iterations", oc->iterations);
    cJSON *slots = cJSON_AddArrayToObject(o, "slots");
    uint32_t K = t->p.n_classes;
    uint32_t *items = plow_alloc(LEDGER_LABELS_MAX * sizeof *items);
    for (uint32_t s = 0; s < t->p.replicas && s < LEDGER_MAX_REPLICAS; s++) {
        cJSON *e = cJSON_CreateObject();
        cJSON_AddNumberToObject(e, "slot", s);
        json_add_addr(e, "labeler", t->slots[s].worker);
        cJSON_AddStringToObject(e, "status", ledger_slot_status_name(t->slots[s].status));
        cJSON_AddBoolToObject(e, "revealed", lab[s] != NULL);
        cJSON_AddBoolToObject(e, "flagged", oc->flagged[s]);
        cJSON_AddNumberToObject(e, "accuracy_ppm", oc->accuracy_ppm[s]);
        cJSON_AddNumberToObject(e, "gold_answered", oc->gold_answered[s]);
        cJSON_AddNumberToObject(e, "gold_correct", oc->gold_correct[s]);
        json_add_u64(e, "pay", oc->pay[s]);
        json_add_u64(e, "paid", t->paid[s]);
        if (lab[s] && K <= LEDGER_LABEL_CLASSES_MAX) {
            uint64_t cnt = ledger_label_slot_items(t->p.steps, t->p.replicas, t->p.redundancy, s, items,
                                                   LEDGER_LABELS_MAX);
            uint32_t *conf = plow_calloc((size_t)K * K, sizeof *conf);
            for (uint64_t i = 0; i < cnt && i < lab[s]->count && i < LEDGER_LABELS_MAX; i++) {
                uint8_t truth = items[i] < oc->n_items ? oc->map[items[i]] : LEDGER_LABEL_NONE;
                uint8_t a = lab[s]->labels[i];
                if (truth < K && a < K) conf[truth * K + a]++;
            }
            cJSON *m = cJSON_AddArrayToObject(e, "confusion"); /* [aggregated][answered] */
            for (uint32_t r = 0; r < K; r++) {
                cJSON *row = cJSON_CreateArray();
                for (uint32_t c = 0; c < K; c++) cJSON_AddItemToArray(row, cJSON_CreateNumber(conf[r * K + c]));
                cJSON_AddItemToArray(m, row);
            }
            free(conf);
        }
        cJSON_AddItemToArray(slots, e);
    }
    free(items);
    return o;
}

int explorer_labeling(node *n, const uint8_t id[32], char **out_json, int *status, char err[PLOW_ERR_LEN]) {
    *out_json = NULL;
    ledger_task t;
    ledger_labels *lab[LEDGER_MAX_REPLICAS] = {0};
    ledger_gold *gold = plow_alloc(sizeof *gold);
    bool has_gold = false;
    char hx[65];
    plow_hex(id, 32, hx);
    pthread_rwlock_rdlock(&n->state_lock);
    bool found = ledger_get_task(n->s, id, &t);
    if (found && t.p.kind == LEDGER_KIND_LABEL) {
        for (uint32_t s = 0; s < t.p.replicas && s < LEDGER_MAX_REPLICAS; s++) {
            if (!(t.revealed & (1u << s))) continue;
            lab[s] = plow_alloc(sizeof *lab[s]);
            if (!ledger_get_labels(n->s, id, s, lab[s])) {
                free(lab[s]);
                lab[s] = NULL;
            }
        }
        has_gold = t.gold_revealed && ledger_get_gold(n->s, id, gold);
    }
    pthread_rwlock_unlock(&n->state_lock);
    int rc = -1;
    if (!found) {
        *status = 404;
        plow_error(err, "no task %s", hx);
        goto out;
    }
    if (t.p.kind != LEDGER_KIND_LABEL) {
        *status = 404;
        plow_error(err, "task %.16s… is a %s task, not a label task", hx, ledger_kind_name(t.p.kind));
        goto out;
    }
    pthread_mutex_lock(&labagg_mu);
    for (unsigned i = 0; i < LABAGG_CACHE; i++) {
        labagg_ent *c = &labagg_cache[i];
        if (c->json && memcmp(c->id, id, 32) == 0 && c->revealed == t.revealed && c->gold == (uint8_t)has_gold &&
            c->status == t.status) {
            *out_json = plow_strdup(c->json);
            break;
        }
    }
    if (!*out_json) {
        ledger_label_outcome oc;
        if (ledger_label_aggregate(&t, (const ledger_labels *const *)lab, has_gold ? gold : NULL, &oc, err) != 0) {
            pthread_mutex_unlock(&labagg_mu);
            *status = 500;
            goto out;
        }
        cJSON *j = labeling_json(&t, lab, has_gold ? gold : NULL, &oc);
        ledger_label_outcome_release(&oc);
        *out_json = cJSON_PrintUnformatted(j);
        cJSON_Delete(j);
        labagg_ent *c = &labagg_cache[labagg_next++ % LABAGG_CACHE];
        free(c->json);
        memcpy(c->id, id, 32);
        c->revealed = t.revealed;
        c->gold = (uint8_t)has_gold;
        c->status = t.status;
        c->json = plow_strdup(*out_json);
    }
    pthread_mutex_unlock(&labagg_mu);
    rc = 0;
out:
    for (int s = 0; s < LEDGER_MAX_REPLICAS; s++) free(lab[s]);
    free(gold);
    return rc;
}
