/*
 * fixture.c — shared test fixtures (fixture.h).
 */
#include "fixture.h"

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
