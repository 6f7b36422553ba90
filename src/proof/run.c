/*
 * run.c — committing, verifying and disputing training runs (see run.h).
 *
 * Everything here is glue between the deterministic engine (train.h) and the
 * trace/Merkle layer (trace.h): the proofs are only as good as the engine's
 * promise that an honest re-execution yields the same bits.
 */
#include "../base/plow.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>

#include "../data/dataset.h"
#include "../model/modelio.h"
#include "../tensor/tensor.h"
#include "../train/dpo.h"
#include "../train/round.h"
#include "proof_internal.h"

#define TASK_FILE "task.json"
#define TRACE_FILE "trace.bin"
#define COMMIT_FILE "commitment.bin"

enum { PROOF_PURPOSE_VERIFY = 48 };

char *proof_path2(const char *dir, const char *file) {
    size_t n = strlen(dir) + strlen(file) + 2;
    char *p = plow_alloc(n);
    snprintf(p, n, "%s/%s", dir, file);
    return p;
}

/* ---- task.json ------------------------------------------------------------- */

void proof_jadd_hex(cJSON *j, const char *key, const uint8_t h[PLOW_HASH_LEN]) {
    char hex[2 * PLOW_HASH_LEN + 1];
    plow_hex(h, PLOW_HASH_LEN, hex);
    cJSON_AddStringToObject(j, key, hex);
}

int proof_task_save(const proof_task *t, const char *dir, char err[PLOW_ERR_LEN]) {
    const proof_kind_ops *k = proof_kind_ops_of(t->kind);
    if (!k->replays) return plow_error(err, "a %s task has no task.json", k->name);
    cJSON *j = cJSON_CreateObject();
    const model_config *c = &t->cfg;
    cJSON_AddStringToObject(j, "format", "plow.task.v1");
    cJSON_AddStringToObject(j, "kind", k->name);
    cJSON *m = cJSON_AddObjectToObject(j, "model");
    cJSON_AddStringToObject(m, "name", c->name);
    cJSON_AddNumberToObject(m, "n_layer", c->n_layer);
    cJSON_AddNumberToObject(m, "d_model", c->d_model);
    cJSON_AddNumberToObject(m, "n_head", c->n_head);
    cJSON_AddNumberToObject(m, "n_kv_head", c->n_kv_head);
    cJSON_AddNumberToObject(m, "d_ff", c->d_ff);
    cJSON_AddNumberToObject(m, "ctx", c->ctx);
    cJSON_AddNumberToObject(m, "vocab", c->vocab);
    cJSON_AddBoolToObject(m, "tied", c->tied);
    cJSON_AddNumberToObject(m, "norm_eps", (double)c->norm_eps);
    cJSON_AddNumberToObject(m, "rope_theta", (double)c->rope_theta);
    cJSON_AddStringToObject(j, "data", t->data);
    cJSON_AddNumberToObject(j, "val_frac", t->val_frac);
    proof_jadd_hex(j, "data_hash", t->data_hash);
    cJSON *h = cJSON_AddObjectToObject(j, "hparams");
    const train_hparams *hp = &t->hp;
    cJSON_AddNumberToObject(h, "batch", hp->batch);
    cJSON_AddNumberToObject(h, "seq", hp->seq);
    cJSON_AddNumberToObject(h, "steps", hp->steps);
    cJSON_AddNumberToObject(h, "warmup", hp->warmup);
    cJSON_AddNumberToObject(h, "lr", (double)hp->lr);
    cJSON_AddNumberToObject(h, "min_lr", (double)hp->min_lr);
    cJSON_AddNumberToObject(h, "wd", (double)hp->wd);
    cJSON_AddNumberToObject(h, "beta1", (double)hp->beta1);
    cJSON_AddNumberToObject(h, "beta2", (double)hp->beta2);
    cJSON_AddNumberToObject(h, "eps", (double)hp->eps);
    cJSON_AddNumberToObject(h, "clip", (double)hp->clip);
    char seed[32];
    snprintf(seed, sizeof seed, "%" PRIu64, hp->seed);
    cJSON_AddStringToObject(h, "seed", seed);
    snprintf(seed, sizeof seed, "%" PRIu64, hp->init_seed);
    cJSON_AddStringToObject(h, "init_seed", seed);
    if (t->lora) { /* the adapter and its base */
        cJSON *l = cJSON_AddObjectToObject(j, "lora");
        cJSON_AddNumberToObject(l, "rank", t->rank);
        cJSON_AddNumberToObject(l, "alpha", (double)t->alpha);
        cJSON_AddNumberToObject(l, "targets", t->targets);
        cJSON_AddStringToObject(l, "base", t->base);
        proof_jadd_hex(l, "base_hash", t->base_hash);
    } else if (k->needs_base) { /* the reference, or the shared weights W_t */
        cJSON_AddStringToObject(j, "base", t->base);
        proof_jadd_hex(j, "base_hash", t->base_hash);
    }
    if (k->task_write) k->task_write(t, j);
    cJSON_AddNumberToObject(j, "checkpoint_every", t->checkpoint_every);
    char *s = cJSON_Print(j);
    cJSON_Delete(j);
    char *p = proof_path2(dir, TASK_FILE);
    int rc = plow_write_file(p, s, strlen(s), err);
    free(p);
    free(s);
    return rc;
}

