/*
 * work.c — training and generation as library calls (see work.h).
 *
 * This is the body `plow train` and `plow generate` used to have, moved here
 * unchanged in behaviour so the job layer can run the same code: a worker's
 * task and the same command line produce the same files and hashes.
 */
#include "../base/plow.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>

#include "../data/dataset.h"
#include "../data/tokenizer.h"
#include "../model/modelio.h"
#include "../proof/receipt.h"
#include "../tensor/tensor.h"
#include "../train/round.h"
#include "../train/train.h"
#include "job_internal.h"

static void note(const job_hooks *h, const char *fmt, ...) PLOW_PRINTF(2, 3);
static void note(const job_hooks *h, const char *fmt, ...) {
    if (!h || !h->note) return;
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    h->note(h->arg, line);
}

static void progress(const job_hooks *h, const char *phase, long done, long total, const char *extra) {
    if (h && h->progress) h->progress(h->arg, phase, done, total, extra);
}

static char *path2(const char *dir, const char *file) {
    size_t n = strlen(dir) + strlen(file) + 2;
    char *p = plow_alloc(n);
    snprintf(p, n, "%s/%s", dir, file);
    return p;
}

/* The absolute form of a path (so a verifier can run from anywhere). */
static void abs_path(const char *p, char *out, size_t cap) {
    char *r = realpath(p, NULL);
    snprintf(out, cap, "%s", r && strlen(r) < cap ? r : p);
    free(r);
}

/* ---- options ------------------------------------------------------------------ */

static const char *const cheat_names[JOB_CHEAT_COUNT] = {
    [JOB_CHEAT_PERTURB] = "perturb", [JOB_CHEAT_SKIP] = "skip",       [JOB_CHEAT_SEED] = "seed",
    [JOB_CHEAT_DATA] = "data",       [JOB_CHEAT_LOWPREC] = "lowprec", [JOB_CHEAT_SWAP] = "swap",
    [JOB_CHEAT_BADCKPT] = "badckpt", [JOB_CHEAT_INIT] = "init",
};

int job_cheat_parse(const char *s, long steps, job_cheat_kind *kind, long *step, char err[PLOW_ERR_LEN]) {
    const char *at = strchr(s, '@');
    size_t len = at ? (size_t)(at - s) : strlen(s);
    *kind = JOB_CHEAT_NONE;
    for (int i = 1; i < JOB_CHEAT_COUNT; i++)
        if (strlen(cheat_names[i]) == len && strncmp(cheat_names[i], s, len) == 0) *kind = (job_cheat_kind)i;
    if (*kind == JOB_CHEAT_NONE)
        return plow_error(err, "unknown cheat '%.*s' (perturb, skip, seed, data, lowprec, swap, badckpt, init)",
                          (int)(len > 64 ? 64 : len), s);
    *step = steps / 2 > 0 ? steps / 2 : 1;
    if (at) {
        char *end;
        errno = 0;
        long v = strtol(at + 1, &end, 10);
        if (errno || end == at + 1 || *end || v < 1 || v > steps)
            return plow_error(err, "--cheat STEP expects a whole number in 1..%ld, got '%.64s'", steps, at + 1);
        *step = v;
    }
    return 0;
}

void job_train_opts_init(job_train_opts *o) {
    memset(o, 0, sizeof *o);
    o->config = "small";
    o->targets = "q,k,v,o";
    o->steps = 200;
    o->seed = 1;
    o->init_seed = 1;
    o->vocab = 4096;
    o->batch = 16;
    o->eval_batches = 8;
    o->rank = 8;
    o->alpha = 16;
    o->clip = 1.0;
    o->val_frac = 0.1;
    o->every = 16;
    o->cheat_step = -1;
    o->beta = 0.1;
}

