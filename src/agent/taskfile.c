/*
 * taskfile.c — a TASKFILE (docs/cli.md) turned into a task ready to post:
 * the ledger parameters, and the job spec with every "@PATH" uploaded and
 * replaced by its blob hash, checked by job_spec_parse and uploaded in
 * job_spec_write's canonical form (so every worker reads the same bytes).
 *
 * One implementation for `plow task post` and the requester agent; the
 * requester also sets a spec's inputs (a base model, an adapter, a
 * tokenizer) from the accepted outputs of earlier workflow steps.
 */
#include "../base/plow.h"

#include <cjson/cJSON.h>

#include "../client/client.h"
#include "../job/kind.h"
#include "agent.h"

#define TASKFILE_MAX ((size_t)1 << 20)

static int tf_u32(const cJSON *o, const char *key, uint32_t def, uint32_t lo, uint32_t hi, uint32_t *v,
                  char err[PLOW_ERR_LEN]) {
    const cJSON *j = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!j) {
        *v = def;
        return 0;
    }
    if (!cJSON_IsNumber(j) || !(j->valuedouble >= lo && j->valuedouble <= hi) ||
        j->valuedouble != (double)(uint32_t)j->valuedouble)
        return plow_error(err, "'%s' must be a whole number in %u..%u", key, lo, hi);
    *v = (uint32_t)j->valuedouble;
    return 0;
}

/* "what: message" (no quotes: what is a file name the user typed). */
static int prefix(char err[PLOW_ERR_LEN], const char *what) {
    char inner[PLOW_ERR_LEN];
    snprintf(inner, sizeof inner, "%s", err);
    return plow_error(err, "%.100s: %.150s", what, inner);
}

int taskfile_parse(taskfile *tf, const char *path, char err[PLOW_ERR_LEN]) {
    memset(tf, 0, sizeof *tf);
    uint8_t *buf;
    size_t n;
    if (plow_read_file(path, TASKFILE_MAX, &buf, &n, err)) return -1;
    tf->root = cJSON_ParseWithLength((const char *)buf, n);
    free(buf);
    if (!tf->root || !cJSON_IsObject(tf->root)) return plow_error(err, "%s: not a JSON object", path);
    snprintf(tf->dir, sizeof tf->dir, "%s", path);
    char *slash = strrchr(tf->dir, '/');
    if (slash) slash[1] = 0;
    else tf->dir[0] = 0;

    static const char *const known[] = {"format", "mode", "replicas", "reward", "worker_stake", "min_bond",
                                        "claim_blocks", "work_blocks", "window_blocks", "spec", NULL};
    for (const cJSON *c = tf->root->child; c; c = c->next) {
        int i = 0;
        while (known[i] && strcmp(known[i], c->string) != 0) i++;
        if (!known[i]) return plow_error(err, "%s: unknown key '%.40s'", path, c->string);
    }
    const char *fmt = json_get_str(tf->root, "format");
    if (!fmt || strcmp(fmt, TASKFILE_FORMAT) != 0)
        return plow_error(err, "%s: 'format' must be \"" TASKFILE_FORMAT "\"", path);
    const char *mode = json_get_str(tf->root, "mode");
    if (!mode) return plow_error(err, "%s: 'mode' must be \"replicated\" or \"optimistic\"", path);
    if (strcmp(mode, "replicated") == 0) tf->p.mode = LEDGER_MODE_REPLICATED;
    else if (strcmp(mode, "optimistic") == 0) tf->p.mode = LEDGER_MODE_OPTIMISTIC;
    else return plow_error(err, "%s: 'mode' must be \"replicated\" or \"optimistic\", got \"%.40s\"", path, mode);
    uint32_t replicas;
    bool repl = tf->p.mode == LEDGER_MODE_REPLICATED;
    if (tf_u32(tf->root, "replicas", repl ? 2 : 1, repl ? 2 : 1, repl ? LEDGER_MAX_REPLICAS : 1, &replicas, err) ||
        json_get_u64(tf->root, "reward", &tf->p.reward, err) ||
        json_get_u64(tf->root, "worker_stake", &tf->p.worker_stake, err) ||
        json_get_u64(tf->root, "min_bond", &tf->p.min_bond, err) ||
        tf_u32(tf->root, "claim_blocks", TASKFILE_CLAIM_BLOCKS, 1, UINT32_MAX, &tf->p.claim_blocks, err) ||
        tf_u32(tf->root, "work_blocks", TASKFILE_WORK_BLOCKS, 1, UINT32_MAX, &tf->p.work_blocks, err) ||
        tf_u32(tf->root, "window_blocks", TASKFILE_WINDOW_BLOCKS, 0, UINT32_MAX, &tf->p.window_blocks, err)) {
        if (!repl && strstr(err, "'replicas'")) return plow_error(err, "%s: 'replicas' must be 1 in optimistic mode", path);
        return prefix(err, path);
    }
    tf->p.replicas = (uint8_t)replicas;
    tf->spec = cJSON_GetObjectItemCaseSensitive(tf->root, "spec");
    if (!cJSON_IsObject(tf->spec)) return plow_error(err, "%s: 'spec' must be a JSON object (a job spec)", path);
    return 0;
}