int proof_jnum(const cJSON *o, const char *key, double lo, double hi, double *out, char err[PLOW_ERR_LEN]) {
    const cJSON *x = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!cJSON_IsNumber(x)) return plow_error(err, "task.json: '%s' missing or not a number", key);
    if (!(x->valuedouble >= lo && x->valuedouble <= hi))
        return plow_error(err, "task.json: '%s' = %g out of range", key, x->valuedouble);
    *out = x->valuedouble;
    return 0;
}

int proof_jint(const cJSON *o, const char *key, long lo, long hi, int *out, char err[PLOW_ERR_LEN]) {
    double d;
    if (proof_jnum(o, key, (double)lo, (double)hi, &d, err)) return -1;
    if (d != (double)(long)d) return plow_error(err, "task.json: '%s' must be a whole number", key);
    *out = (int)d;
    return 0;
}

static int jfloat(const cJSON *o, const char *key, float *out, char err[PLOW_ERR_LEN]) {
    double d;
    if (proof_jnum(o, key, -1e30, 1e30, &d, err)) return -1;
    *out = (float)d;
    return 0;
}

int proof_jstr(const cJSON *o, const char *key, char *out, size_t cap, char err[PLOW_ERR_LEN]) {
    const cJSON *x = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!cJSON_IsString(x)) return plow_error(err, "task.json: '%s' missing or not a string", key);
    if (strlen(x->valuestring) >= cap) return plow_error(err, "task.json: '%s' too long", key);
    snprintf(out, cap, "%s", x->valuestring);
    return 0;
}

int proof_jhash(const cJSON *o, const char *key, uint8_t out[PLOW_HASH_LEN], char err[PLOW_ERR_LEN]) {
    char hex[80];
    if (proof_jstr(o, key, hex, sizeof hex, err)) return -1;
    if (plow_unhex(hex, out, PLOW_HASH_LEN)) return plow_error(err, "task.json: '%s' is not 64 hex digits", key);
    return 0;
}

int proof_ju64(const char *txt, uint64_t *out) {
    char *end;
    errno = 0;
    unsigned long long v = strtoull(txt, &end, 10);
    if (errno || end == txt || *end || txt[0] == '-') return -1;
    *out = (uint64_t)v;
    return 0;
}

/* The model config, the data and the hyper-parameters: every kind's. */
static int task_read_common(proof_task *t, const cJSON *j, char err[PLOW_ERR_LEN]) {
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(j, "model"), *h = cJSON_GetObjectItemCaseSensitive(j, "hparams");
    model_config *c = &t->cfg;
    train_hparams *hp = &t->hp;
    char seed[32], iseed[32];
    if (!cJSON_IsObject(m) || !cJSON_IsObject(h)) return plow_error(err, "task.json: 'model' and 'hparams' must be objects");
    if (proof_jstr(m, "name", c->name, sizeof c->name, err) || proof_jint(m, "n_layer", 1, 64, &c->n_layer, err) ||
        proof_jint(m, "d_model", 1, 1 << 16, &c->d_model, err) || proof_jint(m, "n_head", 1, 1 << 10, &c->n_head, err) ||
        proof_jint(m, "n_kv_head", 1, 1 << 10, &c->n_kv_head, err) || proof_jint(m, "d_ff", 1, 1 << 17, &c->d_ff, err) ||
        proof_jint(m, "ctx", 1, 1 << 17, &c->ctx, err) || proof_jint(m, "vocab", 2, 1 << 20, &c->vocab, err) ||
        jfloat(m, "norm_eps", &c->norm_eps, err) || jfloat(m, "rope_theta", &c->rope_theta, err))
        return -1;
    c->tied = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(m, "tied"));
    if (model_config_check(c, err)) return -1;
    if (proof_jstr(j, "data", t->data, sizeof t->data, err) || proof_jnum(j, "val_frac", 0, 0.5, &t->val_frac, err) ||
        proof_jhash(j, "data_hash", t->data_hash, err))
        return -1;
    if (proof_jint(h, "batch", 1, 4096, &hp->batch, err) || proof_jint(h, "seq", 1, 1 << 17, &hp->seq, err) ||
        proof_jint(h, "steps", 1, 100000000, &hp->steps, err) || proof_jint(h, "warmup", 0, 100000000, &hp->warmup, err) ||
        jfloat(h, "lr", &hp->lr, err) || jfloat(h, "min_lr", &hp->min_lr, err) || jfloat(h, "wd", &hp->wd, err) ||
        jfloat(h, "beta1", &hp->beta1, err) || jfloat(h, "beta2", &hp->beta2, err) || jfloat(h, "eps", &hp->eps, err) ||
        jfloat(h, "clip", &hp->clip, err) || proof_jstr(h, "seed", seed, sizeof seed, err) ||
        proof_jstr(h, "init_seed", iseed, sizeof iseed, err))
        return -1;
    if (proof_ju64(seed, &hp->seed)) return plow_error(err, "task.json: 'seed' is not a whole number");
    if (proof_ju64(iseed, &hp->init_seed)) return plow_error(err, "task.json: 'init_seed' is not a whole number");
    return train_hparams_check(hp, c, err);
}

