/*
 * model.c — configs, parameter layout, LoRA, and the training forward and
 * backward passes of the llama-style decoder.
 *
 * Every matrix product goes through tensor_gemm (one FMA chain per output),
 * every vector reduction through the canonical tensor_* reductions, and work
 * is split over independent rows, heads or columns — so the bits of every
 * activation and gradient depend only on the inputs (docs/design.md §2).
 *
 * Non-goals: mixed precision, activation recomputation, micro-batching.
 */
#include "../base/plow.h"

#include <math.h>

#include "../tensor/tensor.h"
#include "model.h"

/* ---- configs --------------------------------------------------------------- */

typedef struct named_config {
    const char *name;
    int n_layer, d_model, n_head, n_kv_head, d_ff, ctx;
    bool tied;
} named_config;

static const named_config named_configs[] = {
    {"tiny", 4, 128, 4, 2, 384, 128, true},
    {"small", 6, 384, 6, 6, 1024, 256, false},
    {"base", 12, 768, 12, 12, 2048, 1024, false},
};
#define N_NAMED (sizeof named_configs / sizeof named_configs[0])

const char *model_config_names(void) { return "tiny, small, base"; }

int model_config_named(const char *name, int vocab, model_config *out, char err[PLOW_ERR_LEN]) {
    for (size_t i = 0; i < N_NAMED; i++) {
        const named_config *n = &named_configs[i];
        if (strcmp(n->name, name) != 0) continue;
        memset(out, 0, sizeof *out);
        snprintf(out->name, sizeof out->name, "%s", n->name);
        out->n_layer = n->n_layer;
        out->d_model = n->d_model;
        out->n_head = n->n_head;
        out->n_kv_head = n->n_kv_head;
        out->d_ff = n->d_ff;
        out->ctx = n->ctx;
        out->tied = n->tied;
        out->vocab = vocab;
        out->norm_eps = 1e-5f;
        out->rope_theta = 10000.0f;
        return model_config_check(out, err);
    }
    return plow_error(err, "unknown model config '%s' (known: %s)", name, model_config_names());
}

int model_config_check(const model_config *c, char err[PLOW_ERR_LEN]) {
    if (c->n_layer < 1 || c->n_layer > MODEL_MAX_LAYERS)
        return plow_error(err, "model: n_layer %d out of range 1..%d", c->n_layer, MODEL_MAX_LAYERS);
    if (c->d_model < 8 || c->d_model > MODEL_MAX_D_MODEL)
        return plow_error(err, "model: d_model %d out of range 8..%d", c->d_model, MODEL_MAX_D_MODEL);
    if (c->n_head < 1 || c->d_model % c->n_head != 0)
        return plow_error(err, "model: n_head %d must divide d_model %d", c->n_head, c->d_model);
    if ((c->d_model / c->n_head) % 2 != 0) return plow_error(err, "model: head width must be even for RoPE");
    if (c->n_kv_head < 1 || c->n_head % c->n_kv_head != 0)
        return plow_error(err, "model: n_kv_head %d must divide n_head %d", c->n_kv_head, c->n_head);
    if (c->d_ff < 1 || c->d_ff > MODEL_MAX_D_FF)
        return plow_error(err, "model: d_ff %d out of range 1..%d", c->d_ff, MODEL_MAX_D_FF);
    if (c->ctx < 1 || c->ctx > MODEL_MAX_CTX) return plow_error(err, "model: context %d out of range 1..%d", c->ctx, MODEL_MAX_CTX);
    if (c->vocab < 2 || c->vocab > MODEL_MAX_VOCAB)
        return plow_error(err, "model: vocab %d out of range 2..%d", c->vocab, MODEL_MAX_VOCAB);
    if (!(c->norm_eps > 0 && c->norm_eps < 1)) return plow_error(err, "model: norm_eps out of range");
    if (!(c->rope_theta > 1 && c->rope_theta < 1e9f)) return plow_error(err, "model: rope_theta out of range");
    uint64_t n = model_config_params(c);
    if (n > MODEL_MAX_PARAMS)
        return plow_error(err, "model: %llu parameters, more than the %llu allowed", (unsigned long long)n,
                          (unsigned long long)MODEL_MAX_PARAMS);
    return 0;
}

/* Every factor is bounded by the per-field limits above (checked or not, the
 * products of ints fit in 64 bits), so this never overflows. */
uint64_t model_config_params(const model_config *c) {
    uint64_t C = (uint64_t)(c->d_model > 0 ? c->d_model : 0), F = (uint64_t)(c->d_ff > 0 ? c->d_ff : 0);
    uint64_t V = (uint64_t)(c->vocab > 0 ? c->vocab : 0), L = (uint64_t)(c->n_layer > 0 ? c->n_layer : 0);
    uint64_t KVD = c->n_head > 0 && c->n_kv_head > 0 ? (uint64_t)c->n_kv_head * (C / (uint64_t)c->n_head) : 0;
    uint64_t per_layer = 2 * C + 2 * C * C + 2 * KVD * C + 3 * F * C;
    return V * C * (c->tied ? 1 : 2) + C + L * per_layer;
}

/* ---- parameter layout ------------------------------------------------------ */

static void add_tensor(model_tensor *t, int *n, size_t *off, const char *name, int64_t r, int64_t c,
                       bool decay) {
    model_tensor *x = &t[(*n)++];
    snprintf(x->name, sizeof x->name, "%s", name);
    x->ndim = c ? 2 : 1;
    x->shape[0] = r;
    x->shape[1] = c;
    x->numel = (size_t)r * (size_t)(c ? c : 1);
    x->offset = *off;
    x->decay = decay;
    /* keep every tensor 64-byte aligned inside the block */
    *off += (x->numel + 15) / 16 * 16;
}

