/*
 * fixture.c — shared test fixtures (fixture.h).
 */
#include "fixture.h"

#include <math.h>

#include "../src/tensor/tensor.h"
#include "test.h"

void fixture_corpus(size_t tok_bytes, int vocab, size_t data_bytes, double val_frac, tokenizer **tok,
                    dataset **data, uint8_t **corpus, size_t *n) {
    char err[PLOW_ERR_LEN];
    uint8_t *buf;
    size_t len;
    *tok = NULL;
    if (data) *data = NULL;
    if (corpus) *corpus = NULL;
    if (plow_read_file(test_corpus_path(), 1 << 24, &buf, &len, err)) {
        CHECKF(0, "%s", err);
        return;
    }
    CHECKF(tokenizer_train(tok, buf, tok_bytes < len ? tok_bytes : len, vocab, NULL, NULL, err) == 0, "%s", err);
    if (data && *tok)
        CHECKF(dataset_from_bytes(data, buf, data_bytes < len ? data_bytes : len, *tok, val_frac, err) == 0, "%s",
               err);
    if (corpus) {
        *corpus = buf;
        *n = len;
    } else {
        free(buf);
    }
}

model_config fixture_config(const char *name, int n_layer, int d_model, int n_head, int n_kv_head, int d_ff, int ctx,
                            int vocab, bool tied) {
    model_config c = {0};
    snprintf(c.name, sizeof c.name, "%s", name);
    c.n_layer = n_layer;
    c.d_model = d_model;
    c.n_head = n_head;
    c.n_kv_head = n_kv_head;
    c.d_ff = d_ff;
    c.ctx = ctx;
    c.vocab = vocab;
    c.tied = tied;
    c.norm_eps = 1e-5f;
    c.rope_theta = 10000.0f;
    return c;
}

model *fixture_model(const model_config *c, uint64_t seed) {
    char err[PLOW_ERR_LEN];
    model *m = NULL;
    CHECKF(model_new(&m, c, err) == 0, "%s", err);
    if (m) model_init_weights(m, seed);
    return m;
}

model *fixture_named_model(const char *name, const tokenizer *tok, uint64_t seed) {
    char err[PLOW_ERR_LEN];
    model_config c;
    if (model_config_named(name, tokenizer_vocab_size(tok), &c, err)) {
        CHECKF(0, "%s", err);
        return NULL;
    }
    return fixture_model(&c, seed);
}

void fixture_paths_agree(const char *what, int steps, fixture_run_fn run, bool lora_widest) {
    for (int with_lora = 0; with_lora < 2; with_lora++) {
        const char *trainable = with_lora ? "LoRA" : "full";
        uint8_t ref[PLOW_HASH_LEN], h[PLOW_HASH_LEN];
        run("scalar", 1, with_lora, steps, ref);
        char hex[2 * PLOW_HASH_LEN + 1];
        plow_hex(ref, PLOW_HASH_LEN, hex);
        fprintf(stderr, "    %s %s state after %d steps: %s\n", trainable, what, steps, hex);
        tensor_path widest = (tensor_path)(TENSOR_PATH_COUNT - 1);
        for (int p = 0; p < TENSOR_PATH_COUNT; p++) {
            if (!tensor_path_supported((tensor_path)p)) continue;
            for (int t = 1; t <= 2; t++) {
                if (p == TENSOR_PATH_SCALAR && t == 1) continue;
                if (lora_widest && with_lora && t == 2 && p != (int)widest && tensor_path_supported(widest)) continue;
                run(tensor_path_name((tensor_path)p), t, with_lora, steps, h);
                CHECKF(memcmp(ref, h, sizeof h) == 0, "%s %s state after %d steps differs: %s, %d threads", trainable,
                       what, steps, tensor_path_name((tensor_path)p), t);
            }
        }
    }
    tensor_init("auto", 2, NULL);
}

void fixture_grads_agree(const model *m, const lora *l, const float *g, double *blk, fixture_loss_fn loss, void *ctx,
                         uint32_t key, const char *what) {
    const model_tensor *tens = l ? l->tensors : m->tensors;
    int nt = l ? l->n_tensors : m->n_tensors;
    for (int ti = 0; ti < nt; ti++) {
        const model_tensor *t = &tens[ti];
        double gmax = 0;
        for (size_t i = 0; i < t->numel; i++) gmax = fmax(gmax, fabs(g[t->offset + i]));
        for (int k = 0; k < 3; k++) {
            size_t i = (size_t)(tensor_uniform((tensor_rng_key){key, 6, (uint32_t)ti}, (uint64_t)k) * (float)t->numel);
            double *p = blk + t->offset + i, keep = *p, h = 1e-5;
            *p = keep + h;
            double lp = loss(ctx);
            *p = keep - h;
            double lm = loss(ctx);
            *p = keep;
            double fd = (lp - lm) / (2 * h), an = g[t->offset + i];
            double e = fabs(fd - an) / (fabs(fd) + 1e-3 * gmax + 1e-7);
            CHECKF(e < 2e-2, "%s %s %s[%zu]: analytic %.6g vs finite difference %.6g", what, l ? "lora" : "full",
                   t->name, i, an, fd);
        }
    }
}

void fixture_move_policy(model *m, lora *l, uint32_t key) {
    if (l) {
        for (int i = 0; i < l->n_tensors; i++)
            if (strstr(l->tensors[i].name, "lora_B"))
                tensor_normal_fill(l->params + l->tensors[i].offset, l->tensors[i].numel, 0.3f,
                                   (tensor_rng_key){9, 9, (uint32_t)i});
        return;
    }
    float *noise = plow_alloc(sizeof(float) * m->n_params);
    tensor_normal_fill(noise, m->n_params, 0.05f, (tensor_rng_key){8, key, 0});
    for (size_t i = 0; i < m->n_params; i++) m->params[i] += noise[i];
    free(noise);
}