/* The trainable: an adapter ("lora": rank, alpha, targets, its base) or the
 * whole model, with the base beside it when the kind needs one. */
static int task_read_trainable(proof_task *t, const proof_kind_ops *k, const cJSON *j, char err[PLOW_ERR_LEN]) {
    if (t->lora) {
        const cJSON *l = cJSON_GetObjectItemCaseSensitive(j, "lora");
        int targets = 0;
        if (!cJSON_IsObject(l)) return plow_error(err, "task.json: a lora task needs a 'lora' object");
        if (proof_jint(l, "rank", 1, 1024, &t->rank, err) || jfloat(l, "alpha", &t->alpha, err) ||
            proof_jint(l, "targets", 1, (1 << LORA_TARGET_COUNT) - 1, &targets, err) ||
            proof_jstr(l, "base", t->base, sizeof t->base, err) || proof_jhash(l, "base_hash", t->base_hash, err))
            return -1;
        t->targets = (unsigned)targets;
    } else if (k->needs_base) {
        if (proof_jstr(j, "base", t->base, sizeof t->base, err) || proof_jhash(j, "base_hash", t->base_hash, err))
            return -1;
    }
    return 0;
}

int proof_task_load(proof_task *t, const char *dir, char err[PLOW_ERR_LEN]) {
    memset(t, 0, sizeof *t);
    char *p = proof_path2(dir, TASK_FILE);
    uint8_t *buf;
    size_t n;
    int rc = plow_read_file(p, 1 << 20, &buf, &n, err);
    free(p);
    if (rc) return -1;
    cJSON *j = cJSON_ParseWithLength((const char *)buf, n);
    free(buf);
    if (!cJSON_IsObject(j)) {
        cJSON_Delete(j);
        return plow_error(err, "task.json in '%s' is not a JSON object", dir);
    }
    rc = -1;
    char kind[16], fmt[32];
    task_kind kd;
    if (proof_jstr(j, "format", fmt, sizeof fmt, err)) goto out;
    if (strcmp(fmt, "plow.task.v1") != 0) {
        plow_error(err, "task.json: unknown format '%s'", fmt);
        goto out;
    }
    if (proof_jstr(j, "kind", kind, sizeof kind, err)) goto out;
    if (task_kind_parse(kind, &kd) || !proof_kind_ops_of(kd)->replays) {
        plow_error(err, "task.json: unknown kind '%s'", kind);
        goto out;
    }
    const proof_kind_ops *k = proof_kind_ops_of(kd);
    t->kind = kd;
    t->lora = k->adapter == PROOF_ADAPTER_ALWAYS ||
              (k->adapter == PROOF_ADAPTER_OPTIONAL && cJSON_GetObjectItemCaseSensitive(j, "lora"));
    if (task_read_common(t, j, err) || task_read_trainable(t, k, j, err) || (k->task_read && k->task_read(t, j, err)))
        goto out;
    int every = 0;
    if (proof_jint(j, "checkpoint_every", 1, 100000000, &every, err)) goto out;
    t->checkpoint_every = (uint32_t)every;
    rc = 0;
out:
    cJSON_Delete(j);
    return rc;
}

/* ---- writing a commitment ---------------------------------------------------- */

static char *checkpoint_path(const char *dir, uint64_t step) {
    char f[64];
    snprintf(f, sizeof f, "checkpoints/%08" PRIu64 ".state", step);
    return proof_path2(dir, f);
}

struct proof_ckpt_writer {
    char *dir;
    pthread_t th;
    bool running;
    plow_buf buf;
    uint64_t step;
    int rc;
    char err[PLOW_ERR_LEN];
};

proof_ckpt_writer *proof_ckpt_writer_new(const char *dir) {
    proof_ckpt_writer *w = plow_calloc(1, sizeof *w);
    w->dir = plow_strdup(dir);
    return w;
}

static void *ckpt_thread(void *arg) {
    proof_ckpt_writer *w = arg;
    char *p = checkpoint_path(w->dir, w->step);
    if (plow_write_file(p, w->buf.data, w->buf.len, w->err) && w->rc == 0) w->rc = -1;
    free(p);
    return NULL;
}

static void ckpt_join(proof_ckpt_writer *w) {
    if (w->running) pthread_join(w->th, NULL);
    w->running = false;
}

int proof_ckpt_writer_submit(proof_ckpt_writer *w, const train_state *s, char err[PLOW_ERR_LEN]) {
    ckpt_join(w);
    if (w->rc) return plow_error(err, "%s", w->err);
    char *d = proof_path2(w->dir, "checkpoints");
    int rc = plow_mkdir_p(d, err);
    free(d);
    if (rc) return -1;
    w->buf.len = 0;
    train_state_serialize(s, &w->buf);
    w->step = train_state_step(s);
    if (pthread_create(&w->th, NULL, ckpt_thread, w) != 0) { /* no thread: write here */
        ckpt_thread(w);
        return w->rc ? plow_error(err, "%s", w->err) : 0;
    }
    w->running = true;
    return 0;
}