/* Fills the tensor table; returns the block size in floats. */
static size_t layout(const model_config *c, model_tensor *t, int *n) {
    size_t off = 0;
    char name[MODEL_NAME_LEN];
    int64_t C = c->d_model, KVD = (int64_t)c->n_kv_head * (c->d_model / c->n_head), F = c->d_ff;
    *n = 0;
    add_tensor(t, n, &off, "model.embed_tokens.weight", c->vocab, C, true);
    for (int l = 0; l < c->n_layer; l++) {
#define LT(suffix, r, cc, decay)                                           \
    snprintf(name, sizeof name, "model.layers.%d.%s", l, suffix);          \
    add_tensor(t, n, &off, name, r, cc, decay)
        LT("input_layernorm.weight", C, 0, false);
        LT("self_attn.q_proj.weight", C, C, true);
        LT("self_attn.k_proj.weight", KVD, C, true);
        LT("self_attn.v_proj.weight", KVD, C, true);
        LT("self_attn.o_proj.weight", C, C, true);
        LT("post_attention_layernorm.weight", C, 0, false);
        LT("mlp.gate_proj.weight", F, C, true);
        LT("mlp.up_proj.weight", F, C, true);
        LT("mlp.down_proj.weight", C, F, true);
#undef LT
    }
    add_tensor(t, n, &off, "model.norm.weight", C, 0, false);
    if (!c->tied) add_tensor(t, n, &off, "lm_head.weight", c->vocab, C, true);
    return off;
}

void model_view_at(const model *m, float *block, model_view *v) {
    const model_tensor *t = m->tensors;
    int i = 0;
    v->tok_emb = block + t[i++].offset;
    for (int l = 0; l < m->cfg.n_layer; l++) {
        model_layer_view *L = &v->layer[l];
        L->attn_norm = block + t[i++].offset;
        L->wq = block + t[i++].offset;
        L->wk = block + t[i++].offset;
        L->wv = block + t[i++].offset;
        L->wo = block + t[i++].offset;
        L->ffn_norm = block + t[i++].offset;
        L->w_gate = block + t[i++].offset;
        L->w_up = block + t[i++].offset;
        L->w_down = block + t[i++].offset;
    }
    v->final_norm = block + t[i++].offset;
    v->lm_head = m->cfg.tied ? v->tok_emb : block + t[i++].offset;
}

int model_new(model **out, const model_config *cfg, char err[PLOW_ERR_LEN]) {
    *out = NULL;
    if (model_config_check(cfg, err)) return -1;
    model *m = plow_calloc(1, sizeof *m);
    m->cfg = *cfg;
    m->tensors = plow_calloc((size_t)cfg->n_layer * 9 + 3, sizeof *m->tensors);
    m->n_params = layout(cfg, m->tensors, &m->n_tensors);
    /* RoPE tables: inv_freq_i = theta^(-2i/HD), angle = pos * inv_freq_i, all
     * with plow's own exp/log/cos/sin (docs/design.md §2). */
    int HD = cfg->d_model / cfg->n_head, H2 = HD / 2;
    /* the sizes come from a config someone else may have written: out of
     * memory is an error for this model, not the end of the process */
    m->params = plow_try_alloc_aligned(m->n_params * sizeof(float));
    m->rope_cos = plow_try_alloc_aligned((size_t)cfg->ctx * H2 * sizeof(float));
    m->rope_sin = plow_try_alloc_aligned((size_t)cfg->ctx * H2 * sizeof(float));
    if (!m->params || !m->rope_cos || !m->rope_sin) {
        plow_error(err, "model: out of memory for %zu parameters (%zu bytes)", m->n_params,
                   m->n_params * sizeof(float));
        model_free(m);
        return -1;
    }
    model_view_at(m, m->params, &m->w);
    double ltheta = tensor_log_d((double)cfg->rope_theta);
    for (int i = 0; i < H2; i++) {
        float inv = (float)tensor_exp_d(-(2.0 * i / HD) * ltheta);
        for (int p = 0; p < cfg->ctx; p++) {
            float ang = (float)p * inv;
            m->rope_cos[(size_t)p * H2 + i] = (float)tensor_cos_d(ang);
            m->rope_sin[(size_t)p * H2 + i] = (float)tensor_sin_d(ang);
        }
    }
    *out = m;
    return 0;
}

void model_free(model *m) {
    if (!m) return;
    free(m->params);
    free(m->tensors);
    free(m->rope_cos);
    free(m->rope_sin);
    free(m);
}

enum { RNG_PURPOSE_INIT = 1, RNG_PURPOSE_LORA_INIT = 2 };

void model_init_weights(model *m, uint64_t seed) {
    float resid_std = 0.02f / sqrtf(2.0f * (float)m->cfg.n_layer);
    for (int i = 0; i < m->n_tensors; i++) {
        const model_tensor *t = &m->tensors[i];
        float *p = m->params + t->offset;
        if (t->ndim == 1) {
            for (size_t j = 0; j < t->numel; j++) p[j] = 1.0f;
            continue;
        }
        bool resid = strstr(t->name, "o_proj") || strstr(t->name, "down_proj");
        tensor_normal_fill(p, t->numel, resid ? resid_std : 0.02f,
                           (tensor_rng_key){seed, RNG_PURPOSE_INIT, (uint32_t)i});
    }
}

void model_hash(const model *m, uint8_t out[PLOW_HASH_LEN]) {
    plow_sha256 *h = plow_sha256_new();
    static const char tag[] = "plow.model.v1";
    plow_sha256_update(h, tag, sizeof tag);
    const model_config *c = &m->cfg;
    uint8_t hdr[4 * 9];
    int32_t f[] = {c->n_layer, c->d_model, c->n_head, c->n_kv_head, c->d_ff, c->ctx, c->vocab, c->tied};
    for (int i = 0; i < 8; i++) plow_put_u32(hdr + 4 * i, (uint32_t)f[i]);
    uint32_t eb;
    memcpy(&eb, &c->norm_eps, 4);
    plow_put_u32(hdr + 32, eb);
    plow_sha256_update(h, hdr, sizeof hdr);
    for (int i = 0; i < m->n_tensors; i++)
        plow_sha256_update(h, m->params + m->tensors[i].offset, m->tensors[i].numel * sizeof(float));
    plow_sha256_final(h, out);
}

/* ---- LoRA ------------------------------------------------------------------ */

