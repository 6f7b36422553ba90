/*
 * train.c — AdamW with warm-up and cosine decay, global-norm clipping, the
 * step function, validation, and the canonical state (serialise, hash,
 * restore).
 *
 * Everything here is elementwise or goes through the canonical reductions, so
 * the step is deterministic. Powers and the cosine of the schedule are done in
 * double with plow's own functions, then rounded once to float.
 */
#include "../base/plow.h"

#include <math.h>

#include "../tensor/tensor.h"
#include "train.h"
#include "train_impl.h"

void train_hparams_default(train_hparams *hp, bool is_lora, int steps, int ctx) {
    memset(hp, 0, sizeof *hp);
    hp->batch = 16;
    hp->seq = ctx;
    hp->steps = steps;
    hp->warmup = steps / 20 > 0 ? steps / 20 : 1;
    hp->lr = is_lora ? 2e-3f : 1e-3f;
    hp->min_lr = hp->lr * 0.1f;
    hp->wd = is_lora ? 0.0f : 0.1f;
    hp->beta1 = 0.9f;
    hp->beta2 = 0.95f;
    hp->eps = 1e-8f;
    hp->clip = 1.0f;
    hp->seed = 1;
    hp->init_seed = 1;
}

int train_hparams_check(const train_hparams *hp, const model_config *c, char err[PLOW_ERR_LEN]) {
    if (hp->batch < 1 || hp->batch > 4096) return plow_error(err, "batch size %d out of range 1..4096", hp->batch);
    if (hp->seq < 1 || hp->seq > c->ctx)
        return plow_error(err, "sequence length %d out of range 1..%d (the model's context)", hp->seq, c->ctx);
    if (hp->steps < 1) return plow_error(err, "steps must be at least 1");
    if (hp->warmup < 0) return plow_error(err, "warmup must not be negative");
    if (!(hp->lr > 0 && hp->lr < 10)) return plow_error(err, "learning rate %g out of range", (double)hp->lr);
    if (!(hp->min_lr >= 0 && hp->min_lr <= hp->lr)) return plow_error(err, "min_lr must be in [0, lr]");
    if (!(hp->wd >= 0 && hp->wd < 1)) return plow_error(err, "weight decay out of range [0, 1)");
    if (!(hp->beta1 >= 0 && hp->beta1 < 1 && hp->beta2 >= 0 && hp->beta2 < 1))
        return plow_error(err, "Adam betas must be in [0, 1)");
    if (!(hp->eps > 0)) return plow_error(err, "Adam eps must be positive");
    return 0;
}

/* Allocation shared by training and DPO states: rows = sequences per batch.
 * The sizes come from a spec: out of memory is an error (NULL, err set). */
train_state *train_state_alloc(model *m, lora *l, const train_hparams *hp, const uint8_t data_hash[PLOW_HASH_LEN],
                               int rows, char err[PLOW_ERR_LEN]) {
    train_state *s = plow_calloc(1, sizeof *s);
    s->m = m;
    s->l = l;
    s->hp = *hp;
    memcpy(s->data_hash, data_hash, PLOW_HASH_LEN);
    if (l) {
        model_hash(m, s->base_hash);
        s->w = l->params;
        s->n = l->n_params;
        s->tensors = l->tensors;
        s->n_tensors = l->n_tensors;
    } else {
        s->w = m->params;
        s->n = m->n_params;
        s->tensors = m->tensors;
        s->n_tensors = m->n_tensors;
    }
    s->g = plow_try_alloc_aligned(s->n * sizeof(float));
    s->m1 = plow_try_alloc_aligned(s->n * sizeof(float));
    s->m2 = plow_try_alloc_aligned(s->n * sizeof(float));
    size_t N = (size_t)rows * (size_t)(hp->seq > 0 ? hp->seq : 1);
    s->logp = plow_try_alloc(N * sizeof(float));
    s->dlogp = plow_try_alloc(N * sizeof(float));
    s->bx = plow_try_alloc(N * sizeof(int32_t));
    s->by = plow_try_alloc(N * sizeof(int32_t));
    if (!s->g || !s->m1 || !s->m2 || !s->logp || !s->dlogp || !s->bx || !s->by) {
        plow_error(err, "training state: out of memory for %zu parameters and %zu rows", s->n, N);
        train_state_free(s);
        return NULL;
    }
    if (model_ws_create(&s->ws, m, l, rows, hp->seq, err) != 0) {
        train_state_free(s);
        return NULL;
    }
    return s;
}