int job_train_opts_check(job_train_opts *o, char err[PLOW_ERR_LEN]) {
    if ((unsigned)o->kind >= TASK_KIND_COUNT || !task_kind_replays(o->kind))
        return plow_error(err, "a %s task is not a training run", task_kind_name(o->kind));
    const job_kind *k = job_kind_of(o->kind);
    if (!o->data) return plow_error(err, "--data FILE is required");
    if (o->heldout && !k->takes_heldout) return plow_error(err, "--heldout is for DPO runs (--dpo)");
    if (!o->out) return plow_error(err, "--out DIR is required");
    if (k->opts_check(o, err)) return -1;
    if (o->commit && o->no_hashes) return plow_error(err, "--commit needs the per-step hashes (drop --no-hashes)");
    if (o->steps < 1) return plow_error(err, "steps must be at least 1");
    if (o->commit && o->every < 1) return plow_error(err, "the checkpoint interval must be at least 1");
    if (o->cheat) {
        job_cheat_kind c;
        if (job_cheat_parse(o->cheat, o->steps, &c, &o->cheat_step, err)) return -1;
    }
    return 0;
}

int job_train_task(const job_train_opts *o, const tokenizer *tok, const proof_inputs *in, const model *base,
                   proof_task *t, char err[PLOW_ERR_LEN]) {
    memset(t, 0, sizeof *t);
    t->kind = o->kind;
    t->lora = o->lora;
    if (task_kind_needs_base(o->kind)) {
        if (!base) return plow_error(err, "a %s task needs its base model", task_kind_label(o->kind));
        t->cfg = base->cfg;
        abs_path(o->base, t->base, sizeof t->base);
        model_hash(base, t->base_hash);
    } else if (model_config_named(o->config, tokenizer_vocab_size(tok), &t->cfg, err)) {
        return -1;
    }
    if (o->lora) {
        unsigned mask;
        if (lora_parse_targets(o->targets, &mask, err)) return -1;
        t->rank = (int)o->rank;
        t->alpha = (float)o->alpha;
        t->targets = mask;
    }
    train_hparams *hp = &t->hp;
    train_hparams_default(hp, o->lora, (int)o->steps, t->cfg.ctx);
    hp->batch = (int)o->batch;
    if (o->seq_set) hp->seq = (int)o->seq;
    if (o->lr_set) {
        hp->lr = (float)o->lr;
        hp->min_lr = hp->lr * 0.1f;
    }
    if (o->min_lr_set) hp->min_lr = (float)o->min_lr;
    if (o->warmup_set) hp->warmup = (int)o->warmup;
    if (o->wd_set) hp->wd = (float)o->wd;
    hp->clip = (float)o->clip;
    hp->seed = o->seed;
    hp->init_seed = o->init_seed;
    abs_path(o->data, t->data, sizeof t->data);
    t->val_frac = o->val_frac;
    t->checkpoint_every = o->every > 0 ? (uint32_t)o->every : 0;
    const job_kind *k = job_kind_of(o->kind);
    if (k->opts_task && k->opts_task(o, t, err)) return -1;
    dataset view;
    const dataset *text;
    return proof_inputs_steps(t, in, &view, &text, t->data_hash, err);
}

/* ---- training ------------------------------------------------------------------ */

typedef struct cheat_plan {
    job_cheat_kind kind;
    long step;
    double rate;
    uint64_t seed;
    long steps;
} cheat_plan;

/* What the steps draw from: a dataset (ROUND: the shard), or a pair set
 * (DPO); and scratch for the cheats that draw their own batches. */
typedef struct step_src {
    const dataset *data;
    const prefs *pairs;
    int32_t *bx, *by, *span;
} step_src;

/* One training or DPO step, or what a cheating worker does instead (step =
 * the index of the step being taken, 1-based). ds: DPO metrics (zeros when
 * skipped). */