static const char *const lora_names[LORA_TARGET_COUNT] = {"q_proj", "k_proj", "v_proj", "o_proj",
                                                          "gate_proj", "up_proj", "down_proj"};
static const char *const lora_short[LORA_TARGET_COUNT] = {"q", "k", "v", "o", "gate", "up", "down"};

const char *lora_target_name(int bit) { return bit >= 0 && bit < LORA_TARGET_COUNT ? lora_names[bit] : "?"; }

int lora_parse_targets(const char *s, unsigned *mask, char err[PLOW_ERR_LEN]) {
    *mask = 0;
    if (strcmp(s, "all") == 0) {
        *mask = (1u << LORA_TARGET_COUNT) - 1;
        return 0;
    }
    const char *p = s;
    while (*p) {
        const char *e = strchr(p, ',');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        bool found = false;
        for (int i = 0; i < LORA_TARGET_COUNT; i++) {
            if ((strlen(lora_names[i]) == n && strncmp(p, lora_names[i], n) == 0) ||
                (strlen(lora_short[i]) == n && strncmp(p, lora_short[i], n) == 0)) {
                *mask |= 1u << i;
                found = true;
            }
        }
        if (!found)
            return plow_error(err, "unknown LoRA target '%.*s' (use q,k,v,o,gate,up,down or all)", (int)n, p);
        p += n;
        if (*p == ',') p++;
    }
    if (!*mask) return plow_error(err, "no LoRA targets given");
    return 0;
}

/* (out, in) of target bit t. */
static void lora_dims(const model_config *c, int t, int64_t *out_d, int64_t *in_d) {
    int64_t C = c->d_model, KVD = (int64_t)c->n_kv_head * (c->d_model / c->n_head), F = c->d_ff;
    static const int kind[LORA_TARGET_COUNT] = {0, 1, 1, 0, 2, 2, 3};
    switch (kind[t]) {
    case 0: *out_d = C; *in_d = C; break;
    case 1: *out_d = KVD; *in_d = C; break;
    case 2: *out_d = F; *in_d = C; break;
    default: *out_d = C; *in_d = F; break;
    }
}

uint64_t lora_config_params(const model_config *c, int rank, unsigned targets) {
    uint64_t n = 0;
    for (int t = 0; t < LORA_TARGET_COUNT; t++) {
        if (!(targets & (1u << t))) continue;
        int64_t od, id;
        lora_dims(c, t, &od, &id);
        n += (uint64_t)(rank > 0 ? rank : 0) * (uint64_t)(od + id);
    }
    return n * (uint64_t)(c->n_layer > 0 ? c->n_layer : 0);
}

void lora_view_at(const lora *l, float *block, lora_pair out[MODEL_MAX_LAYERS][LORA_TARGET_COUNT]) {
    memset(out, 0, sizeof(lora_pair) * MODEL_MAX_LAYERS * LORA_TARGET_COUNT);
    int i = 0;
    for (int layer = 0; layer < l->n_layer; layer++)
        for (int t = 0; t < LORA_TARGET_COUNT; t++) {
            if (!(l->targets & (1u << t))) continue;
            out[layer][t].a = block + l->tensors[i++].offset;
            out[layer][t].b = block + l->tensors[i++].offset;
        }
}

int lora_new(lora **out, const model_config *cfg, int rank, float alpha, unsigned targets,
             char err[PLOW_ERR_LEN]) {
    *out = NULL;
    if (rank < 1 || rank > 1024) return plow_error(err, "LoRA rank %d out of range 1..1024", rank);
    if (!(alpha > 0 && alpha < 1e6f)) return plow_error(err, "LoRA alpha must be positive");
    if (!targets || targets >= (1u << LORA_TARGET_COUNT)) return plow_error(err, "bad LoRA target mask");
    lora *l = plow_calloc(1, sizeof *l);
    l->rank = rank;
    l->alpha = alpha;
    l->targets = targets;
    l->n_layer = cfg->n_layer;
    l->tensors = plow_calloc((size_t)cfg->n_layer * LORA_TARGET_COUNT * 2, sizeof *l->tensors);
    size_t off = 0;
    for (int layer = 0; layer < cfg->n_layer; layer++)
        for (int t = 0; t < LORA_TARGET_COUNT; t++) {
            if (!(targets & (1u << t))) continue;
            int64_t od, id;
            lora_dims(cfg, t, &od, &id);
            const char *grp = t <= 3 ? "self_attn" : "mlp";
            char name[MODEL_NAME_LEN];
            snprintf(name, sizeof name, "base_model.model.model.layers.%d.%s.%s.lora_A.weight", layer, grp, lora_names[t]);
            add_tensor(l->tensors, &l->n_tensors, &off, name, rank, id, false);
            snprintf(name, sizeof name, "base_model.model.model.layers.%d.%s.%s.lora_B.weight", layer, grp, lora_names[t]);
            add_tensor(l->tensors, &l->n_tensors, &off, name, od, rank, false);
        }
    l->n_params = off;
    l->params = plow_try_alloc_aligned(off * sizeof(float));
    if (!l->params) {
        lora_free(l);
        return plow_error(err, "LoRA: out of memory for %zu parameters", off);
    }
    lora_view_at(l, l->params, l->pair);
    *out = l;
    return 0;
}

void lora_init_weights(lora *l, uint64_t seed) {
    for (int i = 0; i < l->n_tensors; i++) {
        const model_tensor *t = &l->tensors[i];
        float *p = l->params + t->offset;
        if (strstr(t->name, "lora_B")) {
            memset(p, 0, t->numel * sizeof(float));
            continue;
        }
        float bound = 1.0f / sqrtf((float)t->shape[1]);
        tensor_rng_key k = {seed, RNG_PURPOSE_LORA_INIT, (uint32_t)i};
        for (size_t j = 0; j < t->numel; j++) p[j] = (tensor_uniform(k, j) * 2.0f - 1.0f) * bound;
    }
}

