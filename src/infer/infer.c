/*
 * infer.c — the inference forward with a KV cache, and sampling.
 *
 * The forward here mirrors model_forward layer for layer and uses the same
 * threaded kernels (tensor_rmsnorm, tensor_rope, ...) and the same GEMM
 * chains, so a position's logits do not depend on how the prompt was fed.
 * Base weights are pre-packed once (tensor_pack_new) because decode reuses
 * them for every token.
 */
#include "../base/plow.h"

#include <math.h>

#include "../tensor/tensor.h"
#include "infer.h"

enum { W_Q, W_K, W_V, W_O, W_GATE, W_UP, W_DOWN, W_COUNT };

struct infer_session {
    const model *m;
    const lora *l;
    const infer_session *share; /* borrows share's packed weights (infer_session_new_shared) */
    int max_ctx, pos;
    tensor_packed *packed[MODEL_MAX_LAYERS][W_COUNT];
    tensor_packed *lm_head;
    tensor_path packed_path;
    float *kcache, *vcache; /* (L, max_ctx, KVD) */
    /* scratch for up to `cap` rows */
    int cap;
    float *x, *xn, *q, *k, *v, *ao, *tmp, *gate, *up, *h, *att, *xa;
};

static void pack_all(infer_session *s) {
    if (s->share) return; /* the owner's packs */
    const model *m = s->m;
    const model_config *c = &m->cfg;
    int C = c->d_model, F = c->d_ff, KVD = c->n_kv_head * (C / c->n_head);
    for (int l = 0; l < c->n_layer; l++) {
        const model_layer_view *w = &m->w.layer[l];
        const float *mats[W_COUNT] = {w->wq, w->wk, w->wv, w->wo, w->w_gate, w->w_up, w->w_down};
        int outs[W_COUNT] = {C, KVD, KVD, C, F, F, C}, ins[W_COUNT] = {C, C, C, C, C, C, F};
        for (int i = 0; i < W_COUNT; i++) {
            tensor_packed_free(s->packed[l][i]);
            s->packed[l][i] = tensor_pack_new(ins[i], outs[i], (tensor_mat){mats[i], 1, ins[i]});
        }
    }
    tensor_packed_free(s->lm_head);
    s->lm_head = tensor_pack_new(C, c->vocab, (tensor_mat){m->w.lm_head, 1, C});
    s->packed_path = tensor_path_get();
}

static void free_scratch(infer_session *s) {
    float **p[] = {&s->x, &s->xn, &s->q, &s->k, &s->v, &s->ao, &s->tmp, &s->gate, &s->up, &s->h, &s->att, &s->xa};
    for (size_t i = 0; i < sizeof p / sizeof p[0]; i++) {
        free(*p[i]);
        *p[i] = NULL;
    }
}

static void ensure_scratch(infer_session *s, int n) {
    if (n <= s->cap) return;
    free_scratch(s);
    const model_config *c = &s->m->cfg;
    size_t C = (size_t)c->d_model, F = (size_t)c->d_ff, KVD = (size_t)c->n_kv_head * (C / (size_t)c->n_head);
    size_t N = (size_t)n, r = s->l ? (size_t)s->l->rank : 1;
    s->x = plow_alloc_aligned(N * C * 4);
    s->xn = plow_alloc_aligned(N * C * 4);
    s->q = plow_alloc_aligned(N * C * 4);
    s->k = plow_alloc_aligned(N * KVD * 4);
    s->v = plow_alloc_aligned(N * KVD * 4);
    s->ao = plow_alloc_aligned(N * C * 4);
    s->tmp = plow_alloc_aligned(N * C * 4);
    s->gate = plow_alloc_aligned(N * F * 4);
    s->up = plow_alloc_aligned(N * F * 4);
    s->h = plow_alloc_aligned(N * F * 4);
    s->att = plow_alloc_aligned((size_t)c->n_head * N * (size_t)s->max_ctx * 4);
    s->xa = plow_alloc_aligned(N * r * 4);
    s->cap = n;
}

