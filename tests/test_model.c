/*
 * test_model.c — the model's backward pass against finite differences of an
 * independent double-precision forward written here, for every parameter
 * tensor (so every backward kernel: embedding, RMSNorm, matmul, RoPE,
 * attention with GQA, SwiGLU, cross-entropy) and for LoRA adapters; plus the
 * determinism of a forward/backward across threads and SIMD paths.
 */
#include "../src/base/plow.h"

#include <math.h>

#include "../src/model/model.h"
#include "../src/tensor/tensor.h"
#include "fixture.h"
#include "ref_model.h"
#include "test.h"

static model_config micro_config(bool tied) { return fixture_config("micro", 2, 16, 4, 2, 24, 8, 13, tied); }

static void random_tokens(int32_t *t, int n, int V, uint32_t seed) {
    for (int i = 0; i < n; i++) t[i] = (int32_t)(tensor_uniform((tensor_rng_key){seed, 5, 0}, (uint64_t)i) * (float)V);
}

/* Compares analytic and central-difference gradients on a few entries of each
 * tensor of a block. Returns the worst relative error. */
static double check_grads(const ref_model *r, double *blk, const float *grad, const model_tensor *tens, int nt,
                          const int32_t *x, const int32_t *y, int B, int T, const char *what) {
    double worst = 0;
    for (int ti = 0; ti < nt; ti++) {
        const model_tensor *t = &tens[ti];
        double gmax = 0;
        for (size_t i = 0; i < t->numel; i++) gmax = fmax(gmax, fabs(grad[t->offset + i]));
        for (int s = 0; s < 5; s++) {
            size_t i = (size_t)(tensor_uniform((tensor_rng_key){77, 6, (uint32_t)ti}, (uint64_t)s) * (float)t->numel);
            double *p = blk + t->offset + i, keep = *p, h = 1e-5;
            *p = keep + h;
            double lp = ref_loss(r, x, y, B, T, NULL);
            *p = keep - h;
            double lm = ref_loss(r, x, y, B, T, NULL);
            *p = keep;
            double fd = (lp - lm) / (2 * h), an = grad[t->offset + i];
            double err = fabs(fd - an) / (fabs(fd) + 1e-3 * gmax + 1e-7);
            if (err > worst) worst = err;
            CHECKF(err < 2e-2, "%s %s[%zu]: analytic %.6g vs finite difference %.6g", what, t->name, i, an, fd);
        }
    }
    return worst;
}