int train_state_new(train_state **out, model *m, lora *l, const train_hparams *hp,
                    const uint8_t data_hash[PLOW_HASH_LEN], char err[PLOW_ERR_LEN]) {
    *out = NULL;
    if (train_hparams_check(hp, &m->cfg, err)) return -1;
    *out = train_state_alloc(m, l, hp, data_hash, hp->batch, err);
    return *out ? 0 : -1;
}

int train_state_new_dpo(train_state **out, model *m, lora *l, const train_hparams *hp, float beta,
                        const uint8_t pairs_hash[PLOW_HASH_LEN], char err[PLOW_ERR_LEN]) {
    *out = NULL;
    if (train_hparams_check(hp, &m->cfg, err)) return -1;
    if (hp->seq < 2) return plow_error(err, "DPO needs a sequence length of at least 2");
    if (hp->batch > 2048) return plow_error(err, "DPO batch of %d pairs out of range 1..2048", hp->batch);
    if (!(beta > 0 && beta <= 100)) return plow_error(err, "DPO beta %g out of range (0, 100]", (double)beta);
    train_state *s = train_state_alloc(m, l, hp, pairs_hash, 2 * hp->batch, err);
    if (!s) return -1;
    s->dpo = true;
    s->beta = beta;
    if (!l) {
        /* the reference is the model as given: a frozen copy, committed by hash */
        if (model_new(&s->ref, &m->cfg, err)) {
            train_state_free(s);
            return -1;
        }
        memcpy(s->ref->params, m->params, m->n_params * sizeof(float));
        model_hash(s->ref, s->base_hash);
    }
    size_t N = (size_t)2 * hp->batch * hp->seq;
    s->ref_logp = plow_try_alloc(N * sizeof(float));
    s->span = plow_try_alloc((size_t)4 * hp->batch * sizeof(int32_t));
    if (!s->ref_logp || !s->span) {
        train_state_free(s);
        return plow_error(err, "DPO state: out of memory for %zu rows", N);
    }
    *out = s;
    return 0;
}

const float *train_state_grad(const train_state *s) { return s->g; }

void train_state_free(train_state *s) {
    if (!s) return;
    free(s->g);
    free(s->m1);
    free(s->m2);
    free(s->logp);
    free(s->dlogp);
    free(s->bx);
    free(s->by);
    model_ws_free(s->ws);
    model_free(s->ref);
    free(s->ref_logp);
    free(s->span);
    rl_ctx_free(s->rl);
    free(s);
}

uint64_t train_state_step(const train_state *s) { return s->step; }
const train_hparams *train_state_hparams(const train_state *s) { return &s->hp; }

/* b^e by repeated squaring: IEEE multiplications only. */
static double pow_int(double b, uint64_t e) {
    double r = 1.0;
    while (e) {
        if (e & 1) r *= b;
        b *= b;
        e >>= 1;
    }
    return r;
}

float train_lr_at(const train_hparams *hp, uint64_t step) {
    if (step < (uint64_t)hp->warmup) return (float)((double)hp->lr * (double)(step + 1) / (double)hp->warmup);
    double span = hp->steps > hp->warmup ? (double)(hp->steps - hp->warmup) : 1.0;
    double prog = (double)(step - (uint64_t)hp->warmup) / span;
    if (prog > 1.0) prog = 1.0;
    double c = 0.5 * (1.0 + tensor_cos_d(3.14159265358979323846 * prog));
    return (float)((double)hp->min_lr + ((double)hp->lr - (double)hp->min_lr) * c);
}

typedef struct adam_job {
    float *w, *g, *m1, *m2;
    const model_tensor *tensors;
    tensor_adamw_params p;
} adam_job;