static int session_new(infer_session **out, const model *m, const lora *l, const infer_session *share, int max_ctx,
                       char err[PLOW_ERR_LEN]) {
    *out = NULL;
    if (max_ctx < 1 || max_ctx > m->cfg.ctx)
        return plow_error(err, "context %d out of range 1..%d (the model's context)", max_ctx, m->cfg.ctx);
    infer_session *s = plow_calloc(1, sizeof *s);
    s->m = m;
    s->l = l;
    s->share = share;
    s->max_ctx = max_ctx;
    const model_config *c = &m->cfg;
    size_t KVD = (size_t)c->n_kv_head * (size_t)(c->d_model / c->n_head);
    /* the KV cache is sized by a context someone else may have chosen: out of
     * memory is an error for that input, not the end of the process */
    size_t kv = (size_t)c->n_layer * (size_t)max_ctx * KVD * 4;
    s->kcache = plow_try_alloc_aligned(kv);
    s->vcache = s->kcache ? plow_try_alloc_aligned(kv) : NULL;
    if (!s->vcache) {
        free(s->kcache);
        free(s);
        return plow_error(err, "out of memory for a KV cache of %d positions (2 x %zu bytes)", max_ctx, kv);
    }
    pack_all(s);
    *out = s;
    return 0;
}

int infer_session_new(infer_session **out, const model *m, const lora *l, int max_ctx, char err[PLOW_ERR_LEN]) {
    return session_new(out, m, l, NULL, max_ctx, err);
}

int infer_session_new_shared(infer_session **out, const infer_session *base, int max_ctx, char err[PLOW_ERR_LEN]) {
    while (base->share) base = base->share;
    return session_new(out, base->m, base->l, base, max_ctx, err);
}

void infer_session_free(infer_session *s) {
    if (!s) return;
    for (int l = 0; l < MODEL_MAX_LAYERS; l++)
        for (int i = 0; i < W_COUNT; i++) tensor_packed_free(s->packed[l][i]);
    tensor_packed_free(s->lm_head);
    free(s->kcache);
    free(s->vcache);
    free_scratch(s);
    free(s);
}


void infer_session_refresh(infer_session *s) {
    pack_all(s);
    infer_reset(s);
}

void infer_reserve(infer_session *s, int n) { ensure_scratch(s, n < s->max_ctx ? n : s->max_ctx); }
void infer_reset(infer_session *s) { s->pos = 0; }

/* y = x W^T (+ LoRA), the same chains as model.c's linear_forward. */
static const infer_session *owner(const infer_session *s) { return s->share ? s->share : s; }

static void linear(infer_session *s, float *y, const float *x, int n, int layer, int wi, int in, int out) {
    tensor_gemm_packed(n, x, in, owner(s)->packed[layer][wi], y, out);
    const lora *l = s->l;
    if (!l || !(l->targets & (1u << wi))) return;
    const lora_pair *p = &l->pair[layer][wi];
    int r = l->rank;
    tensor_gemm(n, r, in, (tensor_mat){x, in, 1}, (tensor_mat){p->a, 1, in}, s->xa, r, false);
    tensor_scale(s->xa, s->xa, l->alpha / (float)r, (size_t)n * r);
    tensor_gemm(n, out, r, (tensor_mat){s->xa, r, 1}, (tensor_mat){p->b, 1, r}, y, out, true);
}

typedef struct iattn_job {
    infer_session *s;
    int layer, n;
} iattn_job;

