/*
 * rl.c — the GRPO-style step: seeded rollouts inside the step, exact
 * rewards, group-relative advantages, the clipped policy gradient with a KL
 * penalty to a frozen reference, AdamW (rl.h).
 *
 * Determinism: rollouts come from infer.h (whose logits are the training
 * forward's bits and whose sampler is a pure function of logits, seed and
 * position); problem draws and sampling seeds are Philox counters; the
 * per-completion arithmetic is scalar IEEE operations in a fixed order with
 * plow's own exp; sums over a row are canonical reductions. The state after
 * the step is the same bits on every thread count and SIMD path.
 */
#include "rl.h"

#include <math.h>

#include "../infer/infer.h"
#include "../tensor/tensor.h"
#include "train_impl.h"

#define RL_STATE_VERSION 1u

static uint32_t fbits(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

struct rl_ctx {
    rl_params p;
    problem_set ps;
    const tokenizer *tok;
    int rows;            /* B * G */
    rl_rollout *ro;      /* rows */
    float *adv;          /* rows */
    int32_t *span;       /* rows x 2: completion targets [a, e) in the row */
    bool sampled;        /* ro holds the current step's rollouts */
    uint64_t sampled_at; /* the step they were sampled for */
    infer_session *sess;
    uint8_t *nl;         /* per token id: its bytes hold '\n' */
    bool fresh;          /* sess holds the current weights */
};

void rl_params_default(rl_params *p) {
    p->group = 8;
    p->max_new = 8;
    p->temperature = 1.0f;
    p->top_k = 0;
    p->kl = 0.02f;
    p->clip = 0.2f;
    p->format_reward = 0.1f;
}

int rl_params_check(const rl_params *p, char err[PLOW_ERR_LEN]) {
    if (p->group < 2 || p->group > RL_MAX_GROUP)
        return plow_error(err, "RL group size %u out of range 2..%d", p->group, RL_MAX_GROUP);
    if (p->max_new < 1 || p->max_new > RL_MAX_NEW)
        return plow_error(err, "RL completion length %u out of range 1..%d", p->max_new, RL_MAX_NEW);
    if (!(p->temperature > 0 && p->temperature <= 10))
        return plow_error(err, "RL temperature %g out of range (0, 10]", (double)p->temperature);
    if (!(p->kl >= 0 && p->kl <= 10)) return plow_error(err, "RL KL coefficient %g out of range [0, 10]", (double)p->kl);
    if (!(p->clip > 0 && p->clip < 1)) return plow_error(err, "RL clip %g out of range (0, 1)", (double)p->clip);
    if (!(p->format_reward >= 0 && p->format_reward <= 1))
        return plow_error(err, "RL format reward %g out of range [0, 1]", (double)p->format_reward);
    return 0;
}

void rl_data_hash(const problem_set *ps, const tokenizer *tok, uint8_t out[PLOW_HASH_LEN]) {
    uint8_t b[16 + 2 * PLOW_HASH_LEN];
    memcpy(b, "plow.rl.data.v1", 16); /* with its NUL */
    problem_set_hash(ps, b + 16);
    tokenizer_hash(tok, b + 16 + PLOW_HASH_LEN);
    plow_sha256_once(b, sizeof b, out);
}

/* The longest prompt of a set in bytes, hence in tokens (a token has >= 1 byte):
 * "Q: 9x+" d "=" (d+1 digits) " x= A:" is the longest shape, 2d + 14. */
static int prompt_bound(const problem_set *ps) { return 2 * (int)ps->max_digits + 14; }

void rl_ctx_free(struct rl_ctx *c) {
    if (!c) return;
    free(c->ro);
    free(c->adv);
    free(c->span);
    free(c->nl);
    infer_session_free(c->sess);
    free(c);
}

void rl_header(const train_state *s, plow_buf *b) {
    const rl_params *p = &s->rl->p;
    plow_buf_u32(b, RL_STATE_VERSION);
    plow_buf_u32(b, p->group);
    plow_buf_u32(b, p->max_new);
    plow_buf_u32(b, fbits(p->temperature));
    plow_buf_u32(b, p->top_k);
    plow_buf_u32(b, fbits(p->kl));
    plow_buf_u32(b, fbits(p->clip));
    plow_buf_u32(b, fbits(p->format_reward));
}

int train_state_new_rl(train_state **out, model *m, lora *l, const train_hparams *hp, const rl_params *rp,
                       const problem_set *ps, const tokenizer *tok, char err[PLOW_ERR_LEN]) {
    *out = NULL;
    if (train_hparams_check(hp, &m->cfg, err) || rl_params_check(rp, err) || problem_set_check(ps, err)) return -1;
    if (tokenizer_vocab_size(tok) != m->cfg.vocab)
        return plow_error(err, "the tokenizer has %d tokens, the model's vocabulary %d", tokenizer_vocab_size(tok),
                          m->cfg.vocab);
    int need = prompt_bound(ps) + (int)rp->max_new - 1;
    if (hp->seq < need || need > m->cfg.ctx)
        return plow_error(err, "RL rows need a sequence length of at least %d (prompts of %u-digit problems and %u "
                               "new tokens; the model's context is %d), got %d",
                          need, ps->max_digits, rp->max_new, m->cfg.ctx, hp->seq);
    if ((long)hp->batch * rp->group > 4096)
        return plow_error(err, "RL batch %d x group %u is over 4096 rows", hp->batch, rp->group);
    uint8_t dh[PLOW_HASH_LEN];
    rl_data_hash(ps, tok, dh);
    int rows = hp->batch * (int)rp->group;
    train_state *s = train_state_alloc(m, l, hp, dh, rows, err);
    if (!s) return -1;
    struct rl_ctx *c = plow_calloc(1, sizeof *c);
    s->rl = c;
    c->p = *rp;
    c->ps = *ps;
    c->tok = tok;
    c->rows = rows;
    c->ro = plow_calloc((size_t)rows, sizeof *c->ro);
    c->adv = plow_calloc((size_t)rows, sizeof *c->adv);
    c->span = plow_calloc((size_t)rows * 2, sizeof *c->span);
    int V = m->cfg.vocab;
    c->nl = plow_calloc((size_t)V, 1);
    for (int id = 0; id < V; id++) {
        const uint8_t *bytes;
        size_t n;
        if (tokenizer_token_bytes(tok, id, &bytes, &n) == 0 && memchr(bytes, '\n', n)) c->nl[id] = 1;
    }
    if (infer_session_new(&c->sess, m, l, need + 1, err)) goto fail;
    if (!l) { /* the reference: a frozen copy of the starting weights, committed by hash */
        if (model_new(&s->ref, &m->cfg, err)) goto fail;
        memcpy(s->ref->params, m->params, m->n_params * sizeof(float));
        model_hash(s->ref, s->base_hash);
    }
    s->ref_logp = plow_alloc(sizeof(float) * (size_t)rows * hp->seq);
    *out = s;
    return 0;
fail:
    train_state_free(s);
    return -1;
}

bool train_state_is_rl(const train_state *s) { return s->rl != NULL; }
const rl_params *train_state_rl_params(const train_state *s) { return s->rl ? &s->rl->p : NULL; }

const rl_rollout *train_state_rl_rollouts(const train_state *s, int *count) {
    *count = s->rl && s->rl->sampled ? s->rl->rows : 0;
    return s->rl ? s->rl->ro : NULL;
}

static tensor_rng_key rl_key(const train_state *s, uint32_t purpose) {
    uint8_t kb[16 + PLOW_HASH_LEN + 8], kh[PLOW_HASH_LEN];
    memcpy(kb, "plow.rl.step.v1", 16);
    memcpy(kb + 16, s->data_hash, PLOW_HASH_LEN);
    plow_put_u64(kb + 16 + PLOW_HASH_LEN, s->hp.seed);
    plow_sha256_once(kb, sizeof kb, kh);
    return (tensor_rng_key){plow_get_u64(kh), purpose, (uint32_t)s->step};
}

static uint64_t draw_u64(tensor_rng_key k, uint64_t counter) {
    uint32_t r[4];
    tensor_philox(k, counter, r);
    return ((uint64_t)r[0] << 32) | r[1];
}

/* One completion: feed the prompt, sample until a token with '\n' or max_new. */
static int rollout(struct rl_ctx *c, rl_rollout *r, char err[PLOW_ERR_LEN]) {
    int V = tokenizer_vocab_size(c->tok);
    float *logits = plow_alloc(sizeof(float) * (size_t)V);
    int rc = -1;
    infer_sampling sp = {c->p.temperature, (int)c->p.top_k, 1.0f, r->seed};
    infer_reset(c->sess);
    if (infer_feed(c->sess, r->tok, r->n_prompt, NULL, logits, err)) goto out;
    r->n = 0;
    for (;;) {
        int pos = r->n_prompt + r->n;
        int32_t t = infer_sample(logits, V, &sp, (uint64_t)pos);
        r->tok[pos] = t;
        r->n++;
        if (c->nl[t] || r->n == (int)c->p.max_new) break;
        if (infer_feed(c->sess, &t, 1, NULL, logits, err)) goto out;
    }
    rc = 0;
out:
    free(logits);
    return rc;
}

/* Grade a completion with the checker. */
static void grade(struct rl_ctx *c, rl_rollout *r, const problem *pb) {
    uint8_t *text = NULL;
    size_t n = 0;
    if (tokenizer_decode(c->tok, r->tok + r->n_prompt, (size_t)r->n, &text, &n, NULL)) {
        r->grade = PROBLEM_WRONG_FORMAT;
    } else {
        r->grade = problem_check(pb, text, n);
    }
    free(text);
    r->reward = (r->grade == PROBLEM_RIGHT ? 1.0f : 0.0f) + (r->grade != PROBLEM_WRONG_FORMAT ? c->p.format_reward : 0.0f);
}

int rl_rollouts_expected(train_state *s, rl_rollout *ro, char err[PLOW_ERR_LEN]) {
    struct rl_ctx *c = s->rl;
    PLOW_ASSERT(c);
    c->fresh = false; /* a new step, or a restored state: the weights may have changed */
    int B = s->hp.batch, G = (int)c->p.group;
    tensor_rng_key kp = rl_key(s, RL_PURPOSE_PROMPT), ks = rl_key(s, RL_PURPOSE_SAMPLE);
    for (int b = 0; b < B; b++) {
        problem pb;
        uint64_t idx = draw_u64(kp, (uint64_t)b) >> 1; /* 63 bits: any problem of the set */
        problem_get(&c->ps, idx, &pb);
        int32_t *ids = NULL;
        size_t np = 0;
        if (tokenizer_encode(c->tok, (const uint8_t *)pb.prompt, strlen(pb.prompt), &ids, &np, err)) return -1;
        PLOW_ASSERT(np >= 1 && np <= (size_t)prompt_bound(&c->ps));
        for (int g = 0; g < G; g++) {
            rl_rollout *r = &ro[b * G + g];
            memset(r, 0, sizeof *r);
            r->problem = idx;
            r->seed = draw_u64(ks, (uint64_t)(b * G + g));
            r->n_prompt = (int)np;
            memcpy(r->tok, ids, np * sizeof(int32_t));
        }
        free(ids);
    }
    return 0;
}

int rl_rollout_count(const train_state *s) { return s->rl ? s->rl->rows : 0; }

void rl_rollout_sampling(const train_state *s, const rl_rollout *r, infer_sampling *sp) {
    const rl_params *p = &s->rl->p;
    *sp = (infer_sampling){p->temperature, (int)p->top_k, 1.0f, r->seed};
}

void rl_policy(const train_state *s, const model **m, const lora **l, const tokenizer **tok) {
    *m = s->m;
    *l = s->l;
    *tok = s->rl->tok;
}

int rl_rollout_generate(train_state *s, rl_rollout *r, char err[PLOW_ERR_LEN]) {
    struct rl_ctx *c = s->rl;
    PLOW_ASSERT(c);
    if (!c->fresh) { /* the session packs the weights once per state */
        infer_session_refresh(c->sess);
        c->fresh = true;
    }
    if (rollout(c, r, err)) return -1;
    rl_rollout_grade(s, r);
    return 0;
}

void rl_rollout_grade(const train_state *s, rl_rollout *r) {
    problem pb;
    problem_get(&s->rl->ps, r->problem, &pb);
    grade(s->rl, r, &pb);
}

bool rl_rollout_ends_well(const train_state *s, const rl_rollout *r) {
    const struct rl_ctx *c = s->rl;
    if (r->n < 1 || r->n > (int)c->p.max_new) return false;
    int V = tokenizer_vocab_size(c->tok);
    for (int i = 0; i < r->n; i++) {
        int32_t t = r->tok[r->n_prompt + i];
        if (t < 0 || t >= V) return false;
        if (c->nl[t] && i + 1 < r->n) return false; /* the sampler stops at the first '\n' */
    }
    return c->nl[r->tok[r->n_prompt + r->n - 1]] || r->n == (int)c->p.max_new;
}

int rl_sample(train_state *s, char err[PLOW_ERR_LEN]) {
    struct rl_ctx *c = s->rl;
    PLOW_ASSERT(c);
    c->sampled = false;
    c->fresh = false; /* the weights changed since the last step */
    if (rl_rollouts_expected(s, c->ro, err)) return -1;
    for (int i = 0; i < c->rows; i++)
        if (rl_rollout_generate(s, &c->ro[i], err)) return -1;
    c->sampled = true;
    c->sampled_at = s->step;
    return 0;
}

/* Rows from the rollouts: x, y over T positions, the completion's targets in
 * [n_prompt - 1, n_prompt - 1 + n); padding is token 0 with target 0, after
 * the span (causal attention: it never reaches the span). */
static void build_rows(train_state *s) {
    struct rl_ctx *c = s->rl;
    int T = s->hp.seq;
    for (int r = 0; r < c->rows; r++) {
        const rl_rollout *ro = &c->ro[r];
        int len = ro->n_prompt + ro->n;
        int32_t *x = s->bx + (size_t)r * T, *y = s->by + (size_t)r * T;
        for (int t = 0; t < T; t++) {
            x[t] = t < len ? ro->tok[t] : 0;
            y[t] = t + 1 < len ? ro->tok[t + 1] : 0;
        }
        c->span[2 * r] = ro->n_prompt - 1;
        c->span[2 * r + 1] = ro->n_prompt - 1 + ro->n;
    }
}

/* Group-relative advantages, in a fixed order. */
static void advantages(struct rl_ctx *c, int B, int G) {
    for (int b = 0; b < B; b++) {
        const rl_rollout *ro = c->ro + b * G;
        float mean = 0.0f, var = 0.0f;
        for (int g = 0; g < G; g++) mean += ro[g].reward;
        mean /= (float)G;
        for (int g = 0; g < G; g++) var += (ro[g].reward - mean) * (ro[g].reward - mean);
        float sd = sqrtf(var / (float)G);
        for (int g = 0; g < G; g++) c->adv[b * G + g] = sd > 0.0f ? (ro[g].reward - mean) / (sd + 1e-4f) : 0.0f;
    }
}

float rl_gradient(train_state *s, rl_stats *rs) {
    struct rl_ctx *c = s->rl;
    PLOW_ASSERT(c && c->sampled && c->sampled_at == s->step);
    int B = s->hp.batch, G = (int)c->p.group, T = s->hp.seq, rows = c->rows;
    build_rows(s);
    advantages(c, B, G);
    const model *rm = s->ref ? s->ref : s->m;
    model_forward(rm, NULL, s->ws, s->bx, s->by, s->ref_logp);
    model_forward(s->m, s->l, s->ws, s->bx, s->by, s->logp);
    memset(s->dlogp, 0, sizeof(float) * (size_t)rows * T);
    float *row_loss = plow_alloc(sizeof(float) * (size_t)rows * 6);
    float *row_kl = row_loss + rows, *row_rw = row_kl + rows, *row_ok = row_rw + rows, *row_fmt = row_ok + rows,
          *row_n = row_fmt + rows;
    float *tk = plow_alloc(sizeof(float) * (size_t)T);
    float inv_rows = 1.0f / (float)rows, kl = c->p.kl;
    for (int r = 0; r < rows; r++) {
        int a = c->span[2 * r], e = c->span[2 * r + 1], n = e - a;
        float A = c->adv[r], inv_n = 1.0f / (float)n;
        for (int t = a; t < e; t++) {
            size_t i = (size_t)r * T + t;
            float d = s->ref_logp[i] - s->logp[i], ed = tensor_expf(d);
            tk[t - a] = ed - d - 1.0f; /* the k3 estimate of KL(pi || ref), >= 0 */
            s->dlogp[i] = (-A + kl * (1.0f - ed)) * inv_n * inv_rows;
        }
        row_kl[r] = tensor_sum_st(tk, (size_t)n) * inv_n;
        row_loss[r] = -A + kl * row_kl[r]; /* rho = 1 at the sampled weights */
        row_rw[r] = c->ro[r].reward;
        row_ok[r] = c->ro[r].grade == PROBLEM_RIGHT ? 1.0f : 0.0f;
        row_fmt[r] = c->ro[r].grade != PROBLEM_WRONG_FORMAT ? 1.0f : 0.0f;
        row_n[r] = (float)n;
    }
    float loss = tensor_sum_st(row_loss, (size_t)rows) * inv_rows;
    if (rs) {
        rs->reward = tensor_sum_st(row_rw, (size_t)rows) * inv_rows;
        rs->accuracy = tensor_sum_st(row_ok, (size_t)rows) * inv_rows;
        rs->format = tensor_sum_st(row_fmt, (size_t)rows) * inv_rows;
        rs->kl = tensor_sum_st(row_kl, (size_t)rows) * inv_rows;
        rs->tokens = tensor_sum_st(row_n, (size_t)rows) * inv_rows;
    }
    model_backward(s->m, s->l, s->ws, s->dlogp, s->l ? NULL : s->g, s->l ? s->g : NULL);
    free(row_loss);
    free(tk);
    return loss;
}

int rl_step(train_state *s, train_stats *st, rl_stats *rs, char err[PLOW_ERR_LEN]) {
    PLOW_ASSERT(s->rl);
    double t0 = plow_now();
    if (rl_sample(s, err)) return -1;
    double t1 = plow_now();
    float loss = rl_gradient(s, rs);
    if (rs) rs->sample_seconds = t1 - t0;
    train_apply_gradient(s, loss, t0, st);
    return 0;
}

int rl_step_with(train_state *s, const rl_rollout *ro, train_stats *st, rl_stats *rs, char err[PLOW_ERR_LEN]) {
    struct rl_ctx *c = s->rl;
    PLOW_ASSERT(c);
    double t0 = plow_now();
    c->sampled = false;
    if (rl_rollouts_expected(s, c->ro, err)) return -1;
    for (int i = 0; i < c->rows; i++) {
        const rl_rollout *w = &c->ro[i], *r = &ro[i];
        if (r->problem != w->problem || r->seed != w->seed || r->n_prompt != w->n_prompt ||
            memcmp(r->tok, w->tok, sizeof(int32_t) * (size_t)w->n_prompt) != 0)
            return plow_error(err, "rollout %d is not the step's: another problem, prompt or seed", i);
        if (!rl_rollout_ends_well(s, r))
            return plow_error(err, "rollout %d does not end as the sampler ends a completion", i);
    }
    for (int i = 0; i < c->rows; i++) {
        c->ro[i] = ro[i];
        rl_rollout_grade(s, &c->ro[i]); /* the reward is the checker's, never the rollout's */
    }
    c->sampled = true;
    c->sampled_at = s->step;
    c->fresh = false;
    float loss = rl_gradient(s, rs);
    if (rs) rs->sample_seconds = 0;
    train_apply_gradient(s, loss, t0, st);
    return 0;
}

int rl_eval(const model *m, const lora *l, const tokenizer *tok, const problem_set *ps, size_t n, int max_new,
            double *accuracy, double per_digits[PROBLEM_MAX_DIGITS], char err[PLOW_ERR_LEN]) {
    if (problem_set_check(ps, err)) return -1;
    if (max_new < 1 || max_new > RL_MAX_NEW) return plow_error(err, "max_new %d out of range 1..%d", max_new, RL_MAX_NEW);
    int V = m->cfg.vocab, ctx = prompt_bound(ps) + max_new;
    if (ctx > m->cfg.ctx) return plow_error(err, "problems of %u digits do not fit the model's context", ps->max_digits);
    infer_session *sess = NULL;
    if (infer_session_new(&sess, m, l, ctx, err)) return -1;
    size_t right = 0, seen_d[PROBLEM_MAX_DIGITS] = {0}, right_d[PROBLEM_MAX_DIGITS] = {0};
    int32_t out[RL_MAX_NEW];
    infer_sampling greedy = {0.0f, 0, 1.0f, 0};
    int rc = -1;
    for (size_t i = 0; i < n; i++) {
        problem pb;
        problem_get(ps, i, &pb);
        int32_t *ids = NULL;
        size_t np = 0;
        if (tokenizer_encode(tok, (const uint8_t *)pb.prompt, strlen(pb.prompt), &ids, &np, err)) goto out;
        infer_reset(sess);
        /* greedy, stopping after the first token holding '\n' */
        float *logits = plow_alloc(sizeof(float) * (size_t)V);
        int k = 0;
        if (infer_feed(sess, ids, (int)np, NULL, logits, err)) {
            free(logits);
            free(ids);
            goto out;
        }
        for (;;) {
            int32_t t = infer_sample(logits, V, &greedy, np + (size_t)k);
            out[k++] = t;
            const uint8_t *tb;
            size_t tn;
            bool nl = tokenizer_token_bytes(tok, t, &tb, &tn) == 0 && memchr(tb, '\n', tn);
            if (nl || k == max_new) break;
            if (infer_feed(sess, &t, 1, NULL, logits, err)) {
                free(logits);
                free(ids);
                goto out;
            }
        }
        free(logits);
        free(ids);
        uint8_t *text = NULL;
        size_t tn = 0;
        problem_grade g = PROBLEM_WRONG_FORMAT;
        if (tokenizer_decode(tok, out, (size_t)k, &text, &tn, NULL) == 0) g = problem_check(&pb, text, tn);
        free(text);
        seen_d[pb.digits - 1]++;
        if (g == PROBLEM_RIGHT) {
            right++;
            right_d[pb.digits - 1]++;
        }
    }
    *accuracy = n ? (double)right / (double)n : 0.0;
    if (per_digits)
        for (int d = 0; d < PROBLEM_MAX_DIGITS; d++)
            per_digits[d] = seen_d[d] ? (double)right_d[d] / (double)seen_d[d] : -1.0;
    rc = 0;
out:
    infer_session_free(sess);
    return rc;
}