void taskfile_release(taskfile *tf) {
    if (!tf) return;
    cJSON_Delete(tf->root);
    tf->root = tf->spec = NULL;
}

/* The path an "@" string names: absolute, or relative to the TASKFILE. */
static void at_path(const taskfile *tf, const char *s, char *out, size_t n) {
    if (s[0] == '/') snprintf(out, n, "%s", s);
    else snprintf(out, n, "%s%s", tf->dir, s);
}

static int upload(client *c, const char *path, char hex[65], taskfile_note_fn note, void *arg,
                  char err[PLOW_ERR_LEN]) {
    uint8_t h[32];
    if (client_blob_put_file(c, path, h, err)) return -1;
    plow_hex(h, 32, hex);
    if (note) {
        char line[AGENT_PATH_MAX + 100];
        snprintf(line, sizeof line, "uploaded %s -> %s", path, hex);
        note(arg, line);
    }
    return 0;
}

/* Replaces item (a member of parent) by v, keeping its key. */
static void replace_item(cJSON *parent, cJSON *item, cJSON *v) {
    if (item->string) {
        cJSON_ReplaceItemInObjectCaseSensitive(parent, item->string, v);
        return;
    }
    int i = 0;
    for (cJSON *c = parent->child; c && c != item; c = c->next) i++;
    cJSON_ReplaceItemInArray(parent, i, v);
}

/* "base": "@DIR" / "adapter": "@DIR": a run directory. Its two files are
 * uploaded and the value becomes {"model": HASH, "config": HASH}. */
static int expand_run_dir(client *c, cJSON *parent, cJSON *item, const char *dir, bool adapter, taskfile_note_fn note,
                          void *arg, char err[PLOW_ERR_LEN]) {
    const char *files[2] = {adapter ? "adapter_model.safetensors" : "model.safetensors",
                            adapter ? "adapter_config.json" : "config.json"};
    const char *keys[2] = {"model", "config"};
    cJSON *obj = cJSON_CreateObject();
    for (int i = 0; i < 2; i++) {
        char path[AGENT_PATH_MAX + 200], hex[65];
        snprintf(path, sizeof path, "%s/%s", dir, files[i]);
        if (!plow_file_exists(path)) {
            cJSON_Delete(obj);
            return plow_error(err, "'%s': '%s' has no %s (expected a %s run directory)", item->string, dir, files[i],
                              adapter ? "LoRA" : "model");
        }
        if (upload(c, path, hex, note, arg, err)) {
            cJSON_Delete(obj);
            return -1;
        }
        cJSON_AddStringToObject(obj, keys[i], hex);
    }
    replace_item(parent, item, obj);
    return 0;
}

/* Walks the spec: every string starting with "@" names a file (uploaded and
 * replaced by its hash); "@@..." is the literal string "@...". */