void lora_hash(const lora *l, uint8_t out[PLOW_HASH_LEN]) {
    plow_sha256 *h = plow_sha256_new();
    static const char tag[] = "plow.lora.v1";
    plow_sha256_update(h, tag, sizeof tag);
    uint8_t hdr[16];
    uint32_t ab;
    memcpy(&ab, &l->alpha, 4);
    plow_put_u32(hdr, (uint32_t)l->rank);
    plow_put_u32(hdr + 4, ab);
    plow_put_u32(hdr + 8, l->targets);
    plow_put_u32(hdr + 12, (uint32_t)l->n_layer);
    plow_sha256_update(h, hdr, sizeof hdr);
    for (int i = 0; i < l->n_tensors; i++)
        plow_sha256_update(h, l->params + l->tensors[i].offset, l->tensors[i].numel * sizeof(float));
    plow_sha256_final(h, out);
}

void lora_free(lora *l) {
    if (!l) return;
    free(l->params);
    free(l->tensors);
    free(l);
}

/* ---- workspace ------------------------------------------------------------- */

typedef struct layer_acts {
    float *x_in;      /* (N, C) residual stream entering the layer */
    float *rstd1;     /* (N) */
    float *xn1;       /* (N, C) */
    float *q, *k, *v; /* (N, C), (N, KVD), (N, KVD); q and k after RoPE */
    float *att;       /* (B, NH, T, T) softmax probabilities, zero above the diagonal */
    float *ao;        /* (N, C) attention output, before Wo */
    float *x_mid;     /* (N, C) */
    float *rstd2;     /* (N) */
    float *xn2;       /* (N, C) */
    float *gate, *up; /* (N, F) */
    float *h;         /* (N, F) silu(gate) * up */
    float *xa[LORA_TARGET_COUNT]; /* (N, rank) LoRA x·A^T·scale per target */
} layer_acts;

struct model_ws {
    int B, T, N;
    layer_acts layer[MODEL_MAX_LAYERS];
    float *x_final;   /* (N, C) residual stream after the last layer */
    float *rstdf;     /* (N) */
    float *xnf;       /* (N, C) */
    float *logits;    /* (N, V); after forward: probabilities */
    const int32_t *tokens, *targets;
    int32_t *tok_copy, *tgt_copy;
    /* backward scratch */
    float *dx, *dxn, *dq, *dk, *dv, *dao, *dgate, *dup, *dh, *datt, *dxa, *dtmp;
    float *arena;
    size_t arena_used, arena_size;
};

static float *ws_take(model_ws *ws, size_t n) {
    size_t n16 = (n + 15) / 16 * 16;
    PLOW_ASSERT(ws->arena_used + n16 <= ws->arena_size);
    float *p = ws->arena + ws->arena_used;
    ws->arena_used += n16;
    return p;
}

static size_t ws_floats(const model_config *c, int rank, unsigned targets, int B, int T, bool count_only, model_ws *ws) {
    size_t N = (size_t)B * T, C = (size_t)c->d_model, F = (size_t)c->d_ff, V = (size_t)c->vocab;
    size_t KVD = (size_t)c->n_kv_head * (C / (size_t)c->n_head), NH = (size_t)c->n_head;
    size_t r = (size_t)rank;
    size_t total = 0;
#define TAKE(ptr, n)                                   \
    do {                                               \
        size_t n_ = (n);                               \
        total += (n_ + 15) / 16 * 16;                  \
        if (!count_only) (ptr) = ws_take(ws, n_);      \
    } while (0)
    for (int i = 0; i < c->n_layer; i++) {
        layer_acts *a = count_only ? NULL : &ws->layer[i];
        float *dummy;
#define P(field) (*(count_only ? &dummy : &a->field))
        TAKE(P(x_in), N * C);
        TAKE(P(rstd1), N);
        TAKE(P(xn1), N * C);
        TAKE(P(q), N * C);
        TAKE(P(k), N * KVD);
        TAKE(P(v), N * KVD);
        TAKE(P(att), (size_t)B * NH * T * T);
        TAKE(P(ao), N * C);
        TAKE(P(x_mid), N * C);
        TAKE(P(rstd2), N);
        TAKE(P(xn2), N * C);
        TAKE(P(gate), N * F);
        TAKE(P(up), N * F);
        TAKE(P(h), N * F);
        for (int t = 0; t < LORA_TARGET_COUNT; t++)
            if (rank && (targets & (1u << t))) TAKE(P(xa[t]), N * r);
#undef P
    }
    float *d2;
#define Q(field) (*(count_only ? &d2 : &ws->field))
    size_t big = C > F ? C : F;
    TAKE(Q(x_final), N * C);
    TAKE(Q(rstdf), N);
    TAKE(Q(xnf), N * C);
    TAKE(Q(logits), N * V);
    TAKE(Q(dx), N * C);
    TAKE(Q(dxn), N * C);
    TAKE(Q(dq), N * C);
    TAKE(Q(dk), N * KVD);
    TAKE(Q(dv), N * KVD);
    TAKE(Q(dao), N * C);
    TAKE(Q(dgate), N * F);
    TAKE(Q(dup), N * F);
    TAKE(Q(dh), N * F);
    TAKE(Q(datt), (size_t)B * NH * T * T);
    TAKE(Q(dxa), N * (r ? r : 1));
    TAKE(Q(dtmp), N * big);
#undef Q
#undef TAKE
    return total;
}

/* With a checked config (every dimension bounded, model_config_check), a
 * batch of at most 2^16 sequences of at most ctx <= 2^14 tokens and a rank of
 * at most 1024, the largest term, L x B x NH x T x T floats, stays below
 * 2^60 bytes: the exact count cannot wrap. Anything else saturates. */
uint64_t model_ws_bytes(const model_config *c, int rank, unsigned targets, int B, int T) {
    if (model_config_check(c, NULL) != 0 || B < 1 || B > 65536 || T < 1 || T > c->ctx || rank < 0 || rank > 1024)
        return UINT64_MAX;
    size_t floats = ws_floats(c, rank, targets, B, T, true, NULL);
    return (uint64_t)floats * sizeof(float) + (uint64_t)B * (uint64_t)T * 2 * sizeof(int32_t);
}