static void run_step(train_state *s, const step_src *src, const cheat_plan *c, long step, train_stats *st,
                     dpo_stats *ds) {
    const train_hparams *hp = train_state_hparams(s);
    bool active = c->kind != JOB_CHEAT_NONE && step >= c->step;
    memset(ds, 0, sizeof *ds);
    if (c->kind == JOB_CHEAT_SKIP) {
        bool skip = c->rate > 0
                        ? tensor_uniform((tensor_rng_key){c->seed ^ 0x5EED, 77, 0}, (uint64_t)step) < (float)c->rate &&
                              step < c->steps
                        : step == c->step;
        if (skip) { /* copy the state forward: no work, just the counter */
            train_state_set_step(s, train_state_step(s) + 1);
            memset(st, 0, sizeof *st);
            return;
        }
    }
    bool own_batch = active && (c->kind == JOB_CHEAT_SEED || c->kind == JOB_CHEAT_DATA);
    if (own_batch && src->pairs) {
        /* seed: pairs drawn with another seed; data: chosen and rejected swapped */
        bool swap = c->kind == JOB_CHEAT_DATA;
        int B = hp->batch, T = hp->seq;
        prefs_batch(src->pairs, hp->seed + (swap ? 0 : 1), PREFS_PURPOSE_TRAIN, (uint32_t)train_state_step(s), B, T,
                    src->bx, src->by, src->span);
        for (int b = 0; swap && b < B; b++) {
            int32_t *r0 = src->bx + (size_t)2 * b * T, *r1 = r0 + T, *y0 = src->by + (size_t)2 * b * T, *y1 = y0 + T;
            for (int i = 0; i < T; i++) {
                int32_t t0 = r0[i], t1 = y0[i];
                r0[i] = r1[i], r1[i] = t0;
                y0[i] = y1[i], y1[i] = t1;
            }
            int32_t *sp = src->span + 4 * b, a0 = sp[0], a1 = sp[1];
            sp[0] = sp[2], sp[1] = sp[3], sp[2] = a0, sp[3] = a1;
        }
        dpo_batch db = {B, T, src->bx, src->by, src->span};
        dpo_step_batch(s, &db, st, ds);
    } else if (own_batch) {
        bool other_data = c->kind == JOB_CHEAT_DATA;
        const dataset *data = src->data;
        const int32_t *from = other_data ? data->val : data->train;
        size_t n = other_data ? data->n_val : data->n_train;
        dataset_batch(from, n, data->hash, hp->seed + (other_data ? 0 : 1), DATASET_PURPOSE_TRAIN,
                      (uint32_t)train_state_step(s), hp->batch, hp->seq, src->bx, src->by);
        train_step_batch(s, src->bx, src->by, st);
    } else if (src->pairs) {
        dpo_step(s, src->pairs, st, ds);
    } else {
        train_step(s, src->data, st);
    }
    size_t n;
    float *w = train_state_weights(s, &n);
    if (c->kind == JOB_CHEAT_PERTURB && step == c->step) w[0] += 1e-3f;
    if (active && c->kind == JOB_CHEAT_LOWPREC) /* bfloat16 weights: keep the top 16 bits */
        for (size_t i = 0; i < n; i++) {
            uint32_t u;
            memcpy(&u, &w[i], 4);
            u &= 0xFFFF0000u;
            memcpy(&w[i], &u, 4);
        }
}

static FILE *open_in(const char *dir, const char *file, char err[PLOW_ERR_LEN]) {
    char *p = path2(dir, file);
    FILE *f = fopen(p, "w");
    if (!f) plow_error(err, "cannot create '%s'", p);
    free(p);
    return f;
}

typedef struct tok_ctx {
    const job_hooks *h;
} tok_ctx;

static void tok_progress(void *ctx, int done, int total) {
    const tok_ctx *t = ctx;
    progress(t->h, "tokenizer", done, total, "");
}

/* Loads, reuses or trains the run's tokenizer. */
static int get_tokenizer(const job_train_opts *o, const job_hooks *h, tokenizer **tok, char err[PLOW_ERR_LEN]) {
    char e2[PLOW_ERR_LEN];
    if (o->tokenizer) return tokenizer_load(tok, o->tokenizer, err);
    if (o->base) { /* LoRA, DPO, ROUND: the base model's */
        if (modelio_load_tokenizer(tok, o->base, e2)) return plow_error(err, "%s (pass --tokenizer FILE)", e2);
        return 0;
    }
    uint8_t *buf;
    size_t n;
    if (plow_read_file(o->data, TOKENIZER_MAX_TRAIN_BYTES, &buf, &n, err)) return -1;
    tok_ctx tc = {h};
    progress(h, "tokenizer", 0, o->vocab - 257, NULL);
    int rc = tokenizer_train(tok, buf, n, (int)o->vocab, tok_progress, &tc, e2);
    free(buf);
    if (rc) return plow_error(err, "cannot train a tokenizer on '%s': %s", o->data, e2);
    return 0;
}