static int expand_spec(client *c, const taskfile *tf, cJSON *obj, taskfile_note_fn note, void *arg,
                       char err[PLOW_ERR_LEN]) {
    cJSON *item = obj->child;
    while (item) {
        cJSON *next = item->next;
        if (cJSON_IsObject(item) || cJSON_IsArray(item)) {
            if (expand_spec(c, tf, item, note, arg, err)) return -1;
        } else if (cJSON_IsString(item) && item->valuestring[0] == '@') {
            const char *s = item->valuestring;
            if (s[1] == '@') {
                cJSON *lit = cJSON_CreateString(s + 1);
                replace_item(obj, item, lit);
            } else {
                char path[AGENT_PATH_MAX + 100], hex[65];
                at_path(tf, s + 1, path, sizeof path);
                const char *key = item->string ? item->string : "?";
                bool run_key = cJSON_IsObject(obj) && (strcmp(key, "base") == 0 || strcmp(key, "adapter") == 0);
                if (plow_is_dir(path)) {
                    if (!run_key)
                        return plow_error(err, "'%s': '%s' is a directory (only \"base\" and \"adapter\" take one)",
                                          key, path);
                    if (expand_run_dir(c, obj, item, path, strcmp(key, "adapter") == 0, note, arg, err)) return -1;
                } else {
                    if (!plow_file_exists(path)) return plow_error(err, "'%s': no file '%s'", key, path);
                    if (upload(c, path, hex, note, arg, err)) return -1;
                    replace_item(obj, item, cJSON_CreateString(hex));
                }
            }
        }
        item = next;
    }
    return 0;
}

int taskfile_expand(taskfile *tf, struct client *c, taskfile_note_fn note, void *arg, char err[PLOW_ERR_LEN]) {
    return expand_spec(c, tf, tf->spec, note, arg, err);
}

int taskfile_set_hash(taskfile *tf, const char *key, const uint8_t h[32]) {
    char hex[65];
    plow_hex(h, 32, hex);
    cJSON *v = cJSON_CreateString(hex);
    if (cJSON_GetObjectItemCaseSensitive(tf->spec, key)) return cJSON_ReplaceItemInObjectCaseSensitive(tf->spec, key, v) ? 0 : -1;
    return cJSON_AddItemToObject(tf->spec, key, v) ? 0 : -1;
}

int taskfile_set_run(taskfile *tf, const char *key, const uint8_t model_h[32], const uint8_t config[32]) {
    char hm[65], hc[65];
    plow_hex(model_h, 32, hm);
    plow_hex(config, 32, hc);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "model", hm);
    cJSON_AddStringToObject(o, "config", hc);
    if (cJSON_GetObjectItemCaseSensitive(tf->spec, key)) return cJSON_ReplaceItemInObjectCaseSensitive(tf->spec, key, o) ? 0 : -1;
    return cJSON_AddItemToObject(tf->spec, key, o) ? 0 : -1;
}

int taskfile_finish(taskfile *tf, struct client *c, job_spec *spec, char err[PLOW_ERR_LEN]) {
    char *text = cJSON_PrintUnformatted(tf->spec);
    if (!text) return plow_error(err, "spec: out of memory");
    int rc = job_spec_parse(spec, (const uint8_t *)text, strlen(text), err);
    free(text);
    if (rc) {
        /* job_spec_parse's errors start with "spec: " */
        if (strncmp(err, "spec: ", 6) != 0) prefix(err, "spec");
        return -1;
    }
    plow_buf canon = {0};
    job_spec_write(spec, &canon);
    rc = client_blob_put(c, canon.data, canon.len, tf->p.spec, err);
    plow_buf_release(&canon);
    if (rc) {
        prefix(err, "uploading the spec");
        return -2;
    }
    tf->p.kind = (uint8_t)job_kind_ledger(spec->kind);
    tf->p.steps = job_spec_ledger_steps(spec);
    if (spec->kind == TASK_LABEL) {
        /* a label task without gold, each item labeled by every labeler
         * (`plow label post` is the requester's tool: gold, redundancy) */
        tf->p.n_classes = spec->n_classes;
        tf->p.redundancy = tf->p.replicas;
    }
    return 0;
}