int model_ws_create(model_ws **out, const model *m, const lora *l, int B, int T, char err[PLOW_ERR_LEN]) {
    *out = NULL;
    if (B < 1 || T < 1 || T > m->cfg.ctx)
        return plow_error(err, "workspace: batch %d x sequence %d out of range (context %d)", B, T, m->cfg.ctx);
    size_t N = (size_t)B * (size_t)T;
    if (model_ws_bytes(&m->cfg, l ? l->rank : 0, l ? l->targets : 0, B, T) == UINT64_MAX)
        return plow_error(err, "workspace: batch %d x sequence %d is out of range", B, T);
    model_ws *ws = plow_calloc(1, sizeof *ws);
    ws->B = B;
    ws->T = T;
    ws->N = B * T;
    ws->arena_size = ws_floats(&m->cfg, l ? l->rank : 0, l ? l->targets : 0, B, T, true, NULL);
    ws->arena = plow_try_alloc_aligned(ws->arena_size * sizeof(float));
    ws->tok_copy = plow_try_alloc(sizeof(int32_t) * N);
    ws->tgt_copy = plow_try_alloc(sizeof(int32_t) * N);
    if (!ws->arena || !ws->tok_copy || !ws->tgt_copy) {
        plow_error(err, "workspace: out of memory for a batch of %d x %d (%zu bytes)", B, T,
                   ws->arena_size * sizeof(float));
        model_ws_free(ws);
        return -1;
    }
    ws_floats(&m->cfg, l ? l->rank : 0, l ? l->targets : 0, B, T, false, ws);
    *out = ws;
    return 0;
}

model_ws *model_ws_new(const model *m, const lora *l, int B, int T) {
    PLOW_ASSERT(B >= 1 && T >= 1 && T <= m->cfg.ctx);
    model_ws *ws;
    char err[PLOW_ERR_LEN];
    if (model_ws_create(&ws, m, l, B, T, err) != 0) {
        fprintf(stderr, "plow: %s\n", err);
        abort();
    }
    return ws;
}

void model_ws_free(model_ws *ws) {
    if (!ws) return;
    free(ws->arena);
    free(ws->tok_copy);
    free(ws->tgt_copy);
    free(ws);
}

const float *model_ws_logits(const model_ws *ws) { return ws->logits; }

/* ---- row-parallel helpers --------------------------------------------------- */

/* A per-thread work buffer for row and chunk tasks. */
static float *tl_scratch(size_t n) { return tensor_scratch(TENSOR_SCRATCH_USER, n); }

#define ROWS_PER_TASK 16

typedef struct rmsb_job {
    const float *x, *w, *rstd, *dy;
    float *dx;   /* accumulated into */
    float *prod; /* (N, C) dy * xhat, for dw */
    int N, C;
} rmsb_job;

static void rmsb_task(void *ctx, size_t t) {
    const rmsb_job *j = ctx;
    int C = j->C;
    float *scratch = tl_scratch(2 * (size_t)C);
    int r0 = (int)t * ROWS_PER_TASK, r1 = r0 + ROWS_PER_TASK < j->N ? r0 + ROWS_PER_TASK : j->N;
    for (int r = r0; r < r1; r++)
        tensor_rms_backward_row_st(j->dx + (size_t)r * C, j->prod + (size_t)r * C, j->x + (size_t)r * C,
                                   j->dy + (size_t)r * C, j->w, j->rstd[r], (size_t)C, scratch);
}

typedef struct colsum_job {
    const float *src; /* (N, C) */
    float *dst;       /* (C) */
    int N, C;
} colsum_job;

#define COLS_PER_TASK 64

/* dst[j] = sum over rows r in order 0..N-1 of src[r][j] (a sequential chain
 * per column: canonical, and independent of how columns are split). */
static void colsum_task(void *ctx, size_t t) {
    const colsum_job *j = ctx;
    int c0 = (int)t * COLS_PER_TASK, c1 = c0 + COLS_PER_TASK < j->C ? c0 + COLS_PER_TASK : j->C;
    float acc[COLS_PER_TASK] = {0};
    for (int r = 0; r < j->N; r++) tensor_add_st(acc, acc, j->src + (size_t)r * j->C + c0, (size_t)(c1 - c0));
    memcpy(j->dst + c0, acc, sizeof(float) * (size_t)(c1 - c0));
}

static void colsum(float *dst, const float *src, int N, int C) {
    colsum_job j = {src, dst, N, C};
    tensor_parallel_for((size_t)(C + COLS_PER_TASK - 1) / COLS_PER_TASK, colsum_task, &j);
}

/* dx += rmsnorm backward; dw = column sums of dy * xhat (if dw). */
static void rmsnorm_backward(float *dx, float *dw, float *scratch, const float *dy, const float *x,
                             const float *w, const float *rstd, int N, int C) {
    rmsb_job j = {x, w, rstd, dy, dx, scratch, N, C};
    tensor_parallel_for((size_t)(N + ROWS_PER_TASK - 1) / ROWS_PER_TASK, rmsb_task, &j);
    if (dw) colsum(dw, scratch, N, C);
}

/* ---- linear layers (with optional LoRA) ------------------------------------- */

static inline tensor_mat rowmaj(const float *p, int cols) { return (tensor_mat){p, cols, 1}; }
static inline tensor_mat colmaj(const float *p, int rows_stride) { return (tensor_mat){p, 1, rows_stride}; }

/* y (N, out) = x (N, in) · W^T [+ scale · (x A^T) B^T], saving x A^T scale in xa. */
static void linear_forward(float *y, const float *x, const float *w, int N, int in, int out,
                           const lora_pair *lp, int rank, float scale, float *xa) {
    tensor_gemm(N, out, in, rowmaj(x, in), colmaj(w, in), y, out, false);
    if (!lp || !lp->a) return;
    tensor_gemm(N, rank, in, rowmaj(x, in), colmaj(lp->a, in), xa, rank, false);
    tensor_scale(xa, xa, scale, (size_t)N * rank);
    tensor_gemm(N, out, rank, rowmaj(xa, rank), colmaj(lp->b, rank), y, out, true);
}