static int write_run_json(const job_train_opts *o, const model *m, const uint8_t data_hash[PLOW_HASH_LEN],
                          const train_hparams *hp, const job_train_result *res, const char *state_hex,
                          char err[PLOW_ERR_LEN]) {
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "kind", (o->kind == TASK_DPO) ? (o->lora ? "dpo-lora" : "dpo") : (o->kind == TASK_ROUND) ? "round" : o->lora ? "lora" : "model");
    cJSON_AddStringToObject(j, "config", m->cfg.name);
    cJSON_AddStringToObject(j, "data", o->data);
    char dh[65];
    plow_hex(data_hash, PLOW_HASH_LEN, dh);
    cJSON_AddStringToObject(j, "data_hash", dh);
    cJSON_AddNumberToObject(j, "steps", (double)o->steps);
    char seed[32];
    snprintf(seed, sizeof seed, "%llu", (unsigned long long)o->seed);
    cJSON_AddStringToObject(j, "seed", seed);
    cJSON_AddNumberToObject(j, "batch", hp->batch);
    cJSON_AddNumberToObject(j, "seq", hp->seq);
    cJSON_AddNumberToObject(j, "final_val_loss", (double)res->val_loss);
    cJSON_AddNumberToObject(j, "tokens_per_second", res->tokens_per_second);
    cJSON_AddStringToObject(j, "state", state_hex);
    if ((o->kind == TASK_DPO)) {
        cJSON_AddNumberToObject(j, "beta", o->beta);
        for (int k = 0; k < 2; k++) {
            const dpo_eval_stats *e = k ? &res->dpo_after : &res->dpo_before;
            cJSON *x = cJSON_AddObjectToObject(j, k ? "eval_after" : "eval_before");
            cJSON_AddNumberToObject(x, "pairs", (double)e->pairs);
            cJSON_AddNumberToObject(x, "loss", e->loss);
            cJSON_AddNumberToObject(x, "accuracy", e->accuracy);
            cJSON_AddNumberToObject(x, "margin", e->margin);
            cJSON_AddNumberToObject(x, "policy_accuracy", e->policy_accuracy);
            cJSON_AddNumberToObject(x, "policy_margin", e->policy_margin);
        }
    }
    if ((o->kind == TASK_ROUND)) cJSON_AddNumberToObject(j, "contribution_bytes", (double)res->contribution_bytes);
    char *js = cJSON_Print(j);
    cJSON_Delete(j);
    char *p = path2(o->out, "run.json");
    int rc = plow_write_file(p, js, strlen(js), err);
    free(p);
    free(js);
    return rc;
}

/* The evaluation of a DPO run: the held-out pairs, else the first 64 pairs of
 * the training set. */
static void dpo_evaluate(train_state *s, const prefs *train, const prefs *heldout, dpo_eval_stats *out) {
    dpo_eval(s, heldout ? heldout : train, heldout ? 0 : 64, out);
}