static void grads_for(bool tied, bool with_lora) {
    char err[PLOW_ERR_LEN];
    model_config c = micro_config(tied);
    model *m;
    CHECKF(model_new(&m, &c, err) == 0, "%s", err);
    model_init_weights(m, 3);
    /* larger weights than the 0.02 init so every path carries signal */
    for (size_t i = 0; i < m->n_params; i++) m->params[i] *= 10.0f;
    for (int l = 0; l < c.n_layer; l++)
        for (int i = 0; i < c.d_model; i++) {
            m->w.layer[l].attn_norm[i] = 1.0f + 0.1f * (float)((i * 7 + l) % 5);
            m->w.layer[l].ffn_norm[i] = 1.0f - 0.05f * (float)((i * 3 + l) % 4);
        }
    lora *l = NULL;
    if (with_lora) {
        CHECKF(lora_new(&l, &c, 3, 6.0f, (1u << LORA_TARGET_COUNT) - 1, err) == 0, "%s", err);
        lora_init_weights(l, 4);
        /* B starts at zero; give it values so A's gradient is not trivially zero */
        for (int i = 0; i < l->n_tensors; i++)
            if (strstr(l->tensors[i].name, "lora_B"))
                tensor_normal_fill(l->params + l->tensors[i].offset, l->tensors[i].numel, 0.3f,
                                   (tensor_rng_key){9, 9, (uint32_t)i});
    }
    int B = 2, T = 6, N = B * T;
    int32_t x[12], y[12];
    random_tokens(x, N, c.vocab, 1);
    random_tokens(y, N, c.vocab, 2);
    model_ws *ws = model_ws_new(m, l, B, T);
    float logp[12], dlogp[12];
    model_forward(m, l, ws, x, y, logp);
    float loss = model_mean_loss(logp, (size_t)N);
    ref_model r;
    ref_model_init(&r, m, l);
    double *ref_logits = plow_alloc(sizeof(double) * (size_t)N * c.vocab);
    double rl = ref_loss(&r, x, y, B, T, ref_logits);
    CHECKF(fabs(rl - loss) < 1e-4 * fabs(rl), "forward loss %g vs reference %g", (double)loss, rl);
    const float *lg = model_ws_logits(ws); /* probabilities now: compare softmax of ref */
    for (int i = 0; i < N; i++) {
        double mx = -1e300, s = 0;
        for (int v = 0; v < c.vocab; v++) mx = fmax(mx, ref_logits[i * c.vocab + v]);
        for (int v = 0; v < c.vocab; v++) s += exp(ref_logits[i * c.vocab + v] - mx);
        for (int v = 0; v < c.vocab; v++) {
            double p = exp(ref_logits[i * c.vocab + v] - mx) / s;
            CHECKF(fabs(lg[i * c.vocab + v] - p) < 1e-5, "probability row %d col %d", i, v);
        }
    }
    for (int i = 0; i < N; i++) dlogp[i] = -1.0f / (float)N;
    float *g = plow_alloc_aligned(sizeof(float) * m->n_params);
    float *lg2 = l ? plow_alloc_aligned(sizeof(float) * l->n_params) : NULL;
    model_backward(m, l, ws, dlogp, l ? NULL : g, lg2);
    if (l)
        check_grads(&r, r.lw, lg2, l->tensors, l->n_tensors, x, y, B, T, "lora");
    else
        check_grads(&r, r.w, g, m->tensors, m->n_tensors, x, y, B, T, tied ? "tied" : "untied");
    free(ref_logits);
    free(g);
    free(lg2);
    ref_model_release(&r);
    model_ws_free(ws);
    lora_free(l);
    model_free(m);
}

static void test_grads_untied(void) { grads_for(false, false); }
static void test_grads_tied(void) { grads_for(true, false); }
static void test_grads_lora(void) { grads_for(false, true); }

/* Forward + backward on the tiny config: same loss and gradient bits on
 * every path and thread count. */
static void test_backward_deterministic(void) {
    char err[PLOW_ERR_LEN];
    model_config c;
    CHECK(model_config_named("tiny", 300, &c, err) == 0);
    model *m;
    CHECK(model_new(&m, &c, err) == 0);
    model_init_weights(m, 11);
    int B = 2, T = 40, N = B * T;
    int32_t *x = plow_alloc(sizeof(int32_t) * N), *y = plow_alloc(sizeof(int32_t) * N);
    random_tokens(x, N, c.vocab, 3);
    random_tokens(y, N, c.vocab, 4);
    float *logp = plow_alloc(sizeof(float) * N), *dl = plow_alloc(sizeof(float) * N);
    for (int i = 0; i < N; i++) dl[i] = -1.0f / (float)N;
    uint8_t ref[PLOW_HASH_LEN];
    bool have = false;
    for (int p = 0; p < TENSOR_PATH_COUNT; p++) {
        if (!tensor_path_supported((tensor_path)p)) continue;
        for (int th = 1; th <= 4; th *= 2) {
            CHECK(tensor_init(tensor_path_name((tensor_path)p), th, err) == 0);
            model_ws *ws = model_ws_new(m, NULL, B, T);
            float *g = plow_alloc_aligned(sizeof(float) * m->n_params);
            model_forward(m, NULL, ws, x, y, logp);
            model_backward(m, NULL, ws, dl, g, NULL);
            plow_sha256 *h = plow_sha256_new();
            plow_sha256_update(h, logp, sizeof(float) * N);
            plow_sha256_update(h, g, sizeof(float) * m->n_params);
            uint8_t d[PLOW_HASH_LEN];
            plow_sha256_final(h, d);
            if (!have) memcpy(ref, d, sizeof d), have = true;
            CHECKF(memcmp(ref, d, sizeof d) == 0, "gradient bits differ on %s with %d threads",
                   tensor_path_name((tensor_path)p), th);
            free(g);
            model_ws_free(ws);
        }
    }
    tensor_init("auto", 2, err);
    free(x); free(y); free(logp); free(dl);
    model_free(m);
}