/* Backward of linear_forward. dx = / += dy·W (+ LoRA part); dw = dy^T x if dw;
 * LoRA grads into dlp if lp. */
static void linear_backward(float *dx, bool dx_acc, float *dw, const float *dy, const float *x,
                            const float *w, int N, int in, int out, const lora_pair *lp,
                            const lora_pair *dlp, int rank, float scale, const float *xa,
                            float *dxa) {
    tensor_gemm(N, in, out, rowmaj(dy, out), rowmaj(w, in), dx, in, dx_acc);
    if (dw) tensor_gemm(out, in, N, colmaj(dy, out), rowmaj(x, in), dw, in, false);
    if (!lp || !lp->a) return;
    /* dB = dy^T (x A^T scale) */
    tensor_gemm(out, rank, N, colmaj(dy, out), rowmaj(xa, rank), dlp->b, rank, false);
    /* dxa = (dy B) * scale */
    tensor_gemm(N, rank, out, rowmaj(dy, out), rowmaj(lp->b, rank), dxa, rank, false);
    tensor_scale(dxa, dxa, scale, (size_t)N * rank);
    /* dA = dxa^T x; dx += dxa A */
    tensor_gemm(rank, in, N, colmaj(dxa, rank), rowmaj(x, in), dlp->a, in, false);
    tensor_gemm(N, in, rank, rowmaj(dxa, rank), rowmaj(lp->a, in), dx, in, true);
}

/* ---- attention ------------------------------------------------------------- */

typedef struct attn_job {
    const float *q, *k, *v;
    float *att, *out;
    int B, T, NH, NKV, HD;
} attn_job;

static void attn_task(void *ctx, size_t t) {
    const attn_job *j = ctx;
    int b = (int)t / j->NH, h = (int)t % j->NH, T = j->T, HD = j->HD;
    int C = j->NH * HD, KVD = j->NKV * HD, kvh = h / (j->NH / j->NKV);
    float *att = j->att + ((size_t)b * j->NH + h) * T * T;
    const float *q = j->q + (size_t)b * T * C + h * HD;
    const float *k = j->k + (size_t)b * T * KVD + kvh * HD;
    const float *v = j->v + (size_t)b * T * KVD + kvh * HD;
    float scale = 1.0f / sqrtf((float)HD);
    /* S = Q K^T (lower triangle), then a causal softmax per row */
    tensor_gemm_causal_st(T, T, HD, (tensor_mat){q, C, 1}, (tensor_mat){k, 1, KVD}, att, T, 0);
    for (int r = 0; r < T; r++) tensor_softmax_row_st(att + (size_t)r * T, r + 1, T, scale);
    /* O = P V */
    tensor_gemm_st(T, HD, T, (tensor_mat){att, T, 1}, (tensor_mat){v, KVD, 1},
                   j->out + (size_t)b * T * C + h * HD, C, false);
}

typedef struct attnb_job {
    const float *q, *k, *v, *att, *dout;
    float *datt, *dq, *dk, *dv;
    int B, T, NH, NKV, HD;
} attnb_job;

/* One task per (batch, kv head): its query heads in order, so the sums into
 * dK and dV run in a fixed order. */
static void attnb_task(void *ctx, size_t t) {
    const attnb_job *j = ctx;
    int b = (int)t / j->NKV, kvh = (int)t % j->NKV, T = j->T, HD = j->HD;
    int C = j->NH * HD, KVD = j->NKV * HD, G = j->NH / j->NKV;
    float scale = 1.0f / sqrtf((float)HD);
    const float *k = j->k + (size_t)b * T * KVD + kvh * HD;
    const float *v = j->v + (size_t)b * T * KVD + kvh * HD;
    float *dk = j->dk + (size_t)b * T * KVD + kvh * HD;
    float *dv = j->dv + (size_t)b * T * KVD + kvh * HD;
    for (int g = 0; g < G; g++) {
        int h = kvh * G + g;
        const float *att = j->att + ((size_t)b * j->NH + h) * T * T;
        float *datt = j->datt + ((size_t)b * j->NH + h) * T * T;
        const float *q = j->q + (size_t)b * T * C + h * HD;
        const float *dout = j->dout + (size_t)b * T * C + h * HD;
        float *dq = j->dq + (size_t)b * T * C + h * HD;
        /* dP = dO V^T (lower triangle) */
        tensor_gemm_causal_st(T, T, HD, (tensor_mat){dout, C, 1}, (tensor_mat){v, 1, KVD}, datt, T, 0);
        /* dS = P (dP - <P, dP>) * scale, zero above the diagonal */
        for (int r = 0; r < T; r++) {
            const float *p = att + (size_t)r * T;
            float *d = datt + (size_t)r * T;
            float dot = tensor_dot_st(p, d, (size_t)r + 1);
            for (int u = 0; u <= r; u++) d[u] = p[u] * (d[u] - dot) * scale;
            for (int u = r + 1; u < T; u++) d[u] = 0.0f;
        }
        /* dQ = dS K ; dK += dS^T Q ; dV += P^T dO */
        tensor_gemm_st(T, HD, T, (tensor_mat){datt, T, 1}, (tensor_mat){k, KVD, 1}, dq, C, false);
        tensor_gemm_st(T, HD, T, (tensor_mat){datt, 1, T}, (tensor_mat){q, C, 1}, dk, KVD, g > 0);
        tensor_gemm_st(T, HD, T, (tensor_mat){att, 1, T}, (tensor_mat){dout, C, 1}, dv, KVD, g > 0);
    }
}

/* ---- SwiGLU ----------------------------------------------------------------- */

typedef struct swiglu_job {
    const float *gate, *up, *dh;
    float *h, *dgate, *dup;
    size_t n;
} swiglu_job;

static void swiglu_bwd_task(void *ctx, size_t t) {
    const swiglu_job *j = ctx;
    size_t o = t * PLOW_CHUNK, e = o + PLOW_CHUNK < j->n ? o + PLOW_CHUNK : j->n;
    float *sg = tl_scratch(PLOW_CHUNK);
    tensor_sigmoid_st(sg, j->gate + o, e - o);
    tensor_swiglu_backward_st(j->dgate + o, j->dup + o, j->gate + o, j->up + o, j->dh + o, sg, e - o);
}

