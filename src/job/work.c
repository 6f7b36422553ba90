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

/* The absolute form of a path (so a verifier can run from anywhere). */
static void abs_path(const char *p, char *out, size_t cap) {
    char *r = realpath(p, NULL);
    snprintf(out, cap, "%s", r && strlen(r) < cap ? r : p);
    free(r);
}

/* ---- options ------------------------------------------------------------------ */

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
    rl_params_default(&o->rl);
    o->problems = (problem_set){PROBLEM_ALL_KINDS, 1, 2, PROBLEM_TRAIN, 1};
}

int job_train_opts_check(job_train_opts *o, char err[PLOW_ERR_LEN]) {
    if ((unsigned)o->kind >= TASK_KIND_COUNT || !task_kind_replays(o->kind))
        return plow_error(err, "a %s task is not a training run", task_kind_name(o->kind));
    const job_kind *k = job_kind_of(o->kind);
    if (!o->data && k->data_file) return plow_error(err, "--data FILE is required");
    if (o->data && !k->data_file) return plow_error(err, "a %s run draws no data from a file (drop --data)", task_kind_label(o->kind));
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
    if (o->head != JOB_HEAD_CONFIG) {
        if (task_kind_needs_base(o->kind))
            return plow_error(err, "a tied or untied head is chosen for a model trained from scratch; a %s task "
                                   "keeps its base model's head", task_kind_label(o->kind));
        t->cfg.tied = o->head == JOB_HEAD_TIED;
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
    if (o->data) abs_path(o->data, t->data, sizeof t->data);
    t->val_frac = o->val_frac;
    t->checkpoint_every = o->every > 0 ? (uint32_t)o->every : 0;
    const job_kind *k = job_kind_of(o->kind);
    if (k->opts_task && k->opts_task(o, t, err)) return -1;
    dataset view;
    const dataset *text;
    return proof_inputs_steps(t, in, tok, &view, &text, t->data_hash, err);
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
