/*
 * dataset.h — token streams for training and the deterministic batch sampler.
 *
 * A dataset is a text file tokenized in two parts: the first (1 - val_frac)
 * of its bytes for training and the rest for validation. Its hash commits to
 * the file's bytes and the tokenizer, so a batch is a pure function of
 * (dataset hash, seed, step): any step can be re-drawn alone (docs/design.md §2).
 */
#ifndef PLOW_DATASET_H
#define PLOW_DATASET_H

#include "../base/plow.h"
#include "tokenizer.h"

typedef struct dataset {
    uint8_t hash[PLOW_HASH_LEN]; /* SHA-256("plow.dataset.v1" || sha256(file) || tokenizer hash || val_frac) */
    int32_t *train;
    size_t n_train;
    int32_t *val;
    size_t n_val;
} dataset;

/* Reads and tokenizes a text file. val_frac in [0, 0.5]. */
int dataset_load_text(dataset **out, const char *path, const tokenizer *tok, double val_frac,
                      char err[PLOW_ERR_LEN]);
/* Same, from bytes in memory. */
int dataset_from_bytes(dataset **out, const uint8_t *data, size_t n, const tokenizer *tok,
                       double val_frac, char err[PLOW_ERR_LEN]);
void dataset_free(dataset *d);

enum { DATASET_PURPOSE_TRAIN = 16, DATASET_PURPOSE_VAL = 17 };

/* Draws B windows of T+1 tokens from tokens[0..n): x gets the first T of each,
 * y the next-token targets. Window b of step s starts at a position drawn from
 * Philox keyed by (hash-derived seed, purpose, s), counter b. Requires n > T. */
void dataset_batch(const int32_t *tokens, size_t n, const uint8_t hash[PLOW_HASH_LEN], uint64_t seed,
                   uint32_t purpose, uint32_t step, int B, int T, int32_t *x, int32_t *y);

#endif