/* ---- embedding and loss -------------------------------------------------- */

typedef struct ce_job {
    float *logits; /* (N, V) in: logits, out: probabilities */
    const int32_t *targets;
    float *logp;
    int V;
} ce_job;

static void ce_task(void *ctx, size_t r) {
    const ce_job *j = ctx;
    float *l = j->logits + r * (size_t)j->V;
    float mx = tensor_max_st(l, (size_t)j->V);
    float lt = l[j->targets[r]];
    tensor_exp_shift_st(l, l, mx, (size_t)j->V);
    float s = tensor_sum_st(l, (size_t)j->V);
    j->logp[r] = (lt - mx) - tensor_logf(s);
    tensor_scale_st(l, l, 1.0f / s, (size_t)j->V);
}

float model_mean_loss(const float *logp, size_t n) { return -tensor_sum_st(logp, n) / (float)n; }

typedef struct emb_job {
    const float *emb;
    const int32_t *tok;
    float *x;
    const float *dx;
    float *demb;
    int N, C;
} emb_job;

static void emb_fwd_task(void *ctx, size_t r) {
    const emb_job *j = ctx;
    memcpy(j->x + r * (size_t)j->C, j->emb + (size_t)j->tok[r] * j->C, sizeof(float) * (size_t)j->C);
}

/* Scatter-add, split by columns: each column's sum runs over rows in order. */
static void emb_bwd_task(void *ctx, size_t t) {
    const emb_job *j = ctx;
    int c0 = (int)t * COLS_PER_TASK, c1 = c0 + COLS_PER_TASK < j->C ? c0 + COLS_PER_TASK : j->C;
    for (int r = 0; r < j->N; r++) {
        float *d = j->demb + (size_t)j->tok[r] * j->C + c0;
        tensor_add_st(d, d, j->dx + (size_t)r * j->C + c0, (size_t)(c1 - c0));
    }
}

/* ---- forward ---------------------------------------------------------------- */

static float lora_scale(const lora *l) { return l ? l->alpha / (float)l->rank : 0.0f; }

void model_forward(const model *m, const lora *l, model_ws *ws, const int32_t *tokens,
                   const int32_t *targets, float *logp) {
    const model_config *c = &m->cfg;
    int B = ws->B, T = ws->T, N = ws->N, C = c->d_model, F = c->d_ff, V = c->vocab;
    int HD = C / c->n_head, KVD = c->n_kv_head * HD, r = l ? l->rank : 0;
    float ls = lora_scale(l);
    memcpy(ws->tok_copy, tokens, sizeof(int32_t) * (size_t)N);
    memcpy(ws->tgt_copy, targets, sizeof(int32_t) * (size_t)N);
    ws->tokens = ws->tok_copy;
    ws->targets = ws->tgt_copy;

    float *x = ws->layer[0].x_in;
    emb_job ej = {m->w.tok_emb, ws->tokens, x, NULL, NULL, N, C};
    tensor_parallel_for((size_t)N, emb_fwd_task, &ej);

    for (int li = 0; li < c->n_layer; li++) {
        layer_acts *a = &ws->layer[li];
        const model_layer_view *w = &m->w.layer[li];
        const lora_pair *lp = l ? l->pair[li] : NULL;
        tensor_rmsnorm(a->xn1, a->rstd1, a->x_in, w->attn_norm, N, C, c->norm_eps);
        linear_forward(a->q, a->xn1, w->wq, N, C, C, lp ? &lp[0] : NULL, r, ls, a->xa[0]);
        linear_forward(a->k, a->xn1, w->wk, N, C, KVD, lp ? &lp[1] : NULL, r, ls, a->xa[1]);
        linear_forward(a->v, a->xn1, w->wv, N, C, KVD, lp ? &lp[2] : NULL, r, ls, a->xa[2]);
        tensor_rope(a->q, m->rope_cos, m->rope_sin, N, T, c->n_head, HD, 0, false);
        tensor_rope(a->k, m->rope_cos, m->rope_sin, N, T, c->n_kv_head, HD, 0, false);
        attn_job aj = {a->q, a->k, a->v, a->att, a->ao, B, T, c->n_head, c->n_kv_head, HD};
        tensor_parallel_for((size_t)B * c->n_head, attn_task, &aj);
        linear_forward(ws->dtmp, a->ao, w->wo, N, C, C, lp ? &lp[3] : NULL, r, ls, a->xa[3]);
        tensor_add(a->x_mid, a->x_in, ws->dtmp, (size_t)N * C);
        tensor_rmsnorm(a->xn2, a->rstd2, a->x_mid, w->ffn_norm, N, C, c->norm_eps);
        linear_forward(a->gate, a->xn2, w->w_gate, N, C, F, lp ? &lp[4] : NULL, r, ls, a->xa[4]);
        linear_forward(a->up, a->xn2, w->w_up, N, C, F, lp ? &lp[5] : NULL, r, ls, a->xa[5]);
        tensor_swiglu(a->h, a->gate, a->up, (size_t)N * F);
        linear_forward(ws->dtmp, a->h, w->w_down, N, F, C, lp ? &lp[6] : NULL, r, ls, a->xa[6]);
        float *next = li + 1 < c->n_layer ? ws->layer[li + 1].x_in : ws->x_final;
        tensor_add(next, a->x_mid, ws->dtmp, (size_t)N * C);
    }
    tensor_rmsnorm(ws->xnf, ws->rstdf, ws->x_final, m->w.final_norm, N, C, c->norm_eps);
    tensor_gemm(N, V, C, rowmaj(ws->xnf, C), colmaj(m->w.lm_head, C), ws->logits, V, false);
    ce_job cj = {ws->logits, ws->targets, logp, V};
    tensor_parallel_for((size_t)N, ce_task, &cj);
}

/* ---- backward --------------------------------------------------------------- */