int proof_ckpt_writer_finish(proof_ckpt_writer *w, char err[PLOW_ERR_LEN]) {
    if (!w) return 0;
    ckpt_join(w);
    int rc = w->rc ? plow_error(err, "%s", w->err) : 0;
    plow_buf_release(&w->buf);
    free(w->dir);
    free(w);
    return rc;
}

int proof_write_commitment(const char *dir, const uint8_t task_id[PLOW_HASH_LEN], const uint8_t *leaves,
                           uint64_t n, const uint8_t artifact[PLOW_HASH_LEN], uint32_t every,
                           char err[PLOW_ERR_LEN]) {
    trace *t;
    if (trace_new(task_id, leaves, n, &t, err)) return -1;
    trace_commitment c;
    trace_commit(t, artifact, every, &c);
    uint8_t rec[TRACE_COMMITMENT_LEN];
    char *tp = proof_path2(dir, TRACE_FILE), *cp = proof_path2(dir, COMMIT_FILE);
    int rc = trace_save(t, tp, err);
    if (rc == 0) rc = trace_commitment_encode(&c, rec, err);
    if (rc == 0) rc = plow_write_file(cp, rec, sizeof rec, err);
    free(tp);
    free(cp);
    trace_free(t);
    return rc;
}

/* ---- replay ------------------------------------------------------------------ */

void proof_replay_free(proof_replay *r) {
    if (!r) return;
    train_state_free(r->s);
    lora_free(r->l);
    model_free(r->m);
    dataset_free(r->data);
    prefs_free(r->pairs);
    tokenizer_free(r->tok);
    free(r->w0);
    free(r);
}

/* The checks and the state every kind shares, around its row's own:
 * r->tok, r->data or r->pairs, and r->m (the base, or NULL) are set. */
static int replay_build(proof_replay *r, char err[PLOW_ERR_LEN]) {
    const proof_task *t = &r->task;
    const proof_kind_ops *k = proof_kind_ops_of(t->kind);
    if (k->needs_base != (r->m != NULL))
        return plow_error(err, k->needs_base ? "a %s task needs its base model" : "a %s task has no base model", k->label);
    if (t->lora ? k->adapter == PROOF_ADAPTER_NEVER : k->adapter == PROOF_ADAPTER_ALWAYS)
        return plow_error(err, t->lora ? "a %s task trains the whole model, not an adapter" : "a %s task trains an adapter",
                          k->label);
    const uint8_t *have = NULL;
    if (k->inputs(r, &have, err)) return -1;
    if (memcmp(have, t->data_hash, PLOW_HASH_LEN) != 0)
        return plow_error(err, "%s '%s' (with this tokenizer) does not match the task's data hash",
                          k->data == PROOF_DATA_PAIRS ? "pairs file" : k->data == PROOF_DATA_TEXT ? "data file" : "problem set", t->data);
    if (r->m) {
        uint8_t bh[PLOW_HASH_LEN];
        model_hash(r->m, bh);
        if (memcmp(bh, t->base_hash, PLOW_HASH_LEN) != 0)
            return plow_error(err, "base model '%s' does not match the task's base hash", t->base);
    }
    if (t->lora) {
        if (lora_new(&r->l, &r->m->cfg, t->rank, t->alpha, t->targets, err)) return -1;
    } else if (!r->m && model_new(&r->m, &t->cfg, err)) {
        return -1;
    }
    if (tokenizer_vocab_size(r->tok) != r->m->cfg.vocab)
        return plow_error(err, "the tokenizer has %d tokens but the model has %d", tokenizer_vocab_size(r->tok),
                          r->m->cfg.vocab);
    return k->state_new(r, err);
}

int proof_inputs_load(const proof_task *t, const tokenizer *tok, proof_inputs *in, char err[PLOW_ERR_LEN]) {
    memset(in, 0, sizeof *in);
    const proof_kind_ops *k = proof_kind_ops_of(t->kind);
    if (!k->replays) return plow_error(err, "a %s task has no training inputs", k->name);
    switch (k->data) {
    case PROOF_DATA_TEXT: return dataset_load_text(&in->text, t->data, tok, t->val_frac, err);
    case PROOF_DATA_PAIRS: return prefs_load(&in->pairs, t->data, tok, err);
    case PROOF_DATA_PROBLEMS: return 0; /* generated from the task */
    }
    return 0;
}

void proof_inputs_release(proof_inputs *in) {
    dataset_free(in->text);
    prefs_free(in->pairs);
    memset(in, 0, sizeof *in);
}