static void adam_task(void *ctx, size_t t) {
    const adam_job *j = ctx;
    const model_tensor *x = &j->tensors[t];
    tensor_adamw_params p = j->p;
    if (!x->decay) p.wd = 0.0f;
    tensor_adamw_st(j->w + x->offset, j->g + x->offset, j->m1 + x->offset, j->m2 + x->offset, x->numel, &p);
}

void train_apply_gradient(train_state *s, float loss, double t0, train_stats *st) {
    float gnorm = sqrtf(tensor_sumsq_long(s->g, s->n));
    float gscale = s->hp.clip > 0 && gnorm > s->hp.clip ? s->hp.clip / gnorm : 1.0f;
    uint64_t t = s->step + 1;
    adam_job j = {s->w, s->g, s->m1, s->m2, s->tensors,
                  {.lr = train_lr_at(&s->hp, s->step), .beta1 = s->hp.beta1, .beta2 = s->hp.beta2,
                   .eps = s->hp.eps, .wd = s->hp.wd, .bc1 = (float)(1.0 - pow_int((double)s->hp.beta1, t)),
                   .bc2 = (float)(1.0 - pow_int((double)s->hp.beta2, t)), .gscale = gscale}};
    tensor_parallel_for((size_t)s->n_tensors, adam_task, &j);
    s->step = t;
    if (st) {
        st->loss = loss;
        st->gnorm = gnorm;
        st->lr = j.p.lr;
        st->seconds = plow_now() - t0;
    }
}

void train_step_batch(train_state *s, const int32_t *x, const int32_t *y, train_stats *st) {
    PLOW_ASSERT(!s->dpo && !s->rl); /* DPO and RL states step with dpo_step, rl_step */
    double t0 = plow_now();
    size_t N = (size_t)s->hp.batch * s->hp.seq;
    model_forward(s->m, s->l, s->ws, x, y, s->logp);
    float loss = model_mean_loss(s->logp, N);
    float d = -1.0f / (float)N;
    for (size_t i = 0; i < N; i++) s->dlogp[i] = d;
    model_backward(s->m, s->l, s->ws, s->dlogp, s->l ? NULL : s->g, s->l ? s->g : NULL);
    train_apply_gradient(s, loss, t0, st);
}

void train_step(train_state *s, const dataset *d, train_stats *st) {
    dataset_batch(d->train, d->n_train, d->hash, s->hp.seed, DATASET_PURPOSE_TRAIN, (uint32_t)s->step,
                  s->hp.batch, s->hp.seq, s->bx, s->by);
    train_step_batch(s, s->bx, s->by, st);
}

float train_eval(train_state *s, const int32_t *tokens, size_t n, int batches) {
    PLOW_ASSERT(!s->dpo && !s->rl); /* DPO and RL states evaluate with dpo_eval, rl_eval */
    size_t N = (size_t)s->hp.batch * s->hp.seq;
    float total = 0.0f;
    for (int b = 0; b < batches; b++) {
        dataset_batch(tokens, n, s->data_hash, s->hp.seed, DATASET_PURPOSE_VAL, (uint32_t)b, s->hp.batch,
                      s->hp.seq, s->bx, s->by);
        model_forward(s->m, s->l, s->ws, s->bx, s->by, s->logp);
        total = total + model_mean_loss(s->logp, N);
    }
    return total / (float)batches;
}

/* ---- canonical state --------------------------------------------------------- */

#define STATE_MAGIC "PLOWSTAT"
#define STATE_VERSION 1u
#define DPO_STATE_VERSION 1u /* the DPO step and pair encoding of docs/dpo.md */
/* byte offset of the step counter in the header */
#define STATE_STEP_OFFSET (8 + 4 + 4 + 10 * 4 + 3 * 4 + 11 * 4 + 8 + 8)