typedef struct dlogit_job {
    float *p; /* (N, V) probabilities in, dlogits out */
    const int32_t *targets;
    const float *dlogp;
    int V;
} dlogit_job;

/* dL/dlogits = dL/dlogp * (onehot - p). */
static void dlogit_task(void *ctx, size_t r) {
    const dlogit_job *j = ctx;
    tensor_dlogits_st(j->p + r * (size_t)j->V, (size_t)j->V, j->dlogp[r], j->targets[r]);
}

void model_backward(const model *m, const lora *l, model_ws *ws, const float *dlogp, float *grads,
                    float *lora_grads) {
    const model_config *c = &m->cfg;
    int B = ws->B, T = ws->T, N = ws->N, C = c->d_model, F = c->d_ff, V = c->vocab;
    int HD = C / c->n_head, KVD = c->n_kv_head * HD, r = l ? l->rank : 0;
    float ls = lora_scale(l);
    model_view g;
    if (grads) model_view_at(m, grads, &g);
    lora_pair (*dl)[LORA_TARGET_COUNT] = NULL;
    lora_pair dlbuf[MODEL_MAX_LAYERS][LORA_TARGET_COUNT];
    if (l && lora_grads) {
        lora_view_at(l, lora_grads, dlbuf);
        dl = dlbuf;
    }

    dlogit_job dj = {ws->logits, ws->targets, dlogp, V};
    tensor_parallel_for((size_t)N, dlogit_task, &dj);
    float *dlogits = ws->logits;

    /* LM head: dxnf = dlogits · W ; dW = dlogits^T xnf */
    tensor_gemm(N, C, V, rowmaj(dlogits, V), rowmaj(m->w.lm_head, C), ws->dxn, C, false);
    if (grads) tensor_gemm(V, C, N, colmaj(dlogits, V), rowmaj(ws->xnf, C), g.lm_head, C, false);
    memset(ws->dx, 0, sizeof(float) * (size_t)N * C);
    rmsnorm_backward(ws->dx, grads ? g.final_norm : NULL, ws->dtmp, ws->dxn, ws->x_final,
                     m->w.final_norm, ws->rstdf, N, C);

    for (int li = c->n_layer - 1; li >= 0; li--) {
        layer_acts *a = &ws->layer[li];
        const model_layer_view *w = &m->w.layer[li];
        const model_layer_view *gw = grads ? &g.layer[li] : NULL;
        const lora_pair *lp = l ? l->pair[li] : NULL;
        const lora_pair *dlp = dl ? dl[li] : NULL;
#define LP(i) (lp ? &lp[i] : NULL)
#define DLP(i) (dlp ? &dlp[i] : NULL)
        /* MLP: dx is the gradient of the block's output (and of x_mid via the residual) */
        linear_backward(ws->dh, false, gw ? gw->w_down : NULL, ws->dx, a->h, w->w_down, N, F, C, LP(6),
                        DLP(6), r, ls, a->xa[6], ws->dxa);
        swiglu_job sj = {a->gate, a->up, ws->dh, NULL, ws->dgate, ws->dup, (size_t)N * F};
        tensor_parallel_for(((size_t)N * F + PLOW_CHUNK - 1) / PLOW_CHUNK, swiglu_bwd_task, &sj);
        linear_backward(ws->dxn, false, gw ? gw->w_gate : NULL, ws->dgate, a->xn2, w->w_gate, N, C, F,
                        LP(4), DLP(4), r, ls, a->xa[4], ws->dxa);
        linear_backward(ws->dxn, true, gw ? gw->w_up : NULL, ws->dup, a->xn2, w->w_up, N, C, F, LP(5),
                        DLP(5), r, ls, a->xa[5], ws->dxa);
        rmsnorm_backward(ws->dx, gw ? gw->ffn_norm : NULL, ws->dtmp, ws->dxn, a->x_mid, w->ffn_norm,
                         a->rstd2, N, C);
        /* attention */
        linear_backward(ws->dao, false, gw ? gw->wo : NULL, ws->dx, a->ao, w->wo, N, C, C, LP(3), DLP(3),
                        r, ls, a->xa[3], ws->dxa);
        attnb_job bj = {a->q, a->k, a->v, a->att, ws->dao, ws->datt, ws->dq, ws->dk, ws->dv,
                        B, T, c->n_head, c->n_kv_head, HD};
        tensor_parallel_for((size_t)B * c->n_kv_head, attnb_task, &bj);
        tensor_rope(ws->dq, m->rope_cos, m->rope_sin, N, T, c->n_head, HD, 0, true);
        tensor_rope(ws->dk, m->rope_cos, m->rope_sin, N, T, c->n_kv_head, HD, 0, true);
        linear_backward(ws->dxn, false, gw ? gw->wq : NULL, ws->dq, a->xn1, w->wq, N, C, C, LP(0), DLP(0),
                        r, ls, a->xa[0], ws->dxa);
        linear_backward(ws->dxn, true, gw ? gw->wk : NULL, ws->dk, a->xn1, w->wk, N, C, KVD, LP(1),
                        DLP(1), r, ls, a->xa[1], ws->dxa);
        linear_backward(ws->dxn, true, gw ? gw->wv : NULL, ws->dv, a->xn1, w->wv, N, C, KVD, LP(2),
                        DLP(2), r, ls, a->xa[2], ws->dxa);
        rmsnorm_backward(ws->dx, gw ? gw->attn_norm : NULL, ws->dtmp, ws->dxn, a->x_in, w->attn_norm,
                         a->rstd1, N, C);
#undef LP
#undef DLP
    }
    if (grads) {
        /* Embedding: when tied, the LM head's gradient is already in g.tok_emb
         * and the scatter adds to it; otherwise start from zero. */
        if (!c->tied) memset(g.tok_emb, 0, sizeof(float) * (size_t)V * C);
        emb_job ej = {NULL, ws->tokens, NULL, ws->dx, g.tok_emb, N, C};
        tensor_parallel_for((size_t)(C + COLS_PER_TASK - 1) / COLS_PER_TASK, emb_bwd_task, &ej);
    }
}