int proof_replay_adopt(proof_replay **out, const proof_task *t, tokenizer *tok, proof_inputs *in, model *base,
                       char err[PLOW_ERR_LEN]) {
    *out = NULL;
    proof_replay *r = plow_calloc(1, sizeof *r);
    r->task = *t;
    r->tok = tok;
    r->data = in->text;
    r->pairs = in->pairs;
    r->m = base;
    memset(in, 0, sizeof *in);
    const proof_kind_ops *k = proof_kind_ops_of(t->kind);
    if (!k->replays || !proof_inputs_present(k, r->data, r->pairs)) {
        proof_replay_free(r);
        return plow_error(err, k->replays ? "a %s task replays on %s" : "a %s task has no training states", k->label,
                          proof_inputs_name(k));
    }
    if (replay_build(r, err)) {
        proof_replay_free(r);
        return -1;
    }
    *out = r;
    return 0;
}

int proof_replay_open(proof_replay **out, const char *dir, char err[PLOW_ERR_LEN]) {
    *out = NULL;
    proof_task t;
    tokenizer *tok = NULL;
    proof_inputs in;
    model *base = NULL;
    if (proof_task_load(&t, dir, err)) return -1;
    char *tp = proof_path2(dir, "tokenizer.bin");
    int rc = tokenizer_load(&tok, tp, err);
    free(tp);
    if (rc) return -1;
    if (proof_inputs_load(&t, tok, &in, err)) {
        tokenizer_free(tok);
        return -1;
    }
    if (proof_kind_ops_of(t.kind)->needs_base && modelio_load_model(&base, t.base, err)) {
        proof_inputs_release(&in);
        tokenizer_free(tok);
        return -1;
    }
    return proof_replay_adopt(out, &t, tok, &in, base, err);
}

const proof_task *proof_replay_task(const proof_replay *r) { return &r->task; }
train_state *proof_replay_state(proof_replay *r) { return r->s; }
uint64_t proof_replay_at(const proof_replay *r) { return train_state_step(r->s); }
void proof_replay_hash(proof_replay *r, uint8_t out[PLOW_HASH_LEN]) { train_state_hash(r->s, out); }

void proof_replay_step(proof_replay *r) { proof_kind_ops_of(r->task.kind)->step(r, NULL, NULL); }

void proof_replay_step_stats(proof_replay *r, train_stats *st, dpo_stats *ds) {
    memset(ds, 0, sizeof *ds);
    proof_kind_ops_of(r->task.kind)->step(r, st, ds);
}

const dataset *proof_replay_text(const proof_replay *r) { return r->data; }
const dataset *proof_replay_steps_text(const proof_replay *r) { return r->on; }
const prefs *proof_replay_pairs(const proof_replay *r) { return r->pairs; }
model *proof_replay_model(proof_replay *r) { return r->m; }
lora *proof_replay_lora(proof_replay *r) { return r->l; }
const tokenizer *proof_replay_tokenizer(const proof_replay *r) { return r->tok; }

int proof_replay_publish(proof_replay *r, const char *dir, uint8_t out[PLOW_HASH_LEN], size_t *bytes,
                         char err[PLOW_ERR_LEN]) {
    *bytes = 0;
    return proof_kind_ops_of(r->task.kind)->publish(r, dir, out, bytes, err);
}

void proof_replay_reinit(proof_replay *r) {
    train_state_reinit(r->s);
    const proof_kind_ops *k = proof_kind_ops_of(r->task.kind);
    if (k->reinit) k->reinit(r);
}

int proof_replay_load_state(proof_replay *r, const uint8_t *buf, size_t n, char err[PLOW_ERR_LEN]) {
    return train_state_restore(r->s, buf, n, err);
}

size_t proof_replay_state_max(proof_replay *r) {
    size_t n;
    train_state_weights(r->s, &n);
    return 3 * n * sizeof(float) + ((size_t)1 << 20); /* weights, two moments, and the header */
}

int proof_replay_load_checkpoint(proof_replay *r, const char *dir, uint64_t step, char err[PLOW_ERR_LEN]) {
    char *p = checkpoint_path(dir, step);
    uint8_t *buf;
    size_t n;
    int rc = plow_read_file(p, proof_replay_state_max(r), &buf, &n, err);
    if (rc == 0) {
        rc = train_state_restore(r->s, buf, n, err);
        free(buf);
        if (rc == 0 && train_state_step(r->s) != step)
            rc = plow_error(err, "checkpoint '%s' holds step %" PRIu64, p, train_state_step(r->s));
    }
    free(p);
    return rc;
}

void proof_replay_artifact_hash(proof_replay *r, uint8_t out[PLOW_HASH_LEN]) {
    proof_kind_ops_of(r->task.kind)->artifact_hash(r, out);
}

/* The artifact file's hash, computed the same way. */
int proof_artifact_hash(proof_replay *r, const char *dir, uint8_t out[PLOW_HASH_LEN], char err[PLOW_ERR_LEN]) {
    return proof_kind_ops_of(r->task.kind)->artifact_file_hash(r, dir, out, err);
}