/* A row computed alone equals the same row computed in a batch: the batch's
 * second sequence gives the same log-probs as that sequence run alone. */
static void test_row_alone_equals_batch(void) {
    char err[PLOW_ERR_LEN];
    model_config c;
    CHECK(model_config_named("tiny", 300, &c, err) == 0);
    model *m;
    CHECK(model_new(&m, &c, err) == 0);
    model_init_weights(m, 12);
    int B = 3, T = 33, N = B * T;
    int32_t *x = plow_alloc(sizeof(int32_t) * N), *y = plow_alloc(sizeof(int32_t) * N);
    random_tokens(x, N, c.vocab, 5);
    random_tokens(y, N, c.vocab, 6);
    float *lb = plow_alloc(sizeof(float) * N), *l1 = plow_alloc(sizeof(float) * T);
    model_ws *wb = model_ws_new(m, NULL, B, T), *w1 = model_ws_new(m, NULL, 1, T);
    model_forward(m, NULL, wb, x, y, lb);
    model_forward(m, NULL, w1, x + T, y + T, l1);
    CHECK(memcmp(lb + T, l1, sizeof(float) * T) == 0);
    /* and a shorter sequence is a prefix of the longer one (causality) */
    model_ws *ws = model_ws_new(m, NULL, 1, 17);
    float l17[17];
    model_forward(m, NULL, ws, x + T, y + T, l17);
    CHECK(memcmp(l1, l17, sizeof l17) == 0);
    model_ws_free(wb); model_ws_free(w1); model_ws_free(ws);
    free(x); free(y); free(lb); free(l1);
    model_free(m);
}

static void test_config_errors(void) {
    char err[PLOW_ERR_LEN] = "";
    model_config c;
    CHECK(model_config_named("huge", 100, &c, err) == -1 && strstr(err, "tiny"));
    CHECK(model_config_named("tiny", 1, &c, err) == -1);
    CHECK(model_config_named("small", 4096, &c, err) == 0 && c.n_layer == 6 && c.d_model == 384 && c.d_ff == 1024 && c.ctx == 256);
    CHECK(model_config_named("base", 4096, &c, err) == 0 && c.n_layer == 12 && c.d_model == 768 && c.ctx == 1024);
    c.n_kv_head = 5;
    CHECK(model_config_check(&c, err) == -1 && strstr(err, "n_kv_head"));
    unsigned mask;
    CHECK(lora_parse_targets("q,v", &mask, err) == 0 && mask == (LORA_Q | LORA_V));
    CHECK(lora_parse_targets("q_proj,down_proj", &mask, err) == 0 && mask == (LORA_Q | LORA_DOWN));
    CHECK(lora_parse_targets("q,zz", &mask, err) == -1 && strstr(err, "zz"));
    CHECK(lora_parse_targets("", &mask, err) == -1);
    model_config t;
    CHECK(model_config_named("tiny", 4096, &t, err) == 0);
    model *m;
    CHECK(model_new(&m, &t, err) == 0);
    CHECKF(m->n_params > 900000 && m->n_params < 1500000, "tiny has %zu params", m->n_params);
    model_free(m);
}

const test_case model_tests[] = {
    {"model_grads_untied_match_finite_differences", test_grads_untied},
    {"model_grads_tied_match_finite_differences", test_grads_tied},
    {"model_grads_lora_match_finite_differences", test_grads_lora},
    {"model_backward_deterministic_paths_threads", test_backward_deterministic},
    {"model_row_alone_equals_batch", test_row_alone_equals_batch},
    {"model_config_errors", test_config_errors},
    {NULL, NULL},
};