static void iattn_task(void *ctx, size_t h) {
    const iattn_job *j = ctx;
    infer_session *s = j->s;
    const model_config *c = &s->m->cfg;
    int C = c->d_model, HD = C / c->n_head, KVD = c->n_kv_head * HD, kvh = (int)h / (c->n_head / c->n_kv_head);
    int n = j->n, total = s->pos + n;
    const float *kc = s->kcache + (size_t)j->layer * s->max_ctx * KVD + kvh * HD;
    const float *vc = s->vcache + (size_t)j->layer * s->max_ctx * KVD + kvh * HD;
    float *att = s->att + h * (size_t)n * s->max_ctx;
    float scale = 1.0f / sqrtf((float)HD);
    tensor_gemm_causal_st(n, total, HD, (tensor_mat){s->q + h * HD, C, 1}, (tensor_mat){kc, 1, KVD}, att, total,
                          s->pos);
    for (int r = 0; r < n; r++) tensor_softmax_row_st(att + (size_t)r * total, s->pos + r + 1, total, scale);
    tensor_gemm_st(n, HD, total, (tensor_mat){att, total, 1}, (tensor_mat){vc, KVD, 1}, s->ao + h * HD, C, false);
}

int infer_feed(infer_session *s, const int32_t *tok, int n, float *logits_all, float *logits_last,
               char err[PLOW_ERR_LEN]) {
    const model *m = s->m;
    const model_config *c = &m->cfg;
    if (n <= 0) return plow_error(err, "nothing to feed");
    if (s->pos + n > s->max_ctx)
        return plow_error(err, "context full: %d tokens already, %d more would exceed %d", s->pos, n, s->max_ctx);
    for (int i = 0; i < n; i++)
        if (tok[i] < 0 || tok[i] >= c->vocab) return plow_error(err, "token id %d out of range 0..%d", tok[i], c->vocab - 1);
    if (!s->share && s->packed_path != tensor_path_get()) pack_all(s); /* the path changed under us (tests) */
    ensure_scratch(s, n);
    int C = c->d_model, F = c->d_ff, HD = C / c->n_head, KVD = c->n_kv_head * HD, V = c->vocab;
    for (int i = 0; i < n; i++) memcpy(s->x + (size_t)i * C, m->w.tok_emb + (size_t)tok[i] * C, sizeof(float) * (size_t)C);
    for (int l = 0; l < c->n_layer; l++) {
        const model_layer_view *w = &m->w.layer[l];
        tensor_rmsnorm(s->xn, NULL, s->x, w->attn_norm, n, C, c->norm_eps);
        linear(s, s->q, s->xn, n, l, W_Q, C, C);
        linear(s, s->k, s->xn, n, l, W_K, C, KVD);
        linear(s, s->v, s->xn, n, l, W_V, C, KVD);
        tensor_rope(s->q, m->rope_cos, m->rope_sin, n, n, c->n_head, HD, s->pos, false);
        tensor_rope(s->k, m->rope_cos, m->rope_sin, n, n, c->n_kv_head, HD, s->pos, false);
        float *kc = s->kcache + ((size_t)l * s->max_ctx + s->pos) * KVD;
        float *vc = s->vcache + ((size_t)l * s->max_ctx + s->pos) * KVD;
        memcpy(kc, s->k, sizeof(float) * (size_t)n * KVD);
        memcpy(vc, s->v, sizeof(float) * (size_t)n * KVD);
        iattn_job aj = {s, l, n};
        tensor_parallel_for((size_t)c->n_head, iattn_task, &aj);
        linear(s, s->tmp, s->ao, n, l, W_O, C, C);
        tensor_add(s->x, s->x, s->tmp, (size_t)n * C);
        tensor_rmsnorm(s->xn, NULL, s->x, w->ffn_norm, n, C, c->norm_eps);
        linear(s, s->gate, s->xn, n, l, W_GATE, C, F);
        linear(s, s->up, s->xn, n, l, W_UP, C, F);
        tensor_swiglu(s->h, s->gate, s->up, (size_t)n * F);
        linear(s, s->tmp, s->h, n, l, W_DOWN, F, C);
        tensor_add(s->x, s->x, s->tmp, (size_t)n * C);
    }
    s->pos += n;
    if (logits_all) {
        tensor_rmsnorm(s->xn, NULL, s->x, m->w.final_norm, n, C, c->norm_eps);
        tensor_gemm_packed(n, s->xn, C, owner(s)->lm_head, logits_all, V);
        if (logits_last) memcpy(logits_last, logits_all + (size_t)(n - 1) * V, sizeof(float) * (size_t)V);
    } else if (logits_last) {
        const float *last = s->x + (size_t)(n - 1) * C;
        tensor_rmsnorm(s->xn, NULL, last, m->w.final_norm, 1, C, c->norm_eps);
        tensor_gemm_packed(1, s->xn, C, owner(s)->lm_head, logits_last, V);
    }
    return 0;
}