static uint32_t fbits(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

static void state_header(const train_state *s, plow_buf *b) {
    const model_config *c = &s->m->cfg;
    const train_hparams *hp = &s->hp;
    plow_buf_append(b, STATE_MAGIC, 8);
    plow_buf_u32(b, STATE_VERSION);
    /* kind: bit 0 LoRA, bit 1 DPO (DPO states only: 2 full, 3 LoRA) */
    plow_buf_u32(b, (s->l ? 1u : 0u) | (s->dpo ? 2u : 0u) | (s->rl ? 4u : 0u));
    uint32_t cf[] = {(uint32_t)c->n_layer, (uint32_t)c->d_model, (uint32_t)c->n_head, (uint32_t)c->n_kv_head,
                     (uint32_t)c->d_ff, (uint32_t)c->ctx, (uint32_t)c->vocab, c->tied ? 1u : 0u,
                     fbits(c->norm_eps), fbits(c->rope_theta)};
    for (size_t i = 0; i < sizeof cf / sizeof cf[0]; i++) plow_buf_u32(b, cf[i]);
    plow_buf_u32(b, s->l ? (uint32_t)s->l->rank : 0u);
    plow_buf_u32(b, s->l ? fbits(s->l->alpha) : 0u);
    plow_buf_u32(b, s->l ? s->l->targets : 0u);
    uint32_t hf[] = {(uint32_t)hp->batch, (uint32_t)hp->seq, (uint32_t)hp->steps, (uint32_t)hp->warmup,
                     fbits(hp->lr), fbits(hp->min_lr), fbits(hp->wd), fbits(hp->beta1), fbits(hp->beta2),
                     fbits(hp->eps), fbits(hp->clip)};
    for (size_t i = 0; i < sizeof hf / sizeof hf[0]; i++) plow_buf_u32(b, hf[i]);
    plow_buf_u64(b, hp->seed);
    plow_buf_u64(b, hp->init_seed);
    plow_buf_u64(b, s->step);
    plow_buf_append(b, s->data_hash, PLOW_HASH_LEN);
    plow_buf_append(b, s->base_hash, PLOW_HASH_LEN);
    if (s->dpo) { /* absent from training states, whose bytes are unchanged */
        plow_buf_u32(b, DPO_STATE_VERSION);
        plow_buf_u32(b, fbits(s->beta));
    }
    if (s->rl) rl_header(s, b); /* likewise absent from the other modes */
    plow_buf_u32(b, (uint32_t)s->n_tensors);
    for (int i = 0; i < s->n_tensors; i++) {
        const model_tensor *t = &s->tensors[i];
        uint32_t len = (uint32_t)strlen(t->name);
        plow_buf_u32(b, len);
        plow_buf_append(b, t->name, len);
        plow_buf_u32(b, (uint32_t)t->ndim);
        for (int d = 0; d < t->ndim; d++) plow_buf_u64(b, (uint64_t)t->shape[d]);
    }
}

typedef struct hash_job {
    const train_state *s;
    uint8_t *out; /* 3 * n_tensors hashes */
} hash_job;

static const float *section(const train_state *s, int k) { return k == 0 ? s->w : k == 1 ? s->m1 : s->m2; }

static void hash_task(void *ctx, size_t i) {
    const hash_job *j = ctx;
    int k = (int)(i / (size_t)j->s->n_tensors), t = (int)(i % (size_t)j->s->n_tensors);
    const model_tensor *x = &j->s->tensors[t];
    plow_sha256_once(section(j->s, k) + x->offset, x->numel * sizeof(float), j->out + i * PLOW_HASH_LEN);
}

void train_state_hash(const train_state *s, uint8_t out[PLOW_HASH_LEN]) {
    plow_buf hdr = {0};
    state_header(s, &hdr);
    size_t n = 3 * (size_t)s->n_tensors;
    uint8_t *inner = plow_alloc(n * PLOW_HASH_LEN);
    hash_job j = {s, inner};
    tensor_parallel_for(n, hash_task, &j);
    plow_sha256 *h = plow_sha256_new();
    static const char tag[] = "plow.state.v1";
    plow_sha256_update(h, tag, sizeof tag);
    plow_sha256_update(h, hdr.data, hdr.len);
    plow_sha256_update(h, inner, n * PLOW_HASH_LEN);
    plow_sha256_final(h, out);
    free(inner);
    plow_buf_release(&hdr);
}

void train_state_serialize(const train_state *s, plow_buf *out) {
    state_header(s, out);
    for (int k = 0; k < 3; k++)
        for (int t = 0; t < s->n_tensors; t++) {
            const model_tensor *x = &s->tensors[t];
            const float *p = section(s, k) + x->offset;
            /* little-endian float32, as the machines plow runs on store them */
            plow_buf_append(out, p, x->numel * sizeof(float));
        }
}

int train_state_restore(train_state *s, const uint8_t *buf, size_t n, char err[PLOW_ERR_LEN]) {
    /* The header of a file for this state must equal ours byte for byte,
     * except for the step counter: so build ours and compare. */
    plow_buf hdr = {0};
    state_header(s, &hdr);
    int rc = -1;
    size_t step_off = STATE_STEP_OFFSET;
    if (n < hdr.len) {
        plow_error(err, "state file truncated (%zu bytes, header alone needs %zu)", n, hdr.len);
        goto out;
    }
    if (memcmp(buf, STATE_MAGIC, 8) != 0) {
        plow_error(err, "not a plow state file (bad magic)");
        goto out;
    }
    if (plow_get_u32(buf + 8) != STATE_VERSION) {
        plow_error(err, "unsupported state version %u", plow_get_u32(buf + 8));
        goto out;
    }
    if ((plow_get_u32(buf + 12) ^ plow_get_u32(hdr.data + 12)) & 2u) {
        plow_error(err, "state file is for a %s run, this is a %s run", s->dpo ? "training" : "DPO",
                   s->dpo ? "DPO" : "training");
        goto out;
    }
    if (memcmp(buf, hdr.data, step_off) != 0) {
        plow_error(err, "state file is for another model, adapter or set of hyper-parameters");
        goto out;
    }
    if (memcmp(buf + step_off + 8, hdr.data + step_off + 8, hdr.len - step_off - 8) != 0) {
        plow_error(err, "state file is for other data, another base model, %sor another tensor layout",
                   s->dpo ? "another reference, another DPO beta, " : "");
        goto out;
    }
    size_t payload = 0;
    for (int t = 0; t < s->n_tensors; t++) payload += s->tensors[t].numel * sizeof(float);
    if (n != hdr.len + 3 * payload) {
        plow_error(err, "state file has %zu bytes, expected %zu", n, hdr.len + 3 * payload);
        goto out;
    }
    const uint8_t *p = buf + hdr.len;
    for (int k = 0; k < 3; k++) {
        float *dst = k == 0 ? s->w : k == 1 ? s->m1 : s->m2;
        for (int t = 0; t < s->n_tensors; t++) {
            const model_tensor *x = &s->tensors[t];
            memcpy(dst + x->offset, p, x->numel * sizeof(float));
            p += x->numel * sizeof(float);
        }
    }
    s->step = plow_get_u64(buf + step_off);
    rc = 0;
out:
    plow_buf_release(&hdr);
    return rc;
}

void train_state_task_id(const train_state *s, uint8_t out[PLOW_HASH_LEN]) {
    plow_buf hdr = {0};
    state_header(s, &hdr);
    size_t step_off = STATE_STEP_OFFSET;
    memset(hdr.data + step_off, 0, 8);
    plow_sha256 *h = plow_sha256_new();
    static const char tag[] = "plow.task.v1";
    plow_sha256_update(h, tag, sizeof tag);
    plow_sha256_update(h, hdr.data, hdr.len);
    plow_sha256_final(h, out);
    plow_buf_release(&hdr);
}

float *train_state_weights(train_state *s, size_t *n) {
    *n = s->n;
    return s->w;
}

void train_state_set_step(train_state *s, uint64_t step) { s->step = step; }

void train_state_reinit(train_state *s) {
    if (s->l) lora_init_weights(s->l, s->hp.init_seed);
    else if (s->ref) memcpy(s->m->params, s->ref->params, s->n * sizeof(float)); /* full DPO: the reference */
    else model_init_weights(s->m, s->hp.init_seed);
    memset(s->m1, 0, s->n * sizeof(float));
    memset(s->m2, 0, s->n * sizeof(float));
    s->step = 0;
}