int job_train(const job_train_opts *o, const job_hooks *h, job_train_result *res, char err[PLOW_ERR_LEN]) {
    memset(res, 0, sizeof *res);
    cheat_plan cheat = {JOB_CHEAT_NONE, o->cheat_step, o->cheat_rate, o->seed, o->steps};
    if (o->cheat && job_cheat_parse(o->cheat, o->steps, &cheat.kind, &cheat.step, err)) return -1;
    if (o->cheat && o->cheat_step > 0) cheat.step = o->cheat_step;
    int rc = -1;
    tokenizer *tok = NULL;
    dataset *data = NULL, shard;
    prefs *pairs = NULL, *heldout = NULL;
    model *m = NULL;
    lora *l = NULL;
    train_state *s = NULL;
    FILE *states = NULL, *log = NULL;
    uint8_t *leaves = NULL;
    proof_ckpt_writer *ckw = NULL;
    step_src src = {0};
    plow_buf sb = {0}, cb = {0};
    float *w0 = NULL;
    char e2[PLOW_ERR_LEN];
    proof_task task;
    const uint8_t *data_hash = NULL;
    uint64_t init_shift = cheat.kind == JOB_CHEAT_INIT ? 1 : 0; /* init: not the task's start */

    if (plow_mkdir_p(o->out, err) || get_tokenizer(o, h, &tok, err)) goto out;
    {
        char *tp = path2(o->out, "tokenizer.bin");
        int trc = tokenizer_save(tok, tp, err);
        free(tp);
        if (trc) goto out;
    }
    {
        proof_task kt = {.kind = o->kind, .val_frac = o->val_frac};
        snprintf(kt.data, sizeof kt.data, "%s", o->data);
        proof_inputs in;
        if (proof_inputs_load(&kt, tok, &in, err)) goto out;
        data = in.text;
        pairs = in.pairs;
    }
    if (o->heldout && prefs_load(&heldout, o->heldout, tok, err)) goto out;
    if (o->base && modelio_load_model(&m, o->base, e2)) {
        plow_error(err, "cannot load the base model: %s", e2);
        goto out;
    }
    {
        proof_inputs in = {data, pairs};
        if (job_train_task(o, tok, &in, m, &task, err)) goto out;
    }
    data_hash = task.data_hash;
    if (o->lora) {
        if (lora_new(&l, &m->cfg, task.rank, task.alpha, task.targets, err)) goto out;
        lora_init_weights(l, o->init_seed + init_shift);
    } else if (!o->base) {
        if (model_new(&m, &task.cfg, err)) goto out;
        model_init_weights(m, o->init_seed + init_shift);
    }
    if (m->cfg.vocab != tokenizer_vocab_size(tok)) {
        plow_error(err, "the tokenizer has %d tokens but the model has %d", tokenizer_vocab_size(tok), m->cfg.vocab);
        goto out;
    }
    const train_hparams *hp = &task.hp;
    const dataset *train_on = NULL;
    if (data) {
        proof_inputs in = {data, pairs};
        uint8_t dh[PLOW_HASH_LEN];
        if (proof_inputs_steps(&task, &in, &shard, &train_on, dh, err)) goto out;
    }
    if (data && (train_on->n_train <= (size_t)hp->seq || data->n_val <= (size_t)hp->seq)) {
        plow_error(err, "'%s'%s is too short: %zu training and %zu validation tokens, need more than %d each (lower --seq)",
                   o->data, (o->kind == TASK_ROUND) ? " (this participant's shard)" : "", train_on->n_train, data->n_val, hp->seq);
        goto out;
    }
    if ((o->kind == TASK_DPO)) {
        /* full DPO: the reference is the base as loaded (copied by the state) */
        if (train_state_new_dpo(&s, m, l, hp, (float)o->beta, data_hash, err)) goto out;
    } else if (train_state_new(&s, m, l, hp, data_hash, err)) {
        goto out;
    }
    size_t trainable;
    float *wts0 = train_state_weights(s, &trainable);
    if ((o->kind == TASK_ROUND)) { /* W_t: the start of the pseudo-gradient */
        w0 = plow_alloc(trainable * sizeof(float));
        memcpy(w0, wts0, trainable * sizeof(float));
    }
    if (init_shift && o->base && !o->lora) wts0[0] += 1e-3f; /* init cheat on a run that starts from the base */
    src.data = train_on;
    src.pairs = pairs;
    if ((o->kind == TASK_DPO))
        note(h, "%s%s DPO (beta %g), %zu trainable parameters, %zu pairs%s, %d pairs x %d tokens per step, %s x %d threads",
             m->cfg.name, o->lora ? " + LoRA" : "", o->beta, trainable, pairs->n, heldout ? " (+ held-out)" : "",
             hp->batch, hp->seq, tensor_path_name(tensor_path_get()), tensor_threads());
    else
        note(h, "%s%s%s, %zu trainable parameters, %zu train / %zu val tokens, %d x %d tokens per step, %s x %d threads",
             m->cfg.name, o->lora ? " + LoRA" : "", (o->kind == TASK_ROUND) ? " (round participant)" : "", trainable,
             train_on->n_train, data->n_val, hp->batch, hp->seq, tensor_path_name(tensor_path_get()), tensor_threads());

    if (!(states = open_in(o->out, "states.txt", err)) || !(log = open_in(o->out, "train_log.csv", err))) goto out;
    fprintf(log, (o->kind == TASK_DPO) ? "step,loss,grad_norm,lr,val_loss,seconds,margin,accuracy,chosen_reward,rejected_reward,"
                          "val_accuracy,val_margin,val_policy_accuracy,val_policy_margin\n"
                        : "step,loss,grad_norm,lr,val_loss,seconds\n");
    uint8_t hash[PLOW_HASH_LEN];
    char hex[65];
    leaves = o->commit ? plow_alloc((size_t)(o->steps + 1) * PLOW_HASH_LEN) : NULL;
    size_t rows = (size_t)hp->batch * ((o->kind == TASK_DPO) ? 2 : 1);
    src.bx = plow_alloc(sizeof(int32_t) * rows * hp->seq);
    src.by = plow_alloc(sizeof(int32_t) * rows * hp->seq);
    src.span = plow_alloc(sizeof(int32_t) * rows * 2);
    if (!o->no_hashes) {
        train_state_hash(s, hash);
        plow_hex(hash, PLOW_HASH_LEN, hex);
        fprintf(states, "0 %s\n", hex);
        if (leaves) memcpy(leaves, hash, PLOW_HASH_LEN);
    }
    if (o->commit) ckw = proof_ckpt_writer_new(o->out);
    if (ckw && proof_ckpt_writer_submit(ckw, s, err)) goto out;
    if ((o->kind == TASK_DPO)) { /* the base's preferences (the reward metrics are 0 at step 0) */
        dpo_evaluate(s, pairs, heldout, &res->dpo_before);
        const dpo_eval_stats *e = &res->dpo_before;
        if (o->eval_every > 0)
            fprintf(log, "0,,,,%.6f,,,,,,%.6f,%.6f,%.6f,%.6f\n", e->loss, e->accuracy, e->margin, e->policy_accuracy,
                    e->policy_margin);
        note(h, "%s pairs before training: policy accuracy %.4f, policy margin %.4f, DPO loss %.4f",
             heldout ? "held-out" : "training", e->policy_accuracy, e->policy_margin, e->loss);
    } else if (o->eval_every > 0) { /* the loss before any training, as step 0 */
        float v0 = train_eval(s, data->val, data->n_val, (int)o->eval_batches);
        fprintf(log, "0,,,,%.6f,\n", (double)v0);
        note(h, "validation loss before training %.4f", (double)v0);
    }
    progress(h, "train", 0, o->steps, NULL);
    double tokens = 0, train_secs = 0;
    float val = NAN;
    dpo_eval_stats ev = {0};
    for (long i = 0; i < o->steps; i++) {
        train_stats st;
        dpo_stats ds;
        run_step(s, &src, &cheat, i + 1, &st, &ds);
        tokens += (double)rows * hp->seq;
        train_secs += st.seconds;
        if (!o->no_hashes) {
            train_state_hash(s, hash);
            plow_hex(hash, PLOW_HASH_LEN, hex);
            fprintf(states, "%ld %s\n", i + 1, hex);
            if (leaves) memcpy(leaves + (size_t)(i + 1) * PLOW_HASH_LEN, hash, PLOW_HASH_LEN);
        }
        if (o->commit && ((i + 1) % o->every == 0 || i + 1 == o->steps)) {
            size_t wn;
            float *w = train_state_weights(s, &wn), keep = w[0];
            bool lie = cheat.kind == JOB_CHEAT_BADCKPT && i + 1 >= cheat.step;
            if (lie) w[0] += 1e-3f; /* a checkpoint that is not the state the leaf hashes */
            int crc = proof_ckpt_writer_submit(ckw, s, err);
            w[0] = keep;
            if (crc) goto out;
        }
        bool eval = (o->eval_every > 0 && (i + 1) % o->eval_every == 0) || i + 1 == o->steps;
        if (eval && (o->kind == TASK_DPO)) {
            dpo_evaluate(s, pairs, heldout, &ev);
            val = (float)ev.loss;
        } else if (eval) {
            val = train_eval(s, data->val, data->n_val, (int)o->eval_batches);
        }
        fprintf(log, "%ld,%.6f,%.6f,%.6g,", i + 1, (double)st.loss, (double)st.gnorm, (double)st.lr);
        if (eval) fprintf(log, "%.6f", (double)val);
        fprintf(log, ",%.4f", st.seconds);
        if ((o->kind == TASK_DPO)) {
            fprintf(log, ",%.6f,%.6f,%.6f,%.6f,", (double)ds.margin, (double)ds.accuracy, (double)ds.chosen_reward,
                    (double)ds.rejected_reward);
            if (eval) fprintf(log, "%.6f,%.6f,%.6f,%.6f", ev.accuracy, ev.margin, ev.policy_accuracy, ev.policy_margin);
            else fprintf(log, ",,,");
        }
        fprintf(log, "\n");
        char extra[160];
        if ((o->kind == TASK_DPO))
            snprintf(extra, sizeof extra, "loss %.4f margin %.3f acc %.2f", (double)st.loss, (double)ds.margin,
                     (double)ds.accuracy);
        else if (!eval)
            snprintf(extra, sizeof extra, "loss %.4f lr %.2e %.0f tok/s", (double)st.loss, (double)st.lr,
                     tokens / train_secs);
        else
            snprintf(extra, sizeof extra, "loss %.4f val %.4f lr %.2e %.0f tok/s", (double)st.loss, (double)val,
                     (double)st.lr, tokens / train_secs);
        progress(h, "train", i + 1, o->steps, extra);
    }
    fflush(states);
    fflush(log);
    if ((o->kind == TASK_DPO)) res->dpo_after = ev;
    /* artifacts */
    size_t wn;
    float *wts = train_state_weights(s, &wn), wkeep = wts[0];
    if (cheat.kind == JOB_CHEAT_SWAP) wts[0] += 1.0f; /* publish a model that is not the final state */
    int src_rc = o->lora ? modelio_save_lora(l, m, o->out, err) : modelio_save_model(m, o->out, err);
    if (o->lora) lora_hash(l, res->artifact);
    else model_hash(m, res->artifact);
    if (src_rc == 0 && (o->kind == TASK_ROUND)) { /* the contribution: its hash is the artifact */
        float *delta = plow_alloc(wn * sizeof(float));
        for (size_t j = 0; j < wn; j++) delta[j] = w0[j] - wts[j];
        round_contrib c = {0};
        src_rc = round_contrib_make(&c, o->round_index, o->shard, o->outer_hash, delta, wn, (round_enc)o->enc,
                                    o->block, err);
        free(delta);
        if (src_rc == 0) {
            round_contrib_serialize(&c, &cb);
            round_contrib_hash(&c, res->artifact);
            res->contribution_bytes = cb.len;
            char *cp = path2(o->out, "contribution.bin");
            src_rc = plow_write_file(cp, cb.data, cb.len, err);
            free(cp);
        }
        round_contrib_release(&c);
    }
    wts[0] = wkeep;
    if (src_rc) goto out;
    if (ckw) {
        int frc = proof_ckpt_writer_finish(ckw, err);
        ckw = NULL;
        if (frc) goto out;
    }
    train_state_task_id(s, res->task_id);
    if (o->commit) {
        task.checkpoint_every = (uint32_t)o->every;
        if (proof_task_save(&task, o->out, err) ||
            proof_write_commitment(o->out, res->task_id, leaves, (uint64_t)o->steps, res->artifact,
                                   (uint32_t)o->every, err))
            goto out;
        merkle_root(leaves, (size_t)o->steps + 1, res->trace_root);
    }
    train_state_serialize(s, &sb);
    {
        char *sp = path2(o->out, "state.bin");
        int wrc = plow_write_file(sp, sb.data, sb.len, err);
        free(sp);
        if (wrc) goto out;
    }
    train_state_hash(s, res->state);
    plow_hex(res->state, PLOW_HASH_LEN, hex);
    res->n = (uint64_t)o->steps;
    res->val_loss = val;
    res->tokens_per_second = tokens / train_secs;
    if (write_run_json(o, m, data_hash, hp, res, hex, err)) goto out;
    if ((o->kind == TASK_DPO))
        note(h, "%s pairs after training: policy accuracy %.4f, policy margin %.4f, reward accuracy %.4f, margin %.4f, "
                "DPO loss %.4f; wrote %s",
             heldout ? "held-out" : "training", ev.policy_accuracy, ev.policy_margin, ev.accuracy, ev.margin, ev.loss,
             o->out);
    else
        note(h, "validation loss %.4f, %.0f tokens/s, wrote %s", (double)val, res->tokens_per_second, o->out);
    rc = 0;
out:
    proof_ckpt_writer_finish(ckw, NULL);
    free(leaves);
    free(src.bx);
    free(src.by);
    free(src.span);
    free(w0);
    if (states) fclose(states);
    if (log) fclose(log);
    plow_buf_release(&sb);
    plow_buf_release(&cb);
    train_state_free(s);
    lora_free(l);
    model_free(m);
    dataset_free(data);
    prefs_free(pairs);
    prefs_free(heldout);
    tokenizer_free(tok);
    return rc;
}