/* ---- one decode step of several sessions (continuous batching) ---- */

typedef struct rows_job {
    infer_session *b; /* the work buffers */
    infer_session *const *s;
    const float *cos, *sin;
    int layer;
} rows_job;

/* Row r: rotary positions at its session's position, then its keys and
 * values into its session's cache. */
static void rows_rope_task(void *ctx, size_t r) {
    const rows_job *j = ctx;
    infer_session *b = j->b, *s = j->s[r];
    const model_config *c = &b->m->cfg;
    int C = c->d_model, HD = C / c->n_head, KVD = c->n_kv_head * HD, H2 = HD / 2;
    float *q = b->q + r * (size_t)C, *k = b->k + r * (size_t)KVD;
    tensor_rope_st(q, j->cos + (size_t)s->pos * H2, j->sin + (size_t)s->pos * H2, c->n_head, HD, false);
    tensor_rope_st(k, j->cos + (size_t)s->pos * H2, j->sin + (size_t)s->pos * H2, c->n_kv_head, HD, false);
    size_t at = ((size_t)j->layer * s->max_ctx + s->pos) * KVD;
    memcpy(s->kcache + at, k, sizeof(float) * (size_t)KVD);
    memcpy(s->vcache + at, b->v + r * (size_t)KVD, sizeof(float) * (size_t)KVD);
}

/* Task r * n_head + h: head h of row r attends over its own session's cache,
 * the very calls iattn_task makes for a feed of one token. */
static void rows_attn_task(void *ctx, size_t i) {
    const rows_job *j = ctx;
    infer_session *b = j->b;
    const model_config *c = &b->m->cfg;
    int H = c->n_head, C = c->d_model, HD = C / H, KVD = c->n_kv_head * HD;
    size_t r = i / (size_t)H;
    int h = (int)(i % (size_t)H), kvh = h / (H / c->n_kv_head);
    infer_session *s = j->s[r];
    int total = s->pos + 1;
    const float *kc = s->kcache + (size_t)j->layer * s->max_ctx * KVD + kvh * HD;
    const float *vc = s->vcache + (size_t)j->layer * s->max_ctx * KVD + kvh * HD;
    float *att = b->att + i * (size_t)b->max_ctx;
    float scale = 1.0f / sqrtf((float)HD);
    tensor_gemm_causal_st(1, total, HD, (tensor_mat){b->q + r * C + h * HD, C, 1}, (tensor_mat){kc, 1, KVD}, att,
                          total, s->pos);
    tensor_softmax_row_st(att, total, total, scale);
    tensor_gemm_st(1, HD, total, (tensor_mat){att, total, 1}, (tensor_mat){vc, KVD, 1}, b->ao + r * C + h * HD, C,
                   false);
}