void proof_artifact_files(const proof_task *t, const char *files[2]) {
    const proof_kind_ops *k = proof_kind_ops_of(t->kind);
    files[0] = k->artifact_files[0];
    files[1] = k->artifact_files[1];
    if (!files[0]) {
        files[0] = t->lora ? "adapter_model.safetensors" : "model.safetensors";
        files[1] = t->lora ? "adapter_config.json" : "config.json";
    }
}

/* ---- verification ------------------------------------------------------------ */

static int load_commitment(const char *dir, trace **t, trace_commitment *c, char err[PLOW_ERR_LEN]) {
    char *tp = proof_path2(dir, TRACE_FILE), *cp = proof_path2(dir, COMMIT_FILE);
    uint8_t *buf = NULL;
    size_t n;
    int rc = trace_load(tp, t, err);
    if (rc == 0) rc = plow_read_file(cp, 4096, &buf, &n, err);
    if (rc == 0) rc = trace_commitment_decode(c, buf, n, err);
    free(buf);
    free(tp);
    free(cp);
    if (rc) {
        trace_free(*t);
        *t = NULL;
    }
    return rc;
}

static int cmp_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

int proof_sample_steps(uint64_t n, int k, uint64_t challenge, uint64_t out[64]) {
    PLOW_ASSERT(n >= 1 && k >= 0 && k <= 63);
    int ns = 0;
    for (int i = 0; i < k; i++) {
        uint32_t w[4];
        tensor_philox((tensor_rng_key){challenge, PROOF_PURPOSE_VERIFY, 0}, (uint64_t)i, w);
        out[ns++] = 1 + ((((uint64_t)w[0] << 32) | w[1]) % n);
    }
    out[ns++] = n;
    qsort(out, (size_t)ns, sizeof out[0], cmp_u64);
    int uniq = 0;
    for (int i = 0; i < ns; i++)
        if (uniq == 0 || out[uniq - 1] != out[i]) out[uniq++] = out[i];
    return uniq;
}

#define INVALID(step, ...)                                      \
    do {                                                        \
        rep->valid = false;                                     \
        rep->bad_step = (step);                                 \
        snprintf(rep->reason, sizeof rep->reason, __VA_ARGS__); \
        goto done;                                              \
    } while (0)

int proof_verify_run(const char *dir, int k, uint64_t challenge, proof_verify_mode mode, proof_verify_report *rep,
                     char err[PLOW_ERR_LEN]) {
    memset(rep, 0, sizeof *rep);
    if (k < 0 || k > 63) return plow_error(err, "samples must be in 0..63");
    proof_replay *r = NULL, *worker = NULL;
    plow_buf sb = {0};
    trace *t = NULL;
    trace_commitment c;
    double t0 = plow_now();
    if (proof_replay_open(&r, dir, err)) return -1;
    if (load_commitment(dir, &t, &c, err)) {
        proof_replay_free(r);
        return -1;
    }
    rep->valid = true;
    rep->n = trace_steps(t);
    uint64_t n = rep->n;
    char cerr[PLOW_ERR_LEN];
    if (trace_commitment_check(&c, t, cerr)) INVALID(0, "trace does not match the commitment: %.300s", cerr);
    uint8_t tid[PLOW_HASH_LEN];
    train_state_task_id(r->s, tid);
    if (memcmp(tid, c.task, PLOW_HASH_LEN) != 0) INVALID(0, "the commitment is for another task");
    if (n != (uint64_t)r->task.hp.steps) INVALID(0, "the trace has %" PRIu64 " steps, the task %d", n, r->task.hp.steps);
    /* the samples: k transitions from the challenge, plus always the last */
    uint64_t s[64];
    int uniq = proof_sample_steps(n, k, challenge, s);
    rep->samples = uniq;
    memcpy(rep->sampled, s, sizeof(uint64_t) * (size_t)uniq);
    uint32_t every = c.checkpoint_every;
    bool have = false; /* the replay holds a verified state of this run */
    uint8_t h[PLOW_HASH_LEN];
    /* the run must start from the task's initial state */
    proof_replay_reinit(r);
    proof_replay_hash(r, h);
    if (memcmp(h, trace_leaf(t, 0), PLOW_HASH_LEN) != 0) INVALID(0, "the run does not start from the task's initial state");
    if (mode == PROOF_VERIFY_CHALLENGE && proof_replay_open(&worker, dir, err)) {
        trace_free(t);
        proof_replay_free(r);
        return -1;
    }
    for (int i = 0; i < uniq; i++) {
        uint64_t j = s[i], ck = (j - 1) / every * every;
        if (mode == PROOF_VERIFY_CHALLENGE) {
            /* the worker's side: regenerate state j-1 from its checkpoint and send it */
            double w0 = plow_now();
            if (proof_replay_load_checkpoint(worker, dir, ck, cerr))
                INVALID(j - 1, "the worker cannot produce state %" PRIu64 ": %.300s", j - 1, cerr);
            while (proof_replay_at(worker) < j - 1) {
                proof_replay_step(worker);
                rep->worker_steps++;
            }
            sb.len = 0;
            train_state_serialize(worker->s, &sb);
            rep->bytes += sb.len;
            rep->worker_seconds += plow_now() - w0;
            /* the verifier: the answer must be the committed state j-1 */
            if (proof_replay_load_state(r, sb.data, sb.len, cerr))
                INVALID(j - 1, "the worker's state %" PRIu64 " is malformed: %.300s", j - 1, cerr);
            proof_replay_hash(r, h);
            if (memcmp(h, trace_leaf(t, j - 1), PLOW_HASH_LEN) != 0)
                INVALID(j - 1, "the worker's state %" PRIu64 " does not hash to the committed leaf", j - 1);
            proof_replay_step(r);
            rep->steps_run++;
            proof_replay_hash(r, h);
            if (memcmp(h, trace_leaf(t, j), PLOW_HASH_LEN) != 0)
                INVALID(j, "step %" PRIu64 ": re-executing it from the committed state %" PRIu64
                           " does not give the committed leaf", j, j - 1);
            continue;
        }
        if (!have || proof_replay_at(r) < ck || proof_replay_at(r) > j - 1) {
            if (proof_replay_load_checkpoint(r, dir, ck, cerr)) INVALID(ck, "checkpoint %" PRIu64 " unusable: %.300s", ck, cerr);
            proof_replay_hash(r, h);
            if (memcmp(h, trace_leaf(t, ck), PLOW_HASH_LEN) != 0)
                INVALID(ck, "checkpoint %" PRIu64 " does not hash to the committed leaf %" PRIu64, ck, ck);
            have = true;
        }
        while (proof_replay_at(r) < j) {
            proof_replay_step(r);
            rep->steps_run++;
            uint64_t at = proof_replay_at(r);
            proof_replay_hash(r, h);
            if (memcmp(h, trace_leaf(t, at), PLOW_HASH_LEN) != 0)
                INVALID(at, "step %" PRIu64 ": re-executing it from the committed state %" PRIu64
                            " does not give the committed leaf", at, at - 1);
        }
    }
    /* the artifact: the committed one, and the final state's weights */
    uint8_t ah[PLOW_HASH_LEN], fh[PLOW_HASH_LEN];
    if (proof_artifact_hash(r, dir, ah, cerr)) INVALID(n, "artifact unreadable: %.300s", cerr);
    if (memcmp(ah, c.artifact, PLOW_HASH_LEN) != 0) INVALID(n, "the published artifact is not the committed one");
    proof_replay_artifact_hash(r, fh);
    if (memcmp(ah, fh, PLOW_HASH_LEN) != 0) INVALID(n, "the artifact is not the weights of the final state");
    snprintf(rep->reason, sizeof rep->reason, "valid");
done:
    rep->seconds = plow_now() - t0 - rep->worker_seconds;
    plow_buf_release(&sb);
    trace_free(t);
    proof_replay_free(worker);
    proof_replay_free(r);
    return 0;
}

