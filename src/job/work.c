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
#include "../train/train.h"
#include "work.h"

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
}

int job_train_opts_check(job_train_opts *o, char err[PLOW_ERR_LEN]) {
    if (!o->data) return plow_error(err, "--data FILE is required");
    if (!o->out) return plow_error(err, "--out DIR is required");
    if (o->lora && !o->base) return plow_error(err, "--lora needs --base DIR (the model to adapt)");
    if (!o->lora && o->base) return plow_error(err, "--base is only used with --lora");
    if (o->commit && o->no_hashes) return plow_error(err, "--commit needs the per-step hashes (drop --no-hashes)");
    if (o->steps < 1) return plow_error(err, "steps must be at least 1");
    if (o->commit && o->every < 1) return plow_error(err, "the checkpoint interval must be at least 1");
    if (o->cheat) {
        job_cheat_kind k;
        if (job_cheat_parse(o->cheat, o->steps, &k, &o->cheat_step, err)) return -1;
    }
    return 0;
}

int job_train_task(const job_train_opts *o, const tokenizer *tok, const dataset *data, const model *base,
                   proof_task *t, char err[PLOW_ERR_LEN]) {
    memset(t, 0, sizeof *t);
    t->is_lora = o->lora;
    if (o->lora) {
        if (!base) return plow_error(err, "a LoRA task needs its base model");
        t->cfg = base->cfg;
        unsigned mask;
        if (lora_parse_targets(o->targets, &mask, err)) return -1;
        t->rank = (int)o->rank;
        t->alpha = (float)o->alpha;
        t->targets = mask;
        abs_path(o->base, t->base, sizeof t->base);
        model_hash(base, t->base_hash);
    } else if (model_config_named(o->config, tokenizer_vocab_size(tok), &t->cfg, err)) {
        return -1;
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
    memcpy(t->data_hash, data->hash, PLOW_HASH_LEN);
    t->checkpoint_every = o->every > 0 ? (uint32_t)o->every : 0;
    return 0;
}

/* ---- training ------------------------------------------------------------------ */

typedef struct cheat_plan {
    job_cheat_kind kind;
    long step;
    double rate;
    uint64_t seed;
    long steps;
} cheat_plan;

/* One training step, or what a cheating worker does instead (step = the
 * index of the step being taken, 1-based). */
static void run_step(train_state *s, const dataset *data, const cheat_plan *c, long step, train_stats *st,
                     int32_t *bx, int32_t *by) {
    const train_hparams *hp = train_state_hparams(s);
    bool active = c->kind != JOB_CHEAT_NONE && step >= c->step;
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
    if (active && (c->kind == JOB_CHEAT_SEED || c->kind == JOB_CHEAT_DATA)) {
        bool other_data = c->kind == JOB_CHEAT_DATA;
        const int32_t *src = other_data ? data->val : data->train;
        size_t n = other_data ? data->n_val : data->n_train;
        dataset_batch(src, n, data->hash, hp->seed + (other_data ? 0 : 1), DATASET_PURPOSE_TRAIN,
                      (uint32_t)train_state_step(s), hp->batch, hp->seq, bx, by);
        train_step_batch(s, bx, by, st);
    } else {
        train_step(s, data, st);
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
    if (o->lora) {
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

static int write_run_json(const job_train_opts *o, const model *m, const dataset *data, const train_hparams *hp,
                          float val, double tps, const char *state_hex, char err[PLOW_ERR_LEN]) {
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "kind", o->lora ? "lora" : "model");
    cJSON_AddStringToObject(j, "config", m->cfg.name);
    cJSON_AddStringToObject(j, "data", o->data);
    char dh[65];
    plow_hex(data->hash, PLOW_HASH_LEN, dh);
    cJSON_AddStringToObject(j, "data_hash", dh);
    cJSON_AddNumberToObject(j, "steps", (double)o->steps);
    char seed[32];
    snprintf(seed, sizeof seed, "%llu", (unsigned long long)o->seed);
    cJSON_AddStringToObject(j, "seed", seed);
    cJSON_AddNumberToObject(j, "batch", hp->batch);
    cJSON_AddNumberToObject(j, "seq", hp->seq);
    cJSON_AddNumberToObject(j, "final_val_loss", (double)val);
    cJSON_AddNumberToObject(j, "tokens_per_second", tps);
    cJSON_AddStringToObject(j, "state", state_hex);
    char *js = cJSON_Print(j);
    cJSON_Delete(j);
    char *p = path2(o->out, "run.json");
    int rc = plow_write_file(p, js, strlen(js), err);
    free(p);
    free(js);
    return rc;
}

int job_train(const job_train_opts *o, const job_hooks *h, job_train_result *res, char err[PLOW_ERR_LEN]) {
    memset(res, 0, sizeof *res);
    cheat_plan cheat = {JOB_CHEAT_NONE, o->cheat_step, o->cheat_rate, o->seed, o->steps};
    if (o->cheat && job_cheat_parse(o->cheat, o->steps, &cheat.kind, &cheat.step, err)) return -1;
    if (o->cheat && o->cheat_step > 0) cheat.step = o->cheat_step;
    int rc = -1;
    tokenizer *tok = NULL;
    dataset *data = NULL;
    model *m = NULL;
    lora *l = NULL;
    train_state *s = NULL;
    FILE *states = NULL, *log = NULL;
    uint8_t *leaves = NULL;
    proof_ckpt_writer *ckw = NULL;
    int32_t *bx = NULL, *by = NULL;
    plow_buf sb = {0};
    char e2[PLOW_ERR_LEN];
    proof_task task;
    uint64_t init_shift = cheat.kind == JOB_CHEAT_INIT ? 1 : 0; /* init: not the task's start */

    if (plow_mkdir_p(o->out, err) || get_tokenizer(o, h, &tok, err)) goto out;
    {
        char *tp = path2(o->out, "tokenizer.bin");
        int trc = tokenizer_save(tok, tp, err);
        free(tp);
        if (trc) goto out;
    }
    if (dataset_load_text(&data, o->data, tok, o->val_frac, err)) goto out;
    if (o->lora && modelio_load_model(&m, o->base, e2)) {
        plow_error(err, "cannot load the base model: %s", e2);
        goto out;
    }
    if (job_train_task(o, tok, data, m, &task, err)) goto out;
    if (o->lora) {
        if (lora_new(&l, &m->cfg, task.rank, task.alpha, task.targets, err)) goto out;
        lora_init_weights(l, o->init_seed + init_shift);
    } else {
        if (model_new(&m, &task.cfg, err)) goto out;
        model_init_weights(m, o->init_seed + init_shift);
    }
    if (m->cfg.vocab != tokenizer_vocab_size(tok)) {
        plow_error(err, "the tokenizer has %d tokens but the model has %d", tokenizer_vocab_size(tok), m->cfg.vocab);
        goto out;
    }
    const train_hparams *hp = &task.hp;
    if (data->n_train <= (size_t)hp->seq || data->n_val <= (size_t)hp->seq) {
        plow_error(err, "'%s' is too short: %zu training and %zu validation tokens, need more than %d each (lower --seq)",
                   o->data, data->n_train, data->n_val, hp->seq);
        goto out;
    }
    if (train_state_new(&s, m, l, hp, data->hash, err)) goto out;
    size_t trainable = o->lora ? l->n_params : m->n_params;
    note(h, "%s%s, %zu trainable parameters, %zu train / %zu val tokens, %d x %d tokens per step, %s x %d threads",
         m->cfg.name, o->lora ? " + LoRA" : "", trainable, data->n_train, data->n_val, hp->batch, hp->seq,
         tensor_path_name(tensor_path_get()), tensor_threads());

    if (!(states = open_in(o->out, "states.txt", err)) || !(log = open_in(o->out, "train_log.csv", err))) goto out;
    fprintf(log, "step,loss,grad_norm,lr,val_loss,seconds\n");
    uint8_t hash[PLOW_HASH_LEN];
    char hex[65];
    leaves = o->commit ? plow_alloc((size_t)(o->steps + 1) * PLOW_HASH_LEN) : NULL;
    bx = plow_alloc(sizeof(int32_t) * (size_t)hp->batch * hp->seq);
    by = plow_alloc(sizeof(int32_t) * (size_t)hp->batch * hp->seq);
    if (!o->no_hashes) {
        train_state_hash(s, hash);
        plow_hex(hash, PLOW_HASH_LEN, hex);
        fprintf(states, "0 %s\n", hex);
        if (leaves) memcpy(leaves, hash, PLOW_HASH_LEN);
    }
    if (o->commit) ckw = proof_ckpt_writer_new(o->out);
    if (ckw && proof_ckpt_writer_submit(ckw, s, err)) goto out;
    if (o->eval_every > 0) { /* the loss before any training, as step 0 */
        float v0 = train_eval(s, data->val, data->n_val, (int)o->eval_batches);
        fprintf(log, "0,,,,%.6f,\n", (double)v0);
        note(h, "validation loss before training %.4f", (double)v0);
    }
    progress(h, "train", 0, o->steps, NULL);
    double tokens = 0, train_secs = 0;
    float val = NAN;
    for (long i = 0; i < o->steps; i++) {
        train_stats st;
        run_step(s, data, &cheat, i + 1, &st, bx, by);
        tokens += (double)hp->batch * hp->seq;
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
        if (eval) val = train_eval(s, data->val, data->n_val, (int)o->eval_batches);
        fprintf(log, "%ld,%.6f,%.6f,%.6g,", i + 1, (double)st.loss, (double)st.gnorm, (double)st.lr);
        if (eval) fprintf(log, "%.6f", (double)val);
        fprintf(log, ",%.4f\n", st.seconds);
        char extra[128];
        if (!eval)
            snprintf(extra, sizeof extra, "loss %.4f lr %.2e %.0f tok/s", (double)st.loss, (double)st.lr,
                     tokens / train_secs);
        else
            snprintf(extra, sizeof extra, "loss %.4f val %.4f lr %.2e %.0f tok/s", (double)st.loss, (double)val,
                     (double)st.lr, tokens / train_secs);
        progress(h, "train", i + 1, o->steps, extra);
    }
    fflush(states);
    fflush(log);
    /* artifacts */
    size_t wn;
    float *wts = train_state_weights(s, &wn), wkeep = wts[0];
    if (cheat.kind == JOB_CHEAT_SWAP) wts[0] += 1.0f; /* publish a model that is not the final state */
    int src = o->lora ? modelio_save_lora(l, m, o->out, err) : modelio_save_model(m, o->out, err);
    if (o->lora) lora_hash(l, res->artifact);
    else model_hash(m, res->artifact);
    wts[0] = wkeep;
    if (src) goto out;
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
    if (write_run_json(o, m, data, hp, val, res->tokens_per_second, hex, err)) goto out;
    note(h, "validation loss %.4f, %.0f tokens/s, wrote %s", (double)val, res->tokens_per_second, o->out);
    rc = 0;
out:
    proof_ckpt_writer_finish(ckw, NULL);
    free(leaves);
    free(bx);
    free(by);
    if (states) fclose(states);
    if (log) fclose(log);
    plow_buf_release(&sb);
    train_state_free(s);
    lora_free(l);
    model_free(m);
    dataset_free(data);
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