/* ---- generation ------------------------------------------------------------------ */

void job_gen_result_release(job_gen_result *r) {
    free(r->tokens);
    memset(r, 0, sizeof *r);
}

typedef struct gen_ctx {
    const job_hooks *h;
} gen_ctx;

static void on_token(void *ctx, int32_t t) {
    const gen_ctx *g = ctx;
    g->h->token(g->h->arg, t);
}

int job_generate(const job_gen_opts *o, const job_hooks *h, job_gen_result *res, char err[PLOW_ERR_LEN]) {
    memset(res, 0, sizeof *res);
    long cheat_at = 0;
    if (o->cheat) {
        char *end;
        if (strncmp(o->cheat, "perturb@", 8) != 0 || (cheat_at = strtol(o->cheat + 8, &end, 10)) < 1 || *end)
            return plow_error(err, "unknown generation cheat '%.64s' (perturb@K)", o->cheat);
    }
    int rc = -1;
    model *m = NULL;
    lora *l = NULL;
    tokenizer *tok = NULL;
    infer_session *s = NULL;
    int32_t *ids = NULL, *out = NULL;
    size_t nids = 0;
    char e2[PLOW_ERR_LEN];
    long ntok = o->tokens;
    if (!o->model || !o->prompt) return plow_error(err, "a model and a prompt are required");
    if (modelio_load_model(&m, o->model, err)) goto done;
    if (o->lora && modelio_load_lora(&l, m, o->lora, err)) goto done;
    if ((o->tokenizer ? tokenizer_load(&tok, o->tokenizer, e2) : modelio_load_tokenizer(&tok, o->model, e2))) {
        plow_error(err, "%s (pass --tokenizer FILE)", e2);
        goto done;
    }
    if (tokenizer_vocab_size(tok) != m->cfg.vocab) {
        plow_error(err, "the tokenizer has %d tokens but the model has %d", tokenizer_vocab_size(tok), m->cfg.vocab);
        goto done;
    }
    if (tokenizer_encode(tok, (const uint8_t *)o->prompt, strlen(o->prompt), &ids, &nids, err)) goto done;
    if (nids == 0) {
        plow_error(err, "the prompt is empty: give at least one character");
        goto done;
    }
    if (nids >= (size_t)m->cfg.ctx) {
        plow_error(err, "the prompt has %zu tokens; the model's context is %d", nids, m->cfg.ctx);
        goto done;
    }
    if (ntok < 0) ntok = 0;
    if ((size_t)ntok > (size_t)m->cfg.ctx - nids) {
        note(h, "only %zu tokens fit in the context after the prompt; generating that many", (size_t)m->cfg.ctx - nids);
        ntok = (long)((size_t)m->cfg.ctx - nids);
    }
    if (infer_session_new(&s, m, l, m->cfg.ctx, err)) goto done;
    out = plow_alloc(sizeof(int32_t) * (size_t)(ntok + 1));
    gen_ctx g = {h};
    if (h && h->start) h->start(h->arg);
    double t0 = plow_now();
    int n = infer_generate(s, ids, (int)nids, (int)ntok, &o->sampling, tokenizer_eot(tok), out,
                           h && h->token ? on_token : NULL, &g, err);
    res->seconds = plow_now() - t0;
    if (n < 0) goto done;
    if (cheat_at > 0 && cheat_at <= n) out[cheat_at - 1] = (out[cheat_at - 1] + 1) % m->cfg.vocab;
    res->n = (size_t)n;
    res->n_prompt = nids;
    model_hash(m, res->model_hash);
    receipt_tokens_hash(out, (size_t)n, res->tokens_hash);
    if (o->receipt) {
        receipt r;
        receipt_make(&r, m, l, tok, &o->sampling, ids, nids, out, (size_t)n);
        int wrc = receipt_save(&r, o->receipt, err);
        receipt_release(&r);
        if (wrc) goto done;
    }
    res->tokens = out;
    out = NULL;
    rc = 0;
done:
    if (rc) job_gen_result_release(res);
    free(ids);
    free(out);
    infer_session_free(s);
    tokenizer_free(tok);
    lora_free(l);
    model_free(m);
    return rc;
}