/* ---- disputes ------------------------------------------------------------------ */

/* Brings r to state `want` of the run in dir from its nearest checkpoint and
 * checks the result against `leaf`. */
static int produce_state(proof_replay *r, const char *dir, const trace *t, uint64_t want, uint32_t every,
                         const uint8_t leaf[PLOW_HASH_LEN], char err[PLOW_ERR_LEN]) {
    uint64_t ck = want / every * every;
    if (proof_replay_load_checkpoint(r, dir, ck, err)) return -1;
    uint8_t h[PLOW_HASH_LEN];
    proof_replay_hash(r, h);
    if (memcmp(h, trace_leaf(t, ck), PLOW_HASH_LEN) != 0)
        return plow_error(err, "checkpoint %" PRIu64 " does not match its leaf", ck);
    while (proof_replay_at(r) < want) proof_replay_step(r);
    proof_replay_hash(r, h);
    if (memcmp(h, leaf, PLOW_HASH_LEN) != 0) return plow_error(err, "state %" PRIu64 " does not hash to the agreed leaf", want);
    return 0;
}

static proof_party wrong_of(bool wa, bool wb) {
    return wa && wb ? PROOF_BOTH : wa ? PROOF_PARTY_A : wb ? PROOF_PARTY_B : PROOF_NOBODY;
}

/* Bisects the two traces to the first step where they differ, into *j; a
 * bisection that already decides (the runs agree, or an answer does not verify
 * against its root) fills rep and sets *decided. */