int infer_feed_rows(infer_session *b, infer_session *const *s, const int32_t *tok, int n, float *logits,
                    char err[PLOW_ERR_LEN]) {
    const model *m = b->m;
    const model_config *c = &m->cfg;
    if (n <= 0) return plow_error(err, "nothing to feed");
    for (int i = 0; i < n; i++) {
        if (owner(s[i]) != owner(b)) return plow_error(err, "session %d does not share the batch's weights", i);
        if (s[i]->pos + 1 > s[i]->max_ctx) return plow_error(err, "session %d: context full (%d tokens)", i, s[i]->pos);
        if (s[i]->max_ctx > b->max_ctx) return plow_error(err, "session %d: context larger than the batch's", i);
        if (tok[i] < 0 || tok[i] >= c->vocab) return plow_error(err, "token id %d out of range 0..%d", tok[i], c->vocab - 1);
        for (int k = 0; k < i; k++)
            if (s[k] == s[i]) return plow_error(err, "session %d appears twice in a batch", i);
    }
    if (!b->share && b->packed_path != tensor_path_get()) pack_all(b);
    ensure_scratch(b, n); /* attention rows: n x n_head of b's context each */
    int C = c->d_model, F = c->d_ff, HD = C / c->n_head, KVD = c->n_kv_head * HD;
    for (int i = 0; i < n; i++) memcpy(b->x + (size_t)i * C, m->w.tok_emb + (size_t)tok[i] * C, sizeof(float) * (size_t)C);
    rows_job rj = {b, s, m->rope_cos, m->rope_sin, 0};
    for (int l = 0; l < c->n_layer; l++) {
        const model_layer_view *w = &m->w.layer[l];
        rj.layer = l;
        tensor_rmsnorm(b->xn, NULL, b->x, w->attn_norm, n, C, c->norm_eps);
        linear(b, b->q, b->xn, n, l, W_Q, C, C);
        linear(b, b->k, b->xn, n, l, W_K, C, KVD);
        linear(b, b->v, b->xn, n, l, W_V, C, KVD);
        tensor_parallel_for((size_t)n, rows_rope_task, &rj);
        tensor_parallel_for((size_t)n * (size_t)c->n_head, rows_attn_task, &rj);
        linear(b, b->tmp, b->ao, n, l, W_O, C, C);
        tensor_add(b->x, b->x, b->tmp, (size_t)n * C);
        tensor_rmsnorm(b->xn, NULL, b->x, w->ffn_norm, n, C, c->norm_eps);
        linear(b, b->gate, b->xn, n, l, W_GATE, C, F);
        linear(b, b->up, b->xn, n, l, W_UP, C, F);
        tensor_swiglu(b->h, b->gate, b->up, (size_t)n * F);
        linear(b, b->tmp, b->h, n, l, W_DOWN, F, C);
        tensor_add(b->x, b->x, b->tmp, (size_t)n * C);
    }
    for (int i = 0; i < n; i++) s[i]->pos++;
    tensor_rmsnorm(b->xn, NULL, b->x, m->w.final_norm, n, C, c->norm_eps);
    tensor_gemm_packed(n, b->xn, C, owner(b)->lm_head, logits, c->vocab);
    return 0;
}

int infer_sampling_check(const infer_sampling *sp, char err[PLOW_ERR_LEN]) {
    if (!(sp->temperature >= 0 && sp->temperature <= 100)) return plow_error(err, "temperature must be in [0, 100]");
    if (sp->top_k < 0) return plow_error(err, "top-k must not be negative");
    if (!(sp->top_p > 0 && sp->top_p <= 1)) return plow_error(err, "top-p must be in (0, 1]");
    return 0;
}

typedef struct cand {
    float p;
    int32_t id;
} cand;

static int cand_cmp(const void *a, const void *b) {
    const cand *x = a, *y = b;
    if (x->p != y->p) return x->p > y->p ? -1 : 1;
    return x->id < y->id ? -1 : x->id > y->id;
}