static int dispute_locate(const trace *ta, const trace *tb, uint64_t n, proof_dispute_report *rep, bool *decided,
                          uint64_t *j, char err[PLOW_ERR_LEN]) {
    *decided = false;
    trace_party pa, pb;
    trace_party_local(ta, &pa);
    trace_party_local(tb, &pb);
    trace_bisection bs;
    if (trace_bisect(n, &pa, &pb, &bs, err)) return -1;
    rep->queries = bs.queries;
    plow_buf pbuf = {0};
    merkle_proof_encode(&bs.proof_a, &pbuf);
    rep->bytes_exchanged = 2 * (size_t)bs.queries * (pbuf.len + MERKLE_HASH_LEN);
    plow_buf_release(&pbuf);
    if (bs.verdict == TRACE_SAME) {
        rep->same = true;
        snprintf(rep->reason, sizeof rep->reason, "the runs agree on every step");
        *decided = true;
        return 0;
    }
    if (bs.verdict == TRACE_FAULT_A || bs.verdict == TRACE_FAULT_B || bs.verdict == TRACE_FAULT_BOTH) {
        rep->wrong = wrong_of(bs.verdict != TRACE_FAULT_B, bs.verdict != TRACE_FAULT_A);
        rep->step = bs.step;
        snprintf(rep->reason, sizeof rep->reason, "an answer did not verify against its root at step %" PRIu64, bs.step);
        *decided = true;
        return 0;
    }
    if (bs.verdict == TRACE_DIVERGES) {
        *j = bs.step;
        return 0;
    }
    bool diverges;
    if (trace_first_divergence(ta, tb, &diverges, j, err)) return -1;
    return diverges ? 0 : plow_error(err, "the traces' roots differ but no leaf does");
}

/* The referee's ruling on step j: state 0 rebuilt from the task, or one step
 * from the agreed state j-1, which a party must produce (its own cost). */
static void dispute_rule(proof_replay *r, const char *dir_a, const char *dir_b, const trace *ta, const trace *tb,
                         const trace_commitment *ca, const trace_commitment *cb, uint64_t j,
                         proof_dispute_report *rep) {
    const uint8_t *la = trace_leaf(ta, j), *lb = trace_leaf(tb, j);
    uint8_t ref[PLOW_HASH_LEN];
    char e2[PLOW_ERR_LEN];
    rep->step = j;
    if (j == 0) {
        double t0 = plow_now();
        proof_replay_reinit(r);
        proof_replay_hash(r, ref);
        rep->referee_seconds = plow_now() - t0;
        rep->wrong = wrong_of(memcmp(la, ref, PLOW_HASH_LEN) != 0, memcmp(lb, ref, PLOW_HASH_LEN) != 0);
        snprintf(rep->reason, sizeof rep->reason, "step 0: the initial state rebuilt by the referee from the task");
        return;
    }
    const uint8_t *agreed = trace_leaf(ta, j - 1);
    if (produce_state(r, dir_a, ta, j - 1, ca->checkpoint_every, agreed, e2) &&
        produce_state(r, dir_b, tb, j - 1, cb->checkpoint_every, agreed, e2)) {
        rep->wrong = PROOF_BOTH;
        snprintf(rep->reason, sizeof rep->reason, "neither party can produce the agreed state %" PRIu64 ": %.300s", j - 1, e2);
        return;
    }
    plow_buf sb = {0};
    train_state_serialize(r->s, &sb);
    rep->state_bytes = sb.len;
    rep->bytes_exchanged += sb.len;
    plow_buf_release(&sb);
    double t0 = plow_now();
    proof_replay_step(r);
    proof_replay_hash(r, ref);
    rep->referee_seconds = plow_now() - t0;
    rep->wrong = wrong_of(memcmp(la, ref, PLOW_HASH_LEN) != 0, memcmp(lb, ref, PLOW_HASH_LEN) != 0);
    snprintf(rep->reason, sizeof rep->reason, "step %" PRIu64 " recomputed by the referee from the agreed state %" PRIu64,
             j, j - 1);
}

int proof_dispute(const char *dir_a, const char *dir_b, proof_dispute_report *rep, char err[PLOW_ERR_LEN]) {
    memset(rep, 0, sizeof *rep);
    proof_replay *r = NULL;
    trace *ta = NULL, *tb = NULL;
    trace_commitment ca, cb;
    int rc = -1;
    char e2[PLOW_ERR_LEN];
    if (load_commitment(dir_a, &ta, &ca, err) || load_commitment(dir_b, &tb, &cb, err)) goto out;
    if (proof_replay_open(&r, dir_a, err)) goto out;
    bool bad_a = trace_commitment_check(&ca, ta, e2) != 0, bad_b = trace_commitment_check(&cb, tb, e2) != 0;
    if (bad_a || bad_b) {
        rep->wrong = wrong_of(bad_a, bad_b);
        snprintf(rep->reason, sizeof rep->reason, "a published trace does not match its commitment");
        rc = 0;
        goto out;
    }
    if (memcmp(ca.task, cb.task, PLOW_HASH_LEN) != 0 || ca.n != cb.n) {
        plow_error(err, "the two runs are for different tasks: nothing to dispute");
        goto out;
    }
    uint8_t tid[PLOW_HASH_LEN];
    train_state_task_id(r->s, tid);
    if (memcmp(tid, ca.task, PLOW_HASH_LEN) != 0) {
        plow_error(err, "'%s' commits to a task other than its task.json", dir_a);
        goto out;
    }
    bool decided;
    uint64_t j = 0;
    if (dispute_locate(ta, tb, ca.n, rep, &decided, &j, err)) goto out;
    if (!decided) dispute_rule(r, dir_a, dir_b, ta, tb, &ca, &cb, j, rep);
    rc = 0;
out:
    trace_free(ta);
    trace_free(tb);
    proof_replay_free(r);
    return rc;
}