int32_t infer_sample(const float *logits, int V, const infer_sampling *sp, uint64_t position) {
    if (sp->temperature == 0.0f || sp->top_k == 1) {
        int32_t best = 0;
        for (int i = 1; i < V; i++)
            if (logits[i] > logits[best]) best = i;
        return best;
    }
    float *z = plow_alloc(sizeof(float) * (size_t)V);
    for (int i = 0; i < V; i++) z[i] = logits[i] / sp->temperature;
    float mx = tensor_max_st(z, (size_t)V);
    tensor_exp_shift_st(z, z, mx, (size_t)V);
    int keep = sp->top_k > 0 && sp->top_k < V ? sp->top_k : V;
    cand *c = plow_alloc(sizeof(cand) * (size_t)V);
    if (keep < V) {
        /* the top k by (probability desc, id asc) — a total order, so this is
         * exactly the first k of a full sort — with a heap whose root is the
         * worst kept candidate; then sort those k */
        int size = 0;
        for (int i = 0; i < V; i++) {
            cand x = {z[i], i};
            if (size < keep) {
                int j = size++;
                while (j > 0 && cand_cmp(&c[(j - 1) / 2], &x) < 0) {
                    c[j] = c[(j - 1) / 2];
                    j = (j - 1) / 2;
                }
                c[j] = x;
            } else if (x.p >= c[0].p && cand_cmp(&x, &c[0]) < 0) { /* most fail the first test */
                int j = 0;
                for (;;) {
                    int l = 2 * j + 1, r = l + 1, w = j;
                    const cand *wc = &x;
                    if (l < size && cand_cmp(&c[l], wc) > 0) w = l, wc = &c[l];
                    if (r < size && cand_cmp(&c[r], wc) > 0) w = r;
                    if (w == j) break;
                    c[j] = c[w];
                    j = w;
                }
                c[j] = x;
            }
        }
        qsort(c, (size_t)keep, sizeof *c, cand_cmp);
    } else {
        for (int i = 0; i < V; i++) c[i] = (cand){z[i], i};
        qsort(c, (size_t)V, sizeof *c, cand_cmp);
    }
    if (sp->top_p < 1.0f) {
        float total = 0.0f;
        for (int i = 0; i < keep; i++) total = total + c[i].p;
        float want = sp->top_p * total, cum = 0.0f;
        for (int i = 0; i < keep; i++) {
            cum = cum + c[i].p;
            if (cum >= want) {
                keep = i + 1;
                break;
            }
        }
    }
    float total = 0.0f;
    for (int i = 0; i < keep; i++) total = total + c[i].p;
    float u = tensor_uniform((tensor_rng_key){sp->seed, INFER_PURPOSE_SAMPLE, 0}, position) * total;
    int32_t pick = c[keep - 1].id;
    float cum = 0.0f;
    for (int i = 0; i < keep; i++) {
        cum = cum + c[i].p;
        if (u < cum) {
            pick = c[i].id;
            break;
        }
    }
    free(c);
    free(z);
    return pick;
}

int infer_generate(infer_session *s, const int32_t *prompt, int n_prompt, int n_new, const infer_sampling *sp,
                   int32_t stop_token, int32_t *out, void (*on_token)(void *ctx, int32_t tok), void *ctx,
                   char err[PLOW_ERR_LEN]) {
    if (infer_sampling_check(sp, err)) return -1;
    if (n_prompt < 1) return plow_error(err, "the prompt must have at least one token");
    int V = s->m->cfg.vocab;
    float *logits = plow_alloc(sizeof(float) * (size_t)V);
    int count = -1;
    if (infer_feed(s, prompt, n_prompt, NULL, logits, err)) goto out;
    count = 0;
    while (count < n_new) {
        int32_t t = infer_sample(logits, V, sp, (uint64_t)s->pos);
        out[count++] = t;
        if (on_token) on_token(ctx, t);
        if (t == stop_token || count == n_new) break;
        if (s->pos >= s->max_ctx) break;
        if (infer_feed(s, &t, 1, NULL, logits, err)) {
            count = -1;
            goto out;
        }
    }
out:
    free(logits);
    return count;
}
